"""The optimiser a model trains with when its method prescribes none: one Adam over every parameter.

One Adam shared by all losses, not one per loss as in MMEA's code: with an Adam per loss each loss moves a shared
parameter by about lr per step whatever its gradient, so L_vis pulling a visual variance down and L_csl pushing it
up cancel step for step and the variances never reflect how far a modality sits from the common embedding.
"""

from __future__ import annotations

import torch

from gaussea.config import TrainConfig
from gaussea.models.base import AlignmentModel
from gaussea.models.tables import GaussianTable
from gaussea.optim import LazyAdam, fused_adam_supported


def model_optimiser(model: AlignmentModel, config: TrainConfig) -> torch.optim.Optimizer:
    """The model's own optimiser if it prescribes one (:meth:`AlignmentModel.make_optimiser`), else
    :func:`shared_adam`."""
    own = model.make_optimiser()
    return own if own is not None else shared_adam(model, config)


def shared_adam(model: AlignmentModel, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam over the model's parameters; with ``optimiser="lazy_adam"`` / ``"lazy_common"`` the rows of every /
    of the common-space embedding table are updated lazily (gaussea.optim).

    The groups (variances or not, common table or not, embedding table or not) are those the optimiser state of
    every checkpoint written so far has, so that ``--resume`` loads it; all share ``train.lr``.
    """
    tables = {id(p) for m in model.modules() if isinstance(m, GaussianTable) for p in m.parameters()}
    named = list(model.named_parameters())
    lazy = config.optimiser in ("lazy_adam", "lazy_common")
    common_only = config.optimiser == "lazy_common"
    groups = []
    for is_var in (False, True):
        for is_common in (False, True):
            for is_table in (False, True):
                params = [p for n, p in named if n.endswith(".var") == is_var
                          and n.startswith("common.") == is_common and (id(p) in tables) == is_table]
                if params:
                    row_lazy = lazy and is_table and (is_common or not common_only)
                    groups.append({"params": params, "lr": config.lr, "lazy": row_lazy})
    if lazy:
        return LazyAdam(groups, lr=config.lr)
    for group in groups:
        del group["lazy"]
    fused = fused_adam_supported(p for _, p in named)  # one pass per table, not ~7 (gaussea.optim)
    return torch.optim.Adam(groups, lr=config.lr, fused=fused or None)
