"""Train / valid / test splits of the reference links, made reproducibly and saved as plain text.

A split is identified by ``(ratio, seed, index)``: the links are shuffled with a generator seeded by all
three, the first ``ratio`` share becomes train, then ``valid_ratio`` of *all* links (taken from the rest)
becomes valid, and what remains is test. Valid links are never test links, so early stopping on them is
honest. The paper averages 5 random splits per ratio; ``index`` numbers them.

Files use the OpenEA convention (``train_links``, ``valid_links``, ``test_links``; one ``left<TAB>right``
line per link, entity names not ids) so a split written here can be read by OpenEA-style tools and vice
versa, and survives a change in id assignment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gaussea.data.kgpair import KGPair, Split
from gaussea.data.report import DataError
from gaussea.ioutil import atomic_write_text

SPLIT_FILES = ("train_links", "valid_links", "test_links")


def _empty_links() -> np.ndarray:
    return np.zeros((0, 2), dtype=np.int64)


def make_split(
    links: np.ndarray, ratio: float, seed: int = 0, index: int = 0, valid_ratio: float = 0.0
) -> Split:
    """Cut ``links`` into a reproducible random split.

    ``ratio`` and ``valid_ratio`` are shares of all links; train gets ``round(ratio * m)`` links.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"train ratio must lie in (0, 1), got {ratio}")
    if not 0.0 <= valid_ratio < 1.0 - ratio:
        raise ValueError(f"valid ratio must lie in [0, 1 - ratio), got {valid_ratio}")
    m = len(links)
    rng = np.random.default_rng([int(seed), int(round(ratio * 10_000)), int(index)])
    order = rng.permutation(m)
    n_train = int(round(ratio * m))
    n_valid = int(round(valid_ratio * m))
    train = links[order[:n_train]]
    valid = links[order[n_train : n_train + n_valid]]
    test = links[order[n_train + n_valid :]]
    desc = {"kind": "random", "ratio": ratio, "valid_ratio": valid_ratio, "seed": seed, "index": index}
    return Split(train=train, valid=valid if len(valid) else _empty_links(), test=test, description=desc)


def save_split(split: Split, pair: KGPair, folder: Path) -> None:
    """Write the split as name-based link files plus ``split.json`` describing how it was made."""
    folder.mkdir(parents=True, exist_ok=True)
    for fname, arr in zip(SPLIT_FILES, (split.train, split.valid, split.test), strict=True):
        text = "".join(f"{pair.left.entities.name(a)}\t{pair.right.entities.name(b)}\n" for a, b in arr)
        atomic_write_text(folder / fname, text)
    atomic_write_text(folder / "split.json", json.dumps(split.description, indent=2) + "\n")


def link_name_lines(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line number, left name, right name)`` of every non-blank line of a ``left<TAB>right`` link file.

    UTF-8 with an optional BOM (not part of the first name); lines split on ``\\n`` only, since names may hold
    other characters ``str.splitlines()`` treats as line breaks. A line without exactly two columns is a
    :class:`DataError` naming the file and line, never skipped.
    """
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r").strip(" \t")
        if not line:
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(f"{path}:{lineno}: expected 2 tab-separated columns, got {len(parts)}")
        yield lineno, parts[0], parts[1]


def read_link_names(path: Path) -> list[tuple[str, str]]:
    """``(left name, right name)`` of every link of a ``left<TAB>right`` file (no dataset needed); [] if it is
    missing."""
    if not path.exists():
        return []
    return [(left, right) for _, left, right in link_name_lines(path)]


def read_link_file(path: Path, pair: KGPair) -> np.ndarray:
    """Read ``left<TAB>right`` name lines into ids. Unknown names are errors: a split must match its data."""
    rows: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for lineno, left, right in link_name_lines(path):
        a, b = pair.left.entities.get(left), pair.right.entities.get(right)
        if a is None or b is None:
            missing = left if a is None else right
            raise DataError(f"{path}:{lineno}: entity {missing!r} is not in dataset {pair.name}")
        if (a, b) in seen:
            raise DataError(f"{path}:{lineno}: link listed twice (it would be counted twice)")
        seen.add((a, b))
        rows.append((a, b))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def load_split(folder: Path, pair: KGPair) -> Split:
    """Load a split folder written by :func:`save_split` or given with a dataset (OpenEA folds).

    ``valid_links`` may be absent (treated as empty); ``train_links`` and ``test_links`` are required.
    """
    folder = Path(folder)
    arrays = []
    for fname in SPLIT_FILES:
        path = folder / fname
        if not path.exists():
            if fname == "valid_links":
                arrays.append(_empty_links())
                continue
            raise DataError(f"{path}: split file missing")
        arrays.append(read_link_file(path, pair))
    desc: dict = {"kind": "file", "folder": str(folder)}
    meta = folder / "split.json"
    if meta.exists():
        try:
            desc = json.loads(meta.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{meta}: not valid JSON ({exc})") from None
        if not isinstance(desc, dict):
            raise DataError(f"{meta}: must hold a JSON object describing the split")
    files = {part: str(folder / fname) for part, fname in zip(("train", "valid", "test"), SPLIT_FILES, strict=True)}
    split = Split(*arrays, description=desc, files=files)
    check_disjoint(split, str(folder))
    return split


def check_disjoint(split: Split, where: str) -> None:
    """Refuse splits where a test link is also a train or valid link (the source of optimistic figures)."""
    def keyset(arr: np.ndarray) -> set[tuple[int, int]]:
        return {(int(a), int(b)) for a, b in arr}

    tr, va, te = keyset(split.train), keyset(split.valid), keyset(split.test)
    if tr & te or va & te or tr & va:
        raise DataError(f"{where}: split overlaps (train/valid/test links must be disjoint)")
