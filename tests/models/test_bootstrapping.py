"""Iterative bootstrapping (``train.iterative_rounds``): the proposals against a brute-force reference, the
trainer's schedule, the label, resume, and the refusal for models that cannot take new pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gaussea.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gaussea.data.splits import make_split
from gaussea.data.synthetic import load_synthetic
from gaussea.evaluate import Embeddings
from gaussea.models import build_model
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.matching import bootstrap_round
from gaussea.runner import load_run_model, run
from gaussea.train import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")


class PlantedModel(AlignmentModel):
    """Fixed embeddings; records the pairs it is given."""

    supports_bootstrapping = True

    def __init__(self, inputs: AlignmentInputs, emb: torch.Tensor) -> None:
        super().__init__()
        self.inputs, self.emb, self.added = inputs, emb, torch.zeros((0, 2), dtype=torch.long)

    def loss_names(self) -> list[str]:
        return []

    def num_items(self, name: str) -> int:
        raise KeyError(name)

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise KeyError(name)

    def known_pairs(self) -> torch.Tensor:
        return torch.cat([self.inputs.train_pairs, self.added])

    def add_seed_pairs(self, pairs: torch.Tensor) -> None:
        self.added = torch.cat([self.added, pairs])

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        nl = self.inputs.num_left
        return Embeddings(self.emb[:nl]), Embeddings(self.emb[nl:])


def _inputs(num_entities: int = 120, ratio: float = 0.3) -> AlignmentInputs:
    pair = load_synthetic(num_entities=num_entities)
    return AlignmentInputs.build(pair, make_split(pair.links, ratio, seed=0))


def _brute_force_mutual_best(emb: torch.Tensor, num_left: int, known: torch.Tensor, k: int) -> set[tuple[int, int]]:
    """Mutual CSLS-best pairs among the free entities, from the full float64 matrix."""
    e = torch.nn.functional.normalize(emb.double(), dim=1)
    free_left = sorted(set(range(num_left)) - set(known[:, 0].tolist()))
    free_right = sorted(set(range(num_left, len(emb))) - set(known[:, 1].tolist()))
    sim = e[free_left] @ e[free_right].T
    r_left = sim.topk(min(k, sim.shape[1]), dim=1).values.mean(1)
    r_right = sim.topk(min(k, sim.shape[0]), dim=0).values.mean(0)
    csls = 2 * sim - r_left[:, None] - r_right[None, :]
    rows, cols = csls.argmax(1), csls.argmax(0)
    return {(free_left[i], free_right[int(rows[i])]) for i in range(len(free_left)) if int(cols[rows[i]]) == i}


def test_a_round_adds_the_mutual_best_pairs_among_free_entities() -> None:
    inputs = _inputs()
    emb = torch.randn(inputs.num_entities, 16, generator=torch.Generator().manual_seed(1))
    model = PlantedModel(inputs, emb)
    expected = _brute_force_mutual_best(emb, inputs.num_left, inputs.train_pairs, k=10)
    assert bootstrap_round(model, csls_k=10) == len(expected) > 0
    assert {tuple(p) for p in model.added.tolist()} == expected
    seeded = set(inputs.train_pairs.reshape(-1).tolist())
    assert not seeded & set(model.added.reshape(-1).tolist())  # a known entity is never proposed again
    before = len(model.added)
    bootstrap_round(model, csls_k=10)  # a second round proposes among the entities still free
    assert len(set(model.added[:, 0].tolist())) == len(model.added) >= before


def _fusion_config(tmp_rounds: int, epochs: int = 2) -> RunConfig:
    return RunConfig(model_name="gaussian_fusion",
                     data=DataConfig(options={"num_entities": 150}),
                     model=ModelConfig(options={"dim": 8, "num_sampled": 32, "batch_pairs": 25}),
                     train=TrainConfig(stage1_epochs=epochs, stage2_epochs=0, iterative_rounds=tmp_rounds,
                                       iterative_epochs=2, checkpoint_every=1, threads=1, progress=False),
                     eval=EvalConfig(modes=("test",)))


def test_an_iterative_run_bootstraps_on_schedule_and_is_labelled(tmp_path: Path) -> None:
    result = run(_fusion_config(2), tmp_path / "run")
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5, 6]  # 2 base epochs + 2 rounds x 2 epochs
    rounds = {r["epoch"]: r["bootstrapped_pairs"] for r in log if "bootstrapped_pairs" in r}
    assert list(rounds) == [3, 5] and all(n > 0 for n in rounds.values())
    added = result.model.relational.bootstrapped_pairs
    assert len(added) == sum(rounds.values())
    seeded = set(result.model.inputs.train_pairs.reshape(-1).tolist())  # calibration pairs included
    assert not seeded & set(added.reshape(-1).tolist())
    assert len(set(added[:, 0].tolist())) == len(set(added[:, 1].tolist())) == len(added)  # each entity once
    assert result.metrics["iterative"] is True
    # The model rebuilt from its run directory carries the bootstrapped pairs and gives the same embeddings.
    _, _, _, rebuilt = load_run_model(tmp_path / "run")
    assert torch.equal(rebuilt.relational.bootstrapped_pairs, added)
    assert torch.equal(rebuilt.entity_embeddings()[0].mean, result.model.entity_embeddings()[0].mean)


def _fusion(inputs: AlignmentInputs) -> AlignmentModel:
    return build_model("gaussian_fusion", inputs, ModelConfig(options={"dim": 8, "num_sampled": 32, "batch_pairs": 25}),
                       torch.Generator().manual_seed(0))


def test_an_iterative_run_resumed_mid_round_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    """Stop after the first round's epochs (its pairs in the checkpoint), resume to the end of the second."""
    inputs = _inputs(150)
    train = TrainConfig(stage1_epochs=2, stage2_epochs=0, iterative_rounds=2, iterative_epochs=2, progress=False,
                        checkpoint_every=1, threads=1)
    whole = _fusion(inputs)
    Trainer(whole, train, tmp_path / "whole").fit()
    Trainer(_fusion(inputs), TrainConfig(**{**train.__dict__, "iterative_rounds": 1}), tmp_path / "split").fit()
    resumed = _fusion(inputs)
    Trainer(resumed, train, tmp_path / "split").fit(resume=True)
    assert len(whole.relational.bootstrapped_pairs) > 0
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_models_that_cannot_take_pairs_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    cfg = RunConfig(model_name="transe", train=TrainConfig(iterative_rounds=1, progress=False))
    with pytest.raises(ValueError, match="transe model cannot take bootstrapped pairs"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_graph_encoder_trains_on_the_added_pairs() -> None:
    inputs = _inputs()
    model = build_model("graph_encoder", inputs, ModelConfig(options={"dim": 8}), torch.Generator().manual_seed(0))
    propagation_before = model.propagation().clone()
    free_left = sorted(set(range(inputs.num_left)) - set(inputs.train_pairs[:, 0].tolist()))
    free_right = sorted(set(range(inputs.num_left, inputs.num_entities)) - set(inputs.train_pairs[:, 1].tolist()))
    model.add_seed_pairs(torch.tensor([[free_left[0], free_right[0]]]))
    assert model.num_items("align") == len(inputs.train_pairs) + 1
    assert not torch.equal(model.propagation(), propagation_before)  # propagated from the new seeds too
    state = model.state_dict()
    fresh = build_model("graph_encoder", inputs, ModelConfig(options={"dim": 8}), torch.Generator().manual_seed(0))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.pairs(), model.pairs())
    del state["bootstrapped_pairs"]  # weights saved before bootstrapping existed load with no pair added
    fresh.load_state_dict(state)
    assert torch.equal(fresh.pairs(), inputs.train_pairs)
