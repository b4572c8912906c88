"""Per-run results gathered into table entries: mean ± sample std over splits, budgets, paired differences.

One entry per (dataset, model, variant, ratio, decoder), where the variant is ``model`` (the trained model
itself) or ``point`` (its point version, read off the same run: :mod:`gaussea.paper_decode`) and the decoder is
``csls`` (the run's own evaluation, ``metrics.json``) or ``sinkhorn`` (``decoded.json``). Budget fields come from
the runs themselves: the epoch whose weights were scored (the best validation epoch when training stopped early,
else the last), how many runs stopped early, how many two-stage runs stopped before stage 2, training seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaussea.metrics_layout import results_by_mode, split_results
from gaussea.paper_grid import MODAL_GROUP, RunSpec
from gaussea.run_files import RunDirectory

METRICS = ("hits@1", "hits@5", "hits@10", "mr", "mrr")
DECODERS = ("csls", "sinkhorn")


def stats(values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "values": values}


def is_iterative(model: str, metrics: Sequence[dict]) -> bool:
    """From metrics.json when the runner records it, else from the model class's ``iterative`` attribute."""
    if any(m.get("iterative") for m in metrics):
        return True
    from gaussea.models import model_builders

    return bool(getattr(model_builders().get(model), "iterative", False))


def weights_epoch(metrics: dict) -> int | None:
    """The epoch whose weights were scored: ``scored_epoch`` where the run recorded it (the trainer restores the
    best validated epoch whenever validation was tracked); older runs restored it only after an early stop."""
    if metrics.get("scored_epoch") is not None:
        return int(metrics["scored_epoch"])
    if metrics.get("stopped_early") and metrics.get("best_valid_epoch") is not None:
        return int(metrics["best_valid_epoch"])
    return metrics.get("epochs_completed")


def _run_records(cells: Sequence[RunSpec], root: Path) -> list[tuple[int, dict, dict, dict | None]]:
    """(split, metrics, config, decoded) of every finished run among ``cells``."""
    out = []
    for spec in cells:
        files = RunDirectory(spec.run_dir(root))
        metrics = files.read_metrics(missing_ok=True)
        if metrics is not None:
            out.append((spec.split, metrics, files.read_config(missing_ok=True) or {},
                        files.read_decoded(missing_ok=True)))
    return out


def _variant_modes(variant: str, decoder: str, metrics: dict, decoded: dict | None) -> dict | None:
    """Per-mode metrics of one (variant, decoder) of one run, or None when the run does not have them."""
    if variant == "model" and decoder == "csls":
        return split_results(metrics)
    found = (decoded or {}).get(variant, {}).get(decoder)
    return results_by_mode(found) if found else None


def _modes(per_run: list[dict]) -> dict[str, Any]:
    out = {}
    for mode in per_run[0]:
        per = [m[mode] for m in per_run if mode in m]
        out[mode] = {k: stats([float(p[k]) for p in per]) for k in METRICS if k in per[0]}
        out[mode]["similarity"] = per[0].get("similarity")
        out[mode]["csls_k"] = per[0].get("csls_k")
    return out


def two_stage(model: str) -> bool:
    """Whether the model trains in two stages (the paper's: means first, then variances)."""
    from gaussea.models import model_builders

    return getattr(model_builders().get(model), "num_stages", 1) == 2


def stage1_end(metrics: dict, config: dict) -> int:
    """The last stage-1 epoch of a two-stage run: where early stopping ended stage 1, else the configured one."""
    ended = metrics.get("stage1_ended_early")
    return int(ended) if ended is not None else int(config["train"]["stage1_epochs"])


