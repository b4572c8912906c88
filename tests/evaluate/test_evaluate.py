"""The chunked evaluation against a brute-force float64 reference (full matrix, explicit loops and sorting).

The reference shares no code with ``gaussea.evaluate``: similarities are written elementwise over a
``(n, m, d)`` broadcast, CSLS radii by sorting, ranks by counting in Python loops.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gaussea.evaluate import (
    DEFAULT_BLOCK_BYTES,
    SIMILARITIES,
    Embeddings,
    alignment_ranks,
    evaluate_alignment,
    full_score_matrix,
    get_similarity,
    rank_metrics,
    resolve_chunk_size,
    top_k,
)

SIM_NAMES = ("cosine", "neg_sym_kl", "expected_likelihood")


pytestmark = pytest.mark.usefixtures("single_thread")


# ----------------------------------------------------------------------------------------------- reference


def ref_similarity(name: str, m1, s1, m2, s2) -> np.ndarray:
    """Full (n, m) similarity matrix in float64, elementwise over an (n, m, d) broadcast."""
    m1, m2 = np.asarray(m1, np.float64), np.asarray(m2, np.float64)
    if name == "cosine":
        a = m1 / np.maximum(np.linalg.norm(m1, axis=1, keepdims=True), 1e-12)
        b = m2 / np.maximum(np.linalg.norm(m2, axis=1, keepdims=True), 1e-12)
        return (a[:, None, :] * b[None, :, :]).sum(-1)
    s1, s2 = np.asarray(s1, np.float64)[:, None, :], np.asarray(s2, np.float64)[None, :, :]
    a, b = m1[:, None, :], m2[None, :, :]
    if name == "neg_sym_kl":
        kl12 = 0.5 * (s1 / s2 + (b - a) ** 2 / s2 - 1 + np.log(s2) - np.log(s1)).sum(-1)
        kl21 = 0.5 * (s2 / s1 + (a - b) ** 2 / s1 - 1 + np.log(s1) - np.log(s2)).sum(-1)
        return -(kl12 + kl21)
    if name == "expected_likelihood":
        s = s1 + s2
        return -0.5 * ((a - b) ** 2 / s + np.log(s) + math.log(2 * math.pi)).sum(-1)
    raise AssertionError(name)


def ref_csls(sim: np.ndarray, k: int | None) -> np.ndarray:
    if k is None:
        return sim
    n, m = sim.shape
    r_t = np.array([np.sort(sim[i])[::-1][: min(k, m)].mean() for i in range(n)])
    r_s = np.array([np.sort(sim[:, j])[::-1][: min(k, n)].mean() for j in range(m)])
    return 2 * sim - r_t[:, None] - r_s[None, :]


def ref_rank(row: np.ndarray, gold: int) -> float:
    """Realistic rank: mean of the optimistic and pessimistic rank, by explicit counting."""
    better = sum(1 for v in row if v > row[gold])
    at_least = sum(1 for v in row if v >= row[gold])
    return (1 + better + at_least) / 2


def ref_evaluate(src, tgt, pairs, *, name, mode, csls_k, exclude_s=(), exclude_t=(), ks=(1, 5, 10)):
    m1, s1 = src
    m2, s2 = tgt
    if mode == "test":
        sp, tp = sorted(set(pairs[:, 0].tolist())), sorted(set(pairs[:, 1].tolist()))
    else:
        sp = [i for i in range(len(m1)) if i not in set(exclude_s)]
        tp = [j for j in range(len(m2)) if j not in set(exclude_t)]
    sim = ref_similarity(name, m1[sp], None if s1 is None else s1[sp], m2[tp], None if s2 is None else s2[tp])
    scores = ref_csls(sim, csls_k)
    ranks = np.array([ref_rank(scores[sp.index(s)], tp.index(t)) for s, t in pairs])
    out = {f"hits@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["mr"], out["mrr"] = float(ranks.mean()), float(np.mean(1 / ranks))
    return ranks, out, len(tp)


# ------------------------------------------------------------------------------------------------- data


def make_data(seed: int, n: int = 45, m: int = 52, d: int = 6, q: int = 30, dups: bool = True):
    """Random Gaussians with test links; with ``dups`` some entities are exact copies (exact ties)."""
    g = np.random.default_rng(seed)
    m1, m2 = g.normal(size=(n, d)), g.normal(size=(m, d))
    s1, s2 = g.uniform(0.5, 2.0, size=(n, d)), g.uniform(0.5, 2.0, size=(m, d))
    src_ids = g.permutation(n)[:q]
    tgt_ids = g.permutation(m)[:q]
    pairs = np.stack([src_ids, tgt_ids], 1)
    m2[tgt_ids] = m1[src_ids] + 0.6 * g.normal(size=(q, d))  # gold targets near their sources
    if dups:
        # A gold target duplicated by another test target and two non-test targets (tie groups of 2 in
        # "test" mode, 4 in "all" mode: half-integer realistic ranks), and duplicated sources.
        others = np.setdiff1d(np.arange(m), tgt_ids)
        for dst in (tgt_ids[1], others[0], others[1]):
            m2[dst], s2[dst] = m2[tgt_ids[0]], s2[tgt_ids[0]]
        non_test_src = np.setdiff1d(np.arange(n), src_ids)
        m1[non_test_src[0]], s1[non_test_src[0]] = m1[src_ids[3]], s1[src_ids[3]]
        m1[src_ids[4]], s1[src_ids[4]] = m1[src_ids[3]], s1[src_ids[3]]
    return (m1, s1), (m2, s2), pairs


def emb(side) -> Embeddings:
    m, s = side
    return Embeddings(torch.tensor(m, dtype=torch.float32), torch.tensor(s, dtype=torch.float32))


def as_f32(side):
    """The float32-rounded data, so the reference sees exactly the inputs the code sees."""
    m, s = side
    return m.astype(np.float32).astype(np.float64), s.astype(np.float32).astype(np.float64)


# -------------------------------------------------------------------------------------------- against ref


@pytest.mark.parametrize("name", SIM_NAMES)
def test_similarity_blocks_match_reference(name):
    src, tgt, _ = make_data(0)
    got = get_similarity(name).pairwise(emb(src), emb(tgt)).double().numpy()
    want = ref_similarity(name, *as_f32(src), *as_f32(tgt))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("name", SIM_NAMES)
@pytest.mark.parametrize("mode", ["test", "all"])
@pytest.mark.parametrize("csls_k", [None, 1, 3, 10, 1000])
def test_ranks_and_metrics_match_reference(name, mode, csls_k):
    src, tgt, pairs = make_data(1)
    ref_ranks, ref_metrics, n_cand = ref_evaluate(as_f32(src), as_f32(tgt), pairs, name=name, mode=mode,
                                                  csls_k=csls_k)
    assert np.any(ref_ranks != np.round(ref_ranks)), "the data must contain exact ties"
    for chunk in (1, 7, 1000, None):
        ranks, info = alignment_ranks(emb(src), emb(tgt), pairs, mode=mode, similarity=name, csls_k=csls_k,
                                      chunk_size=chunk)
        np.testing.assert_array_equal(ranks.numpy(), ref_ranks, err_msg=f"chunk={chunk}")
        assert info["num_candidates"] == n_cand
    res = evaluate_alignment(emb(src), emb(tgt), pairs, mode=mode, similarity=name, csls_k=csls_k,
                             chunk_size=7)
    for key, value in ref_metrics.items():
        assert res[key] == pytest.approx(value, abs=1e-5), key
    assert (res["mode"], res["similarity"], res["csls_k"]) == (mode, name, csls_k)
    assert res["num_queries"] == len(pairs)


@pytest.mark.parametrize("name", SIM_NAMES)
def test_exclusion_in_all_mode_matches_reference(name):
    src, tgt, pairs = make_data(2)
    train_s, train_t = [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5, 6]
    train_s = [i for i in train_s if i not in pairs[:, 0]]
    train_t = [j for j in train_t if j not in pairs[:, 1]]
    ref_ranks, ref_metrics, n_cand = ref_evaluate(as_f32(src), as_f32(tgt), pairs, name=name, mode="all",
                                                  csls_k=3, exclude_s=train_s, exclude_t=train_t)
    res = evaluate_alignment(emb(src), emb(tgt), pairs, mode="all", similarity=name, csls_k=3, chunk_size=5,
                             exclude_sources=np.array(train_s), exclude_targets=torch.tensor(train_t))
    assert res["num_candidates"] == n_cand == len(tgt[0]) - len(train_t)
    for key, value in ref_metrics.items():
        assert res[key] == pytest.approx(value, abs=1e-5), key


def test_right_to_left_is_left_to_right_with_sides_swapped():
    src, tgt, pairs = make_data(3)
    a = evaluate_alignment(emb(src), emb(tgt), pairs, mode="all", direction="right_to_left")
    assert a["direction"] == "right_to_left"
    b = evaluate_alignment(emb(tgt), emb(src), pairs[:, ::-1], mode="all", exclude_targets=[])
    a.pop("direction")
    assert a == {k: v for k, v in b.items() if k != "direction"}


@pytest.mark.parametrize("name", SIM_NAMES)
@pytest.mark.parametrize("csls_k", [None, 4])
def test_top_k_matches_reference(name, csls_k):
    src, tgt, _ = make_data(4, dups=False)
    cand = np.arange(3, 50)
    pool = np.arange(0, 40)
    queries = np.array([5, 0, 44, 17, 5])
    m1, s1 = as_f32(src)
    m2, s2 = as_f32(tgt)
    # Reference: r_S among the source pool, r_T among the candidates, scores for the queries.
    full = ref_similarity(name, m1, s1, m2[cand], s2[cand])
    if csls_k is None:
        want_scores = full[queries]
    else:
        r_s = np.array([np.sort(full[pool, j])[::-1][:csls_k].mean() for j in range(len(cand))])
        r_t = np.array([np.sort(full[i])[::-1][:csls_k].mean() for i in queries])
        want_scores = 2 * full[queries] - r_t[:, None] - r_s[None, :]
    for chunk in (1, 2, None):
        scores, ids = top_k(emb(src), emb(tgt), queries, 6, similarity=name, csls_k=csls_k, candidates=cand,
                            source_pool=pool, chunk_size=chunk)
        order = np.argsort(-want_scores, axis=1, kind="stable")[:, :6]
        np.testing.assert_array_equal(ids.numpy(), cand[order])
        np.testing.assert_allclose(scores.double().numpy(), np.take_along_axis(want_scores, order, 1),
                                   rtol=1e-5, atol=1e-4)


def test_top_k_clips_k_and_agrees_with_full_matrix():
    src, tgt, _ = make_data(5, dups=False)
    scores, ids = top_k(emb(src), emb(tgt), np.arange(10), 1000, candidates=np.arange(8))
    assert scores.shape == ids.shape == (10, 8)
    full = full_score_matrix(emb(src), emb(tgt))
    s1, i1 = top_k(emb(src), emb(tgt), np.arange(len(src[0])), 1, chunk_size=3)
    torch.testing.assert_close(s1[:, 0], full.max(1).values)
    assert torch.equal(i1[:, 0], full.argmax(1))


def test_consistent_with_gaussian_module():
    """The blockwise formulas must agree with the library's reference Gaussian maths (same orientation)."""
    gaussian = pytest.importorskip("gaussea.gaussian")
    if not all(hasattr(gaussian, f) for f in ("symmetric_kl", "log_expected_likelihood")):
        pytest.skip("gaussea.gaussian lacks symmetric_kl / log_expected_likelihood")
    src, tgt, _ = make_data(9, dups=False)
    a, b = emb(src), emb(tgt)
    pair = (a.mean[:, None], a.var[:, None], b.mean[None], b.var[None])
    torch.testing.assert_close(get_similarity("neg_sym_kl").pairwise(a, b), -gaussian.symmetric_kl(*pair),
                               rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(get_similarity("expected_likelihood").pairwise(a, b),
                               gaussian.log_expected_likelihood(*pair), rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------------------------------ special cases


def test_zero_vector_source_ties_with_every_candidate():
    src, tgt, pairs = make_data(6, dups=False)
    m1 = src[0].copy()
    m1[pairs[0, 0]] = 0.0
    ranks, info = alignment_ranks(Embeddings(torch.tensor(m1)), Embeddings(torch.tensor(tgt[0])), pairs,
                                  csls_k=None)
    assert ranks[0] == (1 + info["num_candidates"]) / 2


def test_perfect_alignment_and_all_ties_metrics():
    x = torch.randn(20, 8)
    res = evaluate_alignment(Embeddings(x), Embeddings(x.clone()), np.stack([np.arange(20)] * 2, 1))
    assert res["hits@1"] == res["mrr"] == res["mr"] == 1.0
    same = Embeddings(torch.ones(20, 8))
    res = evaluate_alignment(same, same, np.stack([np.arange(20)] * 2, 1), csls_k=None, ks=(1, 10, 11))
    assert res["mr"] == 10.5 and res["hits@1"] == 0.0 and res["hits@10"] == 0.0 and res["hits@11"] == 1.0


def test_rank_metrics():
    m = rank_metrics(torch.tensor([1.0, 2.0, 1.5, 20.0]), ks=(1, 2))
    assert m == pytest.approx({"hits@1": 0.25, "hits@2": 0.75, "mr": 6.125,
                               "mrr": (1 + 0.5 + 1 / 1.5 + 0.05) / 4})


@pytest.mark.parametrize("seed", [0, 1])
def test_expected_likelihood_fast_path_equals_tiled_kernel(seed, monkeypatch):
    """Row-constant variances take the matrix-product path; it must agree with the tiled elementwise kernel,
    whatever the tile size (one tile, one element column per tile, ragged tiles)."""
    import gaussea.evaluate.similarity as similarity

    g = torch.Generator().manual_seed(seed)
    m1, m2 = torch.randn(30, 5, generator=g), torch.randn(40, 5, generator=g)
    v1, v2 = torch.rand(5, generator=g) + 0.5, torch.rand(5, generator=g) + 0.5
    src, tgt = Embeddings(m1, v1.expand(30, 5).clone()), Embeddings(m2, v2.expand(40, 5).clone())
    el = get_similarity("expected_likelihood")
    fast = el.prepare(src, tgt)
    assert fast.separable
    want = ref_similarity("expected_likelihood", m1.numpy(), src.var.numpy(), m2.numpy(), tgt.var.numpy())
    np.testing.assert_allclose(fast.block().double().numpy(), want, rtol=1e-5, atol=1e-4)
    slow_src = Embeddings(m1, src.var.clone())
    slow_src.var[0, 0] += 1e-3  # breaks row-constancy -> tiled kernel
    for tile in (similarity.EL_TILE_ELEMENTS, 1, 7, 5 * 40 * 3 + 1):
        monkeypatch.setattr(similarity, "EL_TILE_ELEMENTS", tile)
        slow = el.prepare(slow_src, tgt)
        assert not slow.separable
        torch.testing.assert_close(fast.block()[1:], slow.block()[1:], rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------------------------------ memory guard


def test_default_chunk_is_about_64_mib():
    rows = resolve_chunk_size(None, 10_277)
    assert abs(rows * 10_277 * 4 - DEFAULT_BLOCK_BYTES) <= 10_277 * 4
    assert resolve_chunk_size(None, 10**9, max_block_bytes=2**33) == 1


def test_oversized_blocks_are_refused_early():
    src, tgt, pairs = make_data(7)
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate_alignment(emb(src), emb(tgt), pairs, chunk_size=10, max_block_bytes=100)
    with pytest.raises(ValueError, match="chunk_size"):
        top_k(emb(src), emb(tgt), [0, 1], 3, chunk_size=10, max_block_bytes=100)
    with pytest.raises(ValueError, match="chunk_size"):
        full_score_matrix(emb(src), emb(tgt), max_block_bytes=1000)
    # A chunk larger than the number of rows only needs a block of the actual rows.
    assert resolve_chunk_size(10**6, 10, 5, max_block_bytes=400) == 10**6
    assert full_score_matrix(emb(src), emb(tgt)).shape == (len(src[0]), len(tgt[0]))


def test_input_validation():
    src, tgt, pairs = make_data(8)
    points_s, points_t = Embeddings(torch.tensor(src[0])), Embeddings(torch.tensor(tgt[0]))
    with pytest.raises(ValueError, match="needs variances"):
        evaluate_alignment(points_s, points_t, pairs, similarity="neg_sym_kl")
    with pytest.raises(ValueError, match="unknown similarity"):
        evaluate_alignment(emb(src), emb(tgt), pairs, similarity="euclid")
    with pytest.raises(ValueError, match="mode"):
        evaluate_alignment(emb(src), emb(tgt), pairs, mode="train")
    with pytest.raises(ValueError, match="only applies to mode='all'"):
        evaluate_alignment(emb(src), emb(tgt), pairs, exclude_targets=[0])
    with pytest.raises(ValueError, match="contains test"):
        evaluate_alignment(emb(src), emb(tgt), pairs, mode="all", exclude_targets=pairs[:2, 1])
    with pytest.raises(ValueError, match="outside"):
        evaluate_alignment(emb(src), emb(tgt), np.array([[0, 10**6]]))
    with pytest.raises(ValueError, match="shape"):
        evaluate_alignment(emb(src), emb(tgt), pairs[:, 0])
    bad = Embeddings(torch.tensor(src[0]), torch.tensor(src[1]) * 0)
    with pytest.raises(ValueError, match="> 0"):
        evaluate_alignment(bad, emb(tgt), pairs, similarity="expected_likelihood")
    nan = Embeddings(torch.full((3, 6), float("nan")))
    with pytest.raises(ValueError, match="NaN"):
        evaluate_alignment(nan, points_t, [[0, 0]])
    with pytest.raises(ValueError):
        Embeddings(torch.zeros(3, 2), torch.ones(3, 3))


def test_registry():
    assert set(SIMILARITIES) == set(SIM_NAMES)
    for name in SIM_NAMES:
        assert get_similarity(name).name == name
