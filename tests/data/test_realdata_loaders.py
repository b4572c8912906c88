"""The loaders on the real benchmark files in ``shared/data``: the published (or measured) figures.

Each dataset is loaded once per module (a module-scoped cache): the FB15K stand-in alone has 381k lines.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from gaussea.data.kgpair import KGPair
from gaussea.data.registry import default_registry

pytestmark = pytest.mark.realdata

# (registry name, data dir below shared/data)
DATASETS = {
    "fb15k-db15k": "mmkg-standin",
    "fb15k-yago15k": "mmkg-standin",
    "dbp15k-zh_en": "dbp15k",
    "d_y_15k_v1": "openea",
}


@pytest.fixture(scope="module")
def cache() -> dict[str, KGPair]:
    return {}


@pytest.fixture
def load(shared_data: Path, cache: dict[str, KGPair]) -> Callable[[str], KGPair]:
    def _load(name: str) -> KGPair:
        if name not in cache:
            cache[name] = default_registry().load(name, shared_data / DATASETS[name])
        return cache[name]

    return _load


def assert_one_to_one(pair: KGPair) -> None:
    assert len(np.unique(pair.links[:, 0])) == len(pair.links)
    assert len(np.unique(pair.links[:, 1])) == len(pair.links)


def test_fb15k_db15k(load: Callable[[str], KGPair]) -> None:
    pair = load("fb15k-db15k")
    fb, db = pair.sides
    assert (fb.name, db.name) == ("FB15K", "DB15K")
    assert fb.num_entities == 14_787 and len(fb.triples) == 381_186
    assert db.num_entities == 12_842 and len(db.triples) == 99_028 and db.distinct_triples() == 89_197
    assert pair.report.total_problems == 0
    notes = pair.report.notes
    assert notes["links_lines"] == 12_846
    assert notes["links_duplicate_lines"] == 0
    assert notes["links_lines"] - notes["links_dropped_missing_entity"] == 12_772  # both ends present
    # measured: 4 DB15K entities (e.g. Underground_hip_hop, Rap_rock) are each linked to two FB15K MIDs
    assert notes["links_dropped_one_to_many"] == 8
    assert len(pair.links) == notes["links_kept"] == 12_764
    assert_one_to_one(pair)
    # numerical triples of entities outside the (stand-in) graphs are dropped, not lost silently
    assert len(fb.numerical) == 29_395 - 37 and len(db.numerical) == 48_105 - 125
    assert notes["numerical_dropped_entity_not_in_graph:FB15K_NumericalTriples.txt"] == 37
    assert np.isfinite(db.numerical.value).all()
    a, b = fb.entities["/m/01m4kpp"], db.entities["<http://dbpedia.org/resource/Andy_Griffith>"]
    assert [a, b] in pair.links.tolist()


def test_fb15k_yago15k(load: Callable[[str], KGPair]) -> None:
    pair = load("fb15k-yago15k")
    fb, yago = pair.sides
    assert fb.num_entities == 14_787 and len(fb.triples) == 381_186
    assert len(yago.triples) == 41_663
    notes = pair.report.notes
    assert notes["links_lines"] == 11_199
    assert notes["links_lines"] - notes["links_dropped_missing_entity"] == 7_374
    assert notes["links_dropped_one_to_many"] == 0 and len(pair.links) == 7_374
    assert pair.report.total_problems == 0
    assert_one_to_one(pair)


def test_dbp15k_zh_en(load: Callable[[str], KGPair]) -> None:
    pair = load("dbp15k-zh_en")
    zh, en = pair.sides
    assert (zh.num_entities, en.num_entities) == (19_388, 19_572)
    assert (len(zh.triples), len(en.triples)) == (70_414, 95_142)
    assert (zh.num_relations, en.num_relations) == (1_701, 1_323)
    assert len(pair.links) == 15_000 and pair.report.total_problems == 0
    assert_one_to_one(pair)
    # dense ids follow ent_ids order: the first link "0<TAB>10500" joins the first entity of each file
    assert pair.links[0].tolist() == [0, 0]
    assert zh.entities.name(0).startswith("http://zh.dbpedia.org/resource/")
    assert en.entities.name(0) == "http://dbpedia.org/resource/Abdullah_Gül"


def test_d_y_15k_v1(load: Callable[[str], KGPair]) -> None:
    pair = load("d_y_15k_v1")
    d, y = pair.sides
    assert (d.num_entities, y.num_entities) == (15_000, 15_000)
    assert (len(d.triples), len(y.triples)) == (30_291, 26_638)
    assert (d.num_relations, y.num_relations) == (165, 28)
    assert len(pair.links) == 15_000 and pair.report.total_problems == 0
    assert list(pair.given_splits) == ["split_721_ExEA"]
    split = pair.given_splits["split_721_ExEA"]
    assert split.sizes() == {"train": 3_000, "valid": 1_500, "test": 10_500}
    every = np.concatenate([split.train, split.valid, split.test])
    assert {tuple(r) for r in every.tolist()} == {tuple(r) for r in pair.links.tolist()}


def test_clean_data_loads_in_strict_mode(shared_data: Path) -> None:
    pair = default_registry().load("dbp15k-zh_en", shared_data / "dbp15k", strict=True)
    assert len(pair.links) == 15_000
