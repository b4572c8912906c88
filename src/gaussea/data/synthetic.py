"""The embedded default dataset: a multi-modal KG pair generated from one latent world, from a seed.

Why a generator at all: the real benchmarks at hand ship no image features, and none of them says which images
or numbers are wrong. The paper's claim -- a noisy modality hurts less when its Gaussian can carry a large
variance -- can only be checked where the noise is known. Here every entity of a latent *world* has a vector
``z``; both graphs are partial, independently noisy views of that world:

* **Structure.** Entities have types (clusters of ``z``); every relation links a head type to a tail type.
  Heads are drawn by a skewed popularity (so degrees are heavy-tailed, as in real KGs) and tails by popularity
  times a latent affinity ``exp(affinity * cos(A_r z_h, z_t))``, so who is connected to whom reflects ``z``.
  Each side keeps a random share of the entities (``entity_coverage``) and of the facts among them
  (``triple_keep``), so the graphs overlap only partially and structure alone aligns only part of them.
  Relation vocabularies differ per side, and some world relations are merged into another or split in two.
* **Numbers.** A few attributes, each defined for some entity types, with values an affine function of
  ``w_a . z`` plus an entity-specific deviation shared by both sides; each side measures with its own small
  noise and (``numeric_units``) the right side uses other units (an affine map per attribute), so
  per-attribute normalisation matters.
* **Images.** One "camera" for both sides: ``relu(z P / sqrt(latent_dim) + noise)`` with a fixed random
  ``P`` imitates CNN features (non-negative, ``image_width`` wide); each side's picture has independent noise.

Modality noise is applied per side and recorded as ground truth in ``KGPair.meta``: ``image_missing`` (no
picture), ``image_corrupted`` (the picture is that side's picture of *another* world entity -- a wrong photo
of a real thing, not white noise), ``numeric_missing`` (no numbers at all), ``numeric_corrupted`` (every value
replaced by the value of the same attribute of another entity on that side).

Entity ids (and names, which are just ``"L:e000123"`` for left id 123) are shuffled independently per side and
no linked pair shares an id, so a model that cheats on ids or names learns nothing. All randomness comes from
one :class:`numpy.random.SeedSequence` split into independent streams per component, so changing, say,
``image_corrupted`` leaves the triples untouched. The defaults are sized so that one model trains and
evaluates in about a minute on a 2-core CPU; ``num_entities`` is the size knob.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gaussea.data.kgpair import ImageFeatures, KGPair, KGSide, NumericalTriples, Vocab
from gaussea.data.report import LoadReport

SIDES = ("left", "right")
ENTITY_FORMAT = ("L:e{:06d}", "R:e{:06d}")
RELATION_FORMAT = ("L:rel{}", "R:relation_{}")
ATTRIBUTE_FORMAT = ("L:attr{}", "R:property_{}")
# Tail sampling: types up to EXACT_CANDIDATES entities are scored exhaustively, larger ones through
# PROPOSALS popularity-drawn candidates shared by PROPOSAL_BLOCK heads; CHUNK_ELEMENTS bounds the scratch
# arrays (float64 cells).
EXACT_CANDIDATES = 512
PROPOSALS = 512
PROPOSAL_BLOCK = 256
CHUNK_ELEMENTS = 1 << 22

Share = float | tuple[float, float]

# Knobs that may differ between the sides: a float applies to both, a pair is (left, right).
PER_SIDE_FIELDS = (
    "entity_coverage",
    "triple_keep",
    "relation_merge",
    "relation_split",
    "attribute_keep",
    "numeric_side_noise",
    "image_noise",
    "image_missing",
    "image_corrupted",
    "numeric_missing",
    "numeric_corrupted",
)
# Per-side knobs that are probabilities/shares (the noise scales only need to be >= 0).
_SHARE_FIELDS = tuple(f for f in PER_SIDE_FIELDS if f not in ("numeric_side_noise", "image_noise"))


@dataclass
class SyntheticConfig:
    """Every knob of the generator; the defaults are the embedded benchmark.

    Per-side knobs (see :data:`PER_SIDE_FIELDS`) take a float for both sides or a ``(left, right)`` pair.
    Shares of "corrupted" are shares of the entities that *have* that modality on that side, after the
    "missing" ones were removed: with ``image_missing=0.1, image_corrupted=0.3`` about 27% of all entities
    show a wrong picture.
    """

    seed: int = 0
    # --- the world -------------------------------------------------------------------------------------
    num_entities: int = 2000  # world entities; each side holds about entity_coverage of them (the size knob)
    latent_dim: int = 16  # width of the latent vector z every modality is derived from
    num_types: int = 8  # entity types (clusters of z); relations and attributes are typed
    type_spread: float = 1.5  # distance of type centres in units of the within-type std (1)
    type_skew: float = 0.5  # type sizes follow 1 / (k+1)^type_skew
    num_relations: int = 40  # world relations (before per-side merges / splits)
    relation_skew: float = 1.0  # relation frequencies follow 1 / (k+1)^relation_skew
    triples_per_entity: float = 28.0  # world facts per world entity (before per-side sampling)
    popularity_sigma: float = 1.0  # log-normal sigma of entity popularity: larger = more skewed degrees
    affinity: float = 4.0  # how strongly a tail follows the latent affinity to the head (0: types only)
    num_attributes: int = 8  # numerical attributes of the world
    attribute_type_share: float = 0.5  # share of entity types an attribute is defined for
    numeric_noise: float = 0.5  # entity-specific deviation from the latent function (std, shared by sides)
    image_width: int = 64  # image feature width (MMKG uses 4096-d VGG16 features; any width works)
    # --- the two views (per side: a float, or a (left, right) pair) --------------------------------------
    entity_coverage: Share = 0.85  # share of world entities on a side; links = entities on both sides
    triple_keep: Share = 0.5  # share of world facts (among covered entities) a side keeps
    relation_merge: Share = 0.1  # share of world relations folded into another relation on a side
    relation_split: Share = 0.1  # share of world relations split in two side relations (by a tail feature)
    attribute_keep: Share = 0.8  # chance a side records a defined attribute of an entity
    numeric_side_noise: Share = 0.1  # a side's measurement noise, in units of the attribute's world std
    numeric_units: bool = True  # the right side measures every attribute in other units (affine map)
    image_noise: Share = 0.6  # std of a side's picture noise, relative to the camera's (pre-ReLU) std
    image_missing: Share = 0.1  # share of a side's entities without a picture
    image_corrupted: Share = 0.3  # share of pictured entities showing another entity's picture
    numeric_missing: Share = 0.1  # share of a side's entities with numbers that lose them all
    numeric_corrupted: Share = 0.1  # share of entities with numbers whose values come from other entities

    def __post_init__(self) -> None:
        for name in PER_SIDE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, list):
                setattr(self, name, tuple(value))
            for v in self.per_side(name):
                if name in _SHARE_FIELDS and not 0.0 <= v <= 1.0:
                    raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
                if v < 0.0:
                    raise ValueError(f"{name} must be >= 0, got {value!r}")
        positive = ("num_entities", "latent_dim", "num_types", "num_relations", "image_width")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.num_entities < 2 * self.num_types:
            raise ValueError(f"num_entities ({self.num_entities}) must be at least 2 * num_types")
        for name in ("type_spread", "type_skew", "relation_skew", "triples_per_entity", "popularity_sigma",
                     "affinity", "numeric_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.num_attributes < 0:
            raise ValueError(f"num_attributes must be >= 0, got {self.num_attributes!r}")
        if not 0.0 < self.attribute_type_share <= 1.0:
            raise ValueError(f"attribute_type_share must lie in (0, 1], got {self.attribute_type_share!r}")

    def per_side(self, name: str) -> tuple[float, float]:
        """The ``(left, right)`` values of a per-side knob."""
        value = getattr(self, name)
        if isinstance(value, tuple | list):
            if len(value) != 2:
                raise ValueError(f"{name} must be a number or a (left, right) pair, got {value!r}")
            return float(value[0]), float(value[1])
        return float(value), float(value)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (pairs become lists) that :func:`config_from_dict` turns back into the config."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _coerce(name: str, default: Any, value: Any) -> Any:
    """Turn a string option (as from a command line) into the type of the field's default."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if name in PER_SIDE_FIELDS:
            parts = [p for p in text.strip("()[]").split(",") if p.strip()]
            return float(parts[0]) if len(parts) == 1 else tuple(float(p) for p in parts)
        if isinstance(default, bool):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except (ValueError, IndexError):
        kind = type(default).__name__
        raise ValueError(f"synthetic option {name}={value!r} is not a valid {kind}") from None
    return value


