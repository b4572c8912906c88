"""The DBP15K layout of JAPE / GCN-Align (global integer ids).

* ``ent_ids_1`` / ``ent_ids_2``: ``id<TAB>URI``; ids are global (the two graphs' ranges interleave);
* ``triples_1`` / ``triples_2``: ``head<TAB>relation<TAB>tail`` as global ids;
* ``ref_ent_ids`` (GCN-Align) or ``ill_ent_ids`` (MCLEA, EVA; byte-identical): ``id1<TAB>id2``;
* ``training_attrs_1`` / ``training_attrs_2`` (optional): ``URI<TAB>attr<TAB>attr...``, attribute *names*
  only; they become :attr:`KGSide.attribute_presence` pairs for attribute-aware baselines (GCN-Align).

Global ids are remapped to dense per-side ids in ``ent_ids`` file order, so entity ``k`` of a side is the
``k``-th (well-formed) line of its ``ent_ids`` file and its name is the URI. Relations are named
``"rel:<original id>"``, keeping the original numbering visible. An id or URI given twice in one ``ent_ids``
file is a ``"duplicate-id"`` problem (the later line is skipped: the first definition is the one triples were
most likely written against). Triples naming ids outside their side's ``ent_ids`` are ``"unknown-entity"``
problems; links with such ends are dropped and counted by the shared link policy
(:func:`gaussea.data.mmkg.resolve_links`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gaussea.data.kgpair import KGPair, KGSide, Vocab
from gaussea.data.mmkg import resolve_links
from gaussea.data.report import DataError, LoadReport
from gaussea.data.textio import iter_lines, iter_rows, parse_id

LINK_FILES = ("ref_ent_ids", "ill_ent_ids")
REL_PREFIX = "rel:"


def read_ent_ids(path: Path, report: LoadReport) -> tuple[Vocab, dict[int, int]]:
    """The entity vocabulary (URIs, file order) and the map global id -> dense id."""
    entities = Vocab()
    dense: dict[int, int] = {}
    for lineno, (token, uri) in iter_rows(path, 2, report):
        gid = parse_id(token, path, lineno, report)
        if gid is None:
            continue
        if gid in dense:
            first = entities.name(dense[gid])
            report.problem(path, lineno, "duplicate-id", f"id {gid} already defined as {first[:80]!r}")
            continue
        if uri in entities:
            report.problem(path, lineno, "duplicate-id", f"URI {uri[:80]!r} already has id {entities[uri]}")
            continue
        dense[gid] = entities.add(uri)
    return entities, dense


def _parse_ids(fields: Sequence[str], path: Path, lineno: int, report: LoadReport) -> list[int] | None:
    """All fields as ids, or None after reporting the first bad one (one problem per line)."""
    ids: list[int] = []
    for field in fields:
        value = parse_id(field, path, lineno, report)
        if value is None:
            return None
        ids.append(value)
    return ids


def read_id_triples(path: Path, dense: dict[int, int], report: LoadReport) -> tuple[Vocab, np.ndarray]:
    """Relation vocabulary (``rel:<id>``, first-occurrence order) and dense triples of one side."""
    relations = Vocab()
    flat: list[int] = []
    for lineno, fields in iter_rows(path, 3, report):
        ids = _parse_ids(fields, path, lineno, report)
        if ids is None:
            continue
        h, r, t = ids
        dh, dt = dense.get(h), dense.get(t)
        if dh is None or dt is None:
            missing = h if dh is None else t
            report.problem(path, lineno, "unknown-entity", f"entity id {missing} is not in this side's ids")
            continue
        flat.extend((dh, relations.add(f"{REL_PREFIX}{r}"), dt))
    return relations, np.asarray(flat, dtype=np.int64).reshape(-1, 3)


def read_training_attrs(path: Path, entities: Vocab, report: LoadReport) -> tuple[Vocab, np.ndarray]:
    """Attribute names per entity as distinct ``(entity, attribute)`` pairs (absent file: none)."""
    attributes = Vocab()
    pairs: dict[tuple[int, int], None] = {}
    outside = 0
    for lineno, line in iter_lines(path, report, optional=True):
        assert line is not None
        fields = [f.strip() for f in line.split("\t")]
        uri, names = fields[0], [f for f in fields[1:] if f]
        if not uri:
            report.problem(path, lineno, "empty-field", "column 1 (the entity URI) is empty")
            continue
        eid = entities.get(uri)
        if eid is None:
            outside += 1
            continue
        for name in names:
            pairs[(eid, attributes.add(name))] = None
    if outside:
        report.note(f"attrs_dropped_entity_not_in_graph:{path.name}", outside)
    return attributes, np.asarray(list(pairs), dtype=np.int64).reshape(-1, 2)


def _load_side(folder: Path, k: int, name: str, report: LoadReport) -> tuple[KGSide, dict[int, int]]:
    entities, dense = read_ent_ids(folder / f"ent_ids_{k}", report)
    relations, triples = read_id_triples(folder / f"triples_{k}", dense, report)
    attributes, presence = read_training_attrs(folder / f"training_attrs_{k}", entities, report)
    side = KGSide(name, entities, relations, triples, attributes=attributes, attribute_presence=presence)
    return side, dense


def _side_names(folder: Path) -> tuple[str, str]:
    """``zh_en`` -> ``("zh", "en")``; other folder names -> ``("KG1", "KG2")``."""
    parts = folder.name.split("_")
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    return "KG1", "KG2"


def _link_path(folder: Path) -> Path:
    for name in LINK_FILES:
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder}: no link file (expected one of {', '.join(LINK_FILES)})")


def read_id_links(path: Path, report: LoadReport) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for lineno, (a, b) in iter_rows(path, 2, report):
        ids = _parse_ids((a, b), path, lineno, report)
        if ids is not None:
            pairs.append((ids[0], ids[1]))
    return pairs


def load_dbp15k(folder: str | Path, *, strict: bool = False) -> KGPair:
    """Load a DBP15K-style folder (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder does not exist")
    report = LoadReport(strict=strict)
    name1, name2 = _side_names(folder)
    left, dense1 = _load_side(folder, 1, name1, report)
    right, dense2 = _load_side(folder, 2, name2, report)
    link_path = _link_path(folder)
    report.note("links_file", str(link_path))
    links = resolve_links(read_id_links(link_path, report), dense1.get, dense2.get, report)
    pair = KGPair(folder.name, left, right, links, report=report, meta={"folder": str(folder)})
    pair.validate()
    return pair
