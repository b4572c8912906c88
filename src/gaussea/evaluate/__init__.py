"""Evaluation of entity alignment: similarities, CSLS, gold ranks, Hits@k / MR / MRR and top-k retrieval.

Everything works in ``(chunk, m)`` blocks (never an ``n x m`` matrix unless :func:`full_score_matrix` is asked
for), in float32 on the embeddings' device. See :mod:`gaussea.evaluate.ranking` for the candidate modes, the
CSLS pools and the tie convention.
"""

from gaussea.evaluate.csls import DEFAULT_CSLS_K, CSLSScorer, csls_matrix, source_radius, target_radius
from gaussea.evaluate.decoders import DECODERS
from gaussea.evaluate.ranking import (
    CANDIDATE_MODES,
    DEFAULT_KS,
    alignment_ranks,
    evaluate_alignment,
    full_score_matrix,
    rank_metrics,
    realistic_ranks,
    top_k,
)
from gaussea.evaluate.similarity import (
    DEFAULT_BLOCK_BYTES,
    MAX_BLOCK_BYTES,
    SIMILARITIES,
    Cosine,
    Embeddings,
    ExpectedLikelihood,
    NegSymmetricKL,
    PreparedPair,
    Similarity,
    get_similarity,
    resolve_chunk_size,
)

__all__ = [
    "CANDIDATE_MODES",
    "DECODERS",
    "DEFAULT_BLOCK_BYTES",
    "DEFAULT_CSLS_K",
    "DEFAULT_KS",
    "MAX_BLOCK_BYTES",
    "SIMILARITIES",
    "CSLSScorer",
    "Cosine",
    "Embeddings",
    "ExpectedLikelihood",
    "NegSymmetricKL",
    "PreparedPair",
    "Similarity",
    "alignment_ranks",
    "csls_matrix",
    "evaluate_alignment",
    "full_score_matrix",
    "get_similarity",
    "rank_metrics",
    "realistic_ranks",
    "resolve_chunk_size",
    "source_radius",
    "target_radius",
    "top_k",
]
