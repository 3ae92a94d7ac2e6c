import math

import torch

from worldjepa.nn.rope import apply_rope, rope_tables, segment_dim
from worldjepa.nn.tokenizers import grid_positions


def scores(q, k, positions, head_dim):
    rope = rope_tables(positions, head_dim)
    return apply_rope(q, rope) @ apply_rope(k, rope).transpose(-1, -2)


def test_scores_unchanged_by_shared_shift_of_positions():
    torch.manual_seed(0)
    d = 40  # 3 segments of 12 + 4 unrotated channels
    pos = grid_positions((3, 4, 5))
    q, k = torch.randn(2, 2, len(pos), d, dtype=torch.float64), torch.randn(2, 2, len(pos), d, dtype=torch.float64)
    base = scores(q, k, pos, d)
    for shift in ([1, 0, 0], [0, 7, -3], [5.5, -2, 11]):
        moved = scores(q, k, pos + torch.tensor(shift), d)
        assert torch.allclose(base, moved, atol=1e-4), shift
    # and the positions do matter: a non-shared change alters the scores
    perturbed = pos.clone()
    perturbed[0] += torch.tensor([0.0, 3.0, 0.0])
    assert not torch.allclose(base, scores(q, k, perturbed, d), atol=1e-3)


def test_rotation_matches_complex_formula_and_leaves_extra_channels():
    d = 14  # segment 4 per axis (2 pairs), 2 channels unrotated
    assert segment_dim(d) == 4
    x = torch.randn(1, 1, 1, d, dtype=torch.float64)
    pos = torch.tensor([[2.0, -1.0, 3.0]])
    out = apply_rope(x, rope_tables(pos, d))[0, 0, 0]
    expected = x[0, 0, 0].clone()
    for axis in range(3):
        for i in range(2):  # ω_i = 10000^(−2i/4)
            angle = pos[0, axis].item() * 10000 ** (-2 * i / 4)
            c = 4 * axis + 2 * i
            z = complex(x[0, 0, 0, c].item(), x[0, 0, 0, c + 1].item()) * complex(math.cos(angle), math.sin(angle))
            expected[c], expected[c + 1] = z.real, z.imag
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.equal(out[12:], x[0, 0, 0, 12:])
    assert torch.allclose(out.norm(), x.norm())


def test_bf16_rotation_matches_fp32():
    x = torch.randn(2, 3, 10, 16)
    rope = rope_tables(torch.rand(10, 3) * 5, 16)
    assert torch.allclose(apply_rope(x.bfloat16(), rope).float(), apply_rope(x, rope), atol=3e-2)
