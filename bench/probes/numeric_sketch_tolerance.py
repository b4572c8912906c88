"""Probe: the numerical value sketch alone on FB15K*-DB15K's validation links, per tolerance (raw JSON).

Chooses ``numeric_tolerance`` of ``gaussian_fusion`` on validation links (10 % of the links carved from the
non-train links of split 0; test links unused). Each tolerance: the sketch built from the seed links, then valid
x valid H@1 with CSLS (k = 10).

    python bench/probes/numeric_sketch_tolerance.py [DATA_DIR] [OUT]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from gaussea.config import RunConfig
from gaussea.encoders.numeric_sketch import NumericSketchParams, numeric_sketch
from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.ioutil import atomic_write_json
from gaussea.models.inputs import AlignmentInputs
from gaussea.provenance import now_iso
from gaussea.runner import choose_split, load_pair

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from speed_common import git_revision, machine  # noqa: E402

TOLERANCES = (1e-5, 1e-4, 2e-4, 5e-4, 2e-3, 5e-3, 2e-2)


def main() -> None:
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mmkg-standin"
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else \
        Path(__file__).resolve().parents[1] / "results" / "gaussian-fusion" / "numeric-tolerance.json"
    torch.set_num_threads(2)
    cfg = RunConfig.from_dict({"data": {"dataset": "fb15k-db15k", "data_dir": data_dir, "ratio": 0.2,
                                        "valid_ratio": 0.1}})
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    inputs = AlignmentInputs.build(pair, split)
    rows = []
    for tolerance in TOLERANCES:
        t0 = time.perf_counter()
        sketch = numeric_sketch(inputs.num_entities, inputs.num_entity, inputs.num_attribute, inputs.num_value,
                                inputs.train_pairs, NumericSketchParams(tolerance=tolerance),
                                torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - t0
        left, right = sketch.vectors[:inputs.num_left], sketch.vectors[inputs.num_left:]
        m = evaluate_alignment(Embeddings(left), Embeddings(right), split.valid, mode="test", csls_k=10)
        rows.append({"tolerance": tolerance, "valid_hits@1": m["hits@1"], "valid_mrr": m["mrr"],
                     "correspondences": len(sketch.correspondences), "entities_with_sketch": int(sketch.present.sum()),
                     "sketch_seconds": seconds})
        print(rows[-1], flush=True)
    atomic_write_json(out, {"command": " ".join([sys.executable, *sys.argv]), "date": now_iso(),
                            "revision": git_revision(), "machine": machine(), "valid_links": len(split.valid),
                            "rows": rows})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
