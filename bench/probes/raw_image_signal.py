"""Probe: how much do the synthetic benchmark's raw image features align, with no learning at all?

Ranks the test links of the synthetic default (20 % split 0) by cosine + CSLS (k = 10, test mode) of each entity's
raw image feature vector (zeros where it has no picture), standardised per column or not, and through a fixed random
``tanh`` projection to 100 dimensions (what an untrained image encoder gives). A trained model's visual space
should do at least as well; BENCHMARKS.md compares.

    python bench/probes/raw_image_signal.py
"""

from __future__ import annotations

import numpy as np
import torch

from gaussea.config import RunConfig
from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair


def main() -> None:
    cfg = RunConfig()
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    inputs = AlignmentInputs.build(pair, split)
    n1, n = inputs.num_left, inputs.num_entities
    test = torch.as_tensor(np.asarray(split.test))
    raw = torch.zeros(n, inputs.image_features.shape[1])
    raw[inputs.image_owner] = inputs.image_features
    pictured = inputs.has_images()
    mean, std = raw[pictured].mean(0), raw[pictured].std(0) + 1e-6
    standardised = torch.where(pictured.unsqueeze(1), (raw - mean) / std, torch.zeros_like(raw))
    projection = torch.randn(raw.shape[1], 100, generator=torch.Generator().manual_seed(0)) / raw.shape[1] ** 0.5
    for label, x in (("raw features", raw), ("standardised features", standardised),
                     ("tanh(random projection of standardised)", torch.tanh(standardised @ projection))):
        ones = torch.ones_like(x)
        m = evaluate_alignment(Embeddings(x[:n1], ones[:n1]), Embeddings(x[n1:], ones[n1:]), test, mode="test")
        print(f"{label:42s} test H@1 {100 * m['hits@1']:.2f} %  H@10 {100 * m['hits@10']:.2f} %  MRR {m['mrr']:.3f}")


if __name__ == "__main__":
    main()
