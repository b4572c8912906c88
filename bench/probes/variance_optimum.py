"""Probe: do the learned visual variances reach the value L_csl asks for?

For a modal variance the only term of the objective in ``modal_means = "encoder"`` mode is
``KL(N(mu_e, s_e) || N(mu_e^v, s_e^v))``, whose minimiser over ``s_e^v`` is ``s_e + (mu_e^v - mu_e)^2`` per
dimension. This trains the synthetic default (``--set`` overrides on top), then reports, for entities with a
true and with a swapped picture, the mean of that minimiser and of the learned variance (per-entity means over
the dimensions) and their swapped / true ratios — Adam-learned variances that ignore their minimiser show a
ratio near 1 however different the minimisers are. Writes the figures with command, date, machine and revision.

    python bench/probes/variance_optimum.py --set model.modal_means=encoder ... --out FILE.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from gaussea.cli import apply_overrides
from gaussea.config import RunConfig
from gaussea.provenance import provenance
from gaussea.runner import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    base = RunConfig().to_dict()
    base["train"].update(progress=False, threads=1)
    apply_overrides(base, args.set)
    cfg = RunConfig.from_dict(base)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(cfg, Path(tmp) / "run")
    model, pair = result.model, result.pair
    n1, n = model.inputs.num_left, model.inputs.num_entities
    masks = pair.meta["corrupted_image"]
    swapped = torch.zeros(n, dtype=torch.bool)
    swapped[torch.as_tensor(masks["left"], dtype=torch.long)] = True
    swapped[n1 + torch.as_tensor(masks["right"], dtype=torch.long)] = True
    has = model.inputs.has_images()
    with torch.no_grad():
        ids = torch.arange(n)
        visual_mean, visual_var = model._modal_entity("vis", ids)
        common_mean, common_var = model.common.lookup(ids)
        minimiser = (common_var + (visual_mean - common_mean) ** 2).mean(1)
        learned = (visual_var.expand_as(visual_mean) if visual_var.dim() == 0 else visual_var).mean(1)
    record: dict = {"probe": "variance_optimum", "dataset": "synthetic default, 20 % split 0", "overrides": args.set,
                    "model_test_hits@1": result.metrics["test"]["test"]["hits@1"]}
    for label, values in (("csl_minimiser", minimiser), ("learned", learned)):
        true_mean, swapped_mean = float(values[has & ~swapped].mean()), float(values[has & swapped].mean())
        record[label] = {"true_mean": true_mean, "swapped_mean": swapped_mean, "ratio": swapped_mean / true_mean}
        print(f"{label:14s} true {true_mean:.5f}  swapped {swapped_mean:.5f}  ratio {swapped_mean / true_mean:.3f}")
    record.update(provenance([sys.executable, *sys.argv]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
