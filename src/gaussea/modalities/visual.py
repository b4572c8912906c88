"""Visual modality (paper §3.2.2): an image feature becomes ``N(tanh(M1 i), 0.5 I)``.

Any feature width works (MMKG ships 4096-d VGG16 features). Features are z-scored per column first (ours, on
by default): raw VGG activations are non-negative and large, which saturates ``tanh`` from the start.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageEncoder(nn.Module):
    """``mu_i = tanh(M1 i)``; the variance of the image distribution is a fixed constant."""

    def __init__(self, width: int, dim: int, *, standardise: bool, features: torch.Tensor) -> None:
        super().__init__()
        self.proj = nn.Linear(width, dim, bias=False)  # M1
        if standardise and len(features) > 1:
            mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
        else:
            mean, std = torch.zeros(width), torch.ones(width)
        self.register_buffer("feat_mean", mean)
        self.register_buffer("feat_std", std)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.proj((features - self.feat_mean) / self.feat_std))
