import math

import torch

from worldjepa.ssl.losses import context_loss, lambda_at, level_norm, masked_loss
from worldjepa.ssl.sigreg import sigreg
from worldjepa.ssl.teacher import EMATeacher, momentum_at


def test_dense_loss_equals_hand_computation():
    # one sample, two masked tokens, two visible tokens, 2 channels
    pred_t = torch.tensor([[[1.0, 2.0], [0.0, -1.0]]])
    tgt_t = torch.tensor([[[0.5, 2.0], [1.0, 1.0]]])
    pred_c = torch.tensor([[[2.0, 0.0], [1.0, 1.0]]])
    tgt_c = torch.tensor([[[0.0, 0.0], [0.0, 3.0]]])
    dist = torch.tensor([[1.0, 4.0]])
    # L_predict = mean(|.5|, 0, 1, 2) = 3.5 / 4
    assert math.isclose(float(masked_loss(pred_t, tgt_t)), 3.5 / 4)
    # L_ctx = mean(2/√1, 0/√1, 1/√4, 2/√4) = (2 + 0 + .5 + 1) / 4
    assert math.isclose(float(context_loss(pred_c, tgt_c, dist)), 3.5 / 4)
    # smooth-L1 (β = 1): 0.5·0.5² = .125, 0, 0.5·1² = .5, 2 − .5 = 1.5
    assert math.isclose(float(masked_loss(pred_t, tgt_t, "smooth_l1")), (0.125 + 0.5 + 1.5) / 4)


def test_level_norm_normalises_each_level_separately():
    torch.manual_seed(0)
    h = torch.cat([torch.randn(3, 5, 4) * 10 + 3, torch.randn(3, 5, 4) * 0.1 - 1], dim=-1)
    out = level_norm(h, 2)
    for level in range(2):  # (x − mean) / √(var + ε) on each 4-channel chunk, ε = 1e-5
        chunk = h[..., 4 * level:4 * level + 4]
        mean, var = chunk.mean(-1, keepdim=True), chunk.var(-1, unbiased=False, keepdim=True)
        assert torch.allclose(out[..., 4 * level:4 * level + 4], (chunk - mean) / torch.sqrt(var + 1e-5), atol=1e-5)


def test_lambda_warmup():
    assert lambda_at(0, 0.5, (10, 20)) == 0.0
    assert lambda_at(15, 0.5, (10, 20)) == 0.25
    assert lambda_at(99, 0.5, (10, 20)) == 0.5


def test_ema_update_equals_formula():
    torch.manual_seed(0)
    student = torch.nn.Linear(3, 2)
    teacher = EMATeacher(student)
    before = [p.clone() for p in teacher.module.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(torch.randn_like(p))
    teacher.update(student, 0.9)
    for t, b, s in zip(teacher.module.parameters(), before, student.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * s)
        assert not t.requires_grad
    assert momentum_at(0, 100, 0.996, 1.0) == 0.996
    assert math.isclose(momentum_at(50, 100, 0.996, 1.0), 0.998)
    assert momentum_at(7, 100, 0.99925, 0.99925) == 0.99925


def _sigreg_reference(z, directions, t_max=3.0):
    """Independent evaluation of N·∫ w(t)|φ̂(t) − φ₀(t)|² dt over [−t_max, t_max] on a fine grid,
    one slice at a time."""
    t = torch.linspace(-t_max, t_max, 1201, dtype=torch.float64)
    h = z.double() @ directions.double()  # [N, M]
    values = []
    for m in range(h.shape[1]):
        angles = h[:, m, None] * t  # [N, len(t)]
        err = (angles.cos().mean(0) - torch.exp(-t**2 / 2)) ** 2 + angles.sin().mean(0) ** 2
        values.append(torch.trapezoid(err * torch.exp(-t**2 / 2), t))
    return z.shape[0] * torch.stack(values).mean()


def test_sigreg_against_formula_and_reference():
    torch.manual_seed(0)
    n, k, m = 2048, 16, 64
    gauss = torch.randn(n, k)
    value = float(sigreg(gauss, m, seed=3))
    # E[EP] under the null = ∫_{−3}^{3} e^{−t²/2}(1 − e^{−t²}) dt ≈ 1.05
    t = torch.linspace(-3, 3, 20001, dtype=torch.float64)
    null = float(torch.trapezoid(torch.exp(-t**2 / 2) * (1 - torch.exp(-t**2)), t))
    assert 0.5 * null < value < 2.0 * null, (value, null)
    # collapsed: every row equal (zero) → φ̂ = 1 → N·∫ e^{−t²/2}(1 − e^{−t²/2})² dt
    collapsed = float(sigreg(torch.zeros(n, k), m, seed=3))
    expected = n * float(torch.trapezoid(torch.exp(-t**2 / 2) * (1 - torch.exp(-t**2 / 2)) ** 2, t))
    assert math.isclose(collapsed, expected, rel_tol=0.02)
    assert collapsed > 300 * value
    # the 17-knot quadrature agrees with a fine-grid evaluation using the same directions
    gen = torch.Generator().manual_seed(3)
    directions = torch.randn(k, m, generator=gen)
    directions = directions / directions.norm(dim=0, keepdim=True)
    scaled = torch.randn(n, k) * 1.7
    assert math.isclose(float(sigreg(scaled, m, seed=3)), float(_sigreg_reference(scaled, directions)), rel_tol=0.03)


def test_sigreg_gradient_pushes_towards_gaussian():
    torch.manual_seed(0)
    z = (torch.randn(512, 8) * 0.2).requires_grad_(True)  # too narrow
    opt = torch.optim.SGD([z], lr=0.5)
    first = float(sigreg(z.detach(), 64, seed=0))
    for step in range(100):
        opt.zero_grad()
        sigreg(z, 64, seed=step).backward()
        opt.step()
    assert float(sigreg(z.detach(), 64, seed=999)) < 0.05 * first
    assert 0.8 < float(z.detach().std()) < 1.2  # pushed to unit spread
