"""Benchmark: CSLS retrieval at FB15K*-DB15K sizes — our chunked evaluator vs a full-matrix torch reference vs faiss.

Sizes (d = 100, float32, CSLS k = 10, cosine):

- ``test`` mode: 10,277 test sources ranked against their 10,277 test targets (the test links of MMKG
  FB15K-DB15K's 12,846 links at a 20 % training split) — the literature's protocol;
- ``all`` mode: the same 10,277 queries ranked against *every* DB15K entity (12,842 targets), with ``r_S``
  taken among every FB15K entity (14,787 sources).

Embeddings are random unit vectors; gold targets are noisy copies of their sources (gold cosine near the top
of the random ones, so the metrics are mid-range and exact ties do not occur). Methods:

- ``chunked``: ``gaussea.evaluate.evaluate_alignment`` (chunked, exact realistic ranks: H@k, MR, MRR);
- ``chunked@REV``: the same function at git revision ``REV`` (``--baseline-rev``), extracted to a temporary
  directory — the before/after comparison of an optimisation, on the same inputs;
- ``full``: the textbook version, the whole ``n x m`` similarity and CSLS matrices in memory;
- ``faiss``: exact inner-product search (``IndexFlatIP``): ``r_S`` by a 10-NN search of the targets among the
  sources, then the CSLS top-10 of each query by a 10-NN search with augmented vectors ``[2x, -1] . [y, r_S]``.
  A k-NN index gives the top 10 only, so faiss reports H@1, H@10 and MRR truncated at 10 (no MR) — the
  retrieval task it is built for; ours computes every gold rank.

Every (mode, method, threads) runs in a fresh child process: its peak RSS (``ru_maxrss``) is its own, and
``rss_before_eval_mib`` (after making the data) shows what the evaluation itself adds. Timing: one untimed
warm-up, then the median of ``--runs`` runs. All methods must report the same H@1 and H@10 (and the exact ones
the same MR and MRR), or the benchmark fails.

    python bench/bench_csls.py                          # print JSON
    python bench/bench_csls.py --out results.json       # ... and write it
    python bench/bench_csls.py --write                  # ... or record it in bench/results/speed/
    GAUSSEA_BENCH_PYTHON=/work/bench-venv/bin/python python bench/bench_csls.py   # faiss from the bench venv
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed_common import REPO, last_json_line, load_average, peak_rss_mib, run_child  # noqa: E402

METHODS = ("chunked", "full", "faiss")
MODES = {"test": (10_277, 10_277, 10_277), "all": (14_787, 12_842, 10_277)}  # sources, targets, queries
CSLS_K = 10
EXACT_KEYS = ("hits@1", "hits@10", "mr", "mrr")
TOP10_KEYS = ("hits@1", "hits@10")


def make_data(num_sources: int, num_targets: int, queries: int, d: int, seed: int = 0):
    """Unit vectors; test pair ``i`` is (source ``i``, target ``i``) with the target a noisy copy of the source."""
    import torch

    # Gold cosine ~ the expected largest cosine of a random unit vector to n others (sqrt(2 ln n / d)), so
    # Hits@1 is mid-range rather than trivially 0 or 1.
    gold_cos = min((2 * math.log(num_targets) / d) ** 0.5, 0.99)
    noise = (1 / gold_cos**2 - 1) ** 0.5
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(num_sources, d, generator=g), dim=1)
    y = torch.nn.functional.normalize(torch.randn(num_targets, d, generator=g), dim=1)
    y[:queries] = torch.nn.functional.normalize(x[:queries] + torch.randn(queries, d, generator=g)
                                                * (noise / d**0.5), dim=1)
    return x, y


def _metrics_from_ranks(ranks, keys=EXACT_KEYS) -> dict[str, float]:
    out = {"hits@1": float((ranks <= 1).double().mean()), "hits@10": float((ranks <= 10).double().mean()),
           "mr": float(ranks.double().mean()), "mrr": float((1 / ranks.double()).mean())}
    return {k: out[k] for k in keys}


def run_full(x, y, queries: int, mode: str, k: int = CSLS_K) -> dict[str, float]:
    """The textbook version: the whole similarity and CSLS matrices, then the realistic rank of each gold."""
    import torch

    src = x[:queries] if mode == "test" else x
    tgt = y[:queries] if mode == "test" else y
    sim = src @ tgt.T
    r_s = sim.topk(k, dim=0).values.mean(0)
    r_t = sim[:queries].topk(k, dim=1).values.mean(1)
    csls = 2 * sim[:queries] - r_t[:, None] - r_s[None, :]
    gold = csls.diagonal().unsqueeze(1)
    ranks = (1.0 + (csls > gold).sum(1).double() + (csls >= gold).sum(1).double()) / 2
    del sim, csls
    return _metrics_from_ranks(torch.as_tensor(ranks))


def run_chunked(x, y, queries: int, mode: str, k: int = CSLS_K) -> dict[str, float]:
    import torch

    from gaussea.evaluate import Embeddings, evaluate_alignment

    pairs = torch.arange(queries).unsqueeze(1).expand(-1, 2)
    res = evaluate_alignment(Embeddings(x), Embeddings(y), pairs, mode=mode, csls_k=k, ks=(1, 10))
    return {key: res[key] for key in EXACT_KEYS}


def run_faiss(x, y, queries: int, mode: str, k: int = CSLS_K) -> dict[str, float]:
    import faiss
    import numpy as np
    import torch

    src = (x[:queries] if mode == "test" else x).numpy()
    tgt = (y[:queries] if mode == "test" else y).numpy()
    sources = faiss.IndexFlatIP(src.shape[1])
    sources.add(src)
    r_s = sources.search(tgt, k)[0].mean(1, dtype=np.float32)
    candidates = faiss.IndexFlatIP(src.shape[1] + 1)
    candidates.add(np.ascontiguousarray(np.concatenate([tgt, r_s[:, None]], 1)))
    q = np.ascontiguousarray(np.concatenate([2 * src[:queries], -np.ones((queries, 1), np.float32)], 1))
    ids = candidates.search(q, 10)[1]
    hit = ids == np.arange(queries)[:, None]
    ranks = np.where(hit.any(1), hit.argmax(1) + 1, np.inf)  # rank beyond 10: unknown, counts 0 in MRR@10
    return _metrics_from_ranks(torch.as_tensor(ranks), TOP10_KEYS) | {
        "mrr@10": float(np.where(np.isfinite(ranks), 1 / ranks, 0).mean())}


def worker(method: str, mode: str, d: int, runs: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    if method == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
    num_sources, num_targets, queries = MODES[mode]
    x, y = make_data(num_sources, num_targets, queries, d)
    rss_before = peak_rss_mib()
    fn = {"chunked": run_chunked, "full": run_full, "faiss": run_faiss}[method.split("@")[0]]
    metrics = fn(x, y, queries, mode)  # warm-up (imports, allocator growth, thread pools)
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(x, y, queries, mode)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"median_s": round(statistics.median(wall), 4), "times_s": [round(t, 4) for t in wall],
            "median_cpu_s": round(statistics.median(cpu), 4), "peak_rss_mib": round(peak_rss_mib(), 1),
            "rss_before_eval_mib": round(rss_before, 1), "metrics": metrics}


def _export_revision(rev: str, where: Path) -> Path:
    """``git archive REV src`` into ``where``; returns the ``src`` directory to put first on PYTHONPATH."""
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive.stdout, check=True)
    return where / "src"


def _check_agreement(results: list[dict]) -> dict[str, bool]:
    """Every method's metrics against ``chunked``'s, per (mode, threads): exact keys must be equal."""
    out = {}
    for r in results:
        ref = next((c for c in results if c["method"] == "chunked" and c["mode"] == r["mode"]), None)
        if ref is None or r is ref:
            continue
        keys = [key for key in EXACT_KEYS if key in r["metrics"]]
        same = all(abs(r["metrics"][key] - ref["metrics"][key]) <= 1e-9 for key in keys)
        out[f"{r['mode']}/{r['method']}/t{r['threads']}"] = same
    return out


def collect(*, modes: tuple[str, ...] = tuple(MODES), methods: tuple[str, ...] = METHODS, d: int = 100,
            runs: int = 5, threads: tuple[int, ...] = (1, 2), baseline_rev: str | None = None,
            peer_python: str | None = None) -> dict:
    """Run every (mode, method, threads) in a child process; return results, ratios and the agreement check."""
    methods = tuple(methods) + ((f"chunked@{baseline_rev}",) if baseline_rev else ())
    results = []
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="gaussea-baseline-") as tmp:
        baseline_src = _export_revision(baseline_rev, Path(tmp)) if baseline_rev else None
        for mode in modes:
            for t in threads:
                for method in methods:
                    python = (peer_python or sys.executable) if method == "faiss" else sys.executable
                    env = dict(os.environ)
                    if method.startswith("chunked@"):
                        env["PYTHONPATH"] = os.pathsep.join([str(baseline_src), env.get("PYTHONPATH", "")])
                    cmd = [python, __file__, "--worker", method, "--mode", mode, "--d", str(d), "--runs",
                           str(runs), "--threads", str(t)]
                    child = run_child(cmd, env=env, timeout=3600)
                    if child["returncode"] != 0:
                        if method == "faiss" and "No module named 'faiss'" in child["stderr"]:
                            results.append({"mode": mode, "method": method, "threads": t,
                                            "skipped": "faiss not installed for this interpreter"})
                            continue
                        raise RuntimeError(f"{mode}/{method} failed:\n{child['stderr'][-3000:]}")
                    res = {"mode": mode, "method": method, "threads": t, **last_json_line(child["stdout"]),
                           "child_peak_rss_mib": round(child["peak_rss_mib"], 1), "load_avg_after": load_average()}
                    results.append(res)
                    print(f"{mode} t={t} {method}: {res['median_s']} s, {res['peak_rss_mib']} MiB", file=sys.stderr)
    ok = [r for r in results if "skipped" not in r]
    agreement = _check_agreement(ok)
    ratios = {}
    for r in ok:
        ours = next((c for c in ok if c["method"] == "chunked" and c["mode"] == r["mode"]
                     and c["threads"] == r["threads"]), None)
        if ours is not None and r is not ours:
            ratios[f"{r['mode']}/t{r['threads']}/{r['method']}_over_chunked"] = round(r["median_s"] / ours["median_s"],
                                                                                      3)
    return {
        "benchmark": "csls_retrieval",
        "settings": {"modes": {m: dict(zip(("sources", "targets", "queries"), MODES[m], strict=True))
                               for m in modes},
                     "d": d, "csls_k": CSLS_K, "runs": runs, "warmup_runs": 1, "threads": list(threads),
                     "baseline_rev": baseline_rev},
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
        "results": results,
        "time_ratio_to_chunked": ratios,
        "metrics_agree": agreement,
        "target": "test mode 10,277 x 10,277 in <= 1 s",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--baseline-rev", help="also time gaussea.evaluate at this git revision (e.g. HEAD)")
    ap.add_argument("--peer-python", help="interpreter with faiss (default: $GAUSSEA_BENCH_PYTHON or this one)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--write", action="store_true",
                    help="also record it as bench/results/speed/csls_<date>.json (as run_all.py does)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=tuple(MODES), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.mode, args.d, args.runs, args.threads[0])))
        return 0
    from speed_common import git_revision, python_for_peers

    started = {"revision": git_revision(), "load": load_average()}
    report = collect(modes=tuple(args.modes.split(",")), methods=tuple(args.methods.split(",")), d=args.d,
                     runs=args.runs, threads=tuple(args.threads), baseline_rev=args.baseline_rev,
                     peer_python=args.peer_python or python_for_peers())
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.write:
        from run_all import record

        print(f"wrote {record('csls', report, [Path(sys.executable).name, *sys.argv], started)}", file=sys.stderr)
    if not all(report["metrics_agree"].values()):
        print(f"metrics differ between methods: {report['metrics_agree']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
