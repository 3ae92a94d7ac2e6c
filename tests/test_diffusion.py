"""The diffusion baseline (dynamics/diffusion.py): its Euler sampler against the exact solution with an exact
denoiser, and a denoiser that learns a tiny action-dependent world: the frame it generates for each action is
the true next frame, and each sampling step brings the sample closer to it."""

import pytest
import torch
from conftest import moving_square

from worldjepa.dynamics.diffusion import DiffusionPredictor, edm_sigmas, euler_sample


def test_euler_sampler_with_the_exact_denoiser_of_a_point_shrinks_the_error_by_the_noise_ratio():
    """Data = one point μ: D(x, σ) = μ, so an Euler step x ← x + (σ' − σ)(x − μ)/σ leaves x − μ scaled by σ'/σ: the
    error after step i is |x_0 − μ|·σ_{i+1}/σ_0 (x_0 = n·σ_0), falling at every step and exactly 0 at the end."""
    mu, noise = torch.tensor([0.3, -1.0]), torch.tensor([1.5, -0.5])
    sigmas = edm_sigmas(6)
    trace = []
    out = euler_sample(lambda x, s: mu, noise, sigmas, trace)
    errors = [float((x - mu).norm()) for x in trace]
    start = noise * sigmas[0] - mu
    expected = [float(start.norm() * s / sigmas[0]) for s in sigmas[1:]]
    assert errors == pytest.approx(expected, rel=1e-5, abs=1e-7)
    assert all(a > b for a, b in zip(errors, errors[1:])) and torch.equal(out, mu)


def test_euler_sampler_with_the_exact_denoiser_of_a_gaussian_gives_its_spread():
    """Data ~ N(μ, s²): the exact denoiser is μ + s²/(s² + σ²)·(x − μ); 40 steps from σ_max = 5 give samples with
    mean μ and standard deviation s (the probability-flow ODE carries N(0, σ_max² + s²) to the data)."""
    mu, s = 0.7, 0.3
    noise = torch.randn(20000, generator=torch.Generator().manual_seed(0))
    sigmas = edm_sigmas(40)
    noise = mu / sigmas[0] + noise * (1 + s ** 2 / sigmas[0] ** 2) ** 0.5  # x starts N(μ, σ_max² + s²)-distributed
    out = euler_sample(lambda x, sig: mu + s ** 2 / (s ** 2 + sig ** 2) * (x - mu), noise, sigmas)
    assert abs(float(out.mean()) - mu) < 0.02 and abs(float(out.std()) - s) < 0.02


def test_a_denoiser_learns_an_action_dependent_step_and_sampling_steps_approach_the_truth():
    torch.manual_seed(0)
    model = DiffusionPredictor(16, 1, channels=(8, 16), context=1, emb=32, sampling_steps=4)
    actions = torch.tensor([1, -1] * 4)
    frames, a = moving_square(actions)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3)
    generator = torch.Generator().manual_seed(1)
    for _ in range(600):
        optimizer.zero_grad()
        model.denoising_loss(frames, a, generator).backward()
        optimizer.step()
    truth, copy = frames[:2, 1], frames[:2, 0]
    baseline = float((copy - truth).pow(2).mean())
    with torch.no_grad():
        errors, traces = [], []
        for seed in range(8):  # a sample is a draw: most draws must land on the true next frame
            trace = []
            generated = model.sample(frames[:2, :1], a[:2, 0], torch.Generator().manual_seed(seed), trace)
            errors.append(float((generated - truth).pow(2).mean()))
            traces.append([float((x - truth).pow(2).mean()) for x in trace])
    # measured: median 0.004 against 0.5 for copying the frame (the square left where it was)
    assert sorted(errors)[4] < 0.05 * baseline, errors
    best = traces[errors.index(min(errors))]
    assert all(u >= v - 1e-4 for u, v in zip(best, best[1:])) and best[0] > 10 * best[-1], best
    with torch.no_grad():  # the Predictor rule: rollout [B, H, 3, S, S], each step a sample with the model's seed
        rolled = model.rollout(frames[:2, 0], a[:2])
        again = model.sample(frames[:2, :1], a[:2, 0], torch.Generator().manual_seed(model.seed))
    assert rolled.shape == (2, 1, 3, 16, 16) and torch.allclose(rolled[:, 0], again)


def test_rollout_is_its_own_teacher_forcing_fed_back():
    from worldjepa.dynamics.unroll import feed_back

    torch.manual_seed(0)
    model = DiffusionPredictor(16, 2, channels=(8, 16), context=2, emb=32, sampling_steps=2).eval()
    for p in model.net.out.parameters():  # the zero-initialised output layer would make every sample the same
        p.data.normal_(0, 0.1)
    z0, actions = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 2)
    with torch.no_grad():
        rolled = model.rollout(z0, actions)
        assert torch.allclose(rolled, feed_back(model, z0, actions), atol=1e-5)
        assert not torch.allclose(rolled[:, 0], rolled[:, 1])
