"""Learned variance of corrupted vs clean entities: the paper's claim, measured where corruption was planted.

Planted corruption (the synthetic generator, or ``data.corrupt`` on any dataset: :mod:`gaussea.data.corrupt`)
records which entities' image / numbers are wrong. A model that learns to distrust a bad modality gives those
entities a larger variance in that modality's space. :func:`variance_by_corruption` is the one computation of
that comparison: the run writes it to ``metrics.json`` and ``gaussea explain`` shows it, from the same arrays
(the per-entity mean variances written to ``variances.npz``) and the same masks (``corruption.npz``), so both
give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gaussea.data.corrupt import MASK_KEYS

if TYPE_CHECKING:
    from gaussea.data.kgpair import KGPair

SIDES: tuple[str, ...] = ("left", "right")
# Space of the model whose variance a corrupted modality should raise -> the pair's meta key of its masks.
PLANTED_MASK_KEYS: dict[str, str] = {"visual": MASK_KEYS["image"], "numerical": MASK_KEYS["numeric"]}

Masks = dict[str, dict[str, np.ndarray]]  # space -> side -> bool mask over that side's entities


def planted_masks(pair: KGPair) -> Masks:
    """``{space: {side: bool mask}}`` of the entities whose modality was corrupted; empty when none was planted."""
    sizes = {"left": pair.left.num_entities, "right": pair.right.num_entities}
    out: Masks = {}
    for space, key in PLANTED_MASK_KEYS.items():
        ids = pair.meta.get(key)
        if not ids:
            continue
        out[space] = {}
        for side in SIDES:
            mask = np.zeros(sizes[side], dtype=bool)
            mask[np.asarray(ids[side], dtype=np.int64)] = True
            out[space][side] = mask
    return out


def auc_higher(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a random ``positive`` value > a random ``negative`` one), ties counting 1/2 (Mann-Whitney AUC)."""
    both = np.concatenate([positive, negative])
    order = both.argsort(kind="stable")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)  # average ranks over ties
    ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]
    r_pos = ranks[: len(positive)].sum()
    return float((r_pos - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def compare_groups(values: np.ndarray, corrupted: np.ndarray) -> dict[str, Any] | None:
    """Mean, median, ratio of means and AUC of ``values`` (NaN: entity lacks the space) of corrupted vs clean
    entities; None unless both groups have an entity."""
    has = ~np.isnan(values)
    bad, good = values[has & corrupted], values[has & ~corrupted]
    if not (len(bad) and len(good)):
        return None
    return {"corrupted_mean": float(bad.mean()), "clean_mean": float(good.mean()),
            "corrupted_median": float(np.median(bad)), "clean_median": float(np.median(good)),
            "ratio_of_means": float(bad.mean() / good.mean()),
            "num_corrupted": int(len(bad)), "num_clean": int(len(good)), "auc": auc_higher(bad, good)}


def variance_by_corruption(variances: Mapping[str, Mapping[str, np.ndarray]], masks: Masks) -> dict[str, Any] | None:
    """Per space with planted corruption, :func:`compare_groups` of both graphs' entities pooled (the model's
    spaces are shared); None when no space can be compared.

    ``variances`` is ``{side: {space: per-entity mean variance}}`` as written to ``variances.npz``. Computed in
    float32, the dtype the run saves them in, so the run's record and ``explain`` (which reads the file) agree to
    the last digit.
    """
    out = {}
    for space, by_side in masks.items():
        if space not in variances[SIDES[0]]:
            continue
        values = np.concatenate([variances[side][space] for side in SIDES]).astype(np.float32)
        compared = compare_groups(values, np.concatenate([by_side[side] for side in SIDES]))
        if compared:
            out[space] = compared
    return out or None
