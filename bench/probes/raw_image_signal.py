"""Probe: how much do the synthetic benchmark's raw image features align, with no learning at all?

Ranks the test links of the synthetic default (20 % split 0) by cosine + CSLS (k = 10, test mode) of each entity's
raw image feature vector (zeros where it has no picture), standardised per column or not, and through a fixed random
``tanh`` projection to 100 dimensions (what an untrained image encoder gives). A trained model's visual space
should do at least as well; BENCHMARKS.md compares. Writes the figures with command, date, machine and revision to
``bench/results/tuning/2026-11-24-s4/raw_image_signal.json`` (or ``--out``).

    python bench/probes/raw_image_signal.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from gaussea.config import RunConfig
from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.models.inputs import AlignmentInputs
from gaussea.provenance import provenance
from gaussea.runner import choose_split, load_pair

OUT = Path(__file__).resolve().parents[1] / "results" / "tuning" / "2026-11-24-s4" / "raw_image_signal.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
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
    rows = []
    for label, x in (("raw features", raw), ("standardised features", standardised),
                     ("tanh(random projection of standardised)", torch.tanh(standardised @ projection))):
        ones = torch.ones_like(x)
        m = evaluate_alignment(Embeddings(x[:n1], ones[:n1]), Embeddings(x[n1:], ones[n1:]), test, mode="test")
        print(f"{label:42s} test H@1 {100 * m['hits@1']:.2f} %  H@10 {100 * m['hits@10']:.2f} %  MRR {m['mrr']:.3f}")
        rows.append({"features": label, "mode": "test", "csls_k": 10,
                     **{k: m[k] for k in ("hits@1", "hits@10", "mrr", "num_queries", "num_candidates")}})
    record = {"probe": "raw_image_signal", "dataset": "synthetic default, 20 % split 0", "results": rows,
              **provenance([sys.executable, *sys.argv])}
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
