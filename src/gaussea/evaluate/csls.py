"""Cross-domain similarity local scaling (CSLS, Lample et al. 2018), in chunks.

``csls(x, y) = 2 sim(x, y) - r_T(x) - r_S(y)``, where ``r_T(x)`` is the mean similarity of source ``x`` to its
``k`` nearest targets and ``r_S(y)`` the mean similarity of target ``y`` to its ``k`` nearest sources. It
penalises *hubs* (targets close to everything), which otherwise collect many sources' top-1.

The neighbourhoods are taken *within the given pools*: whoever calls this decides which sources and targets
the ``k`` nearest are searched among (for evaluation: the candidate pool of the mode, see
:mod:`gaussea.evaluate.ranking`). ``k`` is clipped to the pool size, so a pool smaller than ``k`` averages
over all of it. Both radii are computed block by block with a top-k per block: memory O(block), never
``n x m``. ``r_S`` covers the sources chunk by chunk (the chunks of
:func:`~gaussea.evaluate.similarity.row_chunks`); since the top-k of a union is the top-k of its parts' top-k,
ranks holding disjoint chunks of the sources can each compute theirs and merge the gathered results
(:mod:`gaussea.distributed.retrieval`) into exactly the single-process value.

Ranking the targets of a fixed source ``x`` does not need ``r_T(x)`` (a constant of the row), so ranking uses
``2 sim(x, y) - r_S(y)``. For separable similarities (cosine: ``<x_hat, y_hat>``) that is one matrix product
per block, the augmented inner product ``[2 x_hat, -1] . [y_hat, r_S(y)]``; reported scores subtract
``r_T(x)`` afterwards so they are the true CSLS values.

**Speed** (an evaluation is two products of the pools plus a top-k and a rank count; measured at 10,277 x
10,277, d = 100): products go through numpy's OpenBLAS (:func:`~gaussea.evaluate.similarity.matmul_nt`, ~2x
torch's MKL on the project's AMD CPU); every pass works through cache-sized tiles of :data:`TILE_BYTES` in
reused buffers, run as whole tiles on Python threads (:func:`run_tiles`) rather than with each operation's
own thread pool; ``r_S`` is computed target-major with a pruned top-k (:func:`row_topk`); and gold ranks are
counted with one subtract / sign / sum (:func:`gaussea.evaluate.ranking.realistic_ranks_`). None of this
changes a result: values are the same entries, and ranks are counted exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import torch

from gaussea.evaluate.similarity import (
    MAX_BLOCK_BYTES,
    SCORE_BYTES,
    PreparedPair,
    Rows,
    matmul_nt,
    openblas_threads,
    resolve_chunk_size,
    row_chunks,
)

DEFAULT_CSLS_K = 10
#: Bytes of the cache-sized tiles that the passes over a chunk work through (one reused buffer each): small
#: enough that a tile is still in cache when its top-k or rank count reads it right after the product.
TILE_BYTES = 16 * 2**20


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"CSLS k must be >= 1 (or None to disable CSLS), got {k}")


@torch.no_grad()
def target_radius(
    prepared: PreparedPair, k: int = DEFAULT_CSLS_K, source_rows: torch.Tensor | None = None, *,
    chunk_size: int | None = None, max_block_bytes: int = MAX_BLOCK_BYTES,
) -> torch.Tensor:
    """``r_S(y)`` for every target ``y``: mean similarity to its ``min(k, n)`` nearest sources.

    ``source_rows`` selects the source pool (default: all prepared sources). The sources are taken in chunks
    of ``chunk_size`` rows (see :func:`~gaussea.evaluate.similarity.row_chunks`), scored in target-major tiles
    (:func:`target_topk`).
    """
    _check_k(k)
    pool = prepared if source_rows is None else \
        PreparedPair(prepared.source[source_rows], prepared.target, prepared.kernel)
    n, m = pool.num_sources, pool.num_targets
    if n == 0:
        return pool.target.new_full((m,), float("nan"))
    k = min(k, n)
    chunks = row_chunks(n, m, chunk_size, max_block_bytes=max_block_bytes)
    return radius_from_topk(target_topk(pool, k, chunks), k)


def tile_rows(rows: int, width: int, tile_bytes: int | None = None) -> int:
    """Rows per ``(rows, width)`` float32 tile of about ``tile_bytes`` (default :data:`TILE_BYTES`), in [1, rows]."""
    budget = TILE_BYTES if tile_bytes is None else tile_bytes
    return max(1, min(rows, budget // (SCORE_BYTES * max(width, 1))))


@torch.no_grad()
def target_topk(pool: PreparedPair, k: int, chunks: Iterable[slice]) -> torch.Tensor:
    """The ``k`` largest similarities of every target to the sources in ``chunks`` (row slices of ``pool``).

    ``(k, m)``, each column sorted descending, ``-inf`` where the chunks hold fewer than ``k`` sources.

    Separable similarities are scored *target-major*: for a tile of targets (:data:`TILE_BYTES`, one reused
    buffer), each chunk's ``(targets, chunk sources)`` product is written side by side into one row per target,
    and the top-k runs once along those contiguous rows (:func:`row_topk`). The obvious layout, a column top-k
    of ``(sources, targets)`` blocks merged chunk after chunk, measured ~5x slower, and a fresh block per chunk
    pays its page faults every time. Every product is still exactly one chunk's (the tile height depends only
    on the pool's sizes), so a sharded evaluation that hands whole chunks to its ranks computes the same bits;
    the top-k values are copies of those entries, so where they are gathered does not matter either.
    """
    m, chunks = pool.num_targets, list(chunks)
    if not pool.separable:
        return _target_topk_blocks(pool, k, chunks)
    sources = [pool.source[rows] for rows in chunks]
    offsets = [0]
    for src in sources:
        offsets.append(offsets[-1] + src.shape[0])
    width, kk = offsets[-1], min(k, offsets[-1])
    best = pool.target.new_full((m, k), float("-inf"))
    if width == 0 or m == 0:
        return best.T.contiguous()
    group = _group_length(width, kk)
    padded = width if group is None else -(-width // group) * group
    step = tile_rows(m, pool.num_sources)

    def new_buffer() -> torch.Tensor:
        buf = pool.target.new_empty(min(step, m), padded)
        buf[:, width:] = float("-inf")  # the padding of the last group never wins
        return buf

    def one_tile(j: int, buf: torch.Tensor) -> None:
        tile = buf[:min(step, m - j)]
        for src, lo, hi in zip(sources, offsets[:-1], offsets[1:], strict=True):
            if hi > lo:
                matmul_nt(pool.target[j:j + step], src, out=tile[:, lo:hi])
        best[j:j + step, :kk] = row_topk(tile, kk, group)

    run_tiles(one_tile, range(0, m, step), new_buffer)
    return best.T.contiguous()


def run_tiles(work: Callable[[int, torch.Tensor], None], starts: Iterable[int],
              new_buffer: Callable[[], torch.Tensor]) -> None:
    """Call ``work(start, buffer)`` for every tile, on torch's intra-op thread count of Python threads.

    Each thread owns one buffer and runs whole tiles — product, top-k or rank count — with torch and OpenBLAS
    single-threaded for the duration. Parallelising each operation instead (torch's OpenMP team for the top-k,
    OpenBLAS's pool for the products) made every operation end in a barrier where both pools' threads
    busy-wait, and on the shared 2-core machine (load average ~6) an evaluation on 2 threads took 5-25 s against
    1.3-1.9 s on one. Python threads block instead of spinning, and torch and numpy release the GIL inside
    their kernels. Tiles are independent (each writes its own rows), so the results do not depend on the
    thread count.
    """
    starts = list(starts)
    threads = torch.get_num_threads()
    if threads == 1 or len(starts) < 2:
        buf = new_buffer()
        for start in starts:
            work(start, buf)
        return
    local = threading.local()

    def run(start: int) -> None:
        if not hasattr(local, "buf"):
            local.buf = new_buffer()
        work(start, local.buf)

    torch.set_num_threads(1)
    try:
        with openblas_threads(1), ThreadPoolExecutor(min(threads, len(starts))) as pool:
            for _ in pool.map(run, starts):  # re-raises the first error of a tile
                pass
    finally:
        torch.set_num_threads(threads)


def _target_topk_blocks(pool: PreparedPair, k: int, chunks: list[slice]) -> torch.Tensor:
    """:func:`target_topk` for kernels that only make whole ``(chunk sources, m)`` blocks: column top-k, merged."""
    best = pool.target.new_full((k, pool.num_targets), float("-inf"))
    for rows in chunks:
        block = pool.block(source_rows=rows)
        if block.shape[0]:
            top = block.topk(min(k, block.shape[0]), dim=0).values
            best = torch.cat([best, top]).topk(k, dim=0).values
    return best


#: Groups per row in :func:`row_topk`'s pruning: ~64 measured fastest at 10,277 columns (32 and 256 slower).
TOPK_GROUPS = 64


def _group_length(width: int, k: int) -> int | None:
    """Group length for :func:`row_topk` over rows of ``width``, or None where pruning would not pay.

    Pruning keeps ``k`` groups, so it only pays when they are a small part of the row (below ~1/8: at 1,632
    columns a plain top-k was faster) and needs at least ``k`` groups.
    """
    length = -(-width // TOPK_GROUPS)
    return length if length >= 8 * k and -(-width // length) >= k else None


def row_topk(block: torch.Tensor, k: int, group: int | None = None) -> torch.Tensor:
    """The ``k`` largest values of each row of ``block``, sorted descending; exactly ``block.topk(k)``'s values.

    With ``group`` (the width of ``block`` a multiple of it), the row is cut into groups of that length and
    only the ``k`` groups with the largest maxima are searched: every other entry is at most its group's
    maximum, which is at most each of the ``k`` kept maxima — ``k`` distinct entries — so it cannot be needed.
    One ``amax`` pass and a top-k over ``k * group`` entries instead of the row: measured 0.11 s instead of
    0.16 s for 10,277 x 10,277 on one thread (top-k runs a partial sort per row).
    """
    if group is None:
        return block.topk(k, dim=1).values
    rows, width = block.shape
    groups = block.view(rows, width // group, group)
    keep = groups.amax(2).topk(k, dim=1).indices
    cols = (keep.unsqueeze(2) * group + torch.arange(group, device=block.device)).reshape(rows, k * group)
    return block.gather(1, cols).topk(k, dim=1).values


def radius_from_topk(values: torch.Tensor, k: int) -> torch.Tensor:
    """Mean of the ``k`` largest values of each column of ``values``, summed in a fixed order.

    The order matters for exactness, not accuracy: summing the same ``k`` values largest first, one row at a
    time (elementwise adds, whatever the width), gives the same bits however the sources were split up.
    """
    top = values.topk(k, dim=0).values
    out = top[0].clone()
    for row in top[1:]:
        out.add_(row)
    return out.div_(k)


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
    over all blocks) among the sources ``radius_sources`` (row indices; default all prepared sources), unless
    ``r_s`` is given; :meth:`ranking_block` then costs one matrix product (separable similarities) per chunk.
    """

    def __init__(
        self, prepared: PreparedPair, k: int | None = DEFAULT_CSLS_K, *,
        radius_sources: torch.Tensor | None = None, chunk_size: int | None = None,
        max_block_bytes: int = MAX_BLOCK_BYTES, r_s: torch.Tensor | None = None,
    ) -> None:
        self.prepared = prepared
        self.k = k
        self.r_s: torch.Tensor | None = None
        if k is not None:
            # A precomputed r_s (e.g. merged from the ranks of a sharded evaluation) skips the pass.
            self.r_s = r_s if r_s is not None else target_radius(
                prepared, k, radius_sources, chunk_size=chunk_size, max_block_bytes=max_block_bytes)
        self._augmented: tuple[torch.Tensor, torch.Tensor] | None = None

    def _ranking_features(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``([2 x, -1], [y, r_S])``: their inner product is ``2 sim - r_S``, so a ranking block is one product.

        Built once (O((n + m) p) memory) rather than per chunk; doubling is exact in floating point.
        """
        if self._augmented is None:
            assert self.r_s is not None
            src, tgt = self.prepared.source, self.prepared.target
            self._augmented = (torch.cat([src * 2.0, src.new_full((len(src), 1), -1.0)], 1),
                               torch.cat([tgt, self.r_s.unsqueeze(1).to(tgt.dtype)], 1))
        return self._augmented

    def ranking_block(self, source_rows: Rows, out: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ordering each row's targets: ``sim``, or ``2 sim - r_S`` (CSLS minus its row constant).

        ``out`` (``(rows, m)`` float32, e.g. a view of a reused buffer) receives the block of separable
        similarities, saving an allocation per chunk; other kernels return a new tensor.
        """
        if not self.prepared.separable:
            block = self.prepared.block(source_rows)
            return block if self.r_s is None else block.mul_(2.0).sub_(self.r_s)
        src, tgt = (self.prepared.source, self.prepared.target) if self.r_s is None else self._ranking_features()
        return matmul_nt(src if source_rows is None else src[source_rows], tgt, out=out)

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
