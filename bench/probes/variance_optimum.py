"""Probe: do the learned visual variances reach the value L_csl asks for?

For a modal variance the only term of the objective in ``modal_means = "encoder"`` mode is
``KL(N(mu_e, s_e) || N(mu_e^v, s_e^v))``, whose minimiser over ``s_e^v`` is ``s_e + (mu_e^v - mu_e)^2`` per
dimension. This trains the synthetic default (``--set`` overrides on top), then reports, for entities with a
true and with a swapped picture, the mean of that minimiser and of the learned variance (per-entity means over
the dimensions) and their swapped / true ratios — Adam-learned variances that ignore their minimiser show a
ratio near 1 however different the minimisers are. Writes the figures with command, date, machine and revision.

    python bench/probes/variance_optimum.py --set model.options.modal_means=encoder ... --out FILE.json
"""

from __future__ import annotations

import torch
from synthetic_probe import parse_args, swapped_pictures, train, write_record

from gaussea.metrics_layout import candidate_result


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    result = train(args.set)
    model = result.model
    n = model.inputs.num_entities
    swapped = swapped_pictures(result)
    has = model.inputs.has_images()
    with torch.no_grad():
        ids = torch.arange(n)
        visual_mean, visual_var = model.spaces.modal("vis", ids)
        common_mean, common_var = model.common.lookup(ids)
        minimiser = (common_var + (visual_mean - common_mean) ** 2).mean(1)
        learned = (visual_var.expand_as(visual_mean) if visual_var.dim() == 0 else visual_var).mean(1)
    record: dict = {"probe": "variance_optimum", "dataset": "synthetic default, 20 % split 0", "overrides": args.set,
                    "model_test_hits@1": candidate_result(result.metrics)["hits@1"]}
    for label, values in (("csl_minimiser", minimiser), ("learned", learned)):
        true_mean, swapped_mean = float(values[has & ~swapped].mean()), float(values[has & swapped].mean())
        record[label] = {"true_mean": true_mean, "swapped_mean": swapped_mean, "ratio": swapped_mean / true_mean}
        print(f"{label:14s} true {true_mean:.5f}  swapped {swapped_mean:.5f}  ratio {swapped_mean / true_mean:.3f}")
    write_record(args.out, record)


if __name__ == "__main__":
    main()
