"""Numerical modality (paper §3.2.3): ``(attribute, value)`` becomes ``N(mu_n, 0.5 I)``.

``mu_n = tanh(W vec(CNN(tanh(M2))))`` where ``M2`` stacks the attribute embedding and the RBF expansion
``phi(n)_k = exp(-(n - c_k)^2 / sigma^2)`` of the per-attribute normalised value (``d`` centres spread evenly
over the normalised range). The CNN is two small convolutions: the first (kernel 2 x 3) mixes the attribute
row with the value row, the second (1 x 3) refines along the embedding axis. Normalisation statistics are
fixed at construction from the training graphs' values (all values of an attribute, both graphs keep their own
attribute ids, so unit differences between graphs are normalised away).
"""

from __future__ import annotations

import torch
from torch import nn

ZSCORE_RANGE = 3.0  # RBF centres span [-3, 3] standard deviations; values are clipped to [-4, 4]


def attribute_statistics(attribute: torch.Tensor, value: torch.Tensor, num_attributes: int,
                         how: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-attribute shift and scale such that ``(value - shift) / scale`` is normalised."""
    v = value.double()
    count = torch.zeros(num_attributes, dtype=torch.float64).index_add_(0, attribute, torch.ones_like(v))
    if how == "zscore":
        total = torch.zeros(num_attributes, dtype=torch.float64).index_add_(0, attribute, v)
        mean = total / count.clamp_min(1)
        sq = torch.zeros(num_attributes, dtype=torch.float64).index_add_(0, attribute, (v - mean[attribute]) ** 2)
        std = (sq / count.clamp_min(1)).sqrt()
        return mean.float(), torch.where(std > 0, std, torch.ones_like(std)).float()
    lo = torch.full((num_attributes,), float("inf"), dtype=torch.float64).scatter_reduce(0, attribute, v, "amin")
    hi = torch.full((num_attributes,), float("-inf"), dtype=torch.float64).scatter_reduce(0, attribute, v, "amax")
    lo = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
    span = torch.where(hi > lo, hi - lo, torch.ones_like(lo))
    return lo.float(), span.float()


class NumericEncoder(nn.Module):
    def __init__(self, num_attributes: int, dim: int, *, channels: int, rbf_width: float, how: str,
                 attribute: torch.Tensor, value: torch.Tensor, init_std: float) -> None:
        super().__init__()
        self.how = how
        shift, scale = attribute_statistics(attribute, value, num_attributes, how)
        self.register_buffer("shift", shift)
        self.register_buffer("scale", scale)
        lo, hi = (-ZSCORE_RANGE, ZSCORE_RANGE) if how == "zscore" else (0.0, 1.0)
        self.register_buffer("centres", torch.linspace(lo, hi, dim))
        # rbf_width is in units of one standard deviation (zscore) or of the full range / 6 (minmax)
        self.sigma = rbf_width if how == "zscore" else rbf_width / (2 * ZSCORE_RANGE)
        self.clip = (lo - 1.0, hi + 1.0) if how == "zscore" else (0.0, 1.0)
        self.attr = nn.Embedding(num_attributes, dim)
        nn.init.normal_(self.attr.weight, std=init_std)
        self.conv1 = nn.Conv2d(1, channels, kernel_size=(2, 3), padding=(0, 1))
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=(1, 3), padding=(0, 1))
        self.fc = nn.Linear(channels * dim, dim)  # W

    def normalise(self, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        z = (value - self.shift[attribute]) / self.scale[attribute]
        return z.clamp(*self.clip)

    def rbf(self, z: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((z.unsqueeze(-1) - self.centres) ** 2) / self.sigma**2)

    def forward(self, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        m2 = torch.stack([self.attr(attribute), self.rbf(self.normalise(attribute, value))], dim=1)
        x = torch.relu(self.conv1(torch.tanh(m2).unsqueeze(1)))
        x = torch.relu(self.conv2(x))
        return torch.tanh(self.fc(x.flatten(1)))
