"""The command line on corrupted dataset folders: exit status 2 and one line naming the file, never a traceback.

``gaussea stats`` is the first thing a user runs on a new folder. The property test drives ``cli.main`` in
process over folders of random bytes mixed with well-formed files (fast); two cases run ``python -m gaussea``
in a real subprocess to check the actual exit status and stderr a shell sees.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.cli import build_parser

from ._support import assert_one_line_error, cli_in_process, run_gaussea

CLI_FUZZ_EXAMPLES = 40

LAYOUTS = {
    # dataset name -> (files relative to --data-dir, a well-formed content for each)
    "fb15k-db15k": {
        "FB15K/FB15K_EntityTriples.txt": b"/m/a /r/x /m/b .\n/m/b /r/y /m/c .\n",
        "FB15K/FB15K_NumericalTriples.txt": b"/m/a\t<h>\t1.5\n",
        "DB15K/DB15K_EntityTriples.txt": b"<A> <p> <B> .\n",
        "DB15K/DB15K_SameAsLink.txt": b"/m/a <SameAs> <A> .\n",
    },
    "openea": {
        "rel_triples_1": b"a\tr\tb\n",
        "rel_triples_2": b"A\tr\tB\n",
        "attr_triples_1": b"a\tpop\t12\n",
        "ent_links": b"a\tA\nb\tB\n",
    },
    "dbp15k": {
        "ent_ids_1": b"0\thttp://zh/a\n1\thttp://zh/b\n",
        "ent_ids_2": b"10\thttp://en/a\n11\thttp://en/b\n",
        "triples_1": b"0\t7\t1\n",
        "triples_2": b"10\t8\t11\n",
        "ref_ent_ids": b"0\t10\n",
    },
}


@settings(max_examples=CLI_FUZZ_EXAMPLES, deadline=None)
@given(st.sampled_from(sorted(LAYOUTS)), st.data(), st.booleans())
def test_stats_on_corrupted_folder_exits_0_or_2_with_one_line(dataset: str, data: st.DataObject,
                                                             strict: bool) -> None:
    files = LAYOUTS[dataset]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, good in files.items():
            choice = data.draw(st.sampled_from(["good", "random", "missing", "empty", "bad-line"]), label=name)
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if choice == "good":
                path.write_bytes(good)
            elif choice == "random":
                path.write_bytes(data.draw(st.binary(max_size=120), label=f"{name} bytes"))
            elif choice == "empty":
                path.write_bytes(b"")
            elif choice == "bad-line":
                path.write_bytes(good + b"only-one-column\n\xff\xfe\n")
        args = ["stats", dataset, "--data-dir", str(root)] + (["--strict"] if strict else [])
        status, out, err = cli_in_process(args)
        assert status in (0, 2)
        if status == 2:
            line = assert_one_line_error(err)
            assert str(root) in line, line  # names the file (or folder) at fault
        else:
            assert err == "" and "dataset" in out


def write_layout(root: Path, dataset: str) -> Path:
    for name, content in LAYOUTS[dataset].items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def test_stats_subprocess_missing_required_file(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "data", "openea")
    (root / "ent_links").unlink()
    proc = run_gaussea(["stats", "openea", "--data-dir", str(root)], cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, str(root / "ent_links"), "file not found")


def test_stats_subprocess_strict_bad_line_names_file_and_line(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "data", "dbp15k")
    (root / "triples_1").write_bytes(b"0\t7\t1\r\n0\t7\n")
    proc = run_gaussea(["stats", "dbp15k", "--data-dir", str(root), "--strict"], cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, f"{root / 'triples_1'}:2: columns")
    lenient = run_gaussea(["stats", "dbp15k", "--data-dir", str(root)], cwd=tmp_path)
    assert lenient.returncode == 0 and "columns: 1 line(s) skipped" in lenient.stdout


def test_stats_unknown_dataset_and_missing_dir(tmp_path: Path) -> None:
    status, _, err = cli_in_process(["stats", "nope", "--data-dir", str(tmp_path)])
    assert status == 2
    assert_one_line_error(err, "unknown dataset 'nope'")
    status, _, err = cli_in_process(["stats", "openea", "--data-dir", str(tmp_path / "absent")])
    assert status == 2
    assert_one_line_error(err, str(tmp_path / "absent"))


def test_stats_with_truncated_feature_file_exits_2(tmp_path: Path) -> None:
    root = write_layout(tmp_path, "fb15k-db15k")
    path = root / "FB15K" / "FB15K_ImageFeatures.npz"
    np.savez(path, ids=np.array(["/m/a"]), features=np.ones((1, 3)))
    path.write_bytes(path.read_bytes()[:100])
    status, _, err = cli_in_process(["stats", "fb15k-db15k", "--data-dir", str(root)])
    assert status == 2
    assert_one_line_error(err, "FB15K_ImageFeatures.npz")


def test_allow_pickle_hint_names_an_existing_option() -> None:
    try:
        build_parser().parse_args(["run", "--allow-pickle"])
    except SystemExit:
        pytest.fail("`gaussea run --allow-pickle` is not an option")


def test_stats_prints_each_loader_note_once(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "data", "dbp15k")
    (root / "triples_1").write_bytes(b"0\t7\t1\n0\t7\n")  # one skipped line: the problem summary is printed too
    status, out, _ = cli_in_process(["stats", "dbp15k", "--data-dir", str(root)])
    assert status == 0 and "columns: 1 line(s) skipped" in out
    assert out.count("links_file:") == 1, out
