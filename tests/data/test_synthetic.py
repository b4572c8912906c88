"""The synthetic generator: deterministic, well-formed, and noisy exactly where its ground truth says."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gaussea.data.kgpair import KGPair
from gaussea.data.registry import default_registry
from gaussea.data.synthetic import (
    SyntheticConfig,
    SyntheticWorld,
    config_from_dict,
    generate,
    generate_with_world,
    load_synthetic,
)

SMALL = {"num_entities": 400, "num_types": 4, "num_relations": 12, "triples_per_entity": 12.0}


@pytest.fixture(scope="module")
def default() -> tuple[KGPair, SyntheticWorld]:
    return generate_with_world(SyntheticConfig())


def _arrays(pair: KGPair) -> list[np.ndarray]:
    out = [pair.links]
    for side in pair.sides:
        out += [side.triples, side.numerical.entity, side.numerical.attribute, side.numerical.value,
                side.images.entity, side.images.features]
    return out


def _image_rows(side) -> np.ndarray:
    """Row of each entity's picture, -1 when it has none."""
    rows = np.full(side.num_entities, -1, dtype=np.int64)
    rows[side.images.entity] = np.arange(len(side.images))
    return rows


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def test_deterministic_from_seed() -> None:
    a, b = load_synthetic(**SMALL), load_synthetic(**SMALL)
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.meta == b.meta
    assert a.left.relations.names == b.left.relations.names
    c = load_synthetic(seed=1, **SMALL)
    assert not np.array_equal(a.left.triples, c.left.triples)
    assert not np.array_equal(a.links, c.links)


def test_streams_are_independent_per_component() -> None:
    """Changing a modality knob must not re-draw the graph: experiments then vary one thing at a time."""
    a = load_synthetic(**SMALL)
    b = load_synthetic(image_corrupted=0.6, numeric_missing=0.0, image_width=16, **SMALL)
    for x, y in zip((a.left, a.right), (b.left, b.right), strict=True):
        np.testing.assert_array_equal(x.triples, y.triples)
    np.testing.assert_array_equal(a.links, b.links)


def test_valid_and_sized_as_configured(default: tuple[KGPair, SyntheticWorld]) -> None:
    pair, world = default
    cfg = SyntheticConfig()
    pair.validate()
    assert pair.name == "synthetic"
    assert world.latent.shape == (cfg.num_entities, cfg.latent_dim)
    for s, side in enumerate(pair.sides):
        cover = cfg.per_side("entity_coverage")[s]
        assert abs(side.num_entities - cover * cfg.num_entities) < 4 * np.sqrt(cfg.num_entities)
        assert len(side.attributes) == cfg.num_attributes
        assert side.images.width == cfg.image_width
        assert side.images.features.dtype == np.float32
        # Merges remove relations, splits add them back (every side relation is used).
        n_rel = cfg.num_relations
        merge = round(cfg.per_side("relation_merge")[s] * n_rel)
        split = round(cfg.per_side("relation_split")[s] * n_rel)
        assert side.num_relations == n_rel - merge + split
        assert len(np.unique(side.triples[:, 1])) == side.num_relations
        # About 10 facts per entity, distinct, no self-loops, degrees skewed, few isolated entities.
        assert 6 <= len(side.triples) / side.num_entities <= 16
        assert side.distinct_triples() == len(side.triples)
        assert not np.any(side.triples[:, 0] == side.triples[:, 2])
        degree = np.bincount(side.triples[:, [0, 2]].ravel(), minlength=side.num_entities)
        assert degree.max() > 8 * np.median(degree)
        assert (degree == 0).mean() < 0.05


def test_links_are_the_entities_on_both_sides(default: tuple[KGPair, SyntheticWorld]) -> None:
    pair, world = default
    left_w, right_w = world.sides["left"].world_id, world.sides["right"].world_id
    np.testing.assert_array_equal(left_w[pair.links[:, 0]], right_w[pair.links[:, 1]])
    assert len(pair.links) == len(np.intersect1d(left_w, right_w))
    assert len(np.unique(pair.links[:, 0])) == len(pair.links) == len(np.unique(pair.links[:, 1]))
    assert pair.report.notes["links"] == len(pair.links)


