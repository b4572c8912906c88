"""The condensed comparison tables of BENCHMARKS.md, from the summaries ``gaussea reproduce`` writes.

``gaussea reproduce ... --out-json`` renders every metric, block and paired difference of a table
(``bench/results/tables-valid/table1.md``); BENCHMARKS.md shows one line per model and dataset (and training share,
for Table 2): the splits finished, test H@1 and MRR with CSLS, test H@1 with Sinkhorn on the same embeddings, the
scored epoch and training seconds, and the paper's figure where it has one (H@1 for Table 1; H@10 / MRR for
Table 2, which publishes no H@1). Candidates: the summary's mode (test x test for the tables). Iterative rows go to
a table of their own, and Table 2's rows to a table of their own, since their columns differ.

    python bench/summarise_tables.py bench/results/tables-valid/table1.json [more summaries ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gaussea.commands.paper_tables import PAPER_TABLE1, PAPER_TABLE2
from gaussea.paper_render import budget_cell, cell, display


def header(by_share: bool) -> str:
    """The columns of one condensed table: ``by_share`` adds the training share and H@10 (Table 2's columns)."""
    names = ["dataset", *(["share"] if by_share else []), "model", "splits", "H@1 % CSLS",
             *(["H@10 % CSLS"] if by_share else []), "MRR CSLS", "H@1 % Sinkhorn", "scored epoch / train s",
             "paper H@10 / MRR" if by_share else "paper H@1"]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def paper(by_share: bool, dataset: str, ratio: float, model: str) -> str:
    if by_share:
        figures = PAPER_TABLE2.get((dataset, ratio, model))
        return f"{figures[0]:.2f} / {figures[1]:.3f}" if figures else "–"
    single = PAPER_TABLE1.get((dataset, model))
    return f"{single[0]:.2f}" if single else "–"


def _stat(modes: dict | None, metric: str) -> str:
    """One metric of one decoder's block, formatted as the full tables format it (``paper_render.cell``)."""
    return cell(modes.get(metric) if modes else None, metric)


def _label(entry: dict) -> str:
    return display(entry) + (" †" if entry.get("iterative") else "")


def by_share(summary: dict) -> bool:
    """Table 2's summaries get the share and H@10 columns."""
    return summary.get("table") == "table2"


def rows(summary: dict, iterative: bool) -> list[str]:
    """One Markdown row per (dataset, share, model, variant) with at least one finished split, iterative models
    or not, in the summary's order."""
    mode, share = summary["mode"], by_share(summary)
    by_key: dict[tuple, dict[str, dict]] = {}
    for e in summary["entries"]:
        if e["splits"] and e["modes"].get(mode):
            key = (e["dataset"], e["ratio"], e["model"], e["variant"], bool(e.get("iterative")))
            by_key.setdefault(key, {})[e["decoder"]] = e
    if share:  # Table 2 reads share by share within a dataset
        ordered = sorted(by_key, key=lambda k: (summary["datasets"].index(k[0]), k[1]))
        by_key = {key: by_key[key] for key in ordered}
    out = []
    for (dataset, ratio, model, variant, bootstraps), blocks in by_key.items():
        if bootstraps != iterative:
            continue
        csls, sinkhorn = blocks.get("csls"), blocks.get("sinkhorn")
        first = csls or sinkhorn
        assert first is not None
        modes = [block and block["modes"][mode] for block in (csls, sinkhorn)]
        cells = [dataset, *([f"{ratio:.0%}"] if share else []), _label(first), str(len(first["splits"])),
                 _stat(modes[0], "hits@1"), *([_stat(modes[0], "hits@10")] if share else []),
                 _stat(modes[0], "mrr"), _stat(modes[1], "hits@1"), budget_cell(first),
                 paper(share, dataset, ratio, model) if variant == "model" else "–"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def render(summaries: list[dict]) -> str:
    """Non-iterative tables first (one per layout), then the iterative ones: never one table for both kinds."""
    parts = []
    for iterative in (False, True):
        for layout in dict.fromkeys(by_share(s) for s in summaries):
            found = [row for s in summaries if by_share(s) == layout for row in rows(s, iterative)]
            if found:
                intro = ["Iterative († bootstraps training pairs from its own predictions):", ""] if iterative else []
                parts.append("\n".join([*intro, header(layout), *found]))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("summaries", nargs="+", type=Path, help="JSON summaries written by gaussea reproduce")
    args = parser.parse_args()
    print(render([json.loads(path.read_text()) for path in args.summaries]))


if __name__ == "__main__":
    main()
