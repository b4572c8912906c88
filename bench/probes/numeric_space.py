"""Probe: does the numerical space of the Gaussian model align FB15K*-DB15K's test links on its own?

Trains the model with the numerical modality only (``model.modalities=["n"]``) and prints, every EV epochs,
the mean losses and test-mode H@1 of (a) the numerical entity means and (b) the *encoder average* of each
entity (mean of the encodings of its (attribute, value) triples), on test and on train links.

    EP=10 EV=5 python bench/probes/numeric_space.py model.options.numeric_norm=quantile \
        model.options.numeric_negatives=5

Extra arguments are ``section.key=value`` overrides as for ``gaussea run --set``. Logs of 2026-11-24 (session
3): bench/results/tuning/2026-11-24-s3/d3_*.txt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tune_relational import configure  # noqa: E402

from gaussea.evaluate import Embeddings, evaluate_alignment  # noqa: E402
from gaussea.models import build_model  # noqa: E402
from gaussea.models.inputs import AlignmentInputs  # noqa: E402
from gaussea.runner import choose_split, load_pair  # noqa: E402
from gaussea.train import Trainer  # noqa: E402

BASE = ["data.dataset=fb15k-db15k", "data.data_dir=../shared/data/mmkg-standin", 'model.modalities=["n"]',
        "train.threads=1"]


def encoder_average(model, inputs: AlignmentInputs) -> torch.Tensor:
    with torch.no_grad():
        enc = model.numeric_encoder(inputs.num_attribute, inputs.num_value.float())
        return torch.zeros(inputs.num_entities, enc.shape[1]).index_add_(0, inputs.num_entity, enc)


def main() -> None:
    cfg = configure(BASE + sys.argv[1:])
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    inputs = AlignmentInputs.build(pair, split)
    model = build_model("gaussian", inputs, cfg.model, torch.Generator().manual_seed(0))
    trainer = Trainer(model, cfg.train)
    n1 = inputs.num_left
    every = int(os.environ.get("EV", "5"))
    for epoch in range(1, int(os.environ.get("EP", "10")) + 1):
        losses = trainer.run_epoch(epoch)
        if epoch % every:
            continue
        avg = encoder_average(model, inputs)
        enc = (Embeddings(avg[:n1], None), Embeddings(avg[n1:], None))
        means = model.space_embeddings()["numerical"]

        def h1(emb: tuple[Embeddings, Embeddings], links) -> float:
            return round(evaluate_alignment(*emb, links, mode="test")["hits@1"], 4)

        print(epoch, {k: round(v, 3) for k, v in losses.items()}, "enc-avg test", h1(enc, split.test),
              "train", h1(enc, split.train), "num-means test", h1(means, split.test), flush=True)


if __name__ == "__main__":
    main()
