"""Probe: how often does a two-node loopback torchrun launch of ``gaussea run`` fail at process exit?

Repeats the launch of tests/training/test_distributed.py::test_two_node_rendezvous_matches_one_node (two torchrun
agents of one worker each on 127.0.0.1, the test's tiny synthetic config) and records, per launch, each node's exit
code, whether a worker aborted with "terminate called without an active exception", and whether a node was still
running at the timeout (torchrun's agent then waits out its 300 s exit barrier for the dead peer). ``--src DIR``
runs the gaussea source tree in DIR instead of the installed one (e.g. a worktree of an older revision), so the
same script measures before and after a change.

    python bench/probes/torchrun_exit.py --launches 20 --out bench/results/probes/torchrun_exit-after.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gaussea.distributed import free_port
from gaussea.ioutil import atomic_write_text
from gaussea.provenance import provenance

ABORT = "terminate called without an active exception"


def tiny_config(tree: Path, env: dict) -> dict:
    """The config of ``tree``'s test_distributed.py (tests/training/, or tests/ in older trees), built by the gaussea
    the workers will run (``env``), so the probe launches exactly what that revision's CI does (a newer config may
    hold keys an older one lacks)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); from test_distributed import _tiny_config; "
            "print(json.dumps(_tiny_config().to_dict()))")
    folder = tree / "tests" / "training"
    folder = folder if (folder / "test_distributed.py").exists() else tree / "tests"
    out = subprocess.run([sys.executable, "-c", code, str(folder)], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def launch(config: Path, out: Path, env: dict, timeout: float) -> dict:
    port = str(free_port())
    procs, errs = [], []
    start = time.perf_counter()
    for node in range(2):
        err = (out / f"node{node}.err").open("w")
        errs.append(err)
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
               "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port,
               "-m", "gaussea", "run", "--config", str(config), "--out", str(out / f"node{node}")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=out))
    deadline = start + timeout
    codes: list[int | str] = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(0.0, deadline - time.perf_counter())))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            codes.append("timeout")
    for err in errs:
        err.close()
    aborted = [ABORT in (out / f"node{node}.err").read_text(errors="replace") for node in range(2)]
    record = {"exit_codes": codes, "worker_aborted": aborted, "seconds": round(time.perf_counter() - start, 1)}
    if any(c != 0 for c in codes):  # keep the first lines of each node's stderr: why it failed
        record["stderr_heads"] = [(out / f"node{node}.err").read_text(errors="replace")[:300] for node in range(2)]
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds before a launch counts as hung")
    parser.add_argument("--src", type=Path, help="a gaussea source tree (its src/ goes first on PYTHONPATH)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join([str(args.src.resolve() / "src"), env.get("PYTHONPATH", "")])
    launches = []
    with tempfile.TemporaryDirectory(prefix="gaussea-torchrun-exit-") as tmp:
        config = Path(tmp) / "config.json"
        tree = args.src.resolve() if args.src else Path(__file__).resolve().parents[2]
        config.write_text(json.dumps(tiny_config(tree, env)))
        for i in range(args.launches):
            out = Path(tmp) / f"launch{i}"
            out.mkdir()
            launches.append(launch(config, out, env, args.timeout))
            print(i, launches[-1], flush=True)
    failed = sum(any(c != 0 for c in r["exit_codes"]) for r in launches)
    record = {"probe": "torchrun_exit", "src": str(args.src) if args.src else "installed",
              "launches": launches, "failed_launches": failed,
              "aborted_launches": sum(any(r["worker_aborted"]) for r in launches),
              "hung_launches": sum("timeout" in r["exit_codes"] for r in launches),
              **provenance([sys.executable, *sys.argv])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
    print(f"{failed} of {len(launches)} launches failed; wrote {args.out}")


if __name__ == "__main__":
    main()
