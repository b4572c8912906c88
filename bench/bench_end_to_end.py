"""Benchmark: end-to-end wall time and peak RSS of ``gaussea run`` (load, split, train, evaluate, write).

Cases:

- ``fbdb-rn``: FB15K*-DB15K, 20 % training links, split 0, relational + numerical modalities, with the dataset's
  preset (the settings we recommend and report model quality with; BENCHMARKS.md) —
  ``gaussea run --preset fb15k-db15k --data-dir DIR --ratio 0.2 --split 0 --modalities r,n``. Until
  2026-11-24 this case ran the library defaults (40 + 20 epochs, batch 2048), which nobody would train FB15K*
  with: rows of JSON before that date are that setting;
- ``synthetic``: the embedded synthetic benchmark with every default (``gaussea run``).

Each run is a child process (``python -m gaussea run ... --threads T --no-progress``) whose wall time and peak
RSS come from ``os.wait4`` (that process alone). Its test metrics (H@1, MRR in both candidate modes) and its own
train / eval seconds come from the run directory's ``metrics.json``, so a speed change that costs accuracy is
visible next to the time. Runs take minutes each: ``--repeats`` defaults to 1. Run directories go to a
temporary folder and are deleted unless ``--keep DIR``.

    python bench/bench_end_to_end.py --data-dir /work/shared/data/mmkg-standin --threads 1
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed_common import REPO, emit_report, load_average, run_child  # noqa: E402

from gaussea.metrics_layout import split_results  # noqa: E402
from gaussea.run_files import RunDirectory  # noqa: E402

CASES = ("synthetic", "fbdb-rn")
DEFAULT_DATA_DIR = "/work/shared/data/mmkg-standin"
TARGET_SECONDS, TARGET_RSS_MIB = 300.0, 2048.0


def case_args(case: str, data_dir: str) -> list[str]:
    if case == "fbdb-rn":
        return ["--preset", "fb15k-db15k", "--data-dir", data_dir, "--ratio", "0.2", "--split", "0",
                "--modalities", "r,n"]
    if case == "synthetic":
        return []
    raise ValueError(f"unknown case {case!r}; known: {', '.join(CASES)}")


def _test_metrics(metrics: dict) -> dict:
    out = {}
    for mode, m in split_results(metrics).items():
        out[mode] = {k: m.get(k) for k in ("hits@1", "hits@10", "mrr", "mr", "num_queries", "num_candidates")}
    return out


def run_case(case: str, data_dir: str, threads: int, workdir: Path, extra: list[str], repeat: int) -> dict:
    out_dir = workdir / f"{case}-{repeat}"
    cmd = [sys.executable, "-m", "gaussea", "run", *case_args(case, data_dir), "--threads", str(threads),
           "--no-progress", "--overwrite", "--out", str(out_dir), *extra]
    load_before = load_average()
    child = run_child(cmd, cwd=REPO)
    if child["returncode"] != 0:
        raise RuntimeError(f"{case} failed ({child['returncode']}):\n{child['stderr'][-3000:]}")
    metrics = RunDirectory(out_dir).read_metrics()
    return {"case": case, "repeat": repeat, "command": " ".join(cmd), "wall_s": round(child["wall_s"], 2),
            "peak_rss_mib": round(child["peak_rss_mib"], 1), "user_s": round(child["user_s"], 2),
            "system_s": round(child["system_s"], 2), "train_seconds": metrics.get("train_seconds"),
            "eval_seconds": metrics.get("eval_seconds"), "test": _test_metrics(metrics),
            "load_avg_before": load_before, "load_avg_after": load_average()}


def collect(data_dir: str = DEFAULT_DATA_DIR, *, cases: tuple[str, ...] = CASES, threads: int = 1,
            repeats: int = 1, extra: tuple[str, ...] = (), keep: str | None = None) -> dict:
    """Run every case ``repeats`` times (sequentially) and summarise wall time and peak RSS by median."""
    workdir = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="gaussea-e2e-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs = []
    try:
        for case in cases:
            for rep in range(repeats):
                try:
                    runs.append(run_case(case, data_dir, threads, workdir, list(extra), rep))
                except RuntimeError as exc:  # e.g. killed from outside: keep the other cases' figures
                    runs.append({"case": case, "repeat": rep, "error": str(exc)[:2000]})
                    print(f"{case}#{rep}: FAILED {str(exc)[:300]}", file=sys.stderr)
                    continue
                r = runs[-1]
                print(f"{case}#{rep}: {r['wall_s']} s, {r['peak_rss_mib']} MiB, test H@1 "
                      f"{r['test'].get('test', {}).get('hits@1')}", file=sys.stderr)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    summary = {}
    for case in cases:
        mine = [r for r in runs if r["case"] == case and "error" not in r]
        if not mine:
            summary[case] = {"error": "no successful run"}
            continue
        wall = statistics.median(r["wall_s"] for r in mine)
        rss = statistics.median(r["peak_rss_mib"] for r in mine)
        summary[case] = {"median_wall_s": round(wall, 2), "median_peak_rss_mib": round(rss, 1), "runs": len(mine)}
        if case == "fbdb-rn":
            summary[case]["meets_time_target"] = wall <= TARGET_SECONDS
            summary[case]["meets_rss_target"] = rss <= TARGET_RSS_MIB
    return {
        "benchmark": "end_to_end",
        "settings": {"data_dir": data_dir, "threads": threads, "repeats": repeats, "extra_args": list(extra)},
        "runs": runs,
        "summary": summary,
        "target": f"fbdb-rn (FB15K*-DB15K 20 %, R+N) in <= {TARGET_SECONDS:.0f} s with peak RSS <= "
                  f"{TARGET_RSS_MIB / 1024:.0f} GiB, accuracy unchanged",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--keep", help="keep the run directories under this folder")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("extra", nargs="*", help="further `gaussea run` arguments, after --")
    args = ap.parse_args(argv)
    report = collect(args.data_dir, cases=tuple(args.cases.split(",")), threads=args.threads,
                     repeats=args.repeats, extra=tuple(args.extra), keep=args.keep)
    emit_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
