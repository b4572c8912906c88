"""Retrieval losses for seed pairs: each anchor should be nearer its partner than every candidate.

Shapes: ``anchor`` and ``partner`` ``(B, d)`` (row ``i`` is a seed pair), ``candidates`` ``(C, d)``, ``mask``
``(B, C)`` true where a candidate must not count as a negative (it is the anchor's own partner). Every loss
works on the ``B x C`` block only, never on all entities at once; it returns one value per anchor.
"""

from __future__ import annotations

import math

import torch

from gaussea.models.translational import unit


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(len(a), len(b))`` squared Euclidean distances."""
    return (a * a).sum(1, keepdim=True) + (b * b).sum(1).unsqueeze(0) - 2 * a @ b.T


def normalised_hard_sample_loss(anchor: torch.Tensor, partner: torch.Tensor, candidates: torch.Tensor,
                                mask: torch.Tensor, gamma: float = 1.0, lamb: float = 30.0,
                                tau: float = 10.0) -> torch.Tensor:
    """Dual-AMN's normalised hard-sample mining loss (Mao et al. 2021), one value per anchor.

    Per candidate ``c``: the margin ``l_c = |a - p|^2 - |a - c|^2 + gamma``; the row's margins are standardised
    (mean and standard deviation over the unmasked candidates, held constant: no gradient flows through them),
    and the loss is ``logsumexp_c(lamb * z_c + tau)`` over the unmasked candidates: a smooth maximum that weighs
    the hardest negatives most, at the same scale whatever the embeddings' norm.
    """
    positive = ((anchor - partner) ** 2).sum(1, keepdim=True)
    margin = positive - squared_distances(anchor, candidates) + gamma
    keep = (~mask).to(margin.dtype)
    count = keep.sum(1, keepdim=True).clamp_min(2)
    with torch.no_grad():
        mean = (margin * keep).sum(1, keepdim=True) / count
        std = ((((margin - mean) * keep) ** 2).sum(1, keepdim=True) / (count - 1)).sqrt().clamp_min(1e-12)
    z = ((margin - mean) / std).masked_fill(mask, -math.inf)
    return torch.logsumexp(lamb * z + tau, 1)


def info_nce_loss(anchor: torch.Tensor, partner: torch.Tensor, candidates: torch.Tensor, mask: torch.Tensor,
                  temperature: float = 0.05) -> torch.Tensor:
    """Cross-entropy of the partner against the unmasked candidates, cosine similarities over ``temperature``."""
    a = unit(anchor)
    positive = (a * unit(partner)).sum(1, keepdim=True)
    negative = (a @ unit(candidates).T).masked_fill(mask, -math.inf)
    logits = torch.cat([positive, negative], 1) / temperature
    return torch.logsumexp(logits, 1) - logits[:, 0]
