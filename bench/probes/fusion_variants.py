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
from dataclasses import replace
from pathlib import Path

import torch

from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.ioutil import atomic_write_json
from gaussea.models import build_model
from gaussea.models.gaussian_fusion import GaussianFusionParams
from gaussea.models.inputs import AlignmentInputs
from gaussea.provenance import now_iso
from gaussea.runner import corruption_variance_summary, load_pair, load_run_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speed_common import git_revision, machine  # noqa: E402

VARIANTS = (
    {"variance_rounds": 0},
    {"variance_rounds": 1, "entity_variances": False},
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
    torch.set_num_threads(args.threads)
    cfg, pair, split, model = load_run_model(Path(args.run_dir))
    if not len(split.valid):
        raise SystemExit(f"{args.run_dir}: the run has no validation slice")
    models = [("clean", pair, model)]
    if args.corrupt:
        ccfg = replace(cfg, data=replace(cfg.data, corrupt=json.loads(args.corrupt)))
        cpair = load_pair(ccfg)
        corrupted = build_model(cfg.model_name, AlignmentInputs.build(cpair, split), ccfg.model,
                                torch.Generator().manual_seed(cfg.train.seed))
        corrupted.load_state_dict(model.state_dict())
        models.append((args.corrupt, cpair, corrupted))
    nl = model.inputs.num_left
    defaults = {k: getattr(GaussianFusionParams(), k) for k in ("variance_rounds", "entity_variances", "temperature")}
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
                         "variance_by_corruption": corruption_variance_summary(m, data)})
            print(json.dumps({k: rows[-1][k] for k in ("data", "variant", "valid_hits@1")}), flush=True)
    record = {"command": " ".join([sys.executable, *sys.argv]), "date": now_iso(), "revision": git_revision(),
              "machine": machine(), "run_dir_config": cfg.to_dict(), "valid_links": len(split.valid), "rows": rows}
    atomic_write_json(Path(args.out), record)


if __name__ == "__main__":
    main()
