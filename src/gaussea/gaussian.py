"""Diagonal-Gaussian maths, in one place so every model and metric uses the same formulas.

All functions take means and *variances* (not standard deviations) as tensors whose last dimension is the
embedding dimension, broadcast over leading dimensions, and reduce over the last one.

Orientation: ``kl(m1, s1, m2, s2)`` is ``KL(N(m1, s1) || N(m2, s2))`` — the *second* argument's variance sits
in the denominators. This is the paper's closed form (DESIGN.md §1). It is what makes a large modal variance
``s2`` shrink the pull of a far-away modal mean on the common embedding in ``KL(N_e || N_e^m)``.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)


def kl(m1: torch.Tensor, s1: torch.Tensor, m2: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """``KL(N(m1, diag s1) || N(m2, diag s2))``, summed over the last dimension.

    When both variances are scalars (every variance still at its initial value, as in stage 1) the sum is taken
    in closed form: ``d (s1/s2 - 1 + ln s2 - ln s1)`` plus the squared distance over ``s2`` — the same value
    with a fifth of the elementwise work, which is most of a stage-1 step.
    """
    diff = m2 - m1
    if s1.dim() == 0 and s2.dim() == 0:
        dim = diff.shape[-1]
        constant = dim * (s1 / s2 - 1.0 + torch.log(s2) - torch.log(s1))
        return 0.5 * (constant + torch.sum(diff * diff, dim=-1) / s2)
    return 0.5 * torch.sum(s1 / s2 + diff * diff / s2 - 1.0 + torch.log(s2) - torch.log(s1), dim=-1)


def symmetric_kl(m1: torch.Tensor, s1: torch.Tensor, m2: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """``KL(1 || 2) + KL(2 || 1)``; the log-determinant terms cancel, so it is computed without logs."""
    diff2 = (m2 - m1) ** 2
    return 0.5 * torch.sum(s1 / s2 + s2 / s1 + diff2 * (1.0 / s1 + 1.0 / s2) - 2.0, dim=-1)


def log_expected_likelihood(
    m1: torch.Tensor, s1: torch.Tensor, m2: torch.Tensor, s2: torch.Tensor
) -> torch.Tensor:
    """``log ∫ N(x; m1, s1) N(x; m2, s2) dx = log N(m1 - m2; 0, s1 + s2)`` (KG2E's EL score)."""
    s = s1 + s2
    diff = m1 - m2
    return -0.5 * torch.sum(diff * diff / s + torch.log(s) + LOG_2PI, dim=-1)


def clamp_variance_(var: torch.Tensor, c_min: float, c_max: float) -> torch.Tensor:
    """Keep variances inside ``[c_min, c_max]`` in place (the paper's ``[C_min, C_max] = [0.5, 50]``)."""
    with torch.no_grad():
        return var.clamp_(c_min, c_max)
