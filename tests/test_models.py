import pytest
import torch
import torch.nn.functional as F

from worldjepa.nn.encoder import SIZES, Encoder, ViTSize, level_indices
from worldjepa.nn.predictor import MaskedPredictor
from worldjepa.nn.tokenizers import IMAGE, VIDEO, PatchEmbed
from worldjepa.nn.transformer import attention

TINY = ViTSize(4, 48, 2)


def test_level_indices_formula():
    assert level_indices(12) == [2, 5, 8, 11]
    assert level_indices(24) == [5, 11, 17, 23]
    assert level_indices(40) == [9, 19, 29, 39]
    assert level_indices(48) == [11, 23, 35, 47]
    for depth in range(4, 60):
        idx = level_indices(depth)
        assert idx[-1] == depth - 1 and sorted(set(idx)) == idx


def test_published_sizes():
    assert (SIZES["large"].depth, SIZES["large"].width, SIZES["large"].heads) == (24, 1024, 16)
    assert (SIZES["giant"].depth, SIZES["giant"].width, round(SIZES["giant"].width * SIZES["giant"].mlp_ratio)) == (40, 1408, 6144)
    assert (SIZES["gigantic"].depth, SIZES["gigantic"].width) == (48, 1664)
    with pytest.raises(ValueError, match="did you mean 'large'"):
        Encoder("lage")


def test_patch_embed_equals_strided_conv3d():
    """The matmul tokenizer is the same function as a Conv3d with stride = kernel (independent op)."""
    torch.manual_seed(0)
    embed = PatchEmbed(3, 16, patch=4, tubelet=2)
    x = torch.randn(2, 6, 3, 8, 12)  # [B, T, C, H, W]
    tokens, grid = embed(x)
    weight = embed.proj.weight.reshape(16, 3, 2, 4, 4)  # Linear rows in (C, t, p, p) order
    conv = F.conv3d(x.transpose(1, 2), weight, embed.proj.bias, stride=(2, 4, 4))  # [B, D, T', H', W']
    assert grid == (3, 2, 3)
    assert torch.allclose(tokens, conv.flatten(2).transpose(1, 2), atol=1e-5)


def test_images_are_one_frame_inputs_with_their_own_tokenizer():
    enc = Encoder(TINY, patch_size=8, tubelet_size=2)
    img = torch.randn(2, 3, 16, 16)
    tokens = enc.tokenize(img)
    assert tokens.grid == (1, 2, 2) and tokens.modality == IMAGE
    assert torch.equal(tokens.positions[:, 0], torch.zeros(4))
    expected = enc.tokenizer.image.proj(img.reshape(2, 3, 2, 8, 2, 8).permute(0, 2, 4, 1, 3, 5).reshape(2, 4, -1))
    assert torch.allclose(tokens.x, expected + enc.tokenizer.modality[IMAGE], atol=1e-6)
    clip = torch.randn(2, 4, 3, 16, 16)
    assert enc.tokenize(clip).grid == (2, 2, 2) and enc.tokenize(clip).modality == VIDEO


def test_bad_shapes_give_clear_errors():
    enc = Encoder(TINY, patch_size=8, tubelet_size=2)
    with pytest.raises(ValueError, match="not divisible by the patch size 8"):
        enc(torch.randn(1, 3, 20, 16))
    with pytest.raises(ValueError, match="channels"):
        enc(torch.randn(1, 4, 1, 16, 16))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\] or a clip batch"):
        enc(torch.randn(16, 16))


def test_keep_encodes_only_the_kept_tokens():
    """Encoding a subset equals encoding a clip that contains only those tokens: nothing else leaks."""
    torch.manual_seed(0)
    enc = Encoder(TINY, patch_size=8, tubelet_size=2, levels=4).eval()
    clip = torch.randn(1, 4, 3, 16, 16)
    keep = torch.tensor([[0, 3, 5, 6]])
    a = enc(clip, keep=keep, all_levels=True)
    changed = clip.clone()
    changed[:, :2, :, :8, 8:] += 5.0  # token 1 (t'=0, h=0, w=1) is not kept
    b = enc(changed, keep=keep, all_levels=True)
    assert a.shape == (1, 4, 4 * 48)
    assert torch.allclose(a, b, atol=1e-6)
    full = enc(clip)
    assert full.shape == (1, 8, 48)
    # the last level of the multi-level output is the inference output
    assert torch.allclose(enc(clip, all_levels=True)[..., -48:], full, atol=1e-6)


def test_attention_paths_agree():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8) for _ in range(3))
    mask = torch.rand(10, 10) > 0.3
    mask |= torch.eye(10, dtype=torch.bool)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(attention(q, k, v, mask), ref, atol=1e-6)
    bf = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask).float()  # explicit CPU bf16 path
    assert torch.allclose(bf, ref, atol=5e-2)


def test_predictor_heads_and_mask_tokens():
    torch.manual_seed(0)
    pred = MaskedPredictor(enc_dim=16, levels=4, width=24, depth=2, heads=2, num_mask_types=2)
    z = torch.randn(2, 5, 64)
    pos_c = torch.rand(2, 5, 3) * 4
    pos_t = torch.rand(2, 3, 3) * 4
    t_out, c_out = pred(z, pos_c, pos_t, mask_type=1)
    assert t_out.shape == (2, 3, 64) and c_out.shape == (2, 5, 64)
    # the target outputs depend on which mask token is used; the heads are separate modules
    with torch.no_grad():
        pred.mask_tokens[1].add_(1.0)
    assert not torch.allclose(pred(z, pos_c, pos_t, mask_type=1)[0], t_out)
    assert pred.target_head is not pred.context_head
