"""Probe: does the common space fuse the modalities as well as a plain late fusion of the per-space similarities?

The paper evaluates on the common-space means, which L_csl pulls towards every modality's mean. On FB15K*-DB15K
(R+N) the common space aligns barely more test links than the relational space alone. This probe loads finished
run directories (``gaussea run`` / ``bench/bench_model.py`` output: config, split and checkpoint) and ranks the
test links (test candidates, cosine + CSLS with the run's k) by

- each space's means alone (common, relational, numerical, visual: what ``per_space_test`` reports),
- a late fusion: the concatenation of the L2-normalised relational and modal means, the modal part scaled by
  ``sqrt(w)`` — its cosine is the weighted average of the spaces' cosines, ``(cos_r + w cos_m) / (1 + w)``,

and reports the norms of the means each space feeds into L_csl and their mean cosine with the common means (the
common mean's minimiser weights the spaces by the size of their means as well as by their variances). A
diagnostic on the test links: nothing here chooses a setting, and late fusion is not the paper's evaluator.

    python bench/probes/space_fusion.py RUN_DIR [RUN_DIR ...] --out bench/results/tuning/2026-11-24-s9/space_fusion.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.ioutil import atomic_write_text
from gaussea.provenance import provenance
from gaussea.runner import load_run_model

WEIGHTS = (0.25, 0.5, 1.0)


def rank(left: torch.Tensor, right: torch.Tensor, test, csls_k: int) -> dict:
    m = evaluate_alignment(Embeddings(left), Embeddings(right), test, mode="test", similarity="cosine",
                           csls_k=csls_k)
    return {k: round(float(m[k]), 6) for k in ("hits@1", "hits@10", "mrr")}


def probe_run(run_dir: Path) -> dict:
    cfg, _pair, split, model = load_run_model(run_dir)
    k = cfg.eval.csls_k
    spaces = {"common": model.entity_embeddings(), **model.space_embeddings()}
    out: dict = {"run_dir": str(run_dir), "csls_k": k, "spaces": {}, "late_fusion": {}, "mean_norms": {},
                 "cosine_with_common": {}}
    normed = {}
    for space, (left, right) in spaces.items():
        left_mean, right_mean = left.mean.detach().cpu(), right.mean.detach().cpu()
        out["spaces"][space] = rank(left_mean, right_mean, split.test, k)
        norms = torch.cat([left_mean, right_mean]).norm(dim=1)
        out["mean_norms"][space] = {"mean": round(float(norms.mean()), 4), "std": round(float(norms.std()), 4)}
        normed[space] = (F.normalize(left_mean, dim=1), F.normalize(right_mean, dim=1))
        cosine = torch.cat([(normed[space][i] * normed["common"][i]).sum(1) for i in (0, 1)])
        out["cosine_with_common"][space] = round(float(cosine.mean()), 4)
    modal = [s for s in normed if s not in ("common", "relational")]
    for space in modal:
        for w in WEIGHTS:
            s = math.sqrt(w)
            left = torch.cat([normed["relational"][0], s * normed[space][0]], 1)
            right = torch.cat([normed["relational"][1], s * normed[space][1]], 1)
            out["late_fusion"][f"relational+{w:g}x{space}"] = rank(left, right, split.test, k)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = []
    for run_dir in args.run_dirs:
        record = probe_run(run_dir)
        runs.append(record)
        fused = {name: m["hits@1"] for name, m in record["late_fusion"].items()}
        print(run_dir, {s: m["hits@1"] for s, m in record["spaces"].items()}, fused, flush=True)
    record = {"probe": "space_fusion", "runs": runs, **provenance([sys.executable, *sys.argv])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
