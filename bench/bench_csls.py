"""Benchmark: CSLS test-mode evaluation, chunked (gaussea.evaluate) vs a naive full-matrix torch version.

Setting: n x n test links (default 10,277: the test set of MMKG FB15K-DB15K's 12,846 links at a 20% training
split), random unit vectors with d = 100 and 300, targets = noisy copies of the sources (gold cosine near the
top of the random ones, so the metrics are mid-range), CSLS k = 10, ``torch.set_num_threads(2)``. Each
(d, method) runs in a fresh subprocess so its peak RSS (``resource.getrusage``) is its own; the timing is the
median of ``--runs`` runs after one untimed warm-up. Both methods must report the same metrics.

    python bench/bench_csls.py            # print JSON
    python bench/bench_csls.py --write    # ... and write bench/results/csls_<date>.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
METHODS = ("chunked", "full")


def _data(n: int, d: int, seed: int = 0):
    import torch

    # Gold cosine ~ the expected largest cosine of a random unit vector to n others (sqrt(2 ln n / d)), so
    # Hits@1 is mid-range rather than trivially 0 or 1.
    gold_cos = min((2 * math.log(n) / d) ** 0.5, 0.99)
    noise = (1 / gold_cos**2 - 1) ** 0.5
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)
    y = torch.nn.functional.normalize(x + torch.randn(n, d, generator=g) * (noise / d**0.5), dim=1)
    return x, y


def naive_full(x, y, k: int = 10) -> dict[str, float]:
    """The textbook version: the whole n x n CSLS matrix in memory, then ranks of the diagonal."""
    sim = x @ y.T
    r_t = sim.topk(k, dim=1).values.mean(1)
    r_s = sim.topk(k, dim=0).values.mean(0)
    csls = 2 * sim - r_t[:, None] - r_s[None, :]
    gold = csls.diagonal().unsqueeze(1)
    ranks = (1.0 + (csls > gold).sum(1).double() + (csls >= gold).sum(1).double()) / 2
    return {"hits@1": float((ranks <= 1).double().mean()), "hits@10": float((ranks <= 10).double().mean()),
            "mr": float(ranks.mean()), "mrr": float((1 / ranks).mean())}


def chunked(x, y, k: int = 10) -> dict[str, float]:
    import torch

    from gaussea.evaluate import Embeddings, evaluate_alignment

    pairs = torch.arange(len(x)).unsqueeze(1).expand(-1, 2)
    res = evaluate_alignment(Embeddings(x), Embeddings(y), pairs, mode="test", csls_k=k, ks=(1, 10))
    return {key: res[key] for key in ("hits@1", "hits@10", "mr", "mrr")}


def worker(method: str, n: int, d: int, runs: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    x, y = _data(n, d)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fn = chunked if method == "chunked" else naive_full
    metrics = fn(x, y)  # warm-up (also imports, allocator growth)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(x, y)
        times.append(time.perf_counter() - t0)
    return {"method": method, "d": d, "median_s": round(statistics.median(times), 4),
            "times_s": [round(t, 4) for t in times],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_eval_mb": round(rss_before, 1), "metrics": metrics}


def git_revision() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_277)
    ap.add_argument("--dims", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="write bench/results/csls_<date>.json")
    ap.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--d", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.n, args.d, args.runs, args.threads)))
        return 0

    import numpy
    import torch

    load_before = os.getloadavg()[0]
    results = []
    for d in args.dims:
        for method in METHODS:
            cmd = [sys.executable, __file__, "--worker", method, "--d", str(d), "--n", str(args.n),
                   "--runs", str(args.runs), "--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"d={d} {method}: {results[-1]['median_s']} s", file=sys.stderr)
    speedup = {}
    for d in args.dims:
        by = {r["method"]: r for r in results if r["d"] == d}
        a, b = by["chunked"]["metrics"], by["full"]["metrics"]
        if any(abs(a[key] - b[key]) > 1e-6 for key in a):
            raise SystemExit(f"d={d}: chunked and full metrics differ: {a} vs {b}")
        speedup[str(d)] = round(by["full"]["median_s"] / by["chunked"]["median_s"], 3)
    today = dt.date.today().isoformat()
    report = {
        "benchmark": "csls_test_mode_evaluation",
        "date": today,
        "n": args.n,
        "csls_k": 10,
        "runs": args.runs,
        "warmup_runs": 1,
        "threads": args.threads,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "machine": {"node": platform.node(), "cpu_count": os.cpu_count(), "processor": platform.processor(),
                    "platform": platform.platform()},
        # The machine may be shared: a load above the thread count makes the timings noisy and slow.
        "load_avg_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "git_revision": git_revision(),
        "results": results,
        "speedup_full_over_chunked": speedup,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.write:
        path = HERE / "results" / f"csls_{today}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
