"""How many optimiser steps each loss takes per epoch (with one shared Adam, a loss's weight)."""

from __future__ import annotations

import torch

from gaussea.config import RunConfig, TrainConfig
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair
from gaussea.train import Trainer


def _trainer(options: dict | None = None, **train: object) -> Trainer:
    """A trainer of the paper's model on small synthetic data; ``options`` are the model's (``model.options``)."""
    cfg = RunConfig()
    cfg.data.options = {"num_entities": 300, "num_types": 4}
    cfg.model.options = {"entity_batch_size": 100, **(options or {})}
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    model = build_model("gaussian", AlignmentInputs.build(pair, split), cfg.model, torch.Generator().manual_seed(0))
    return Trainer(model, TrainConfig(progress=False, **train))  # type: ignore[arg-type]


def test_schedule_of_each_loss() -> None:
    trainer = _trainer(batch_size=64)
    model = trainer.model
    rel_steps = -(-model.num_items("rel") // 64)
    batches = {name: trainer.batches(name) for name in model.loss_names()}
    assert len(batches["rel"]) == rel_steps
    # csl: one shuffled pass over all entities in entity_batch_size steps
    csl = torch.cat(batches["csl"])
    assert len(batches["csl"]) == -(-model.num_items("csl") // 100)
    assert sorted(csl.tolist()) == list(range(model.num_items("csl")))
    # vis: one shuffled pass in as many steps as rel (the image encoder needs the steps)
    vis = torch.cat(batches["vis"])
    assert len(batches["vis"]) <= rel_steps and len(batches["vis"]) >= min(rel_steps, model.num_items("vis")) // 2
    assert sorted(vis.tolist()) == list(range(model.num_items("vis")))
    # ac: MMEA's schedule, as many steps as rel
    assert len(batches["ac"]) == rel_steps


def test_stage_two_gives_csl_as_many_steps_as_rel() -> None:
    """In stage 2 the variances are learned: L_csl then takes as many steps as L_rel and L_vis."""
    trainer = _trainer(batch_size=64)
    model = trainer.model
    rel_steps = len(trainer.batches("rel"))
    model.set_stage(2)
    csl = trainer.batches("csl")
    n = model.num_items("csl")
    per_step = -(-n // rel_steps)
    assert len(csl) == -(-n // per_step) and rel_steps - len(csl) < rel_steps / 2
    assert sorted(torch.cat(csl).tolist()) == list(range(model.num_items("csl")))
    trainer_batch = _trainer({"stage2_csl_steps": "batch"}, batch_size=64)
    trainer_batch.model.set_stage(2)
    assert len(trainer_batch.batches("csl")) == -(-model.num_items("csl") // 100)


def test_modal_means_on_the_unit_sphere_only_when_asked() -> None:
    """Relational means are always read on the unit sphere; visual/numerical ones only with unit_modal_means."""
    cfg = RunConfig()
    cfg.data.options = {"num_entities": 300, "num_types": 4}
    pair = load_pair(cfg)
    inputs = AlignmentInputs.build(pair, choose_split(cfg, pair))
    for unit in (False, True):
        cfg.model.options = {"unit_modal_means": unit}
        model = build_model("gaussian", inputs, cfg.model, torch.Generator().manual_seed(0))
        for label in ("relational", "visual", "numerical"):
            left, _ = model.space_embeddings()[label]
            on_sphere = torch.allclose(left.mean.norm(dim=1), torch.ones(len(left.mean)))
            assert on_sphere == (unit or label == "relational"), (unit, label)
