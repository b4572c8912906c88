"""End to end: `gaussea run` trains, evaluates and writes a complete run directory.

On small easy synthetic data the model must beat random ranking by a wide margin; on the real data (when
../shared/data exists) one short epoch must produce finite, labelled metrics.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gaussea.cli import main
from gaussea.config import RunConfig
from gaussea.runner import evaluate_run, run

EASY = {"num_entities": 300, "triple_keep": 1.0, "entity_coverage": 1.0, "relation_merge": 0.0,
        "relation_split": 0.0}


STAGE1_EPOCHS, STAGE2_EPOCHS = 30, 4


def small_config(**train: object) -> RunConfig:
    cfg = RunConfig(model_name="gaussian")  # the paper model: its run directory holds variances and two stages
    cfg.data.options = dict(EASY)
    cfg.model.dim = 32
    cfg.train.stage1_epochs, cfg.train.stage2_epochs = STAGE1_EPOCHS, STAGE2_EPOCHS
    cfg.train.threads = 1
    cfg.train.progress = False
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("e2e") / "run"
    result = run(small_config(), run_dir)
    return run_dir, result.metrics


def test_beats_random_by_a_wide_margin(trained: tuple[Path, dict]) -> None:
    _, metrics = trained
    test = metrics["test"]["test_candidates"]
    n = test["num_candidates"]
    random_h10 = min(10, n) / n
    random_mrr = sum(1.0 / r for r in range(1, n + 1)) / n
    assert test["hits@10"] >= 4 * random_h10, test
    assert test["mrr"] >= 4 * random_mrr, test
    assert metrics["test"]["all_candidates"]["mode"] == "all" and test["mode"] == "test"


def test_run_directory_is_complete(trained: tuple[Path, dict]) -> None:
    run_dir, metrics = trained
    for name in ("config.json", "dataset.json", "model.pt", "model.pt.sha256", "train_log.jsonl",
                 "metrics.json", "embeddings.npz", "variances.npz", "split/train_links", "split/test_links"):
        assert (run_dir / name).exists(), name
    # a finished run keeps its final weights; the resumable checkpoint and the lock are gone
    for name in ("checkpoint.pt", "checkpoint.pt.sha256", "running.lock"):
        assert not (run_dir / name).exists(), name
    emb = np.load(run_dir / "embeddings.npz", allow_pickle=False)
    assert emb["left_mean"].shape[0] == len(emb["left_names"])
    assert np.all(emb["left_var"] >= 0.5) and np.all(emb["left_var"] <= 50)
    log = [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == [1] * STAGE1_EPOCHS + [2] * STAGE2_EPOCHS
    assert metrics["provenance"]["revision"]
    assert "variance_by_corruption" in metrics


def test_variances_move_in_stage_two(trained: tuple[Path, dict]) -> None:
    run_dir, _ = trained
    var = np.load(run_dir / "variances.npz", allow_pickle=False)
    for space in ("common", "relational", "visual", "numerical"):  # freed in stage 2, no longer all on the clamp
        values = var[f"left_{space}"]
        assert np.nanmax(values) > 0.5 + 1e-3, space


def test_evaluate_reproduces_metrics(trained: tuple[Path, dict]) -> None:
    run_dir, metrics = trained
    again = evaluate_run(run_dir)
    for mode in ("test", "all"):
        key = f"{mode}_candidates"
        assert again[key]["mrr"] == pytest.approx(metrics["test"][key]["mrr"], abs=1e-9)
    other = evaluate_run(run_dir, similarity="neg_sym_kl", csls_k=None, modes=("test",))
    assert other["test_candidates"]["similarity"] == "neg_sym_kl"
    assert math.isfinite(other["test_candidates"]["mrr"])


def test_cli_run_and_existing_dir_guard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--out", str(tmp_path / "r"), "--stage1-epochs", "1", "--stage2-epochs", "1", "--dim", "16",
            "--threads", "1", "--no-progress", "--set", 'data.options={"num_entities": 200}']
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[test candidates" in out and "[all candidates" in out
    assert main(args) == 2  # refuses to overwrite a finished run silently
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0


def test_real_data_one_epoch(shared_data: Path, tmp_path: Path) -> None:
    cfg = RunConfig(model_name="gaussian")  # the paper model: its run directory holds variances and two stages
    cfg.data.dataset, cfg.data.data_dir = "d_y_15k_v1", str(shared_data / "openea")
    cfg.data.given_split = "split_721_ExEA"
    cfg.model.modalities = ("r",)
    cfg.model.dim = 32
    cfg.train.stage1_epochs, cfg.train.stage2_epochs = 1, 0
    cfg.train.threads, cfg.train.progress = 1, False
    metrics = run(cfg, tmp_path / "dy").metrics
    assert metrics["split"]["test"] == 10500
    for mode in ("test", "all"):
        m = metrics["test"][f"{mode}_candidates"]
        assert m["num_queries"] == 10500 and all(math.isfinite(m[k]) for k in ("hits@1", "mr", "mrr"))
