"""``gaussea reproduce table1|table2|relational``: the paper's comparison tables, run resumably and rendered.

Table 1 compares every model at 20 % training links on FB15K*-DB15K and FB15K*-YAGO15K; Table 2 compares MMEA,
the paper model and Gaussian fusion (with its point version) at 20 / 50 / 80 %; the relational table compares
the relational baselines, propagation, the paper model and Gaussian fusion on DBP15K zh_en / ja_en / fr_en
(random 30 % splits) and D-Y-15K-V1 (its shipped split), beside published figures of the same protocol.

Every (dataset x model x share x split) runs in its own directory under ``--results-root`` and the command
resumes whatever is unfinished (:mod:`gaussea.grid_runs`); ``--render-only`` renders what is there. Budgets
(:class:`gaussea.paper_grid.Budget`): ``--budget fixed`` (``--epochs`` for every model) or ``--budget valid``
(early stopping on a validation slice, at most ``--max-epochs``). Each finished run is then decoded with Sinkhorn
and, for models with one, read as its point version (:mod:`gaussea.paper_decode`; ``--no-decoders`` skips it).
The page: Markdown (``--out-md``, default stdout), the JSON summary (``--out-json``, default
``<results-root>/<table>.json``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gaussea.paper_grid import (
    DEFAULT_EPOCHS,
    DEFAULT_EVAL_EVERY,
    DEFAULT_MAX_EPOCHS,
    DEFAULT_PATIENCE,
    DEFAULT_SPLITS,
    DEFAULT_VALID_RATIO,
    TARGETS,
)
from gaussea.published_settings import HYPER_MODES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reproduce", help="run (resumably) and render the paper's tables or the relational one",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("table", choices=list(TARGETS), help="which table to reproduce")
    p.add_argument("--dataset", action="append", dest="datasets", help="dataset name (repeatable; default: the "
                   "table's: fb15k-db15k and fb15k-yago15k, or DBP15K x3 and d_y_15k_v1 for relational)")
    p.add_argument("--data-dir", help="folder holding the dataset's files (e.g. ../shared/data/mmkg-standin)")
    p.add_argument("--splits", type=int, default=DEFAULT_SPLITS, help="random splits per cell (default 5; a "
                   "dataset with a shipped split has that one)")
    p.add_argument("--models", help="comma list (default: the table's models)")
    p.add_argument("--ratios", help="comma list of training shares (default: the table's, or the dataset preset's)")
    p.add_argument("--budget", choices=["fixed", "valid"], default="fixed",
                   help="fixed: --epochs for every model; valid: early stopping on a validation slice")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="--budget fixed: epochs per run")
    p.add_argument("--max-epochs", type=int, default=DEFAULT_MAX_EPOCHS, help="--budget valid: most epochs per run")
    p.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY, help="--budget valid: epochs between "
                   "validation evaluations")
    p.add_argument("--patience", type=int, default=DEFAULT_PATIENCE, help="--budget valid: evaluations without "
                   "improvement before stopping")
    p.add_argument("--valid-ratio", type=float, help=f"share of all links carved out for validation (default "
                   f"{DEFAULT_VALID_RATIO} under --budget valid, else the preset's)")
    p.add_argument("--hyper", choices=HYPER_MODES, help="published: each baseline's published "
                   "hyper-parameters on top of the dataset preset (gaussea/published_settings.py); default: published "
                   "under --budget valid (at strength), else preset")
    p.add_argument("--max-seconds", type=float, help="wall-clock training cap per run, the same for every model")
    p.add_argument("--results-root", help="where run directories go (default bench/results/<table>)")
    p.add_argument("--out-md", help="write the Markdown table here (default: print it)")
    p.add_argument("--out-json", help="write the JSON summary here (default <results-root>/<table>.json)")
    p.add_argument("--mode", choices=["test", "all"], default="test", help="candidate mode shown in the table")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a config value (all runs)")
    p.add_argument("--threads", type=int, help="torch threads per run")
    p.add_argument("--preset", help="base preset of every run (default: each dataset's own preset)")
    p.add_argument("--no-decoders", action="store_true", help="skip the Sinkhorn / point-version re-evaluation")
    p.add_argument("--render-only", action="store_true", help="do not train; render what is finished")
    p.set_defaults(func=cmd_reproduce)


def _comma(text: str | None, default: Sequence[Any] | None, cast: Any = str) -> list[Any] | None:
    if not text:
        return list(default) if default is not None else None
    return [cast(x.strip()) for x in text.split(",") if x.strip()]


def budget_of(args: argparse.Namespace, datasets: Sequence[str]) -> Any:
    from gaussea.paper_grid import Budget, stage_shares

    if args.splits < 1:
        raise ValueError("--splits must be >= 1")
    valid = args.budget == "valid"
    ratio = args.valid_ratio if args.valid_ratio is not None else (DEFAULT_VALID_RATIO if valid else None)
    hyper = args.hyper or ("published" if valid else "preset")
    return Budget(args.max_epochs if valid else args.epochs, args.max_seconds, stage_shares(datasets, args.preset),
                  args.preset, args.budget, args.eval_every, args.patience, ratio, hyper)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from gaussea.grid_runs import check_saved_configs, execute, no_runs
    from gaussea.models import model_builders
    from gaussea.paper_grid import plan, run_config

    target = TARGETS[args.table]
    models = _comma(args.models, target.models)
    datasets = args.datasets or list(target.datasets)
    budget = budget_of(args, datasets)
    root = Path(args.results_root or Path("bench") / "results" / args.table)
    known = model_builders()
    for m in [m for m in models if m not in known]:
        print(f"gaussea reproduce: model {m!r} is not registered; its row is left empty", file=sys.stderr)
    specs = plan(datasets, models, _comma(args.ratios, target.ratios, float), args.splits, args.preset)
    runnable = [s for s in specs if s.model in known]
    configs = {s: run_config(s, budget, args.data_dir, args.set or [], args.threads, args.preset) for s in runnable}
    counts = no_runs()
    if not args.render_only:
        check_saved_configs(runnable, root, configs)
        counts = execute(runnable, root, configs, decode=not args.no_decoders)
    write_page(args, target.title, specs, runnable, configs, budget, root, counts)
    return 1 if counts["failed"] else 0


def write_page(args: argparse.Namespace, title: str, specs: list, runnable: list, configs: dict, budget: Any,
               root: Path, counts: dict[str, int]) -> None:
    """Summarise the runs and write the Markdown page and the JSON summary."""
    from gaussea.ioutil import atomic_write_json, atomic_write_text
    from gaussea.paper_grid import uniform_fallbacks
    from gaussea.paper_layouts import header_notes, render_markdown, shared_settings
    from gaussea.paper_summary import paired_differences, summarise

    entries = summarise(specs, root)
    notes = header_notes(entries, root, runnable, args.mode, budget, uniform_fallbacks(configs, args.preset))
    markdown = render_markdown(args.table, title, entries, notes, budget, args.mode,
                               shared_settings(configs) if configs else "")
    summary = {"table": args.table, "results_root": str(root), "mode": args.mode, "notes": notes,
               "preset": args.preset, "budget": budget.as_dict(),
               "datasets": list(dict.fromkeys(s.dataset for s in specs)),
               "models": list(dict.fromkeys(s.model for s in specs)),
               "ratios": list(dict.fromkeys(s.ratio for s in specs)), "splits": args.splits, "runs": counts,
               "entries": entries, "paired_differences": paired_differences(entries, args.mode)}
    atomic_write_json(Path(args.out_json) if args.out_json else root / f"{args.table}.json", summary)
    if args.out_md:
        atomic_write_text(Path(args.out_md), markdown + "\n")
        print(f"wrote {args.out_md}", file=sys.stderr)
    else:
        print(markdown)
