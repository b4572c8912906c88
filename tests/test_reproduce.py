"""``gaussea reproduce``: a tiny end-to-end table on synthetic data, resumability and budget checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaussea.cli import main
from gaussea.commands.reproduce import (
    Budget,
    RunSpec,
    base_preset,
    config_mismatch,
    preset_stage2_share,
    run_config,
)

ARGS = ["--dataset", "synthetic", "--splits", "2", "--models", "transe,gcn_align", "--epochs", "1",
        "--set", "data.options.num_entities=120", "--set", "model.dim=16", "--threads", "1"]


def reproduce(tmp_path: Path, *extra: str, table: str = "table1") -> int:
    return main(["reproduce", table, *ARGS, "--results-root", str(tmp_path / "runs"),
                 "--out-md", str(tmp_path / f"{table}.md"), *extra])


def test_table1_renders_and_rerun_skips_finished_runs(tmp_path: Path) -> None:
    assert reproduce(tmp_path) == 0
    md = (tmp_path / "table1.md").read_text()
    assert "| R | TransE |" in md and "| R+N | GCN-Align |" in md
    assert "±" in md and "Budget: 1 epoch per run" in md and "test × test" in md
    summary = json.loads((tmp_path / "runs" / "table1.json").read_text())
    assert summary["runs"] == {"ran": 4, "skipped": 0, "failed": 0}
    assert all(e["splits"] == [0, 1] for e in summary["entries"])
    metrics = sorted((tmp_path / "runs").rglob("metrics.json"))
    assert len(metrics) == 4
    assert [p.parent.relative_to(tmp_path / "runs").as_posix() for p in metrics][0] == "synthetic/gcn_align/r0.2/s0"
    mtimes = [p.stat().st_mtime_ns for p in metrics]

    assert reproduce(tmp_path) == 0
    summary = json.loads((tmp_path / "runs" / "table1.json").read_text())
    assert summary["runs"] == {"ran": 0, "skipped": 4, "failed": 0}
    assert [p.stat().st_mtime_ns for p in metrics] == mtimes

    # another budget on the same results root is refused before anything runs
    assert reproduce(tmp_path, "--epochs", "2") == 2


def test_unfinished_run_is_resumed(tmp_path: Path) -> None:
    assert reproduce(tmp_path, "--models", "transe", "--splits", "1") == 0
    run_dir = tmp_path / "runs" / "synthetic" / "transe" / "r0.2" / "s0"
    (run_dir / "metrics.json").unlink()
    assert reproduce(tmp_path, "--models", "transe", "--splits", "1") == 0
    assert (run_dir / "metrics.json").exists()
    assert json.loads((tmp_path / "runs" / "table1.json").read_text())["runs"]["ran"] == 1


def test_table2_rows_per_ratio(tmp_path: Path) -> None:
    assert reproduce(tmp_path, "--models", "transe", "--splits", "1", "--ratios", "0.2,0.5", table="table2") == 0
    md = (tmp_path / "table2.md").read_text()
    assert "| 20% | TransE |" in md and "| 50% | TransE |" in md


def test_run_config_gives_modal_groups_and_budget() -> None:
    budget = Budget(epochs=6, max_seconds=30.0)
    cfg = run_config(RunSpec("synthetic", "gcn_align", 0.5, 3), budget, None, [], None)
    assert list(cfg.model.modalities) == ["r", "n"]
    assert (cfg.data.ratio, cfg.data.split, cfg.model_name) == (0.5, 3, "gcn_align")
    assert (cfg.train.stage1_epochs, cfg.train.stage2_epochs, cfg.train.max_seconds) == (4, 2, 30.0)
    assert list(run_config(RunSpec("synthetic", "transe", 0.2, 0), budget, None, [], None).model.modalities) == ["r"]


def test_budget_keeps_the_preset_proportion_between_stages() -> None:
    """40 epochs on FB15K*-DB15K are its preset's 30 + 10 (the configuration validated there); the paper's
    40 + 20 proportion elsewhere; datasets whose presets disagree cannot share one table's budget."""
    assert Budget(40, None, preset_stage2_share(["fb15k-db15k"])).stages() == (30, 10)
    assert Budget(60, None, preset_stage2_share(["synthetic"])).stages() == (40, 20)
    assert Budget(60, None, preset_stage2_share(["fb15k-db15k"])).stages() == (45, 15)
    with pytest.raises(ValueError, match="split the epochs differently"):
        preset_stage2_share(["fb15k-db15k", "synthetic"])


def test_base_preset_falls_back_to_family_then_paper() -> None:
    presets = ["paper", "dbp15k", "fb15k-db15k"]
    assert base_preset("dbp15k-ja_en", presets) == "dbp15k"
    assert base_preset("fb15k-db15k", presets) == "fb15k-db15k"
    assert base_preset("openea", presets) == "paper"


def test_config_mismatch_ignores_runtime_keys() -> None:
    saved = {"train": {"threads": 1, "stage1_epochs": 4}, "model_name": "transe"}
    assert config_mismatch(saved, {"train": {"threads": 2, "stage1_epochs": 4}, "model_name": "transe"}) == []
    diff = config_mismatch(saved, {"train": {"threads": 1, "stage1_epochs": 5}, "model_name": "transe"})
    assert diff == ["train.stage1_epochs: saved 4, wanted 5"]


@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--splits", "0"]])
def test_bad_arguments_are_errors(tmp_path: Path, bad: list[str]) -> None:
    assert reproduce(tmp_path, *bad) == 2


def test_table_footer_says_when_ours_was_tuned_on_the_dataset():
    from gaussea.commands.reproduce import shared_settings
    from gaussea.config import RunConfig
    from gaussea.presets import preset_config

    untuned = {RunSpec("synthetic", "gaussian", 0.2, 0): RunConfig(), RunSpec("synthetic", "mmea", 0.2, 0): RunConfig()}
    assert shared_settings(untuned).endswith("ours included.")
    tuned = {RunSpec("fb15k-db15k", "gaussian", 0.2, 0): preset_config("fb15k-db15k"),
             RunSpec("fb15k-db15k", "mmea", 0.2, 0): preset_config("fb15k-db15k")}
    text = shared_settings(tuned)
    assert "fb15k-db15k preset" in text and "chosen among 5 variants" in text and "ours included" not in text
