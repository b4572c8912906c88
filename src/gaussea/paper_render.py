"""Markdown of the reproduce tables: header notes, one block per decoder, iterative rows apart, a plain paragraph.

Every figure printed comes from the entries of :mod:`gaussea.paper_summary`; the closing paragraph
(:func:`verdict`) is generated from them too, so a re-run rewrites it. Row order: the target's model order,
each model's point version right after it. Iterative rows (IPTransE; any run with ``train.iterative_rounds``)
go to their own table under each block, never beside non-iterative ones.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from gaussea.paper_summary import paired_differences, row_key

DISPLAY = {"mtranse": "MTransE", "iptranse": "IPTransE", "transe": "TransE", "sea": "SEA", "gcn_align": "GCN-Align",
           "imuse": "IMUSE", "propagation": "Propagation (training-free)", "mmea": "MMEA",
           "gaussian": "Paper model (Gaussian)", "gaussian_fusion": "Gaussian fusion"}
DATASET_NOTES = {
    "fb15k-db15k": "FB15K*-DB15K: FB15K's relational triples are a stand-in (381,186 of the published 592,213; "
                   "14,787 of 14,951 entities) and DB15K's numerical triples a processed substitute; numbers are "
                   "not directly comparable with the paper's.",
    "fb15k-yago15k": "FB15K*-YAGO15K: partial data (../shared/data/mmkg-standin/README.md): FB15K is the same "
                     "stand-in and YAGO15K holds about a third of its triples (temporal relations only), so only "
                     "7,374 of the 11,199 links have both ends present and usable; numbers are not comparable with "
                     "the paper's.",
    "dbp15k-zh_en": "DBP15K zh_en: complete relational triples, random 30 % training splits (this copy ships the "
                    "links only, no split files).",
    "dbp15k-ja_en": "DBP15K ja_en: as zh_en, random 30 % training splits.",
    "dbp15k-fr_en": "DBP15K fr_en: as zh_en, random 30 % training splits.",
    "d_y_15k_v1": "D-Y-15K-V1 (OpenEA): its shipped 20 / 10 / 70 split (split_721_ExEA), one split, so no split "
                  "spread; attribute files empty (relations only).",
    "synthetic": "the embedded synthetic benchmark (gaussea.data.synthetic), not a published dataset.",
}
DECODER_TITLES = {"csls": "CSLS (each model's alignment embedding, cosine + CSLS)",
                  "sinkhorn": "Sinkhorn (the same embeddings decoded jointly; temperature chosen per run on the "
                              "validation links, else fixed)"}
TABLE2_METRICS = ("hits@1", "hits@10", "mrr")
RELATIONAL_METRICS = ("hits@1", "hits@10", "mrr")


def display(entry: dict) -> str:
    name = DISPLAY.get(entry["model"], entry["model"])
    return f"{name}, point version" if entry["variant"] == "point" else name


def cell(stat: dict | None, metric: str) -> str:
    if not stat:
        return "–"
    scale, digits = (100.0, 2) if metric.startswith("hits@") else ((1.0, 1) if metric == "mr" else (1.0, 3))
    mean, std = stat["mean"] * scale, stat["std"] * scale
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if stat["n"] > 1 else f"{mean:.{digits}f}"


def first_entry(row: dict[str, dict]) -> dict:
    """The entry a row's dataset-independent columns (model, modal group, share) are read from."""
    return next(iter(row.values()))


def model_label(row: dict[str, dict]) -> str:
    """The row's model name, marked iterative (†) and with the splits it still lacks: "(not run)" when no dataset
    has a finished run, else each dataset short of its planned splits, e.g. "(fb15k-yago15k 1/3 splits)". Every
    dataset of the row is read, so a model complete on the first dataset but not on a later one is still marked."""
    name = display(first_entry(row))
    if any(e.get("iterative") for e in row.values()):
        name += " †"
    if not any(e["splits"] for e in row.values()):
        return name + " (not run)"
    named = len(row) > 1  # one dataset: its name would only repeat the column headers
    short = [(f"{d} " if named else "") + f"{len(e['splits'])}/{e['planned_splits']}" for d, e in row.items()
             if len(e["splits"]) < e["planned_splits"]]
    return name + (f" ({', '.join(short)} splits)" if short else "")


