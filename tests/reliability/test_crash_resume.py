"""Crash safety: a run killed at any point resumes to exactly the result of an uninterrupted run.

Three layers:

* **SIGKILL at random points** (a real ``python -m gaussea run`` subprocess, kill times drawn from a seeded
  RNG over the window between startup and the end of an uninterrupted run, resumed with ``--resume`` until
  it finishes): final metrics, embeddings and per-epoch losses must be bit-identical to the reference run,
  every output file must parse.
* **Every write window of a checkpoint, deterministically** (in process, the write functions patched to die
  before/after a given write): finds the windows a random kill hits only rarely.
* **Damaged checkpoints**: truncated, bit-flipped, or replaced by a code-running pickle with a matching
  checksum: ``gaussea run --resume`` exits 2 with one line naming the checkpoint and runs no code.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

import gaussea.checkpoint
import gaussea.training.checkpointing
from gaussea.checkpoint import CheckpointError, load_checkpoint
from gaussea.config import RunConfig
from gaussea.data.report import DataError
from gaussea.data.splits import load_split
from gaussea.ioutil import sha256_bytes
from gaussea.runner import load_pair, run

from ._support import (
    assert_one_line_error,
    cli_in_process,
    gaussea_cmd,
    read_json,
    run_gaussea,
    small_config,
    small_run_args,
    stable_metrics,
    subprocess_env,
    tmp_files,
    torch_threads_restored,  # noqa: F401 - autouse fixture
)

FAST_KILLS = 3
SLOW_KILLS = 10
KILL_SEED = 20240611


# ------------------------------------------------------------------------------------------ comparisons


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def log_losses(run_dir: Path) -> dict[int, dict]:
    """Per-epoch losses from train_log.jsonl (timings dropped)."""
    text = (run_dir / "train_log.jsonl").read_text(encoding="utf-8")
    return {r["epoch"]: r["loss"] for r in map(json.loads, text.splitlines()) if r}


def assert_same_result(run_dir: Path, reference: Path) -> None:
    """Bit-identical metrics (all but timings/provenance), embeddings and variances."""
    got, want = read_json(run_dir / "metrics.json"), read_json(reference / "metrics.json")
    assert stable_metrics(got) == stable_metrics(want)
    for name in ("embeddings.npz", "variances.npz"):
        a, b = npz_arrays(run_dir / name), npz_arrays(reference / name)
        assert a.keys() == b.keys()
        for key in a:
            nan_ok = a[key].dtype.kind == "f"  # variances.npz marks entities without a modality with NaN
            assert np.array_equal(a[key], b[key], equal_nan=nan_ok), f"{name}[{key}] differs"


def assert_outputs_parse(run_dir: Path) -> None:
    """Every file in the run directory is complete and readable by the tool that reads it."""
    cfg = RunConfig.from_dict(read_json(run_dir / "config.json"))
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        name = path.name
        if name.endswith(".tmp"):
            continue  # judged separately (leftovers of killed writes)
        if name.endswith(".json"):
            json.loads(path.read_text(encoding="utf-8"))
        elif name.endswith(".jsonl"):
            for line in path.read_text(encoding="utf-8").splitlines():
                json.loads(line)
        elif name.endswith(".npz"):
            npz_arrays(path)
        elif name.endswith(".sha256"):
            assert len(path.read_text(encoding="utf-8").strip()) == 64
        elif name.endswith(".pt"):
            load_checkpoint(path)
        elif name.endswith(".csv"):
            list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        else:
            path.read_text(encoding="utf-8")
    split = load_split(run_dir / "split", load_pair(cfg))
    assert len(split.test) > 0


# ---------------------------------------------------------------------------------- SIGKILL, subprocess


def start(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as err:
        return subprocess.Popen(gaussea_cmd(args), cwd=cwd, env=subprocess_env(), stdout=subprocess.DEVNULL,
                                stderr=err)


@dataclass
class Timeline:
    """When things happened in the uninterrupted reference run (seconds after the process started)."""

    train_start: float  # estimated start of epoch 1 (first checkpoint minus one epoch)
    epoch: float  # mean seconds per epoch, checkpoint included
    tail: float  # from the last epoch's checkpoint to the process's exit (evaluation, outputs)
    total: float


def timed_reference(args: list[str], cwd: Path, run_dir: Path) -> Timeline:
    """Run to completion, watching the train log, and return when training started and how long it took."""
    t0 = time.perf_counter()
    proc = start(args, cwd, cwd / "reference.stderr")
    stamps: list[float] = []  # one per train_log.jsonl rewrite (one per epoch with checkpoint_every=1)
    last_mtime = None
    while proc.poll() is None:
        log = run_dir / "train_log.jsonl"
        try:
            mtime = log.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime is not None and mtime != last_mtime:
            stamps.append(time.perf_counter() - t0)
            last_mtime = mtime
        time.sleep(0.005)
    total = time.perf_counter() - t0
    assert proc.returncode == 0, (cwd / "reference.stderr").read_text()
    assert len(stamps) >= 2, f"could not watch the training ({stamps})"
    epoch = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    return Timeline(train_start=stamps[0] - epoch, epoch=epoch, tail=total - stamps[-1], total=total)


def checkpoint_epoch(run_dir: Path) -> int | str:
    """Epochs completed in the run's checkpoint: 0 if none, 'damaged' if it does not verify."""
    if not (run_dir / "checkpoint.pt").exists():
        return 0
    try:
        return int(load_checkpoint(run_dir / "checkpoint.pt")["trainer"]["epoch"])
    except CheckpointError:
        return "damaged"


