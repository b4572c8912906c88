"""The Gaussian fusion model beside its point version, its ablation and the propagation yardstick, clean and with
planted corruption, with the CSLS and Sinkhorn decoders; raw JSON.

Every ``gaussian_fusion`` figure in BENCHMARKS.md and the README comes from a file this script writes to
``bench/results/gaussian-fusion/<name>.json``. Per dataset and split (a validation slice of 10 % of the links is
carved from the non-train links; test links are read once per reported row):

1. one ``gaussea run --model gaussian_fusion`` on the clean data (its wall time and peak RSS are the run's);
2. from that one trained model, rows that differ only by the weighing (:meth:`GaussianFusion.reweigh`):
   ``gaussian`` (per-entity variances), ``modality-precisions`` (one precision per modality, no per-entity
   variance: an ablation), ``point`` (every variance frozen at one value: the point version), and each
   modality alone (diagnostics);
3. for each planted corruption (``data.corrupt``): the same trained weights on the corrupted data. Training reads
   only the relational triples and the seed pairs, never the numbers or pictures that ``data.corrupt`` swaps, so
   a run on the corrupted data would train exactly these weights (the script checks that the triples and seed
   pairs are identical); only the closed-form numerical / visual part is recomputed;
4. the training-free ``propagation`` model on the same split;
5. with ``--iterative-rounds R`` (``--iterative-epochs K``): a second ``gaussian_fusion`` run that adds R rounds of
   iterative bootstrapping (``train.iterative_rounds``) after the same base epochs, its weighings as in 2, and the
   propagation model with R bootstrapping rounds of its own; these rows are labelled ``"iterative": true`` and
   are never put in one table with the others.

Each row is decoded with CSLS (k = 10) and with Sinkhorn, whose temperature is chosen per row on the validation
links from ``gaussea.config.SINKHORN_TAU_GRID`` (``eval.sinkhorn_tau = null``; recorded as ``sinkhorn_tau``).
Candidates: test x test. Only the rows of 5 are iterative.

    python bench/bench_fusion.py --datasets fb15k-db15k-rn --splits 0,1,2 --threads 2
    python bench/bench_fusion.py --datasets synthetic,synthetic-clean --splits 0,1,2
    python bench/bench_fusion.py --datasets fb15k-db15k-rn --splits 0,1,2 --iterative-rounds 3 --only-iterative
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from gaussea.cli import apply_overrides
from gaussea.config import SINKHORN_TAU_GRID, RunConfig
from gaussea.ioutil import atomic_write_json
from gaussea.provenance import now_iso
from gaussea.runner import corruption_variance_summary, evaluate_model, run, with_sinkhorn_tau_from_valid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_propagation import merge  # noqa: E402
from fusion_common import on_corrupted_data  # noqa: E402
from speed_common import git_revision, load_average, machine  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "gaussian-fusion"
VALID_RATIO = 0.1
# Rows read off one trained model: name -> fusion options (GaussianFusion.reweigh).
# "gaussian" is the model as users get it (per-entity variances where the calibration pairs support them).
WEIGHINGS = {
    "gaussian": {"variance_rounds": 1, "entity_variances": "auto"},
    "entity-reliabilities": {"variance_rounds": 1, "entity_variances": True},
    "modality-precisions": {"variance_rounds": 1, "entity_variances": False},
    "point": {"variance_rounds": 0, "entity_variances": "auto"},
}


def datasets(data_dir: str) -> dict[str, dict]:
    """Dataset name -> (config fragment, epochs, planted corruptions). Epochs: FB15K*-DB15K's budget chosen on
    validation links by the relational-encoder probe; the synthetic one where its validation MRR levels off."""
    synthetic_clean = {"image_corrupted": 0.0, "numeric_corrupted": 0.0}
    return {
        "fb15k-db15k-rn": {
            "fragment": {"data": {"dataset": "fb15k-db15k", "data_dir": f"{data_dir}/mmkg-standin", "ratio": 0.2},
                         "model": {"modalities": ["r", "n"]}},
            "epochs": 30, "corruptions": [{"numeric": 0.2, "side": "right"}, {"numeric": 0.4, "side": "right"}]},
        # FB15K*-YAGO15K: the partial pair of ../shared/data (mmkg-standin/README.md); FB15K*-DB15K's budget, not
        # tuned on this pair.
        "fb15k-yago15k-rn": {
            "fragment": {"data": {"dataset": "fb15k-yago15k", "data_dir": f"{data_dir}/mmkg-standin", "ratio": 0.2},
                         "model": {"modalities": ["r", "n"]}},
            "epochs": 30, "corruptions": [{"numeric": 0.2, "side": "right"}, {"numeric": 0.4, "side": "right"}]},
        "synthetic": {"fragment": {"data": {"dataset": "synthetic"}}, "epochs": 20, "corruptions": []},
        "synthetic-clean": {"fragment": {"data": {"dataset": "synthetic", "options": synthetic_clean}},
                            "epochs": 20, "corruptions": [{"image": 0.4, "side": "right"}]},
    }


def decoded(model: torch.nn.Module, split, cfg: RunConfig) -> list[dict]:
    """CSLS on test; Sinkhorn on test at the temperature the library chooses on the validation links."""
    csls = evaluate_model(model, split.test, cfg)["test"]
    sink, choice = with_sinkhorn_tau_from_valid(
        model, split, replace(cfg, eval=replace(cfg.eval, decoder="sinkhorn", sinkhorn_tau=None)))
    sinkhorn = evaluate_model(model, split.test, sink)["test"]
    return [{"decoder": "csls", "metrics": csls},
            {"decoder": "sinkhorn", "sinkhorn_tau": choice["chosen"], "valid_hits@1_by_tau": choice["valid_hits@1"],
             "metrics": sinkhorn}]


def fusion_rows(model, split, cfg: RunConfig, pair, common: dict) -> list[dict]:
    rows = []
    for name, options in WEIGHINGS.items():
        model.reweigh(**options)
        state = model.fusion()
        summary = corruption_variance_summary(model, pair) if name == "gaussian" else None
        for row in decoded(model, split, cfg):
            rows.append({**common, "row": name, **row, "fusion_options": options,
                         "entity_reliability_used": state.entity_reliability,
                         "variance_by_corruption": summary, "mean_weights": state.weights.mean(0).tolist()})
    model.reweigh(**WEIGHINGS["gaussian"])
    return rows


def fusion_config(spec: dict, split_index: int, args: argparse.Namespace, iterative_rounds: int = 0) -> RunConfig:
    cfg_dict = merge(RunConfig().to_dict(), spec["fragment"])
    cfg_dict["model_name"] = "gaussian_fusion"
    cfg_dict["data"].update(split=split_index, valid_ratio=VALID_RATIO)
    cfg_dict["train"].update(stage1_epochs=spec["epochs"], stage2_epochs=0, threads=args.threads, progress=False,
                             iterative_rounds=iterative_rounds, iterative_epochs=args.iterative_epochs)
    cfg_dict["eval"]["modes"] = ["test"]
    apply_overrides(cfg_dict, args.set)
    return RunConfig.from_dict(cfg_dict)


def trained_rows(name: str, cfg: RunConfig, split_index: int, run_dir: Path) -> tuple[list[dict], object, dict]:
    """One ``gaussian_fusion`` run and its weighings; also returns the run's result and the rows' common fields."""
    t0 = time.perf_counter()
    result = run(cfg, run_dir, overwrite=True)
    wall = time.perf_counter() - t0
    iterative = result.metrics["iterative"]
    base = {"dataset": name, "split": split_index, "iterative": iterative, "candidates": "test x test",
            "valid_links": len(result.split.valid), "test_links": len(result.split.test), "config": cfg.to_dict()}
    clean = {**base, "corruption": None, "run_wall_seconds": wall,
             "train_seconds": result.metrics["train_seconds"], "eval_seconds": result.metrics["eval_seconds"],
             "peak_rss_mib": result.metrics["peak_rss_mib"], "per_space_test": result.metrics["per_space_test"],
             "bootstrapped_pairs": len(result.model.relational.bootstrapped_pairs)}
    return fusion_rows(result.model, result.split, cfg, result.pair, clean), result, base


def propagation_rows(cfg: RunConfig, base: dict, run_dir: Path, iterative_rounds: int = 0) -> list[dict]:
    """The training-free yardstick on the same split (with its own bootstrapping rounds when iterative)."""
    options = {"iterative_rounds": iterative_rounds} if iterative_rounds else {}
    pcfg = RunConfig.from_dict({**cfg.to_dict(), "model_name": "propagation",
                                "model": {**cfg.to_dict()["model"], "options": options},
                                "train": {**cfg.to_dict()["train"], "iterative_rounds": 0}})
    presult = run(pcfg, run_dir, overwrite=True)
    return [{**base, "corruption": None, "row": "propagation", **row, "config": pcfg.to_dict(),
             "iterative": presult.metrics["iterative"]} for row in decoded(presult.model, presult.split, pcfg)]


def measure_iterative(name: str, spec: dict, split_index: int, args: argparse.Namespace, workdir: Path) -> list[dict]:
    """Step 5 of the module docstring: the iterative rows (clean data only)."""
    cfg = fusion_config(spec, split_index, args, args.iterative_rounds)
    rows, _, base = trained_rows(name, cfg, split_index, workdir / f"{name}-s{split_index}-iterative")
    rows += propagation_rows(cfg, base, workdir / f"{name}-s{split_index}-propagation-iterative",
                             args.iterative_rounds)
    report(name, split_index, rows)
    return rows


def report(name: str, split_index: int, rows: list[dict]) -> None:
    for row in rows:
        m = row["metrics"]
        print(json.dumps({"dataset": name, "split": split_index, "iterative": row["iterative"],
                          "corruption": row["corruption"], "row": row["row"], "decoder": row["decoder"],
                          "hits@1": round(m["hits@1"], 4), "mrr": round(m["mrr"], 4)}), flush=True)


def measure(name: str, spec: dict, split_index: int, args: argparse.Namespace, workdir: Path) -> list[dict]:
    cfg = fusion_config(spec, split_index, args)
    rows, result, base = trained_rows(name, cfg, split_index, workdir / f"{name}-s{split_index}")
    model, split = result.model, result.split
    for corruption in spec["corruptions"]:
        ccfg, pair, corrupted = on_corrupted_data(model, cfg, split, corruption)
        rows += fusion_rows(corrupted, split, ccfg, pair, {**base, "corruption": corruption,
                                                            "corruption_meta": pair.meta.get("corruption")})
    rows += propagation_rows(cfg, base, workdir / f"{name}-s{split_index}-propagation")
    report(name, split_index, rows)
    print(json.dumps({"dataset": name, "split": split_index, "wall_s": round(rows[0]["run_wall_seconds"], 1),
                      "peak_rss_mib": round(result.metrics["peak_rss_mib"])}), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    p.add_argument("--datasets", default="fb15k-db15k-rn,synthetic,synthetic-clean")
    p.add_argument("--splits", default="0,1,2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="applied to every run")
    p.add_argument("--iterative-rounds", type=int, default=0, help="also the iterative rows (step 5), R rounds")
    p.add_argument("--iterative-epochs", type=int, default=5, help="epochs after each bootstrapping round")
    p.add_argument("--only-iterative", action="store_true", help="the iterative rows alone (skips steps 1-4)")
    p.add_argument("--out", help="result file (default: bench/results/gaussian-fusion/<date>-<datasets>.json)")
    args = p.parse_args(argv)
    table = datasets(args.data_dir)
    chosen = args.datasets.split(",")
    unknown = sorted(set(chosen) - set(table))
    if unknown:
        p.error(f"unknown dataset(s) {unknown}; known: {', '.join(table)}")
    record = {"command": " ".join([sys.executable, *sys.argv]), "date": now_iso(), "revision": git_revision(),
              "machine": machine(), "load_average_start": load_average(), "threads": args.threads,
              "overrides": args.set, "iterative_rounds": args.iterative_rounds,
              "iterative_epochs": args.iterative_epochs, "sinkhorn_taus": list(SINKHORN_TAU_GRID),
              "valid_ratio": VALID_RATIO, "rows": []}
    with tempfile.TemporaryDirectory(prefix="bench-fusion-") as tmp:
        for name in chosen:
            for split in (int(x) for x in args.splits.split(",")):
                if not args.only_iterative:
                    record["rows"].extend(measure(name, table[name], split, args, Path(tmp)))
                if args.iterative_rounds:
                    record["rows"].extend(measure_iterative(name, table[name], split, args, Path(tmp)))
    record["load_average_end"] = load_average()
    suffix = "-iterative" if args.iterative_rounds else ""
    out = Path(args.out) if args.out else RESULTS / f"{record['date'][:10]}-{'-'.join(chosen)}{suffix}.json"
    atomic_write_json(out, record)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
