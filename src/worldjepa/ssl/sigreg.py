"""SIGReg: Sketched Isotropic Gaussian Regularisation (LeJEPA; docs/methods.md §5.1).

The one statistic used everywhere in worldjepa. For embeddings Z [N, K]:

    a_m  = random unit directions, m = 1..M (re-drawn each step from `seed`, so every rank agrees)
    h_m  = Z a_m                                              (N projected scalars)
    EP_m = N · ∫ w(t) |φ̂_m(t) − e^{−t²/2}|² dt,   w(t) = e^{−t²/2},   φ̂_m(t) = mean_n e^{i t h_mn}
    SIGReg(Z) = mean_m EP_m

|φ̂ − φ₀|² = (mean cos(t h) − e^{−t²/2})² + (mean sin(t h))². The integrand is even, so the integral over
ℝ is 2× the integral over [0, t_max], taken with the trapezoid rule on `knots` points (t_max = 3,
17 knots, as in the official fast version).

Scale: with the factor N, a sample that really is N(0, I) gives E[EP] = ∫ w(t)(1 − e^{−t²}) dt ≈ 1.06
(over [−3, 3]), whatever N is, while a collapsed batch (all rows equal) grows like N·0.41. Values near 1
mean "Gaussian as far as M slices can tell"; the loss weight λ multiplies this number.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..distributed import batch_mean, spanning


def sigreg(z: Tensor, num_slices: int = 256, seed: int = 0, t_max: float = 3.0, knots: int = 17) -> Tensor:
    """z [N, K] (any leading dims are flattened into N) → scalar SIGReg statistic (see module doc). In a
    run of several processes, inside `distributed.global_batch()`, N spans every rank's rows."""
    z = z.reshape(-1, z.shape[-1]).float()
    n, k = z.shape[0] * spanning(), z.shape[1]
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    directions = torch.randn(k, num_slices, generator=gen).to(z.device)
    directions = directions / directions.norm(dim=0, keepdim=True)
    t = torch.linspace(0.0, t_max, knots, device=z.device)
    dt = t_max / (knots - 1)
    trapezoid = torch.full((knots,), dt, device=z.device)
    trapezoid[0] = trapezoid[-1] = dt / 2
    gauss = torch.exp(-0.5 * t**2)
    weights = 2.0 * trapezoid * gauss  # ×2: the integrand is even in t

    angles = (z @ directions).unsqueeze(-1) * t  # [N, M, knots]
    err = (batch_mean(angles.cos()) - gauss) ** 2 + batch_mean(angles.sin()) ** 2  # [M, knots]
    return n * (err * weights).sum(-1).mean()
