"""DBP15K folders that ship their split (``sup_ent_ids`` + ``ref_ent_ids``, JAPE's ``0_3``, SRPRS, ...).

Reading ``ref_ent_ids`` alone as every link loses the training links and tests on a random share of the *test*
links; these tests pin that both files are read, their union is the links, and the shipped split is what a run
uses unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gaussea.config import RunConfig
from gaussea.data.dbp15k import load_dbp15k
from gaussea.data.registry import default_registry
from gaussea.data.report import DataError
from gaussea.runner import choose_split


def _config(given_split: str | None = None) -> RunConfig:
    cfg = RunConfig()
    cfg.data.ratio, cfg.data.given_split = 0.5, given_split
    return cfg


def _rows(links: np.ndarray) -> set[tuple[int, int]]:
    return {(int(a), int(b)) for a, b in links}


def test_sup_and_ref_are_the_links_and_the_default_split(make_dbp15k: Callable[..., Path], tmp_path: Path) -> None:
    pair = load_dbp15k(make_dbp15k(tmp_path / "zh_en", 20, sup=6))
    assert len(pair.links) == 20  # sup + ref, not ref alone
    given = pair.given_splits["sup_ref"]
    assert given.sizes() == {"train": 6, "valid": 0, "test": 14}
    assert _rows(given.train) == {(i, i) for i in range(6)} and _rows(given.test) == {(i, i) for i in range(6, 20)}
    assert pair.default_split == "sup_ref"
    split = choose_split(_config(), pair)
    assert split.description["used_by_default"] and split.sizes() == given.sizes()
    assert _rows(split.test) == _rows(given.test)
    assert _rows(choose_split(_config("sup_ref"), pair).train) == _rows(given.train)
    drawn = choose_split(_config("none"), pair)  # a random split of all 20 links when asked for
    assert drawn.description["kind"] == "random" and drawn.sizes() == {"train": 10, "valid": 0, "test": 10}


def test_one_link_file_has_no_given_split(make_dbp15k: Callable[..., Path], tmp_path: Path) -> None:
    pair = load_dbp15k(make_dbp15k(tmp_path / "zh_en", 20))
    assert pair.given_splits == {} and pair.default_split is None
    assert choose_split(_config(), pair).description["kind"] == "random"


def test_sup_without_ref_is_an_error(make_dbp15k: Callable[..., Path], tmp_path: Path) -> None:
    root = make_dbp15k(tmp_path / "zh_en", 20, sup=6)
    (root / "ref_ent_ids").unlink()
    with pytest.raises(DataError, match=rf"{root / 'sup_ent_ids'}: training links without test links"):
        load_dbp15k(root)


def test_a_link_in_sup_and_ref_is_an_error(make_dbp15k: Callable[..., Path], tmp_path: Path) -> None:
    root = make_dbp15k(tmp_path / "zh_en", 20, sup=6)
    with (root / "ref_ent_ids").open("a") as f:
        f.write("0\t100\n")  # also a training link
    with pytest.raises(DataError, match=r"sup_ent_ids: 1 link\(s\) also in ref_ent_ids"):
        load_dbp15k(root)


def test_rel_ids_name_the_relations(make_dbp15k: Callable[..., Path], tmp_path: Path) -> None:
    root = make_dbp15k(tmp_path / "zh_en", 8)
    (root / "rel_ids_1").write_text("0\thttp://l/p0\n1\thttp://l/p1\n")
    (root / "rel_ids_2").write_text("2\thttp://r/q2\n3\thttp://r/q3\n")  # relation 4 has no name
    pair = load_dbp15k(root)
    assert pair.left.relations.names == ["http://l/p0", "http://l/p1"]
    assert pair.right.relations.names == ["http://r/q2", "http://r/q3", "rel:4"]
    assert pair.report.notes["relations_without_name:triples_2"] == 1


def test_jape_split_folder_is_named_after_its_pair(make_dbp15k: Callable[..., Path], tmp_path: Path) -> None:
    pair = load_dbp15k(make_dbp15k(tmp_path / "ja_en" / "0_3", 20, sup=6))
    assert (pair.name, pair.left.name, pair.right.name) == ("ja_en", "ja", "en")


@pytest.mark.realdata
def test_real_zh_en_in_the_sup_ref_layout(zh_en_copy: Callable[..., Path], shared_data: Path) -> None:
    """zh_en's 15,000 links cut into 4,500 sup / 10,500 ref: the given split is exactly those files."""
    lines = (shared_data / "dbp15k" / "zh_en" / "ill_ent_ids").read_text(encoding="utf-8").splitlines(keepends=True)
    root = zh_en_copy({"ill_ent_ids": None, "sup_ent_ids": "".join(lines[:4_500]),
                       "ref_ent_ids": "".join(lines[4_500:])}, folder="zh_en/0_3")
    pair = default_registry().load("dbp15k-zh_en", root)
    assert len(pair.links) == 15_000 and pair.name == "zh_en"
    assert pair.given_splits["sup_ref"].sizes() == {"train": 4_500, "valid": 0, "test": 10_500}
    assert "dataset_warning" not in pair.meta  # the same entities: no mismatch to report
    split = choose_split(_config(), pair)
    assert split.sizes() == {"train": 4_500, "valid": 0, "test": 10_500}
    uri_of = dict(line.split("\t") for line in (root / "ent_ids_1").read_text(encoding="utf-8").splitlines())
    assert pair.left.entities.name(int(split.test[0, 0])) == uri_of[lines[4_500].split("\t")[0]]  # ref's first
