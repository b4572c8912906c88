"""``gaussea explain RUN_DIR``: which modality the trained model trusts, read from its learned variances.

Why variances explain anything: the common-space loss ``KL(N_e || N_e^m)`` divides the gap between the common
mean and modality ``m``'s mean by the modal variance ``s_e^m``. A modality with a large variance pulls weakly on
the entity's common embedding; one with a small variance pulls hard. So ``1 / s_e^m``, normalised over the
modalities the entity has, is the share of the pull each modality exerts (its *weight*), and the modality with
the lowest variance is the one the model *trusts* for that entity. Variances are per-dimension; this module uses
each entity's mean variance over dimensions, as written to ``variances.npz`` by the run.

Two caveats it reports rather than hides: variances start at ``var_init`` and stay there during stage 1, so a run
with few stage-2 epochs has weights near equal (the ``at init`` share says how many never moved); and on real
data there is no ground truth about which modality is wrong, so only planted corruption (the synthetic
benchmark's generator, or ``data.corrupt`` on any dataset, both recording which images and numbers they
corrupted) can show that high variance *means* a bad modality: there the corrupted-vs-clean comparison (means,
medians, AUC: :mod:`gaussea.corruption_variance`, the computation the run's ``metrics.json`` records too) is
added. The masks come from the run's ``corruption.npz``; runs made before runs saved them get their pair rebuilt.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from gaussea.corruption_variance import Masks, planted_masks, variance_by_corruption
from gaussea.run_files import RunDirectory

SPACES: tuple[str, ...] = ("common", "relational", "visual", "numerical")
MODAL_SPACES: tuple[str, ...] = ("relational", "visual", "numerical")
SIDES: tuple[str, ...] = ("left", "right")
QUANTILES: tuple[float, ...] = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
# Relative gap below which two modal variances count as equal (no modality "dominates").
TIE_TOLERANCE = 1e-3

def load_config(run_dir: str | Path) -> dict:
    """The run's saved configuration; empty when it has none."""
    return RunDirectory(run_dir).read_config(missing_ok=True) or {}


def modality_weights(variances: dict[str, float]) -> dict[str, float]:
    """Share of ``1 / variance`` of each modal space the entity has (absent / NaN spaces are left out)."""
    inv = {s: 1.0 / v for s, v in variances.items() if s in MODAL_SPACES and v == v and v > 0}
    total = sum(inv.values())
    return {s: x / total for s, x in inv.items()} if total else {}


def dominant_modality(modal: np.ndarray) -> np.ndarray:
    """Per row of ``(n, M)`` modal variances (NaN = absent): index of the strictly lowest, -1 tie, -2 < 2 present.

    "Strictly" means lower than the runner-up by more than :data:`TIE_TOLERANCE` (relative): at initialisation
    every variance is equal and no modality should be said to dominate.
    """
    n = modal.shape[0]
    present = ~np.isnan(modal)
    filled = np.where(present, modal, np.inf)
    order = np.argsort(filled, axis=1, kind="stable")
    rows = np.arange(n)
    best = filled[rows, order[:, 0]] if n else np.zeros(0)
    second = filled[rows, order[:, 1]] if n and modal.shape[1] > 1 else np.full(n, np.inf)
    out = np.where(second - best > TIE_TOLERANCE * best, order[:, 0] if n else 0, -1)
    return np.where(present.sum(1) >= 2, out, -2)


def corruption_masks(run_dir: str | Path, names: dict[str, list[str]] | None = None) -> Masks | None:
    """On runs with planted corruption: ``{space: {side: bool mask}}`` of entities whose modality is wrong.

    Planted means by the synthetic generator or by ``data.corrupt`` (:mod:`gaussea.data.corrupt`) on any dataset.
    The run saves them (``corruption.npz``). For a run made before runs did, the pair is rebuilt from the recorded
    configuration as the run built it (deterministic; seconds for synthetic data); None there for a corrupted
    real dataset that cannot be read here (its folder is gone) or whose rebuilt entities differ from ``names``.
    None for runs without planted corruption.
    """
    saved = RunDirectory(run_dir).read_corruption()
    if saved is not None:
        return saved
    cfg = load_config(run_dir)
    data = cfg.get("data", {})
    synthetic = data.get("dataset") == "synthetic"
    if not synthetic and not data.get("corrupt"):
        return None
    from gaussea.config import RunConfig
    from gaussea.data.report import DataError
    from gaussea.runner import load_pair

    try:
        pair = load_pair(RunConfig.from_dict(cfg))
    except (DataError, OSError):
        if synthetic:
            raise
        return None
    sides = {"left": pair.left.entities.names, "right": pair.right.entities.names}
    if names is not None and any(list(names[s]) != list(sides[s]) for s in SIDES):
        return None  # regenerated entities differ from the run's (generator changed): no ground truth
    return planted_masks(pair)


