"""The DBP15K layout of JAPE / GCN-Align (global integer ids).

* ``ent_ids_1`` / ``ent_ids_2``: ``id<TAB>URI``; ids are global (the two graphs' ranges interleave);
* ``triples_1`` / ``triples_2``: ``head<TAB>relation<TAB>tail`` as global ids;
* ``rel_ids_1`` / ``rel_ids_2`` (optional): ``id<TAB>URI`` naming the relation ids of the triples;
* links, ``id1<TAB>id2``, in one of two shapes:

  - ``sup_ent_ids`` (training links) + ``ref_ent_ids`` (test links): JAPE's ``0_3`` folders, SRPRS and the
    data folders of several later systems. The links are the union of both files, and the two files become the
    given split ``"sup_ref"`` (train = ``sup_ent_ids``, test = ``ref_ent_ids``, no validation links), which is
    also :attr:`KGPair.default_split`: published figures on such a folder are on exactly this split, so a run
    uses it unless told otherwise. A link in both files is an error (it would be trained on and tested). An
    ``ill_ent_ids`` beside them is not read (the note ``links_files_not_read`` says so);
  - one file holding every link: ``ref_ent_ids`` (GCN-Align) or ``ill_ent_ids`` (MCLEA, EVA; byte-identical);
    when both are there ``ref_ent_ids`` is read (the note ``links_files_not_read`` says so). Runs draw random
    splits of these.

  ``sup_ent_ids`` without ``ref_ent_ids`` is an error: training links alone cannot be evaluated, and reading
  them as all links would silently test on training links;
* ``training_attrs_1`` / ``training_attrs_2`` (optional): ``URI<TAB>attr<TAB>attr...``, attribute *names*
  only; they become :attr:`KGSide.attribute_presence` pairs for attribute-aware baselines (GCN-Align).

Global ids are remapped to dense per-side ids in ``ent_ids`` file order, so entity ``k`` of a side is the
``k``-th (well-formed) line of its ``ent_ids`` file and its name is the URI. Relations are named by their URI in
``rel_ids_k`` when that file is there, else ``"rel:<original id>"``, keeping the original numbering visible
(relations missing from a ``rel_ids`` file keep that form and are counted in a note). An id or URI given twice
in one ``ent_ids`` / ``rel_ids`` file is a ``"duplicate-id"`` problem (the later line is skipped: the first
definition is the one triples were most likely written against). Triples naming ids outside their side's
``ent_ids`` are ``"unknown-entity"`` problems; links with such ends are dropped and counted by the shared link
policy (:func:`gaussea.data.mmkg.resolve_links`).

The graphs are named after the folder (``zh_en`` -> ``zh`` / ``en``); a JAPE split folder such as
``zh_en/0_3`` is named after its parent, so its graphs are ``zh`` / ``en`` too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gaussea.data.kgpair import KGPair, KGSide, Split, Vocab
from gaussea.data.mmkg import resolve_links
from gaussea.data.report import DataError, LoadReport
from gaussea.data.textio import iter_lines, iter_rows, parse_id

SUP_FILE, REF_FILE, ILL_FILE = "sup_ent_ids", "ref_ent_ids", "ill_ent_ids"
LINK_FILES = (REF_FILE, ILL_FILE)  # a file holding every link, in order of preference
GIVEN_SPLIT = "sup_ref"
REL_PREFIX = "rel:"
SPLIT_FOLDER = re.compile(r"[0-9]+_[0-9]+")  # JAPE's zh_en/0_3: 30 % of the links for training


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


def read_rel_ids(path: Path, report: LoadReport) -> dict[int, str]:
    """Relation names by original id from an optional ``rel_ids`` file (absent file: none)."""
    names: dict[int, str] = {}
    ids_of: dict[str, int] = {}
    for lineno, (token, uri) in iter_rows(path, 2, report, optional=True):
        rid = parse_id(token, path, lineno, report)
        if rid is None:
            continue
        if rid in names:
            report.problem(path, lineno, "duplicate-id", f"id {rid} already named {names[rid][:80]!r}")
            continue
        if uri in ids_of:
            report.problem(path, lineno, "duplicate-id", f"URI {uri[:80]!r} already has id {ids_of[uri]}")
            continue
        names[rid], ids_of[uri] = uri, rid
    return names


def read_id_triples(
    path: Path, dense: dict[int, int], report: LoadReport, names: dict[int, str] | None = None
) -> tuple[Vocab, np.ndarray]:
    """Relation vocabulary (first-occurrence order; URIs from ``names``, else ``rel:<id>``) and dense triples."""
    names = names or {}
    relations = Vocab()
    unnamed: set[int] = set()
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
        name = names.get(r)
        if name is None:
            name = f"{REL_PREFIX}{r}"
            unnamed.add(r)
        flat.extend((dh, relations.add(name), dt))
    if names and unnamed:
        report.note(f"relations_without_name:{path.name}", len(unnamed))
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
    sources = {"entities": folder / f"ent_ids_{k}", "triples": folder / f"triples_{k}",
               "relations": folder / f"rel_ids_{k}", "attributes": folder / f"training_attrs_{k}"}
    entities, dense = read_ent_ids(sources["entities"], report)
    relations, triples = read_id_triples(sources["triples"], dense, report, read_rel_ids(sources["relations"], report))
    attributes, presence = read_training_attrs(sources["attributes"], entities, report)
    side = KGSide(name, entities, relations, triples, attributes=attributes, attribute_presence=presence,
                  sources={role: str(path) for role, path in sources.items() if path.is_file()})
    return side, dense


def _pair_name(folder: Path) -> str:
    """The folder's name, or its parent's for a JAPE split folder (``zh_en/0_3`` -> ``zh_en``)."""
    if SPLIT_FOLDER.fullmatch(folder.name) and folder.parent.name:
        return folder.parent.name
    return folder.name


def _side_names(pair_name: str) -> tuple[str, str]:
    """``zh_en`` -> ``("zh", "en")``; other names -> ``("KG1", "KG2")``."""
    parts = pair_name.split("_")
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    return "KG1", "KG2"


def link_paths(folder: Path) -> tuple[Path, ...]:
    """The link files to read: ``(sup_ent_ids, ref_ent_ids)`` when the folder ships a split, else the one file
    holding every link (see the module docstring)."""
    sup, ref = folder / SUP_FILE, folder / REF_FILE
    if sup.is_file():
        if not ref.is_file():
            raise DataError(f"{sup}: training links without test links ({REF_FILE} is missing beside it)")
        return sup, ref
    for name in LINK_FILES:
        if (folder / name).is_file():
            return (folder / name,)
    raise DataError(f"{folder}: no link file (expected {SUP_FILE} + {REF_FILE}, or one of {', '.join(LINK_FILES)})")


def read_id_links(path: Path, report: LoadReport) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for lineno, (a, b) in iter_rows(path, 2, report):
        ids = _parse_ids((a, b), path, lineno, report)
        if ids is not None:
            pairs.append((ids[0], ids[1]))
    return pairs


def given_split(
    sup: tuple[Path, list[tuple[int, int]]], ref: tuple[Path, list[tuple[int, int]]],
    dense1: dict[int, int], dense2: dict[int, int], links: np.ndarray,
) -> Split:
    """The ``sup`` / ``ref`` files as a split of ``links``: each file's links that the link policy kept."""
    kept = {(int(a), int(b)) for a, b in links}

    def part(raw: list[tuple[int, int]]) -> np.ndarray:
        rows = dict.fromkeys((dense1.get(a), dense2.get(b)) for a, b in raw)
        return np.asarray([r for r in rows if r in kept], dtype=np.int64).reshape(-1, 2)

    (sup_path, sup_raw), (ref_path, ref_raw) = sup, ref
    train, test = part(sup_raw), part(ref_raw)
    shared = {(int(a), int(b)) for a, b in train} & {(int(a), int(b)) for a, b in test}
    if shared:
        raise DataError(f"{sup_path}: {len(shared)} link(s) also in {ref_path.name} (a training link would be "
                        f"tested on)")
    desc = {"kind": "given", "name": GIVEN_SPLIT, "train_file": SUP_FILE, "test_file": REF_FILE}
    return Split(train, np.zeros((0, 2), dtype=np.int64), test, description=desc,
                 files={"train": str(sup_path), "test": str(ref_path)})


