"""Each baseline's published hyper-parameters, as the config overrides ``gaussea reproduce --hyper published`` applies.

A comparison table is only as fair as its weakest row: a baseline run with our preset's batch size and negatives
is a different model from the one its paper (or OpenEA, whose 15K settings the MMKG paper used for its baselines)
reported. So at strength (``--budget valid``, whose default is ``--hyper published``) each baseline below gets its
published values on top of the dataset preset, and the table says which. Models not listed keep the preset: the
propagation baseline reads none of these settings, the Gaussian models' presets are their own published settings,
MMEA's preset is its code's, and GCN-Align's defaults already equal OpenEA's (gamma 3, 5 negatives, dim 100).

SEA keeps its preset too: ours follows its authors' loss (margin 0.5 on the distance, their term weights), while
OpenEA's SEA values (margin 1.5 on the squared score, one negative, alpha_1 2.5, alpha_2 0.25) belong to OpenEA's
own weighting of the terms. Its margin and single negative put on ours were refused by validation: FB15K*-DB15K 20 %
split 0, best validation MRR 0.15 against 0.43 with the preset (test H@1 3.25 % against 15.38 %;
bench/results/tables-valid-hyper/README.md).

Kept from the preset and said under the table: the optimiser (one Adam, lr 0.01, for every model, where OpenEA
uses Adagrad for the TransE family, SGD for IMUSE and Adam for SEA) and the early-stopping rule (validation MRR
every few epochs with patience, where OpenEA checks Hits@1 every 10 epochs and stops at its first drop).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

HYPER_MODES = ("preset", "published")

# OpenEA's 15K settings shared by its TransE-family approaches (run/args/*_args_15K.json): dimension 100, batch
# 5000 triples, one uniform negative per positive, unit entity vectors, lr 0.01, and its "L2" loss, which scores a
# triple by the squared distance (openea/modules/base/losses.py; gaussea.models.triple_params). Uniform even where
# the dataset preset draws truncated negatives for our model (D-Y-15K-V1): OpenEA truncates only for BootEA.
_OPENEA_15K = {"model.dim": 100, "train.batch_size": 5000, "train.lr": 0.01, "model.negatives": 1,
               "model.negative_sampling": "uniform", "model.options.squared_distance": True}


@dataclass(frozen=True)
class PublishedSettings:
    """One baseline's published values: dotted config paths (``--set`` syntax) and where they come from."""

    overrides: dict[str, Any]
    source: str

    def assignments(self) -> list[str]:
        """The overrides as ``section.key=value`` strings, the form :func:`gaussea.cli.apply_overrides` reads."""
        return [f"{key}={json.dumps(value)}" for key, value in self.overrides.items()]

    def describe(self) -> str:
        values = ", ".join(f"{key.rsplit('.', 1)[-1]} {value}" for key, value in self.overrides.items())
        return f"{values} ({self.source})"


PUBLISHED = {
    "transe": PublishedSettings({**_OPENEA_15K, "model.options.margin": 1.5},
                                "OpenEA's TransE-family 15K settings with parameter sharing, "
                                "run/args/transh_args_15K.json"),
    "mtranse": PublishedSettings({**_OPENEA_15K, "model.options.align_weight": 5.0},
                                 "OpenEA run/args/mtranse_args_15K.json, alpha 5"),
    "iptranse": PublishedSettings({**_OPENEA_15K, "model.options.margin": 1.5},
                                  "OpenEA run/args/iptranse_args_15K.json"),
    "imuse": PublishedSettings({**_OPENEA_15K, "model.options.margin": 1.5}, "OpenEA run/args/imuse_args_15K.json"),
}


def published_assignments(model: str) -> list[str]:
    """The ``--set`` assignments that give ``model`` its published values (none for a model not listed)."""
    settings = PUBLISHED.get(model)
    return settings.assignments() if settings else []


def describe_published(models: Iterable[str]) -> str:
    """One sentence for a table's footer: which of ``models`` ran with which published values."""
    parts = [f"{m}: {PUBLISHED[m].describe()}" for m in dict.fromkeys(models) if m in PUBLISHED]
    if not parts:
        return ""
    return ("Published hyper-parameters on top of the dataset preset (gaussea/published_settings.py): "
            + "; ".join(parts) + ". Every other model: its preset. Every model: Adam, lr 0.01.")
