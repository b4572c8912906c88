"""Truncated negative sampling (``model.negative_sampling = "truncated"``): neighbour lists and their schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.config import ModelConfig, RunConfig, TrainConfig
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair
from gaussea.samplers.negatives import NegativeSampler
from gaussea.train import Trainer


def _sampler(num_left: int, num_right: int, share: float, triples: torch.Tensor | None = None) -> NegativeSampler:
    side = torch.cat([torch.zeros(num_left, dtype=torch.long), torch.ones(num_right, dtype=torch.long)])
    positives = triples if triples is not None else torch.tensor([[0, 0, 1]])
    return NegativeSampler(positives, side, num_left, num_relations=1, neighbour_share=share)


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 40), st.integers(3, 40), st.floats(0.05, 1.0), st.integers(1, 7), st.integers(0, 10_000))
def test_neighbours_are_the_nearest_of_the_same_graph(num_left: int, num_right: int, share: float, chunk: int,
                                                       seed: int) -> None:
    """Against a brute-force ranking: each list holds exactly the most cosine-similar others of its graph."""
    sampler = _sampler(num_left, num_right, share)
    emb = torch.randn(num_left + num_right, 5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    sampler.refresh_neighbours(emb, chunk=chunk)
    unit = F.normalize(emb, dim=-1)
    for lo, hi, count in ((0, num_left, sampler.neighbour_counts[0]),
                          (num_left, num_left + num_right, sampler.neighbour_counts[1])):
        assert count == max(1, min(int(share * (hi - lo)), hi - lo - 1))
        for e in range(lo, hi):
            sim = unit[lo:hi] @ unit[e]
            sim[e - lo] = float("-inf")
            want = set((sim.topk(count).indices + lo).tolist())
            assert set(sampler.neighbours[e, :count].tolist()) == want


def test_corruptions_come_from_the_replaced_entitys_neighbours() -> None:
    triples = torch.tensor([[0, 0, 1], [2, 0, 3], [20, 0, 21], [25, 0, 22]])
    sampler = _sampler(20, 10, 0.2, triples)
    g = torch.Generator().manual_seed(0)
    uniform_before = sampler.corrupt(triples, 50, torch.Generator().manual_seed(3))
    reference = _sampler(20, 10, 0.0, triples).corrupt(triples, 50, torch.Generator().manual_seed(3))
    for got, want in zip(uniform_before, reference, strict=True):  # not refreshed yet: draws as the uniform sampler
        assert torch.equal(got, want)
    sampler.refresh_neighbours(torch.randn(30, 4, generator=g))
    neg, mask, corrupt_head, new = sampler.corrupt(triples, 200, g)
    old = torch.where(corrupt_head, triples[:, 0:1], triples[:, 2:3])
    for i in range(len(triples)):
        for j in range(200):
            e = int(old[i, j])
            count = sampler.neighbour_counts[int(e >= 20)]
            assert int(new[i, j]) in set(sampler.neighbours[e, :count].tolist())
    assert (new != old).all()
    # over many draws every listed neighbour of a replaced entity turns up (uniform over the list)
    e = int(triples[0, 0])
    heads = new[0][corrupt_head[0]]
    assert set(heads.tolist()) <= set(sampler.neighbours[e, :sampler.neighbour_counts[0]].tolist())
    assert mask.shape == (4, 200)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="negative_sampling"):
        ModelConfig(negative_sampling="hard")
    with pytest.raises(ValueError, match="truncated_epsilon"):
        ModelConfig(truncated_epsilon=1.0)
    with pytest.raises(ValueError, match="truncated_every"):
        ModelConfig(truncated_every=0)
    with pytest.raises(RuntimeError, match="uniformly"):
        _sampler(5, 5, 0.0).refresh_neighbours(torch.randn(10, 3))


def _inputs() -> AlignmentInputs:
    cfg = RunConfig()
    cfg.data.options = {"num_entities": 300, "num_types": 4}
    pair = load_pair(cfg)
    return AlignmentInputs.build(pair, choose_split(cfg, pair))


def _model(inputs: AlignmentInputs, name: str = "gaussian") -> torch.nn.Module:
    cfg = ModelConfig(dim=16, negative_sampling="truncated", truncated_epsilon=0.8, truncated_every=2)
    torch.manual_seed(0)  # the encoders' layers initialise from the global generator (the runner seeds it too)
    return build_model(name, inputs, cfg, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["gaussian", "mmea"])
def test_neighbours_follow_the_relational_means_on_schedule(name: str) -> None:
    """Uniform for the first ``truncated_every`` epochs, then lists from the relational means at epochs 3, 5..."""
    model = _model(_inputs(), name)
    sampler = model.sampler
    model.before_epoch(1)
    model.before_epoch(2)
    assert not bool(sampler.neighbours_ready)
    model.before_epoch(3)
    assert bool(sampler.neighbours_ready)
    reference = _sampler(model.inputs.num_left, model.inputs.num_entities - model.inputs.num_left, 0.2)
    reference.refresh_neighbours(model.rel_ent.mean)
    assert torch.equal(sampler.neighbours, reference.neighbours)
    with torch.no_grad():
        model.rel_ent.mean.add_(torch.randn_like(model.rel_ent.mean))
    before = sampler.neighbours.clone()
    model.before_epoch(4)  # not a refresh epoch
    assert torch.equal(sampler.neighbours, before)
    model.before_epoch(5)
    assert not torch.equal(sampler.neighbours, before)


def test_a_resumed_run_samples_as_an_uninterrupted_one(tmp_path: Path) -> None:
    """The lists are in the checkpoint: stop after epoch 3 (lists from epoch 3's refresh), resume to 4."""
    inputs = _inputs()
    train = TrainConfig(stage1_epochs=4, stage2_epochs=0, batch_size=512, progress=False, checkpoint_every=1,
                        threads=1)  # more threads: float sums in varying order, runs not bit-identical
    whole = _model(inputs)
    Trainer(whole, train, tmp_path / "whole").fit()
    first = _model(inputs)
    short = TrainConfig(**{**train.__dict__, "stage1_epochs": 3})
    Trainer(first, short, tmp_path / "split").fit()
    resumed = _model(inputs)
    Trainer(resumed, train, tmp_path / "split").fit(resume=True)
    assert torch.equal(resumed.sampler.neighbours, whole.sampler.neighbours)
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_models_without_truncated_sampling_refuse_it() -> None:
    cfg = ModelConfig(dim=8, negative_sampling="truncated")
    with pytest.raises(ValueError, match="negative_sampling='truncated' is implemented for gaussian, mmea only"):
        build_model("transe", _inputs(), cfg, torch.Generator().manual_seed(0))