def _budget_fields(model: str, records: list[tuple[int, dict, dict, dict | None]]) -> dict[str, Any]:
    epochs = [weights_epoch(m) for _, m, _, _ in records]
    stage1_stops = sum(1 for (_, m, c, _), e in zip(records, epochs, strict=True)
                       if two_stage(model) and e is not None and c.get("train", {}).get("stage2_epochs")
                       and e <= stage1_end(m, c))
    return {"train_seconds": stats([float(m.get("train_seconds", 0.0)) for _, m, _, _ in records]),
            "epochs_completed": [m.get("epochs_completed") for _, m, _, _ in records],
            "weights_epochs": epochs, "stopped_early_runs": sum(bool(m.get("stopped_early")) for _, m, _, _ in records),
            "stage1_stops": stage1_stops,
            "budget_exhausted_runs": sum(bool(m.get("budget_exhausted")) for _, m, _, _ in records)}


def summarise(specs: Sequence[RunSpec], root: Path) -> list[dict[str, Any]]:
    """The table entries of ``specs`` (see the module docstring); a (variant, decoder) no run has is omitted,
    except the model's own CSLS entry, which is kept empty for a cell with no finished run ("not run")."""
    groups: dict[tuple[str, str, float], list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault((spec.dataset, spec.model, spec.ratio), []).append(spec)
    out = []
    for (dataset, model, ratio), cells in groups.items():
        records = _run_records(cells, root)
        iterative = is_iterative(model, [m for _, m, _, _ in records]) if records else None
        budget = _budget_fields(model, records) if records else {}
        for variant in ("model", "point"):
            for decoder in DECODERS:
                found = [(s, modes) for s, m, _, d in records
                         if (modes := _variant_modes(variant, decoder, m, d)) is not None]
                if not found and (variant, decoder) != ("model", "csls"):
                    continue
                out.append({"dataset": dataset, "model": model, "variant": variant, "decoder": decoder,
                            "ratio": ratio, "splits": [s for s, _ in found], "planned_splits": len(cells),
                            "modal": MODAL_GROUP.get(model, "?"), "iterative": iterative,
                            "modes": _modes([modes for _, modes in found]) if found else {},
                            "sinkhorn_taus": _taus(variant, decoder, records), **budget})
    return out


def _taus(variant: str, decoder: str, records: list[tuple[int, dict, dict, dict | None]]) -> list[Any]:
    if decoder != "sinkhorn":
        return []
    return [(d or {}).get(variant, {}).get(decoder, {}).get("sinkhorn_tau") for _, _, _, d in records]


def paired_differences(entries: Sequence[dict], mode: str, metrics: Sequence[str] = ("hits@1", "mrr")
                       ) -> list[dict[str, Any]]:
    """``a - b`` split by split, for every pair of rows of one (dataset, ratio, decoder) that share splits.

    Only splits both rows finished enter (a split effect would otherwise masquerade as a model effect); each row's
    own split-to-split spread is kept beside the difference, so the reader sees both.
    """
    out = []
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        if e["modes"].get(mode):
            groups.setdefault((e["dataset"], e["ratio"], e["decoder"], bool(e["iterative"])), []).append(e)
    for (dataset, ratio, decoder, _), rows in groups.items():
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                pair = _paired(a, b, mode, metrics)
                if pair:
                    out.append({"dataset": dataset, "ratio": ratio, "decoder": decoder, "a": row_key(a),
                                "b": row_key(b), **pair})
    return out


def row_key(entry: dict) -> str:
    """``model`` or ``model:point``: how a row is named in the JSON summary."""
    return entry["model"] if entry["variant"] == "model" else f"{entry['model']}:{entry['variant']}"


def _paired(a: dict, b: dict, mode: str, metrics: Sequence[str]) -> dict[str, Any] | None:
    shared = sorted(set(a["splits"]) & set(b["splits"]))
    if not shared:
        return None
    out: dict[str, Any] = {"splits": shared}
    for metric in metrics:
        sa, sb = a["modes"][mode].get(metric), b["modes"][mode].get(metric)
        if sa and sb:
            va = dict(zip(a["splits"], sa["values"], strict=True))
            vb = dict(zip(b["splits"], sb["values"], strict=True))
            out[metric] = {"difference": stats([va[s] - vb[s] for s in shared]), "spread_a": sa["std"],
                           "spread_b": sb["std"]}
    return out
