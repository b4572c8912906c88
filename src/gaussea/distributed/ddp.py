"""DistributedDataParallel around the trainer's loss calls.

Our models expose their losses by name (``model.loss(name, idx, generator)``), not through ``forward``, while
DDP hooks ``forward``: :class:`LossForward` is the one-line module whose forward dispatches to ``model.loss``,
and DDP wraps that. Each rank computes its loss on its shard of the batch; DDP averages the gradients across
ranks during ``backward``, so every rank applies the same update and the parameters stay identical.

Two details make the alternating, two-stage training fit DDP:

- the losses update different parameters in turn, so ``find_unused_parameters=True`` (a parameter no rank used
  keeps ``grad=None`` and Adam skips it, exactly as in a single process);
- DDP syncs only the parameters that required grad when it was built, and stage 2 frees the variances, so
  :class:`DistributedLoss` rebuilds the wrapper whenever the set of trainable parameters changes;
- the wrapper is also rebuilt when the trainer moves on to the next loss, so that within one wrapper's life the
  unused parameters are always the same (a loss always touches the same tables, on every rank) and DDP may
  skip all-reducing them (``skip_all_reduce_unused_params``, torch >= 2.13). Gradients are dense, so without
  this every step of, say, ``ac`` (the common table only) would all-reduce zeros for all four entity tables.
  A rebuild costs one bucket allocation (and a shape check across ranks), a few times per epoch.

Buffers (graph data, feature statistics) are identical on every rank and never change, so they are not
broadcast at every step (``broadcast_buffers=False``).
"""

from __future__ import annotations

import inspect

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gaussea.distributed.context import DistContext
from gaussea.models.base import AlignmentModel


class LossForward(nn.Module):
    """``forward(name, idx, generator) = model.loss(name, idx, generator)``: the module DDP wraps."""

    def __init__(self, model: AlignmentModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.model.loss(name, idx, generator)


class DistributedLoss:
    """Callable like ``model.loss`` that runs through DDP, with one wrapper per (loss, trainable parameters)."""

    def __init__(self, model: AlignmentModel, context: DistContext) -> None:
        self.model = model
        self.context = context
        self._ddp: DistributedDataParallel | None = None
        self._key: tuple | None = None
        self._built = 0

    def __call__(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        key = (name, tuple(p.requires_grad for p in self.model.parameters()))
        if self._ddp is None or key != self._key:
            self._rebuild(key)
        assert self._ddp is not None
        return self._ddp(name, idx.to(self.context.device), generator)

    def _rebuild(self, key: tuple) -> None:
        # The old wrapper's reducer holds autograd hooks on the parameters: dropping the only reference frees it
        # (no cycles, so no gc.collect, which costs ~0.2 s a call) and its hooks go with it. A hook of a reducer
        # that outlived this would return at once anyway: it only acts after its own wrapper's forward.
        self._ddp = None
        device_ids = [self.context.device.index] if self.context.device.type == "cuda" else None
        # Only the first wrapper broadcasts rank 0's parameters: afterwards every rank applied the same updates.
        self._ddp = DistributedDataParallel(LossForward(self.model), device_ids=device_ids,
                                            **_ddp_options(first=self._built == 0))
        self._key = key
        self._built += 1


def _ddp_options(first: bool) -> dict[str, bool]:
    """DDP's keywords for our use, by what this torch version offers (names changed in 2.13)."""
    known = inspect.signature(DistributedDataParallel.__init__).parameters
    options = {"find_unused_parameters": True}
    options["forward_sync_buffers" if "forward_sync_buffers" in known else "broadcast_buffers"] = False
    if "skip_all_reduce_unused_params" in known:
        options["skip_all_reduce_unused_params"] = True
    if "init_sync" in known:
        options["init_sync"] = first
    return options
