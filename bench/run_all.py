"""Run the speed and memory benchmarks of issue 5, keep their JSON and regenerate BENCHMARKS.md's table.

Benchmarks (each its own script, runnable alone):

- ``kg2e_throughput``: relational training triples/s, ours vs PyKEEN's KG2E (``bench_kg2e_throughput.py``);
- ``csls``: CSLS evaluation at FB15K*-DB15K sizes, ours vs a full-matrix reference vs faiss (``bench_csls.py``);
- ``end_to_end``: wall time and peak RSS of ``gaussea run`` on FB15K*-DB15K 20 % (R+N) and on the synthetic
  default (``bench_end_to_end.py``).

Each writes ``bench/results/speed/<name>_<date>.json`` with the command, date, machine (CPU model, cores, RAM),
git revision, Python / torch / numpy versions and the load average before and after (the machine may be shared:
a load above the core count inflates every time, so compare figures measured side by side). Then, from the newest
JSON of each benchmark, two documents are rewritten: the section between ``<!-- speed:begin -->`` and
``<!-- speed:end -->`` of BENCHMARKS.md gets the summary table only (one row per target, with its command,
revision and load: BENCHMARKS.md lists current figures by topic and must stay short), and
``bench/results/speed/README.md`` gets that table followed by every variant, method and repeat and the
hand-written profiles of ``notes.md`` (nothing else in BENCHMARKS.md is touched); ``--table-only`` just does that.

    python bench/run_all.py                                  # everything (the end-to-end runs take long)
    python bench/run_all.py --only kg2e_throughput,csls --repeats 5
    GAUSSEA_BENCH_PYTHON=/work/bench-venv/bin/python python bench/run_all.py   # peers from the bench venv
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import speed_common as common  # noqa: E402

BENCHES = ("kg2e_throughput", "csls", "end_to_end")
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"
BENCHMARKS_MD = common.REPO / "BENCHMARKS.md"
#: The full speed report (summary, every variant / method / repeat, the profiles), generated beside its JSON.
SPEED_README = common.SPEED_RESULTS / "README.md"
#: Hand-written analysis (what bounds a missed target, with the profile that shows it), appended to the report.
NOTES = common.SPEED_RESULTS / "notes.md"


def run_bench(name: str, args: argparse.Namespace) -> dict:
    peer = args.peer_python or common.python_for_peers()
    if name == "kg2e_throughput":
        import bench_kg2e_throughput as bench

        return bench.collect(args.data_dir, triples=args.triples, repeats=args.repeats or 3, threads=args.threads,
                             peer_python=peer)
    if name == "csls":
        import bench_csls as bench

        return bench.collect(runs=args.repeats or 5, threads=tuple(args.csls_threads), baseline_rev=args.baseline_rev,
                             peer_python=peer)
    if name == "end_to_end":
        import bench_end_to_end as bench

        return bench.collect(args.data_dir, threads=args.threads, repeats=args.e2e_repeats)
    raise ValueError(name)


def record(name: str, report: dict, command: list[str], started: dict) -> Path:
    """Write ``report`` with its provenance to ``results/speed/<name>_<date>.json``; returns the path."""
    import numpy
    import torch

    today = dt.date.today().isoformat()
    full = {
        "name": name,
        "command": " ".join(command),
        "date": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "git_revision": started["revision"],
        "machine": common.machine(),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": numpy.__version__},
        "load_avg_before": started["load"],
        "load_avg_after": common.load_average(),
        **report,
    }
    common.SPEED_RESULTS.mkdir(parents=True, exist_ok=True)
    path = common.SPEED_RESULTS / f"{name}_{today}.json"
    path.write_text(json.dumps(full, indent=2) + "\n")
    return path


def latest(name: str) -> dict | None:
    """The newest result of benchmark ``name`` (by the date in the file name, then modification time)."""
    files = sorted(common.SPEED_RESULTS.glob(f"{name}_*.json"), key=lambda p: (p.stem.rsplit("_", 1)[-1],
                                                                                 p.stat().st_mtime))
    return json.loads(files[-1].read_text()) if files else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _rev(report: dict) -> str:
    rev = report.get("git_revision", "unknown")
    return rev[:12] + ("+dirty" if rev.endswith("+dirty") else "")


def _load(report: dict) -> str:
    before, after = report.get("load_avg_before") or [], report.get("load_avg_after") or []
    return f"{before[0] if before else '?'}→{after[0] if after else '?'}"


def _tables(reports: dict[str, dict | None]) -> tuple[list[str], list[str]]:
    """The summary table (one row per target) and the detail tables, from the newest report of each benchmark."""
    lines = [
        "Generated by `bench/run_all.py` from the newest `bench/results/speed/<benchmark>_<date>.json` of each "
        "benchmark (raw figures, command, machine and load there). Medians of repeated runs measured side by "
        "side; **the machine is shared** (2 cores; the 1-minute load average before→after each benchmark is "
        "given, and anything above 2 means other processes took CPU), so absolute times are inflated and "
        "ratios measured in the same run are what to compare. `+dirty`: measured on uncommitted changes on "
        "top of that revision.",
        "",
        "| target | measured (median) | peer / reference | ratio | met | command | revision | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    tp = reports.get("kg2e_throughput")
    if tp:
        by = {r["variant"]: r for r in tp["results"]}
        peer = by.get("pykeen", {}).get("median_triples_per_s")
        for variant, label in (("ours-stage2", "variances trained"), ("ours-stage1", "stage 1, variances fixed"),
                               ("ours-stage2-lazy", "variances trained, lazy Adam"),
                               ("ours-stage1-lazy", "stage 1, lazy Adam")):
            if variant not in by:
                continue
            ours = by[variant]["median_triples_per_s"]
            ratio = tp["ratios"].get(f"{variant}/pykeen")
            met = "—" if ratio is None else ("yes" if ratio >= 2 else f"no ({ratio:.2f}x of 2x)")
            lines.append(f"| relational training >= 2x PyKEEN KG2E ({label}; t={tp['settings']['threads']}) | "
                         f"{_fmt(ours, 0)} triples/s | PyKEEN KG2E {_fmt(peer, 0)} triples/s | "
                         f"{'—' if ratio is None else f'{ratio:.2f}x'} | {met} | `{tp['command']}` | {_rev(tp)} | "
                         f"{_load(tp)} |")
        details.append("Training throughput, per variant (one repeat = one epoch over "
                       f"{tp['settings']['triples_per_repeat']:,} positives, batch {tp['settings']['batch_size']}, "
                       f"{tp['settings']['negatives']} negatives, d = {tp['settings']['dim']}):")
        details.append("")
        details.append("| variant | median triples/s | all repeats | peak RSS MiB |")
        details.append("|---|---|---|---|")
        for r in tp["results"]:
            if "skipped" in r:
                details.append(f"| {r['variant']} | skipped: {r['skipped']} | | |")
            else:
                details.append(f"| {r['variant']} | {_fmt(r['median_triples_per_s'], 0)} | "
                               f"{', '.join(_fmt(x, 0) for x in r['triples_per_s'])} | {_fmt(r['peak_rss_mib'], 0)} |")
        details.append("")
    cs = reports.get("csls")
    if cs:
        ok = [r for r in cs["results"] if "skipped" not in r]
        for r in ok:
            if r["method"] != "chunked" or r["mode"] != "test":
                continue
            peers = [p for p in ok if p["mode"] == "test" and p["threads"] == r["threads"] and p is not r]
            peer_txt = "; ".join(f"{p['method']} {_fmt(p['median_s'])} s" for p in peers) or "—"
            ratio_txt = "; ".join(f"{p['method']} {p['median_s'] / r['median_s']:.2f}x" for p in peers) or "—"
            met = "yes" if r["median_s"] <= 1.0 else f"no (+{r['median_s'] - 1.0:.2f} s)"
            lines.append(f"| CSLS test mode 10,277 x 10,277 (d = 100, k = 10) in <= 1 s (t={r['threads']}) | "
                         f"{_fmt(r['median_s'])} s ({_fmt(r['median_cpu_s'])} CPU s), peak RSS "
                         f"{_fmt(r['peak_rss_mib'], 0)} MiB | {peer_txt} | {ratio_txt} (their time / ours) | {met} "
                         f"| `{cs['command']}` | {_rev(cs)} | {_load(cs)} |")
        details.append("CSLS retrieval, every method (time: median of "
                       f"{cs['settings']['runs']} runs after a warm-up; peak RSS of the child process, with the RSS "
                       "once the data exist in brackets; faiss computes top-10 metrics only):")
        details.append("")
        details.append("| mode | threads | method | median s | CPU s | peak RSS MiB (before eval) | H@1 | H@10 | MRR |")
        details.append("|---|---|---|---|---|---|---|---|---|")
        for r in ok:
            m = r["metrics"]
            mrr = m.get("mrr", m.get("mrr@10"))
            mrr_txt = "—" if mrr is None else f"{mrr:.4f}" + ("" if "mrr" in m else " (@10)")
            details.append(f"| {r['mode']} | {r['threads']} | {r['method']} | {_fmt(r['median_s'])} | "
                           f"{_fmt(r.get('median_cpu_s'))} | {_fmt(r['peak_rss_mib'], 0)} "
                           f"({_fmt(r['rss_before_eval_mib'], 0)}) | {m['hits@1']:.4f} | {m['hits@10']:.4f} | "
                           f"{mrr_txt} |")
        agree = cs.get("metrics_agree", {})
        differ = [key for key, same in agree.items() if not same]
        details.append("")
        details.append("Metrics against `chunked` (H@1 and H@10 for every method, MR and MRR where computed): "
                       + (f"all {len(agree)} comparisons identical." if not differ else f"DIFFER for {differ}."))
        details.append("")
    ee = reports.get("end_to_end")
    if ee:
        for case, s in ee["summary"].items():
            if "error" in s:
                errors = "; ".join(r["error"].splitlines()[0] for r in ee["runs"] if r["case"] == case)
                lines.append(f"| {case} run | failed: {errors} | — | — | not measured | — | {_rev(ee)} | "
                             f"{_load(ee)} |")
                continue
            run = next(r for r in ee["runs"] if r["case"] == case and "error" not in r)
            test = run["test"].get("test", {})
            acc = f"test H@1 {100 * (test.get('hits@1') or 0):.2f} %, MRR {test.get('mrr') or 0:.3f}"
            if case == "fbdb-rn":
                t_ok, r_ok = s["meets_time_target"], s["meets_rss_target"]
                met = ("yes" if t_ok and r_ok else
                       "no (" + ", ".join(x for x in (
                           None if t_ok else f"+{s['median_wall_s'] - 300:.0f} s",
                           None if r_ok else f"+{s['median_peak_rss_mib'] - 2048:.0f} MiB") if x) + ")")
                target = "FB15K*-DB15K 20 % (R+N) run in <= 300 s, peak RSS <= 2 GiB"
            else:
                met, target = "(no target)", "synthetic default run"
            lines.append(f"| {target} (t={ee['settings']['threads']}) | {_fmt(s['median_wall_s'], 0)} s, "
                         f"{_fmt(s['median_peak_rss_mib'], 0)} MiB; {acc} | — | — | {met} | `{run['command']}` | "
                         f"{_rev(ee)} | {_load(ee)} |")
        details.append("End-to-end runs (train / eval seconds from the run's metrics.json):")
        details.append("")
        details.append("| case | wall s | train s | eval s | peak RSS MiB | test H@1 / MRR (test) | "
                       "H@1 / MRR (all) |")
        details.append("|---|---|---|---|---|---|---|")
        for r in ee["runs"]:
            if "error" in r:
                details.append(f"| {r['case']} | failed: {r['error'].splitlines()[0]} | | | | | |")
                continue
            t, a = r["test"].get("test", {}), r["test"].get("all", {})
            details.append(f"| {r['case']} | {_fmt(r['wall_s'], 0)} | {_fmt(r['train_seconds'], 0)} | "
                           f"{_fmt(r['eval_seconds'], 1)} | {_fmt(r['peak_rss_mib'], 0)} | "
                           f"{100 * (t.get('hits@1') or 0):.2f} % / {t.get('mrr') or 0:.3f} | "
                           f"{100 * (a.get('hits@1') or 0):.2f} % / {a.get('mrr') or 0:.3f} |")
        details.append("")
    return lines, details


def summary(reports: dict[str, dict | None]) -> str:
    """BENCHMARKS.md's speed block: the summary table and where the full tables are."""
    lines, _ = _tables(reports)
    pointer = (f"Every variant, method and repeat, and what bounds each target (profiles): "
               f"`{SPEED_README.relative_to(common.REPO).as_posix()}`, written by the same command.")
    return "\n".join(["### Speed targets: relational training, CSLS, end to end", "", *lines, "", pointer]) + "\n"