def _stats(values: np.ndarray, var_init: float, var_max: float) -> dict[str, Any]:
    v = values[~np.isnan(values)]
    if len(v) == 0:
        return {"count": 0}
    q = np.quantile(v, QUANTILES)
    return {
        "count": int(len(v)),
        "mean": float(v.mean()),
        "quantiles": {f"q{int(round(p * 100)):02d}": float(x) for p, x in zip(QUANTILES, q, strict=True)},
        "share_at_init": float((np.abs(v - var_init) <= 1e-3 * var_init).mean()),
        "share_near_max": float((v >= 0.999 * var_max).mean()),
    }


def variance_summary(run_dir: str | Path, corruption: bool = True) -> dict[str, Any]:
    """Dataset-level view: per space the variance distribution, per modality the share it dominates,
    and on synthetic data the corrupted vs clean comparison.

    Both graphs are pooled (the model's spaces are shared); per-side counts are in ``per_side``.
    """
    files = RunDirectory(run_dir)
    var = files.read_variances()
    from gaussea.models.gaussian_params import paper_model_params

    params = paper_model_params(load_config(run_dir))
    var_init, var_min, var_max = params.var_init, params.var_min, params.var_max
    spaces = [s for s in SPACES if s in var["left"]]
    pooled = {s: np.concatenate([var[side][s] for side in SIDES]) for s in spaces}
    out: dict[str, Any] = {"run_dir": str(run_dir), "var_init": var_init, "var_min": var_min, "var_max": var_max,
                           "spaces": {}, "dominance": {}}
    for s in spaces:
        out["spaces"][s] = _stats(pooled[s], var_init, var_max)
        out["spaces"][s]["per_side"] = {side: int((~np.isnan(var[side][s])).sum()) for side in SIDES}
    modal = [s for s in MODAL_SPACES if s in pooled]
    if modal:
        stack = np.stack([pooled[s] for s in modal], axis=1)
        dom = dominant_modality(stack)
        choice = dom >= -1
        n_choice = int(choice.sum())
        out["dominance"] = {
            "entities_with_2plus_modalities": n_choice,
            "share": {s: float((dom == i).sum() / n_choice) if n_choice else 0.0 for i, s in enumerate(modal)},
            "tie": float((dom == -1).sum() / n_choice) if n_choice else 0.0,
        }
    if corruption:
        masks = corruption_masks(run_dir, files.read_entity_names())
        compared = variance_by_corruption(var, masks) if masks else None
        if masks:
            out["corruption"] = compared or {}
    return out


def _link_roles(run_dir: Path, side: str, entity: str) -> list[tuple[str, str]]:
    """``(split, counterpart)`` of every reference link of the run's split that involves ``entity``."""
    files = RunDirectory(run_dir)
    out = []
    for split in ("train", "valid", "test"):
        for a, b in files.read_links(split):
            if side == "left" and a == entity:
                out.append((split, b))
            elif side == "right" and b == entity:
                out.append((split, a))
    return out


def explain_entity(run_dir: str | Path, entity: str, candidates: int = 5) -> list[dict[str, Any]]:
    """Per-modality variances, weights, the trusted modality and the alignment candidates of ``entity``.

    One dict per graph that has an entity of that name (usually one).
    """
    from gaussea.alignment import RunEmbeddings, align

    run_dir = Path(run_dir)
    run = RunEmbeddings.load(run_dir)
    var = RunDirectory(run_dir).read_variances()
    sides = run.side_of(entity)
    if not sides:
        raise ValueError(f"entity {entity!r} is in neither graph of {run_dir}")
    masks = corruption_masks(run_dir, run.names)
    out = []
    for side in sides:
        i = int(run.ids(side, [entity])[0])
        variances = {s: float(var[side][s][i]) for s in SPACES if s in var[side]}
        weights = modality_weights(variances)
        modal = np.array([[variances.get(s, np.nan) for s in MODAL_SPACES]])
        dom = int(dominant_modality(modal)[0])
        trusted = MODAL_SPACES[dom] if dom >= 0 else ("tie" if dom == -1 else
                                                     next(iter(weights), None))
        direction = "left_to_right" if side == "left" else "right_to_left"
        # the model's own ranking, known pairs included: explain diagnoses the model, align serves users
        al = align(run_dir, [entity], top_k=candidates, direction=direction, keep_known=False)
        links = _link_roles(run_dir, side, entity)
        gold = {b for _, b in links}
        cands = [{"rank": r, "target": t, "score": s, "gold": t in gold} for _, r, t, s in al.rows()]
        item: dict[str, Any] = {
            "entity": entity, "side": side, "id": i,
            "variances": {s: (None if v != v else v) for s, v in variances.items()},
            "weights": weights, "trusted": trusted,
            "links": [{"split": sp, "counterpart": b} for sp, b in links],
            "candidates": cands,
            "scoring": {k: al.settings[k] for k in ("similarity", "csls_k")},
        }
        if masks:
            item["ground_truth_corrupted"] = {space: bool(m[side][i]) for space, m in masks.items()}
        out.append(item)
    return out


