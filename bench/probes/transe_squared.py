"""Probe of 2026-11-24: the TransE baseline with *squared* L2 distance (what KG2E is with fixed variances).

Runs bench/tune_relational.py with ``gaussea.models.translational.distance`` replaced by the squared norm; from
the repository root, e.g. (log: bench/results/tuning/2026-11-24/dy_transe_squared.txt):

    MODEL=transe EP=30 EV=10 python bench/probes/transe_squared.py data.dataset=d_y_15k_v1 \\
        data.data_dir=../shared/data/openea data.given_split=split_721_ExEA train.threads=1
"""

from __future__ import annotations

import runpy
import sys

import torch

import gaussea.models.translational as translational


def squared_distance(x: torch.Tensor, norm: int) -> torch.Tensor:
    return x.pow(2).sum(-1)


if __name__ == "__main__":
    translational.distance = squared_distance
    sys.argv = ["tune_relational.py", *sys.argv[1:]]
    runpy.run_path("bench/tune_relational.py", run_name="__main__")
