"""Matching helpers of the baselines: mutual nearest neighbours and similarity-combining features.

:func:`mutual_nearest` serves IPTransE's seed expansion and IMUSE's bi-directional global filtering, and
:func:`propose_mutual_best` the bootstrapping of any model (new seed pairs among the entities no known pair
covers; :func:`bootstrap_round` is one round of ``train.iterative_rounds``); both work in row chunks, so they
never hold an ``n x m`` similarity matrix.
:func:`combine_for_cosine` turns a weighted sum of per-channel cosines into *one* embedding whose cosine is
that sum, so multi-channel baselines (GCN-Align, IMUSE) are evaluated by the shared evaluator (cosine + CSLS)
exactly as their papers combine channels, without a model-specific similarity.
"""

from __future__ import annotations

import math

import torch

from gaussea.evaluate.csls import source_radius, target_radius
from gaussea.evaluate.similarity import PreparedPair, matmul_nt
from gaussea.models.base import AlignmentModel
from gaussea.models.translational import unit

CHUNK_ROWS = 2048


def mutual_nearest(left: torch.Tensor, right: torch.Tensor, threshold: float | None = None,
                   chunk_rows: int = CHUNK_ROWS, csls_k: int | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs ``(i, j)`` whose cosine nearest neighbours are each other, with their cosine.

    Returns ``(left_index, right_index, similarity)`` (rows of ``left`` / ``right``), keeping only pairs with
    similarity ``>= threshold`` when one is given. Ties go to the lowest index (``torch.max``'s choice).
    With ``csls_k`` the score is CSLS (``2 cos - r_T - r_S``, neighbourhoods of ``csls_k`` among ``left`` and
    ``right``, as :mod:`gaussea.evaluate.csls`) instead of the cosine, for the match and the returned values.
    """
    n, m = left.shape[0], right.shape[0]
    device = left.device
    empty = torch.empty(0, dtype=torch.long, device=device)
    if n == 0 or m == 0:
        return empty, empty, torch.empty(0, device=device)
    a, b = unit(left.detach().float()), unit(right.detach().float())
    r_t = r_s = None
    if csls_k is not None:
        prepared = PreparedPair(a, b)
        r_t, r_s = source_radius(prepared, csls_k), target_radius(prepared, csls_k)
    row_val = torch.empty(n, device=device)
    row_arg = torch.empty(n, dtype=torch.long, device=device)
    col_val = torch.full((m,), -math.inf, device=device)
    col_arg = torch.zeros(m, dtype=torch.long, device=device)
    for start in range(0, n, chunk_rows):
        block = matmul_nt(a[start:start + chunk_rows], b)  # the evaluator's product (OpenBLAS on the CPU)
        if r_t is not None and r_s is not None:
            block = block.mul_(2.0).sub_(r_t[start:start + chunk_rows, None]).sub_(r_s)
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


def propose_mutual_best(left: torch.Tensor, right: torch.Tensor, known: torch.Tensor, *,
                        csls_k: int | None = None, threshold: float | None = None) -> torch.Tensor:
    """New seed pairs for bootstrapping: mutual best matches among the entities that no ``known`` pair covers.

    ``left`` ``(n, d)`` and ``right`` ``(m, d)`` are the two graphs' embeddings (side-local rows), ``known`` a
    ``(k, 2)`` tensor of side-local ``(left, right)`` ids (training pairs and pairs proposed before). Candidates
    are every entity outside ``known`` whose embedding is not zero (a zero vector ties with everything and
    carries no evidence); no test link is read. Scores are cosine, or CSLS among the candidates with
    ``csls_k``; ``threshold`` keeps pairs scoring at least that. Returns a ``(p, 2)`` tensor of side-local ids,
    each entity at most once, sorted by left id.
    """
    device = left.device
    free = []
    for emb, column in ((left, 0), (right, 1)):
        mask = emb.detach().abs().sum(1) > 0
        mask[known[:, column].to(device)] = False
        free.append(torch.nonzero(mask).squeeze(1))
    li, ri, _ = mutual_nearest(left[free[0]], right[free[1]], threshold=threshold, csls_k=csls_k)
    return torch.stack([free[0][li], free[1][ri]], 1)


@torch.no_grad()
def bootstrap_round(model: AlignmentModel, csls_k: int | None = 10) -> int:
    """One round of iterative bootstrapping: the mutual-best pairs (CSLS with ``csls_k``) of ``model``'s entity
    embeddings among the entities no known pair covers join its training pairs. Returns how many joined.

    Reads the model's embeddings only, never a test or validation link; the runs that use it are labelled
    iterative.
    """
    left, right = model.entity_embeddings()
    offset = torch.tensor([0, model.inputs.num_left], device=left.mean.device)
    known = model.known_pairs().to(left.mean.device) - offset
    new = propose_mutual_best(left.mean, right.mean, known, csls_k=csls_k)
    if len(new):
        model.add_seed_pairs(new + offset)
    return len(new)


def combine_for_cosine(blocks: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """Concatenate ``sqrt(w_k) * unit(x_k)`` so that ``cos(combined) = sum_k w_k cos_k / sum_k w_k``.

    Exact when every block of both entities is non-zero; an all-zero block (a channel the entity lacks, e.g.
    no attributes) contributes nothing, so that entity is compared on its other channels only.
    """
    return torch.cat([math.sqrt(w) * unit(x) for x, w in blocks], dim=1)
