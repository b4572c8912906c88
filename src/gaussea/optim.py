"""Adam with row-lazy updates for embedding tables.

Why: every loss of the model touches a few rows of large tables (a batch of triples, of entities, of seed
pairs), and the trainer steps one optimiser per batch. Plain (dense) Adam moves *every* row at every step with
its stale first moment: after a row's gradient step it keeps drifting for ~1 / (1 - beta1) = 10 more steps
of whatever loss comes next, so one touch moves it ~10 x lr per coordinate — as large as the coordinates of a
unit vector in d = 100. For the alignment loss (a few dozen seed pairs per step, each pair touched once per
epoch) that drift overshoots the gap it was closing: on FB15K*-DB15K the seed pairs' common means stayed
~1.1 apart and only ~55 % of training pairs were nearest neighbours in the common space after 20 epochs,
while the relational space (touched every step) had 99.5 %. Lazy Adam (TensorFlow's ``LazyAdamOptimizer``,
PyTorch's ``SparseAdam`` semantics) updates the moments and values of the rows that received a gradient in
this step only; rows the step did not touch stay where they are.

Parameter groups with ``lazy=True`` get the row-lazy rule (2-D tables); the others get ordinary Adam
(encoders, whose every weight gets a gradient). Bias correction uses the optimiser's global step count, as
TensorFlow's LazyAdam does. Rows whose gradient is exactly zero count as untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.adam import adam as functional_adam


class LazyAdam(torch.optim.Optimizer):
    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "lazy": False})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("LazyAdam does not take a closure")
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            dense: list[torch.Tensor] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError("LazyAdam expects dense gradients (rows of zeros mark untouched rows)")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                if state["step"].dtype != torch.float32 or state["step"].device != p.device:
                    state["step"] = state["step"].to(torch.float32).to(p.device)  # older checkpoints: float64
                if not (group["lazy"] and p.dim() >= 2):
                    dense.append(p)
                    continue
                state["step"] += 1
                t = float(state["step"])
                step_size = group["lr"] / (1 - beta1**t)
                correction2 = (1 - beta2**t) ** 0.5
                m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
                rows = touched_rows(g)
                if len(rows) == 0:
                    continue
                g_rows = g.index_select(0, rows)
                m_rows = m.index_select(0, rows).mul_(beta1).add_(g_rows, alpha=1 - beta1)
                v_rows = v.index_select(0, rows).mul_(beta2).addcmul_(g_rows, g_rows, value=1 - beta2)
                m.index_copy_(0, rows, m_rows)
                v.index_copy_(0, rows, v_rows)
                update = m_rows / (v_rows.sqrt() / correction2 + group["eps"])
                p.index_add_(0, rows, update, alpha=-step_size)
            if dense:
                self._dense_adam(group, dense)

    def _dense_adam(self, group: dict, params: list[torch.Tensor]) -> None:
        """Ordinary Adam for the non-lazy parameters, through torch's fused kernel where it exists (one pass over
        a table instead of ~7 elementwise ones: ~5x faster on the 27,629 x 100 tables of FB15K*-DB15K here);
        the same rule and per-parameter step counts as ``torch.optim.Adam``."""
        states = [self.state[p] for p in params]
        beta1, beta2 = group["betas"]
        functional_adam(
            params, [p.grad for p in params], [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
            [], [s["step"] for s in states], fused=fused_adam_supported(params), amsgrad=False, beta1=beta1,
            beta2=beta2, lr=group["lr"], weight_decay=0.0, eps=group["eps"], maximize=False)


def touched_rows(grad: torch.Tensor) -> torch.Tensor:
    """Indices of the rows of ``grad`` holding any non-zero entry (NaN and inf count as non-zero, -0.0 as zero).

    A row's absolute values sum to zero exactly when every entry is (+/-) zero, since a sum of non-negative
    floats is at least its largest term; NaN and inf carry through the sum. The same rows as
    ``grad.ne(0).any(1)``, whose elementwise comparison and boolean reduction had been a sixth of the paper model's
    training time on the CPU; with this form lazy-Adam training runs a fifth faster
    (``bench/results/speed/notes.md``, item 4).
    """
    return grad.reshape(len(grad), -1).abs().sum(1).ne(0).nonzero().squeeze(1)


def fused_adam_supported(params: Iterable[torch.Tensor]) -> bool:
    """Whether torch's fused Adam kernel takes these parameters (floating point, on the CPU or CUDA)."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
