"""Evaluation of entity alignment: similarities, CSLS, gold ranks, Hits@k / MR / MRR and top-k retrieval.

Everything works in ``(chunk, m)`` blocks (never an ``n x m`` matrix unless :func:`full_score_matrix` is asked
for), in float32 on the embeddings' device. See :mod:`gaussea.evaluate.ranking` for the candidate modes, the
CSLS pools and the tie convention.
"""

from gaussea.config import CANDIDATE_MODES
from gaussea.evaluate.csls import DEFAULT_CSLS_K, CSLSScorer, csls_matrix, source_radius, target_radius
from gaussea.evaluate.decoders import DECODERS
from gaussea.evaluate.ranking import (
    alignment_ranks,
    evaluate_alignment,
    full_score_matrix,
    rank_metrics,
    ranked_evaluation,
    realistic_ranks,
    top_k,
)
from gaussea.evaluate.settings import DEFAULT_KS, EvalSettings
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
    "EvalSettings",
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
    "ranked_evaluation",
    "realistic_ranks",
    "resolve_chunk_size",
    "source_radius",
    "target_radius",
    "top_k",
]
