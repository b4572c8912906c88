"""Probe: why do corrupted and clean images get the same visual variance on the synthetic benchmark?

Trains the Gaussian model on the synthetic default (30 % of pictures swapped) and prints, after stage 1 and
after stage 2, for corrupted and clean pictured entities: the mean squared gap per dimension between the
visual mean and the common mean (what L_csl's optimum over the visual variance, ``s_v = s_c + gap^2``, reads)
and the mean learned visual variance. If the gaps already agree, no variance rule can tell the two apart: the
visual space then does not agree with the common space even for clean pictures.

    S1=40 S2=20 python bench/probes/variance_gap.py [section.key=value ...]
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

from gaussea.cli import apply_overrides
from gaussea.config import RunConfig
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair
from gaussea.train import Trainer


def corrupted_mask(pair, key: str) -> np.ndarray:
    n1 = pair.left.num_entities
    mask = np.zeros(n1 + pair.right.num_entities, dtype=bool)
    masks = pair.meta[key]
    mask[np.asarray(masks["left"], dtype=np.int64)] = True
    mask[n1 + np.asarray(masks["right"], dtype=np.int64)] = True
    return mask


def report(tag: str, model, inputs: AlignmentInputs, corrupted: np.ndarray) -> None:
    with torch.no_grad():
        idx = torch.arange(inputs.num_entities)
        common, _ = model.common.lookup(idx)
        vis, vis_var = model.spaces.modal("vis", idx)
        gap = ((vis - common) ** 2).mean(1).numpy()
        var = model.vis_ent.var.mean(1).numpy()
        cos = torch.nn.functional.cosine_similarity(vis, common, dim=1).numpy()
    has = inputs.has_images().numpy()
    for name, sel in (("corrupted", has & corrupted), ("clean", has & ~corrupted)):
        print(f"{tag} {name:9s} n={sel.sum():5d} gap^2/dim {gap[sel].mean():.4f}  cos(vis, common) "
              f"{cos[sel].mean():.3f}  visual variance {var[sel].mean():.4f}", flush=True)


def main() -> None:
    base = RunConfig().to_dict()
    base["train"]["progress"] = False
    base["train"]["stage1_epochs"] = int(os.environ.get("S1", "40"))
    base["train"]["stage2_epochs"] = int(os.environ.get("S2", "20"))
    apply_overrides(base, sys.argv[1:])
    cfg = RunConfig.from_dict(base)
    pair = load_pair(cfg)
    inputs = AlignmentInputs.build(pair, choose_split(cfg, pair))
    model = build_model("gaussian", inputs, cfg.model, torch.Generator().manual_seed(0))
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    trainer = Trainer(model, cfg.train)
    corrupted = corrupted_mask(pair, "corrupted_image")
    for epoch in range(1, trainer.total_epochs + 1):
        trainer.run_epoch(epoch)
        if epoch in (cfg.train.stage1_epochs, trainer.total_epochs):
            report(f"epoch {epoch}", model, inputs, corrupted)


if __name__ == "__main__":
    main()
