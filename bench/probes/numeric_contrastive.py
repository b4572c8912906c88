"""Probe: can the numerical encoder (RBF + CNN, gaussea.modalities.numerical) align FB15K*-DB15K at all when
trained *directly* — a symmetric InfoNCE loss (temperature 0.1) between the encoder averages of the two ends of
each training seed pair, batches of 512 pairs, Adam lr 0.005? Not the paper's training: an upper-bound check
of what the encoder can represent. Prints test / train H@1 (test mode, CSLS) every 5 epochs.

    python bench/probes/numeric_contrastive.py model.options.numeric_norm=quantile

Log of 2026-11-24 (session 3, stopped after 10 epochs): bench/results/tuning/2026-11-24-s3/fb_n_contrastive_quantile.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probes.numeric_space import BASE  # noqa: E402
from tune_relational import configure  # noqa: E402

from gaussea.evaluate import Embeddings, evaluate_alignment  # noqa: E402
from gaussea.models.gaussian_params import GaussianCSLParams  # noqa: E402
from gaussea.models.inputs import AlignmentInputs  # noqa: E402
from gaussea.models.modal_encoders import numeric_encoder  # noqa: E402
from gaussea.runner import choose_split, load_pair  # noqa: E402


def main(epochs: int = 30) -> None:
    cfg = configure(BASE + sys.argv[1:])
    torch.set_num_threads(1)
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    inputs = AlignmentInputs.build(pair, split)
    enc = numeric_encoder(inputs, cfg.model.dim, GaussianCSLParams.from_options(cfg.model.options))
    opt = torch.optim.Adam(enc.parameters(), lr=0.005)
    n1 = inputs.num_left

    def entity_embeddings() -> torch.Tensor:
        e = enc(inputs.num_attribute, inputs.num_value.float())
        return F.normalize(torch.zeros(inputs.num_entities, e.shape[1]).index_add(0, inputs.num_entity, e), dim=1)

    pairs = inputs.train_pairs
    gen = torch.Generator().manual_seed(0)
    for epoch in range(1, epochs + 1):
        total = 0.0
        for batch in torch.randperm(len(pairs), generator=gen).split(512):
            emb = entity_embeddings()
            logits = emb[pairs[batch, 0]] @ emb[pairs[batch, 1]].T / 0.1
            target = torch.arange(len(batch))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        if epoch % 5 == 0:
            with torch.no_grad():
                emb = entity_embeddings()
            left, right = Embeddings(emb[:n1], None), Embeddings(emb[n1:], None)
            print(epoch, round(total, 2), "test", evaluate_alignment(left, right, split.test, mode="test")["hits@1"],
                  "train", evaluate_alignment(left, right, split.train, mode="test")["hits@1"], flush=True)


if __name__ == "__main__":
    main()
