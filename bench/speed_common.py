"""Helpers shared by the speed benchmarks: machine description, load average, child processes with peak RSS.

Every speed figure is measured in a child process of its own, so that its peak RSS (``ru_maxrss`` of that child)
is its own and one measurement's allocator state, imports or thread pools cannot leak into the next.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gaussea import provenance
from gaussea.provenance import peak_rss_mib  # noqa: F401 - re-exported for the bench scripts

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SPEED_RESULTS = HERE / "results" / "speed"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: above the core count, timings are inflated by other processes."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def git_revision() -> str:
    """HEAD's commit, with ``+dirty`` when tracked files differ from it (the measured code is then not HEAD)."""
    return provenance.git_revision(REPO)


def machine() -> dict[str, object]:
    import numpy
    import torch

    return {
        "node": platform.node(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": ram_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def run_child(cmd: list[str], *, timeout: float | None = None, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> dict[str, object]:
    """Run ``cmd``; return its wall time, peak RSS in MiB (of that child alone), exit code and output.

    ``os.wait4`` returns the child's own rusage, so earlier or concurrent children do not mix in (the
    ``RUSAGE_CHILDREN`` maximum is the largest child so far, whichever it was). Output goes to temporary files
    rather than pipes, so that nothing but ``wait4`` reaps the child.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=cwd)
        timer = threading.Timer(timeout, proc.kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"returncode": proc.returncode, "wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024.0,
                "user_s": usage.ru_utime, "system_s": usage.ru_stime, "stdout": out.read(), "stderr": err.read()}


def last_json_line(text: str) -> dict:
    """The last line of ``text`` that parses as a JSON object (workers print their result last)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON result in output: {text[-500:]}")


def emit_report(report: dict, out: str | None) -> None:
    """Print a benchmark's JSON report and, when asked, also write it to ``out``."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        Path(out).write_text(text + "\n")


def python_for_peers() -> str:
    """The interpreter to run peer libraries (PyKEEN, faiss) with: ``$GAUSSEA_BENCH_PYTHON`` or this one."""
    return os.environ.get("GAUSSEA_BENCH_PYTHON", sys.executable)
