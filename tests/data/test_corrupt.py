"""``data.corrupt``: a known share of one side's numbers / pictures swapped between entities after loading.

The invariants (on hand-made pairs and, as a property, on random ones): exactly ``round(share x pool)`` entities
are corrupted, each shows another entity's facts exactly (never its own), the side's facts are a permutation of
the real ones, everything else is untouched, and the masks land where the variance summary reads them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.cli import build_parser, build_run_config, main
from gaussea.commands.explain import corruption_masks
from gaussea.config import DataConfig, RunConfig
from gaussea.data.corrupt import CorruptionSpec, corrupt_pair, parse_corrupt_flag
from gaussea.data.kgpair import ImageFeatures, KGPair, KGSide, NumericalTriples, Vocab
from gaussea.data.report import DataError
from gaussea.runner import corruption_variance_summary, load_pair, load_run_model

Facts = dict[int, list[tuple[float, ...]]]


@pytest.fixture(scope="module", autouse=True)
def torch_threads_restored() -> object:
    """The end-to-end run sets one torch thread process-wide; give the other modules torch's default back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


# --- building small pairs --------------------------------------------------------------------------------------
def make_side(name: str, n: int, numbers: dict[int, list[int]], images: dict[int, int]) -> KGSide:
    """``n`` entities in a chain; ``numbers`` maps an entity to its attribute ids and ``images`` to its row count.

    Every value and feature row encodes its owner, so no two entities have equal facts."""
    ent, att, val = [], [], []
    for e, attrs in sorted(numbers.items()):
        ent += [e] * len(attrs)
        att += attrs
        val += [100.0 * e + a + 0.5 for a in attrs]
    owners = [e for e, rows in sorted(images.items()) for _ in range(rows)]
    feats = [[float(e), float(r), 1.0] for e, rows in sorted(images.items()) for r in range(rows)]
    n_att = max((a for attrs in numbers.values() for a in attrs), default=-1) + 1
    return KGSide(
        name=name,
        entities=Vocab(f"{name}:{i}" for i in range(n)),
        relations=Vocab(["r"]),
        triples=np.array([[i, 0, i + 1] for i in range(n - 1)], dtype=np.int64).reshape(-1, 3),
        attributes=Vocab(f"a{i}" for i in range(n_att)),
        numerical=NumericalTriples(np.array(ent, dtype=np.int64), np.array(att, dtype=np.int64),
                                   np.array(val, dtype=np.float64)),
        images=ImageFeatures(np.array(owners, dtype=np.int64), np.array(feats, dtype=np.float32).reshape(-1, 3)),
    )


def tiny_pair() -> KGPair:
    """Left: 6 entities, numbers on 0-4, pictures on 0-3 (entity 1 has two). Right: 7 entities, numbers on 0-5
    (uneven counts), pictures on 1-5."""
    left = make_side("L", 6, {0: [0, 1], 1: [0], 2: [1, 2], 3: [2], 4: [0, 1, 2]}, {0: 1, 1: 2, 2: 1, 3: 1})
    right = make_side("R", 7, {0: [0], 1: [0, 1], 2: [1], 3: [0, 1, 2], 4: [2], 5: [1]},
                      {1: 1, 2: 1, 3: 2, 4: 1, 5: 1})
    links = np.array([[i, i] for i in range(6)], dtype=np.int64)
    return KGPair("tiny", left, right, links)


def facts(side: KGSide, modality: str) -> Facts:
    """Each entity's facts as sorted rows: ``(attribute, value)`` or its image feature rows."""
    out: Facts = {}
    if modality == "numeric":
        rows = zip(side.numerical.entity, side.numerical.attribute, side.numerical.value, strict=True)
        for e, a, v in rows:
            out.setdefault(int(e), []).append((float(a), float(v)))
    else:
        for e, row in zip(side.images.entity, side.images.features, strict=True):
            out.setdefault(int(e), []).append(tuple(float(x) for x in row))
    return {e: sorted(rows) for e, rows in out.items()}


def assert_swapped(before: Facts, after: Facts, chosen: list[int], *, permutation: bool) -> None:
    """The chosen entities show another entity's facts exactly, never their own; the rest are untouched."""
    assert set(after) == set(before)  # who has the modality does not change
    for e in before:
        if e in chosen:
            assert after[e] != before[e]
            assert any(after[e] == before[d] for d in before if d != e)
        else:
            assert after[e] == before[e]
    if permutation:  # facts moved, none duplicated or lost
        def every_fact(by_entity: Facts) -> Counter:
            return Counter(r for rows in by_entity.values() for r in rows)

        assert every_fact(after) == every_fact(before)


