"""``gaussea run`` on data that cannot train, or is not what its name says: stopped or flagged before any epoch.

An empty link file used to train every epoch and then fail in the evaluator without naming the file; an empty
``triples_2`` trained and reported H@1 0.0001 with exit status 0; ``--preset dbp15k`` on another pair's folder
ran under the name ``dbp15k-zh_en``. Each case here goes through ``cli.main`` and checks the one error line
(exit status 2) or the warning, and that no training happened (no checkpoint, log or metrics).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gaussea.data.registry import default_registry

from ._support import assert_one_line_error, cli_in_process, torch_threads_restored  # noqa: F401

TRAINING_OUTPUTS = ("checkpoint.pt", "train_log.jsonl", "metrics.json", "split")
NO_EPOCHS = ["--stage1-epochs", "0", "--stage2-epochs", "0", "--no-progress"]


def run_args(data_dir: Path, out: Path, *extra: str, dataset: str = "dbp15k") -> list[str]:
    return ["run", "--dataset", dataset, "--data-dir", str(data_dir), "--out", str(out), "--modalities", "r",
            "--no-progress", *extra]


def assert_not_trained(out: Path) -> None:
    left = [name for name in TRAINING_OUTPUTS if (out / name).exists()]
    assert not left, f"training outputs written: {left}"


def write_openea(root: Path, attrs_2: str) -> Path:
    """A small OpenEA folder whose left graph has numbers and whose right attribute file is ``attrs_2``."""
    root.mkdir(parents=True)
    n = 12
    (root / "rel_triples_1").write_text("".join(f"a{i}\tr\ta{i + 1}\n" for i in range(n - 1)))
    (root / "rel_triples_2").write_text("".join(f"b{i}\ts\tb{i + 1}\n" for i in range(n - 1)))
    (root / "attr_triples_1").write_text("".join(f"a{i}\tpop\t{i}.5\n" for i in range(n)))
    (root / "attr_triples_2").write_text(attrs_2)
    (root / "ent_links").write_text("".join(f"a{i}\tb{i}\n" for i in range(n)))
    return root


# (file to change, its new text, layout, what the error line must say)
BROKEN = {
    "empty link file": ("ill_ent_ids", "", None, "no usable links (the file is empty)"),
    "no link resolves": ("ill_ent_ids", "7\t999\n8\t998\n", None, "no usable links (2 read: 2 with an end"),
    "empty graph side": ("triples_2", "", None, "graph KG2 has no relational triples (the file is empty)"),
    "empty sup file": ("sup_ent_ids", "", 6, "the split has no train links"),
    "empty ref file": ("ref_ent_ids", "", 6, "the split has no test links"),
    "too few links for the ratio": ("ill_ent_ids", "0\t100\n", None, "1 usable link(s) leave no train links"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_dbp15k_folder_stops_before_training(case: str, make_dbp15k: Callable[..., Path],
                                                    tmp_path: Path) -> None:
    name, text, sup, message = BROKEN[case]
    root = make_dbp15k(tmp_path / "pair", 20, sup=sup)
    (root / name).write_text(text)
    status, _, err = cli_in_process(run_args(root, tmp_path / "run"))
    assert status == 2
    assert_one_line_error(err, f"{root / name}", message)
    assert_not_trained(tmp_path / "run")


def test_every_numerical_value_skipped_stops_a_run_that_asks_for_n(tmp_path: Path) -> None:
    root = write_openea(tmp_path / "pair", "b0\tname\tBob\nb1\tname\tAnn\n")  # names only: no number
    status, _, err = cli_in_process(run_args(root, tmp_path / "run", dataset="openea") + ["--modalities", "r,n"])
    assert status == 2
    assert_one_line_error(err, str(root / "attr_triples_2"), "none of its numerical values could be used")
    assert_not_trained(tmp_path / "run")
    # without n the same folder trains: the check is about the modality asked for
    status, _, err = cli_in_process(run_args(root, tmp_path / "run_r", *NO_EPOCHS, dataset="openea"))
    assert status == 0, err


def test_skipped_lines_and_default_split_are_in_the_run_output(make_dbp15k: Callable[..., Path],
                                                               tmp_path: Path) -> None:
    root = make_dbp15k(tmp_path / "pair", 20, sup=6)
    with (root / "triples_1").open("a") as f:
        f.write("1\t2\n")  # two columns: skipped
    status, _, err = cli_in_process(run_args(root, tmp_path / "run", *NO_EPOCHS))
    assert status == 0, err
    assert (f"gaussea: warning: 1 input line(s) skipped while loading (columns 1); see gaussea stats dbp15k "
            f"--data-dir {root}") in err.splitlines()
    assert "gaussea: split: sup_ref, shipped with the dataset (6 train / 14 test links), used by default" in err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["split"]["name"] == "sup_ref" and metrics["split"]["used_by_default"] is True


def test_preset_on_another_pair_warns_and_records_the_folder(make_dbp15k: Callable[..., Path],
                                                             tmp_path: Path) -> None:
    root = make_dbp15k(tmp_path / "ja_en", 20)
    out = tmp_path / "run"
    status, _, err = cli_in_process(["run", "--preset", "dbp15k", "--data-dir", str(root), "--out", str(out),
                                     *NO_EPOCHS])
    assert status == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("gaussea: warning:")]
    assert warnings == [f"gaussea: warning: {root} does not look like dataset dbp15k-zh_en: its graphs have 20 / 20 "
                        f"entities, dbp15k-zh_en has 19,388 / 19,572; --dataset dbp15k loads it under its own name"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "dbp15k-zh_en" and metrics["data_dir"] == str(root.resolve())
    assert json.loads((out / "dataset.json").read_text())["meta"]["data_dir"] == str(root.resolve())
    # --dataset wins over the preset's: the generic name loads the folder as what it is, without a warning
    status, _, err = cli_in_process(["run", "--preset", "dbp15k", "--dataset", "dbp15k", "--data-dir", str(root),
                                     "--out", str(tmp_path / "run2"), *NO_EPOCHS])
    assert status == 0 and "warning" not in err, err
    metrics = json.loads((tmp_path / "run2" / "metrics.json").read_text())
    assert metrics["dataset"] == "dbp15k" and metrics["model"] == "gaussian"


# ============================================================================================== real data
@pytest.mark.realdata
@pytest.mark.parametrize("name, message", [("ill_ent_ids", "no usable links (the file is empty)"),
                                           ("triples_2", "graph en has no relational triples (the file is empty)")])
def test_broken_real_zh_en_stops_within_seconds(name: str, message: str, zh_en_copy: Callable[..., Path],
                                                tmp_path: Path) -> None:
    root = zh_en_copy({name: ""})
    out = tmp_path / "run"
    start = time.perf_counter()
    status, _, err = cli_in_process(["run", "--preset", "dbp15k", "--data-dir", str(root), "--out", str(out)])
    elapsed = time.perf_counter() - start
    assert status == 2
    assert_one_line_error(err, str(root / name), message)
    assert_not_trained(out)
    assert elapsed < 10, f"took {elapsed:.1f} s"


@pytest.mark.realdata
def test_another_openea_folder_under_the_d_y_name_warns(shared_data: Path, tmp_path: Path) -> None:
    """Every OpenEA 15K V1 pair has 15,000 entities a side, so the folder name is what tells them apart."""
    root = tmp_path / "EN_FR_15K_V1"
    root.mkdir()
    for name in ("rel_triples_1", "rel_triples_2", "ent_links"):
        (root / name).symlink_to(shared_data / "openea" / "D_Y_15K_V1" / name)
    pair = default_registry().load("d_y_15k_v1", root)
    assert pair.meta["dataset_warning"] == (f"{root} does not look like dataset d_y_15k_v1: the folder is named "
                                            f"'EN_FR_15K_V1', not 'D_Y_15K_V1'; --dataset openea loads it under "
                                            f"its own name")
    assert "dataset_warning" not in default_registry().load("d_y_15k_v1", shared_data / "openea").meta
