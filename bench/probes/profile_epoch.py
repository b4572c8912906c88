"""Probe: where does a training epoch's time go, loss by loss, in stage 1 and stage 2?

Builds the model of a config (default: FB15K*-DB15K R+N at the preset's batch 5000), and for each stage times the
first ``STEPS`` steps of every loss (forward, backward, optimiser step and the model's after-step hook
separately, CPU seconds on one thread), extrapolates each loss to a full epoch from its step count, and prints
the top operators of the slowest loss from ``torch.profiler``. Training state is whatever those few steps
leave (the point is cost per step, not accuracy).

    STEPS=10 python bench/probes/profile_epoch.py data.dataset=fb15k-db15k \
        data.data_dir=../shared/data/mmkg-standin 'model.modalities=["r","n"]' train.batch_size=5000
"""

from __future__ import annotations

import os
import sys
import time

import torch

from gaussea.cli import apply_overrides
from gaussea.config import RunConfig
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair
from gaussea.train import Trainer


def time_losses(trainer: Trainer, steps: int) -> dict[str, dict[str, float]]:
    """CPU seconds per phase of the first ``steps`` steps of each loss, and the loss's steps per epoch."""
    model = trainer.model
    out = {}
    for name in model.loss_names():
        opt = trainer.optimisers[name]
        batches = trainer.batches(name)
        phases = {"forward": 0.0, "backward": 0.0, "step": 0.0, "after_step": 0.0}
        done = 0
        for idx in batches[:steps]:
            t = time.process_time()
            opt.zero_grad(set_to_none=True)
            loss = model.loss(name, idx, trainer.sample_generator)
            t1 = time.process_time()
            loss.backward()
            t2 = time.process_time()
            opt.step()
            t3 = time.process_time()
            model.after_step(name)
            t4 = time.process_time()
            phases["forward"] += t1 - t
            phases["backward"] += t2 - t1
            phases["step"] += t3 - t2
            phases["after_step"] += t4 - t3
            done += 1
        per_step = {k: v / max(done, 1) for k, v in phases.items()}
        out[name] = {**per_step, "steps_per_epoch": len(batches),
                     "epoch_seconds": sum(per_step.values()) * len(batches)}
    return out


def profile_loss(trainer: Trainer, name: str, steps: int) -> str:
    model, opt = trainer.model, trainer.optimisers[name]
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for idx in trainer.batches(name)[:steps]:
            opt.zero_grad(set_to_none=True)
            model.loss(name, idx, trainer.sample_generator).backward()
            opt.step()
            model.after_step(name)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)


def main() -> None:
    torch.set_num_threads(1)
    steps = int(os.environ.get("STEPS", "10"))
    base = RunConfig().to_dict()
    base["train"]["progress"] = False
    apply_overrides(base, sys.argv[1:])
    cfg = RunConfig.from_dict(base)
    pair = load_pair(cfg)
    inputs = AlignmentInputs.build(pair, choose_split(cfg, pair))
    model = build_model(cfg.model_name, inputs, cfg.model, torch.Generator().manual_seed(0))
    trainer = Trainer(model, cfg.train)
    for stage in (1, 2):
        model.set_stage(stage)
        timing = time_losses(trainer, steps)
        total = sum(t["epoch_seconds"] for t in timing.values())
        print(f"stage {stage}: extrapolated epoch {total:.1f} CPU s")
        for name, t in timing.items():
            print(f"  {name:4s} {t['steps_per_epoch']:4d} steps x "
                  + " + ".join(f"{k} {1000 * t[k]:.1f}" for k in ("forward", "backward", "step", "after_step"))
                  + f" ms = {t['epoch_seconds']:.1f} s")
        slowest = max(timing, key=lambda n: timing[n]["epoch_seconds"])
        print(f"  top operators of {slowest} (stage {stage}):")
        print(profile_loss(trainer, slowest, steps))


if __name__ == "__main__":
    main()
