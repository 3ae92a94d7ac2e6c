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
