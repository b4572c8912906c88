"""Train + evaluate named experiment configurations and keep the raw results as JSON.

Every figure about model quality in BENCHMARKS.md comes from a JSON file this script writes to
``bench/results/model/<experiment>/<variant>.json`` (metrics, the resolved configuration, command, date,
machine, git revision, wall time, peak RSS). Run directories (checkpoints, embeddings) go under ``runs/bench``
and are not committed.

    python bench/bench_model.py synthetic-variance          # Gaussian two-stage vs stage 1 only, corrupted images
    python bench/bench_model.py fbdb-rn --data-dir ../shared/data/mmkg-standin
    python bench/bench_model.py dbp15k-zh_en --data-dir ../shared/data/dbp15k
    python bench/bench_model.py d_y_15k_v1 --data-dir ../shared/data/openea

``--set section.key=value`` overrides apply to every variant (e.g. a shorter budget), and are recorded.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

from gaussea.cli import apply_overrides
from gaussea.config import RunConfig
from gaussea.ioutil import atomic_write_json, atomic_write_text
from gaussea.metrics_layout import split_results
from gaussea.provenance import peak_rss_mib, provenance
from gaussea.run_files import RunDirectory
from gaussea.runner import run

RESULTS = Path(__file__).parent / "results" / "model"


def experiments(data_dir: str | None) -> dict[str, dict[str, dict]]:
    """experiment -> variant -> config overrides (as RunConfig.to_dict() fragments)."""
    fixed_common = {"model": {"options": {"free_common_variance": False}}}
    fbdb = {"data": {"dataset": "fb15k-db15k", "data_dir": data_dir, "ratio": 0.2, "split": 0},
            "model": {"modalities": ["r", "n"]}}
    dbp = {"data": {"dataset": "dbp15k-zh_en", "data_dir": data_dir, "ratio": 0.3, "split": 0},
           "model": {"modalities": ["r"]}}
    dy = {"data": {"dataset": "d_y_15k_v1", "data_dir": data_dir, "given_split": "split_721_ExEA"},
          "model": {"modalities": ["r"]}}
    return {
        "synthetic-variance": {
            "gaussian-two-stage": {"model_name": "gaussian"},
            "gaussian-fixed-common": merge({"model_name": "gaussian"}, fixed_common),
            "stage1-only": {"model_name": "mmea"},
        },
        "fbdb-rn": {
            "gaussian": merge({"model_name": "gaussian"}, fbdb),
            "gaussian-fixed-common": merge(merge({"model_name": "gaussian"}, fbdb), fixed_common),
            "gaussian-r-only": merge(merge({"model_name": "gaussian"}, fbdb), {"model": {"modalities": ["r"]}}),
            "mmea": merge({"model_name": "mmea"}, fbdb),
        },
        "dbp15k-zh_en": {
            "gaussian": merge({"model_name": "gaussian"}, dbp),
            "gaussian-fixed-common": merge(merge({"model_name": "gaussian"}, dbp), fixed_common),
            "mmea": merge({"model_name": "mmea"}, dbp),
        },
        "d_y_15k_v1": {
            "gaussian": merge({"model_name": "gaussian"}, dy),
            "gaussian-fixed-common": merge(merge({"model_name": "gaussian"}, dy), fixed_common),
            "transe": merge({"model_name": "transe"}, dy),
            "mmea": merge({"model_name": "mmea"}, dy),
        },
    }


def merge(base: dict, extra: dict) -> dict:
    """A new dict: ``base`` updated recursively with ``extra`` (neither argument is modified)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--data-dir")
    p.add_argument("--variants", help="comma list (default: all of the experiment)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    p.add_argument("--runs-root", default="runs/bench")
    p.add_argument("--tag", default="", help="suffix of the result file name, to keep earlier results")
    args = p.parse_args(argv)
    table = experiments(args.data_dir)
    if args.experiment not in table:
        p.error(f"unknown experiment {args.experiment!r}; known: {', '.join(table)}")
    variants = table[args.experiment]
    chosen = args.variants.split(",") if args.variants else list(variants)
    for name in chosen:
        cfg_dict = merge(RunConfig().to_dict(), variants[name])
        cfg_dict["train"]["progress"] = False
        apply_overrides(cfg_dict, args.set)
        cfg = RunConfig.from_dict(cfg_dict)
        t0 = time.perf_counter()
        started = provenance([sys.executable, *sys.argv])  # the revision whose code runs
        # the tag is part of the run directory: two tagged runs of one variant may run side by side
        run_name = name + (f"-{args.tag}" if args.tag else "")
        result = run(cfg, Path(args.runs_root) / args.experiment / run_name, overwrite=True)
        record = {
            "experiment": args.experiment,
            "variant": name + (f"-{args.tag}" if args.tag else ""),
            "overrides": args.set,
            "config": cfg.to_dict(),
            "metrics": result.metrics,
            "wall_seconds": time.perf_counter() - t0,
            "peak_rss_mib": peak_rss_mib(),
            **started,
        }
        out = RESULTS / args.experiment / f"{name}{'-' + args.tag if args.tag else ''}.json"
        atomic_write_json(out, record)
        log = RunDirectory(result.run_dir).train_log_path  # per-epoch losses, kept beside the metrics
        atomic_write_text(out.with_suffix(".train_log.jsonl"), log.read_text(encoding="utf-8"))
        test = split_results(result.metrics)
        print(json.dumps({"variant": name, **{mode: {k: round(v, 4) for k, v in m.items()
                                                       if k in ("hits@1", "hits@10", "mrr", "mr")}
                                               for mode, m in test.items()},
                          "variance_by_corruption": result.metrics.get("variance_by_corruption")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