def budget_cell(entry: dict | None) -> str:
    """``epochs / seconds``: the epoch whose weights were scored and the mean training seconds. The epoch is the
    lower median over splits, so the cell always names an epoch some split actually scored (a mean such as
    137.5 names none)."""
    if not entry or not entry.get("train_seconds"):
        return "–"
    if entry["variant"] != "model":
        return "same run"
    epochs = [e for e in entry.get("weights_epochs", []) if e is not None]
    shown = f"{statistics.median_low(epochs)}" if epochs else "?"
    return f"{shown} / {entry['train_seconds']['mean']:.0f}"


def _head(name: str) -> str:
    return name.upper().replace("HITS@", "H@")


def grid_table(rows: Sequence[dict[str, dict]], datasets: Sequence[str], metrics: Sequence[str], mode: str,
               lead: Sequence[tuple[str, Callable[[dict[str, dict]], str]]],
               tail: Sequence[tuple[str, Sequence[str], Callable[[str, dict | None], str]]]) -> list[str]:
    """A Markdown table, one line per row (``{dataset: entry}``): ``lead`` columns read the whole row, then each
    dataset's metrics, then each ``tail`` column (a name with ``{d}``) for each of its datasets."""
    head = [name for name, _ in lead] + [f"{d} {_head(m)}" for d in datasets for m in metrics]
    head += [name.format(d=d) for name, names, _ in tail for d in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [fn(row) for _, fn in lead]
        cells += [cell(row[d]["modes"].get(mode, {}).get(m) if d in row else None, m) for d in datasets
                  for m in metrics]
        cells += [fn(d, row.get(d)) for _, names, fn in tail for d in names]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def rows_of(entries: Sequence[dict], *keys: str) -> list[dict[str, dict]]:
    """Entries grouped into table rows (one entry per dataset), keyed by ``keys`` + model + variant, in order."""
    rows: dict[tuple, dict[str, dict]] = {}
    for e in entries:
        rows.setdefault((*[e[k] for k in keys], e["model"], e["variant"]), {})[e["dataset"]] = e
    return list(rows.values())


def blocks(entries: Sequence[dict], render: Callable[[list[dict]], list[str]]) -> list[str]:
    """One block per decoder present, its iterative rows in a separate table under it."""
    out: list[str] = []
    for decoder in ("csls", "sinkhorn"):
        chosen = [e for e in entries if e["decoder"] == decoder]
        if decoder != "csls" and not any(e["splits"] for e in chosen):
            continue
        plain = [e for e in chosen if not e.get("iterative")]
        iterative = [e for e in chosen if e.get("iterative")]
        out += [f"**Decoder: {DECODER_TITLES[decoder]}**", ""]
        if plain:
            out += [*render(plain), ""]
        if iterative:
            out += ["Iterative (bootstrapping from its own predictions; not comparable with the rows above):", "",
                    *render(iterative), ""]
    return out


def differences(entries: Sequence[dict], mode: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """The paired differences of the named ``(a, b)`` row pairs (``model`` or ``model:point``), split by split."""
    wanted = [d for d in paired_differences(entries, mode) if (d["a"], d["b"]) in pairs or (d["b"], d["a"]) in pairs]
    if not wanted:
        return []
    lines = ["Paired differences, split by split over the splits both rows finished (mean ± sample std; each row's "
             "own split-to-split std in brackets):", ""]
    for d in wanted:
        a, b = (d["a"], d["b"]) if (d["a"], d["b"]) in pairs else (d["b"], d["a"])
        sign = 1.0 if a == d["a"] else -1.0
        parts = []
        for metric, name, scale, digits in (("hits@1", "H@1 (points)", 100.0, 2), ("mrr", "MRR", 1.0, 3)):
            if metric in d:
                diff, sa, sb = d[metric]["difference"], d[metric]["spread_a"], d[metric]["spread_b"]
                if sign < 0:
                    sa, sb = sb, sa
                parts.append(f"{name} {sign * diff['mean'] * scale:+.{digits}f} ± {diff['std'] * scale:.{digits}f} "
                             f"({sa * scale:.{digits}f} / {sb * scale:.{digits}f})")
        lines.append(f"- {d['dataset']} {d['ratio']:.0%} {d['decoder']}, {_name(a)} minus {_name(b)}, "
                     f"{len(d['splits'])} split(s): " + "; ".join(parts))
    return lines


def _name(key: str) -> str:
    model, _, variant = key.partition(":")
    return display({"model": model, "variant": variant or "model"})


def verdict(entries: Sequence[dict], mode: str) -> list[str]:
    """A plain paragraph from the numbers: per dataset / share / decoder, the rows in order of test H@1, and for
    each neighbour pair whether the gap exceeds the split-to-split spread (paired where splits are shared)."""
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        if e["modes"].get(mode, {}).get("hits@1"):
            groups.setdefault((e["dataset"], e["ratio"], e["decoder"], bool(e["iterative"])), []).append(e)
    sentences = []
    for (dataset, ratio, decoder, iterative), rows in groups.items():
        rows = sorted(rows, key=lambda e: -e["modes"][mode]["hits@1"]["mean"])
        kind = f"iterative rows, {decoder}" if iterative else decoder
        verb = "leads with" if len(rows) > 1 else "(the only row) has"
        text = (f"On {dataset} at {ratio:.0%} ({kind}), {display(rows[0])} {verb} "
                f"{rows[0]['modes'][mode]['hits@1']['mean'] * 100:.2f} % H@1")
        comparisons = [_compare(a, b, mode) for a, b in zip(rows, rows[1:], strict=False)]
        sentences.append(text + ("; " + "; ".join(comparisons) if comparisons else "") + ".")
    return [" ".join(sentences)] if sentences else []


def _compare(a: dict, b: dict, mode: str) -> str:
    """One clause: ``a`` (ranked above) against ``b``."""
    pair = next((d for d in paired_differences([a, b], mode) if "hits@1" in d), None)
    sa, sb = a["modes"][mode]["hits@1"], b["modes"][mode]["hits@1"]
    gap = (sa["mean"] - sb["mean"]) * 100
    spread = max(sa["std"], sb["std"]) * 100
    if pair is not None:
        diff = pair["hits@1"]["difference"]
        gap = diff["mean"] * 100 * (1 if pair["a"] == row_key(a) else -1)
        how = f"paired over {len(pair['splits'])} split(s)"
    else:
        how = "splits not shared, unpaired"
    if sa["n"] < 2 and sb["n"] < 2:
        return f"{display(a)} is {gap:.2f} points above {display(b)} on one split (no spread measured)"
    if gap > spread:
        return (f"{display(a)} beats {display(b)} by {gap:.2f} points, more than the split spread ({spread:.2f}; "
                f"{how})")
    return f"{display(a)} and {display(b)} are level ({gap:+.2f} points, within the split spread {spread:.2f}; {how})"


def count_note(entries: Sequence[dict]) -> list[str]:
    """Budget facts the table's reader needs: runs stopped by the cap, two-stage runs scored on stage-1 weights."""
    seen = {(e["dataset"], e["model"], e["ratio"]): e for e in entries if e["variant"] == "model"}
    capped = sum(e.get("budget_exhausted_runs", 0) for e in seen.values())
    stage1 = [f"{display(e)} on {e['dataset']} ({e['stage1_stops']})" for e in seen.values() if e.get("stage1_stops")]
    out = []
    if capped:
        out.append(f"The wall-clock cap stopped {capped} run(s) before their last epoch.")
    if stage1:
        out.append("Some two-stage runs were scored on stage-1 weights, their variances never freed (stage 2 never "
                   "beat stage 1 on validation, or never ran): " + ", ".join(stage1) + ".")
    return out
