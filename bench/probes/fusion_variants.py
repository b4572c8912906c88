"""Probe: weighing variants of a trained ``gaussian_fusion`` run on its validation links, clean and corrupted (JSON).

Chooses the fusion settings (``variance_rounds``, ``temperature``, per-entity variances or not) on validation links:
the run must have been made with a validation slice (``--valid-ratio 0.1``). Each variant re-weighs the same
trained model (:meth:`GaussianFusion.reweigh`); with ``--corrupt`` the same weights are also read on the corrupted
data (training never reads numbers or pictures). Valid x valid H@1, CSLS k = 10.

    python bench/probes/fusion_variants.py RUN_DIR OUT.json [--corrupt '{"numeric": 0.4, "side": "right"}']
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.ioutil import atomic_write_json
from gaussea.models.gaussian_fusion import GaussianFusionParams
from gaussea.provenance import now_iso
from gaussea.runner import corruption_variance_summary

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fusion_common import on_corrupted_data, validation_run  # noqa: E402
from speed_common import git_revision, machine  # noqa: E402

VARIANTS = (
    {"variance_rounds": 0},
    {"variance_rounds": 1, "entity_variances": False},
    {"variance_rounds": 1, "entity_variances": "auto"},
    {"variance_rounds": 1, "temperature": 0.02},
    {"variance_rounds": 1, "temperature": 0.05},
    {"variance_rounds": 1, "temperature": 0.1},
    {"variance_rounds": 2, "temperature": 0.05},
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("--corrupt", help="data.corrupt as JSON")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    cfg, pair, split, model = validation_run(args.run_dir, args.threads)
    models = [("clean", pair, model)]
    if args.corrupt:
        _, cpair, corrupted = on_corrupted_data(model, cfg, split, json.loads(args.corrupt))
        models.append((args.corrupt, cpair, corrupted))
    nl = model.inputs.num_left
    # The temperature rows vary the per-entity reliabilities' posterior, so they force them on.
    defaults = {**{k: getattr(GaussianFusionParams(), k) for k in ("variance_rounds", "temperature")},
                "entity_variances": True}
    rows = []
    for label, data, m in models:
        modal = m.modal_means()
        for name, mean in zip(modal.names, modal.means, strict=True):
            h1 = evaluate_alignment(Embeddings(mean[:nl]), Embeddings(mean[nl:]), split.valid, mode="test",
                                    csls_k=10)["hits@1"]
            rows.append({"data": label, "variant": f"{name} alone", "valid_hits@1": h1})
        for variant in VARIANTS:
            m.reweigh(**{**defaults, **variant})  # every option from the defaults, then the variant's
            state = m.fusion()
            h1 = evaluate_alignment(Embeddings(state.fused[:nl]), Embeddings(state.fused[nl:]), split.valid,
                                    mode="test", csls_k=10)["hits@1"]
            rows.append({"data": label, "variant": variant, "valid_hits@1": h1,
                         "mean_weights": state.weights.mean(0).tolist(),
                         "entity_reliability_used": state.entity_reliability,
                         "variance_by_corruption": corruption_variance_summary(m, data)})
            print(json.dumps({k: rows[-1][k] for k in ("data", "variant", "valid_hits@1")}), flush=True)
    record = {"command": " ".join([sys.executable, *sys.argv]), "date": now_iso(), "revision": git_revision(),
              "machine": machine(), "run_dir_config": cfg.to_dict(), "valid_links": len(split.valid), "rows": rows}
    atomic_write_json(Path(args.out), record)


if __name__ == "__main__":
    main()
