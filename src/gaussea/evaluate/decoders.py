"""Decoders: how a matrix of similarities between the queries and the candidates becomes a ranking.

- ``csls`` (default): each query ranks the candidates by CSLS (``csls_k`` set) or by the plain similarity
  (``csls_k=None``), on its own: :mod:`gaussea.evaluate.csls`. Nothing here.
- ``sinkhorn``: global inference under a one-to-one assumption (DESIGN.md §5). With ``S`` the plain
  similarity of the queries (rows) to the candidates (columns), ``K = exp((S - max S) / tau)`` is scaled to
  alternately unit row sums and unit column sums for a fixed number of ``iterations`` (rows first, columns
  last), and each row is ranked by the result. Computed in log space (``log K = S / tau + u_i + v_j``, ``u`` /
  ``v`` the log row / column scales; exact ``logsumexp``, no underflow however small ``tau``); the row scale
  does not change a row's order, so a query ranks the candidates by ``S / tau + v`` — the order of
  ``S + tau * log(column scale)``. CSLS is not applied first: Sinkhorn's column scaling already corrects
  hubness, and on a CSLS matrix (``2 S - r_T(x) - r_S(y)``, a row and a column offset) it would amount to Sinkhorn
  on ``2 S``, i.e. ``tau / 2``; so ``tau`` keeps its meaning in units of the similarity (about 0.02 for cosine).
- ``hungarian``: the one-to-one assignment of queries to candidates with the largest total similarity
  (``scipy.optimize.linear_sum_assignment`` on ``-S``; rectangular when there are more candidates than
  queries). It gives one match per query, not a ranking: only Hits@1 is reported (the other metrics are None).

Both use all the queries jointly: the result of one query depends on the others (a *transductive* protocol,
DESIGN.md §5), and every metrics dict names its decoder. Their rows are the distinct query sources in both
candidate modes: ``"test"`` mode is the square test x test problem; ``"all"`` mode is test sources x every
target (Sinkhorn's column scaling then runs over all targets; the assignment leaves unmatched targets over).

**Ties.** Identical candidates (deduplicated by :func:`gaussea.evaluate.ranking.ranking_problem`, with their
multiplicity ``counts``) are treated as the separate columns they stand for: their log multiplicity enters
Sinkhorn's row sums, and the gold's realistic rank counts them as in the CSLS path. In the assignment, a query
matched to one of ``c`` identical candidates that include its gold scores ``1 / c`` (the chance that the match
is the gold one when identical candidates are exchanged at random).

**Memory.** Both hold the dense ``(queries, candidates)`` float32 matrix, refused (ValueError, before any work)
past ``max_block_bytes`` (1 GiB by default: about 16,000 x 16,000; test x test of every benchmark here fits).
Sinkhorn adds one row-chunk temporary per pass; the assignment adds one float64 copy (3x the float32 matrix in
all). Measured on D-Y-15K-V1's 10,500 x 10,500 test problem with the propagation model's 3,072-d embeddings
(one thread, shared machine): Sinkhorn decoding 42 s (CSLS: 27 s), and a whole ``gaussea evaluate`` with the
Hungarian assignment 39 s at 3.4 GB peak RSS (BENCHMARKS.md, "Propagation").
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gaussea.config import DECODERS, EvalConfig, check_decoder
from gaussea.evaluate.csls import CSLSScorer
from gaussea.evaluate.similarity import (
    DEFAULT_BLOCK_BYTES,
    MAX_BLOCK_BYTES,
    SCORE_BYTES,
    PreparedPair,
    resolve_chunk_size,
)

# The library's defaults are the configuration's (one place to change them).
DEFAULT_DECODER: str = EvalConfig.decoder
DEFAULT_SINKHORN_TAU: float = EvalConfig.sinkhorn_tau
# Ours (DESIGN.md §5): rounds of (rows; columns) normalisation. Fixed for runs (no run ever varied it; the
# temperature is the setting, eval.sinkhorn_tau); the evaluation functions take ``sinkhorn_iterations``.
DEFAULT_SINKHORN_ITERATIONS: int = 15


def similarity_matrix(prepared: PreparedPair, rows: torch.Tensor, *, decoder: str,
                      max_block_bytes: int = MAX_BLOCK_BYTES) -> torch.Tensor:
    """The dense ``(len(rows), m)`` plain similarities of the source ``rows`` to every prepared target.

    Filled block by block with the evaluator's own kernel (so its entries are those the CSLS path ranks with
    ``csls_k=None``); refused before any work when it would exceed ``max_block_bytes``.
    """
    q, m = len(rows), prepared.num_targets
    need = q * m * SCORE_BYTES
    if need > max_block_bytes:
        raise ValueError(f"decoder {decoder!r} holds the {q} x {m} similarity matrix ({need / 2**20:.0f} MiB), more "
                         f"than max_block_bytes={max_block_bytes} ({max_block_bytes / 2**20:.0f} MiB); use "
                         "eval.decoder='csls', test candidates only (eval.modes=['test']), or raise max_block_bytes")
    out = prepared.target.new_empty(q, m)
    scorer = CSLSScorer(prepared, None)
    step = resolve_chunk_size(None, m, q)
    for i in range(0, q, step):
        block = scorer.ranking_block(rows[i:i + step], out=out[i:i + step])
        if block.data_ptr() != out[i:i + step].data_ptr():  # kernels that do not write into ``out``
            out[i:i + step] = block
    return out


def _row_step(m: int) -> int:
    """Rows per temporary of the Sinkhorn passes: ~64 MiB, as the evaluator's blocks."""
    return max(1, DEFAULT_BLOCK_BYTES // (SCORE_BYTES * max(m, 1)))


@torch.no_grad()
def sinkhorn_potentials(scores: torch.Tensor, tau: float, iterations: int,
                        counts: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Log row and column scales ``(u, v)`` after ``iterations`` rounds of (rows; columns) normalisation.

    ``exp(scores / tau + u_i + v_j)`` (each column ``j`` standing for ``counts[j]`` identical columns) then has
    unit column sums and, before the last column step, had unit row sums. One pass over ``scores`` per round:
    a row chunk's new ``u`` needs only the previous ``v``, and the column sums, accumulated chunk after chunk
    with a running maximum (a streaming ``logsumexp``), use the ``u`` just updated — exactly rows, then columns.
    ``scores`` is read, never written; float32 temporaries of one row chunk, potentials in float32.
    """
    q, m = scores.shape
    u = scores.new_zeros(q)
    v = scores.new_zeros(m)
    log_counts = None if counts is None else counts.to(scores.dtype).log()
    step = _row_step(m)
    inv_tau = 1.0 / tau
    for _ in range(iterations):
        col_max = scores.new_full((m,), -math.inf)
        col_sum = scores.new_zeros(m)
        column_offset = v if log_counts is None else v + log_counts
        for i in range(0, q, step):
            x = torch.mul(scores[i:i + step], inv_tau).add_(column_offset)
            u[i:i + step] = -torch.logsumexp(x, dim=1)
            x.sub_(column_offset).add_(u[i:i + step, None])  # scores / tau + u_i: the column step's terms
            chunk_max = x.amax(0)
            new_max = torch.maximum(col_max, chunk_max)
            col_sum.mul_(torch.exp(col_max - new_max)).add_(x.sub_(new_max).exp_().sum(0))
            col_max = new_max
        v = -(col_max + col_sum.log())
    return u, v


@torch.no_grad()
def sinkhorn_scores_(scores: torch.Tensor, tau: float, iterations: int,
                     counts: torch.Tensor | None = None) -> torch.Tensor:
    """``scores`` overwritten with ``scores / tau + v``: each row in the order of its Sinkhorn-scaled row."""
    _, v = sinkhorn_potentials(scores, tau, iterations, counts)
    step = _row_step(scores.shape[1])
    for i in range(0, scores.shape[0], step):
        scores[i:i + step].div_(tau).add_(v)
    return scores


def assignment_hits(scores: torch.Tensor, gold_cols: torch.Tensor, query_rows: torch.Tensor,
                    counts: torch.Tensor | None = None) -> torch.Tensor:
    """Per query, 1 (or ``1 / c``, see the module docstring) when the maximum-similarity one-to-one assignment
    of the rows of ``scores`` to its columns gives ``query_rows[i]`` its gold column ``gold_cols[i]``; float64.

    Columns are expanded to their ``counts`` first, so identical candidates can take one row each.
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        from gaussea.errors import MissingDependencyError

        raise MissingDependencyError("eval.decoder='hungarian' needs scipy: pip install 'gaussea[scipy]' "
                                     "(or use eval.decoder='csls' / 'sinkhorn')") from None
    group = np.arange(scores.shape[1])
    if counts is not None:
        group = np.repeat(group, counts.cpu().numpy())
    # One float64 cost matrix, negated in place: scipy would otherwise make both a float64 and a negated copy.
    cost = scores.cpu().numpy()[:, group].astype(np.float64) if counts is not None else \
        scores.cpu().numpy().astype(np.float64)
    rows, cols = linear_sum_assignment(np.negative(cost, out=cost))
    assigned = np.full(cost.shape[0], -1, dtype=np.int64)
    assigned[rows] = group[cols]
    gold = gold_cols.cpu().numpy()
    match = assigned[query_rows.cpu().numpy()] == gold
    size = np.ones(len(gold)) if counts is None else counts.cpu().numpy()[gold].astype(np.float64)
    return torch.as_tensor(match / size, dtype=torch.float64)


__all__ = ["DECODERS", "DEFAULT_DECODER", "assignment_hits", "check_decoder", "similarity_matrix",
           "sinkhorn_potentials", "sinkhorn_scores_"]
