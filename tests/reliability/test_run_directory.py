"""The run directory is never silently wrong: what a failed, repeated, concurrent or disk-starved run leaves.

* A run that fails before training leaves nothing (and ``--overwrite`` puts the previous run back).
* The quick start (``make run``'s command) can be run twice in a row; an interrupted run still needs a flag.
* Output files honour the umask, so collaborators on a shared server can read them.
* A finished run keeps ``model.pt`` and drops the resumable checkpoint unless ``--keep-checkpoint``; everything
  that reads a finished run still works.
* A second run pointed at a directory in use stops with one line naming the holder; a dead holder's lock is
  taken over.
* A full disk gives one line naming the file, exit status 2, and the run resumes once space is freed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gaussea.checkpoint import load_checkpoint, save_checkpoint
from gaussea.ioutil import atomic_write_bytes, atomic_write_json
from gaussea.runlock import LOCK_NAME, claim_run
from gaussea.runner import run

from ._support import (
    PYTHON,
    REPO,
    assert_one_line_error,
    cli_in_process,
    read_json,
    small_config,
    torch_threads_restored,  # noqa: F401 - autouse fixture
    tree,
)

TINY = ["--model", "gaussian", "--set", 'data.options={"num_entities": 200}', "--dim", "16", "--stage1-epochs", "2",
        "--stage2-epochs", "1", "--threads", "1", "--no-progress", "--set", "train.checkpoint_every=1"]


def tiny_run(out: Path, *extra: str) -> tuple[int, str, str]:
    return cli_in_process(["run", "--out", str(out), *TINY, *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run made with the defaults (checkpoint removed); tests copy it before changing it."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    status, _, err = tiny_run(run_dir)
    assert status == 0, err
    return run_dir


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Set the process umask to the test's parameter for the test, then restore it."""
    before = os.umask(request.param)
    yield request.param
    os.umask(before)


# ------------------------------------------------------------------- failing before training leaves nothing


def test_a_run_that_fails_before_training_leaves_no_directory(tmp_path: Path) -> None:
    """A typo fails in the data loader: neither the run directory nor the parent folders it made remain."""
    status, _, err = tiny_run(tmp_path / "runs" / "typo" / "x", "--dataset", "no-such-dataset")
    assert status == 2 and "no-such-dataset" in err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_in_an_existing_folder_removes_only_what_it_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes\n")
    before = tree(folder)
    status, _, _ = tiny_run(folder, "--dataset", "fb15k-db15k", "--data-dir", str(tmp_path / "missing"))
    assert status == 2
    assert tree(folder) == before


