import torch
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from worldjepa.config import MaskConfig
from worldjepa.nn.tokenizers import grid_positions
from worldjepa.ssl.masks import IJEPAMask, MultiBlockMask, block_size, distance_to_masked

grids = st.tuples(st.integers(1, 4), st.integers(2, 9), st.integers(2, 9))
scales = st.floats(0.05, 0.6)


def check_masks(m, grid, batch):
    n = grid[0] * grid[1] * grid[2]
    assert m.context.shape[0] == batch and m.targets.shape[0] == batch
    assert m.context.min() >= 0 and m.context.max() < n
    assert m.targets.min() >= 0 and m.targets.max() < n
    for b in range(batch):
        ctx = set(m.context[b].tolist())
        assert len(ctx) == m.context.shape[1], "context indices repeat"
        for group in m.targets[b]:
            tgt = set(group.tolist())
            assert len(tgt) == group.numel(), "target indices repeat"
            assert not ctx & tgt, "context and targets overlap"
            assert all(m.masked[b, i] for i in tgt)
        assert not any(m.masked[b, i] for i in ctx)


@settings(max_examples=examples(40), deadline=None)
@given(grid=grids, blocks=st.integers(1, 4), scale=scales, batch=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_multiblock_properties(grid, blocks, scale, batch, seed):
    cfg = MaskConfig(blocks, (scale, scale), (0.5, 1.0), (0.75, 1.5))
    sampler = MultiBlockMask(grid, cfg, min_context=1)
    m = sampler.sample(batch, torch.Generator().manual_seed(seed))
    check_masks(m, grid, batch)
    assert m.context.shape[1] >= 1 and m.targets.shape[2] >= 1


@settings(max_examples=examples(30), deadline=None)
@given(grid=grids, scale=scales, seed=st.integers(0, 2**31))
def test_block_size_respects_scale_and_bounds(grid, scale, seed):
    t, h, w = block_size(torch.Generator().manual_seed(seed), grid, (scale, scale), (1.0, 1.0), (0.75, 1.5))
    T, H, W = grid
    assert 1 <= t <= T and 1 <= h <= H and 1 <= w <= W
    assert t == T  # temporal scale 1.0 → a tube over the whole clip
    keep = max(1, int(H * W * scale))
    # h·w approximates the requested area up to rounding of each side and clipping to the grid
    assert h * w <= (keep ** 0.5 * 1.5 ** 0.5 + 1) ** 2


def test_every_row_and_column_is_reachable():
    """The field's samplers draw offsets from [0, H − h) and never mask the last row; ours must."""
    grid = (1, 7, 9)
    cfg = MaskConfig(1, (0.2, 0.2), (1.0, 1.0), (1.0, 1.0))
    sampler = MultiBlockMask(grid, cfg, min_context=1)
    hits = torch.zeros(7, 9, dtype=torch.bool)
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        hits |= sampler.sample(8, gen).masked.reshape(8, 7, 9).any(0)
    assert hits.all(), hits


def test_ijepa_masks():
    grid = (1, 8, 8)
    sampler = IJEPAMask(grid, min_context=4)
    gen = torch.Generator().manual_seed(1)
    rows = torch.zeros(8, dtype=torch.bool)
    for _ in range(50):
        m = sampler.sample(6, gen)
        check_masks(m, grid, 6)
        assert m.targets.shape[1] == 4  # four target blocks, each its own predictor pass
        rows |= m.masked.reshape(6, 8, 8).any(-1).any(0)
    assert rows.all()


def test_same_seed_same_masks():
    sampler = MultiBlockMask((2, 6, 6), MaskConfig(3, (0.2, 0.2)))
    a = sampler.sample(4, torch.Generator().manual_seed(5))
    b = sampler.sample(4, torch.Generator().manual_seed(5))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)


def test_distance_to_masked_matches_brute_force():
    grid = (2, 5, 6)
    pos = grid_positions(grid)
    sampler = MultiBlockMask(grid, MaskConfig(2, (0.2, 0.2)), min_context=2)
    m = sampler.sample(3, torch.Generator().manual_seed(3))
    dist = distance_to_masked(pos, m.context, m.masked)
    for b in range(3):
        masked_pos = pos[m.masked[b]]
        for j, i in enumerate(m.context[b].tolist()):
            expected = min(float(torch.linalg.norm(pos[i] - p)) for p in masked_pos)
            assert abs(float(dist[b, j]) - expected) < 1e-5
    assert (dist >= 1).all()  # disjoint integer grids


@settings(max_examples=examples(25), deadline=None)
@given(grid=st.tuples(st.integers(1, 3), st.integers(2, 8), st.integers(2, 8)), scale=st.floats(0.1, 0.5),
       seed=st.integers(0, 2**31))
def test_first_and_last_rows_and_columns_reachable_for_any_grid(grid, scale, seed):
    sampler = MultiBlockMask(grid, MaskConfig(2, (scale, scale), (1.0, 1.0), (0.75, 1.5)), min_context=1)
    gen = torch.Generator().manual_seed(seed)
    T, H, W = grid
    hit = torch.zeros(H, W, dtype=torch.bool)
    for _ in range(60):
        hit |= sampler.sample(8, gen).masked.reshape(8, T, H, W).any(0).any(0)
    assert hit[0].any() and hit[-1].any() and hit[:, 0].any() and hit[:, -1].any()
