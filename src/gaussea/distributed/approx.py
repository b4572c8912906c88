"""Approximate cosine retrieval with faiss (IVF or HNSW), for sizes where exact retrieval is too slow.

Exact retrieval costs ``n * m * d`` multiply-adds however it is sharded: at 1M x 1M entities and d = 100 that
is 10^14, hours on a few CPU cores. An inverted-file (IVF) or graph (HNSW) index searches a small part of the
targets per query instead, at the price of sometimes missing a true neighbour, so its recall@k against exact
retrieval must be measured (:func:`recall_at_k`) before its results are trusted. Scores are plain cosine on the
common-space means (CSLS needs every target's neighbourhood, i.e. a second full search). faiss is optional:
``pip install 'gaussea[faiss]'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gaussea.errors import MissingDependencyError
from gaussea.evaluate.similarity import Embeddings

INDEX_KINDS = ("ivf", "hnsw")


def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        raise MissingDependencyError("approximate retrieval needs faiss: pip install 'gaussea[faiss]' "
                                     "(faiss-cpu)") from None
    return faiss


def _unit(emb: Embeddings) -> np.ndarray:
    return np.ascontiguousarray(F.normalize(emb.mean.float(), dim=1).cpu().numpy())


@dataclass
class ApproximateIndex:
    """A faiss index over the unit target means; :meth:`search` returns cosine scores and target ids.

    ``kind="ivf"``: ``nlist`` k-means cells (default ``~4 sqrt(m)``), trained on ``train_per_list * nlist``
    sampled targets, ``nprobe`` cells searched per query. ``kind="hnsw"``: graph with ``hnsw_m`` links per
    node and ``ef_search`` candidates per query. Both use inner product, which is cosine on unit vectors.
    """

    target: Embeddings
    kind: str = "ivf"
    nlist: int | None = None
    nprobe: int = 16
    train_per_list: int = 64
    hnsw_m: int = 32
    ef_search: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ValueError(f"kind must be one of {INDEX_KINDS}, got {self.kind!r}")
        faiss = _faiss()
        vectors = _unit(self.target)
        m, d = vectors.shape
        if self.kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(d, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.add(vectors)
        else:
            nlist = self.nlist or max(1, min(m // 39, int(4 * math.sqrt(m))))
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(self.seed)
            sample = rng.choice(m, size=min(m, self.train_per_list * nlist), replace=False)
            self.index.train(vectors[np.sort(sample)])
            self.index.add(vectors)
            self.nlist = nlist
        self.set_effort(self.nprobe if self.kind == "ivf" else self.ef_search)

    def set_effort(self, effort: int) -> None:
        """Search effort: ``nprobe`` (IVF) or ``efSearch`` (HNSW); more is slower and recalls more."""
        if self.kind == "ivf":
            self.nprobe = self.index.nprobe = int(effort)
        else:
            self.ef_search = int(effort)
            self.index.hnsw.efSearch = int(effort)

    def search(self, queries: Embeddings, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores, ids)`` of the ``k`` most cosine-similar targets per query, best first (``-1`` if none)."""
        scores, ids = self.index.search(_unit(queries), k)
        return torch.from_numpy(scores), torch.from_numpy(ids.astype(np.int64))


def recall_at_k(approx_ids: torch.Tensor, exact_ids: torch.Tensor) -> float:
    """Share of the exact top-k that the approximate top-k found, averaged over queries (both ``(q, k)``)."""
    if approx_ids.shape != exact_ids.shape:
        raise ValueError(f"shapes differ: {tuple(approx_ids.shape)} vs {tuple(exact_ids.shape)}")
    hits = (approx_ids.unsqueeze(2) == exact_ids.unsqueeze(1)).any(2).sum(1)
    return float(hits.double().mean() / exact_ids.shape[1])
