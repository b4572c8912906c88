"""Embedding tables of diagonal Gaussians (or of points, for the point-embedding baselines).

A :class:`GaussianTable` holds a mean matrix and, unless ``with_variance`` is off, a variance matrix. The
variance is a plain parameter clamped to ``[var_min, var_max]`` after each optimiser step (the paper's
choice, §4.3) rather than a bounded reparameterisation: values at the clamp then mean exactly "the model
did not need more/less spread", which keeps the learned variances readable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gaussea.gaussian import clamp_variance_

# Ours (the paper does not say): the std of the normal initialisation of the mean tables (and of the numerical
# encoder's attribute embeddings). A constant rather than a setting: no preset, test or measurement varied it; the
# paper model's common space starts elsewhere by its own option (model.options.common_init_std).
MEAN_INIT_STD = 0.1


class GaussianTable(nn.Module):
    def __init__(
        self,
        num: int,
        dim: int,
        *,
        init_std: float,
        var_init: float = 0.5,
        var_min: float = 0.5,
        var_max: float = 50.0,
        with_variance: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.randn(num, dim, generator=generator) * init_std)
        self.var_min, self.var_max = var_min, var_max
        self.var: nn.Parameter | None = None
        if with_variance:
            self.var = nn.Parameter(torch.full((num, dim), float(var_init)), requires_grad=False)
        # While the variances have never been trained they all equal var_init, and lookups can return a
        # scalar instead of gathering (n, d) rows: stage 1 then costs what a point-embedding model costs.
        self.register_buffer("var_trained", torch.tensor(False))
        self.var_init = float(var_init)

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    def set_variance_trainable(self, trainable: bool) -> None:
        if self.var is not None:
            self.var.requires_grad_(trainable)
            if trainable:
                self.var_trained.fill_(True)

    def lookup(self, idx: torch.Tensor, normalise: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean rows and variance rows (a broadcastable scalar while the variances are still untrained).

        ``normalise`` returns the means on the unit sphere. Rows are gathered with ``index_select``, whose backward
        (``index_add_``) costs about half of ``mean[idx]``'s ``index_put_``; when a lookup gathers more rows than
        the table has, the whole table is normalised first (row-wise, so the same values; the normalisation's
        backward is the dearer part of a relational step).
        """
        mean = self.mean
        whole_table = normalise and idx.numel() > len(self)
        if whole_table:
            mean = F.normalize(mean, dim=-1)
        mean = _rows(mean, idx)
        if normalise and not whole_table:
            mean = F.normalize(mean, dim=-1)
        return mean, self.variance_rows(idx)

    def variance_rows(self, idx: torch.Tensor) -> torch.Tensor | None:
        """The variance rows of :meth:`lookup` alone (a broadcastable scalar while untrained; None without
        variances), for callers that take the mean from elsewhere."""
        if self.var is None:
            return None
        if not self.var_trained:
            # torch.full, not torch.tensor: on CUDA a fill kernel, where torch.tensor would copy from the host and
            # wait for the GPU at every lookup
            return torch.full((), self.var_init, device=self.mean.device)
        return _rows(self.var, idx)

    def assign_variance_(self, idx: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Set the variance rows ``idx`` to ``value`` clamped to ``[var_min, var_max]`` (a closed-form update,
        outside the optimiser) and return them as set; lookups return the rows from then on."""
        if self.var is None:
            raise ValueError("this table has no variances")
        with torch.no_grad():
            rows = value.clamp(self.var_min, self.var_max).to(self.var.dtype)
            self.var.index_copy_(0, idx, rows)
        self.var_trained.fill_(True)
        return rows

    def clamp_(self) -> None:
        """Clamp trainable variances after an optimiser step.

        Frozen variances sit at var_init, inside the range. Trainable ones without a gradient in this step were
        not moved by the step (the trainer zeroes gradients to None, and Adam skips such parameters), so they are
        still inside the range from their last clamp: skipping them saves a pass over every table a loss does not
        touch (the relational loss touches 2 of a model's 4-6 variance tables).
        """
        if self.var is not None and self.var.requires_grad and self.var.grad is not None:
            clamp_variance_(self.var.data, self.var_min, self.var_max)


def _rows(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``table[idx]`` for an index tensor of any shape, through ``index_select`` (see :meth:`GaussianTable.lookup`)."""
    return table.index_select(0, idx.reshape(-1)).view(*idx.shape, table.shape[-1])
