"""Joint decoders (Sinkhorn, Hungarian) against brute-force float64 references, and their configuration."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.config import SINKHORN_TAU_GRID, DataConfig, EvalConfig, RunConfig, TrainConfig
from gaussea.errors import MissingDependencyError
from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.evaluate.decoders import sinkhorn_potentials
from gaussea.evaluate.ranking import alignment_ranks
from gaussea.runner import run


def reference_sinkhorn_log(scores: np.ndarray, tau: float, iterations: int) -> np.ndarray:
    """DESIGN.md §5 literally, in float64: K = exp((S - max S) / tau), then (rows; columns) normalisation."""
    k = np.exp((scores - scores.max()) / tau)
    for _ in range(iterations):
        k = k / k.sum(1, keepdims=True)
        k = k / k.sum(0, keepdims=True)
    return np.log(k)


def reference_realistic_ranks(scores: np.ndarray, gold: np.ndarray) -> np.ndarray:
    g = scores[np.arange(len(gold)), gold][:, None]
    return ((scores > g).sum(1) + (scores >= g).sum(1) + 1) / 2.0


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@settings(max_examples=25, deadline=None)
@given(q=st.integers(1, 7), extra=st.integers(0, 5), seed=st.integers(0, 2**16), tau=st.sampled_from([0.02, 0.1, 0.5]),
       iterations=st.integers(1, 20))
def test_sinkhorn_potentials_match_the_float64_reference(q: int, extra: int, seed: int, tau: float,
                                                         iterations: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(-1, 1, size=(q, q + extra))
    _, v = sinkhorn_potentials(torch.tensor(scores, dtype=torch.float32), tau, iterations)
    ours = scores / tau + v.double().numpy()
    ref = reference_sinkhorn_log(scores, tau, iterations)
    # Equal up to a constant per row (the row scale, which does not change a row's order).
    np.testing.assert_allclose(ours - ours[:, :1], ref - ref[:, :1], atol=1e-3)


def test_sinkhorn_with_counts_equals_expanded_columns() -> None:
    """A column standing for c identical columns behaves as those c columns would."""
    rng = np.random.default_rng(0)
    scores = rng.uniform(-1, 1, size=(4, 3))
    counts = np.array([1, 3, 2])
    _, v = sinkhorn_potentials(torch.tensor(scores, dtype=torch.float32), 0.1, 10, torch.tensor(counts))
    expanded = np.repeat(scores, counts, axis=1)
    ref = reference_sinkhorn_log(expanded, 0.1, 10)[:, np.cumsum(counts) - counts]
    ours = scores / 0.1 + v.double().numpy()
    np.testing.assert_allclose(ours - ours[:, :1], ref - ref[:, :1], atol=1e-3)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 12), extra=st.integers(0, 6), seed=st.integers(0, 2**16), mode=st.sampled_from(["test", "all"]))
def test_sinkhorn_ranks_match_the_reference(n: int, extra: int, seed: int, mode: str) -> None:
    """Through evaluate_alignment: the gold ranks of the reference's Sinkhorn matrix, realistic on ties."""
    rng = np.random.default_rng(seed)
    left = unit_rows(rng.normal(size=(n, 8)))
    right = unit_rows(rng.normal(size=(n + extra, 8)))
    pairs = np.stack([np.arange(n), rng.permutation(n + extra)[:n]], 1)
    tau, iterations = 0.1, 10
    ranks, info = alignment_ranks(Embeddings(torch.tensor(left, dtype=torch.float32)),
                                  Embeddings(torch.tensor(right, dtype=torch.float32)), pairs, mode=mode,
                                  decoder="sinkhorn", sinkhorn_tau=tau, sinkhorn_iterations=iterations)
    cols = np.sort(pairs[:, 1]) if mode == "test" else np.arange(n + extra)
    ref = reference_sinkhorn_log(left @ right[cols].T, tau, iterations)
    gold = np.searchsorted(cols, pairs[:, 1])
    close = np.sort(ref, axis=1)
    if (np.diff(close, axis=1) < 1e-3).any():  # a near tie: float32 may order it either way
        return
    np.testing.assert_array_equal(ranks.numpy(), reference_realistic_ranks(ref, gold))
    assert info["decoder"] == "sinkhorn" and info["csls_k"] is None and info["transductive"] is True
    assert info["sinkhorn_tau"] == tau and info["sinkhorn_iterations"] == iterations


def test_sinkhorn_frees_a_target_that_two_sources_prefer() -> None:
    """Both sources are closest to target 0 by cosine; Sinkhorn's column scaling leaves it to the source that
    needs it most and sends the other to target 1, as a one-to-one alignment should."""
    def at(degrees: list[float]) -> torch.Tensor:
        rad = torch.tensor(degrees) * torch.pi / 180
        return torch.stack([rad.cos(), rad.sin()], 1)

    left, right = at([0.0, 40.0]), at([10.0, 75.0])
    pairs = np.array([[0, 0], [1, 1]])
    plain = evaluate_alignment(Embeddings(left), Embeddings(right), pairs, csls_k=None)
    sinkhorn = evaluate_alignment(Embeddings(left), Embeddings(right), pairs, decoder="sinkhorn", sinkhorn_tau=0.05)
    assert plain["hits@1"] == 0.5
    assert sinkhorn["hits@1"] == 1.0


def test_sinkhorn_ties_between_identical_candidates_are_realistic() -> None:
    """Two identical targets: each tied gold gets rank 1.5, as in the CSLS path."""
    left = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    right = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    pairs = np.array([[0, 0], [2, 1], [1, 2]])
    ranks, _ = alignment_ranks(Embeddings(left), Embeddings(right), pairs, decoder="sinkhorn", sinkhorn_tau=0.1)
    assert ranks[0] == ranks[1] == 1.5 and ranks[2] == 1.0


