"""Mean ± standard deviation over splits of the rows written by ``bench_propagation.py`` (any model).

    python bench/summarise_rows.py bench/results/graph_encoder/2026-12-06.json \
        bench/results/graph_encoder/2026-12-06-splits-1-2.json

Prints one line per (dataset, decoder, iterative): H@1 / H@10 / MRR in %, mean ± sample standard deviation over
the splits found (a dataset with one split shows no spread), and the split indices, so a table in BENCHMARKS.md
can say which runs it averages.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path


def summarise(paths: list[Path]) -> list[dict]:
    """One summary per (dataset, decoder, iterative) over every row of ``paths``; a split seen twice is an error."""
    groups: dict[tuple[str, str, bool], dict[int, dict]] = defaultdict(dict)
    for path in paths:
        for row in json.loads(path.read_text(encoding="utf-8"))["rows"]:
            key = (row["dataset"], row["decoder"], bool(row["iterative"]))
            split = int(row.get("split", 0))
            if split in groups[key]:
                raise SystemExit(f"{path}: {key} split {split} appears twice")
            groups[key][split] = row["metrics"]
    out = []
    for (dataset, decoder, iterative), by_split in sorted(groups.items()):
        entry = {"dataset": dataset, "decoder": decoder, "iterative": iterative, "splits": sorted(by_split)}
        for metric in ("hits@1", "hits@10", "mrr"):
            values = [100 * m[metric] for m in by_split.values() if m.get(metric) is not None]
            if values:
                spread = statistics.stdev(values) if len(values) > 1 else None
                entry[metric] = (statistics.fmean(values), spread)
        out.append(entry)
    return out


def _show(value: tuple[float, float | None] | None) -> str:
    if value is None:
        return "-"
    mean, spread = value
    return f"{mean:.2f}" if spread is None else f"{mean:.2f} ± {spread:.2f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path)
    args = p.parse_args(argv)
    for e in summarise(args.files):
        label = "iterative" if e["iterative"] else "non-iterative"
        print(f"{e['dataset']:16s} {e['decoder']:9s} {label:13s} splits {e['splits']}  H@1 {_show(e.get('hits@1'))}  "
              f"H@10 {_show(e.get('hits@10'))}  MRR(%) {_show(e.get('mrr'))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
