"""Truncated negative sampling (``model.negative_sampling = "truncated"``): neighbour lists, their schedule, and
every model that offers it (the paper's model and the translational baselines) drawing from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.config import ModelConfig, RunConfig, TrainConfig
from gaussea.models import build_model, model_builders
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.translational import TripleRanking
from gaussea.runner import choose_split, load_pair
from gaussea.samplers.negatives import NegativeSampler
from gaussea.samplers.neighbours import NeighbourLists
from gaussea.train import Trainer

# Every model with truncated negatives, and the entity vectors its lists must come from (written out here, not
# read from the model, so that a model naming the wrong table fails).
EXPECTED_EMBEDDING: dict[str, Callable[[AlignmentModel], torch.Tensor]] = {
    "gaussian": lambda m: m.rel_ent.mean,
    "mmea": lambda m: m.rel_ent.mean,
    "transe": lambda m: m.entity.mean,
    "mtranse": lambda m: m.entity.mean,  # each graph's own space, unmapped
    "sea": lambda m: m.entity.mean,
    "imuse": lambda m: m.entity.mean,  # the relational part
    "iptranse": lambda m: m.entity.mean[m.canon],  # a seed pair's right entity reads its partner's row
}


def _sampler(num_left: int, num_right: int, triples: torch.Tensor | None = None) -> NegativeSampler:
    side = torch.cat([torch.zeros(num_left, dtype=torch.long), torch.ones(num_right, dtype=torch.long)])
    positives = triples if triples is not None else torch.tensor([[0, 0, 1]])
    return NegativeSampler(positives, side, num_left, num_relations=1)


def assert_nearest_of_own_graph(lists: NeighbourLists, embedding: torch.Tensor) -> None:
    """Brute force in float64: each list holds distinct others of the entity's graph, and none of them is less
    cosine-similar than an entity left out (up to float32 rounding, in which the lists are computed)."""
    unit = F.normalize(embedding.detach().double(), dim=-1)
    n, n1 = lists.num_entities, lists.num_left
    for lo, hi, count in ((0, n1, lists.counts[0]), (n1, n, lists.counts[1])):
        for e in range(lo, hi):
            listed = lists.neighbours[e, :count].long()
            assert len(set(listed.tolist())) == count and e not in listed.tolist()
            assert ((listed >= lo) & (listed < hi)).all()
            sim = unit[lo:hi] @ unit[e]
            left_out = torch.ones(hi - lo, dtype=torch.bool)
            left_out[listed - lo] = False
            left_out[e - lo] = False
            if left_out.any():
                assert sim[listed - lo].min() >= sim[left_out].max() - 1e-6, e


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 40), st.integers(3, 40), st.floats(0.05, 1.0), st.integers(1, 7), st.integers(0, 10_000))
def test_neighbours_are_the_nearest_of_the_same_graph(num_left: int, num_right: int, share: float, chunk: int,
                                                       seed: int) -> None:
    """Against a brute-force float64 ranking, whatever the chunking."""
    lists = NeighbourLists(num_left + num_right, num_left, share, every=1)
    emb = torch.randn(num_left + num_right, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    lists.refresh(emb, chunk=chunk)
    assert lists.ready
    for m, count in zip((num_left, num_right), lists.counts, strict=True):
        assert count == max(1, min(int(share * m), m - 1))
    assert_nearest_of_own_graph(lists, emb)


def test_corruptions_come_from_the_replaced_entitys_neighbours() -> None:
    triples = torch.tensor([[0, 0, 1], [2, 0, 3], [20, 0, 21], [25, 0, 22]])
    sampler = _sampler(20, 10, triples)
    lists = NeighbourLists(30, 20, 0.2, every=1)
    g = torch.Generator().manual_seed(0)
    uniform_before = sampler.corrupt(triples, 50, torch.Generator().manual_seed(3), lists)
    reference = sampler.corrupt(triples, 50, torch.Generator().manual_seed(3))
    for got, want in zip(uniform_before, reference, strict=True):  # not refreshed yet: draws as without lists
        assert torch.equal(got, want)
    lists.refresh(torch.randn(30, 4, generator=g))
    neg, mask, corrupt_head, new = sampler.corrupt(triples, 200, g, lists)
    old = torch.where(corrupt_head, triples[:, 0:1], triples[:, 2:3])
    for i in range(len(triples)):
        for j in range(200):
            e = int(old[i, j])
            count = lists.counts[int(e >= 20)]
            assert int(new[i, j]) in set(lists.neighbours[e, :count].tolist())
    assert (new != old).all()
    # over many draws every listed neighbour of a replaced entity turns up (uniform over the list)
    e = int(triples[0, 0])
    heads = new[0][corrupt_head[0]]
    assert set(heads.tolist()) == set(lists.neighbours[e, :lists.counts[0]].tolist())
    assert mask.shape == (4, 200)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="negative_sampling"):
        ModelConfig(negative_sampling="hard")
    with pytest.raises(ValueError, match="truncated_epsilon"):
        ModelConfig(truncated_epsilon=1.0)
    with pytest.raises(ValueError, match="truncated_every"):
        ModelConfig(truncated_every=0)
    with pytest.raises(ValueError, match="share"):
        NeighbourLists(10, 5, 0.0, every=1)
    with pytest.raises(ValueError, match="interval"):
        NeighbourLists(10, 5, 0.5, every=0)
    with pytest.raises(ValueError, match="rows"):
        NeighbourLists(10, 5, 0.5, every=1).refresh(torch.randn(9, 3))


def _inputs(num_entities: int = 300) -> AlignmentInputs:
    cfg = RunConfig()
    cfg.data.options = {"num_entities": num_entities, "num_types": 4}
    pair = load_pair(cfg)
    return AlignmentInputs.build(pair, choose_split(cfg, pair))


def _model(inputs: AlignmentInputs, name: str = "gaussian", **options: float) -> AlignmentModel:
    cfg = ModelConfig(dim=16, negative_sampling="truncated", truncated_epsilon=0.8, truncated_every=2,
                      options=options)
    torch.manual_seed(0)  # the encoders' layers initialise from the global generator (the runner seeds it too)
    return build_model(name, inputs, cfg, torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def tiny_inputs() -> AlignmentInputs:
    return _inputs(120)


def test_every_model_with_translational_triples_offers_truncated_sampling(tiny_inputs: AlignmentInputs) -> None:
    """A model that ranks triples with the shared :class:`TripleRanking` (the translational baselines) gets
    truncated negatives too; the paper's model and MMEA have them through the same mixin."""
    cfg = ModelConfig(dim=8)
    for name, builder in model_builders().items():
        torch.manual_seed(0)
        model = build_model(name, tiny_inputs, cfg, torch.Generator().manual_seed(0))
        ranks_triples = any(isinstance(m, TripleRanking) for m in model.modules())
        assert not ranks_triples or builder.supports_truncated_negatives, name
    assert set(EXPECTED_EMBEDDING) <= {n for n, b in model_builders().items() if b.supports_truncated_negatives}


