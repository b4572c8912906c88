"""What the synthetic-benchmark probes share: their command line, one training run, the swapped-picture mask and
the JSON record (with command, date, machine and revision).

Why a module: each probe trains the synthetic default with ``--set`` overrides and then looks inside the model;
the set-up and the bookkeeping must not drift apart between probes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from gaussea.cli import apply_overrides
from gaussea.config import RunConfig
from gaussea.provenance import provenance
from gaussea.runner import RunResult, run


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def train(overrides: list[str]) -> RunResult:
    """Train and evaluate the synthetic default (one thread, no progress bar) with ``overrides`` applied."""
    base = RunConfig().to_dict()
    base["train"].update(progress=False, threads=1)
    apply_overrides(base, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        return run(RunConfig.from_dict(base), Path(tmp) / "run")


def swapped_pictures(result: RunResult) -> torch.Tensor:
    """Boolean mask over all entities (left graph first): the generator swapped this entity's picture."""
    inputs = result.model.inputs
    masks = result.pair.meta["corrupted_image"]
    swapped = torch.zeros(inputs.num_entities, dtype=torch.bool)
    swapped[torch.as_tensor(masks["left"], dtype=torch.long)] = True
    swapped[inputs.num_left + torch.as_tensor(masks["right"], dtype=torch.long)] = True
    return swapped


def write_record(out: Path, record: dict[str, Any]) -> None:
    """Write ``record`` plus provenance as JSON to ``out``."""
    record = {**record, **provenance([sys.executable, *sys.argv])}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=float) + "\n", encoding="utf-8")
    print(f"wrote {out}")
