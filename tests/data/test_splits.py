"""Splits: reproducible, disjoint, saved and loaded by name; property-tested on random link sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.data.kgpair import KGPair, KGSide, Split, Vocab
from gaussea.data.report import DataError
from gaussea.data.splits import check_disjoint, load_split, make_split, save_split


def _pair(n: int) -> KGPair:
    def side(prefix: str) -> KGSide:
        return KGSide(prefix, Vocab(f"{prefix}:e{i}" for i in range(n)), Vocab(["r"]), np.zeros((0, 3), np.int64))

    links = np.stack([np.arange(n), (np.arange(n) * 7) % n], 1).astype(np.int64)
    return KGPair("toy", side("L"), side("R"), links)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(5, 300), ratio=st.floats(0.05, 0.8), valid=st.floats(0.0, 0.15),
       seed=st.integers(0, 10), index=st.integers(0, 4))
def test_make_split_partitions_links(n: int, ratio: float, valid: float, seed: int, index: int) -> None:
    if valid >= 1 - ratio:
        return
    links = _pair(n).links
    split = make_split(links, ratio, seed=seed, index=index, valid_ratio=valid)
    assert len(split.train) + len(split.valid) + len(split.test) == n
    assert len(split.train) == round(ratio * n)
    together = np.concatenate([split.train, split.valid, split.test])
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, links.tolist()))
    check_disjoint(split, "test")
    again = make_split(links, ratio, seed=seed, index=index, valid_ratio=valid)
    assert np.array_equal(split.train, again.train) and np.array_equal(split.test, again.test)


def test_split_indices_differ() -> None:
    links = _pair(100).links
    a, b = make_split(links, 0.2, index=0), make_split(links, 0.2, index=1)
    assert not np.array_equal(a.train, b.train)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    pair = _pair(50)
    split = make_split(pair.links, 0.3, seed=3, index=2, valid_ratio=0.1)
    save_split(split, pair, tmp_path / "s")
    back = load_split(tmp_path / "s", pair)
    for a, b in zip((split.train, split.valid, split.test), (back.train, back.valid, back.test), strict=True):
        assert np.array_equal(a, b)
    assert back.description["ratio"] == 0.3 and back.description["index"] == 2
    assert (tmp_path / "s" / "train_links").read_text().splitlines()[0].count("\t") == 1


def test_load_split_rejects_unknown_entity_and_overlap(tmp_path: Path) -> None:
    pair = _pair(10)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "train_links").write_text("L:e0\tR:e0\n")
    (folder / "test_links").write_text("L:e0\tR:e0\nL:e1\tR:nope\n")
    with pytest.raises(DataError, match=r"test_links:2: entity 'R:nope'"):
        load_split(folder, pair)
    (folder / "test_links").write_text("L:e0\tR:e0\n")
    with pytest.raises(DataError, match="overlaps"):
        load_split(folder, pair)


def test_bad_ratios_rejected() -> None:
    links = _pair(10).links
    with pytest.raises(ValueError):
        make_split(links, 1.0)
    with pytest.raises(ValueError):
        make_split(links, 0.5, valid_ratio=0.6)
    assert isinstance(make_split(links, 0.5), Split)