def kill_and_resume(tmp_path: Path, kills: int, stage1: int, stage2: int) -> None:
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    line = timed_reference(small_run_args(ref_dir, stage1=stage1, stage2=stage2), tmp_path, ref_dir)
    rng = random.Random(KILL_SEED + kills)
    log = tmp_path / "killed.stderr"
    history: list[dict] = []
    seen_tmp: set[str] = set()
    interrupted = 0
    for i in range(kills):
        # Uniform over what is left of this process's life after startup: the last second of loading and
        # data generation, the epochs still to run, evaluation and output writing.
        done = checkpoint_epoch(run_dir) if run_dir.exists() else 0
        left = max(stage1 + stage2 - int(done), 0) * line.epoch + line.tail
        delay = line.train_start + rng.uniform(-1.0, left)
        args = small_run_args(run_dir, stage1=stage1, stage2=stage2) + (["--resume"] if i else [])
        proc = start(args, tmp_path, log)
        try:
            status = proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            status = proc.wait()
            interrupted += status == -signal.SIGKILL
        state = checkpoint_epoch(run_dir)
        history.append({"kill_at_s": round(delay, 2), "exit": status, "checkpoint_epoch": state})
        seen_tmp |= set(tmp_files(run_dir)) if run_dir.exists() else set()
        if state == "damaged":
            pytest.xfail(f"kill {i} landed between checkpoint.pt and its .sha256: the known bug of "
                         f"test_crash_window_between_checkpoint_and_checksum ({history})")
        assert status in (0, -signal.SIGKILL), log.read_text()
    final = run_gaussea(small_run_args(run_dir, stage1=stage1, stage2=stage2) + ["--resume"], cwd=tmp_path)
    assert final.returncode == 0, final.stderr
    print(f"reference {line}; kill points: {history}")
    assert interrupted >= 1, f"no kill interrupted the run: {history}"
    assert_same_result(run_dir, ref_dir)
    assert_outputs_parse(run_dir)
    ref_losses, losses = log_losses(ref_dir), log_losses(run_dir)
    assert all(losses[e] == ref_losses[e] for e in losses), "a resumed epoch computed different losses"
    leftovers = set(tmp_files(run_dir))
    assert leftovers <= seen_tmp, f"temporary files written after the last kill were left: {leftovers - seen_tmp}"
    if leftovers:
        warnings.warn(f"stale temp files of killed writes remain: {sorted(leftovers)} "
                      "(see test_stale_temp_files_are_cleaned_on_resume)", stacklevel=1)


def test_sigkill_at_random_points_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, FAST_KILLS, stage1=5, stage2=5)


@pytest.mark.slow
def test_sigkill_many_points_slow(tmp_path: Path) -> None:
    kill_and_resume(tmp_path, SLOW_KILLS, stage1=8, stage2=8)


# -------------------------------------------------------------------- write windows, deterministic


class Killed(BaseException):
    """Stands in for SIGKILL inside the process: not an Exception, so nothing on the way catches it."""


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("crash") / "reference"
    run(small_config(), run_dir, keep_checkpoint=True)  # the damaged-checkpoint tests below damage its checkpoint
    return run_dir


KILL_EPOCH = 3  # the last stage-1 epoch: resuming must also get the stage switch right
WINDOWS = {  # (the write, die before or after it); "after the log" is "before the next checkpoint"
    "before-checkpoint": ("checkpoint.pt", "before"),
    "checkpoint-written-checksum-not": ("checkpoint.pt", "after"),
    "checksum-written-log-not": ("checkpoint.pt.sha256", "after"),
}


def die_in_window(monkeypatch: pytest.MonkeyPatch, window: str) -> None:
    """Make the KILL_EPOCH-th checkpoint save die at ``window`` (see WINDOWS)."""
    target, when = WINDOWS[window]
    calls: dict[str, int] = {}

    def wrap(real):
        def write(path, data) -> None:
            name = Path(path).name
            calls[name] = calls.get(name, 0) + 1
            hit = name == target and calls[name] == KILL_EPOCH
            if hit and when == "before":
                raise Killed(window)
            real(path, data)
            if hit:
                raise Killed(window)
        return write

    monkeypatch.setattr(gaussea.checkpoint, "atomic_write_bytes", wrap(gaussea.checkpoint.atomic_write_bytes))
    monkeypatch.setattr(gaussea.checkpoint, "atomic_write_text", wrap(gaussea.checkpoint.atomic_write_text))
    monkeypatch.setattr(gaussea.training.checkpointing, "atomic_write_text",
                        wrap(gaussea.training.checkpointing.atomic_write_text))


