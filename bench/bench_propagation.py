"""The training-free propagation yardstick (or, with ``--model graph_encoder`` / ``gaussian_fusion``, a trained
model: on these relation-only settings ``gaussian_fusion`` has one modality, so it is the relational encoder with
centred means and no held-out calibration pairs) on the benchmarks, with the CSLS and Sinkhorn decoders; raw JSON.

Every propagation / graph-encoder figure in BENCHMARKS.md comes from a file this script writes to
``bench/results/<model>/<name>.json``: per dataset, one ``gaussea run --model MODEL`` (test x test
candidates, the CSLS decoder) whose model is then decoded again with Sinkhorn (the same embedding, so the rows
differ by the decoder alone), and the same again with bootstrapping (``iterative_rounds``, separate rows,
labelled iterative). Each row holds the metrics, the resolved configuration, the propagation's and the
evaluation's seconds; the file holds the command, date, machine and git revision.

    python bench/bench_propagation.py --data-dir ../shared/data --threads 1
    python bench/bench_propagation.py --model graph_encoder --datasets dbp15k-zh_en,d_y_15k_v1,fb15k-db15k-r

The trained models train ``ENCODER_EPOCHS[dataset]`` epochs: the epoch budgets the relational-encoder probe chose
on validation links (``bench/results/encoder-probe/README.md``); their iterative rows add ``--rounds`` rounds of
``train.iterative_rounds`` bootstrapping, ``--iterative-epochs`` epochs each.

Run directories go to a temporary folder and are deleted (the propagation's embeddings are a few hundred MB and
are recomputed from the configuration in seconds).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from gaussea.cli import apply_overrides
from gaussea.config import RunConfig
from gaussea.ioutil import atomic_write_json
from gaussea.metrics_layout import candidate_result
from gaussea.provenance import now_iso
from gaussea.runner import evaluate_model, run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_common import git_revision, load_average, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_ROUNDS = 3
MODELS = ("propagation", "graph_encoder", "gaussian_fusion")
# Epochs of the graph encoder per dataset, chosen on validation links by bench/probes/relational_encoder.py.
ENCODER_EPOCHS = {"dbp15k-zh_en": 24, "d_y_15k_v1": 12, "fb15k-db15k-r": 30}


def datasets(data_dir: str) -> dict[str, dict]:
    """Dataset name -> config fragment: the settings of the issue's figures (test x test; CSLS k = 10, except
    the synthetic default, reported with plain cosine as there)."""
    relational = {"modalities": ["r"]}
    return {
        "fb15k-db15k-r": {"data": {"dataset": "fb15k-db15k", "data_dir": f"{data_dir}/mmkg-standin", "ratio": 0.2,
                                   "split": 0}, "model": relational},
        "dbp15k-zh_en": {"data": {"dataset": "dbp15k-zh_en", "data_dir": f"{data_dir}/dbp15k", "ratio": 0.3,
                                  "split": 0}, "model": relational},
        "d_y_15k_v1": {"data": {"dataset": "d_y_15k_v1", "data_dir": f"{data_dir}/openea",
                                "given_split": "split_721_ExEA"}, "model": relational},
        "synthetic": {"eval": {"csls_k": None}},
    }


def merge(base: dict, extra: dict) -> dict:
    """A new dict: ``base`` updated recursively with ``extra``."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else copy.deepcopy(value)
    return out


def proposed_pairs(model: torch.nn.Module) -> int:
    """Pairs bootstrapping added: the propagation model counts its own; a trained model holds them as known pairs."""
    if hasattr(model, "proposed_pairs"):
        return model.proposed_pairs
    return len(model.known_pairs()) - len(model.inputs.train_pairs)