def test_ids_and_names_are_not_aligned(default: tuple[KGPair, SyntheticWorld]) -> None:
    pair, _ = default
    assert not np.any(pair.links[:, 0] == pair.links[:, 1])
    # Not even monotonically related (a sorted id order on both sides would leak the alignment).
    assert abs(np.corrcoef(pair.links[:, 0], pair.links[:, 1])[0, 1]) < 0.1
    left, right = pair.left, pair.right
    assert all(n.startswith("L:") for n in left.entities) and all(n.startswith("R:") for n in right.entities)
    assert not set(left.relations) & set(right.relations)
    assert not set(left.attributes) & set(right.attributes)
    assert not set(left.entities) & set(right.entities)


def test_numbers_present_finite_and_in_other_units(default: tuple[KGPair, SyntheticWorld]) -> None:
    pair, _ = default
    for side in pair.sides:
        num = side.numerical
        assert len(num) > side.num_entities  # a few values per entity
        assert np.all(np.isfinite(num.value)) and num.value.dtype == np.float64
        assert set(np.unique(num.attribute)) == set(range(len(side.attributes)))
        # At most one value per (entity, attribute).
        assert len(np.unique(num.entity * len(side.attributes) + num.attribute)) == len(num)
    # The attributes span very different magnitudes, which is why per-attribute normalisation matters.
    means = [abs(pair.left.numerical.value[pair.left.numerical.attribute == a]).mean() for a in range(8)]
    assert max(means) / min(means) > 10


def test_image_missing_and_corrupted_shares(default: tuple[KGPair, SyntheticWorld]) -> None:
    pair, world = default
    cfg = SyntheticConfig()
    for name, side in zip(("left", "right"), pair.sides, strict=True):
        truth = world.sides[name]
        pictured = side.images.entity
        assert len(np.unique(pictured)) == len(pictured)  # one picture per entity
        assert not np.isin(truth.image_missing, pictured).any()
        assert len(truth.image_missing) + len(pictured) == side.num_entities
        assert abs(len(truth.image_missing) / side.num_entities - cfg.image_missing) < 0.01
        corrupted = np.asarray(pair.meta["corrupted_image"][name])
        np.testing.assert_array_equal(corrupted, truth.image_corrupted)
        assert np.isin(corrupted, pictured).all()
        assert abs(len(corrupted) / len(pictured) - cfg.image_corrupted) < 0.01
        assert pair.report.notes[f"{name}_corrupted_image"] == len(corrupted)
        assert pair.report.notes[f"{name}_missing_image"] == len(truth.image_missing)


def test_corrupted_images_are_pictures_of_other_entities(default: tuple[KGPair, SyntheticWorld]) -> None:
    """A corrupted row is this side's photo of its donor: close to the donor's clean image, not its own."""
    pair, world = default
    for name, side in zip(("left", "right"), pair.sides, strict=True):
        truth = world.sides[name]
        rows = _image_rows(side)
        bad = truth.image_corrupted
        own, donor = truth.world_id[bad], truth.image_donor[bad]
        assert np.all(donor != own) and np.all(donor >= 0)
        feats = _unit(side.images.features[rows[bad]])
        to_donor = np.sum(feats * _unit(world.clean_images(donor)), axis=1)
        to_self = np.sum(feats * _unit(world.clean_images(own)), axis=1)
        assert np.mean(to_donor > to_self) > 0.95
        # Where the donor is on this side with its own (clean) picture, the rows are the very same photo.
        side_of = {int(w): i for i, w in enumerate(truth.world_id)}
        clean = set(side.images.entity.tolist()) - set(bad.tolist())
        pairs = [(i, side_of[int(d)]) for i, d in zip(bad, donor, strict=True)
                 if side_of.get(int(d)) in clean]
        assert len(pairs) > 10
        for i, j in pairs:
            np.testing.assert_array_equal(side.images.features[rows[i]], side.images.features[rows[j]])
        # Clean rows show the entity itself.
        ok = np.setdiff1d(side.images.entity, bad)
        np.testing.assert_array_equal(truth.image_donor[ok], truth.world_id[ok])