def load_dbp15k(folder: str | Path, *, strict: bool = False) -> KGPair:
    """Load a DBP15K-style folder (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder does not exist")
    report = LoadReport(strict=strict)
    name = _pair_name(folder)
    name1, name2 = _side_names(name)
    paths = link_paths(folder)  # before the graphs: a folder without usable link files fails at once
    left, dense1 = _load_side(folder, 1, name1, report)
    right, dense2 = _load_side(folder, 2, name2, report)
    raws = [read_id_links(path, report) for path in paths]
    report.note("links_file", ", ".join(str(path) for path in paths))
    unread = [n for n in (SUP_FILE, REF_FILE, ILL_FILE) if (folder / n).is_file() and folder / n not in paths]
    if unread:
        report.note("links_files_not_read", ", ".join(unread))
    links = resolve_links([p for raw in raws for p in raw], dense1.get, dense2.get, report)
    pair = KGPair(name, left, right, links, report=report, meta={"folder": str(folder)},
                  link_sources=tuple(str(path) for path in paths))
    pair.validate()
    if len(paths) == 2:
        pair.given_splits[GIVEN_SPLIT] = given_split((paths[0], raws[0]), (paths[1], raws[1]), dense1, dense2, links)
        pair.default_split = GIVEN_SPLIT
    return pair
