"""Probe of 2026-11-24: the Gaussian model with L_csl unable to move the relational means (detached).

Runs bench/tune_relational.py with the relational means detached inside L_csl only; from the repository root
(log: bench/results/tuning/2026-11-24/dy_gauss_csl_detached.txt, run with the csl schedule of that day):

    EP=30 EV=10 python bench/probes/csl_detached.py data.dataset=d_y_15k_v1 \\
        data.data_dir=../shared/data/openea data.given_split=split_721_ExEA train.threads=1
"""

from __future__ import annotations

import runpy
import sys

import torch

from gaussea.models.gaussian_losses import CommonSpaceLoss, LossStep

_original_csl = CommonSpaceLoss.forward


def csl_detached(self: CommonSpaceLoss, step: LossStep) -> torch.Tensor:
    lookup = self.spaces.relational_entity
    self.spaces.relational_entity = lambda i: tuple(x.detach() for x in lookup(i))  # type: ignore[method-assign]
    try:
        return _original_csl(self, step)
    finally:
        del self.spaces.relational_entity


if __name__ == "__main__":
    CommonSpaceLoss.forward = csl_detached  # type: ignore[method-assign]
    sys.argv = ["tune_relational.py", *sys.argv[1:]]
    runpy.run_path("bench/tune_relational.py", run_name="__main__")
