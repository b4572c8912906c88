"""The ``gaussea`` command line: the parser of every subcommand, and ``datasets``, ``stats``, ``run``, ``evaluate``.

Bad input never ends in a traceback: data, checkpoint and configuration errors, a run directory in use by
another run, and an output file the operating system refuses to write (a full disk, say) are printed as one
line naming the file and problem, with exit status 2. A configuration is checked field by field when it is
built (:mod:`gaussea.config_fields`), before any data is loaded or anything written.

Building the parser imports nothing heavy (no torch): ``gaussea --help`` and the light subcommands start at
once, and each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from gaussea.commands import COMMAND_MODULES
from gaussea.config import DECODERS, SIMILARITY_NAMES, EvalConfig, RunConfig
from gaussea.config_fields import check_field
from gaussea.data.corrupt import CorruptionSpec, parse_corrupt_flag
from gaussea.data.registry import default_registry
from gaussea.errors import CheckpointError, DataError, OutputWriteError
from gaussea.metrics_layout import split_results
from gaussea.presets import apply_preset, merge_sections

TAGLINE = "multi-modal entity alignment between knowledge graphs with Gaussian embeddings"

DECODER_HELP = ("how the test metrics decode the similarities: csls (default: each query on its own), sinkhorn or "
                "hungarian (all queries jointly, one-to-one, on the plain similarity; hungarian gives H@1 only); "
                "Sinkhorn's temperature: --set eval.sinkhorn_tau=0.02 (15 normalisation rounds); "
                "--set eval.sinkhorn_tau=null chooses tau on the validation links (needs --valid-ratio)")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(cfg_dict: dict, assignments: list[str]) -> None:
    """Apply ``section.key=value`` overrides (values parsed as JSON when possible) to a config dict.

    A plain string given for a list-valued key is split on commas and each part parsed on its own
    (``model.modalities=r,n``, ``eval.ks=1,10``), as the CLI's own list flags are; without this it would reach the
    config as a string and be read character by character. A key without a section (``dim=50``) is refused
    unless it is a top-level key such as ``model_name``: it would otherwise be ignored without a word."""
    for item in assignments:
        if "=" not in item:
            raise ValueError(f"--set expects section.key=value, got {item!r}")
        path, value = item.split("=", 1)
        keys = path.split(".")
        if len(keys) == 1 and isinstance(cfg_dict.get(keys[0]), dict):
            raise ValueError(f"--set {item!r}: {keys[0]!r} is a section; set one of its keys ({keys[0]}.KEY=VALUE)")
        if len(keys) == 1 and keys[0] not in cfg_dict:
            sections = [k for k, v in cfg_dict.items() if isinstance(v, dict)]
            plain = [k for k, v in cfg_dict.items() if not isinstance(v, dict)]
            raise ValueError(f"--set {item!r}: {keys[0]!r} is not a config key; write SECTION.KEY=VALUE with a "
                             f"section of {sections}, or set one of {plain}")
        node = cfg_dict
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"--set {item!r}: {key!r} is not a config section")
            node = node[key]
        parsed = _parse_value(value)
        if isinstance(node.get(keys[-1]), (list, tuple)) and isinstance(parsed, str):
            parsed = [_parse_value(part.strip()) for part in parsed.split(",") if part.strip()]
        node[keys[-1]] = parsed


def load_config_file(path: Path) -> dict:
    """A ``--config`` file (TOML by suffix, else JSON) as a dict; a syntax error or a file that is not a table of
    sections is a ``ValueError`` naming the file."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ValueError as exc:  # json.JSONDecodeError and tomllib.TOMLDecodeError are ValueErrors
        raise ValueError(f"{path}: invalid {'TOML' if path.suffix == '.toml' else 'JSON'} ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file holds a table of sections (data, model, train, eval)")
    return data


