"""Probe: where does the synthetic benchmark's image signal get lost on its way to the common space?

Raw image features align 11.6 % of the synthetic test links with no learning (``raw_image_signal.py``), a fixed
random ``tanh`` projection 7.9 %, yet a trained model's visual space aligns 2-6 %. This trains the synthetic
default (optionally with ``--set`` overrides) and ranks the test links (cosine + CSLS, k = 10, test mode) by

- the image encoder's output ``tanh(M1 i)`` per entity (mean over its pictures; zero where it has none),
- the entity visual means ``mu_e^v`` the losses see,
- the common means (what the model is evaluated on),

and prints the scale of each (mean |x| per dimension), the cosine between ``mu_e^v`` and the encoder output
for clean vs swapped pictures, and the learned visual variances of swapped vs clean pictures separately for
seed-pair entities (whose counterpart gives direct evidence against a wrong picture) and the others.
Writes the figures with command, date, machine and revision to ``--out``.

    python bench/probes/visual_path.py --out bench/results/tuning/2026-11-24-s5/visual_path-default.json
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from synthetic_probe import parse_args, swapped_pictures, train, write_record

from gaussea.corruption_variance import auc_higher
from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.metrics_layout import candidate_result


def rank(x: torch.Tensor, n1: int, test: torch.Tensor) -> dict:
    ones = torch.ones_like(x)
    m = evaluate_alignment(Embeddings(x[:n1], ones[:n1]), Embeddings(x[n1:], ones[n1:]), test, mode="test")
    return {k: m[k] for k in ("hits@1", "hits@10", "mrr")}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    result = train(args.set)
    model, split = result.model, result.split
    inputs = model.inputs
    n1, n = inputs.num_left, inputs.num_entities
    test = torch.as_tensor(np.asarray(split.test))
    with torch.no_grad():
        encoded = model.image_encoder(inputs.image_features)
        per_entity = torch.zeros(n, encoded.shape[1]).index_add_(0, inputs.image_owner, encoded)
        count = torch.zeros(n).index_add_(0, inputs.image_owner, torch.ones(len(encoded)))
        per_entity = per_entity / count.clamp_min(1).unsqueeze(1)
        vis_mean = model.spaces.modal_means_all("vis")
        common = model.common.mean.detach()
    corrupted = swapped_pictures(result)
    has = inputs.has_images()
    cos_enc = F.cosine_similarity(vis_mean, per_entity, dim=1)
    cos_common = F.cosine_similarity(vis_mean, common, dim=1)
    rows = {}
    for label, x in (("encoder output", per_entity), ("visual means", vis_mean), ("common means", common)):
        rows[label] = {**rank(x, n1, test), "mean_abs": float(x[has].abs().mean())}
        print(f"{label:16s} H@1 {100 * rows[label]['hits@1']:.2f} %  MRR {rows[label]['mrr']:.3f}  "
              f"mean |x| {rows[label]['mean_abs']:.4f}")
    agreement = {
        "cos(visual mean, encoder) clean": float(cos_enc[has & ~corrupted].mean()),
        "cos(visual mean, encoder) swapped": float(cos_enc[has & corrupted].mean()),
        "cos(visual mean, common) clean": float(cos_common[has & ~corrupted].mean()),
        "cos(visual mean, common) swapped": float(cos_common[has & corrupted].mean()),
    }
    # Only seed-pair entities have direct evidence that their picture disagrees with their counterpart's:
    # compare the learned visual variances there and elsewhere.
    in_train = torch.zeros(n, dtype=torch.bool)
    in_train[inputs.train_pairs.flatten()] = True
    vis_var = model.vis_ent.var.detach().mean(1)
    for where, mask in (("seed-pair entities", in_train), ("other entities", ~in_train)):
        bad, good = vis_var[has & corrupted & mask], vis_var[has & ~corrupted & mask]
        agreement[f"visual variance ratio swapped/clean, {where}"] = float(bad.mean() / good.mean())
        agreement[f"visual variance excess over floor ratio, {where}"] = float(
            (bad.mean() - model.params.var_min) / max(float(good.mean()) - model.params.var_min, 1e-12))
    # how well the learned variance alone tells swapped pictures from true ones (0.5: not at all)
    agreement["visual variance AUC swapped > clean"] = auc_higher(vis_var[has & corrupted].numpy(),
                                                                  vis_var[has & ~corrupted].numpy())
    for k, v in agreement.items():
        print(f"{k:38s} {v:.4f}")
    write_record(args.out, {"probe": "visual_path", "dataset": "synthetic default, 20 % split 0",
                            "overrides": args.set, "model_test": candidate_result(result.metrics), "spaces": rows,
                            "agreement": agreement, "variances": result.metrics.get("variance_by_corruption")})

if __name__ == "__main__":
    main()
