"""Cross-domain similarity local scaling (CSLS, Lample et al. 2018), in chunks.

``csls(x, y) = 2 sim(x, y) - r_T(x) - r_S(y)``, where ``r_T(x)`` is the mean similarity of source ``x`` to its
``k`` nearest targets and ``r_S(y)`` the mean similarity of target ``y`` to its ``k`` nearest sources. It
penalises *hubs* (targets close to everything), which otherwise collect many sources' top-1.

The neighbourhoods are taken *within the given pools*: whoever calls this decides which sources and targets
the ``k`` nearest are searched among (for evaluation: the candidate pool of the mode, see
:mod:`gaussea.evaluate.ranking`). ``k`` is clipped to the pool size, so a pool smaller than ``k`` averages
over all of it. Both radii are computed block by block with a top-k per block: memory O(block), never
``n x m``.

Ranking the targets of a fixed source ``x`` does not need ``r_T(x)`` (a constant of the row), so ranking uses
``2 sim(x, y) - r_S(y)``. For separable similarities (cosine: ``<x_hat, y_hat>``) that is one fused matrix
product per chunk, equivalent to the augmented inner product ``[2 x_hat, -1] . [y_hat, r_S(y)]``; reported
scores subtract ``r_T(x)`` afterwards so they are the true CSLS values.
"""

from __future__ import annotations

import torch

from gaussea.evaluate.similarity import MAX_BLOCK_BYTES, PreparedPair, Rows, resolve_chunk_size

DEFAULT_CSLS_K = 10


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"CSLS k must be >= 1 (or None to disable CSLS), got {k}")


@torch.no_grad()
def target_radius(
    prepared: PreparedPair, k: int = DEFAULT_CSLS_K, source_rows: torch.Tensor | None = None, *,
    chunk_size: int | None = None, max_block_bytes: int = MAX_BLOCK_BYTES,
) -> torch.Tensor:
    """``r_S(y)`` for every target ``y``: mean similarity to its ``min(k, n)`` nearest sources.

    ``source_rows`` selects the source pool (default: all prepared sources). Blocks are ``(n sources, chunk
    targets)``; ``chunk_size`` counts targets per block.
    """
    _check_k(k)
    pool = prepared if source_rows is None else \
        PreparedPair(prepared.source[source_rows], prepared.target, prepared.kernel)
    n, m = pool.num_sources, pool.num_targets
    out = pool.target.new_empty(m)
    if n == 0:
        return out.fill_(float("nan"))
    k = min(k, n)
    step = resolve_chunk_size(chunk_size, n, m, max_block_bytes=max_block_bytes)
    for j in range(0, m, step):
        block = pool.block(target_rows=slice(j, j + step))
        out[j:j + step] = block.topk(k, dim=0, sorted=False).values.mean(0)
    return out


@torch.no_grad()
def source_radius(
    prepared: PreparedPair, k: int = DEFAULT_CSLS_K, source_rows: torch.Tensor | None = None, *,
    chunk_size: int | None = None, max_block_bytes: int = MAX_BLOCK_BYTES,
) -> torch.Tensor:
    """``r_T(x)`` of ``source_rows`` (default all): mean similarity to its ``min(k, m)`` nearest targets."""
    _check_k(k)
    m = prepared.num_targets
    rows = torch.arange(prepared.num_sources, device=prepared.source.device) if source_rows is None \
        else source_rows
    out = prepared.source.new_empty(len(rows))
    if m == 0:
        return out.fill_(float("nan"))
    k = min(k, m)
    step = resolve_chunk_size(chunk_size, m, len(rows), max_block_bytes=max_block_bytes)
    for i in range(0, len(rows), step):
        block = prepared.block(source_rows=rows[i:i + step])
        out[i:i + step] = block.topk(k, dim=1, sorted=False).values.mean(1)
    return out


class CSLSScorer:
    """Blocks of ranking scores for a prepared source/target pair, with or without CSLS.

    ``k=None`` scores with the plain similarity. With CSLS, ``r_S`` is computed once at construction (one pass
    over all blocks) among the sources ``radius_sources`` (row indices; default all prepared sources);
    :meth:`ranking_block` then costs one matrix product (separable similarities) per chunk.
    """

    def __init__(
        self, prepared: PreparedPair, k: int | None = DEFAULT_CSLS_K, *,
        radius_sources: torch.Tensor | None = None, chunk_size: int | None = None,
        max_block_bytes: int = MAX_BLOCK_BYTES,
    ) -> None:
        self.prepared = prepared
        self.k = k
        self.r_s: torch.Tensor | None = None
        if k is not None:
            self.r_s = target_radius(prepared, k, radius_sources, chunk_size=chunk_size,
                                     max_block_bytes=max_block_bytes)

    def ranking_block(self, source_rows: Rows) -> torch.Tensor:
        """Scores ordering each row's targets: ``sim``, or ``2 sim - r_S`` (CSLS minus its row constant)."""
        if self.r_s is None:
            return self.prepared.block(source_rows)
        if self.prepared.separable:
            src = self.prepared.source if source_rows is None else self.prepared.source[source_rows]
            return torch.addmm(self.r_s.neg().unsqueeze(0), src, self.prepared.target.T, alpha=2.0)
        return self.prepared.block(source_rows).mul_(2.0).sub_(self.r_s)

    def scores_block(self, source_rows: Rows) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(ranking scores, r_T)`` of a chunk: full CSLS scores are ``ranking - r_T[:, None]``.

        ``r_T`` comes from the same raw block (its row top-k), so it costs no extra pass; it is None
        without CSLS.
        """
        raw = self.prepared.block(source_rows)
        if self.r_s is None:
            return raw, None
        assert self.k is not None
        r_t = raw.topk(min(self.k, raw.shape[1]), dim=1, sorted=False).values.mean(1) if raw.shape[1] else \
            raw.new_full((raw.shape[0],), float("nan"))
        return raw.mul_(2.0).sub_(self.r_s), r_t


def csls_matrix(sim: torch.Tensor, k: int = DEFAULT_CSLS_K) -> torch.Tensor:
    """CSLS of a full similarity matrix (small inputs, tests and the benchmark's naive baseline)."""
    _check_k(k)
    r_t = sim.topk(min(k, sim.shape[1]), dim=1).values.mean(1)
    r_s = sim.topk(min(k, sim.shape[0]), dim=0).values.mean(0)
    return 2.0 * sim - r_t[:, None] - r_s[None, :]
