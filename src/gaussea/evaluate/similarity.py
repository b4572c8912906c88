"""Similarities between source and target entities, computed one block of rows at a time.

Evaluation never needs the full ``n x m`` similarity matrix, only blocks of it (one chunk of sources against
every candidate target, or every source against one chunk of targets), so each similarity is split in two:

1. :meth:`Similarity.prepare` turns the two sides' embeddings into per-entity *feature* rows, once;
2. a *kernel* turns a chunk of source features and a set of target features into a ``(chunk, m)`` block.

For the similarities that allow it the features are chosen so that the kernel is a single matrix product
(``sim(x, y) = <phi(x), psi(y)>``): cosine (normalised means), negative symmetric KL (the squared mean gap
expanded as ``sum m1^2/s2 - 2 m1.(m2/s2) + sum m2^2/s2``) and expected likelihood when the variances do not
vary between entities. That keeps a block at BLAS speed and never materialises a ``(chunk, m, d)`` tensor.
Expected likelihood with per-entity variances does not factor (``1 / (s1 + s2)`` couples the two sides), so
its kernel works through cache-sized ``(rows, cols, d)`` tiles: memory stays O(chunk * m), but time is
O(chunk * m * d) elementwise work (with a log) instead of a matrix product: roughly 50x slower than cosine.

Everything is computed in float32 on the device of the embeddings, without autograd (evaluation only).
Similarities are registered by name in :data:`SIMILARITIES`; a new one is one subclass of
:class:`Similarity` (pass an instance wherever a name is accepted, no registration needed). A mapping on
purpose, not class-resolver: names are checked by the config before torch is imported, so a resolver's
forgiving lookup would never be reached, and it would list ``neg_sym_kl`` as ``negsymmetrickl``
(docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from gaussea.embeddings import Embeddings

COMPUTE_DTYPE = torch.float32
#: Bytes of one float32 score.
SCORE_BYTES = 4
#: Automatic chunk sizes aim at one ``(chunk, m)`` float32 block of about this many bytes.
DEFAULT_BLOCK_BYTES = 64 * 2**20
#: A block (or full matrix) larger than this is refused unless the caller raises ``max_block_bytes``.
MAX_BLOCK_BYTES = 2**30
LOG_2PI = math.log(2.0 * math.pi)
#: Working tile (rows x cols x d elements, ~4 MiB float32) of the non-separable expected-likelihood kernel.
EL_TILE_ELEMENTS = 2**20

Rows = slice | torch.Tensor | None
Kernel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def matmul_nt(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ b.T`` (optionally into ``out``, which may be a strided view), the product every block is made of.

    On CPU float32 it goes through numpy's BLAS (OpenBLAS in numpy's wheels) rather than torch's MKL: measured
    on the project's AMD EPYC (Zen 4) machine, a ``10,277 x 100 x 10,277`` product takes 0.22-0.26 s on one
    thread with OpenBLAS and 0.47-0.57 s with MKL, which does not use its fast kernels on non-Intel CPUs, and
    the two products of a CSLS evaluation are most of its time. It runs on torch's intra-op thread count
    (``train.threads`` / ``torch.set_num_threads``; see :func:`openblas_threads`). OpenBLAS gives the same bits
    for any thread count (checked), so a block's rounding does not depend on the threads. Other devices and
    dtypes use ``torch.mm``.
    """
    if not (a.device.type == b.device.type == "cpu" and a.dtype == b.dtype == COMPUTE_DTYPE
            and (out is None or (out.device.type == "cpu" and out.dtype == COMPUTE_DTYPE))):
        return torch.mm(a, b.T) if out is None else torch.mm(a, b.T, out=out)
    if out is None:
        out = torch.empty(a.shape[0], b.shape[0], dtype=COMPUTE_DTYPE)
    with openblas_threads(torch.get_num_threads()):
        np.matmul(a.detach().numpy(), b.detach().numpy().T, out=out.numpy())
    return out


