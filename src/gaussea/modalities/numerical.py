"""Numerical modality (paper §3.2.3): ``(attribute, value)`` becomes ``N(mu_n, 0.5 I)``.

``mu_n = tanh(W vec(CNN(tanh(M2))))`` where ``M2`` stacks the attribute embedding and the RBF expansion
``phi(n)_k = exp(-(n - c_k)^2 / sigma^2)`` of the per-attribute normalised value (``d`` centres spread evenly
over the normalised range). The CNN is two small convolutions: the first (kernel 2 x 3) mixes the attribute
row with the value row, the second (1 x 3) refines along the embedding axis. Both use tanh activations, as
MMEA's encoder does: with ReLU every unit of the second convolution was dead after one epoch on FB15K*-DB15K
(all encodings identical, pairwise cosine 1.0), because the encoder's first targets — random entity means —
reward a constant output. Normalisation statistics are
fixed at construction from the training graphs' values (all values of an attribute, both graphs keep their own
attribute ids, so unit differences between graphs are normalised away).

Normalisations (``how``): ``zscore`` and ``minmax`` are the paper's "normalised by attribute name";
``quantile`` (ours) maps a value to its mid-rank among the attribute's values, in [0, 1]. Why quantile: the
benchmarks' numbers are heavy-tailed (population, area, budget span six orders of magnitude), so a z-score puts
almost every value of such an attribute within a few hundredths of one standard deviation — inside one RBF
kernel — and the RBF expansion cannot tell them apart. Ranks spread every attribute evenly over the centres,
and the same quantity in two graphs (a birth date in FB15K and in DB15K) lands on nearly the same quantile
whatever its unit.
"""

from __future__ import annotations

import torch
from torch import nn

ZSCORE_RANGE = 3.0  # RBF centres span [-3, 3] standard deviations; values are clipped to [-4, 4]


class QuantileTable(nn.Module):
    """Per-attribute sorted values, to map ``(attribute, value)`` to the value's mid-rank quantile in [0, 1].

    Stored flat (values sorted by attribute, then value) with per-attribute offsets; a lookup is one
    ``searchsorted`` per distinct attribute of the batch. Ties share one quantile (the middle of their ranks),
    so a year held by 40 entities is one point, not 40.
    """

    def __init__(self, attribute: torch.Tensor, value: torch.Tensor, num_attributes: int) -> None:
        super().__init__()
        order = torch.argsort(value.double(), stable=True)
        order = order[torch.argsort(attribute[order], stable=True)]
        counts = torch.bincount(attribute, minlength=num_attributes)
        self.register_buffer("sorted_values", value.double()[order])
        self.register_buffer("offsets", torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]))

    def forward(self, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        out = torch.full(value.shape, 0.5, dtype=torch.float32, device=value.device)
        v = value.double()
        for a in torch.unique(attribute).tolist():
            lo, hi = int(self.offsets[a]), int(self.offsets[a + 1])
            if hi - lo < 2:
                continue  # an attribute seen once (or never) sits in the middle
            where = attribute == a
            values = self.sorted_values[lo:hi]
            left = torch.searchsorted(values, v[where], right=False)
            right = torch.searchsorted(values, v[where], right=True)
            mid = (left + right - 1).double() / 2  # mid-rank, 0-based; -0.5 / n-0.5 outside the range
            out[where] = (mid / (hi - lo - 1)).clamp(0.0, 1.0).float()
        return out


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
        self.quantiles = QuantileTable(attribute, value, num_attributes) if how == "quantile" else None
        lo, hi = (-ZSCORE_RANGE, ZSCORE_RANGE) if how == "zscore" else (0.0, 1.0)
        self.register_buffer("centres", torch.linspace(lo, hi, dim))
        # rbf_width is in units of one standard deviation (zscore) or of the full range / 6 (minmax, quantile)
        self.sigma = rbf_width if how == "zscore" else rbf_width / (2 * ZSCORE_RANGE)
        self.clip = (lo - 1.0, hi + 1.0) if how == "zscore" else (0.0, 1.0)
        self.attr = nn.Embedding(num_attributes, dim)
        nn.init.normal_(self.attr.weight, std=init_std)
        self.conv1 = nn.Conv2d(1, channels, kernel_size=(2, 3), padding=(0, 1))
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=(1, 3), padding=(0, 1))
        self.fc = nn.Linear(channels * dim, dim)  # W

    def normalise(self, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        if self.quantiles is not None:
            return self.quantiles(attribute, value)
        z = (value - self.shift[attribute]) / self.scale[attribute]
        return z.clamp(*self.clip)

    def rbf(self, z: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((z.unsqueeze(-1) - self.centres) ** 2) / self.sigma**2)

    def forward(self, attribute: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        m2 = torch.stack([self.attr(attribute), self.rbf(self.normalise(attribute, value))], dim=1)
        x = torch.tanh(self.conv1(torch.tanh(m2).unsqueeze(1)))
        x = torch.tanh(self.conv2(x))
        return torch.tanh(self.fc(x.flatten(1)))
