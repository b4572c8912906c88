"""What ``bench_fusion.py`` and the fusion probes share: a trained run read back for validation, and the same
trained weights on data with planted corruption.

The corrupted copy is exact: training reads only the relational triples and the seed pairs, never the numbers
or pictures that ``data.corrupt`` swaps, so a run on the corrupted data would train exactly these weights
(:func:`on_corrupted_data` checks that what training reads is identical).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from gaussea.config import RunConfig
from gaussea.data.kgpair import KGPair, Split
from gaussea.models import build_model
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import load_pair, load_run_model


def validation_run(run_dir: str | Path, threads: int) -> tuple[RunConfig, KGPair, Split, AlignmentModel]:
    """A finished run's configuration, data, split and model; refused when it has no validation links."""
    torch.set_num_threads(threads)
    cfg, pair, split, model = load_run_model(Path(run_dir))
    if not len(split.valid):
        raise SystemExit(f"{run_dir}: the run has no validation slice")
    return cfg, pair, split, model


def _training_inputs(model: AlignmentModel) -> AlignmentInputs:
    return getattr(model, "relational", model).inputs


def on_corrupted_data(model: AlignmentModel, cfg: RunConfig, split: Split,
                      corruption: dict) -> tuple[RunConfig, KGPair, AlignmentModel]:
    """``model``'s weights in a model built on the data with ``corruption`` planted (``data.corrupt``)."""
    ccfg = replace(cfg, data=replace(cfg.data, corrupt=corruption))
    pair = load_pair(ccfg)
    corrupted = build_model(cfg.model_name, AlignmentInputs.build(pair, split), ccfg.model,
                            torch.Generator().manual_seed(cfg.train.seed))
    a, b = _training_inputs(corrupted), _training_inputs(model)
    if not (torch.equal(a.triples, b.triples) and torch.equal(a.train_pairs, b.train_pairs)):
        raise RuntimeError("corruption changed what training reads; the shared weights would be wrong")
    corrupted.load_state_dict(model.state_dict())
    corrupted.eval()
    return ccfg, pair, corrupted
