"""Running a grid of :class:`~gaussea.paper_grid.RunSpec` resumably, several commands sharing one results root.

- a run whose ``metrics.json`` exists is finished and not trained again;
- any other run is (re)started with ``runner.run(..., resume=True)``, which continues from its last checkpoint;
- a run directory whose saved configuration differs from the requested one (another budget, say) stops the
  command before anything runs (:func:`check_saved_configs`): mixing budgets in one table would be silently unfair;
- a cell another live process holds (its ``running.lock``, :mod:`gaussea.runlock`) is left to it and counted as
  busy, so Table 1 and Table 2 can run side by side on one root;
- with ``decode``, a finished run without ``decoded.json`` gets it (:mod:`gaussea.paper_decode`), under the
  same lock, from its saved weights: a grid killed between training and decoding loses no training.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from gaussea.metrics_layout import candidate_result
from gaussea.paper_grid import RunSpec
from gaussea.run_files import RunDirectory

# Configuration keys that may differ between the invocations that resume one run without changing its result.
RUNTIME_KEYS = {("train", "progress"), ("train", "threads"), ("train", "device"), ("train", "checkpoint_every"),
                ("data", "data_dir")}


def config_mismatch(saved: dict, wanted: dict) -> list[str]:
    """Keys (``section.key``) whose saved value differs from the wanted one, runtime-only keys ignored."""
    out = []
    for section in sorted(set(saved) | set(wanted)):
        a, b = saved.get(section), wanted.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if (section, key) not in RUNTIME_KEYS and _norm(a.get(key)) != _norm(b.get(key)):
                    out.append(f"{section}.{key}: saved {a.get(key)!r}, wanted {b.get(key)!r}")
        elif _norm(a) != _norm(b):
            out.append(f"{section}: saved {a!r}, wanted {b!r}")
    return out


def with_defaults(saved: dict) -> dict:
    """A saved config with the settings added since it was written filled in at their defaults.

    A results tree made before a setting existed ran with that setting's default (every new setting defaults to
    the old behaviour), so it still matches a grid that asks for the default."""
    from gaussea.config import RunConfig

    out = RunConfig().to_dict()
    for section, values in saved.items():
        if isinstance(values, dict) and isinstance(out.get(section), dict):
            out[section] = {**out[section], **values}
        else:
            out[section] = values
    return out


def _norm(value: Any) -> Any:
    """JSON round trip, so tuples and lists compare equal."""
    return json.loads(json.dumps(value))


def check_saved_configs(specs: Iterable[RunSpec], root: Path, configs: dict[RunSpec, Any]) -> None:
    """ValueError listing every existing run directory whose saved configuration is not the requested one."""
    problems = []
    for spec in specs:
        found = RunDirectory(spec.run_dir(root)).read_config(missing_ok=True)
        if found is not None:
            saved = with_defaults(found)
            diff = config_mismatch(saved, configs[spec].to_dict())
            if diff:
                problems.append(f"{spec.run_dir(root)}: " + "; ".join(diff[:4]) + (" ..." if len(diff) > 4 else ""))
    if problems:
        raise ValueError("existing runs were made with another configuration (use another --results-root, or "
                         "the same budget and options):\n  " + "\n  ".join(problems))


def no_runs() -> dict[str, int]:
    """The run counts of a command that ran nothing (``--render-only``), and the start of :func:`execute`'s."""
    return {"ran": 0, "skipped": 0, "busy": 0, "failed": 0, "decoded": 0}


def execute(specs: Sequence[RunSpec], root: Path, configs: dict[RunSpec, Any], *, decode: bool = False,
            log: TextIO = sys.stderr) -> dict[str, int]:
    """Run every unfinished spec (resuming partial ones), then decode it when asked; returns the counts."""
    counts = no_runs()
    for i, spec in enumerate(specs, 1):
        prefix = f"[{i}/{len(specs)}] {spec.label()}"
        outcome = _train(spec, root, configs[spec], prefix, log)
        counts[outcome] += 1
        if decode and outcome in ("ran", "skipped"):
            counts["decoded"] += _decode(spec.run_dir(root), prefix, counts, log)
    return counts


def _train(spec: RunSpec, root: Path, cfg: Any, prefix: str, log: TextIO) -> str:
    """``ran`` / ``skipped`` / ``busy`` / ``failed`` for one cell; one failed cell never loses the others."""
    from gaussea.runlock import RunDirectoryBusy
    from gaussea.runner import run

    run_dir = spec.run_dir(root)
    if RunDirectory(run_dir).is_finished():
        print(f"{prefix}: finished, skipped", file=log, flush=True)
        return "skipped"
    t0 = time.perf_counter()
    try:
        result = run(cfg, run_dir, resume=True)
    except RunDirectoryBusy:
        print(f"{prefix}: being run by another process, left to it", file=log, flush=True)
        return "busy"
    except Exception as exc:  # reported and counted; the command's exit status says so
        print(f"{prefix}: FAILED ({type(exc).__name__}: {exc})", file=log, flush=True)
        return "failed"
    test = candidate_result(result.metrics)
    print(f"{prefix}: H@1 {test.get('hits@1', float('nan')):.4f} MRR {test.get('mrr', float('nan')):.4f} "
          f"({time.perf_counter() - t0:.0f} s)", file=log, flush=True)
    return "ran"


def _decode(run_dir: Path, prefix: str, counts: dict[str, int], log: TextIO) -> int:
    """1 when this call wrote ``decoded.json``; a decoded run, a busy one or one without weights is left."""
    from gaussea.paper_decode import decode_run
    from gaussea.runlock import claim_run, release_run_lock

    if RunDirectory(run_dir).decoded_path.exists():
        return 0
    lock = claim_run(run_dir)
    if lock is None:
        print(f"{prefix}: decoding left to the process that holds it", file=log, flush=True)
        return 0
    try:
        decode_run(run_dir)
    except Exception as exc:  # e.g. a committed results tree without model.pt: its table lacks the extra rows
        counts["failed"] += 1
        print(f"{prefix}: decoding FAILED ({type(exc).__name__}: {exc})", file=log, flush=True)
        return 0
    finally:
        release_run_lock(lock)
    print(f"{prefix}: decoded (Sinkhorn, point version where the model has one)", file=log, flush=True)
    return 1