def format_entity(item: dict[str, Any]) -> str:
    lines = [f"entity {item['entity']} ({item['side']} graph, id {item['id']})",
             f"  {'space':12s}{'variance':>10s}{'weight':>9s}"]
    for s in SPACES:
        if s not in item["variances"]:
            continue
        v = item["variances"][s]
        w = item["weights"].get(s)
        mark = "  <- trusted" if s == item["trusted"] else ""
        vtxt = "   absent" if v is None else f"{v:10.4f}"
        wtxt = "" if w is None else f"{w:9.3f}"
        lines.append(f"  {s:12s}{vtxt:>10s}{wtxt}{mark}")
    if item["trusted"] == "tie":
        lines.append("  no modality dominates (equal variances: still at their initial value?)")
    gt = item.get("ground_truth_corrupted")
    if gt:
        lines.append("  synthetic ground truth: " + ", ".join(
            f"{space} {'CORRUPTED' if bad else 'clean'}" for space, bad in gt.items()))
    for link in item["links"]:
        lines.append(f"  reference link ({link['split']}): {link['counterpart']}")
    sc = item["scoring"]
    lines.append(f"  candidates ({sc['similarity']}, csls_k={sc['csls_k']}):")
    for c in item["candidates"]:
        lines.append(f"    {c['rank']:>2d}. {c['target']}  {c['score']:.4f}{'  [gold]' if c['gold'] else ''}")
    return "\n".join(lines)


def format_summary(summary: dict[str, Any]) -> str:
    qs = [f"q{int(round(p * 100)):02d}" for p in QUANTILES]
    head = f"{'space':12s}{'n':>7s}{'mean':>9s}" + "".join(f"{q:>9s}" for q in qs) + f"{'at init':>9s}"
    lines = [f"learned variances (per-entity mean over dimensions; init {summary['var_init']}, "
             f"max {summary['var_max']}), both graphs", head]
    for s, st in summary["spaces"].items():
        if not st["count"]:
            lines.append(f"{s:12s}{0:>7d}  (no entity has this space)")
            continue
        lines.append(f"{s:12s}{st['count']:>7d}{st['mean']:9.4f}"
                     + "".join(f"{st['quantiles'][q]:9.4f}" for q in qs) + f"{st['share_at_init']:9.1%}")
    if summary["var_init"] <= summary.get("var_min", 0.0):
        lines.append("  (var_init = C_min: 'at init' also counts variances pushed down to the lower clamp)")
    dom = summary.get("dominance")
    if dom and not dom["entities_with_2plus_modalities"]:  # e.g. a relational-only run: nothing to compare
        lines.append(f"trusted modality: not applicable (no entity has two or more of the spaces "
                     f"{', '.join(dom['share'])})")
    elif dom:
        lines.append(f"trusted modality (lowest variance) among {dom['entities_with_2plus_modalities']} entities "
                     "with 2+ modalities:")
        for s, share in dom["share"].items():
            lines.append(f"  {s:12s}{share:8.1%}")
        lines.append(f"  {'tie':12s}{dom['tie']:8.1%}")
    for space, c in (summary.get("corruption") or {}).items():
        lines.append(f"synthetic ground truth, {space}: corrupted mean {c['corrupted_mean']:.4f} "
                     f"(median {c['corrupted_median']:.4f}, n={c['num_corrupted']}) vs clean "
                     f"{c['clean_mean']:.4f} (median {c['clean_median']:.4f}, n={c['num_clean']}); "
                     f"AUC {c['auc']:.3f} (0.5 = no signal)")
    return "\n".join(lines)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser(
        "explain", help="which modality the model trusts, from the learned variances",
        description="Without --entity: per-space variance distributions, the share of entities each modality "
                    "dominates, and (synthetic data) corrupted vs clean variances. With --entity: that entity's "
                    "per-modality variances, weights (1/variance shares) and alignment candidates.")
    s.add_argument("run_dir", help="a finished `gaussea run` directory")
    s.add_argument("--entity", action="append", help="entity name/URI (repeatable)")
    s.add_argument("--candidates", type=int, default=5, help="alignment candidates shown per entity")
    s.add_argument("--json", action="store_true", help="print the same data as JSON")
    s.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    if args.entity:
        items = [x for e in args.entity for x in explain_entity(args.run_dir, e, args.candidates)]
        if args.json:
            print(json.dumps(items, indent=2))
        else:
            print("\n\n".join(format_entity(x) for x in items))
        return 0
    summary = variance_summary(args.run_dir)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0
