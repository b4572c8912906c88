"""Helpers shared by the reliability tests: running the CLI, listing folder trees, small run settings."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from gaussea.cli import main as cli_main
from gaussea.config import RunConfig

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# A run small enough to finish in a few seconds on a loaded 2-core machine but with every modality, both
# stages and a checkpoint per epoch: what the crash, confinement and determinism tests train.
SMALL_ENTITIES = 300


def small_run_args(out: str | Path, *, stage1: int = 3, stage2: int = 3, seed: int = 0,
                   one_thread: bool = True) -> list[str]:
    """``gaussea run`` arguments for the small synthetic run.

    ``one_thread`` (for subprocesses) keeps the run polite on a shared 2-core machine; in process it would
    change torch's thread count for the rest of the test session, so in-process callers pass False.
    """
    args = [
        "run", "--out", str(out), "--set", f'data.options={{"num_entities": {SMALL_ENTITIES}}}',
        "--stage1-epochs", str(stage1), "--stage2-epochs", str(stage2), "--seed", str(seed),
        "--set", "train.checkpoint_every=1", "--no-progress",
    ]
    return args + (["--threads", "1"] if one_thread else [])


def small_config(seed: int = 0, stage1: int = 3, stage2: int = 3) -> RunConfig:
    """The in-process twin of :func:`small_run_args`; use with :func:`torch_threads_restored`."""
    cfg = RunConfig()
    cfg.data.options = {"num_entities": SMALL_ENTITIES}
    cfg.train.stage1_epochs, cfg.train.stage2_epochs = stage1, stage2
    cfg.train.seed = seed
    cfg.train.checkpoint_every = 1
    cfg.train.progress = False
    cfg.train.threads = 1  # bit-reproducible (see test_determinism.py) and fast on a loaded machine
    return cfg


@pytest.fixture(scope="module", autouse=True)
def torch_threads_restored() -> Iterator[None]:
    """Runs with ``train.threads=1`` call ``torch.set_num_threads(1)`` process-wide; undo that after the
    module so other test modules see torch's default. Import it into a test module to activate it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for ``python -m gaussea``: this checkout first on the path, bytecode not written."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def gaussea_cmd(args: list[str]) -> list[str]:
    return [PYTHON, "-m", "gaussea", *args]


def run_gaussea(args: list[str], cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m gaussea ARGS`` to completion in a fresh interpreter (real exit status and stderr)."""
    return subprocess.run(gaussea_cmd(args), cwd=cwd, env=subprocess_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def cli_in_process(args: list[str]) -> tuple[int, str, str]:
    """``gaussea.cli.main(args)`` with stdout/stderr captured: (exit status, stdout, stderr).

    Exceptions other than the ones the CLI turns into exit status 2 propagate, which is what the tests want
    to see (an escaping exception is a traceback for the user).
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_main(args)
    return status, out.getvalue(), err.getvalue()


def assert_one_line_error(stderr: str, *must_contain: str) -> str:
    """The CLI's contract for bad input: exactly one line ``gaussea: error: ...``, no traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, f"expected one error line, got:\n{stderr}"
    assert lines[0].startswith("gaussea: error: "), lines[0]
    for text in must_contain:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` (relative, POSIX) -> ``"dir"``, ``"link -> target"`` or ``"file <size>"``."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = f"file {p.stat().st_size}"
    return out


def tmp_files(root: Path) -> list[str]:
    """Leftover temporary files of atomic writes (``.NAME.XXXX.tmp``) anywhere under ``root``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.tmp"))


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# Fields of metrics.json that legitimately differ between two runs of the same configuration.
VOLATILE_METRICS = ("train_seconds", "eval_seconds", "total_seconds", "peak_rss_mib", "provenance")


def stable_metrics(metrics: dict) -> dict:
    """metrics.json without timings, memory and provenance: what must be bit-identical across runs."""
    return {k: v for k, v in metrics.items() if k not in VOLATILE_METRICS}