@pytest.mark.parametrize("name", sorted(EXPECTED_EMBEDDING))
def test_neighbours_follow_the_relational_vectors_on_schedule(name: str, tiny_inputs: AlignmentInputs) -> None:
    """Uniform for the first ``truncated_every`` epochs, then lists from the model's relational entity vectors at
    epochs 3, 5, ... (brute force in float64), and only then."""
    model = _model(tiny_inputs, name)
    lists = model.neighbour_lists
    assert isinstance(lists, NeighbourLists)
    model.before_epoch(1)
    model.before_epoch(2)
    assert not lists.ready
    model.before_epoch(3)
    assert lists.ready
    assert_nearest_of_own_graph(lists, EXPECTED_EMBEDDING[name](model))
    table = model.rel_ent if name in ("gaussian", "mmea") else model.entity
    with torch.no_grad():
        table.mean.add_(torch.randn(table.mean.shape, generator=torch.Generator().manual_seed(1)))
    before = lists.neighbours.clone()
    model.before_epoch(4)  # not a refresh epoch
    assert torch.equal(lists.neighbours, before)
    model.before_epoch(5)
    assert not torch.equal(lists.neighbours, before)
    assert_nearest_of_own_graph(lists, EXPECTED_EMBEDDING[name](model))


@pytest.mark.parametrize("name", sorted(EXPECTED_EMBEDDING))
def test_every_entity_corrupting_loss_draws_among_the_neighbours(name: str, tiny_inputs: AlignmentInputs,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """After the first refresh, each replacement any of the model's losses draws is a listed neighbour of the
    entity it replaces (IPTransE: its soft-alignment triples too)."""
    model = _model(tiny_inputs, name, **({"bootstrap_start": 1, "threshold": 0.0} if name == "iptranse" else {}))
    model.before_epoch(1)
    model.before_epoch(3)
    draws: list[tuple[torch.Tensor, torch.Tensor]] = []
    corrupt = NegativeSampler.corrupt

    def spy(sampler: NegativeSampler, batch: torch.Tensor, k: int, generator: torch.Generator,
            neighbours: NeighbourLists | None = None) -> tuple[torch.Tensor, ...]:
        assert neighbours is model.neighbour_lists
        out = corrupt(sampler, batch, k, generator, neighbours)
        draws.append((torch.where(out[2], batch[:, :1], batch[:, 2:]), out[3]))
        return out

    monkeypatch.setattr(NegativeSampler, "corrupt", spy)
    g = torch.Generator().manual_seed(0)
    names = [n for n in model.loss_names() if model.num_items(n)]
    assert name != "iptranse" or "soft" in names
    for loss in names:
        model.loss(loss, torch.arange(min(model.num_items(loss), 64)), g)
    assert draws
    lists = model.neighbour_lists
    for old, new in draws:
        count = torch.where(old >= lists.num_left, lists.counts[1], lists.counts[0])
        listed = lists.neighbours[old].long()
        found = (listed == new.unsqueeze(-1)) & (torch.arange(listed.shape[-1]) < count.unsqueeze(-1))
        assert found.any(-1).all()


@pytest.mark.parametrize("name", ["gaussian", "transe"])
def test_a_resumed_run_samples_as_an_uninterrupted_one(name: str, tmp_path: Path) -> None:
    """The lists are in the checkpoint: stop after epoch 3 (lists from epoch 3's refresh), resume to 4."""
    inputs = _inputs()
    train = TrainConfig(stage1_epochs=4, stage2_epochs=0, batch_size=512, progress=False, checkpoint_every=1,
                        threads=1)  # more threads: float sums in varying order, runs not bit-identical
    whole = _model(inputs, name)
    Trainer(whole, train, tmp_path / "whole").fit()
    first = _model(inputs, name)
    short = TrainConfig(**{**train.__dict__, "stage1_epochs": 3})
    Trainer(first, short, tmp_path / "split").fit()
    resumed = _model(inputs, name)
    Trainer(resumed, train, tmp_path / "split").fit(resume=True)
    assert whole.neighbour_lists.ready
    assert torch.equal(resumed.neighbour_lists.neighbours, whole.neighbour_lists.neighbours)
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_models_without_truncated_sampling_refuse_it(tiny_inputs: AlignmentInputs) -> None:
    cfg = ModelConfig(dim=8, negative_sampling="truncated")
    with pytest.raises(ValueError, match="negative_sampling='truncated' is implemented for gaussian, mmea, transe.* "
                                         "not 'gcn_align'"):
        build_model("gcn_align", tiny_inputs, cfg, torch.Generator().manual_seed(0))
