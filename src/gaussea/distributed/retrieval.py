"""Sharded exact retrieval: the ranks of the test pairs computed by several processes, identical to one.

Each rank scores its shard of the *source* side against all targets:

1. every rank prepares the same pools (:func:`~gaussea.evaluate.ranking.ranking_problem`, O((n + m) d));
2. CSLS's target radius ``r_S(y)`` (mean similarity of ``y`` to its ``k`` nearest sources): each rank takes
   the top-k over its chunks of the source pool per target (:func:`~gaussea.evaluate.csls.target_topk`), the
   ``(k, m)`` results are all-gathered, and the top-k of their union is the top-k over all sources;
3. each rank ranks the test queries of its chunks, and one all-reduce assembles the full rank vector.

**Identical, not just close.** A BLAS product rounds differently for different block shapes, so ranks take
*whole chunks of the single-process chunk grid* (:func:`~gaussea.evaluate.similarity.row_chunks`): every block
a rank computes is bit-for-bit a block the single process computes (given the same intra-op thread count,
which changes MKL's kernels), the top-k merge is exact, and ``r_S`` is averaged in a fixed order
(:func:`~gaussea.evaluate.csls.radius_from_topk`). So ties break the same way and the ranks are equal.

Memory per rank: the features of both pools, one ``(chunk, m)`` block, and ``world_size * k * m`` floats for the
gathered top-k. Communication: that gather and one ``q``-float64 all-reduce.
"""

from __future__ import annotations

from typing import Any

import torch

from gaussea.distributed.context import DistContext
from gaussea.evaluate.csls import CSLSScorer, radius_from_topk, target_topk
from gaussea.evaluate.decoders import DEFAULT_DECODER
from gaussea.evaluate.ranking import (
    Direction,
    IdsLike,
    rank_metrics,
    rank_queries,
    ranked_evaluation,
    ranking_problem,
)
from gaussea.evaluate.settings import SETTING_NAMES, EvalSettings, resolve_settings
from gaussea.evaluate.similarity import MAX_BLOCK_BYTES, Embeddings, PreparedPair, row_chunks


@torch.no_grad()
def sharded_target_radius(
    context: DistContext, prepared: PreparedPair, k: int, *, chunk_size: int | None = None,
    max_block_bytes: int = MAX_BLOCK_BYTES,
) -> torch.Tensor:
    """``r_S`` over all prepared sources, each rank searching only its chunks; same on every rank."""
    n, m = prepared.num_sources, prepared.num_targets
    if n == 0:
        return prepared.target.new_full((m,), float("nan"))
    k = min(k, n)
    chunks = row_chunks(n, m, chunk_size, max_block_bytes=max_block_bytes)
    local = target_topk(prepared, k, context.share(chunks))
    return radius_from_topk(torch.cat(context.all_gather(local)), k)


@torch.no_grad()
def sharded_alignment_ranks(
    context: DistContext,
    source: Embeddings,
    target: Embeddings,
    test_pairs: IdsLike,
    settings: EvalSettings | None = None,
    *,
    exclude_sources: IdsLike | None = None,
    exclude_targets: IdsLike | None = None,
    direction: Direction = "left_to_right",
    max_block_bytes: int = MAX_BLOCK_BYTES,
    **overrides: Any,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """:func:`~gaussea.evaluate.alignment_ranks` (CSLS or plain-similarity decoder) computed by all ranks
    together; every rank gets all ranks.

    Collective: every rank must call it with the same arguments (the replicated model's embeddings).
    """
    settings = resolve_settings(settings, overrides)
    problem = ranking_problem(source, target, test_pairs, settings, exclude_sources=exclude_sources,
                              exclude_targets=exclude_targets, direction=direction)
    num_queries = len(problem.query_rows)
    chunk_size, csls_k = settings.chunk_size, settings.csls_k
    chunks = row_chunks(num_queries, problem.prepared.num_targets, chunk_size, max_block_bytes=max_block_bytes)
    r_s = None
    if csls_k is not None:
        r_s = sharded_target_radius(context, problem.prepared, csls_k, chunk_size=chunk_size,
                                    max_block_bytes=max_block_bytes)
    scorer = CSLSScorer(problem.prepared, csls_k, r_s=r_s)
    # Zeros outside this rank's chunks: the sum over ranks adds exact zeros, so it is the rank vector itself.
    ranks = torch.zeros(num_queries, dtype=torch.float64, device=problem.query_rows.device)
    rank_queries(scorer, problem, context.share(chunks), ranks)
    context.all_reduce_sum_(ranks)
    return ranks.cpu(), problem.info


def sharded_ranked_evaluation(
    context: DistContext,
    source: Embeddings,
    target: Embeddings,
    test_pairs: IdsLike,
    settings: EvalSettings | None = None,
    **options: Any,
) -> tuple[dict[str, Any], torch.Tensor | None]:
    """:func:`~gaussea.evaluate.ranked_evaluation` computed by all ranks together (the same on every rank).

    A joint decoder (Sinkhorn, Hungarian) needs the whole queries x candidates matrix at once: every rank then
    decodes it alone (the same inputs, so the same result), nothing is sharded.
    """
    settings = resolve_settings(settings, {k: options.pop(k) for k in list(options) if k in SETTING_NAMES})
    if settings.decoder != DEFAULT_DECODER:
        return ranked_evaluation(source, target, test_pairs, settings, **options)
    ranks, info = sharded_alignment_ranks(context, source, target, test_pairs, settings, **options)
    return {**rank_metrics(ranks, settings.ks), **info}, ranks


def sharded_evaluate_alignment(
    context: DistContext,
    source: Embeddings,
    target: Embeddings,
    test_pairs: IdsLike,
    settings: EvalSettings | None = None,
    **options: Any,
) -> dict[str, Any]:
    """:func:`~gaussea.evaluate.evaluate_alignment` computed by all ranks together (same dict on every rank)."""
    return sharded_ranked_evaluation(context, source, target, test_pairs, settings, **options)[0]