def measure(name: str, fragment: dict, rounds: int, args: argparse.Namespace, workdir: Path) -> list[dict]:
    """One run (CSLS) and its Sinkhorn re-decoding: two rows."""
    cfg_dict = merge(RunConfig().to_dict(), fragment)
    cfg_dict["model_name"] = args.model
    if args.model == "propagation":
        cfg_dict["model"]["options"] = {"iterative_rounds": rounds}
    else:
        cfg_dict["train"].update(stage1_epochs=ENCODER_EPOCHS[name], stage2_epochs=0, iterative_rounds=rounds,
                                 iterative_epochs=args.iterative_epochs)
    cfg_dict["train"].update(threads=args.threads, progress=False)
    cfg_dict["eval"]["modes"] = ["test"]
    apply_overrides(cfg_dict, args.set)
    cfg = RunConfig.from_dict(cfg_dict)
    t0 = time.perf_counter()
    result = run(cfg, workdir / f"{name}-s{cfg.data.split}-r{rounds}", overwrite=True)
    wall = time.perf_counter() - t0
    common = {"dataset": name, "split": cfg.data.split, "iterative": result.metrics["iterative"],
              "iterative_rounds": rounds,
              "proposed_pairs": proposed_pairs(result.model),
              "propagation_seconds": getattr(result.model, "compute_seconds", None),
              "train_seconds": result.metrics["train_seconds"], "peak_rss_mib": result.metrics["peak_rss_mib"],
              "epochs_completed": result.metrics["epochs_completed"]}
    rows = [{**common, "decoder": "csls", "metrics": candidate_result(result.metrics),
             "per_space_test": result.metrics["per_space_test"], "eval_seconds": result.metrics["eval_seconds"],
             "run_wall_seconds": wall, "config": cfg.to_dict()}]
    sinkhorn = replace(cfg, eval=replace(cfg.eval, decoder="sinkhorn"))
    t0 = time.perf_counter()
    with torch.no_grad():
        decoded = evaluate_model(result.model, result.split.test, sinkhorn)["test"]
    rows.append({**common, "decoder": "sinkhorn", "metrics": decoded, "eval_seconds": time.perf_counter() - t0,
                 "config": sinkhorn.to_dict()})
    for row in rows:
        m = row["metrics"]
        print(json.dumps({"dataset": name, "split": cfg.data.split, "rounds": rounds, "decoder": row["decoder"],
                          "hits@1": round(m["hits@1"], 4), "mrr": round(m["mrr"], 4),
                          "proposed_pairs": row["proposed_pairs"]}), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"),
                   help="the folder holding mmkg-standin/, dbp15k/ and openea/")
    p.add_argument("--model", choices=MODELS, default="propagation")
    p.add_argument("--datasets", help="comma list (default: all four for propagation, the three real ones for "
                   "graph_encoder)")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="bootstrapping rounds of the iterative rows "
                   "(0: no iterative rows)")
    p.add_argument("--iterative-epochs", type=int, default=5, help="a trained model's epochs after each round "
                   "(train.iterative_epochs)")
    p.add_argument("--only-iterative", action="store_true", help="the iterative rows alone")
    p.add_argument("--splits", default="0", help="comma list of random-split indices (default 0); a dataset with a "
                   "given split (D-Y-15K-V1) runs it once, under index 0")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="applied to every run")
    p.add_argument("--out", help="result file (default: bench/results/propagation/<date>.json)")
    args = p.parse_args(argv)
    table = datasets(args.data_dir)
    known = table if args.model == "propagation" else ENCODER_EPOCHS
    chosen = args.datasets.split(",") if args.datasets else list(known)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        p.error(f"unknown dataset(s) {unknown} for {args.model}; known: {', '.join(known)}")
    record = {"command": " ".join([sys.executable, *sys.argv]), "date": now_iso(), "revision": git_revision(),
              "machine": machine(), "load_average_start": load_average(), "threads": args.threads,
              "model": args.model, "overrides": args.set, "rows": []}
    rounds_to_run = [args.rounds] if args.only_iterative else sorted({0, args.rounds})
    splits = [int(x) for x in args.splits.split(",")]
    with tempfile.TemporaryDirectory(prefix=f"bench-{args.model}-") as tmp:
        for name in chosen:
            given = "given_split" in table[name].get("data", {})
            for split in [i for i in splits if i == 0 or not given]:
                fragment = merge(table[name], {"data": {"split": split}}) if not given else table[name]
                for rounds in rounds_to_run:
                    record["rows"].extend(measure(name, fragment, rounds, args, Path(tmp)))
    record["load_average_end"] = load_average()
    out = Path(args.out) if args.out else RESULTS / args.model / f"{record['date'][:10]}.json"
    atomic_write_json(out, record)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
