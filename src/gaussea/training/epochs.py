"""Which epochs a run has: the epoch counts a model fills in, the stage of each epoch, the bootstrapping rounds.

Every answer is a function of the configuration, the epoch number and, where early stopping ended stage 1 before
its last epoch, that epoch (kept in the trainer's checkpointed state), so that a resumed run and every data-parallel
replica agree on it without exchanging anything.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gaussea.config import TrainConfig
from gaussea.models.base import AlignmentModel


def with_model_epochs(config: TrainConfig, model_class: type[AlignmentModel]) -> TrainConfig:
    """``config`` with null epoch counts replaced by the model's ``default_epochs`` (a copy; ``config`` is kept)."""
    stage1, stage2 = model_class.default_epochs
    return dataclasses.replace(
        config,
        stage1_epochs=stage1 if config.stage1_epochs is None else config.stage1_epochs,
        stage2_epochs=stage2 if config.stage2_epochs is None else config.stage2_epochs)


@dataclass(frozen=True)
class EpochPlan:
    """The epochs of one run: ``stage1_epochs`` + ``stage2_epochs``, then ``iterative_rounds`` bootstrapping
    rounds of ``iterative_epochs`` each.

    One-stage models train for the same total as two-stage ones (a fair comparison): all their epochs are stage 1.
    """

    stage1_epochs: int
    stage2_epochs: int
    num_stages: int
    iterative_rounds: int
    iterative_epochs: int

    @classmethod
    def of(cls, config: TrainConfig, num_stages: int) -> EpochPlan:
        """The plan of ``config`` (its epoch counts already filled in by :func:`with_model_epochs`)."""
        assert config.stage1_epochs is not None and config.stage2_epochs is not None
        return cls(config.stage1_epochs, config.stage2_epochs, num_stages, config.iterative_rounds,
                   config.iterative_epochs)

    @property
    def base_epochs(self) -> int:
        """The epochs before any iterative bootstrapping round."""
        return self.stage1_epochs + self.stage2_epochs

    @property
    def total_epochs(self) -> int:
        return self.base_epochs + self.iterative_rounds * self.iterative_epochs

    def cuts_stage1(self, epoch: int) -> bool:
        """Whether early stopping at 1-based ``epoch`` ends stage 1 (a stage 2 follows) rather than the run."""
        return self.num_stages == 2 and self.stage2_epochs > 0 and self.stage_of(epoch) == 1

    def with_stage1_ended(self, epoch: int) -> EpochPlan:
        """The plan once early stopping ended stage 1 after ``epoch``: stage 2 starts next with all its epochs.

        A two-stage model's second stage is its method (the paper's variances), so running out of patience on
        the means ends the means' stage, not the run; stage 2 then has to beat stage 1 on validation to be the
        weights scored.
        """
        return dataclasses.replace(self, stage1_epochs=epoch)

    def stage_of(self, epoch: int) -> int:
        """Stage of 1-based ``epoch``: the first ``stage1_epochs`` are stage 1 for two-stage models."""
        if self.num_stages == 1:
            return 1
        return 1 if epoch <= self.stage1_epochs else 2

    def bootstraps_before(self, epoch: int) -> bool:
        """Whether a bootstrapping round opens 1-based ``epoch``: the first after the base epochs, then every
        ``iterative_epochs``."""
        after = epoch - 1 - self.base_epochs
        return after >= 0 and after % self.iterative_epochs == 0 and after // self.iterative_epochs < \
            self.iterative_rounds