def brute_force_assignment(scores: np.ndarray) -> np.ndarray:
    """The column of each row under the injective row -> column map with the largest total score."""
    q, m = scores.shape
    best, best_total = None, -np.inf
    for cols in itertools.permutations(range(m), q):
        total = scores[np.arange(q), cols].sum()
        if total > best_total:
            best, best_total = np.array(cols), total
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("mode", ["test", "all"])
def test_hungarian_matches_brute_force(seed: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    n, m = 5, 7
    left = unit_rows(rng.normal(size=(n, 3)))
    right = unit_rows(rng.normal(size=(m, 3)))
    pairs = np.stack([np.arange(n), rng.permutation(m)[:n]], 1)
    out = evaluate_alignment(Embeddings(torch.tensor(left, dtype=torch.float32)),
                             Embeddings(torch.tensor(right, dtype=torch.float32)), pairs, mode=mode,
                             decoder="hungarian")
    cols = np.sort(pairs[:, 1]) if mode == "test" else np.arange(m)
    assigned = cols[brute_force_assignment(left @ right[cols].T)]
    assert out["hits@1"] == pytest.approx(float(np.mean(assigned == pairs[:, 1])))
    assert out["hits@5"] is None and out["hits@10"] is None and out["mr"] is None and out["mrr"] is None
    assert out["decoder"] == "hungarian" and out["transductive"] is True and out["mode"] == mode


def test_hungarian_counts_identical_candidates_as_a_fair_draw() -> None:
    """A source matched to one of two identical candidates, one of them its gold, scores 1/2."""
    left = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    right = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    out = evaluate_alignment(Embeddings(left), Embeddings(right), np.array([[0, 1], [1, 2]]), mode="all",
                             decoder="hungarian")
    assert out["hits@1"] == pytest.approx((0.5 + 1.0) / 2)


def test_hungarian_without_scipy_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    emb = Embeddings(torch.eye(2))
    with pytest.raises(MissingDependencyError, match=r"gaussea\[scipy\]"):
        evaluate_alignment(emb, emb, np.array([[0, 0], [1, 1]]), decoder="hungarian")


def test_joint_decoders_refuse_a_matrix_over_the_memory_limit() -> None:
    emb = Embeddings(torch.eye(4))
    with pytest.raises(ValueError, match="decoder 'sinkhorn' holds the 4 x 4 similarity matrix"):
        evaluate_alignment(emb, emb, np.array([[i, i] for i in range(4)]), decoder="sinkhorn", max_block_bytes=32)


def test_default_decoder_is_csls_and_unchanged() -> None:
    """The default labels itself csls and gives exactly the ranks of CSLS (no Sinkhorn field, no transduction)."""
    rng = np.random.default_rng(3)
    left, right = (Embeddings(torch.tensor(rng.normal(size=(30, 6)), dtype=torch.float32)) for _ in range(2))
    pairs = np.stack([np.arange(30), rng.permutation(30)], 1)
    default = evaluate_alignment(left, right, pairs)
    assert EvalConfig().decoder == "csls" and default["decoder"] == "csls" and default["csls_k"] == 10
    assert "transductive" not in default and "sinkhorn_tau" not in default
    ranks, _ = alignment_ranks(left, right, pairs, decoder="csls")
    assert default["mrr"] == float((1.0 / ranks).mean())


@pytest.mark.parametrize(("field", "value", "message"), [
    ("decoder", "greedy", 'eval.decoder="greedy": must be one of "csls", "sinkhorn", "hungarian"'),
    ("sinkhorn_tau", 0.0, "eval.sinkhorn_tau=0.0: must be a number > 0"),
    ("sinkhorn_tau", float("nan"), "eval.sinkhorn_tau=NaN: must be a number > 0"),
])
def test_decoder_settings_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RunConfig.from_dict({"eval": {field: value}})


def test_a_null_temperature_is_chosen_on_the_validation_links(tmp_path: Path) -> None:
    cfg = RunConfig(model_name="propagation", data=DataConfig(options={"num_entities": 150}, valid_ratio=0.2),
                    train=TrainConfig(progress=False, threads=1),
                    eval=EvalConfig(decoder="sinkhorn", sinkhorn_tau=None, modes=("test",)))
    result = run(cfg, tmp_path / "run")
    choice = result.metrics["sinkhorn_tau_chosen_on_valid"]
    left, right = result.model.entity_embeddings()
    valid = {tau: evaluate_alignment(left, right, result.split.valid, decoder="sinkhorn", sinkhorn_tau=tau)["hits@1"]
             for tau in SINKHORN_TAU_GRID}
    assert choice["valid_hits@1"] == {str(tau): h1 for tau, h1 in valid.items()}
    assert valid[choice["chosen"]] == max(valid.values())
    assert result.metrics["test"]["test_candidates"]["sinkhorn_tau"] == choice["chosen"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["eval"]["sinkhorn_tau"] is None


def test_a_null_temperature_without_validation_links_is_refused_before_training(tmp_path: Path) -> None:
    cfg = RunConfig(model_name="propagation", data=DataConfig(options={"num_entities": 150}),
                    train=TrainConfig(progress=False), eval=EvalConfig(decoder="sinkhorn", sinkhorn_tau=None))
    with pytest.raises(ValueError, match="sinkhorn_tau=null chooses Sinkhorn's temperature on the validation links"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