def config_from_dict(d: dict[str, Any]) -> SyntheticConfig:
    """Build a :class:`SyntheticConfig` from ``d`` (e.g. a run's recorded ``meta["generator"]``).

    Unknown keys raise a ``ValueError`` listing the valid names, since a misspelt knob silently ignored would
    generate a different dataset from the one the user asked for. String values are converted to the field's
    type, so command-line options work.
    """
    defaults = SyntheticConfig()
    names = [f.name for f in fields(SyntheticConfig)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ValueError(f"unknown synthetic option(s) {unknown}; valid: {', '.join(names)}")
    return SyntheticConfig(**{k: _coerce(k, getattr(defaults, k), v) for k, v in d.items()})


@dataclass
class SideTruth:
    """What generated one side: its entities' world ids and the donors behind corrupted modalities.

    ``world_id[i]`` is the world entity behind side id ``i``. ``image_donor[i]`` is the world entity whose
    picture side entity ``i`` shows (itself when clean, -1 when it has none); corrupted numbers take each
    value from a different donor, so only the mask is kept.
    """

    world_id: np.ndarray
    image_donor: np.ndarray
    image_missing: np.ndarray  # side ids without a picture
    image_corrupted: np.ndarray  # side ids showing another entity's picture
    numeric_missing: np.ndarray  # side ids whose numbers were all dropped
    numeric_corrupted: np.ndarray  # side ids whose values were taken from other entities


@dataclass
class SyntheticWorld:
    """The latent world both graphs are drawn from (exposed for tests and analysis, not for models)."""

    types: np.ndarray  # (N,) entity type
    latent: np.ndarray  # (N, D) the latent vectors z
    popularity: np.ndarray  # (N,) sampling weight of an entity in facts
    triples: np.ndarray  # (T, 3) world facts (head, world relation, tail), distinct, no self-loops
    relation_types: np.ndarray  # (R, 2) head type, tail type of each world relation
    camera: np.ndarray  # (D, W) the image projection P
    attribute_weights: np.ndarray  # (A, D) unit directions w_a
    attribute_defined: np.ndarray  # (A, K) bool: attribute a is defined for entity type k
    attribute_loc: np.ndarray  # (A,) world units: value = loc + scale * u
    attribute_scale: np.ndarray  # (A,)
    numeric_u: np.ndarray  # (N, A) standardised world value u of every (entity, attribute)
    sides: dict[str, SideTruth] = field(default_factory=dict)

    def clean_images(self, world_ids: np.ndarray) -> np.ndarray:
        """Noise-free image features of world entities: what the camera sees before a side's noise."""
        return np.maximum(self.image_logits(world_ids), 0.0)

    def image_logits(self, world_ids: np.ndarray) -> np.ndarray:
        """The camera's output before the ReLU; a side adds its noise here."""
        return _dot(self.latent[world_ids], self.camera) / np.sqrt(self.latent.shape[1])


def _streams(seed: int) -> tuple[list[np.random.Generator], list[list[np.random.Generator]]]:
    """Independent generators: 5 for the world, then 5 per side (ids, triples, relations, numbers, images)."""
    root = np.random.SeedSequence(int(seed))
    world_ss, *side_ss = root.spawn(1 + len(SIDES))
    world = [np.random.default_rng(s) for s in world_ss.spawn(5)]
    sides = [[np.random.default_rng(s) for s in ss.spawn(5)] for ss in side_ss]
    return world, sides


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` without BLAS.

    The products here are thin (inner size ``latent_dim``) and many; a multi-threaded BLAS on a busy
    2-core machine spends milliseconds per call synchronising threads (measured: 100x slower than
    einsum for a 256 x 16 x 512 product), and its results may depend on the thread count. ``einsum``
    (without ``optimize``) is single-threaded, fast enough, and gives the same bits everywhere.
    """
    return np.einsum("nd,dm->nm", a, b)


def _skewed(n: int, skew: float) -> np.ndarray:
    """Probabilities ``1 / (k+1)^skew`` for ``k = 0..n-1`` (Zipf-like frequencies)."""
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** skew
    return w / w.sum()


def _categorical_rows(rng: np.random.Generator, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One categorical draw per row of ``logits`` (inverse CDF, vectorised over rows).

    Returns ``(choice, ok)``: rows whose logits are all ``-inf`` have nothing to draw and get ``ok`` False.
    ``logits`` is overwritten (it is the largest array of the generator; no copy is made).
    """
    top = logits.max(axis=1, keepdims=True)
    weights = np.exp(logits - np.where(np.isfinite(top), top, 0.0), out=logits)  # logits are scratch
    cum = np.cumsum(weights, axis=1, out=weights)
    total = cum[:, -1]
    u = rng.random(len(logits)) * total
    choice = np.minimum((cum <= u[:, None]).sum(axis=1), logits.shape[1] - 1)
    return choice, total > 0


def _distinct_triples(triples: np.ndarray) -> np.ndarray:
    """Distinct rows of an ``(n, 3)`` id array, sorted (one int64 key per row: faster than ``axis=0``)."""
    if len(triples) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    t = triples.astype(np.int64)
    span = t.max(axis=0) + 1
    key = np.unique((t[:, 0] * span[1] + t[:, 1]) * span[2] + t[:, 2])
    return np.stack([key // (span[1] * span[2]), (key // span[2]) % span[1], key % span[2]], axis=1)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _draw_tails(
    rng: np.random.Generator,
    heads: np.ndarray,
    query: np.ndarray,
    cand: np.ndarray,
    unit: np.ndarray,
    popularity: np.ndarray,
) -> np.ndarray:
    """For each head, a tail from ``cand`` with probability ``popularity[t] * exp(query . unit[t])``.

    Exact (every candidate scored) while the tail type is small, which covers the default sizes. For big
    types, each block of :data:`PROPOSAL_BLOCK` heads shares :data:`PROPOSALS` candidates drawn by
    popularity and each head picks one of them by affinity (sampling-importance-resampling), so the cost
    grows linearly with the number of facts, not with facts x type size. Self-loops are excluded; a head
    with no other candidate gets ``-1``.
    """
    tails = np.full(len(heads), -1, dtype=np.int64)
    if len(cand) <= EXACT_CANDIDATES:
        log_pop = np.log(popularity[cand])[None, :]
        step = max(1, CHUNK_ELEMENTS // len(cand))
        for lo in range(0, len(heads), step):
            h = heads[lo : lo + step]
            logits = _dot(query[lo : lo + step], unit[cand].T)
            logits += log_pop
            pos = np.searchsorted(cand, h).clip(max=len(cand) - 1)
            own = cand[pos] == h
            logits[np.flatnonzero(own), pos[own]] = -np.inf
            choice, ok = _categorical_rows(rng, logits)
            tails[lo : lo + step][ok] = cand[choice[ok]]
        return tails
    p_cand = popularity[cand] / popularity[cand].sum()
    for lo in range(0, len(heads), PROPOSAL_BLOCK):
        h = heads[lo : lo + PROPOSAL_BLOCK]
        proposal = cand[rng.choice(len(cand), size=PROPOSALS, p=p_cand)]
        logits = _dot(query[lo : lo + PROPOSAL_BLOCK], unit[proposal].T)
        logits[h[:, None] == proposal[None, :]] = -np.inf
        choice, ok = _categorical_rows(rng, logits)
        tails[lo : lo + PROPOSAL_BLOCK][ok] = proposal[choice[ok]]
    return tails


def build_world(cfg: SyntheticConfig) -> SyntheticWorld:
    """Draw the latent world: types, latent vectors, typed relational facts, attribute and camera maps."""
    (r_lat, r_rel, r_fact, r_cam, r_att), _ = _streams(cfg.seed)
    n, d, k = cfg.num_entities, cfg.latent_dim, cfg.num_types

    types = r_lat.choice(k, size=n, p=_skewed(k, cfg.type_skew))
    types[r_lat.choice(n, size=2 * k, replace=False)] = np.repeat(np.arange(k), 2)  # no tiny types
    centres = r_lat.normal(size=(k, d)) * cfg.type_spread
    latent = centres[types] + r_lat.normal(size=(n, d))
    popularity = np.exp(r_lat.normal(size=n) * cfg.popularity_sigma)

    # Relations: the first ones start at each type in turn (so every type has outgoing facts), the rest
    # at random types; tails are random types. Each relation owns an affinity map A_r of the latent space.
    n_rel = cfg.num_relations
    head_type = np.where(np.arange(n_rel) < k, np.arange(n_rel) % k, r_rel.integers(0, k, size=n_rel))
    tail_type = r_rel.integers(0, k, size=n_rel)
    rel_freq = _skewed(n_rel, cfg.relation_skew)[r_rel.permutation(n_rel)]
    rel_maps = r_rel.normal(size=(n_rel, d, d)) / np.sqrt(d)

    unit = _unit_rows(latent)
    members = [np.flatnonzero(types == t) for t in range(k)]
    # One anchor fact per entity, as head of a relation of its type (few entities are isolated in a
    # real KG), the rest drawn by relation frequency and popularity.
    rels_of_type = [np.flatnonzero(head_type == t) for t in range(k)]
    anchor_rel = np.full(n, -1, dtype=np.int64)
    for t in range(k):
        if len(rels_of_type[t]):
            anchor_rel[members[t]] = r_fact.choice(rels_of_type[t], size=len(members[t]))
    n_extra = max(int(round(cfg.triples_per_entity * n)) - n, 0)
    per_rel = r_fact.multinomial(n_extra, rel_freq)
    parts = []
    for r in range(n_rel):
        heads_pool = members[head_type[r]]
        p_head = popularity[heads_pool] / popularity[heads_pool].sum()
        drawn = r_fact.choice(heads_pool, size=per_rel[r], p=p_head)
        heads = np.concatenate([np.flatnonzero(anchor_rel == r), drawn])
        if len(heads) == 0:
            continue
        query = _dot(unit[heads], cfg.affinity * rel_maps[r])
        tails = _draw_tails(r_fact, heads, query, members[tail_type[r]], unit, popularity)
        ok = tails >= 0
        parts.append(np.stack([heads[ok], np.full(int(ok.sum()), r), tails[ok]], axis=1))
    triples = _distinct_triples(np.concatenate(parts)) if parts else np.zeros((0, 3), dtype=np.int64)

    camera = r_cam.normal(size=(d, cfg.image_width))

    n_att = cfg.num_attributes
    att_w = _unit_rows(r_att.normal(size=(n_att, d))) if n_att else np.zeros((0, d))
    n_def = max(1, int(round(cfg.attribute_type_share * k)))
    defined = np.zeros((n_att, k), dtype=bool)
    for a in range(n_att):
        defined[a, r_att.choice(k, size=n_def, replace=False)] = True
    raw = _dot(latent, att_w.T)
    raw = (raw - raw.mean(axis=0)) / np.maximum(raw.std(axis=0), 1e-12)
    numeric_u = raw + cfg.numeric_noise * r_att.normal(size=raw.shape)
    # World units: quantities of very different magnitudes (years, heights, populations, ...).
    loc = r_att.uniform(-1000.0, 3000.0, size=n_att)
    scale = np.exp(r_att.uniform(np.log(0.1), np.log(1000.0), size=n_att))

    return SyntheticWorld(
        types=types.astype(np.int64),
        latent=latent,
        popularity=popularity,
        triples=triples.astype(np.int64),
        relation_types=np.stack([head_type, tail_type], axis=1).astype(np.int64),
        camera=camera,
        attribute_weights=att_w,
        attribute_defined=defined,
        attribute_loc=loc,
        attribute_scale=scale,
        numeric_u=numeric_u,
    )


def _side_world_ids(cfg: SyntheticConfig, rngs: list[list[np.random.Generator]], n: int) -> list[np.ndarray]:
    """Which world entities each side holds, in side-id order (shuffled; no linked pair shares an id)."""
    out = []
    for s in range(len(SIDES)):
        cover = cfg.per_side("entity_coverage")[s]
        present = np.flatnonzero(rngs[s][0].random(n) < cover)
        out.append(rngs[s][0].permutation(present))
    left, right = out
    lookup = np.full(n, -1, dtype=np.int64)
    lookup[left] = np.arange(len(left))
    bad = np.flatnonzero(lookup[right] == np.arange(len(right)))  # right ids equal to their left id
    if len(bad) >= 2:
        right[bad] = right[np.roll(bad, 1)]
    elif len(bad) == 1 and len(right) >= 2:
        other = (bad[0] + 1 + rngs[1][0].integers(0, len(right) - 1)) % len(right)
        right[[bad[0], other]] = right[[other, bad[0]]]
    return out


def _side_relations(
    cfg: SyntheticConfig, s: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Map world relations to side relations, with some merged into others and some split in two.

    Returns ``(base, extra, split_dim, count)``: world relation ``r`` becomes side relation ``base[r]``, or
    ``extra[r]`` (when ``extra[r] >= 0``) for the facts whose tail lies in the upper half of latent
    coordinate ``split_dim[r]`` -- a split along a property of the tail, like "bornIn" becoming
    "bornInCity" and "bornInCountry". Side relation ids are shuffled.
    """
    n_rel = cfg.num_relations
    order = rng.permutation(n_rel)
    n_merge = min(int(round(cfg.per_side("relation_merge")[s] * n_rel)), n_rel - 1)
    n_split = min(int(round(cfg.per_side("relation_split")[s] * n_rel)), n_rel - n_merge)
    merged, kept = order[:n_merge], order[n_merge:]
    split = kept[:n_split]
    slot = np.full(n_rel, -1, dtype=np.int64)
    slot[kept] = np.arange(len(kept))
    slot[merged] = slot[rng.choice(kept, size=n_merge)]
    extra = np.full(n_rel, -1, dtype=np.int64)
    extra[split] = len(kept) + np.arange(n_split)
    count = len(kept) + n_split
    names = rng.permutation(count)  # shuffle side ids so they say nothing about world ids
    base = names[slot]
    extra[split] = names[extra[split]]
    split_dim = rng.integers(0, cfg.latent_dim, size=n_rel)
    return base, extra, split_dim, count


def _choose(rng: np.random.Generator, pool: np.ndarray, share: float) -> np.ndarray:
    """A random ``share`` of ``pool`` (rounded), sorted."""
    return np.sort(rng.choice(pool, size=int(round(share * len(pool))), replace=False))


def _build_side(
    cfg: SyntheticConfig,
    world: SyntheticWorld,
    s: int,
    world_ids: np.ndarray,
    rngs: list[np.random.Generator],
) -> tuple[KGSide, SideTruth]:
    """One graph: the facts, numbers and pictures its entities show, with this side's noise."""
    _, r_tri, r_rel, r_num, r_img = rngs
    n_world = world.latent.shape[0]
    n_side = len(world_ids)
    to_side = np.full(n_world, -1, dtype=np.int64)
    to_side[world_ids] = np.arange(n_side)

    # Relational facts: those among covered entities, each kept with probability triple_keep.
    base, extra, split_dim, n_rel = _side_relations(cfg, s, r_rel)
    wt = world.triples
    r = base[wt[:, 1]]
    coord = world.latent[wt[:, 2], split_dim[wt[:, 1]]]
    for rel in np.flatnonzero(extra >= 0):
        facts = np.flatnonzero(wt[:, 1] == rel)
        if len(facts):  # split at the median so both halves are used
            upper = facts[coord[facts] > np.median(coord[facts])]
            r[upper] = extra[rel]
    h, t = to_side[wt[:, 0]], to_side[wt[:, 2]]
    keep = (h >= 0) & (t >= 0) & (r_tri.random(len(wt)) < cfg.per_side("triple_keep")[s])
    h, r, t = h[keep], r[keep], t[keep]
    triples = _distinct_triples(np.stack([h, r, t], axis=1))  # merges can make duplicates

    numerical, attributes, num_missing, num_corrupt = _side_numbers(cfg, world, s, world_ids, r_num)
    images, donor, img_missing, img_corrupt = _side_images(cfg, world, s, world_ids, r_img)

    side = KGSide(
        name=SIDES[s],
        entities=Vocab(ENTITY_FORMAT[s].format(i) for i in range(n_side)),
        relations=Vocab(RELATION_FORMAT[s].format(i) for i in range(n_rel)),
        triples=triples,
        attributes=attributes,
        numerical=numerical,
        images=images,
    )
    truth = SideTruth(world_ids, donor, img_missing, img_corrupt, num_missing, num_corrupt)
    return side, truth


def _side_numbers(
    cfg: SyntheticConfig, world: SyntheticWorld, s: int, world_ids: np.ndarray, rng: np.random.Generator
) -> tuple[NumericalTriples, Vocab, np.ndarray, np.ndarray]:
    """Numerical triples of one side, in its own units, with missing and corrupted entities."""
    n_att = cfg.num_attributes
    n_side = len(world_ids)
    defined = world.attribute_defined[:, world.types[world_ids]].T  # (n_side, A)
    recorded = defined & (rng.random(defined.shape) < cfg.per_side("attribute_keep")[s])
    ent, att = np.nonzero(recorded)
    noise = cfg.per_side("numeric_side_noise")[s]
    u = world.numeric_u[world_ids[ent], att] + noise * rng.normal(size=len(ent))
    value = world.attribute_loc[att] + world.attribute_scale[att] * u
    # Other units per attribute on the right: a positive factor spanning 1/100..100 and an offset (think km
    # vs miles, kelvin vs celsius); per-attribute normalisation undoes it, raw values do not. Drawn in any
    # case so the rest of the stream does not depend on numeric_units.
    factor = np.exp(rng.uniform(np.log(0.01), np.log(100.0), size=n_att))
    offset = rng.uniform(-500.0, 500.0, size=n_att)
    if cfg.numeric_units and s == 1:
        value = factor[att] * value + offset[att]

    with_numbers = np.unique(ent)
    missing = _choose(rng, with_numbers, cfg.per_side("numeric_missing")[s])
    keep = ~np.isin(ent, missing)
    ent, att, value = ent[keep], att[keep], value[keep]
    candidates = np.setdiff1d(with_numbers, missing)
    chosen = _choose(rng, candidates, cfg.per_side("numeric_corrupted")[s])
    new_value = value.copy()
    hit = np.zeros(n_side, dtype=bool)
    for a in range(n_att):
        rows = np.flatnonzero(att == a)
        bad = rows[np.isin(ent[rows], chosen)]
        if len(bad) == 0 or len(rows) < 2:
            continue
        # A donor row of the same attribute from another entity: draw among the other rows of the
        # attribute (each entity has at most one row per attribute, so another row is another entity).
        pos = np.searchsorted(rows, bad)
        draw = rng.integers(0, len(rows) - 1, size=len(bad))
        donor = rows[draw + (draw >= pos)]
        new_value[bad] = value[donor]
        hit[ent[bad]] = True
    corrupted = np.flatnonzero(hit)
    # Shuffled attribute ids: an attribute's number on one side says nothing about its number on the other.
    relabel = rng.permutation(n_att)
    numerical = NumericalTriples(
        entity=ent.astype(np.int64),
        attribute=relabel[att].astype(np.int64),
        value=new_value.astype(np.float64),
    )
    return numerical, Vocab(ATTRIBUTE_FORMAT[s].format(a) for a in range(n_att)), missing, corrupted


def _side_images(
    cfg: SyntheticConfig, world: SyntheticWorld, s: int, world_ids: np.ndarray, rng: np.random.Generator
) -> tuple[ImageFeatures, np.ndarray, np.ndarray, np.ndarray]:
    """Pictures of one side: one row per pictured entity; corrupted ones show another world entity."""
    n_world = world.latent.shape[0]
    n_side = len(world_ids)
    missing = _choose(rng, np.arange(n_side), cfg.per_side("image_missing")[s])
    pictured = np.setdiff1d(np.arange(n_side), missing)
    corrupted = _choose(rng, pictured, cfg.per_side("image_corrupted")[s])
    donor = np.full(n_side, -1, dtype=np.int64)
    donor[pictured] = world_ids[pictured]
    if len(corrupted) and n_world >= 2:
        draw = rng.integers(0, n_world - 1, size=len(corrupted))
        own = world_ids[corrupted]
        donor[corrupted] = draw + (draw >= own)  # any world entity but itself
    # This side's photo of every world entity (one photo each), so a wrong picture is exactly the photo
    # this side would show for the donor.
    logits = world.image_logits(np.arange(n_world))
    noise = cfg.per_side("image_noise")[s] * logits.std()
    photos = np.maximum(logits + noise * rng.normal(size=logits.shape), 0.0).astype(np.float32)
    images = ImageFeatures(entity=pictured.astype(np.int64), features=photos[donor[pictured]])
    return images, donor, missing, corrupted


def generate_with_world(config: SyntheticConfig | None = None) -> tuple[KGPair, SyntheticWorld]:
    """Generate the pair and also return the world behind it (latents, donors), for tests and analyses."""
    cfg = config or SyntheticConfig()
    world = build_world(cfg)
    _, side_rngs = _streams(cfg.seed)
    ids = _side_world_ids(cfg, side_rngs, cfg.num_entities)
    built = [_build_side(cfg, world, s, ids[s], side_rngs[s]) for s in range(len(SIDES))]
    (left, left_truth), (right, right_truth) = built
    world.sides = {"left": left_truth, "right": right_truth}

    right_of = np.full(cfg.num_entities, -1, dtype=np.int64)
    right_of[ids[1]] = np.arange(len(ids[1]))
    counterpart = right_of[ids[0]]
    linked = np.flatnonzero(counterpart >= 0)
    links = np.stack([linked, counterpart[linked]], axis=1).astype(np.int64)

    report = LoadReport()
    report.note("world_entities", cfg.num_entities)
    report.note("world_triples", int(len(world.triples)))
    report.note("links", int(len(links)))
    meta: dict[str, Any] = {"generator": cfg.to_dict()}
    # Ground truth for experiments (learned variances of corrupted vs clean entities); missing ones are
    # visible in the data itself, so only their counts go to the report.
    for key, attr in (
        ("missing_image", "image_missing"),
        ("corrupted_image", "image_corrupted"),
        ("missing_numeric", "numeric_missing"),
        ("corrupted_numeric", "numeric_corrupted"),
    ):
        masks = {name: getattr(truth, attr) for name, truth in world.sides.items()}
        for name, mask in masks.items():
            report.note(f"{name}_{key}", int(len(mask)))
        if key.startswith("corrupted_"):
            meta[key] = {name: [int(i) for i in mask] for name, mask in masks.items()}
    pair = KGPair("synthetic", left, right, links, report=report, meta=meta)
    pair.validate()
    return pair, world


def generate(config: SyntheticConfig | None = None) -> KGPair:
    """Generate the multi-modal KG pair described by ``config`` (the defaults when ``None``)."""
    return generate_with_world(config)[0]


def load_synthetic(folder: str | Path | None = None, *, strict: bool = False, **options: Any) -> KGPair:
    """The registry's loader: ``options`` override :class:`SyntheticConfig` fields by name.

    ``folder`` and ``strict`` exist for the common loader signature: nothing is read, so there is nothing to
    be strict about. Unknown options raise a ``ValueError`` listing the valid names.
    """
    del folder, strict
    return generate(config_from_dict(options))