def same_side(a: KGSide, b: KGSide) -> bool:
    return all(np.array_equal(x, y) for x, y in ((a.numerical.entity, b.numerical.entity),
                                                  (a.numerical.attribute, b.numerical.attribute),
                                                  (a.numerical.value, b.numerical.value),
                                                  (a.images.entity, b.images.entity),
                                                  (a.images.features, b.images.features)))


# --- the swap ------------------------------------------------------------------------------------------------------
def test_numbers_of_one_side_are_swapped_exactly() -> None:
    pair = tiny_pair()
    before = facts(pair.right, "numeric")
    out = corrupt_pair(pair, CorruptionSpec({"numeric": 0.5}, side="right", seed=3))
    chosen = out.meta["corrupted_numeric"]["right"]
    assert len(chosen) == round(0.5 * 6) == 3 and out.meta["corrupted_numeric"]["left"] == []
    assert_swapped(before, facts(out.right, "numeric"), chosen, permutation=True)
    assert same_side(out.left, pair.left)  # the other side untouched
    assert not same_side(out.right, pair.right)
    assert facts(pair.right, "numeric") == before  # the input pair is not changed
    assert "corrupted_image" not in out.meta
    assert out.meta["corruption"]["numeric"] == {
        "share": 0.5, "right": {"entities_with_modality": 6, "corrupted": 3, "received_identical_facts": 0,
                                "marked_corrupted": 3}}
    assert out.meta["corruption"]["seed"] == 3 and out.meta["corruption"]["side"] == "right"


def test_pictures_move_as_whole_blocks_on_both_sides() -> None:
    pair = tiny_pair()
    out = corrupt_pair(pair, CorruptionSpec({"image": 0.5}, seed=1))
    for name in ("left", "right"):
        side_before, side_after = getattr(pair, name), getattr(out, name)
        chosen = out.meta["corrupted_image"][name]
        assert len(chosen) == round(0.5 * side_before.entities_with_images())
        assert_swapped(facts(side_before, "image"), facts(side_after, "image"), chosen, permutation=True)
        assert np.array_equal(side_after.numerical.value, side_before.numerical.value)
    assert out.left.images.features.dtype == np.float32


def test_a_single_chosen_entity_copies_another_entitys_facts() -> None:
    pair = tiny_pair()
    before = facts(pair.left, "numeric")
    out = corrupt_pair(pair, CorruptionSpec({"numeric": 0.2}, side="left", seed=0))  # round(0.2 x 5) = 1
    chosen = out.meta["corrupted_numeric"]["left"]
    assert len(chosen) == 1
    assert_swapped(before, facts(out.left, "numeric"), chosen, permutation=False)


def test_deterministic_per_seed_and_independent_of_other_settings() -> None:
    big = make_side("B", 60, {e: [e % 3] for e in range(50)}, {e: 1 for e in range(50)})
    pair = KGPair("big", big, big, np.array([[i, i] for i in range(60)], dtype=np.int64))
    spec = {"numeric": 0.3, "side": "right"}
    first = corrupt_pair(pair, CorruptionSpec.from_setting(spec))
    again = corrupt_pair(pair, CorruptionSpec.from_setting(spec))
    other = corrupt_pair(pair, CorruptionSpec.from_setting({**spec, "seed": 1}))
    assert same_side(first.right, again.right) and first.meta == again.meta
    assert first.meta["corrupted_numeric"]["right"] != other.meta["corrupted_numeric"]["right"]
    # the right side's numbers are corrupted alike whatever else is corrupted too
    wider = corrupt_pair(pair, CorruptionSpec.from_setting({"numeric": 0.3, "image": 0.4}))
    assert wider.meta["corrupted_numeric"]["right"] == first.meta["corrupted_numeric"]["right"]
    assert np.array_equal(wider.right.numerical.value, first.right.numerical.value)


def test_zero_share_changes_nothing_but_is_recorded() -> None:
    pair = tiny_pair()
    out = corrupt_pair(pair, CorruptionSpec({"numeric": 0.0}))
    assert same_side(out.left, pair.left) and same_side(out.right, pair.right)
    assert out.meta["corrupted_numeric"] == {"left": [], "right": []}
    assert out.meta["corruption"]["numeric"]["left"]["corrupted"] == 0


def test_planted_masks_are_merged() -> None:
    pair = tiny_pair()
    pair.meta["corrupted_numeric"] = {"left": [4], "right": [0]}
    out = corrupt_pair(pair, CorruptionSpec({"numeric": 0.5}, side="right", seed=3))
    fresh = corrupt_pair(tiny_pair(), CorruptionSpec({"numeric": 0.5}, side="right", seed=3))
    added = fresh.meta["corrupted_numeric"]["right"]
    assert out.meta["corrupted_numeric"] == {"left": [4], "right": sorted({0, *added})}
    assert out.meta["corruption"]["numeric"]["right"]["marked_corrupted"] == len({0, *added})
    with pytest.raises(ValueError, match="already corrupted"):
        corrupt_pair(out, CorruptionSpec({"image": 0.2}))


