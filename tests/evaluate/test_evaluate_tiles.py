"""The fast paths of the evaluator against plain torch: pruned top-k, sign-based rank counts, tiles on threads.

The brute-force float64 reference of the whole pipeline is in test_evaluate.py; these tests pin the pieces
that exist only for speed, on inputs built to hit their edge cases (ties, NaN, infinities, tiny golds, fewer
sources than k, many tiles on several threads).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import gaussea.evaluate.csls as csls
from gaussea.evaluate import Embeddings, alignment_ranks, get_similarity, realistic_ranks
from gaussea.evaluate.csls import _group_length, row_topk, target_topk
from gaussea.evaluate.ranking import realistic_ranks_
from gaussea.evaluate.similarity import _openblas_thread_api, matmul_nt, openblas_threads


def _twice_by_comparison(scores: torch.Tensor, gold: torch.Tensor, counts: torch.Tensor | None) -> torch.Tensor:
    w = torch.ones(scores.shape[1], dtype=torch.float64) if counts is None else counts.double()
    return ((scores > gold).double() @ w) + ((scores >= gold).double() @ w)


@pytest.mark.parametrize("width,k,group", [(1000, 3, 10), (1000, 10, 20), (640, 1, 64), (6000, 10, None),
                                           (10_277, 10, None)])
def test_pruned_topk_equals_topk(width, k, group):
    g = torch.Generator().manual_seed(width + k)
    block = torch.randint(0, 50, (37, width), generator=g).float()  # many exact ties
    block[0, :] = float("-inf")
    block[1, 5] = float("inf")
    block[2, :7] = float("nan")
    group = group or _group_length(width, k)
    assert group is not None
    padded = torch.full((37, -(-width // group) * group), float("-inf"))  # as target_topk pads its buffer
    padded[:, :width] = block
    got = row_topk(padded, k, group)
    want = block.topk(k, dim=1).values
    assert torch.equal(got.nan_to_num(nan=123.0), want.nan_to_num(nan=123.0))


def test_group_length_only_prunes_long_rows():
    assert _group_length(1632, 10) is None
    assert _group_length(10_277, 10) == 161
    assert _group_length(100_000, 10) is not None
    assert _group_length(100_000, 100) is None  # fewer groups than k


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_counts", [False, True])
def test_sign_counts_equal_comparisons(dtype, with_counts):
    g = torch.Generator().manual_seed(3)
    scores = torch.randint(-5, 5, (64, 300), generator=g).to(dtype) / 4  # exact ties everywhere
    gold_cols = torch.randint(0, 300, (64,), generator=g)
    scores[0, 1] = float("nan") if gold_cols[0] != 1 else 0.0
    scores[1, :] = float("inf")  # gold inf: inf - inf is NaN, but they tie
    scores[2, :] = float("-inf")
    scores[3, :10] = float("inf")
    scores[4] *= 1e-40  # tiny values, subnormal differences
    scores[5, gold_cols[5]] = 0.0  # zero gold
    scores[6, :] = float("nan")
    scores[6, gold_cols[6]] = 1.0
    counts = torch.randint(1, 4, (300,), generator=g) if with_counts else None
    gold = scores.gather(1, gold_cols.unsqueeze(1))
    want = (1.0 + _twice_by_comparison(scores, gold, counts)) / 2
    got = realistic_ranks(scores, gold_cols, counts)
    assert torch.equal(got, want)
    copy = scores.clone()
    assert torch.equal(realistic_ranks_(copy, gold_cols, counts), want)


def test_nan_gold_is_refused():
    scores = torch.zeros(2, 3)
    scores[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        realistic_ranks(scores, torch.tensor([0, 2]))


def test_matmul_nt_matches_torch_and_writes_strided_views():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 40, generator=g), torch.randn(200, 40, generator=g)
    torch.testing.assert_close(matmul_nt(a, b), a @ b.T, rtol=1e-5, atol=1e-5)
    wide = torch.full((300, 260), -1.0)
    matmul_nt(a, b, out=wide[:, 30:230])
    torch.testing.assert_close(wide[:, 30:230], a @ b.T, rtol=1e-5, atol=1e-5)
    assert (wide[:, :30] == -1).all() and (wide[:, 230:] == -1).all()
    assert matmul_nt(a.double(), b.double()).dtype == torch.float64  # torch.mm fallback


def test_openblas_threads_restores_the_count():
    api = _openblas_thread_api()
    if api is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS found by the evaluator")
    before = api[0]()
    with openblas_threads(1):
        assert api[0]() == 1
    assert api[0]() == before


@pytest.mark.parametrize("k", [1, 10, 50])
def test_target_topk_matches_brute_force(k):
    g = torch.Generator().manual_seed(k)
    src, tgt = torch.randn(40, 8, generator=g), torch.randn(30, 8, generator=g)
    prepared = get_similarity("cosine").prepare(Embeddings(src), Embeddings(tgt))
    chunks = [slice(0, 7), slice(7, 7), slice(7, 25), slice(25, 40)]
    got = target_topk(prepared, k, chunks)
    sim = prepared.source @ prepared.target.T
    kk = min(k, 40)
    torch.testing.assert_close(got[:kk], sim.topk(kk, dim=0).values, rtol=1e-5, atol=1e-6)
    assert (got[kk:] == float("-inf")).all() and got.shape == (k, 30)
    assert (target_topk(prepared, 3, []) == float("-inf")).all()


@pytest.mark.parametrize("similarity", ["cosine", "neg_sym_kl", "expected_likelihood"])
@pytest.mark.parametrize("mode", ["test", "all"])
def test_tiles_on_threads_give_the_same_ranks(similarity, mode, monkeypatch):
    """Many small tiles (forced) run on 2 Python threads: bit-identical ranks to one thread."""
    g = np.random.default_rng(5)
    n, m, d, q = 900, 1100, 16, 700
    m1, m2 = g.normal(size=(n, d)), g.normal(size=(m, d))
    m2[:q] = m1[:q] + 0.8 * g.normal(size=(q, d))
    m2[q + 1] = m2[3]  # a duplicate target: exact ties
    s1, s2 = g.uniform(0.5, 2, size=(n, d)), g.uniform(0.5, 2, size=(m, d))
    left = Embeddings(torch.tensor(m1, dtype=torch.float32), torch.tensor(s1, dtype=torch.float32))
    right = Embeddings(torch.tensor(m2, dtype=torch.float32), torch.tensor(s2, dtype=torch.float32))
    pairs = np.stack([np.arange(q), np.arange(q)], 1)
    monkeypatch.setattr(csls, "TILE_BYTES", 40_000)  # ~10 rows per tile: dozens of tiles per pass
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for chunk in (None, 97):
                ranks, _ = alignment_ranks(left, right, pairs, mode=mode, similarity=similarity, chunk_size=chunk)
                results.append(ranks)
                assert torch.get_num_threads() == threads  # restored after the tiles
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(results[0], r) for r in results[1:])