@contextlib.contextmanager
def openblas_threads(threads: int) -> Iterator[None]:
    """Run numpy's OpenBLAS on ``threads`` threads inside the block, and restore its count after.

    OpenBLAS keeps its own thread pool (one thread per core) and ignores torch's setting; without this, processes
    sharing a machine (sharded ranks, parallel runs) would each take every core. The count is process-wide:
    callers running products from several Python threads set it once around all of them (see
    :func:`gaussea.evaluate.csls.run_tiles`). Where numpy's BLAS is not an OpenBLAS found here, nothing changes.
    """
    api = _openblas_thread_api()
    before = api[0]() if api is not None else threads
    if api is not None and before != threads:
        api[1](threads)
    try:
        yield
    finally:
        if api is not None and before != threads:
            api[1](before)


@functools.cache
def _openblas_thread_api() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """``(get, set)`` of the thread count of the OpenBLAS that numpy's wheels bundle; None when not found.

    Looked up once per process (the library never changes under a running interpreter). numpy has no API for
    it; the symbols are OpenBLAS's own, with the ``scipy_`` prefix and ``64_`` suffix of numpy >= 2's wheels.
    Where numpy uses another BLAS (e.g. Accelerate), its threads are simply left alone.
    """
    numpy_dir = Path(np.__file__).resolve().parent
    for path in (*sorted(numpy_dir.parent.joinpath("numpy.libs").glob("*openblas*")),
                 *sorted(numpy_dir.joinpath(".dylibs").glob("*openblas*"))):
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "", "_64"):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.restype, put.argtypes = None, [ctypes.c_int]
                    return get, put
    return None


