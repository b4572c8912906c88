"""The OpenEA layout (Sun et al., VLDB 2020): name-based tab-separated files plus the splits shipped with it.

* ``rel_triples_1`` / ``rel_triples_2``: ``head<TAB>relation<TAB>tail`` (required);
* ``attr_triples_1`` / ``attr_triples_2`` (optional, often empty): ``entity<TAB>attribute<TAB>value``. Values
  that parse as numbers (:func:`gaussea.data.values.parse_numeric`) become numerical triples; the rest
  (names, free text) are counted in the note ``non_numeric_values_skipped``;
* ``ent_links``: ``left<TAB>right`` (required), cleaned by the shared link policy
  (:func:`gaussea.data.mmkg.resolve_links`);
* given splits: every ``721_5fold/<k>/`` folder and every other direct subfolder holding ``train_links`` and
  ``test_links`` becomes ``pair.given_splits[<relative folder>]`` (e.g. ``"721_5fold/1"``,
  ``"split_721_ExEA"``). They are kept exactly as shipped so published fold results can be reproduced.

Entities are those occurring in the relational triples; attribute facts of other entities are dropped and
counted in a note (an attribute-only entity has no structure to align by and no id the splits could use).
"""

from __future__ import annotations

from pathlib import Path

from gaussea.data.kgpair import KGPair, KGSide, Split
from gaussea.data.mmkg import read_numerical, read_relational, resolve_links
from gaussea.data.report import DataError, LoadReport
from gaussea.data.splits import load_split
from gaussea.data.textio import iter_rows

FOLD_DIR = "721_5fold"
REQUIRED_SPLIT_FILES = ("train_links", "test_links")


def _load_side(folder: Path, k: int, report: LoadReport) -> KGSide:
    triples_path, attr_path = folder / f"rel_triples_{k}", folder / f"attr_triples_{k}"
    entities, relations, triples = read_relational(triples_path, report, words=False)
    attributes, numerical = read_numerical(attr_path, entities, report, optional=True, non_numeric_is_problem=False)
    sources = {"entities": str(triples_path), "triples": str(triples_path)}
    if attr_path.is_file():
        sources["numerical"] = str(attr_path)
    return KGSide(f"KG{k}", entities, relations, triples, attributes=attributes, numerical=numerical,
                  sources=sources)


def _is_split_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in REQUIRED_SPLIT_FILES)


def find_split_dirs(folder: Path) -> list[Path]:
    """Split folders shipped with the dataset, in a stable (sorted) order."""
    found: list[Path] = []
    folds = folder / FOLD_DIR
    if folds.is_dir():
        found.extend(sorted((p for p in folds.iterdir() if _is_split_dir(p)), key=lambda p: p.name))
    others = (p for p in folder.iterdir() if p.name != FOLD_DIR and _is_split_dir(p))
    found.extend(sorted(others, key=lambda p: p.name))
    return found


def load_given_splits(folder: Path, pair: KGPair) -> dict[str, Split]:
    """Every shipped split by its folder path relative to ``folder`` (``/``-separated)."""
    return {p.relative_to(folder).as_posix(): load_split(p, pair) for p in find_split_dirs(folder)}


def load_openea(folder: str | Path, *, strict: bool = False) -> KGPair:
    """Load an OpenEA dataset folder (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: dataset folder does not exist")
    report = LoadReport(strict=strict)
    left, right = _load_side(folder, 1, report), _load_side(folder, 2, report)
    links_path = folder / "ent_links"
    raw = [(a, b) for _, (a, b) in iter_rows(links_path, 2, report)]
    links = resolve_links(raw, left.entities.get, right.entities.get, report)
    pair = KGPair(folder.name, left, right, links, report=report, meta={"folder": str(folder)},
                  link_sources=(str(links_path),))
    pair.validate()
    pair.given_splits = load_given_splits(folder, pair)
    return pair
