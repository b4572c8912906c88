"""The MMKG layout (FB15K / DB15K / YAGO15K of Liu et al. 2019, mmkb repository).

One folder per graph, ``folder/<KG>/``, holding

* ``<KG>_EntityTriples.txt``: ``head rel tail .`` whitespace-separated (DB15K/YAGO15K URIs are ``<...>``
  tokens, FB15K uses ``/m/...`` MIDs);
* ``<KG>_NumericalTriples.txt`` (optional): ``entity<TAB>attribute<TAB>value``;
* ``<KG>_ImageIndex.txt`` (optional): ``entity<TAB>IMAGE_ID``;
* image features (optional): ``<KG>_ImageData.h5`` (keys are image ids), else ``<KG>_ImageFeatures.npz`` or
  ``<KG>_ImageFeatures.npy`` (+ ``.ids.txt``), read by :mod:`gaussea.data.features`;

and the links in ``<right>/<right>_SameAsLink.txt`` as ``fbmid <SameAs> <uri> .`` (head in the left graph).

A graph's entities are exactly those occurring in its relational triples. Relational triple lines are kept as
they are, duplicates included, so triple counts equal line counts (DB15K has 99,028 lines but 89,197 distinct
triples; :meth:`KGSide.distinct_triples` gives the latter). Numerical facts and images of entities outside the
graph are dropped and counted as report notes, not problems: the files cover the full graphs, the relational
part may be a subset (the FB15K stand-in here).

Link policy (:func:`resolve_links`, shared by all loaders):

1. exact duplicate link lines are deduplicated (note ``links_duplicate_lines``);
2. links with an end missing from its graph are dropped (note ``links_dropped_missing_entity``);
3. DECISION: every remaining link whose left or right entity occurs in more than one remaining link is dropped
   (note ``links_dropped_one_to_many``). Such ground truth is ambiguous: a test pair whose entity has two
   "correct" counterparts makes Hits@1 ill-defined, and a training pair of that kind teaches the model two
   contradictory anchors. Dropping all of them (rather than keeping the first) avoids an arbitrary choice that
   would depend on file order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np

from gaussea.data.features import load_image_features, merge_image_features
from gaussea.data.kgpair import ImageFeatures, KGPair, KGSide, NumericalTriples, Vocab
from gaussea.data.report import DataError, LoadReport
from gaussea.data.textio import iter_rows
from gaussea.data.values import check_finite, parse_numeric

FEATURE_CANDIDATES = ("{kg}_ImageData.h5", "{kg}_ImageFeatures.npz", "{kg}_ImageFeatures.npy")
SAMEAS_SUFFIX = "sameas"

Lookup = Callable[[Hashable], "int | None"]


# ---------------------------------------------------------------------------------------------- link policy
def resolve_links(
    pairs: Sequence[tuple[Hashable, Hashable]], left: Lookup, right: Lookup, report: LoadReport
) -> np.ndarray:
    """Map raw link pairs to ``(m, 2)`` id rows, applying the link policy of the module docstring.

    ``left`` / ``right`` map a raw end (name or original id) to a dense entity id or None. File order is kept.
    """
    unique = list(dict.fromkeys(pairs))
    report.note("links_lines", len(pairs))
    report.note("links_duplicate_lines", len(pairs) - len(unique))
    resolved = [(left(a), right(b)) for a, b in unique]
    present = [(a, b) for a, b in resolved if a is not None and b is not None]
    report.note("links_dropped_missing_entity", len(resolved) - len(present))
    left_count = Counter(a for a, _ in present)
    right_count = Counter(b for _, b in present)
    kept = [(a, b) for a, b in present if left_count[a] == 1 and right_count[b] == 1]
    report.note("links_dropped_one_to_many", len(present) - len(kept))
    report.note("links_kept", len(kept))
    return np.asarray(kept, dtype=np.int64).reshape(-1, 2)


# ------------------------------------------------------------------------------------------------ one graph
def read_relational(path: Path, report: LoadReport, *, words: bool) -> tuple[Vocab, Vocab, np.ndarray]:
    """Entity and relation vocabularies (first-occurrence order) and the triple array of a triples file."""
    entities, relations = Vocab(), Vocab()
    flat: list[int] = []
    add_e, add_r = entities.add, relations.add
    for _, (h, r, t) in iter_rows(path, 3, report, words=words):
        flat.append(add_e(h))
        flat.append(add_r(r))
        flat.append(add_e(t))
    return entities, relations, np.asarray(flat, dtype=np.int64).reshape(-1, 3)


def read_numerical(
    path: Path, entities: Vocab, report: LoadReport, *, optional: bool, non_numeric_is_problem: bool
) -> tuple[Vocab, NumericalTriples]:
    """Numerical ``entity<TAB>attribute<TAB>value`` facts of entities in ``entities``.

    Facts of entities outside the graph are counted in a note. A value that is not a number is a problem when
    the file promises numbers (MMKG ``NumericalTriples``) and only a counted note when the file mixes kinds of
    literal (OpenEA ``attr_triples``: names, strings and numbers side by side).
    """
    attributes = Vocab()
    ent: list[int] = []
    att: list[int] = []
    val: list[float] = []
    outside = non_numeric = 0
    for lineno, (e, a, v) in iter_rows(path, 3, report, optional=optional):
        value = parse_numeric(v)
        if value is None:
            if non_numeric_is_problem:
                report.problem(path, lineno, "not-numeric", f"value {v[:80]!r} is not a number")
            else:
                non_numeric += 1
            continue
        if not check_finite(value, path, lineno, report):
            continue
        eid = entities.get(e)
        if eid is None:
            outside += 1
            continue
        ent.append(eid)
        att.append(attributes.add(a))
        val.append(value)
    if outside:
        report.note(f"numerical_dropped_entity_not_in_graph:{path.name}", outside)
    if non_numeric:
        before = int(report.notes.get("non_numeric_values_skipped", 0))
        report.note("non_numeric_values_skipped", before + non_numeric)
    triples = NumericalTriples(
        np.asarray(ent, dtype=np.int64), np.asarray(att, dtype=np.int64), np.asarray(val, dtype=np.float64)
    )
    return attributes, triples


def read_image_index(path: Path, report: LoadReport) -> dict[str, str]:
    """``IMAGE_ID -> entity`` from an ImageIndex file (absent file: empty). An image id given to two
    different entities is a ``"duplicate-id"`` problem (the later line is skipped)."""
    index: dict[str, str] = {}
    for lineno, (entity, image_id) in iter_rows(path, 2, report, optional=True):
        known = index.get(image_id)
        if known is not None and known != entity:
            report.problem(path, lineno, "duplicate-id", f"image id {image_id!r} already given to {known!r}")
            continue
        index[image_id] = entity
    return index


def _feature_paths(kgdir: Path, kg: str, override: dict | None) -> list[Path]:
    """Feature files for graph ``kg``: the override when given, else the first default file that exists."""
    if override and kg in override and override[kg] is not None:
        value = override[kg]
        values = list(value) if isinstance(value, list | tuple) else [value]
        if not all(isinstance(v, str | Path) for v in values):
            raise DataError(f"image_features[{kg!r}] must be a path or a list of paths, got {value!r}")
        return [Path(v) for v in values]
    for pattern in FEATURE_CANDIDATES:
        candidate = kgdir / pattern.format(kg=kg)
        if candidate.is_file():
            return [candidate]
    return []


def load_mmkg_side(
    folder: Path,
    kg: str,
    report: LoadReport,
    *,
    image_features: dict | None = None,
    allow_pickle: bool = False,
) -> KGSide:
    """Read one graph of the MMKG layout (see the module docstring)."""
    kgdir = folder / kg
    if not kgdir.is_dir():
        raise DataError(f"{kgdir}: graph folder missing (expected {kg}/ with {kg}_EntityTriples.txt)")
    triples_path, numerical_path = kgdir / f"{kg}_EntityTriples.txt", kgdir / f"{kg}_NumericalTriples.txt"
    entities, relations, triples = read_relational(triples_path, report, words=True)
    attributes, numerical = read_numerical(numerical_path, entities, report, optional=True, non_numeric_is_problem=True)
    images = ImageFeatures()
    sources = {"entities": str(triples_path), "triples": str(triples_path)}
    if numerical_path.is_file():
        sources["numerical"] = str(numerical_path)
    paths = _feature_paths(kgdir, kg, image_features)
    if paths:
        index = read_image_index(kgdir / f"{kg}_ImageIndex.txt", report)
        parts = [load_image_features(p, entities, index, report, allow_pickle=allow_pickle) for p in paths]
        images = merge_image_features(parts, str(kgdir))
        sources["images"] = ", ".join(str(p) for p in paths)
    return KGSide(kg, entities, relations, triples, attributes=attributes, numerical=numerical, images=images,
                  sources=sources)


# ---------------------------------------------------------------------------------------------------- links
def _link_file(folder: Path, left: str, right: str) -> tuple[Path, bool]:
    """The sameAs file and whether its head is in the left graph (MMKG keeps it in the non-FB15K folder)."""
    forward = folder / right / f"{right}_SameAsLink.txt"
    backward = folder / left / f"{left}_SameAsLink.txt"
    if forward.is_file() or not backward.is_file():
        return forward, True
    return backward, False


def read_sameas(path: Path, report: LoadReport) -> list[tuple[str, str]]:
    """``(head, tail)`` of every well-formed ``head <SameAs> tail .`` line."""
    pairs: list[tuple[str, str]] = []
    for lineno, (head, pred, tail) in iter_rows(path, 3, report, words=True):
        if not pred.strip("<>").lower().endswith(SAMEAS_SUFFIX):
            report.problem(path, lineno, "predicate", f"expected a sameAs predicate, got {pred[:80]!r}")
            continue
        pairs.append((head, tail))
    return pairs


def load_mmkg_pair(
    folder: str | Path,
    *,
    strict: bool = False,
    left: str = "FB15K",
    right: str = "DB15K",
    image_features: dict | None = None,
    allow_pickle: bool = False,
) -> KGPair:
    """Load the pair ``left``-``right`` of an MMKG folder; ``image_features`` maps a graph name to feature
    file path(s) overriding the default file names."""
    folder = Path(folder)
    if left == right:
        raise DataError(f"{folder}: left and right graph are both {left!r}")
    report = LoadReport(strict=strict)
    sides = [
        load_mmkg_side(folder, kg, report, image_features=image_features, allow_pickle=allow_pickle)
        for kg in (left, right)
    ]
    link_path, head_is_left = _link_file(folder, left, right)
    raw = read_sameas(link_path, report)
    if not head_is_left:
        raw = [(t, h) for h, t in raw]
    report.note("links_file", str(link_path))
    links = resolve_links(raw, sides[0].entities.get, sides[1].entities.get, report)
    pair = KGPair(f"{left}-{right}", sides[0], sides[1], links, report=report, meta={"folder": str(folder)},
                  link_sources=(str(link_path),))
    pair.validate()
    return pair
