"""Quick tuning probe used on 2026-11-23: train with the shared Trainer and print, every EV epochs, the mean
loss per loss name and H@1 of the relational space (test and train links) and of the common space (test).

    EP=30 EV=10 MODEL=gaussian python bench/tune_relational.py model.options.margin=1.0 model.negatives=10 \\
        'data.options={"triple_keep": 1.0}'

Defaults: synthetic data, relational modality only. Logs of the runs of 2026-11-23 are in
bench/results/tuning/2026-11-23/ (README.md there gives each run's settings).
"""

from __future__ import annotations

import os
import sys
import time

import torch

from gaussea.cli import apply_overrides
from gaussea.config import RunConfig
from gaussea.evaluate import evaluate_alignment
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair
from gaussea.train import Trainer


def configure(argv: list[str]) -> RunConfig:
    """A relational-only, quiet RunConfig with ``section.key=value`` overrides (parsed as by ``--set``)."""
    base = RunConfig().to_dict()
    base["model"]["modalities"] = ["r"]
    base["train"]["progress"] = False
    apply_overrides(base, argv)
    return RunConfig.from_dict(base)


def main() -> None:
    cfg = configure(sys.argv[1:])
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    name = os.environ.get("MODEL", "gaussian")
    model = build_model(name, AlignmentInputs.build(pair, split), cfg.model, torch.Generator().manual_seed(0))
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    trainer = Trainer(model, cfg.train)
    every = int(os.environ.get("EV", "5"))
    for epoch in range(1, int(os.environ.get("EP", "30")) + 1):
        t0 = time.time()
        losses = trainer.run_epoch(epoch)
        if epoch % every:
            continue
        spaces = model.space_embeddings() if hasattr(model, "space_embeddings") else {}
        rel = spaces.get("relational", model.entity_embeddings())
        probes = [("rel test", rel, split.test), ("rel train", rel, split.train),
                  ("common", model.entity_embeddings(), split.test), ("common train", model.entity_embeddings(),
                                                                      split.train)]
        probes += [(f"{label[:3]} test", spaces[label], split.test) for label in ("numerical", "visual")
                   if label in spaces]
        h1 = {name: evaluate_alignment(*emb, links, mode="test")["hits@1"] for name, emb, links in probes}
        print(epoch, {k: round(v, 3) for k, v in losses.items()}, {k: round(v, 3) for k, v in h1.items()},
              round(time.time() - t0, 2), flush=True)


if __name__ == "__main__":
    main()