def build_run_config(args: argparse.Namespace) -> RunConfig:
    base = RunConfig().to_dict()
    if args.preset:
        apply_preset(base, args.preset)
    if args.config:
        merge_sections(base, load_config_file(Path(args.config)))
    direct = {
        ("data", "dataset"): args.dataset, ("data", "data_dir"): args.data_dir, ("data", "ratio"): args.ratio,
        ("data", "split"): args.split, ("data", "valid_ratio"): args.valid_ratio,
        ("data", "given_split"): args.given_split, ("data", "split_dir"): args.split_dir,
        ("model", "dim"): args.dim, ("train", "stage1_epochs"): args.stage1_epochs,
        ("train", "stage2_epochs"): args.stage2_epochs, ("train", "lr"): args.lr,
        ("train", "batch_size"): args.batch_size, ("train", "seed"): args.seed, ("train", "device"): args.device,
        ("train", "threads"): args.threads, ("train", "eval_every"): args.eval_every,
        ("train", "patience"): args.patience, ("train", "iterative_rounds"): args.iterative_rounds,
        ("eval", "similarity"): args.similarity,
        ("eval", "csls_k"): args.csls_k, ("eval", "decoder"): args.decoder, ("model_name",): args.model,
    }
    for keys, value in direct.items():
        if value is None:
            continue
        if len(keys) == 1:
            base[keys[0]] = value
        else:
            base[keys[0]][keys[1]] = value
    if args.log is not None:
        base["train"]["loggers"] = [x.strip() for x in args.log.split(",") if x.strip()]
    if args.corrupt:
        base["data"]["corrupt"] = parse_corrupt_flag(args.corrupt)
    if args.modalities:
        base["model"]["modalities"] = [m.strip() for m in args.modalities.split(",") if m.strip()]
    if args.strict:
        base["data"]["strict"] = True
    if args.allow_pickle:
        base["data"]["options"]["allow_pickle"] = True
    if args.no_progress:
        base["train"]["progress"] = False
    if args.csls_k == 0:  # 0 turns CSLS off; a negative k is left for the config check to refuse
        base["eval"]["csls_k"] = None
    apply_overrides(base, args.set or [])
    cfg = RunConfig.from_dict(base)
    CorruptionSpec.from_setting(cfg.data.corrupt)  # a bad data.corrupt fails here, before anything is written
    return cfg


