"""The condensed comparison table of BENCHMARKS.md, from the summaries ``gaussea reproduce`` writes.

``gaussea reproduce ... --out-json`` renders every metric, block and paired difference of a table
(``bench/results/tables-valid/table1.md``); BENCHMARKS.md shows one line per model and dataset: the splits finished,
test H@1 and MRR with CSLS, test H@1 with Sinkhorn on the same embeddings, the scored epoch and training seconds,
and the paper's H@1 where it has one. Candidates: the summary's mode (test x test for the tables). Iterative rows
go to a table of their own.

    python bench/summarise_tables.py bench/results/tables-valid/table1.json [more summaries ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from gaussea.commands.paper_tables import PAPER_TABLE1
from gaussea.paper_render import display

HEADER = ("| dataset | model | splits | H@1 % CSLS | MRR CSLS | H@1 % Sinkhorn | scored epoch / train s | paper H@1 |\n"
          "|---|---|---|---|---|---|---|---|")


def _stat(stat: dict | None, metric: str, scale: float, digits: int) -> str:
    if not stat or metric not in stat:
        return "–"
    m = stat[metric]
    text = f"{scale * m['mean']:.{digits}f}"
    return text + (f" ± {scale * m['std']:.{digits}f}" if m["n"] > 1 else "")


def _label(entry: dict) -> str:
    return display(entry) + (" †" if entry.get("iterative") else "")


def rows(summary: dict, iterative: bool) -> list[str]:
    """One Markdown row per (dataset, model, variant) with at least one finished split, iterative models or not."""
    mode = summary["mode"]
    by_key: dict[tuple, dict[str, dict]] = {}
    for e in summary["entries"]:
        if e["splits"] and e["modes"].get(mode):
            by_key.setdefault((e["dataset"], e["model"], e["variant"], bool(e.get("iterative"))), {})[e["decoder"]] = e
    out = []
    for (dataset, model, variant, bootstraps), blocks in by_key.items():
        if bootstraps != iterative:
            continue
        csls, sinkhorn = blocks.get("csls"), blocks.get("sinkhorn")
        first = csls or sinkhorn
        assert first is not None
        epochs = first.get("weights_epochs") or []
        budget = "same run" if variant == "point" else (
            f"{statistics.median_low(epochs)} / {first['train_seconds']['mean']:.0f}" if epochs
            else f"– / {first['train_seconds']['mean']:.0f}")
        paper = PAPER_TABLE1.get((dataset, model)) if variant == "model" else None
        modes = [block and block["modes"][mode] for block in (csls, sinkhorn)]
        out.append(f"| {dataset} | {_label(first)} | {len(first['splits'])} | {_stat(modes[0], 'hits@1', 100, 2)} | "
                   f"{_stat(modes[0], 'mrr', 1, 3)} | {_stat(modes[1], 'hits@1', 100, 2)} | {budget} | "
                   f"{f'{paper[0]:.2f}' if paper else '–'} |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summaries", nargs="+", type=Path, help="JSON summaries written by gaussea reproduce")
    args = parser.parse_args()
    summaries = [json.loads(path.read_text()) for path in args.summaries]
    print(HEADER)
    print("\n".join(row for summary in summaries for row in rows(summary, iterative=False)))
    iterative = [row for summary in summaries for row in rows(summary, iterative=True)]
    if iterative:  # never in one table with the non-iterative rows
        print("\nIterative († bootstraps training pairs from its own predictions):\n")
        print(HEADER)
        print("\n".join(iterative))


if __name__ == "__main__":
    main()