def full_report(reports: dict[str, dict | None], notes: str = "") -> str:
    """The full speed report: the summary table, every detail table, then the hand-written ``notes``."""
    lines, details = _tables(reports)
    head = ["# Speed and memory: every measurement", "",
            "BENCHMARKS.md (\"Speed and memory\") carries the summary table only. Do not edit this file: the "
            "profiles at the end come from `notes.md`.", ""]
    return "\n".join([*head, *lines, "", *details, *([notes.strip(), ""] if notes.strip() else [])]).rstrip() + "\n"


def write_table(path: Path = BENCHMARKS_MD, readme: Path = SPEED_README, notes: Path = NOTES) -> None:
    """Replace the text between the speed markers of ``path`` (appending them if absent) and rewrite ``readme``."""
    reports = {name: latest(name) for name in BENCHES}
    analysis = notes.read_text(encoding="utf-8") if notes.exists() else ""
    readme.write_text(full_report(reports, analysis), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{summary(reports)}{END}"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(BENCHES), help=f"comma list of {', '.join(BENCHES)}")
    ap.add_argument("--repeats", type=int, help="timed repeats (throughput default 3, CSLS default 5)")
    ap.add_argument("--e2e-repeats", type=int, default=1, help="end-to-end runs per case (minutes each)")
    ap.add_argument("--data-dir", default="/work/shared/data/mmkg-standin")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of training (throughput, end to end)")
    ap.add_argument("--csls-threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--triples", type=int, default=204_800, help="positives per throughput repeat (0: all)")
    ap.add_argument("--baseline-rev", help="CSLS: also time gaussea.evaluate at this git revision")
    ap.add_argument("--peer-python", help="interpreter with PyKEEN / faiss ($GAUSSEA_BENCH_PYTHON by default)")
    ap.add_argument("--table-only", action="store_true", help="only rewrite the BENCHMARKS.md block and speed README")
    ap.add_argument("--no-table", action="store_true", help="do not touch BENCHMARKS.md or the speed README")
    args = ap.parse_args(argv)
    command = [Path(sys.executable).name, *sys.argv]
    if not args.table_only:
        for name in args.only.split(","):
            if name not in BENCHES:
                ap.error(f"unknown benchmark {name!r}; known: {', '.join(BENCHES)}")
            started = {"revision": common.git_revision(), "load": common.load_average()}
            report = run_bench(name, args)
            print(f"wrote {record(name, report, command, started)}", file=sys.stderr)
    if not args.no_table:
        write_table()
        print(f"updated {BENCHMARKS_MD} and {SPEED_README}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