def cmd_datasets(args: argparse.Namespace) -> int:
    for spec in default_registry().specs():
        where = f" (subdir {spec.subdir})" if spec.subdir else ""
        print(f"{spec.name:16s} {spec.format:10s} {spec.description}{where}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    options = {"allow_pickle": True} if args.allow_pickle else {}
    pair = default_registry().load(args.dataset, args.data_dir, strict=args.strict, **options)
    stats = {**pair.stats(), "data_dir": pair.meta.get("data_dir"), "dataset_warning": pair.meta.get("dataset_warning")}
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"dataset {pair.name}")
    if pair.meta.get("data_dir"):
        print(f"folder  {pair.meta['data_dir']}")
    if pair.meta.get("dataset_warning"):
        print_notice(f"warning: {pair.meta['dataset_warning']}")
    rows = [("entities", "entities"), ("relations", "relations"), ("relational triples", "relational_triples"),
            ("  distinct", "distinct_relational_triples"), ("attributes", "attributes"),
            ("numerical triples", "numerical_triples"), ("entities with numbers", "entities_with_numbers"),
            ("entities with images", "entities_with_images")]
    left, right = stats["sides"]
    print(f"{'':24s}{left['name']:>14s}{right['name']:>14s}")
    for label, key in rows:
        print(f"{label:24s}{left[key]:>14,}{right[key]:>14,}")
    print(f"{'links usable':24s}{stats['links_usable']:>14,}")
    for key, value in pair.report.notes.items():
        print(f"  {key}: {value:,}" if isinstance(value, int) else f"  {key}: {value}")
    if pair.report.total_problems:
        print("problems (lines skipped):")
        print(pair.report.summary(notes=False))  # the notes are printed just above
    for name, split in pair.given_splits.items():
        default = " (gaussea run uses it unless --given-split / --split-dir say otherwise)" \
            if name == pair.default_split else ""
        print(f"given split {name}: {split.sizes()}{default}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    cfg = build_run_config(args)  # first: a bad value is refused before torch is even imported

    from gaussea.distributed.context import init_from_env
    from gaussea.run_files import RunDirectory
    from gaussea.runner import run
    from gaussea.train import resolve_device

    device = cfg.train.device
    saved = RunDirectory(args.out).read_config(missing_ok=True) if args.resume else None
    if saved is not None:  # a resumed run keeps its saved configuration; run() checks its device
        device = saved.get("train", {}).get("device", device)
    else:
        resolve_device(device)  # before a process group is set up for it: one clear error, exit 2
    distributed = init_from_env(device)  # a process group under torchrun with > 1 process, else None
    main = distributed is None or distributed.is_main
    try:
        if args.print_config and main:
            print(json.dumps(cfg.to_dict(), indent=2))
        result = run(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                     keep_checkpoint=args.keep_checkpoint, distributed=distributed, notify=print_notice)
    finally:
        if distributed is not None:
            distributed.close()
    if main:
        from gaussea.expectations import expectation_line

        print_metrics(result.metrics)
        ran = RunDirectory(result.run_dir).read_config(missing_ok=True)  # --resume runs the saved configuration
        expected = expectation_line(RunConfig.from_dict(ran) if ran is not None else cfg)
        if expected:
            print(expected)
        print(f"run directory: {result.run_dir}")
    if distributed is not None:
        from gaussea.distributed.context import exit_now

        exit_now(0)  # a torchrun worker: skip the C++ teardown that can abort after the work is done
    return 0


def print_notice(line: str) -> None:
    """A line about the data a run is given (split chosen, lines skipped, ...), on stderr beside the progress."""
    print(f"gaussea: {line}", file=sys.stderr, flush=True)


def _metric(value: float | None, digits: int) -> str:
    """A metric for the console; ``-`` where the decoder does not give it (the Hungarian assignment: H@1 only)."""
    return "-" if value is None else f"{value:.{digits}f}"


def metrics_label(m: dict, iterative: bool = False) -> str:
    """``test candidates, cosine, csls_k=10, decoder=csls`` (+ Sinkhorn's parameters, + ``iterative``)."""
    decoder = m.get("decoder", "csls")
    if decoder == "sinkhorn":
        decoder += f"(tau={m['sinkhorn_tau']:g}, {m['sinkhorn_iterations']} iterations)"
    parts = [f"{m['mode']} candidates", m["similarity"], f"csls_k={m['csls_k']}", f"decoder={decoder}"]
    return ", ".join(parts + (["iterative"] if iterative else []))


def print_metrics(metrics: dict) -> None:
    for mode, m in split_results(metrics).items():
        print(f"[{metrics_label({'mode': mode, **m}, bool(metrics.get('iterative')))}] "
              f"H@1 {_metric(m['hits@1'], 4)}  H@5 {_metric(m.get('hits@5'), 4)}  "
              f"H@10 {_metric(m.get('hits@10'), 4)}  MR {_metric(m['mr'], 1)}  MRR {_metric(m['mrr'], 4)}  "
              f"({m['num_queries']} queries x {m['num_candidates']})")
    for space, s in (metrics.get("variance_by_corruption") or {}).items():
        print(f"{space} variance: corrupted {s['corrupted_mean']:.3f} vs clean {s['clean_mean']:.3f} "
              f"(ratio {s['ratio_of_means']:.2f})")
    if "train_seconds" in metrics:
        print(f"train {metrics['train_seconds']:.1f}s, eval {metrics['eval_seconds']:.1f}s, "
              f"peak RSS {metrics['peak_rss_mib']:.0f} MiB")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from gaussea.runner import RUN_VALUE, evaluate_run

    modes = tuple(m.strip() for m in args.modes.split(",")) if args.modes else None
    csls_k = RUN_VALUE if args.csls_k is None else (args.csls_k if args.csls_k != 0 else None)
    if modes is not None:
        check_field(EvalConfig, "eval", "modes", modes)
    if csls_k != RUN_VALUE:  # checked like the config field, before the run is loaded
        check_field(EvalConfig, "eval", "csls_k", csls_k)
    out = evaluate_run(args.run_dir, similarity=args.similarity, csls_k=csls_k, modes=modes, decoder=args.decoder)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_metrics({"test": out})
    return 0


def _add_stats_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("stats", help="print dataset statistics and the load report",
                       description="Load a dataset as `gaussea run` would and print its sizes per graph, the loader's "
                                   "notes and every kind of line it skipped (with examples).")
    s.add_argument("dataset", help="a registered dataset name (see `gaussea datasets`)")
    s.add_argument("--data-dir", help="the folder holding the dataset's files (not needed for synthetic)")
    s.add_argument("--strict", action="store_true", help="turn skipped bad lines into errors")
    s.add_argument("--allow-pickle", action="store_true", help="allow .pkl image features (runs code: trusted "
                   "files only)")
    s.add_argument("--json", action="store_true", help="print the statistics and load report as JSON")
    s.set_defaults(func=cmd_stats)


def _add_run_parser(sub: argparse._SubParsersAction) -> None:
    d = RunConfig()  # the defaults quoted in the help texts
    s = sub.add_parser("run", help="train and evaluate a model (default: the synthetic benchmark)",
                       description="Train and evaluate one model and write a run directory (config, split, "
                                   "checkpoint, metrics, embeddings). Values apply in this order: defaults, "
                                   "--preset, --config, then --set and the flags below.")
    s.add_argument("--preset", help="start from a named preset (see `gaussea presets`); --config, --set and "
                                    "flags override it")
    s.add_argument("--config", help="JSON or TOML file with data/model/train/eval sections")
    s.add_argument("--log", help="comma list of per-epoch loggers: csv, tensorboard, mlflow (default: csv)")
    s.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override any config value (repeatable; value parsed as JSON, e.g. --set model.dim=150); a "
                        "model's own settings are model.options.NAME (e.g. the paper model's "
                        "--set model.options.var_max=20)")
    s.add_argument("--dataset", help=f"a registered dataset name (see `gaussea datasets`; default {d.data.dataset})")
    s.add_argument("--data-dir", help="the folder holding the dataset's files (not needed for synthetic)")
    s.add_argument("--ratio", type=float, help=f"share of links used for training (default {d.data.ratio})")
    s.add_argument("--split", type=int, help=f"index of the random split (default {d.data.split})")
    s.add_argument("--valid-ratio", type=float, help="share of links held out for validation")
    s.add_argument("--given-split", help="use a split shipped with the dataset (e.g. split_721_ExEA); 'none': a "
                   "random split even where the dataset ships a default one (DBP15K sup_ent_ids/ref_ent_ids)")
    s.add_argument("--split-dir", help="use the split files in this folder")
    s.add_argument("--corrupt", metavar="KEY=VALUE,...", help="swap a share of one side's numbers / pictures between "
                   "entities after loading, e.g. numeric=0.2,side=right or image=0.4 (data.corrupt; side: left, "
                   "right, both (default); seed: default 0)")
    s.add_argument("--model", help=f"model name (default: {d.model_name})")
    s.add_argument("--modalities", help="comma list of r,n,v (default r,n,v)")
    s.add_argument("--dim", type=int, help=f"embedding dimension (default {d.model.dim})")
    s.add_argument("--stage1-epochs", type=int,
                   help="epochs with the variances fixed (default: the model's; 40 for the paper's model "
                        "and the baselines, 20 for graph_encoder / gaussian_fusion)")
    s.add_argument("--stage2-epochs", type=int,
                   help="epochs with the variances learned (default: the model's; 20 for the paper's model "
                        "and the baselines, 0 for the one-stage graph encoders)")
    s.add_argument("--lr", type=float, help=f"learning rate (default {d.train.lr})")
    s.add_argument("--batch-size", type=int, help=f"triples per step (default {d.train.batch_size})")
    s.add_argument("--seed", type=int, help=f"seed of the initialisation and batches (default {d.train.seed})")
    s.add_argument("--device", help=f"where to train: cpu, cuda, cuda:N, mps (default {d.train.device})")
    s.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice); only runs on "
                                               "one thread are bit-identical from run to run")
    s.add_argument("--eval-every", type=int, help="evaluate on the valid slice every N epochs")
    s.add_argument("--patience", type=int, help="early-stopping patience (valid evaluations)")
    s.add_argument("--iterative-rounds", type=int,
                   help="iterative bootstrapping: rounds of adding the model's mutual-best pairs to its training "
                        f"pairs, {d.train.iterative_epochs} more epochs each (train.iterative_epochs); results are "
                        "labelled iterative (default 0: none)")
    s.add_argument("--similarity", choices=SIMILARITY_NAMES,
                   help=f"similarity of two entities' embeddings (default {d.eval.similarity})")
    s.add_argument("--csls-k", type=int, help=f"CSLS neighbourhood (default {d.eval.csls_k}; 0 disables CSLS)")
    s.add_argument("--decoder", choices=DECODERS, help=DECODER_HELP)
    s.add_argument("--out", default="runs/default", help="run directory (default runs/default)")
    s.add_argument("--resume", action="store_true", help="continue an interrupted run from its "
                   "checkpoint (a finished run is re-evaluated)")
    s.add_argument("--overwrite", action="store_true", help="replace the run in --out (it is put back if the new run "
                   "fails before training starts)")
    s.add_argument("--keep-checkpoint", action="store_true", help="keep the resumable checkpoint.pt of a finished "
                   "run (default: removed after success; model.pt keeps the final weights)")
    s.add_argument("--strict", action="store_true", help="turn skipped bad data lines into errors")
    s.add_argument("--allow-pickle", action="store_true", help="allow .pkl image features (trusted files only)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--print-config", action="store_true", help="print the resolved config (JSON) before training")
    s.set_defaults(func=cmd_run)


