"""What the trainer calls around its loop, and the two simplest callbacks (metric loggers, the progress bar).

Everything a run does besides optimising — validation and early stopping, checkpoints and resume, the wall-clock
cap, bootstrapping rounds, logging — is a :class:`TrainCallback`, so that the trainer only runs epochs and each of
those jobs can be read and tested alone. The trainer calls every callback, in its list order, at each event:

- ``on_train_start`` once, after a resumed run has been restored;
- ``on_epoch_start`` before each epoch (time spent here counts as the epoch's);
- ``on_epoch_end`` with the epoch's record (the dict that goes into ``train_log.jsonl``; a callback may add a
  field). A callback that ends training sets a flag in ``trainer.state``; the loop stops after the epoch in which
  one is set;
- ``on_train_end`` once, after the last epoch (also when no epoch was left to train).

``state_dict`` / ``load_state_dict`` carry what a callback must remember across ``--resume``: the checkpoint
stores its entries beside the trainer's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from gaussea.loggers import EpochLogger

if TYPE_CHECKING:
    from gaussea.training.trainer import Trainer


class TrainCallback:
    """Does nothing at every event; a callback overrides the events it needs."""

    def on_train_start(self, trainer: Trainer) -> None:
        pass

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint entries this callback needs back on ``--resume`` (names unique among the callbacks)."""
        return {}

    def load_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        """Take this callback's entries back from a checkpoint's content (absent ones: keep the defaults)."""


class LoggerCallback(TrainCallback):
    """Hands each epoch's record to a metric logger (:mod:`gaussea.loggers`).

    It does not close the logger: whoever built the logger closes it, also when training raises.
    """

    def __init__(self, logger: EpochLogger) -> None:
        self.logger = logger

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.logger.on_epoch(record)


class ProgressBar(TrainCallback):
    """A tqdm bar over the run's epochs (starting at the resumed epoch), with the last epoch's mean losses."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def on_train_start(self, trainer: Trainer) -> None:
        total = trainer.total_epochs
        self.bar = tqdm(total=total, initial=trainer.state.epoch, disable=not total, desc="train", unit="epoch",
                        dynamic_ncols=True)

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        assert self.bar is not None
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in record["loss"].items()})
        self.bar.update(1)

    def on_train_end(self, trainer: Trainer) -> None:
        if self.bar is not None:
            self.bar.close()
