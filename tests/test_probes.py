import torch

from worldjepa.eval.probes import fit_ridge, probe_r2, r2_score


def test_ridge_recovers_planted_linear_map_primal():
    torch.manual_seed(0)
    x = torch.randn(500, 30)
    y = x @ torch.randn(30, 3) + 0.5
    r2 = probe_r2(x[:400], {"y": y[:400]}, x[400:], {"y": y[400:]})["y"]
    assert r2 > 0.999


def test_ridge_recovers_planted_map_dual():
    """More feature dimensions than samples (the dual solve), features spanning a low-dim latent."""
    torch.manual_seed(0)
    z = torch.randn(400, 6)
    x = z @ torch.randn(6, 900) + 0.01 * torch.randn(400, 900)
    y = z @ torch.randn(6, 4)
    probe = fit_ridge(x[:300], y[:300])
    assert r2_score(y[300:], probe.predict(x[300:])) > 0.99


def test_each_target_gets_its_own_penalty():
    torch.manual_seed(2)
    x = torch.randn(400, 50)
    clean = x @ torch.randn(50, 1)
    noisy = x[:, :1] + 3.0 * torch.randn(400, 1)  # needs strong shrinkage
    probe = fit_ridge(x, torch.cat([clean, noisy], 1))
    assert probe.alphas[0] < probe.alphas[1]


def test_r2_of_noise_is_near_zero():
    torch.manual_seed(1)
    x, y = torch.randn(500, 20), torch.randn(500, 2)
    r2 = probe_r2(x[:400], {"y": y[:400]}, x[400:], {"y": y[400:]})["y"]
    assert r2 < 0.05


def test_r2_score_formula():
    y = torch.tensor([[1.0], [2.0], [3.0]])
    assert r2_score(y, y) == 1.0
    assert abs(r2_score(y, torch.full_like(y, 2.0))) < 1e-12
    assert abs(r2_score(y, torch.tensor([[1.0], [2.0], [4.0]])) - 0.5) < 1e-12


def test_moment_probe_is_a_position_affine_grid_probe():
    """Ridge on moment-pooled features equals a grid probe with per-patch weights b + x·a_x + y·a_y."""
    from worldjepa.eval.state_probe import moment_pool

    torch.manual_seed(0)
    grid = torch.randn(5, 2, 3, 4, 6, dtype=torch.float64)  # [B, T', H', W', D]
    a_x, a_y, b = (torch.randn(6, dtype=torch.float64) for _ in range(3))
    ys = (torch.arange(3) + 0.5) / 3 - 0.5
    xs = (torch.arange(4) + 0.5) / 4 - 0.5
    weights = b + xs[None, :, None] * a_x + ys[:, None, None] * a_y  # [H', W', D]
    direct = (grid * weights).sum((2, 3, 4)) / 12
    pooled = moment_pool(grid)  # [B, T', 3·D]
    assert torch.allclose(pooled @ torch.cat([b, a_x, a_y]), direct)


def test_moment_probe_recovers_planted_object_position():
    """A feature grid that marks where an object is (a one-hot 'presence' channel) lets the moment probe
    read the object's position exactly, while a mean-pooled vector cannot."""
    from worldjepa.eval.state_probe import moment_pool

    torch.manual_seed(0)
    n, H, W = 400, 6, 6
    rows, cols = torch.randint(0, H, (n,)), torch.randint(0, W, (n,))
    grid = torch.zeros(n, 1, H, W, 3)
    grid[torch.arange(n), 0, rows, cols, 0] = 1.0
    grid[..., 1:] = torch.randn(n, 1, H, W, 2) * 0.1  # distractor channels
    pos = torch.stack([(cols + 0.5) / W, (rows + 0.5) / H], 1)
    x = moment_pool(grid).flatten(1)
    r2 = probe_r2(x[:300], {"p": pos[:300]}, x[300:], {"p": pos[300:]})["p"]
    assert r2 > 0.99
    mean_only = grid.mean((2, 3)).flatten(1)
    assert probe_r2(mean_only[:300], {"p": pos[:300]}, mean_only[300:], {"p": pos[300:]})["p"] < 0.1
