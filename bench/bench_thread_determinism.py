"""Benchmark: how far the torch thread count moves the results of ``gaussea run`` (docs/guarantees.md's claim).

Why: torch splits a reduction (a sum over a batch, a matrix product) into one chunk per thread and adds the chunks'
partial sums, so the thread count decides the order of the float additions and with it the last bits of every
gradient. Training amplifies those bits over thousands of steps; the question is by how much on the benchmark
a user runs first, and whether runs on the *same* thread count are bit-identical.

Each run is a child process ``python -m gaussea run --threads T --no-progress --out DIR`` (the synthetic
benchmark with every default unless extra arguments are given), run one after the other so they do not compete
for the cores. Recorded per run: test metrics in both candidate modes, the thread count the run's own provenance
records, and a sha256 over the saved embedding arrays (the arrays' bytes, not the ``.npz`` file, whose zip
headers hold a timestamp). Two runs are "bit-identical" when those hashes and the metrics agree.

    python bench/bench_thread_determinism.py --threads 1,1,2,2 --out bench/results/threads/synthetic-default.json
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed_common import REPO, emit_report, git_revision, load_average, machine, run_child  # noqa: E402

from gaussea.metrics_layout import split_results  # noqa: E402
from gaussea.run_files import RunDirectory  # noqa: E402


def embeddings_sha256(path: Path) -> str:
    """sha256 over every array of an ``.npz`` (name, dtype, shape and bytes, in name order)."""
    digest = hashlib.sha256()
    with np.load(path, allow_pickle=False) as z:
        for name in sorted(z.files):
            arr = np.ascontiguousarray(z[name])
            digest.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
            digest.update(arr.tobytes())
    return digest.hexdigest()


def run_once(threads: int, out_dir: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "gaussea", "run", "--threads", str(threads), "--no-progress", "--overwrite",
           "--out", str(out_dir), *extra]
    load_before = load_average()
    child = run_child(cmd, cwd=REPO)
    if child["returncode"] != 0:
        raise RuntimeError(f"threads={threads} failed ({child['returncode']}):\n{child['stderr'][-3000:]}")
    files = RunDirectory(out_dir)
    metrics = files.read_metrics()
    test = {mode: {k: m[k] for k in ("hits@1", "hits@10", "mrr")} for mode, m in split_results(metrics).items()}
    return {"threads": threads, "command": " ".join(cmd[1:]), "wall_s": round(child["wall_s"], 1),
            "recorded_torch_threads": metrics["provenance"]["machine"]["torch_threads"], "test": test,
            "model": metrics.get("model"), "train_seconds": metrics.get("train_seconds"),
            "peak_rss_mib": metrics.get("peak_rss_mib"),
            "variance_by_corruption": metrics.get("variance_by_corruption"),
            "embeddings_sha256": embeddings_sha256(files.embeddings_path),
            "load_avg_before": load_before, "load_avg_after": load_average()}


def compare(runs: list[dict]) -> dict:
    """Per thread count run more than once: all runs bit-identical or not; over all runs (any thread count): the
    spread (max - min) of each test metric."""
    out: dict = {"same_threads_bit_identical": {}, "spread_over_runs": {}}
    by_threads: dict[int, list[dict]] = {}
    for r in runs:
        by_threads.setdefault(r["threads"], []).append(r)
    for t, group in by_threads.items():
        if len(group) > 1:
            first = group[0]
            out["same_threads_bit_identical"][str(t)] = all(
                g["embeddings_sha256"] == first["embeddings_sha256"] and g["test"] == first["test"] for g in group)
    for mode in runs[0]["test"] if runs else ():
        for key in ("hits@1", "mrr"):
            values = [r["test"][mode][key] for r in runs]
            out["spread_over_runs"][f"{mode}/{key}"] = round(max(values) - min(values), 6)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,1,2", help="comma list of thread counts, one run each, in order")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("extra", nargs="*", help="further `gaussea run` arguments, after --")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gaussea-threads-"))
    runs = []
    try:
        for i, threads in enumerate(int(t) for t in args.threads.split(",")):
            runs.append(run_once(threads, workdir / f"run{i}", list(args.extra)))
            r = runs[-1]
            print(f"threads={threads}: test H@1 {r['test']['test']['hits@1']:.4f} ({r['wall_s']} s)", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = {"benchmark": "thread_determinism", "revision": git_revision(), "machine": machine(),
              "settings": {"threads": args.threads, "extra_args": list(args.extra)},
              "runs": runs, "summary": compare(runs)}
    emit_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
