"""Matching helpers of the baselines: mutual nearest neighbours and similarity-combining features.

:func:`mutual_nearest` serves IPTransE's seed expansion and IMUSE's bi-directional global filtering; it works
in row chunks, so it never holds an ``n x m`` similarity matrix. :func:`combine_for_cosine` turns a weighted
sum of per-channel cosines into *one* embedding whose cosine is that sum, so multi-channel baselines
(GCN-Align, IMUSE) are evaluated by the shared evaluator (cosine + CSLS) exactly as their papers combine
channels, without a model-specific similarity.
"""

from __future__ import annotations

import math

import torch

from gaussea.models.translational import unit

CHUNK_ROWS = 2048


def mutual_nearest(left: torch.Tensor, right: torch.Tensor, threshold: float | None = None,
                   chunk_rows: int = CHUNK_ROWS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs ``(i, j)`` whose cosine nearest neighbours are each other, with their cosine.

    Returns ``(left_index, right_index, similarity)`` (rows of ``left`` / ``right``), keeping only pairs with
    similarity ``>= threshold`` when one is given. Ties go to the lowest index (``torch.max``'s choice).
    """
    n, m = left.shape[0], right.shape[0]
    device = left.device
    empty = torch.empty(0, dtype=torch.long, device=device)
    if n == 0 or m == 0:
        return empty, empty, torch.empty(0, device=device)
    a, b = unit(left.detach().float()), unit(right.detach().float())
    row_val = torch.empty(n, device=device)
    row_arg = torch.empty(n, dtype=torch.long, device=device)
    col_val = torch.full((m,), -math.inf, device=device)
    col_arg = torch.zeros(m, dtype=torch.long, device=device)
    for start in range(0, n, chunk_rows):
        block = a[start:start + chunk_rows] @ b.T
        row_val[start:start + len(block)], row_arg[start:start + len(block)] = block.max(dim=1)
        val, arg = block.max(dim=0)
        better = val > col_val
        col_val = torch.where(better, val, col_val)
        col_arg = torch.where(better, arg + start, col_arg)
    rows = torch.arange(n, device=device)
    mutual = col_arg[row_arg] == rows
    if threshold is not None:
        mutual &= row_val >= threshold
    return rows[mutual], row_arg[mutual], row_val[mutual]


def combine_for_cosine(blocks: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """Concatenate ``sqrt(w_k) * unit(x_k)`` so that ``cos(combined) = sum_k w_k cos_k / sum_k w_k``.

    Exact when every block of both entities is non-zero; an all-zero block (a channel the entity lacks, e.g.
    no attributes) contributes nothing, so that entity is compared on its other channels only.
    """
    return torch.cat([math.sqrt(w) * unit(x) for x, w in blocks], dim=1)
