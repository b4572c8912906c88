"""Planted modality noise on any loaded pair: give a share of one side's entities other entities' numbers or pictures.

Why: the paper's claim is that a Gaussian can carry a large variance where a modality is wrong, so a wrong modality
hurts less. The synthetic generator plants such noise itself; real benchmarks say nothing of which facts are wrong,
so the claim is tested there by corrupting a known share of the data after loading (``data.corrupt``) and
comparing each model's H@1 with the clean run's.

How (for each modality asked for, on each side asked for):

* the pool is that side's entities that *have* the modality (numerical facts, image rows); ``round(share x pool)``
  of them are chosen uniformly with a seeded generator;
* the chosen entities swap their facts among themselves: a uniformly drawn derangement gives each one the facts of
  another chosen entity, never its own. An entity's whole set of facts moves as a block (all its
  ``(attribute, value)`` pairs, all its image rows), so what a corrupted entity shows is real-looking data of a
  real entity, only the wrong one. Since the facts are permuted, not redrawn, the side holds exactly the same
  multiset of facts as before: per-attribute value distributions (and so the numerical normalisation) and the
  number of entities with the modality do not change. With a single chosen entity there is no derangement; it
  receives the facts of another entity of the pool, which keeps its own (a copy);
* the generator of each (modality, side) is seeded with ``(seed, modality, side)``, so e.g. the right side's
  corrupted numbers are the same whether or not pictures or the left side are corrupted too. The seed defaults to
  0 (:func:`gaussea.runner.load_pair`): every split of one experiment sees the same
  corrupted data, so the H@1 drop from clean is measured on one fixed corruption.

What is recorded in ``KGPair.meta``: the corrupted entity ids under ``corrupted_numeric`` / ``corrupted_image``
(``{"left": [...], "right": [...]}``, the keys and format of the synthetic generator's ground truth, which
:func:`gaussea.corruption_variance.planted_masks` reads); a pair that already carries such planted masks (the
synthetic benchmark) gets the union, so the summary counts every entity whose modality is wrong, planted by the
generator or here. The settings and counts go under ``corruption`` (written to ``dataset.json``): share, side,
seed, pool size, how many were chosen, and how many of them received facts equal to their own (possible in real
data, e.g. two films with only the same release year: such an entity is counted as corrupted but shows nothing
wrong).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gaussea.data.kgpair import ImageFeatures, KGPair, KGSide, NumericalTriples
from gaussea.data.report import DataError

SETTING = "data.corrupt"
SIDES = ("left", "right")
SIDE_CHOICES = (*SIDES, "both")
# modality key in the setting -> the meta key of its masks (the synthetic generator's ground-truth keys)
MASK_KEYS = {"numeric": "corrupted_numeric", "image": "corrupted_image"}
RECORD_KEY = "corruption"  # not "corrupted_*": runner._jsonable_meta drops those from dataset.json
METHOD = "derangement of the chosen entities' facts (a single chosen entity copies another entity's facts)"


@dataclass(frozen=True)
class CorruptionSpec:
    """What to corrupt: ``shares`` maps ``numeric`` / ``image`` to a share in [0, 1) of the entities that have it."""

    shares: dict[str, float]
    side: str = "both"
    seed: int = 0

    @property
    def sides(self) -> tuple[str, ...]:
        return SIDES if self.side == "both" else (self.side,)

    @classmethod
    def from_setting(cls, setting: Mapping[str, Any] | None, *, default_seed: int = 0) -> CorruptionSpec | None:
        """Check ``data.corrupt`` (e.g. ``{"numeric": 0.2, "side": "right", "seed": 0}``); ``None`` when empty.

        Raises a one-line ``ValueError`` naming the setting for anything else: unknown keys, shares outside [0, 1)
        (a share of 1 would leave no clean entity to compare with), a side other than left / right / both, a seed
        that is not an integer >= 0, or no modality named at all.
        """
        if not setting:
            return None
        if not isinstance(setting, Mapping):
            raise ValueError(f"{SETTING} must be a table such as {{\"numeric\": 0.2, \"side\": \"right\"}}, "
                             f"got {setting!r}")
        valid = sorted({*MASK_KEYS, "side", "seed"})
        unknown = sorted(str(k) for k in setting if k not in valid)
        if unknown:
            raise ValueError(f"{SETTING}: unknown key(s) {unknown}; valid: {valid}")
        shares = {}
        for key in MASK_KEYS:
            if key not in setting:
                continue
            share = setting[key]
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share < 1.0:
                raise ValueError(f"{SETTING}.{key} must be a share in [0, 1), got {share!r}")
            shares[key] = float(share)
        if not shares:
            raise ValueError(f"{SETTING} names no modality to corrupt (give {' and/or '.join(MASK_KEYS)})")
        side = setting.get("side", "both")
        if side not in SIDE_CHOICES:
            raise ValueError(f"{SETTING}.side must be one of {list(SIDE_CHOICES)}, got {side!r}")
        seed = setting.get("seed", default_seed)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"{SETTING}.seed must be an integer >= 0, got {seed!r}")
        return cls(shares=shares, side=side, seed=seed)


def parse_corrupt_flag(text: str) -> dict[str, Any]:
    """``numeric=0.2,side=right`` (the ``--corrupt`` flag) as the ``data.corrupt`` table; checked when the run
    loads its data. Shares and the seed are read as numbers; a malformed item raises a one-line ``ValueError``."""
    out: dict[str, Any] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not key or not value:
            raise ValueError(f"--corrupt expects key=value items (e.g. numeric=0.2,side=right), got {item!r}")
        if key in MASK_KEYS:
            try:
                out[key] = float(value)
            except ValueError:
                raise ValueError(f"--corrupt {key}={value!r}: not a number") from None
        elif key == "seed":
            try:
                out[key] = int(value)
            except ValueError:
                raise ValueError(f"--corrupt seed={value!r}: not an integer") from None
        else:
            out[key] = value
    return out


def corrupt_pair(pair: KGPair, spec: CorruptionSpec) -> KGPair:
    """A copy of ``pair`` with ``spec``'s corruption applied and recorded in its ``meta`` (see the module doc).

    ``pair`` itself is not changed. Raises :class:`DataError` where a side asked for has no entity with the
    modality (nothing could be corrupted: most likely the wrong side or dataset) or only one (no donor), and
    ``ValueError`` for a pair this step already corrupted.
    """
    if RECORD_KEY in pair.meta:
        raise ValueError(f"{pair.name}: already corrupted ({pair.meta[RECORD_KEY]}); corrupt the loaded pair once")
    sides = {"left": pair.left, "right": pair.right}
    meta = dict(pair.meta)
    record: dict[str, Any] = {"seed": spec.seed, "side": spec.side, "method": METHOD}
    for modality, share in spec.shares.items():
        m_index = list(MASK_KEYS).index(modality)  # fixed per modality: streams do not depend on what else is asked
        planted = pair.meta.get(MASK_KEYS[modality]) or {}
        masks = {name: [int(i) for i in planted.get(name, [])] for name in SIDES}
        counts: dict[str, Any] = {"share": share}
        for name in spec.sides:
            s_index = SIDES.index(name)
            rng = np.random.default_rng([spec.seed, m_index, s_index])
            sides[name], chosen, same = _corrupt_side(sides[name], modality, share, rng)
            masks[name] = sorted(set(masks[name]) | {int(i) for i in chosen})
            counts[name] = {"entities_with_modality": _pool_size(sides[name], modality), "corrupted": len(chosen),
                            "received_identical_facts": same, "marked_corrupted": len(masks[name])}
        meta[MASK_KEYS[modality]] = masks
        record[modality] = counts
    meta[RECORD_KEY] = record
    out = replace(pair, left=sides["left"], right=sides["right"], meta=meta)
    out.validate()
    return out


def _owners(side: KGSide, modality: str) -> np.ndarray:
    return side.numerical.entity if modality == "numeric" else side.images.entity


def _pool_size(side: KGSide, modality: str) -> int:
    return int(np.unique(_owners(side, modality)).size)


def _payload(side: KGSide, modality: str) -> np.ndarray:
    """The facts of each row as one float row: ``(attribute, value)`` or the image features."""
    if modality == "numeric":
        return np.column_stack([side.numerical.attribute.astype(np.float64), side.numerical.value])
    return side.images.features


def _corrupt_side(side: KGSide, modality: str, share: float, rng: np.random.Generator
                  ) -> tuple[KGSide, np.ndarray, int]:
    """``side`` with ``share`` of its entities with ``modality`` given other entities' facts; the chosen ids, sorted,
    and how many received facts identical to their own."""
    owner = _owners(side, modality)
    pool = np.unique(owner)
    k = int(round(share * len(pool)))
    if share > 0 and len(pool) == 0:
        raise DataError(f"{SETTING}: {side.name} has no entity with {modality} facts to corrupt "
                        f"(choose another side or modality)")
    if k and len(pool) < 2:
        raise DataError(f"{SETTING}: {side.name} has a single entity with {modality} facts: no other entity to "
                        f"take facts from")
    if k == 0:
        return side, np.zeros(0, dtype=np.int64), 0
    chosen = np.sort(rng.choice(pool, size=k, replace=False))
    donors = _donors(rng, chosen, pool)
    own_rows, donor_rows = _rows_of(owner, chosen), _rows_of(owner, donors)
    payload = _payload(side, modality)
    same = sum(_same_rows(payload[a], payload[b]) for a, b in zip(own_rows, donor_rows, strict=True))
    keep = np.flatnonzero(~np.isin(owner, chosen))
    index = np.concatenate([keep, *donor_rows])
    new_owner = np.concatenate([owner[keep], np.repeat(chosen, [len(r) for r in donor_rows])]).astype(np.int64)
    if modality == "numeric":
        num = side.numerical
        side = replace(side, numerical=NumericalTriples(entity=new_owner, attribute=num.attribute[index],
                                                        value=num.value[index]))
    else:
        side = replace(side, images=ImageFeatures(entity=new_owner, features=side.images.features[index]))
    return side, chosen, int(same)


def _rows_of(owner: np.ndarray, ids: np.ndarray) -> list[np.ndarray]:
    """The row indices each of ``ids`` owns, in row order."""
    order = np.argsort(owner, kind="stable")
    start = np.searchsorted(owner[order], ids, side="left")
    end = np.searchsorted(owner[order], ids, side="right")
    return [order[a:b] for a, b in zip(start, end, strict=True)]


def _donors(rng: np.random.Generator, chosen: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """The entity whose facts each chosen one receives: a uniform derangement of ``chosen`` (rejection sampling,
    about e tries), or for a single chosen entity any other entity of ``pool``."""
    k = len(chosen)
    if k == 1:
        others = pool[pool != chosen[0]]
        return others[rng.integers(len(others))].reshape(1)
    while True:
        perm = rng.permutation(k)
        if not (perm == np.arange(k)).any():
            return chosen[perm]


def _same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two blocks of fact rows hold the same rows, in any order."""
    if a.shape != b.shape:
        return False
    if a.size == 0:
        return True
    return bool(np.array_equal(a[np.lexsort(a.T[::-1])], b[np.lexsort(b.T[::-1])]))
