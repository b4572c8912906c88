"""Iterative bootstrapping rounds (``train.iterative_rounds``): before the epoch that opens a round, the model's
mutual-best pairs are added to its training pairs (:func:`gaussea.models.matching.bootstrap_round`).

The round runs in ``on_epoch_start`` so that its cost counts as that epoch's time, and the number of pairs it added
goes into the epoch's record as ``bootstrapped_pairs``. Which epochs open a round depends on the epoch alone
(:meth:`EpochPlan.bootstraps_before`), so a run resumed mid-round and every replica agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gaussea.models.matching import bootstrap_round
from gaussea.training.callbacks import TrainCallback

if TYPE_CHECKING:
    from gaussea.training.trainer import Trainer


class IterativeBootstrapping(TrainCallback):
    def __init__(self) -> None:
        self.added: int | None = None

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.added = None
        if trainer.plan.bootstraps_before(epoch):
            trainer.model.eval()
            self.added = bootstrap_round(trainer.model)

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        if self.added is not None:
            record["bootstrapped_pairs"] = self.added
