"""The optimiser a model trains with when its method prescribes none: one Adam over every parameter.

One Adam shared by all losses, not one per loss as in MMEA's code: with an Adam per loss each loss moves a shared
parameter by about lr per step whatever its gradient, so L_vis pulling a visual variance down and L_csl pushing it
up cancel step for step and the variances never reflect how far a modality sits from the common embedding.

The common-space table's rows are updated lazily (gaussea.optim: a row moves only in a step that gives it a
gradient), every other parameter by plain Adam. Torch's dense Adam drifts every row on its stale momentum at every
step of every loss, which kept the seed pairs' common means ~1.1 apart (L_ac rising, common train H@1 0.58 on
FB15K*-DB15K); lazy rows in every table train the modal tables worse. Measured (bench/results/tuning/2026-11-24-s3,
bench/results/model/d_y_15k_v1/gaussian-lazy_*.json): D-Y-15K-V1 20+5 epochs test H@1 dense 24.15 / all lazy
19.91 / common lazy 25.22 %; FB15K*-DB15K relational only, common test H@1 after 30 stage-1 epochs 5.0 / 7.9 /
8.9 %.
"""

from __future__ import annotations

import torch

from gaussea.config import TrainConfig
from gaussea.models.base import AlignmentModel
from gaussea.models.tables import GaussianTable
from gaussea.optim import LazyAdam


def model_optimiser(model: AlignmentModel, config: TrainConfig) -> torch.optim.Optimizer:
    """The model's own optimiser if it prescribes one (:meth:`AlignmentModel.make_optimiser`), else
    :func:`shared_adam`."""
    own = model.make_optimiser()
    return own if own is not None else shared_adam(model, config)


def shared_adam(model: AlignmentModel, config: TrainConfig) -> LazyAdam:
    """Adam over the model's parameters at ``train.lr``, the rows of the common-space embedding table updated
    lazily (see the module docstring).

    The groups (variances or not, common table or not, embedding table or not) are those the optimiser state of
    every checkpoint written so far has, so that ``--resume`` loads it.
    """
    tables = {id(p) for m in model.modules() if isinstance(m, GaussianTable) for p in m.parameters()}
    named = list(model.named_parameters())
    groups = []
    for is_var in (False, True):
        for is_common in (False, True):
            for is_table in (False, True):
                params = [p for n, p in named if n.endswith(".var") == is_var
                          and n.startswith("common.") == is_common and (id(p) in tables) == is_table]
                if params:
                    groups.append({"params": params, "lr": config.lr, "lazy": is_table and is_common})
    return LazyAdam(groups, lr=config.lr)
