"""Probe: which blocks the propagation model's embedding keeps, chosen on validation links (never test links).

For FB15K*-DB15K (relational, 20 % seeds), DBP15K zh_en (30 %) and D-Y-15K-V1 (20 %), 10 % of the links are carved
out of the non-train links as a validation slice; every variant below is scored on it (valid sources x valid
targets, cosine + CSLS k = 10, the Sinkhorn decoder beside it) with the same seed pairs and random labels:

- ``entity``: ``[H_0, H_1, H_2]`` alone;
- ``signed-mean``: + the signed relation block (incoming minus outgoing) from plain relation means;
- ``signed-unit``: the same from unit relation vectors (the model's default);
- ``in-out-blocks``: incoming and outgoing as two blocks (unit relation vectors);
- ``relation-x2``: the signed block weighted twice (squared weight) in the cosine;
- ``hops-3``: three hops; ``multiplicity``: edges weighted by their number of triples; ``dim-1024``: wider labels;
- ``rounds-R``: the model with ``R`` bootstrapping rounds (``--rounds``).

    python bench/probes/propagation_variants.py --data-dir ../shared/data \
        --out bench/results/propagation/validation-variants.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from gaussea.config import ModelConfig, RunConfig
from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.ioutil import atomic_write_text
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.propagation import (
    _sparse,
    propagate,
    relation_translations,
    relation_view,
    row_normalised_adjacency,
    seed_labels,
)
from gaussea.models.translational import split_sides, unit
from gaussea.provenance import provenance
from gaussea.runner import choose_split, load_pair

DATASETS = {
    "fb15k-db15k-r": ("fb15k-db15k", "mmkg-standin", 0.2),
    "dbp15k-zh_en": ("dbp15k-zh_en", "dbp15k", 0.3),
    "d_y_15k_v1": ("d_y_15k_v1", "openea", 0.2),
}


def multiplicity_adjacency(triples: torch.Tensor, n: int) -> torch.Tensor:
    """``D^-1 A`` with ``A[h, t]`` the number of triples joining ``h`` and ``t`` (either direction)."""
    h, t = triples[:, 0], triples[:, 2]
    keep = h != t
    rows, cols = torch.cat([h[keep], t[keep]]), torch.cat([t[keep], h[keep]])
    adj = _sparse(rows, cols, torch.ones(len(rows)), (n, n))
    idx, val = adj.indices(), adj.values()
    degree = torch.zeros(n).index_add_(0, idx[0], val).clamp_min(1e-12)
    return _sparse(idx[0], idx[1], val / degree[idx[0]], (n, n))


def directed_blocks(features: torch.Tensor, inputs: AlignmentInputs) -> list[torch.Tensor]:
    """``[incoming, outgoing]``: unit means of the unit relation vectors over each entity's in / out triples."""
    translations = unit(relation_translations(features, inputs.triples, inputs.num_relations))
    h, r, t = inputs.triples.unbind(1)
    n = features.shape[0]
    out = []
    for ends in (t, h):
        count = torch.bincount(ends, minlength=n).float().clamp_min(1.0)
        out.append(unit(torch.sparse.mm(_sparse(ends, r, 1.0 / count[ends], (n, inputs.num_relations)),
                                        translations)))
    return out


def plain_mean_block(features: torch.Tensor, inputs: AlignmentInputs) -> torch.Tensor:
    """The signed block from relation means that are not scaled to unit length."""
    translations = relation_translations(features, inputs.triples, inputs.num_relations)
    h, r, t = inputs.triples.unbind(1)
    n = features.shape[0]
    weights = []
    for ends, sign in ((t, 1.0), (h, -1.0)):
        weights.append(sign / torch.bincount(ends, minlength=n).float().clamp_min(1.0)[ends])
    incidence = _sparse(torch.cat([t, h]), torch.cat([r, r]), torch.cat(weights), (n, inputs.num_relations))
    return unit(torch.sparse.mm(incidence, translations))


def variants(inputs: AlignmentInputs, seed: int) -> dict[str, list[torch.Tensor]]:
    n = inputs.num_entities
    adjacency = row_normalised_adjacency(inputs.triples, n)

    def hops_of(adj: torch.Tensor, dim: int, hops: int) -> list[torch.Tensor]:
        return propagate(adj, seed_labels(inputs.train_pairs, n, dim, torch.Generator().manual_seed(seed)), hops)

    def signed(blocks: list[torch.Tensor]) -> torch.Tensor:
        return relation_view(torch.cat(blocks, 1), inputs.triples, inputs.num_relations)

    entity = hops_of(adjacency, 512, 2)
    rel = signed(entity)
    hops3 = hops_of(adjacency, 512, 3)
    multi = hops_of(multiplicity_adjacency(inputs.triples, n), 512, 2)
    wide = hops_of(adjacency, 1024, 2)
    return {
        "entity": entity,
        "signed-mean": [*entity, plain_mean_block(torch.cat(entity, 1), inputs)],
        "signed-unit": [*entity, rel],
        "in-out-blocks": [*entity, *directed_blocks(torch.cat(entity, 1), inputs)],
        "relation-x2": [*entity, rel * 2 ** 0.5],
        "hops-3": [*hops3, signed(hops3)],
        "multiplicity": [*multi, signed(multi)],
        "dim-1024": [*wide, signed(wide)],
    }


def score(left: Embeddings, right: Embeddings, links) -> dict[str, float]:
    csls = evaluate_alignment(left, right, links, mode="test", csls_k=10)
    sinkhorn = evaluate_alignment(left, right, links, mode="test", decoder="sinkhorn")
    return {"csls_hits@1": csls["hits@1"], "csls_mrr": csls["mrr"], "sinkhorn_hits@1": sinkhorn["hits@1"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="the folder holding mmkg-standin/, dbp15k/ and openea/")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--rounds", default="0,1,3", help="bootstrapping rounds to score (comma list; empty: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.datasets.split(","):
        dataset, subdir, ratio = DATASETS[name]
        cfg = RunConfig()
        cfg.data.dataset, cfg.data.data_dir = dataset, str(Path(args.data_dir) / subdir)
        cfg.data.ratio, cfg.data.valid_ratio = ratio, 0.1
        pair = load_pair(cfg)
        split = choose_split(cfg, pair)
        inputs = AlignmentInputs.build(pair, split)
        for variant, blocks in variants(inputs, args.seed).items():
            left, right = split_sides(unit(torch.cat(blocks, 1)), inputs.num_left)
            row = {"dataset": name, "variant": variant, "dim": left.shape[1],
                   **score(Embeddings(left), Embeddings(right), split.valid)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        for rounds in [int(x) for x in args.rounds.split(",") if x]:
            t0 = time.perf_counter()
            model = build_model("propagation", inputs, ModelConfig(options={"iterative_rounds": rounds}),
                                torch.Generator().manual_seed(args.seed))
            left_emb, right_emb = model.entity_embeddings()
            row = {"dataset": name, "variant": f"rounds-{rounds}", "dim": left_emb.dim,
                   "proposed_pairs": model.proposed_pairs, "seconds": time.perf_counter() - t0,
                   **score(left_emb, right_emb, split.valid)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        record = {**provenance([sys.executable, *sys.argv]), "valid_ratio": 0.1, "rows": rows}
        atomic_write_text(Path(args.out), json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
