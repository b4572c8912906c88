"""The Gaussian maths against torch.distributions in float64."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from gaussea.gaussian import clamp_variance_, kl, log_expected_likelihood, symmetric_kl


def _dist(m: torch.Tensor, s: torch.Tensor) -> Independent:
    return Independent(Normal(m, s.sqrt()), 1)


@pytest.fixture
def params() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    shape = (7, 5, 16)
    m1, m2 = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
    s1 = torch.rand(shape, generator=g, dtype=torch.float64) * 5 + 0.1
    s2 = torch.rand(shape, generator=g, dtype=torch.float64) * 5 + 0.1
    return m1, s1, m2, s2


def test_kl_matches_torch_distributions(params: tuple[torch.Tensor, ...]) -> None:
    m1, s1, m2, s2 = params
    expected = kl_divergence(_dist(m1, s1), _dist(m2, s2))
    torch.testing.assert_close(kl(m1, s1, m2, s2), expected, rtol=1e-12, atol=1e-12)


def test_kl_orientation_second_variance_divides(params: tuple[torch.Tensor, ...]) -> None:
    m1, s1, m2, _ = params
    small = kl(m1, s1, m2, torch.full_like(s1, 0.5))
    large = kl(m1, s1, m2, torch.full_like(s1, 50.0))
    # A broad second distribution tolerates a mean gap: the gap term is divided by the second variance.
    gap = ((m2 - m1) ** 2).sum(-1)
    torch.testing.assert_close((small - large), 0.5 * (gap / 0.5 - gap / 50.0) + 0.5 * (
        (s1 / 0.5 - s1 / 50.0).sum(-1) + 16 * (math.log(0.5) - math.log(50.0))))


def test_kl_zero_on_identical(params: tuple[torch.Tensor, ...]) -> None:
    m1, s1, _, _ = params
    torch.testing.assert_close(kl(m1, s1, m1, s1), torch.zeros(m1.shape[:-1], dtype=torch.float64))


def test_symmetric_kl(params: tuple[torch.Tensor, ...]) -> None:
    m1, s1, m2, s2 = params
    expected = kl_divergence(_dist(m1, s1), _dist(m2, s2)) + kl_divergence(_dist(m2, s2), _dist(m1, s1))
    torch.testing.assert_close(symmetric_kl(m1, s1, m2, s2), expected, rtol=1e-12, atol=1e-10)


def test_log_expected_likelihood(params: tuple[torch.Tensor, ...]) -> None:
    m1, s1, m2, s2 = params
    expected = _dist(torch.zeros_like(m1), s1 + s2).log_prob(m1 - m2)
    torch.testing.assert_close(log_expected_likelihood(m1, s1, m2, s2), expected, rtol=1e-12, atol=1e-10)


def test_clamp_variance_in_place() -> None:
    v = torch.tensor([0.1, 0.5, 3.0, 70.0])
    out = clamp_variance_(v, 0.5, 50.0)
    assert out is v
    assert v.tolist() == [0.5, 0.5, 3.0, 50.0]


def test_kl_scalar_variances_take_the_closed_form(params: tuple[torch.Tensor, ...]) -> None:
    """Stage 1 passes scalar variances: the fast path must equal the elementwise formula and torch's KL."""
    m1, _, m2, _ = params
    s1, s2 = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    expected = kl_divergence(_dist(m1, s1.expand_as(m1)), _dist(m2, s2.expand_as(m2)))
    torch.testing.assert_close(kl(m1, s1, m2, s2), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kl(m1, s1, m2, s2), kl(m1, s1.expand_as(m1), m2, s2.expand_as(m2)))
