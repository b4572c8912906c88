"""The wall-clock cap ``train.max_seconds``: training stops after the epoch that reaches it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gaussea.training.callbacks import TrainCallback

if TYPE_CHECKING:
    from gaussea.training.trainer import Trainer


class WallClockBudget(TrainCallback):
    """Sets ``budget_exhausted`` once the epochs' summed wall-clock (over resumed invocations too) reaches
    ``max_seconds``. Checked between epochs, so the last epoch runs to its end.

    Distributed: rank 0's clock decides, broadcast to every rank, or ranks whose clocks differ would part ways.
    """

    def __init__(self, max_seconds: float) -> None:
        self.max_seconds = max_seconds

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        state = trainer.state
        if state.train_seconds >= self.max_seconds:
            state.budget_exhausted = True
        if trainer.distributed is not None:
            state.budget_exhausted = trainer.distributed.broadcast_object(state.budget_exhausted)
