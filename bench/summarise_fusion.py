"""Markdown tables (mean ± std over splits) from ``bench_fusion.py`` result files: the ablation and the corruption
tables of BENCHMARKS.md and the README are printed by this script, not typed.

    python bench/summarise_fusion.py bench/results/gaussian-fusion/2026-12-06-*.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

ROWS = ("gaussian", "entity-reliabilities", "modality-precisions", "point", "propagation")
LABELS = {"gaussian": "gaussian_fusion (per-entity variances where the calibration pairs support them)",
          "entity-reliabilities": "same, per-entity variances always (ablation)",
          "modality-precisions": "same, one precision per modality (ablation)",
          "point": "point version (every variance frozen)",
          "propagation": "propagation (training-free yardstick)"}


def pct(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.2f} (1 split)"
    return f"{mean:.2f} ± {100 * statistics.stdev(values):.2f}"


def corruption_label(corruption: dict | None) -> str:
    if not corruption:
        return "clean"
    return ", ".join(f"{k}={v}" for k, v in corruption.items())


def load_rows(paths: list[Path]) -> list[dict]:
    """Every row of the files; the iterative ones only where ``iterative`` says so (older files have no flag)."""
    rows = []
    for path in paths:
        record = json.loads(path.read_text(encoding="utf-8"))
        for row in record["rows"]:
            name = row["row"]
            if name == "gaussian" and (row.get("fusion_options") or {}).get("entity_variances") is True:
                name = "entity-reliabilities"  # files from before "auto": the model always used them
            rows.append({**row, "row": name, "iterative": bool(row.get("iterative")), "source": str(path)})
    return rows


def ablation_table(rows: list[dict], dataset: str, iterative: bool = False) -> list[str]:
    by = defaultdict(list)
    splits = set()
    for r in rows:
        if r["dataset"] == dataset and r["corruption"] is None and r["iterative"] == iterative:
            by[(r["row"], r["decoder"])].append(r["metrics"]["hits@1"])
            splits.add(r["split"])
    if not by:
        return []
    kind = "iterative (bootstrapping)" if iterative else "non-iterative"
    out = [f"**{dataset}** (test x test, {kind}; splits {sorted(splits)}; test H@1 %)", "",
           "| model | CSLS | Sinkhorn (tau chosen on validation) |", "|---|---|---|"]
    for name in ROWS:
        if (name, "csls") in by:
            out.append(f"| {LABELS[name]} | {pct(by[(name, 'csls')])} | {pct(by[(name, 'sinkhorn')])} |")
    return out


def corruption_table(rows: list[dict], dataset: str) -> list[str]:
    """H@1 per corruption level and its drop from clean, paired by split."""
    h1: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    levels: list[str] = []
    for r in rows:
        if r["dataset"] != dataset or r["decoder"] != "csls" or r["row"] == "propagation" or r["iterative"]:
            continue
        level = corruption_label(r["corruption"])
        if level not in levels:
            levels.append(level)
        h1[(r["row"], level)][r["split"]] = r["metrics"]["hits@1"]
    if len(levels) < 2:
        return []
    header = " | ".join(levels[:1] + [f"{lv} (drop)" for lv in levels[1:]])
    out = [f"**{dataset}**, CSLS, test H@1 % (drop from clean, paired by split)", "",
           f"| model | {header} |", "|---" * (len(levels) + 1) + "|"]
    for name in ROWS[:-1]:
        if not h1[(name, levels[0])]:
            continue
        clean = h1[(name, levels[0])]
        cells = [pct(list(clean.values()))]
        for level in levels[1:]:
            corrupted = h1[(name, level)]
            drops = [clean[s] - corrupted[s] for s in corrupted if s in clean]
            cells.append(f"{pct(list(corrupted.values()))} ({pct(drops)})")
        out.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return out


def variance_lines(rows: list[dict], dataset: str) -> list[str]:
    out = []
    for r in rows:
        wanted = r["dataset"] == dataset and r["row"] in ("gaussian", "entity-reliabilities") and \
            r["decoder"] == "csls" and not r["iterative"] and r.get("variance_by_corruption")
        if wanted and r["variance_by_corruption"]:
            for space, s in r["variance_by_corruption"].items():
                out.append(f"- split {r['split']}, {corruption_label(r['corruption'])}: {space} variance corrupted "
                           f"{s['corrupted_mean']:.3f} vs clean {s['clean_mean']:.3f} (ratio of means "
                           f"{s['ratio_of_means']:.2f}; medians {s['corrupted_median']:.3f} / {s['clean_median']:.3f})")
    return out


def cost_lines(rows: list[dict], dataset: str, iterative: bool = False) -> list[str]:
    per_run = {(r["source"], r["split"]): r for r in rows if r["dataset"] == dataset and "run_wall_seconds" in r
               and r.get("fusion_options") and r["iterative"] == iterative}  # one entry per trained run
    runs = list(per_run.values())
    walls, rss = [r["run_wall_seconds"] for r in runs], [r["peak_rss_mib"] for r in runs]
    if not walls:
        return []
    kind = "iterative run" if iterative else "run"
    return [f"- one {kind} (train + evaluation): median {statistics.median(walls):.0f} s wall, peak RSS median "
            f"{statistics.median(rss) / 1024:.2f} GiB (max {max(rss) / 1024:.2f})"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path)
    args = p.parse_args()
    rows = load_rows(args.files)
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        for block in (ablation_table(rows, dataset), corruption_table(rows, dataset), variance_lines(rows, dataset),
                      cost_lines(rows, dataset), ablation_table(rows, dataset, iterative=True),
                      cost_lines(rows, dataset, iterative=True)):
            if block:
                print("\n".join(block))
                print()
        choices = choice_line(rows, dataset)
        if choices:
            print(choices + "\n")


def choice_line(rows: list[dict], dataset: str) -> str:
    """Which runs the default model weighed with per-entity variances (its calibration-pair test)."""
    used = {(r["split"], corruption_label(r["corruption"]), r["iterative"]): r["entity_reliability_used"]
            for r in rows if r["dataset"] == dataset and r["row"] == "gaussian" and "entity_reliability_used" in r}
    if not used:
        return ""
    on = sorted(k for k, v in used.items() if v)
    return (f"- per-entity variances chosen by the calibration pairs in {len(on)} of {len(used)} weighings"
            + (f": {', '.join(f'split {s} {c}' + (' iterative' if i else '') for s, c, i in on)}" if on else ""))


if __name__ == "__main__":
    main()
