"""bench/graph_density.py: the neighbour agreement that explains the baselines' rows, against a hand count."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from gaussea.data.kgpair import KGPair, KGSide, Vocab


def side(name: str, triples: list[tuple[int, int, int]], entities: int) -> KGSide:
    return KGSide(name, Vocab(f"{name}{i}" for i in range(entities)), Vocab(["r"]), np.array(triples, dtype=np.int64))


def test_agreement_and_degrees_match_a_hand_count(bench_script: Callable[[str], ModuleType]) -> None:
    """Left: 0-1, 0-2, 0-3 (a dense hub); right: 0-1, 2-3. Links i <-> i for 0..3.

    From the left: entity 0's linked neighbours 1, 2, 3 map to 1, 2, 3, and only 1 neighbours right 0: 1/3;
    entities 1, 2, 3 each have neighbour 0, whose counterpart neighbours their partner only for 1: 1, 0, 0.
    From the right: 0 -> {1}: 1/1; 1 -> {0}: 1; 2 -> {3}: left 3 is not a neighbour of left 2: 0; 3 -> {2}: 0.
    """
    gd = bench_script("graph_density")
    pair = KGPair("toy", side("L", [(0, 0, 1), (0, 0, 2), (0, 0, 3)], 4), side("R", [(0, 0, 1), (2, 0, 3)], 4),
                  np.array([[i, i] for i in range(4)], dtype=np.int64))
    measured = gd.agreement(pair)
    assert measured["neighbour_agreement"]["left"] == pytest.approx(round((1 / 3 + 1) / 4, 4))
    assert measured["neighbour_agreement"]["right"] == pytest.approx(0.5)
    assert measured["links_with_an_agreeing_neighbour"] == pytest.approx(0.5)
    degrees = gd.linked_degrees(pair.left, pair.links[:, 0])
    assert (degrees["linked_median_degree"], degrees["linked_share_degree_at_most_2"]) == (1.0, 0.75)
