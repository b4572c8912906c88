"""``gaussea reproduce``: tiny end-to-end tables on synthetic data, resumability, budgets, decoders, and the
committed results trees rendered again."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gaussea.cli import main
from gaussea.grid_runs import config_mismatch, with_defaults
from gaussea.paper_decode import DECODED_NAME
from gaussea.paper_grid import Budget, RunSpec, base_preset, run_config, stage2_share, stage_shares
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
    assert summary["runs"] == {"ran": 4, "skipped": 0, "busy": 0, "failed": 0, "decoded": 4}
    assert all(e["splits"] == [0, 1] for e in summary["entries"])
    assert {(e["model"], e["decoder"]) for e in summary["entries"]} == {
        (m, d) for m in ("transe", "gcn_align") for d in ("csls", "sinkhorn")}
    metrics = sorted((tmp_path / "runs").rglob("metrics.json"))
    assert len(metrics) == 4
    assert [p.parent.relative_to(tmp_path / "runs").as_posix() for p in metrics][0] == "synthetic/gcn_align/r0.2/s0"
    mtimes = [p.stat().st_mtime_ns for p in [*metrics, *(p.parent / DECODED_NAME for p in metrics)]]

    assert reproduce(tmp_path) == 0
    summary = json.loads((tmp_path / "runs" / "table1.json").read_text())
    assert summary["runs"] == {"ran": 0, "skipped": 4, "busy": 0, "failed": 0, "decoded": 0}
    assert [p.stat().st_mtime_ns for p in [*metrics, *(p.parent / DECODED_NAME for p in metrics)]] == mtimes

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
    budget = Budget(epochs=6, max_seconds=30.0, stage_shares=stage_shares(["synthetic"]))
    cfg = run_config(RunSpec("synthetic", "gcn_align", 0.5, 3), budget, None, [], None)
    assert list(cfg.model.modalities) == ["r", "n"]
    assert (cfg.data.ratio, cfg.data.split, cfg.model_name) == (0.5, 3, "gcn_align")
    assert (cfg.train.stage1_epochs, cfg.train.stage2_epochs, cfg.train.max_seconds) == (4, 2, 30.0)
    assert list(run_config(RunSpec("synthetic", "transe", 0.2, 0), budget, None, [], None).model.modalities) == ["r"]


def test_budget_keeps_each_dataset_presets_proportion_between_stages() -> None:
    """40 epochs on FB15K*-DB15K are its preset's 30 + 10 (the configuration validated there); the paper's
    40 + 20 proportion elsewhere; datasets whose presets disagree share one table, each with its own split."""
    assert Budget(40, None, stage_shares(["fb15k-db15k"])).stages("fb15k-db15k") == (30, 10)
    assert Budget(60, None, stage_shares(["synthetic"])).stages("synthetic") == (40, 20)
    both = Budget(60, None, stage_shares(["fb15k-db15k", "fb15k-yago15k"]))
    assert (both.stages("fb15k-db15k"), both.stages("fb15k-yago15k")) == ((45, 15), (40, 20))
    assert "45 + 15 (fb15k-db15k), 40 + 20 (fb15k-yago15k)" in both.describe()


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
    assert summary["runs"] == {"ran": 0, "skipped": 0, "busy": 1, "failed": 0, "decoded": 0}
    assert not (cell / "metrics.json").exists()


def test_preset_option_bases_every_run_on_it_and_keeps_its_stage_split() -> None:
    """``--preset fb15k-db15k-long`` (30 + 30, truncated negatives): 60 epochs are its 30 + 30, and the sampler
    reaches MMEA as well as ours."""
    budget = Budget(60, None, stage_shares(["fb15k-db15k"], "fb15k-db15k-long"))
    assert stage2_share("fb15k-db15k", "fb15k-db15k-long") == 0.5
    assert budget.stages("fb15k-db15k") == (30, 30)
    for model in ("gaussian", "mmea"):
        cfg = run_config(RunSpec("fb15k-db15k", model, 0.5, 1), budget, None, [], 1, "fb15k-db15k-long")
        assert (cfg.model.negative_sampling, cfg.model.negatives, cfg.train.threads) == ("truncated", 10, 1)
        assert (cfg.data.ratio, cfg.data.split, cfg.model_name) == (0.5, 1, model)
    default = run_config(RunSpec("fb15k-db15k", "gaussian", 0.2, 0), budget, None, [], None)
    assert default.model.negative_sampling == "uniform"


def test_a_model_without_the_presets_sampler_draws_uniform_negatives_and_the_table_says_so() -> None:
    """Under a truncated preset, a baseline without that sampler keeps its row with uniform negatives (named
    under the table) instead of stopping the command; models that draw no shared negatives are not named."""
    from gaussea.paper_grid import uniform_fallbacks

    budget = Budget(60, None, stage_shares(["fb15k-db15k"], "fb15k-db15k-long"))
    configs = {RunSpec("fb15k-db15k", m, 0.2, 0): run_config(RunSpec("fb15k-db15k", m, 0.2, 0), budget, None, [],
                                                              None, "fb15k-db15k-long")
               for m in ("gcn_align", "transe", "mmea", "propagation")}
    assert [c.model.negative_sampling for c in configs.values()] == ["uniform", "truncated", "truncated", "uniform"]
    assert uniform_fallbacks(configs, "fb15k-db15k-long") == ["gcn_align"]


def test_table2_under_a_truncated_preset_runs_and_says_how_negatives_were_drawn(tmp_path: Path) -> None:
    assert main(["reproduce", "table2", "--dataset", "synthetic", "--splits", "1", "--ratios", "0.2",
                 "--epochs", "2", "--preset", "fb15k-db15k-long", "--set", "data.options.num_entities=120",
                 "--set", "model.dim=16", "--threads", "1",
                 "--results-root", str(tmp_path / "runs"), "--out-md", str(tmp_path / "t2.md")]) == 0
    md = (tmp_path / "t2.md").read_text()
    assert "| 20% | MMEA |" in md and "| 20% | Paper model (Gaussian) |" in md and "| 20% | Gaussian fusion |" in md
    assert "| 20% | Propagation (training-free) |" in md  # the yardstick beside every table
    assert "two-stage models: 1 + 1, the fb15k-db15k-long preset's proportion" in md
    assert "10 negatives per positive drawn among the replaced entity's nearest neighbours" in md
    assert "MMEA got the same sampler" in md
    summary = json.loads((tmp_path / "runs" / "table2.json").read_text())
    assert summary["preset"] == "fb15k-db15k-long" and summary["runs"]["ran"] == 4
    saved = json.loads((tmp_path / "runs" / "synthetic" / "mmea" / "r0.2" / "s0" / "config.json").read_text())
    assert saved["model"]["negative_sampling"] == "truncated"


def test_budget_valid_stops_on_validation_and_the_table_states_the_chosen_epoch(tmp_path: Path) -> None:
    """``--budget valid``: every run evaluates a validation slice, stops when it stops improving, and the table's
    budget column is the epoch whose weights were scored (the best validation epoch of a run stopped early)."""
    assert reproduce(tmp_path, "--models", "transe", "--budget", "valid", "--max-epochs", "12", "--eval-every", "1",
                     "--patience", "1", "--no-decoders") == 0
    runs = [json.loads(p.read_text()) for p in sorted((tmp_path / "runs").rglob("metrics.json"))]
    assert all(m["split"]["valid"] > 0 and m["best_valid_epoch"] is not None for m in runs)
    saved = json.loads((tmp_path / "runs" / "synthetic" / "transe" / "r0.2" / "s0" / "config.json").read_text())
    assert (saved["train"]["eval_every"], saved["train"]["patience"], saved["data"]["valid_ratio"]) == (1, 1, 0.1)
    chosen = [m["best_valid_epoch"] if m["stopped_early"] else m["epochs_completed"] for m in runs]
    (entry,) = json.loads((tmp_path / "runs" / "table1.json").read_text())["entries"]
    assert entry["weights_epochs"] == chosen and entry["stopped_early_runs"] == sum(m["stopped_early"] for m in runs)
    md = (tmp_path / "table1.md").read_text()
    assert f"| {sum(chosen) / 2:.0f} / " in md and "chosen on validation for every model: at most 12 epochs" in md
    assert reproduce(tmp_path, "--models", "transe", "--no-decoders") == 2  # a fixed budget on this root: refused


def test_point_version_and_sinkhorn_rows_come_from_the_one_trained_run(tmp_path: Path) -> None:
    """gaussian_fusion trains once per split; its point version and both Sinkhorn rows are read off that run
    (decoded.json), and the point version's CSLS figure is the run's own ``per_space_test['point']``."""
    assert reproduce(tmp_path, "--models", "gaussian_fusion", "--splits", "1", "--valid-ratio", "0.1") == 0
    run_dir = tmp_path / "runs" / "synthetic" / "gaussian_fusion" / "r0.2" / "s0"
    assert sorted(p.name for p in (tmp_path / "runs" / "synthetic").iterdir()) == ["gaussian_fusion"]
    decoded = json.loads((run_dir / DECODED_NAME).read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    point = decoded["point"]
    assert point["csls"]["test_candidates"]["hits@1"] == pytest.approx(metrics["per_space_test"]["point"]["hits@1"])
    assert decoded["model"]["sinkhorn"]["tau_source"] == "valid" and point["sinkhorn"]["test_candidates"]["hits@1"] >= 0
    md = (tmp_path / "table1.md").read_text()
    assert md.count("| R+N+V | Gaussian fusion, point version |") == 2  # the CSLS and the Sinkhorn block
    assert "**Decoder: Sinkhorn" in md and "Gaussian fusion minus Gaussian fusion, point version" in md


def test_a_grid_killed_between_training_and_decoding_decodes_without_retraining(tmp_path: Path) -> None:
    assert reproduce(tmp_path, "--models", "transe", "--splits", "1") == 0
    run_dir = tmp_path / "runs" / "synthetic" / "transe" / "r0.2" / "s0"
    trained = (run_dir / "metrics.json").stat().st_mtime_ns
    (run_dir / DECODED_NAME).unlink()
    assert reproduce(tmp_path, "--models", "transe", "--splits", "1") == 0
    summary = json.loads((tmp_path / "runs" / "table1.json").read_text())
    assert summary["runs"] == {"ran": 0, "skipped": 1, "busy": 0, "failed": 0, "decoded": 1}
    assert (run_dir / DECODED_NAME).exists() and (run_dir / "metrics.json").stat().st_mtime_ns == trained


def test_relational_table_runs_on_a_dbp15k_folder_with_its_preset_share(tmp_path: Path, make_dbp15k) -> None:
    data = make_dbp15k(tmp_path / "zh_en", 40)
    assert main(["reproduce", "relational", "--dataset", "dbp15k", "--data-dir", str(data), "--splits", "2",
                 "--models", "transe,propagation", "--epochs", "1", "--set", "model.dim=16", "--threads", "1",
                 "--results-root", str(tmp_path / "runs"), "--out-md", str(tmp_path / "rel.md")]) == 0
    assert sorted(p.parent.parent.name for p in (tmp_path / "runs").rglob("metrics.json")) == ["r0.3"] * 4
    md = (tmp_path / "rel.md").read_text()
    assert "| TransE |" in md and "| Propagation (training-free) |" in md and "| Dual-AMN |" in md
    assert "training-free models train no epoch" in md


def _table_rows(markdown: str) -> dict[str, list[str]]:
    """Table lines by model label (the paper model's old label mapped to its new one), without the header (whose
    first cell, once "Split", is now "Share") and the budget cell (``train s`` then, ``epochs / train s`` now)."""
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) > 3 and not cells[0].startswith(("Modal", "Split", "Share", "---")):
            label = cells[1].replace("Ours (Gaussian)", "Paper model (Gaussian)")
            rows[f"{cells[0]} {label}"] = cells[2:-1] if re.fullmatch(r"\d+( / \d+)?", cells[-1]) else cells[2:]
    return rows


@pytest.mark.parametrize(("root", "table", "args"), [
    ("tables", "table1", ["--splits", "3", "--epochs", "40", "--max-seconds", "900", "--models",
                          "mtranse,iptranse,transe,sea,gcn_align,imuse,mmea,gaussian"]),
    ("tables", "table2", ["--splits", "3", "--epochs", "40", "--max-seconds", "900", "--models", "mmea,gaussian"]),
    ("tables-trunc", "table2", ["--splits", "5", "--ratios", "0.2", "--epochs", "60", "--preset", "fb15k-db15k-long",
                                "--models", "mmea,gaussian"]),
    ("tables-gcn1000", "table1", ["--splits", "3", "--epochs", "1000", "--models", "gcn_align"]),
])
def test_render_only_reproduces_the_committed_tables(tmp_path: Path, root: str, table: str, args: list[str]) -> None:
    """The committed results trees render again with every committed figure in place; what changed on purpose:
    the paper model's label, the budget column (epochs / seconds), iterative rows in their own table."""
    committed = Path(__file__).resolve().parents[2] / "bench" / "results" / root
    out = tmp_path / "page.md"
    assert main(["reproduce", table, "--render-only", "--dataset", "fb15k-db15k", *args, "--results-root",
                 str(committed), "--out-md", str(out), "--out-json", str(tmp_path / "page.json")]) == 0
    old = (committed / f"{table}.md").read_text()
    old_rows, new_rows = _table_rows(old), _table_rows(out.read_text())
    assert old_rows and {k: new_rows.get(k) for k in old_rows} == old_rows
    budget_line = next(line for line in old.splitlines() if line.startswith("Budget:"))
    assert budget_line.split(". Shared settings")[0] in out.read_text()
