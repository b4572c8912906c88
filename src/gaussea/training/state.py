"""What a run's training has done so far: the counters a checkpoint keeps and ``metrics.json`` reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrainState:
    """The trainer's counters and per-epoch log, shared with its callbacks.

    A callback that ends training records why here (``stopped_early``, ``budget_exhausted``) rather than only
    returning it: the reason must survive a checkpoint, so that a resumed run does not train on, and it is
    reported in ``metrics.json``.
    """

    epoch: int = 0  # epochs completed
    best_score: float | None = None
    best_epoch: int | None = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    budget_exhausted: bool = False
    stage1_ended: int | None = None  # the epoch early stopping ended stage 1 after (stage 2 started next)
    stage_best: float | None = None  # stage 2's best score once stage 1 ended early (its patience's reference)
    train_seconds: float = 0.0  # wall-clock spent in epochs so far (summed over resumed invocations)
    scored_epoch: int | None = None  # the epoch whose weights the model holds once training ended
    log: list[dict] = field(default_factory=list)

    @property
    def stopped(self) -> bool:
        """Whether a callback ended training before the last epoch."""
        return self.stopped_early or self.budget_exhausted

    def counters(self) -> dict[str, Any]:
        """Everything but the log (which goes to ``train_log.jsonl``): what checkpoints and ``model.pt`` keep."""
        return {k: v for k, v in vars(self).items() if k != "log"}

    def load_counters(self, counters: Mapping[str, Any]) -> None:
        """Take the counters a checkpoint kept; those it lacks (an older file) keep their defaults."""
        for key, value in counters.items():
            setattr(self, key, value)