class PlantedVariances:
    """A stand-in model whose numerical variance is 5 for the given corrupted right entities, else 1."""

    def __init__(self, pair: KGPair, corrupted_right: list[int]) -> None:
        n1, n2 = pair.left.num_entities, pair.right.num_entities
        values = np.full(n1 + n2, np.nan)
        values[pair.left.numerical.entity] = 1.0
        values[n1 + pair.right.numerical.entity] = 1.0
        values[n1 + np.asarray(corrupted_right, dtype=np.int64)] = 5.0
        self.values = values

    def variance_report(self) -> dict[str, np.ndarray]:
        return {"numerical": self.values}


def test_masks_feed_the_variance_summary() -> None:
    out = corrupt_pair(tiny_pair(), CorruptionSpec({"numeric": 0.5}, side="right", seed=3))
    chosen = out.meta["corrupted_numeric"]["right"]
    summary = corruption_variance_summary(PlantedVariances(out, chosen), out)
    assert summary is not None
    s = summary["numerical"]
    assert (s["num_corrupted"], s["num_clean"]) == (3, 5 + 6 - 3)
    assert (s["corrupted_mean"], s["clean_mean"]) == (5.0, 1.0)


# --- property: random small pairs -----------------------------------------------------------------------------------
@st.composite
def random_pairs(draw: st.DrawFn) -> KGPair:
    sides = []
    for name in ("L", "R"):
        n = draw(st.integers(1, 12))
        numbers = {e: sorted(draw(st.sets(st.integers(0, 3), min_size=1, max_size=3)))
                   for e in draw(st.sets(st.integers(0, n - 1)))}
        images = {e: draw(st.integers(1, 3)) for e in draw(st.sets(st.integers(0, n - 1)))}
        sides.append(make_side(name, n, numbers, images))
    m = min(s.num_entities for s in sides)
    return KGPair("random", sides[0], sides[1], np.array([[i, i] for i in range(m)], dtype=np.int64))


@settings(max_examples=150, deadline=None)
@given(pair=random_pairs(), modality=st.sampled_from(["numeric", "image"]),
       share=st.floats(0.0, 0.99), side=st.sampled_from(["left", "right", "both"]), seed=st.integers(0, 2**16))
def test_swap_invariants_on_random_pairs(pair: KGPair, modality: str, share: float, side: str, seed: int) -> None:
    spec = CorruptionSpec.from_setting({modality: share, "side": side, "seed": seed})
    assert spec is not None
    pools = {name: facts(getattr(pair, name), modality) for name in ("left", "right")}
    counts = {name: round(share * len(pools[name])) for name in spec.sides}
    if any((share > 0 and not pools[n]) or (counts[n] and len(pools[n]) < 2) for n in spec.sides):
        with pytest.raises(DataError, match="data.corrupt"):
            corrupt_pair(pair, spec)
        return
    out = corrupt_pair(pair, spec)
    key = f"corrupted_{modality}"
    for name in ("left", "right"):
        chosen = out.meta[key][name]
        if name not in spec.sides:
            assert chosen == [] and same_side(getattr(out, name), getattr(pair, name))
            continue
        assert len(chosen) == counts[name] and set(chosen) <= set(pools[name])
        assert_swapped(pools[name], facts(getattr(out, name), modality), chosen, permutation=counts[name] != 1)
        other = "image" if modality == "numeric" else "numeric"
        assert facts(getattr(out, name), other) == facts(getattr(pair, name), other)
    out.validate()


