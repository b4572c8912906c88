"""The run directory's files (names, readers, writers), the metrics' key layout and the evaluation settings."""

from __future__ import annotations

import ast
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from gaussea.config import EvalConfig, RunConfig
from gaussea.data.registry import default_registry
from gaussea.data.splits import make_split
from gaussea.evaluate import EvalSettings, evaluate_alignment
from gaussea.evaluate.settings import resolve_settings
from gaussea.metrics_layout import by_candidates_key, candidate_result, results_by_mode, split_results
from gaussea.run_files import RunDirectory
from gaussea.rundir import RUN_OUTPUTS

SRC = Path(__file__).resolve().parent.parent / "src" / "gaussea"
REPO = SRC.parent.parent
SYNTH_OPTIONS = {"num_entities": 150}
FILE_NAMES = [v for k, v in vars(RunDirectory).items() if k.isupper() and isinstance(v, str) and "." in v
              and not v.startswith(".")]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) synthetic run: planted corruption, test and all candidates."""
    from gaussea.runner import run

    run_dir = tmp_path_factory.mktemp("files") / "run"
    cfg = RunConfig.from_dict({"data": {"options": SYNTH_OPTIONS}, "model": {"dim": 16},
                               "train": {"stage1_epochs": 1, "stage2_epochs": 2, "progress": False},
                               "model_name": "gaussian"})
    run(cfg, run_dir)
    return run_dir


# --- names -------------------------------------------------------------------------------------------
def _string_constants(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module except docstrings, with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_every_run_file_name_is_spelt_only_by_run_directory() -> None:
    assert {"config.json", "metrics.json", "embeddings.npz", "model.pt", "checkpoint.pt"} <= set(FILE_NAMES)
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "run_files.py":
            continue
        for line, text in _string_constants(path):
            if any(text == name or f"/{name}" in text for name in FILE_NAMES):
                found.append(f"{path.relative_to(SRC)}:{line}: {text!r}")
    assert not found, "run file names spelt outside RunDirectory:\n" + "\n".join(found)


def test_overwrite_moves_every_output_aside() -> None:
    assert RUN_OUTPUTS == RunDirectory.outputs()
    assert set(FILE_NAMES) - {RunDirectory.LOCK} <= set(RUN_OUTPUTS)  # the lock is the claim itself, not an output
    assert {RunDirectory.SPLIT, RunDirectory.REPORT, RunDirectory.TENSORBOARD} <= set(RUN_OUTPUTS)


# --- readers and writers -----------------------------------------------------------------------------
def test_json_files_round_trip(tmp_path: Path) -> None:
    files = RunDirectory(tmp_path)
    assert files.read_config(missing_ok=True) is None and not files.is_finished()
    with pytest.raises(FileNotFoundError, match="metrics.json"):
        files.read_metrics()
    files.write_config({"model_name": "gaussian"})
    files.write_dataset({"sides": [1, 2]}, {"generator": {"seed": 3}})
    files.write_metrics({"test": {"test_candidates": {"hits@1": 0.5}}})
    files.write_decoded({"model": {}})
    assert files.read_config() == {"model_name": "gaussian"}
    assert files.read_dataset() == {"stats": {"sides": [1, 2]}, "meta": {"generator": {"seed": 3}}}
    assert files.read_metrics() == {"test": {"test_candidates": {"hits@1": 0.5}}} and files.is_finished()
    assert files.read_decoded() == {"model": {}}
    assert json.loads((tmp_path / "config.json").read_text()) == {"model_name": "gaussian"}  # the on-disk name


def test_arrays_round_trip(tmp_path: Path) -> None:
    files = RunDirectory(tmp_path)
    names = {"left": ["a", "b"], "right": ["x", "y", "z"]}
    means = {"left": np.ones((2, 3)), "right": np.zeros((3, 3))}
    files.write_embeddings(names, means, {"left": np.full((2, 3), 0.5), "right": None})
    got_names, arrays = files.read_embeddings()
    assert got_names == names and set(arrays) == {"left_mean", "right_mean", "left_var"}
    assert arrays["left_mean"].dtype == np.float32 and np.array_equal(arrays["right_mean"], means["right"])
    variances = {"left": {"common": np.array([0.5, 1.0]), "visual": np.array([np.nan, 2.0])},
                 "right": {"common": np.array([0.7, 0.8, 0.9]), "visual": np.array([1.0, 1.0, np.nan])}}
    files.write_variances(variances)
    read = files.read_variances()
    assert {side: set(v) for side, v in read.items()} == {"left": {"common", "visual"}, "right": {"common", "visual"}}
    np.testing.assert_array_equal(read["left"]["visual"], np.array([np.nan, 2.0], dtype=np.float32))
    ranks = {"test": np.array([1.0, 2.5, 7.0]), "all": np.array([1.0, 3.5, 9.0])}
    files.write_ranks(ranks)
    assert {k: v.tolist() for k, v in files.read_ranks().items()} == {k: v.tolist() for k, v in ranks.items()}
    masks = {"visual": {"left": np.array([True, False]), "right": np.array([False, False, True])}}
    assert files.read_corruption() is None
    files.write_corruption(masks)
    assert {s: {side: m.tolist() for side, m in by.items()} for s, by in files.read_corruption().items()} == \
        {s: {side: m.tolist() for side, m in by.items()} for s, by in masks.items()}


def test_split_train_log_and_weights(tmp_path: Path) -> None:
    files = RunDirectory(tmp_path)
    pair = default_registry().load("synthetic", None, **SYNTH_OPTIONS)
    split = make_split(pair.links, 0.3, seed=0)
    files.write_split(split, pair)
    again = files.read_split(pair)
    assert np.array_equal(again.train, split.train) and np.array_equal(again.test, split.test)
    assert files.read_links("test")[0] == (pair.left.entities.name(split.test[0, 0]),
                                           pair.right.entities.name(split.test[0, 1]))
    assert files.read_train_log() == []
    files.train_log_path.write_text('{"epoch": 1}\n\n{"epoch": 2}\n')
    assert [r["epoch"] for r in files.read_train_log()] == [1, 2]
    assert files.weights_path() is None
    files.checkpoint_path.write_bytes(b"c")
    assert files.weights_path() == files.checkpoint_path
    files.model_path.write_bytes(b"m")
    assert files.weights_path() == files.model_path  # the final weights win over a kept checkpoint


# --- metrics layout ----------------------------------------------------------------------------------
def test_both_metrics_layouts_read_the_same() -> None:
    test, all_ = {"hits@1": 0.5, "mode": "test"}, {"hits@1": 0.3, "mode": "all"}
    old = {"test": {"test": test, "all": all_}}
    new = {"test": by_candidates_key({"test": test, "all": all_})}
    assert set(new["test"]) == {"test_candidates", "all_candidates"}
    assert split_results(old) == split_results(new) == {"test": test, "all": all_}
    assert candidate_result(old, "all") == candidate_result(new, "all") == all_
    assert candidate_result({"test": {}}) == {} and split_results({}) == {}
    decoded = {"test_candidates": test, "sinkhorn_tau": 0.02, "tau_source": "valid"}  # decoded.json's extras
    assert results_by_mode(decoded) == {"test": test}


def test_committed_old_layout_metrics_still_read() -> None:
    path = next((REPO / "bench" / "results" / "tables").rglob("metrics.json"))
    metrics = RunDirectory(path.parent).read_metrics()
    assert set(metrics["test"]) <= {"test", "all"}  # written before the candidate keys
    results = split_results(metrics)
    assert results and all(r["mode"] == mode and 0 <= r["hits@1"] <= 1 for mode, r in results.items())


def test_a_run_writes_the_candidate_keys_ranks_and_masks(tiny_run: Path) -> None:
    files = RunDirectory(tiny_run)
    metrics = files.read_metrics()
    assert set(metrics["test"]) == {"test_candidates", "all_candidates"}
    ranks = files.read_ranks()
    assert set(ranks) == {"test", "all"}
    for mode, r in ranks.items():  # the saved ranks are the ones the metrics summarise
        assert float((r <= 1).mean()) == metrics["test"][f"{mode}_candidates"]["hits@1"]
        assert float(r.mean()) == pytest.approx(metrics["test"][f"{mode}_candidates"]["mr"])
    masks = files.read_corruption()
    assert masks is not None and set(masks) == {"visual", "numerical"}


# --- one statistic, saved masks, saved ranks ---------------------------------------------------------
def test_explain_reads_the_saved_masks_and_agrees_with_the_run(tiny_run: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    import gaussea.runner
    from gaussea.commands.explain import variance_summary

    def no_rebuild(*_: object) -> None:
        raise AssertionError("explain rebuilt the dataset instead of reading corruption.npz")

    monkeypatch.setattr(gaussea.runner, "load_pair", no_rebuild)
    summary = variance_summary(tiny_run)
    recorded = RunDirectory(tiny_run).read_metrics()["variance_by_corruption"]
    assert summary["corruption"] == recorded  # one computation: identical to the last digit, AUC included
    assert "auc" in recorded["visual"] and "ratio_of_means" in recorded["visual"]


def test_report_draws_the_saved_ranks(tiny_run: Path, tmp_path: Path) -> None:
    import shutil

    from gaussea.commands.report import hits_curve, recomputed_ranks

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    files = RunDirectory(copy)
    saved = files.read_ranks()
    recomputed = recomputed_ranks(copy)  # what older runs, without ranks.npz, get
    assert {m: r.tolist() for m, r in recomputed.items()} == {m: r.tolist() for m, r in saved.items()}
    planted = {mode: np.full_like(r, 3.0) for mode, r in saved.items()}  # not what the embeddings give
    files.write_ranks(planted)
    curves = hits_curve(copy)
    assert all(y[1] == 0.0 and y[2] == 1.0 for y in curves.values())  # read, not recomputed
    files.ranks_path.unlink()
    assert all(np.array_equal(hits_curve(copy)[m][:10], [(r <= k).mean() for k in range(1, 11)])
               for m, r in saved.items())


# --- evaluation settings -----------------------------------------------------------------------------
def test_settings_from_config() -> None:
    ev = EvalConfig(similarity="neg_sym_kl", csls_k=None, ks=(1, 3), chunk_size=64, decoder="sinkhorn",
                    sinkhorn_tau=0.05)
    s = EvalSettings.from_config(ev, "all")
    assert asdict(s) == {"mode": "all", "similarity": "neg_sym_kl", "csls_k": None, "ks": (1, 3), "chunk_size": 64,
                         "decoder": "sinkhorn", "sinkhorn_tau": 0.05, "sinkhorn_iterations": 15}
    assert EvalSettings.from_config(EvalConfig()) == EvalSettings()  # the defaults are the configuration's
    assert EvalSettings.from_config(ev, "test", decoder="csls").decoder == "csls"
    # null tau: chosen on the validation links before Sinkhorn scores; any other decoder does not read it
    with pytest.raises(ValueError, match="sinkhorn_tau=null"):
        EvalSettings.from_config(replace(ev, sinkhorn_tau=None))
    assert EvalSettings.from_config(EvalConfig(sinkhorn_tau=None)).sinkhorn_tau == EvalSettings().sinkhorn_tau


@pytest.mark.parametrize(("field", "value", "message"), [
    ("mode", "every", "mode must be one of"), ("csls_k", 0, "csls_k must be >= 1 or None"),
    ("csls_k", -1, "csls_k must be >= 1 or None"), ("ks", (), "ks must be non-empty"),
    ("chunk_size", 0, "chunk_size"), ("decoder", "greedy", "eval.decoder"), ("sinkhorn_tau", 0.0, "sinkhorn_tau"),
    ("sinkhorn_iterations", 0, "sinkhorn_iterations must be an integer >= 1"),
    ("sinkhorn_iterations", 2.5, "sinkhorn_iterations must be an integer >= 1"),
])
def test_settings_refuse_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EvalSettings(**{field: value})


def test_keyword_overrides_go_through_the_settings() -> None:
    import torch

    from gaussea.evaluate import Embeddings

    assert resolve_settings(EvalSettings(mode="all"), {"csls_k": None}) == EvalSettings(mode="all", csls_k=None)
    with pytest.raises(TypeError, match="unexpected evaluation setting"):
        resolve_settings(None, {"csls": 3})
    gen = torch.Generator().manual_seed(0)
    left, right = Embeddings(torch.randn(20, 4, generator=gen)), Embeddings(torch.randn(25, 4, generator=gen))
    pairs = np.stack([np.arange(10), np.arange(10) + 5], axis=1)
    settings = EvalSettings(mode="all", csls_k=3, ks=(1, 2))
    assert evaluate_alignment(left, right, pairs, settings) == evaluate_alignment(left, right, pairs, mode="all",
                                                                                   csls_k=3, ks=(1, 2))


def test_evaluate_run_keeps_the_run_csls_k_for_the_old_sentinel(tiny_run: Path) -> None:
    from gaussea.runner import evaluate_run

    kept = evaluate_run(tiny_run, modes=("test",))
    assert evaluate_run(tiny_run, csls_k=-1, modes=("test",)) == kept  # the old "keep the run's value"
    assert kept["test_candidates"]["csls_k"] == 10
    assert evaluate_run(tiny_run, csls_k=None, modes=("test",))["test_candidates"]["csls_k"] is None