def crash_then_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: str) -> Path:
    run_dir = tmp_path / "run"
    with monkeypatch.context() as m:
        die_in_window(m, window)
        with pytest.raises(Killed):
            run(small_config(), run_dir)
    assert not (run_dir / "metrics.json").exists()
    run(small_config(), run_dir, resume=True)
    return run_dir


@pytest.mark.parametrize("window", ["before-checkpoint", "checksum-written-log-not"])
def test_crash_window_resumes_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, window: str,
                                           reference_run: Path) -> None:
    run_dir = crash_then_resume(tmp_path, monkeypatch, window)
    assert_same_result(run_dir, reference_run)
    assert_outputs_parse(run_dir)


def test_crash_window_between_checkpoint_and_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      reference_run: Path) -> None:
    run_dir = crash_then_resume(tmp_path, monkeypatch, "checkpoint-written-checksum-not")
    assert_same_result(run_dir, reference_run)


def test_train_log_complete_after_crash_between_checkpoint_and_log(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = crash_then_resume(tmp_path, monkeypatch, "checksum-written-log-not")
    assert sorted(log_losses(run_dir)) == list(range(1, 7))


def test_stale_temp_files_are_cleaned_on_resume(tmp_path: Path, reference_run: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    (run_dir / ".checkpoint.pt.k1ll3d_.tmp").write_bytes(b"half a checkpoint")
    (run_dir / "split" / ".test_links.x9_a2b.tmp").write_bytes(b"L:e000")
    run(small_config(), run_dir, resume=True)
    assert tmp_files(run_dir) == []


# --------------------------------------------------------------------------------- damaged checkpoints


def damaged_copy(tmp_path: Path, reference_run: Path, how: str) -> Path:
    run_dir = tmp_path / how
    shutil.copytree(reference_run, run_dir)
    ckpt = run_dir / "checkpoint.pt"
    data = ckpt.read_bytes()
    if how == "truncated":
        ckpt.write_bytes(data[: len(data) // 3])
    elif how == "flipped":
        ckpt.write_bytes(data[:1000] + bytes([data[1000] ^ 0x01]) + data[1001:])
    elif how == "no-checksum":
        (run_dir / "checkpoint.pt.sha256").unlink()
    elif how == "empty":
        ckpt.write_bytes(b"")
    return run_dir


@pytest.mark.parametrize("how", ["truncated", "flipped", "no-checksum", "empty"])
def test_damaged_checkpoint_resume_exits_2_naming_it(tmp_path: Path, reference_run: Path, how: str) -> None:
    run_dir = damaged_copy(tmp_path, reference_run, how)
    status, _, err = cli_in_process(["run", "--out", str(run_dir), "--resume"])
    assert status == 2
    line = assert_one_line_error(err, "checkpoint.pt")
    assert str(run_dir) in line


def test_damaged_checkpoint_resume_subprocess(tmp_path: Path, reference_run: Path) -> None:
    """The same through a real interpreter: exit status 2, one stderr line, no traceback."""
    run_dir = damaged_copy(tmp_path, reference_run, "truncated")
    proc = run_gaussea(["run", "--out", str(run_dir), "--resume", "--threads", "1"], cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, str(run_dir / "checkpoint.pt"), "checksum mismatch")


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_code_running_checkpoint_with_valid_checksum_is_refused(tmp_path: Path, reference_run: Path) -> None:
    """Someone who can write both files still cannot run code: torch.load(weights_only=True) refuses it."""
    run_dir = damaged_copy(tmp_path, reference_run, "evil")
    marker = tmp_path / "pwned"
    plant_evil_checkpoint(run_dir, marker)
    status, _, err = cli_in_process(["run", "--out", str(run_dir), "--resume"])
    assert status == 2
    assert err.startswith(f"gaussea: error: {run_dir / 'checkpoint.pt'}: unreadable checkpoint")
    assert "Traceback" not in err
    assert not marker.exists()


def plant_evil_checkpoint(run_dir: Path, marker: Path) -> None:
    buf = io.BytesIO()
    torch.save({"model": _Payload(marker)}, buf)
    (run_dir / "checkpoint.pt").write_bytes(buf.getvalue())
    (run_dir / "checkpoint.pt.sha256").write_text(sha256_bytes(buf.getvalue()) + "\n", encoding="utf-8")


def test_refused_checkpoint_message_is_one_line(tmp_path: Path, reference_run: Path) -> None:
    run_dir = damaged_copy(tmp_path, reference_run, "evil")
    plant_evil_checkpoint(run_dir, tmp_path / "pwned")
    status, _, err = cli_in_process(["run", "--out", str(run_dir), "--resume"])
    assert status == 2
    assert_one_line_error(err, "checkpoint.pt", "unreadable checkpoint")


# ------------------------------------------------------------------------------ failing late = losing work


def test_empty_test_split_refused_before_training(tmp_path: Path, reference_run: Path) -> None:
    split_dir = tmp_path / "split"
    shutil.copytree(reference_run / "split", split_dir)
    (split_dir / "test_links").write_bytes(b"")
    cfg = small_config()
    cfg.data.split_dir = str(split_dir)
    with pytest.raises(DataError, match="test_links"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
