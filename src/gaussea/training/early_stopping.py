"""Validation during training: score every ``eval_every`` epochs, stop after ``patience`` evaluations without
improvement, and end with the best-scoring epoch's weights.

The weights the run is scored with are those of the best validation epoch whenever validation was tracked, not only
when training stopped early: under a validation budget the protocol keeps the best epoch, and a run that reached
its last epoch after its best would otherwise be scored on weights validation did not choose. Only evaluated
epochs are candidates (epochs after the last evaluation are not scored on validation). Validation reads only the
validation slice, carved out of the non-train links (never test links).

In a two-stage model's first stage, running out of patience ends the stage, not the run: stage 2 starts from the
best validated weights so far, with its full epochs, and its patience counts evaluations without improvement on
stage 2's own best score, so that the dip that freeing the variances causes does not end it while it is still
climbing. The weights scored stay the best of the whole run: stage 2 must beat stage 1 on validation to be
scored. Otherwise a validation budget would score the paper model without ever freeing its variances, that is,
score MMEA under its name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from gaussea.training.callbacks import TrainCallback

if TYPE_CHECKING:
    from gaussea.training.trainer import Trainer

BEST_WEIGHTS_KEY = "best_params"  # the checkpoint entry of the best epoch's weights


class EarlyStopping(TrainCallback):
    """Tracks the validation score ``validate()`` (higher is better, e.g. MRR) in the trainer's state and adds it
    to the epoch's record as ``valid_mrr``; ``patience`` 0 never stops, but still restores the best weights."""

    def __init__(self, validate: Callable[[], float], every: int, patience: int) -> None:
        if every < 1:
            raise ValueError(f"validation every {every} epochs: needs at least 1")
        self.validate = validate
        self.every = every
        self.patience = patience
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        epoch = record["epoch"]
        if epoch % self.every:
            return
        score = float(self.validate())
        record["valid_mrr"] = score
        state = trainer.state
        reference = state.best_score if state.stage_best is None else state.stage_best
        if state.best_score is None or score > state.best_score:
            state.best_score, state.best_epoch = score, epoch
            self.best_weights = copy.deepcopy(trainer.model.state_dict())
        if reference is None or score > reference:
            state.evals_without_improvement = 0
            if state.stage_best is not None:
                state.stage_best = score
            return
        state.evals_without_improvement += 1
        if self.patience and state.evals_without_improvement >= self.patience:
            if trainer.plan.cuts_stage1(epoch):
                self._end_stage1(trainer, record)
            else:
                state.stopped_early = True

    def _end_stage1(self, trainer: Trainer, record: dict) -> None:
        """Start stage 2 after this epoch, from the best validated weights; its patience counts against its own
        best score (the weights scored stay the best of the whole run)."""
        state = trainer.state
        state.stage1_ended, state.evals_without_improvement, state.stage_best = record["epoch"], 0, float("-inf")
        record["stage1_ended"] = True
        if self.best_weights is not None:
            trainer.model.load_state_dict(self.best_weights)

    def on_train_end(self, trainer: Trainer) -> None:
        state = trainer.state
        if self.best_weights is not None and state.best_epoch != state.epoch:
            trainer.model.load_state_dict(self.best_weights)
            state.scored_epoch = state.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {BEST_WEIGHTS_KEY: self.best_weights}

    def load_state_dict(self, checkpoint: Mapping[str, Any]) -> None:
        self.best_weights = checkpoint.get(BEST_WEIGHTS_KEY)