def test_overwrite_that_fails_before_training_puts_the_previous_run_back(tmp_path: Path, finished: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    before = {name: (run_dir / name).read_bytes() for name, kind in tree(run_dir).items() if kind != "dir"}
    status, _, err = tiny_run(run_dir, "--overwrite", "--dataset", "no-such-dataset")
    assert status == 2, err
    assert {name: (run_dir / name).read_bytes() for name, kind in tree(run_dir).items() if kind != "dir"} == before


def test_overwrite_replaces_the_previous_run_once_training_starts(tmp_path: Path, finished: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished, run_dir)
    (run_dir / "report").mkdir()
    (run_dir / "report" / "report.md").write_text("the old run's report\n")  # derived from the old run: stale
    status, _, err = tiny_run(run_dir, "--overwrite", "--seed", "7")
    assert status == 0, err
    assert read_json(run_dir / "config.json")["train"]["seed"] == 7
    assert not (run_dir / "report").exists() and not (run_dir / ".previous-run").exists()


# ------------------------------------------------------------------------------ the quick start, twice


def quick_start_args() -> list[str]:
    """``make run``'s ``gaussea`` arguments, read from the Makefile."""
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    recipe = lines[lines.index("run: $(STAMP)") + 1]
    words = shlex.split(recipe)
    return words[words.index("$(VENV)/bin/gaussea") + 1:]


def test_make_run_works_twice_in_a_row_and_an_interrupted_run_still_needs_a_flag(
        tmp_path: Path, finished: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = [*quick_start_args(), *TINY]  # the quick start, made tiny (later flags win)
    for attempt in (1, 2):
        status, out, err = cli_in_process(args)
        assert status == 0, f"attempt {attempt}: {err}"
        assert "run directory:" in out
    run_dir = tmp_path / "runs" / "quickstart"
    assert (run_dir / "metrics.json").exists()
    # without the flag a finished run is not replaced ...
    plain = ["run", "--out", str(run_dir), *TINY]
    status, _, err = cli_in_process(plain)
    assert status == 2
    assert_one_line_error(err, "finished run", "--overwrite")
    # ... nor an interrupted one (a checkpoint without metrics)
    interrupted = tmp_path / "interrupted"
    status, _, err = tiny_run(interrupted, "--keep-checkpoint")
    assert status == 0, err
    (interrupted / "metrics.json").unlink()
    status, _, err = cli_in_process(["run", "--out", str(interrupted), *TINY])
    assert status == 2
    assert_one_line_error(err, "unfinished run", "checkpoint.pt", "--resume")
    assert (interrupted / "checkpoint.pt").exists()


# ------------------------------------------------------------------------------------ file permissions


@pytest.mark.parametrize("umask", [0o022, 0o002], indirect=True)
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int) -> None:
    want = 0o666 & ~umask
    atomic_write_bytes(tmp_path / "a.bin", b"x")
    atomic_write_json(tmp_path / "sub" / "m.json", {"a": 1})
    save_checkpoint(tmp_path / "c.pt", {"w": [1, 2]})
    for name in ("a.bin", "sub/m.json", "c.pt", "c.pt.sha256"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == want, name


@pytest.mark.parametrize("umask", [0o022], indirect=True)
def test_every_file_of_a_run_is_readable_by_the_group_and_others(tmp_path: Path, umask: int) -> None:
    run_dir = tmp_path / "run"
    status, _, err = tiny_run(run_dir)
    assert status == 0, err
    modes = {name: stat.S_IMODE((run_dir / name).stat().st_mode) for name in tree(run_dir)}
    assert modes and all(mode == (0o755 if (run_dir / name).is_dir() else 0o644) for name, mode in modes.items()), \
        {name: oct(mode) for name, mode in modes.items()}


# ------------------------------------------------------------------------------- checkpoint clean-up


def test_a_finished_run_keeps_model_pt_and_every_reader_works(tmp_path: Path, finished: Path) -> None:
    assert not (finished / "checkpoint.pt").exists() and (finished / "model.pt").exists()
    status, out, err = cli_in_process(["evaluate", str(finished), "--json"])
    assert status == 0, err
    saved = read_json(finished / "metrics.json")["test"]["test_candidates"]["mrr"]
    assert json.loads(out)["test_candidates"]["mrr"] == saved
    # --resume on a finished run re-evaluates it from model.pt (nothing left to train)
    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    status, _, err = cli_in_process(["run", "--out", str(copy), "--resume", "--threads", "1"])
    assert status == 0, err
    assert read_json(copy / "metrics.json")["test"] == read_json(finished / "metrics.json")["test"]
    assert not (copy / "checkpoint.pt").exists()
    # ... but cannot train further without the optimiser state the checkpoint held: refused, naming model.pt
    config = read_json(copy / "config.json")
    config["train"]["stage2_epochs"] += 2
    (copy / "config.json").write_text(json.dumps(config))
    status, _, err = cli_in_process(["run", "--out", str(copy), "--resume", "--threads", "1"])
    assert status == 2
    assert_one_line_error(err, str(copy / "model.pt"), "--keep-checkpoint")


def test_keep_checkpoint_keeps_it_and_old_run_directories_still_load(tmp_path: Path) -> None:
    """With truncated negative sampling, whose neighbour lists only resuming needs: model.pt leaves them out."""
    run_dir = tmp_path / "kept"
    status, _, err = tiny_run(run_dir, "--keep-checkpoint", "--set", "model.negative_sampling=truncated")
    assert status == 0, err
    checkpoint, final = load_checkpoint(run_dir / "checkpoint.pt"), load_checkpoint(run_dir / "model.pt")
    assert checkpoint["optimisers"] and set(final) == {"model", "trainer"}
    left_out = set(checkpoint["model"]) - set(final["model"])
    assert left_out and all(key.endswith(("neighbour_lists.neighbours", "neighbour_lists.neighbours_ready"))
                           for key in left_out)
    want = read_json(run_dir / "metrics.json")["test"]["test_candidates"]["mrr"]
    status, out, err = cli_in_process(["evaluate", str(run_dir), "--json"])
    assert status == 0, err
    assert json.loads(out)["test_candidates"]["mrr"] == want
    # a run directory made before model.pt existed: the model comes from its checkpoint
    for name in ("model.pt", "model.pt.sha256"):
        (run_dir / name).unlink()
    status, out, err = cli_in_process(["evaluate", str(run_dir), "--json"])
    assert status == 0, err
    assert json.loads(out)["test_candidates"]["mrr"] == want


# ---------------------------------------------------------------------------------------- the lock


def test_a_second_run_on_a_directory_in_use_stops_naming_the_holder(tmp_path: Path) -> None:
    """Two runs on one directory, the second started while the first trains (a thread here, so both are this
    process: the lock is per process, and the second must not take it as its own)."""
    run_dir = tmp_path / "shared"
    cfg = small_config(stage1=2, stage2=1)
    cfg.data.options, cfg.model.dim = {"num_entities": 200}, 16
    first: dict[str, object] = {}
    thread = threading.Thread(target=lambda: first.update(result=run(cfg, run_dir)))
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "config.json").exists():  # the first run is under way
            assert thread.is_alive() and time.monotonic() < deadline, "the first run never started"
            time.sleep(0.005)
        status, _, err = tiny_run(run_dir)
    finally:
        thread.join(timeout=300)
    assert status == 2
    assert_one_line_error(err, str(run_dir), "in use by another run", f"process {os.getpid()}", LOCK_NAME)
    assert "result" in first, "the first run failed"
    assert read_json(run_dir / "metrics.json")["epochs_completed"] == 3  # the first run's, untouched
    assert not (run_dir / LOCK_NAME).exists()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([PYTHON, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / LOCK_NAME).write_text(f"{socket.gethostname()} {int(dead.stdout)}")
    status, _, err = tiny_run(run_dir)
    assert status == 0, err
    assert not (run_dir / LOCK_NAME).exists()


def test_a_lock_still_being_written_is_not_taken_for_a_stale_one(tmp_path: Path) -> None:
    """A lock reads empty between its creation and its first write: that is a live holder, not a dead one."""
    (tmp_path / LOCK_NAME).write_text("")
    assert claim_run(tmp_path) is None
    assert (tmp_path / LOCK_NAME).read_text() == ""


# ------------------------------------------------------------------------------------------ full disk


def fill_disk(monkeypatch: pytest.MonkeyPatch, under: Path, name: str, files_before: int) -> None:
    """``os.write`` and ``os.fsync`` fail with ENOSPC, as on a full disk, for every file under ``under`` from the
    ``files_before + 1``-th write of ``name`` on (atomic writes go through a ``.NAME.XXXX.tmp`` file)."""
    seen: set[str] = set()
    full = False

    def failing(real):
        def call(fd: int, *args):
            nonlocal full
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(under)):
                if re.fullmatch(rf"\.{re.escape(name)}\.\w+\.tmp", Path(target).name) and target not in seen:
                    seen.add(target)
                    full = full or len(seen) > files_before
                if full:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(fd, *args)
        return call

    monkeypatch.setattr(os, "write", failing(os.write))
    monkeypatch.setattr(os, "fsync", failing(os.fsync))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd to tell files apart")
@pytest.mark.parametrize(("name", "files_before"), [("checkpoint.pt", 1), ("metrics.json", 0)])
def test_a_full_disk_gives_one_line_naming_the_file_and_the_run_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, files_before: int) -> None:
    run_dir = tmp_path / "run"
    with monkeypatch.context() as m:
        fill_disk(m, run_dir, name, files_before)
        status, _, err = tiny_run(run_dir)
    assert status == 2
    assert_one_line_error(err, f"cannot write {run_dir / name}: {os.strerror(errno.ENOSPC)}")
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "metrics.json").exists()
    status, _, err = tiny_run(run_dir, "--resume")  # space freed
    assert status == 0, err
    assert read_json(run_dir / "metrics.json")["epochs_completed"] == 3
    assert not (run_dir / "checkpoint.pt").exists() and not list(run_dir.rglob("*.tmp"))