def _add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("evaluate", help="re-evaluate a finished run directory",
                       description="Score a finished run's test links again from its checkpoint, by default as "
                                   "the run did; the options change the scoring, never the run directory.")
    s.add_argument("run_dir", help="a finished `gaussea run` directory")
    s.add_argument("--similarity", choices=SIMILARITY_NAMES, help="override the run's similarity")
    s.add_argument("--csls-k", type=int, help="override the run's CSLS k (0 disables CSLS)")
    s.add_argument("--modes", help="comma list of candidate pools: test, all (default: the run's)")
    s.add_argument("--decoder", choices=DECODERS, help=DECODER_HELP)
    s.add_argument("--json", action="store_true", help="print the metrics as JSON")
    s.set_defaults(func=cmd_evaluate)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gaussea", description=f"gaussea: {TAGLINE}.",
                                epilog="`gaussea COMMAND --help` shows a command's options; docs/commands.md "
                                       "shows them at work.")
    sub = p.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")

    s = sub.add_parser("datasets", help="list registered datasets and formats")
    s.set_defaults(func=cmd_datasets)
    _add_stats_parser(sub)
    _add_run_parser(sub)
    _add_evaluate_parser(sub)
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (DataError, CheckpointError, FileExistsError, FileNotFoundError, OutputWriteError, ValueError) as exc:
        print(f"gaussea: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `gaussea stats ... | head`
        return 0
    except KeyboardInterrupt:
        print("gaussea: interrupted (the last checkpoint is kept; continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
