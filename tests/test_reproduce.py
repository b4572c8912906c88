"""``gaussea reproduce``: a tiny end-to-end table on synthetic data, resumability and budget checks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
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
    with_defaults,
)
from gaussea.runlock import LOCK_NAME, claim_run

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
    assert summary["runs"] == {"ran": 4, "skipped": 0, "busy": 0, "failed": 0}
    assert all(e["splits"] == [0, 1] for e in summary["entries"])
    metrics = sorted((tmp_path / "runs").rglob("metrics.json"))
    assert len(metrics) == 4
    assert [p.parent.relative_to(tmp_path / "runs").as_posix() for p in metrics][0] == "synthetic/gcn_align/r0.2/s0"
    mtimes = [p.stat().st_mtime_ns for p in metrics]

    assert reproduce(tmp_path) == 0
    summary = json.loads((tmp_path / "runs" / "table1.json").read_text())
    assert summary["runs"] == {"ran": 0, "skipped": 4, "busy": 0, "failed": 0}
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


def test_saved_config_without_a_newer_setting_matches_its_default() -> None:
    """A results tree written before a setting existed (here data.corrupt) still resumes under the default."""
    from gaussea.config import RunConfig

    wanted = RunConfig().to_dict()
    saved = RunConfig().to_dict()
    del saved["data"]["corrupt"]
    assert config_mismatch(saved, wanted) != []  # compared raw, the missing key looks like a change
    assert config_mismatch(with_defaults(saved), wanted) == []
    saved["data"]["ratio"] = 0.5  # a real difference is still found
    assert config_mismatch(with_defaults(saved), wanted) == ["data.ratio: saved 0.5, wanted 0.2"]


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


def _entry(model: str, ratio: float, splits: list[int], h1: list[float], mrr: list[float]) -> dict:
    from gaussea.commands.reproduce import _stats

    return {"dataset": "fb15k-db15k", "model": model, "ratio": ratio, "splits": splits, "planned_splits": 3,
            "modal": "R+N+V", "iterative": False,
            "modes": {"test": {"hits@1": _stats(h1), "hits@10": _stats(h1), "mrr": _stats(mrr)}}}


def test_paired_differences_use_only_shared_splits_split_by_split() -> None:
    """Ours minus MMEA is computed split by split over the splits both finished; a split only one model has
    does not enter (its split effect would otherwise masquerade as a model effect)."""
    from gaussea.commands.reproduce import paired_differences, render_differences

    entries = [_entry("mmea", 0.2, [0, 1, 2], [0.10, 0.12, 0.20], [0.2, 0.3, 0.4]),
               _entry("gaussian", 0.2, [0, 1], [0.11, 0.12], [0.25, 0.3])]
    (row,) = paired_differences(entries, "test")
    assert row["splits"] == [0, 1]
    diff = row["hits@1"]["difference"]
    assert diff["values"] == pytest.approx([0.01, 0.0]) and diff["mean"] == pytest.approx(0.005)
    assert row["hits@1"]["spread_reference"] == pytest.approx(entries[0]["modes"]["test"]["hits@1"]["std"])
    text = "\n".join(render_differences([row]))
    assert "H@1 (points) +0.50 ± 0.71" in text and "MRR +0.025" in text and "2 split(s)" in text
    assert paired_differences([entries[0]], "test") == []


def test_paper_figures_are_quoted_beside_ours_and_labelled() -> None:
    from gaussea.commands.reproduce import render_table1, render_table2

    t1 = render_table1([_entry("mmea", 0.2, [0], [0.1], [0.2])], "test")
    assert t1[0].endswith("| paper fb15k-db15k H@1 / MRR | train s |") and t1[2].endswith("| 41.28 / 0.513 | – |")
    t2 = render_table2([_entry("gaussian", 0.5, [0], [0.1], [0.2])], "test")
    assert "H@1" in t2[0] and t2[2].startswith("| 50% | Ours (Gaussian) (1/3 splits) |")
    assert t2[2].endswith("| 84.93 / 0.689 |")


def _locked_cell(cell: Path, pid: int) -> Path:
    """A run directory whose lock names process ``pid`` of this host."""
    cell.mkdir(parents=True)
    (cell / LOCK_NAME).write_text(f"{socket.gethostname()} {pid}")
    return cell


def test_a_cell_locked_by_a_live_process_is_left_to_it_and_a_stale_lock_is_taken_over(tmp_path: Path) -> None:
    """Two commands on one results root never run the same cell; a lock left by a killed command does not
    block the cell forever."""
    busy = _locked_cell(tmp_path / "busy", os.getppid())  # a live process: our parent
    assert claim_run(busy) is None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = _locked_cell(tmp_path / "stale", int(dead.stdout))
    lock = claim_run(stale)
    assert lock is not None and lock.read_text() == f"{socket.gethostname()} {os.getpid()}"
    assert claim_run(stale) is None  # now held by this (live) process
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / LOCK_NAME).write_text("another-host 1")
    assert claim_run(remote) is None


def test_busy_cells_are_skipped_and_counted(tmp_path: Path) -> None:
    cell = _locked_cell(tmp_path / "runs" / "synthetic" / "transe" / "r0.2" / "s0", os.getppid())
    assert reproduce(tmp_path, "--models", "transe", "--splits", "1") == 0
    summary = json.loads((tmp_path / "runs" / "table1.json").read_text())
    assert summary["runs"] == {"ran": 0, "skipped": 0, "busy": 1, "failed": 0}
    assert not (cell / "metrics.json").exists()


def test_preset_option_bases_every_run_on_it_and_keeps_its_stage_split() -> None:
    """``--preset fb15k-db15k-long`` (30 + 30, truncated negatives): 60 epochs are its 30 + 30, and the sampler
    reaches MMEA as well as ours."""
    share = preset_stage2_share(["fb15k-db15k"], "fb15k-db15k-long")
    budget = Budget(60, None, share)
    assert budget.stages() == (30, 30)
    for model in ("gaussian", "mmea"):
        cfg = run_config(RunSpec("fb15k-db15k", model, 0.5, 1), budget, None, [], 1, "fb15k-db15k-long")
        assert (cfg.model.negative_sampling, cfg.model.negatives, cfg.train.threads) == ("truncated", 10, 1)
        assert (cfg.data.ratio, cfg.data.split, cfg.model_name) == (0.5, 1, model)
    default = run_config(RunSpec("fb15k-db15k", "gaussian", 0.2, 0), budget, None, [], None)
    assert default.model.negative_sampling == "uniform"


def test_preset_with_a_sampler_a_baseline_lacks_is_refused_before_anything_runs(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    assert reproduce(tmp_path, "--preset", "fb15k-db15k-long", "--models", "transe,mmea") == 2
    assert "transe cannot draw truncated negatives" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_table2_under_a_truncated_preset_runs_and_says_how_negatives_were_drawn(tmp_path: Path) -> None:
    assert main(["reproduce", "table2", "--dataset", "synthetic", "--splits", "1", "--ratios", "0.2",
                 "--epochs", "2", "--preset", "fb15k-db15k-long", "--set", "data.options.num_entities=120",
                 "--set", "model.dim=16", "--threads", "1",
                 "--results-root", str(tmp_path / "runs"), "--out-md", str(tmp_path / "t2.md")]) == 0
    md = (tmp_path / "t2.md").read_text()
    assert "| 20% | MMEA |" in md and "| 20% | Ours (Gaussian) |" in md
    assert "two-stage models: 1 + 1, the fb15k-db15k-long preset's proportion" in md
    assert "10 negatives per positive drawn among the replaced entity's nearest neighbours" in md
    assert "MMEA got the same sampler" in md
    summary = json.loads((tmp_path / "runs" / "table2.json").read_text())
    assert summary["preset"] == "fb15k-db15k-long" and summary["runs"]["ran"] == 2
    saved = json.loads((tmp_path / "runs" / "synthetic" / "mmea" / "r0.2" / "s0" / "config.json").read_text())
    assert saved["model"]["negative_sampling"] == "truncated"