# --- the setting ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("setting", "problem"), [
    ({"numbers": 0.2}, "unknown key"),
    ({"numeric": 1.0}, r"data.corrupt.numeric must be a share in \[0, 1\)"),
    ({"image": -0.1}, "data.corrupt.image must be a share"),
    ({"numeric": "0.2"}, "data.corrupt.numeric must be a share"),
    ({"numeric": True}, "data.corrupt.numeric must be a share"),
    ({"numeric": 0.2, "side": "top"}, "data.corrupt.side must be one of"),
    ({"numeric": 0.2, "seed": -1}, "data.corrupt.seed must be an integer"),
    ({"numeric": 0.2, "seed": 1.5}, "data.corrupt.seed must be an integer"),
    ({"side": "left"}, "names no modality"),
    ("numeric=0.2", "data.corrupt must be a table"),
])
def test_bad_settings_are_refused_in_one_line(setting: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        CorruptionSpec.from_setting(setting)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_empty_setting_is_off_and_seed_defaults_to_the_split_seed() -> None:
    assert CorruptionSpec.from_setting({}) is None and DataConfig().corrupt == {}
    assert CorruptionSpec.from_setting({"image": 0.4}, default_seed=7) == CorruptionSpec({"image": 0.4}, "both", 7)


def test_a_side_without_the_modality_is_refused() -> None:
    pair = tiny_pair()
    pair.left.images = ImageFeatures()
    with pytest.raises(DataError, match="L has no entity with image facts"):
        corrupt_pair(pair, CorruptionSpec({"image": 0.4}, side="left"))
    lonely = make_side("S", 3, {0: [0]}, {})
    with pytest.raises(DataError, match="single entity"):
        corrupt_pair(KGPair("p", lonely, lonely, np.zeros((0, 2), dtype=np.int64)), CorruptionSpec({"numeric": 0.6}))


def test_corrupt_flag() -> None:
    assert parse_corrupt_flag("numeric=0.2, side=right,seed=3") == {"numeric": 0.2, "side": "right", "seed": 3}
    args = build_parser().parse_args(["run", "--corrupt", "numeric=0.2,side=right"])
    assert build_run_config(args).data.corrupt == {"numeric": 0.2, "side": "right"}
    for bad, problem in (("numeric", "key=value"), ("numeric=abc", "not a number"), ("seed=x", "not an integer")):
        with pytest.raises(ValueError, match=problem):
            parse_corrupt_flag(bad)


def test_cli_refuses_a_bad_setting_before_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "--corrupt", "numeric=1.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.corrupt.numeric must be a share" in err
    assert main(["run", "--out", str(out), "--set", 'data.corrupt={"numbers": 0.2}']) == 2
    assert "unknown key(s) ['numbers']" in capsys.readouterr().err
    assert not out.exists()


# --- through a run --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def corrupted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short synthetic run with no planted corruption of its own and 40 % of pictures swapped by data.corrupt."""
    run_dir = tmp_path_factory.mktemp("corrupt") / "run"
    options = {"num_entities": 200, "image_corrupted": 0.0, "numeric_corrupted": 0.0}
    code = main(["run", "--out", str(run_dir), "--set", f"data.options={json.dumps(options)}",
                 "--set", 'data.corrupt={"image": 0.4}', "--dim", "16", "--stage1-epochs", "1",
                 "--stage2-epochs", "1", "--threads", "1", "--no-progress"])
    assert code == 0
    return run_dir


def test_run_reports_variance_of_corrupted_pictures(corrupted_run: Path) -> None:
    cfg = RunConfig.from_dict(json.loads((corrupted_run / "config.json").read_text()))
    assert cfg.data.corrupt == {"image": 0.4}
    masks = load_pair(cfg).meta["corrupted_image"]
    metrics = json.loads((corrupted_run / "metrics.json").read_text())
    visual = metrics["variance_by_corruption"]["visual"]
    assert visual["num_corrupted"] == len(masks["left"]) + len(masks["right"]) > 0
    meta = json.loads((corrupted_run / "dataset.json").read_text())["meta"]
    record = meta["corruption"]
    assert record["seed"] == 0 and record["side"] == "both" and record["image"]["share"] == 0.4
    for name in ("left", "right"):
        assert record["image"][name]["corrupted"] == len(masks[name])
        assert record["image"][name]["corrupted"] == round(0.4 * record["image"][name]["entities_with_modality"])
    assert not any(k.startswith("corrupted_") for k in meta)


def test_readers_of_the_run_see_the_same_corruption(corrupted_run: Path) -> None:
    cfg = RunConfig.from_dict(json.loads((corrupted_run / "config.json").read_text()))
    expected = load_pair(cfg)
    _, pair, _, _ = load_run_model(corrupted_run)
    assert pair.meta["corrupted_image"] == expected.meta["corrupted_image"]
    assert np.array_equal(pair.right.images.features, expected.right.images.features)
    masks = corruption_masks(corrupted_run)
    assert masks is not None
    for name in ("left", "right"):
        assert np.flatnonzero(masks["visual"][name]).tolist() == expected.meta["corrupted_image"][name]


@pytest.mark.realdata
def test_fb15k_db15k_numbers_of_one_side(shared_data: Path) -> None:
    cfg = RunConfig(data=DataConfig(dataset="fb15k-db15k", data_dir=str(shared_data / "mmkg-standin"),
                                    corrupt={"numeric": 0.2, "side": "right"}))
    pair = load_pair(cfg)
    db = pair.right
    chosen = pair.meta["corrupted_numeric"]["right"]
    assert len(chosen) == round(0.2 * db.entities_with_numbers()) == 2189  # of 10,947 DB15K entities with numbers
    assert pair.meta["corrupted_numeric"]["left"] == []
    assert pair.meta["corruption"]["numeric"]["right"]["corrupted"] == len(chosen)
    assert len(db.numerical) == 48_105 - 125  # facts moved, none lost (see test_realdata_loaders)
