"""Probe: how small a corruption drop any per-entity weighing could reach (an oracle bound), on validation links.

A trained ``gaussian_fusion`` run (made with ``--valid-ratio``) is read on the data with a share of one side's
numbers swapped (``data.corrupt``), exactly as ``bench/bench_fusion.py`` does. For the point version and for the
model's own weighing it reports valid x valid H@1 (CSLS k = 10), and the same after the **oracle** step: the
numerical weight of every entity whose numbers were swapped set to zero, knowing the planted mask. No weighing
can do better than ignoring exactly the wrong evidence; what the oracle still loses is the information the swap
destroyed (an entity with swapped numbers has only its relations left). The clean figures come from the same
weights on the uncorrupted data. Output: JSON with the drops and the drop ratios.

    python bench/probes/corruption_oracle.py RUN_DIR OUT.json --shares 0.2,0.4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.ioutil import atomic_write_json
from gaussea.models.precision_fusion import fuse, precision_weights
from gaussea.provenance import now_iso

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fusion_common import on_corrupted_data, validation_run  # noqa: E402
from speed_common import git_revision, machine  # noqa: E402

WEIGHINGS = {"point": 0, "gaussian": 1}  # name -> variance_rounds


def valid_hits1(fused: torch.Tensor, num_left: int, valid: torch.Tensor) -> float:
    return evaluate_alignment(Embeddings(fused[:num_left]), Embeddings(fused[num_left:]), valid, mode="test",
                              csls_k=10)["hits@1"]


def swapped_mask(meta: dict, num_left: int, num_entities: int) -> torch.Tensor:
    bad = torch.zeros(num_entities, dtype=torch.bool)
    bad[torch.as_tensor(meta["left"], dtype=torch.long)] = True
    bad[num_left + torch.as_tensor(meta["right"], dtype=torch.long)] = True
    return bad


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("out")
    p.add_argument("--shares", default="0.2,0.4")
    p.add_argument("--side", default="right")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    cfg, _, split, model = validation_run(args.run_dir, args.threads)
    nl = model.inputs.num_left
    clean = {}
    for name, rounds in WEIGHINGS.items():
        model.reweigh(variance_rounds=rounds)
        clean[name] = valid_hits1(model.fusion().fused, nl, split.valid)
    rows = []
    for share in (float(x) for x in args.shares.split(",")):
        ccfg, cpair, corrupted = on_corrupted_data(model, cfg, split, {"numeric": share, "side": args.side})
        bad = swapped_mask(cpair.meta["corrupted_numeric"], nl, corrupted.inputs.num_entities)
        modal = corrupted.modal_means()
        numbers = modal.names.index("n")
        row = {"corruption": ccfg.data.corrupt, "swapped_entities": int(bad.sum())}
        for name, rounds in WEIGHINGS.items():
            corrupted.reweigh(variance_rounds=rounds)
            state = corrupted.fusion()
            variances = state.variances.clone()
            variances[bad, numbers] = torch.inf  # the oracle: no trust at all in the swapped numbers
            oracle = fuse(modal, precision_weights(variances, modal.present))
            h1, oracle_h1 = valid_hits1(state.fused, nl, split.valid), valid_hits1(oracle, nl, split.valid)
            row[name] = {"valid_hits@1": h1, "drop": clean[name] - h1,
                         "oracle_valid_hits@1": oracle_h1, "oracle_drop": clean[name] - oracle_h1}
        row["drop_ratio"] = row["gaussian"]["drop"] / row["point"]["drop"]
        row["oracle_drop_ratio"] = row["gaussian"]["oracle_drop"] / row["point"]["drop"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    record = {"command": " ".join([sys.executable, *sys.argv]), "date": now_iso(), "revision": git_revision(),
              "machine": machine(), "run_dir_config": cfg.to_dict(), "valid_links": len(split.valid),
              "clean_valid_hits@1": clean, "rows": rows}
    atomic_write_json(Path(args.out), record)


if __name__ == "__main__":
    main()
