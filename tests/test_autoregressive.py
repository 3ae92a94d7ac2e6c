"""The autoregressive baseline (dynamics/autoregressive.py): its transformer is causal (no output depends on a
later token), and tokenizer and transformer together learn a tiny action-dependent world, so that the frame it
generates token by token for each action is the true next frame."""

import torch
from conftest import moving_square

from worldjepa.dynamics.autoregressive import AutoregressivePredictor


def test_no_token_depends_on_a_later_one():
    torch.manual_seed(0)
    model = AutoregressivePredictor(16, 2, codes=8, width=32, depth=2, heads=2, context=3,
                                    tokenizer={"dim": 8, "channels": (8, 8)})
    x = torch.randn(2, 3 * model.per_frame, 32, requires_grad=True)
    logits = model.logits(x)
    for i in (0, 7, model.per_frame, 3 * model.per_frame - 2):
        grad, = torch.autograd.grad(logits[:, i].sum(), x, retain_graph=True)
        assert grad[:, i + 1:].abs().max() == 0 and grad[:, :i + 1].abs().max() > 0, i
    changed = x.detach().clone()
    changed[:, 10:] += 1.0
    assert torch.equal(model.logits(changed)[:, :10], logits[:, :10].detach())


def test_tokenizer_and_transformer_learn_an_action_dependent_step():
    """IRIS's two stages, as `train-wm` runs them: the tokenizer alone, then the transformer on its frozen codes."""
    torch.manual_seed(0)
    model = AutoregressivePredictor(16, 1, codes=16, width=64, depth=2, heads=2, context=2,
                                    tokenizer={"dim": 16, "channels": (16, 32)}, tokenizer_steps=300)
    frames, a = moving_square(torch.tensor([1, -1] * 4), top=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(600):
        optimizer.zero_grad()
        loss, parts = model.training_loss(frames, a, None, step)
        loss.backward()
        optimizer.step()
        if step == 299:
            frozen = [p.detach().clone() for p in model.tokenizer.parameters()]
    assert all(torch.equal(p, q) for p, q in zip(frozen, model.tokenizer.parameters()))  # stage 2 leaves it be
    with torch.no_grad():
        generated = model.rollout(frames[:2, 0], a[:2])[:, 0]  # greedy, token by token
    truth, copy = frames[:2, 1], frames[:2, 0]
    error, baseline = float((generated - truth).pow(2).mean()), float((copy - truth).pow(2).mean())
    assert parts["next_token"] < 0.1, parts
    assert error < 0.1 * baseline, (error, baseline)  # each action's own next frame, not the frame copied


def test_cached_generation_gives_the_tokens_of_a_whole_causal_pass_per_token():
    torch.manual_seed(0)
    model = AutoregressivePredictor(16, 2, codes=8, width=32, depth=2, heads=2, context=3,
                                    tokenizer={"dim": 8, "channels": (8, 8)}).eval()
    for p in model.parameters():  # sharper logits than at initialisation, so that ties cannot hide a difference
        p.data.mul_(3)
    index, actions = torch.randint(8, (4, 2, 4, 4)), torch.randn(4, 2, 2)
    fast = model._generate(index, actions, torch.Generator().manual_seed(0))
    slow = model._generate_uncached(index, actions, torch.Generator().manual_seed(0))
    assert torch.equal(fast, slow) and len(fast.unique()) > 1


def test_rollout_is_its_own_teacher_forcing_fed_back():
    """The Predictor rule (dynamics/unroll.py): rolling out equals calling the model on the sequence grown by its
    own last prediction, over more steps than its context holds."""
    from worldjepa.dynamics.unroll import feed_back

    torch.manual_seed(0)
    model = AutoregressivePredictor(16, 2, codes=8, width=32, depth=2, heads=2, context=2,
                                    tokenizer={"dim": 8, "channels": (8, 8)}).eval()
    z0, actions = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 2)
    with torch.no_grad():
        assert torch.allclose(model.rollout(z0, actions), feed_back(model, z0, actions), atol=1e-6)


def test_dead_codes_restart_on_the_batchs_encoder_outputs():
    """A codebook where every cell picks one code (measured on two-rooms: the tokenizer then never learns) gets its
    unused codes moved onto encoder outputs of the batch, after which the cells spread over many codes."""
    from worldjepa.dynamics.autoregressive import VQTokenizer

    torch.manual_seed(0)
    tokenizer = VQTokenizer(16, codes=8, dim=4, channels=(8, 8))
    with torch.no_grad():
        tokenizer.codebook.weight.fill_(100.0)
        tokenizer.codebook.weight[0] = 0.0  # the only code near the encoder's outputs
    frames = torch.randn(6, 3, 16, 16)
    assert len(tokenizer.tokenize(frames).unique()) == 1
    _, parts = tokenizer.loss(frames)
    assert parts["codes_restarted"] == 7 and len(tokenizer.tokenize(frames).unique()) > 4
    tokenizer.eval()
    tokenizer.codebook.weight.data[1:] = 100.0
    assert tokenizer.loss(frames)[1]["codes_restarted"] == 0  # only while training