def matmul_kernel(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The kernel of separable similarities: ``block[i, j] = <source[i], target[j]>``."""
    return matmul_nt(source, target)


@dataclass(frozen=True)
class PreparedPair:
    """Feature rows of a source set and a target set such that ``sim(i, j) = kernel(source[i], target[j])``.

    Features cost O((n + m) * p) memory with ``p`` a small multiple of ``d``; blocks cost O(rows * cols).
    """

    source: torch.Tensor
    target: torch.Tensor
    kernel: Kernel = matmul_kernel

    @property
    def num_sources(self) -> int:
        return self.source.shape[0]

    @property
    def num_targets(self) -> int:
        return self.target.shape[0]

    @property
    def separable(self) -> bool:
        """True when a block is one matrix product of the features (lets CSLS fuse into it)."""
        return self.kernel is matmul_kernel

    def block(self, source_rows: Rows = None, target_rows: Rows = None) -> torch.Tensor:
        """Similarities of the selected sources (rows) to the selected targets (columns)."""
        src = self.source if source_rows is None else self.source[source_rows]
        tgt = self.target if target_rows is None else self.target[target_rows]
        return self.kernel(src, tgt)

    def with_targets(self, target: torch.Tensor) -> PreparedPair:
        return PreparedPair(self.source, target, self.kernel)


class Similarity(ABC):
    """A similarity between entities of two graphs; higher means more likely the same entity."""

    name: ClassVar[str]
    needs_variance: ClassVar[bool] = False

    @torch.no_grad()
    def prepare(self, source: Embeddings, target: Embeddings) -> PreparedPair:
        """Validate both sides and compute their feature rows once (O((n + m) * d) work and memory)."""
        if source.dim != target.dim:
            raise ValueError(f"source dimension {source.dim} != target dimension {target.dim}")
        if source.device != target.device:
            raise ValueError(f"source on {source.device} but target on {target.device}")
        for side, emb in (("source", source), ("target", target)):
            if not torch.isfinite(emb.mean).all():
                raise ValueError(f"{side} means contain NaN or inf")
            if self.needs_variance:
                if emb.var is None:
                    raise ValueError(f"similarity {self.name!r} needs variances, but the {side} has "
                                     "var=None; use similarity='cosine' for point embeddings")
                if not (torch.isfinite(emb.var).all() and (emb.var > 0).all()):
                    raise ValueError(f"{side} variances must be finite and > 0")
        return self._prepare(_as_compute(source), _as_compute(target))

    @abstractmethod
    def _prepare(self, source: Embeddings, target: Embeddings) -> PreparedPair: ...

    @torch.no_grad()
    def pairwise(self, source: Embeddings, target: Embeddings) -> torch.Tensor:
        """The full ``(n, m)`` matrix; for small inputs and tests only (no memory guard here)."""
        return self.prepare(source, target).block()


def _as_compute(emb: Embeddings) -> Embeddings:
    var = None if emb.var is None else emb.var.to(COMPUTE_DTYPE)
    return Embeddings(emb.mean.to(COMPUTE_DTYPE), var)


class Cosine(Similarity):
    """Cosine of the means; variances are ignored. The paper's evaluation similarity (DESIGN.md §1)."""

    name = "cosine"

    def _prepare(self, source: Embeddings, target: Embeddings) -> PreparedPair:
        # A zero mean normalises to zero: cosine 0 with everything, i.e. a tie with every candidate.
        return PreparedPair(F.normalize(source.mean, dim=1), F.normalize(target.mean, dim=1))


class NegSymmetricKL(Similarity):
    """``-(KL(x || y) + KL(y || x))`` between diagonal Gaussians, as one matrix product.

    With ``KL(1 || 2) = 1/2 sum[s1/s2 + (m2-m1)^2/s2 - 1 + ln s2 - ln s1]`` the log terms cancel in the sum:

        2 * symKL = (s1 + m1^2).(1/s2) + (1/s1).(s2 + m2^2) - 2 (m1/s1).m2 - 2 m1.(m2/s2) + c(x) + e(y) - 2d

    with ``c(x) = sum m1^2/s1`` and ``e(y) = sum m2^2/s2``: an inner product of ``4d + 2`` features per side.
    Means are first shifted by their joint average (a shift leaves every ``m1 - m2`` unchanged) so that the
    expanded squares stay small and float32 cancellation stays mild.
    """

    name = "neg_sym_kl"
    needs_variance = True

    def _prepare(self, source: Embeddings, target: Embeddings) -> PreparedPair:
        assert source.var is not None and target.var is not None
        shift = (source.mean.sum(0) + target.mean.sum(0)) / max(len(source) + len(target), 1)
        m1, s1 = source.mean - shift, source.var
        m2, s2 = target.mean - shift, target.var
        inv1, inv2 = 1.0 / s1, 1.0 / s2
        ones1 = m1.new_ones(len(m1), 1)
        ones2 = m2.new_ones(len(m2), 1)
        c = (m1 * m1 * inv1).sum(1, keepdim=True)
        e = (m2 * m2 * inv2).sum(1, keepdim=True)
        src = torch.cat([s1 + m1 * m1, inv1, m1 * inv1, m1, c, ones1], dim=1)
        tgt = torch.cat([inv2, s2 + m2 * m2, -2.0 * m2, -2.0 * m2 * inv2, ones2, e - 2.0 * m1.shape[1]], 1)
        return PreparedPair(src, tgt.mul_(-0.5))


def _rows_constant(var: torch.Tensor) -> bool:
    return len(var) == 0 or bool((var == var[:1]).all())


def _expected_likelihood_kernel(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``log N(m1 - m2; 0, s1 + s2)`` for features ``[mean, var]``, in small ``(rows, cols, d)`` tiles.

    Tiles of :data:`EL_TILE_ELEMENTS` stay in cache, which made this ~5x faster than a loop over dimensions
    with ``(rows, m)`` accumulators; the only large allocation is the output block.
    """
    d = source.shape[1] // 2
    m1, s1 = source[:, :d], source[:, d:]
    m2, s2 = target[:, :d], target[:, d:]
    n, m = source.shape[0], target.shape[0]
    out = source.new_empty(n, m)
    cols = max(1, min(m, EL_TILE_ELEMENTS // max(d, 1)))
    rows = max(1, EL_TILE_ELEMENTS // (cols * max(d, 1)))
    for i in range(0, n, rows):
        for j in range(0, m, cols):
            s = s1[i:i + rows, None, :] + s2[None, j:j + cols, :]
            diff = m1[i:i + rows, None, :] - m2[None, j:j + cols, :]
            out[i:i + rows, j:j + cols] = diff.square_().div_(s).add_(s.log_()).sum(-1)
    return out.mul_(-0.5).sub_(0.5 * d * LOG_2PI)


class ExpectedLikelihood(Similarity):
    """``log ∫ N(x; m1, s1) N(x; m2, s2) dx = log N(m1 - m2; 0, s1 + s2)`` (KG2E's EL score).

    When every entity of each side has the same variance vector (e.g. stage 1 of training, all variances
    fixed at 0.5), ``s1 + s2`` is one vector ``s`` and the score is a matrix product of
    ``[m1, sum m1^2/s, 1]`` and ``-1/2 [-2 m2/s, 1, sum m2^2/s + sum ln s + d ln 2pi]`` (means shifted as in
    :class:`NegSymmetricKL`); otherwise a much slower tiled elementwise kernel is used.
    """

    name = "expected_likelihood"
    needs_variance = True

    def _prepare(self, source: Embeddings, target: Embeddings) -> PreparedPair:
        assert source.var is not None and target.var is not None
        if not (len(source) and len(target) and _rows_constant(source.var) and _rows_constant(target.var)):
            src = torch.cat([source.mean, source.var], 1)
            return PreparedPair(src, torch.cat([target.mean, target.var], 1), _expected_likelihood_kernel)
        s = source.var[0] + target.var[0]
        w = 1.0 / s
        shift = (source.mean.sum(0) + target.mean.sum(0)) / (len(source) + len(target))
        m1, m2 = source.mean - shift, target.mean - shift
        const = torch.log(s).sum() + m1.shape[1] * LOG_2PI
        src = torch.cat([m1, (m1 * m1 * w).sum(1, keepdim=True), m1.new_ones(len(m1), 1)], dim=1)
        e = (m2 * m2 * w).sum(1, keepdim=True) + const
        tgt = torch.cat([-2.0 * m2 * w, m2.new_ones(len(m2), 1), e], 1)
        return PreparedPair(src, tgt.mul_(-0.5))


#: Similarities by name; a new one is a :class:`Similarity` subclass added here (or passed as an instance).
SIMILARITIES: Mapping[str, type[Similarity]] = MappingProxyType(
    {cls.name: cls for cls in (Cosine, NegSymmetricKL, ExpectedLikelihood)}
)


def get_similarity(similarity: str | Similarity) -> Similarity:
    """Resolve a similarity given by name (see :data:`SIMILARITIES`) or pass an instance through."""
    if isinstance(similarity, Similarity):
        return similarity
    try:
        return SIMILARITIES[similarity]()
    except KeyError:
        raise ValueError(f"unknown similarity {similarity!r}; known: {', '.join(SIMILARITIES)}") from None


def resolve_chunk_size(
    chunk_size: int | None, width: int, total: int | None = None, *, max_block_bytes: int = MAX_BLOCK_BYTES
) -> int:
    """Rows per ``(rows, width)`` float32 block: the caller's ``chunk_size``, or one giving ~64 MiB blocks.

    ``total`` is the number of rows to process; a ``chunk_size`` above it means one block of ``total`` rows.
    Raises early (before any work) when the requested block would exceed ``max_block_bytes``, naming the
    option that fixes it, instead of letting a large evaluation die from an out-of-memory error halfway.
    """
    width = max(int(width), 1)
    if chunk_size is None:
        rows = max(1, DEFAULT_BLOCK_BYTES // (SCORE_BYTES * width))
        if rows * width * SCORE_BYTES > max_block_bytes:
            raise ValueError(f"even one row of {width} scores exceeds max_block_bytes={max_block_bytes}; "
                             "raise max_block_bytes")
        return rows
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    rows = chunk_size if total is None else max(min(chunk_size, total), 1)
    need = rows * width * SCORE_BYTES
    if need > max_block_bytes:
        raise ValueError(
            f"chunk_size={chunk_size} needs {need / 2**20:.1f} MiB blocks ({rows} x {width} float32), "
            f"more than max_block_bytes={max_block_bytes} ({max_block_bytes / 2**20:.1f} MiB); pass a "
            "smaller chunk_size (or chunk_size=None for ~64 MiB blocks), or raise max_block_bytes"
        )
    return chunk_size


def row_chunks(
    total: int, width: int, chunk_size: int | None = None, *, max_block_bytes: int = MAX_BLOCK_BYTES
) -> list[slice]:
    """The row slices of ``(rows, width)`` blocks that a pass over ``total`` rows walks.

    Every row-chunked pass takes its blocks from here so that a sharded evaluation, which hands whole chunks to
    its ranks, computes exactly the blocks a single process computes: a BLAS product's rounding depends on the
    block's shape, so chunks cut differently could change scores in the last bit and break a tie differently.
    """
    step = resolve_chunk_size(chunk_size, width, total, max_block_bytes=max_block_bytes)
    return [slice(i, min(i + step, total)) for i in range(0, total, step)]