def test_image_signal_is_real_for_clean_not_corrupted(default: tuple[KGPair, SyntheticWorld]) -> None:
    pair, _ = default
    left_rows, right_rows = _image_rows(pair.left), _image_rows(pair.right)
    links = pair.links[(left_rows[pair.links[:, 0]] >= 0) & (right_rows[pair.links[:, 1]] >= 0)]
    queries = _unit(pair.left.images.features[left_rows[links[:, 0]]])
    targets = _unit(pair.right.images.features[right_rows[links[:, 1]]])
    hit = np.argmax(queries @ targets.T, axis=1) == np.arange(len(links))
    bad_l = np.isin(links[:, 0], pair.meta["corrupted_image"]["left"])
    bad_r = np.isin(links[:, 1], pair.meta["corrupted_image"]["right"])
    clean = ~bad_l & ~bad_r
    chance = 1.0 / len(links)
    assert hit[clean].mean() > 50 * chance  # about 0.2 vs 0.0007
    assert hit[clean].mean() < 0.9  # real but imperfect
    assert hit[bad_l].mean() < 10 * chance


def test_numeric_missing_and_corruption_swaps_values() -> None:
    """Without side noise and unit changes, a corrupted value is exactly another entity's value."""
    cfg = config_from_dict({**SMALL, "numeric_side_noise": 0.0, "numeric_units": False,
                            "numeric_missing": 0.2, "numeric_corrupted": 0.25})
    pair, world = generate_with_world(cfg)
    world_values = world.attribute_loc + world.attribute_scale * world.numeric_u  # (N, A) in world units
    for name, side in zip(("left", "right"), pair.sides, strict=True):
        truth = world.sides[name]
        num = side.numerical
        assert not np.isin(truth.numeric_missing, num.entity).any()
        corrupted = np.asarray(pair.meta["corrupted_numeric"][name])
        np.testing.assert_array_equal(corrupted, truth.numeric_corrupted)
        with_numbers = np.unique(num.entity)
        assert abs(len(corrupted) / len(with_numbers) - 0.25) < 0.02
        expected_missing = 0.2 * (len(with_numbers) + len(truth.numeric_missing))
        assert abs(len(truth.numeric_missing) - expected_missing) <= 1
        owner = truth.world_id[num.entity]
        is_clean = ~np.isin(num.entity, corrupted)
        for a in range(len(side.attributes)):
            rows = np.flatnonzero(num.attribute == a)
            clean, bad = rows[is_clean[rows]], rows[~is_clean[rows]]
            # The side's attribute ids are shuffled: find the world attribute its clean values are.
            matches = [c for c in range(world_values.shape[1])
                       if np.allclose(num.value[clean], world_values[owner[clean], c])]
            assert len(matches) == 1
            col = matches[0]
            assert not np.any(np.isclose(num.value[bad], world_values[owner[bad], col]))
            # Every corrupted value is the true value of another entity that has this attribute.
            has_attr = world.attribute_defined[col, world.types]
            for r in bad:
                donors = np.flatnonzero(np.isclose(world_values[:, col], num.value[r]) & has_attr)
                assert len(donors) and owner[r] not in donors


def test_per_side_knobs_and_string_options() -> None:
    cfg = config_from_dict({**SMALL, "image_corrupted": "0.0,0.5", "numeric_units": "false", "seed": "3"})
    assert cfg.image_corrupted == (0.0, 0.5) and cfg.numeric_units is False and cfg.seed == 3
    pair = generate(cfg)
    assert pair.meta["corrupted_image"]["left"] == []
    right_share = len(pair.meta["corrupted_image"]["right"]) / pair.right.entities_with_images()
    assert abs(right_share - 0.5) < 0.01


def test_config_round_trip_and_meta() -> None:
    cfg = SyntheticConfig(num_entities=300, image_missing=(0.1, 0.2))
    d = json.loads(json.dumps(cfg.to_dict()))
    assert config_from_dict(d) == cfg
    pair = generate(cfg)
    assert pair.meta["generator"] == cfg.to_dict()
    json.dumps(pair.meta)  # everything recorded with a run must be JSON


def test_unknown_and_invalid_options_rejected() -> None:
    with pytest.raises(ValueError, match="num_entities"):  # the message lists the valid names
        load_synthetic(num_entitiez=10)
    with pytest.raises(ValueError, match="image_corrupted"):
        load_synthetic(image_corrupted=1.5)
    with pytest.raises(ValueError, match="image_missing"):
        load_synthetic(image_missing=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="not a valid int"):
        load_synthetic(num_entities="many")


def test_registry_loads_synthetic_with_options() -> None:
    pair = default_registry().load("synthetic", num_entities=300, seed=5)
    direct = generate(SyntheticConfig(num_entities=300, seed=5))
    np.testing.assert_array_equal(pair.left.triples, direct.left.triples)
    assert pair.meta["dataset"] == "synthetic"
