"""The trainer's callbacks, each on its own: early stopping and the best epoch's weights, checkpoint cadence and
what the checkpoint and ``model.pt`` hold, the wall-clock cap, the callback protocol.

Validation is scripted (a list of scores) and snapshots the weights it sees, so that each test knows which epoch's
weights the model must end with. A tiny TransE on synthetic data keeps every test well under a second.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from gaussea.checkpoint import load_checkpoint, save_checkpoint
from gaussea.config import ModelConfig, TrainConfig
from gaussea.data.splits import make_split
from gaussea.data.synthetic import load_synthetic
from gaussea.models import build_model
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.training import (
    CHECKPOINT_NAME,
    FINAL_MODEL_NAME,
    Checkpointing,
    TrainCallback,
    Trainer,
    TrainState,
    WallClockBudget,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def inputs() -> AlignmentInputs:
    pair = load_synthetic(num_entities=60)
    return AlignmentInputs.build(pair, make_split(pair.links, 0.3, seed=0))


def tiny_model(inputs: AlignmentInputs) -> AlignmentModel:
    return build_model("transe", inputs, ModelConfig(modalities=("r",), dim=4), torch.Generator().manual_seed(0))


def train_config(epochs: int, **fields: object) -> TrainConfig:
    return TrainConfig(stage1_epochs=epochs, stage2_epochs=0, progress=False, threads=1, **fields)  # type: ignore[arg-type]


class ScriptedValidation:
    """Returns ``scores`` in turn and keeps a copy of the weights at each call (epoch -> state dict)."""

    def __init__(self, model: AlignmentModel, scores: Sequence[float], every: int = 1) -> None:
        self.model, self.scores, self.every = model, iter(scores), every
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self) -> float:
        self.weights[(len(self.weights) + 1) * self.every] = copy.deepcopy(self.model.state_dict())
        return next(self.scores)


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def fit_with_validation(inputs: AlignmentInputs, scores: Sequence[float], epochs: int, run_dir: Path | None = None,
                        **fields: object) -> tuple[Trainer, ScriptedValidation]:
    model = tiny_model(inputs)
    validate = ScriptedValidation(model, scores, every=int(fields.get("eval_every", 1)))  # type: ignore[call-overload]
    trainer = Trainer(model, train_config(epochs, **{"eval_every": 1, **fields}), run_dir, validate=validate)
    trainer.fit()
    return trainer, validate


# ------------------------------------------------------------------------------------------------ early stopping


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(inputs: AlignmentInputs) -> None:
    trainer, validate = fit_with_validation(inputs, [0.1, 0.5, 0.3, 0.2, 0.9], epochs=5, patience=2)
    state = trainer.state
    assert (state.epoch, state.stopped_early, state.best_epoch, state.scored_epoch) == (4, True, 2, 2)
    assert [r.get("valid_mrr") for r in state.log] == [0.1, 0.5, 0.3, 0.2]
    assert same_weights(trainer.model.state_dict(), validate.weights[2])


def test_a_run_reaching_its_last_epoch_ends_with_the_best_epochs_weights(inputs: AlignmentInputs) -> None:
    """Patience 0 never stops; the best validation epoch (2 of 3) is still the one scored."""
    trainer, validate = fit_with_validation(inputs, [0.1, 0.5, 0.3], epochs=3)
    state = trainer.state
    assert (state.epoch, state.stopped_early, state.best_epoch, state.scored_epoch) == (3, False, 2, 2)
    assert same_weights(trainer.model.state_dict(), validate.weights[2])
    assert not same_weights(validate.weights[2], validate.weights[3])  # the restore is visible


def test_unvalidated_last_epochs_are_not_candidates(inputs: AlignmentInputs) -> None:
    """Validation every 2 epochs of 3: epoch 3 was never scored on validation, so epoch 2's weights are kept."""
    trainer, validate = fit_with_validation(inputs, [0.4], epochs=3, eval_every=2)
    assert (trainer.state.best_epoch, trainer.state.scored_epoch) == (2, 2)
    assert same_weights(trainer.model.state_dict(), validate.weights[2])


def test_the_last_epoch_is_kept_when_it_is_the_best_or_validation_is_off(inputs: AlignmentInputs) -> None:
    trainer, validate = fit_with_validation(inputs, [0.1, 0.2, 0.3], epochs=3)
    assert trainer.state.scored_epoch == 3 and same_weights(trainer.model.state_dict(), validate.weights[3])
    untracked = Trainer(tiny_model(inputs), train_config(3))
    untracked.fit()
    assert (untracked.state.best_epoch, untracked.state.scored_epoch) == (None, 3)
    assert same_weights(untracked.model.state_dict(), trainer.model.state_dict())  # validation changes no step


# ------------------------------------------------------------------------------------------------ two stages


class WeightsAtStart(TrainCallback):
    """Keeps a copy of the weights each epoch starts from."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.weights[epoch] = copy.deepcopy(trainer.model.state_dict())


def two_stage_fit(inputs: AlignmentInputs, scores: Sequence[float], run_dir: Path | None = None,
                  callbacks: Sequence[TrainCallback] = (), resume: bool = False,
                  **fields: object) -> tuple[Trainer, ScriptedValidation]:
    """A tiny model told it has two stages (4 + 4 epochs), validated every epoch with patience 2 (``resume``: from
    ``run_dir``'s checkpoint)."""
    model = tiny_model(inputs)
    model.num_stages = 2  # the trainer reads the stage count from the model; TransE's stages change nothing else
    validate = ScriptedValidation(model, scores)
    config = TrainConfig(stage1_epochs=4, stage2_epochs=4, progress=False, threads=1, eval_every=1, patience=2,
                         **fields)  # type: ignore[arg-type]
    trainer = Trainer(model, config, run_dir, validate=validate, callbacks=callbacks)
    trainer.fit(resume=resume)
    return trainer, validate


def test_patience_running_out_in_stage_1_starts_stage_2_from_the_best_weights(inputs: AlignmentInputs) -> None:
    """Stage 1 plateaus after epoch 2 and its patience runs out at epoch 4; stage 2 starts, its epoch 5 beats stage
    1 on validation, and its own patience ends it at epoch 7."""
    starts = WeightsAtStart()
    trainer, validate = two_stage_fit(inputs, [0.1, 0.5, 0.3, 0.2, 0.6, 0.4, 0.3], callbacks=[starts])
    state = trainer.state
    assert [r["stage"] for r in state.log] == [1, 1, 1, 1, 2, 2, 2]
    assert (state.stage1_ended, state.epoch, state.stopped_early, state.scored_epoch) == (4, 7, True, 5)
    assert [r.get("stage1_ended", False) for r in state.log] == [False, False, False, True, False, False, False]
    assert same_weights(starts.weights[5], validate.weights[2])  # stage 2 starts from stage 1's best
    assert same_weights(trainer.model.state_dict(), validate.weights[5])


def test_a_stage_2_that_never_beats_stage_1_is_stopped_by_its_own_patience_and_stage_1_scored(
        inputs: AlignmentInputs) -> None:
    trainer, validate = two_stage_fit(inputs, [0.1, 0.5, 0.3, 0.2, 0.4, 0.3, 0.2])
    state = trainer.state
    assert (state.stage1_ended, state.epoch, state.stopped_early, state.scored_epoch) == (4, 7, True, 2)
    assert same_weights(trainer.model.state_dict(), validate.weights[2])


def test_a_stage_2_still_climbing_below_stage_1s_best_is_not_stopped(inputs: AlignmentInputs) -> None:
    """Freeing the variances dips validation; stage 2 climbs back (0.3 .. 0.45) without reaching stage 1's 0.5,
    trains all its epochs, and stage 1's best weights are scored."""
    trainer, validate = two_stage_fit(inputs, [0.1, 0.5, 0.3, 0.2, 0.3, 0.35, 0.4, 0.45])
    state = trainer.state
    assert (state.stage1_ended, state.epoch, state.stopped_early, state.scored_epoch) == (4, 8, False, 2)
    assert same_weights(trainer.model.state_dict(), validate.weights[2])


def test_a_run_killed_in_stage_2_after_an_early_stage_1_resumes_in_stage_2(inputs: AlignmentInputs,
                                                                            tmp_path: Path) -> None:
    """The shortened stage 1 and stage 2's own best travel in the checkpoint: killed at the start of epoch 6 while
    stage 2 climbs below stage 1's best, resumed for 6-8 (measured against stage 1's best, patience would end it
    at epoch 7)."""
    scores = [0.1, 0.5, 0.3, 0.2, 0.3, 0.35, 0.4, 0.45]
    whole, _ = two_stage_fit(inputs, scores)
    with pytest.raises(KeyboardInterrupt):
        two_stage_fit(inputs, scores[:5], tmp_path, callbacks=[Crash(6)], checkpoint_every=1)
    resumed, _ = two_stage_fit(inputs, scores[5:], tmp_path, resume=True)
    state = resumed.state
    assert (state.stage1_ended, state.epoch, state.stopped_early, state.scored_epoch) == (4, 8, False, 2)
    assert [r["stage"] for r in state.log] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert same_weights(resumed.model.state_dict(), whole.model.state_dict())


def test_a_one_stage_run_or_an_empty_stage_2_still_ends_at_patience() -> None:
    from gaussea.training.epochs import EpochPlan

    assert EpochPlan(4, 3, 2, 0, 1).cuts_stage1(3) and not EpochPlan(4, 3, 2, 0, 1).cuts_stage1(5)
    assert not EpochPlan(4, 0, 2, 0, 1).cuts_stage1(3) and not EpochPlan(7, 0, 1, 0, 1).cuts_stage1(3)
    shortened = EpochPlan(4, 3, 2, 2, 5).with_stage1_ended(2)
    assert (shortened.stage_of(3), shortened.total_epochs, shortened.bootstraps_before(6)) == (2, 15, True)


# ------------------------------------------------------------------------------------------------ checkpoints


@pytest.fixture
def saved_epochs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    epochs: list[int] = []
    real = Checkpointing.save

    def save(self: Checkpointing, trainer: Trainer) -> None:
        epochs.append(trainer.state.epoch)
        real(self, trainer)

    monkeypatch.setattr(Checkpointing, "save", save)
    yield epochs


@pytest.mark.parametrize("every, expected", [(2, [2, 4, 5]), (0, [5]), (5, [5])])
def test_checkpoint_cadence(inputs: AlignmentInputs, tmp_path: Path, saved_epochs: list[int], every: int,
                            expected: list[int]) -> None:
    """Every ``checkpoint_every`` epochs and once after the last (0: only then), never twice for one epoch."""
    Trainer(tiny_model(inputs), train_config(5, checkpoint_every=every), tmp_path).fit()
    assert saved_epochs == expected
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["trainer"]["epoch"] == 5


def test_checkpoint_is_written_after_an_early_stop(inputs: AlignmentInputs, tmp_path: Path,
                                                   saved_epochs: list[int]) -> None:
    fit_with_validation(inputs, [0.5, 0.1, 0.9], epochs=3, run_dir=tmp_path, patience=1, checkpoint_every=5)
    assert saved_epochs == [2]


def test_checkpoint_keeps_the_last_weights_and_model_pt_the_scored_ones(inputs: AlignmentInputs,
                                                                       tmp_path: Path) -> None:
    """A finished run kept with --keep-checkpoint extends from its last epoch (as a longer run would), while
    ``model.pt``, which every reader of a finished run loads, holds the best epoch's weights."""
    trainer, validate = fit_with_validation(inputs, [0.1, 0.5, 0.3], epochs=3, run_dir=tmp_path)
    checkpoint = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert same_weights(checkpoint["model"], validate.weights[3])
    assert same_weights(checkpoint["best_params"], validate.weights[2])
    final = load_checkpoint(tmp_path / FINAL_MODEL_NAME)
    assert same_weights(final["model"], validate.weights[2]) and final["trainer"]["scored_epoch"] == 2


def test_resuming_a_finished_run_scores_the_same_weights(inputs: AlignmentInputs, tmp_path: Path) -> None:
    first, validate = fit_with_validation(inputs, [0.1, 0.5, 0.3, 0.2], epochs=4, run_dir=tmp_path, patience=2)
    resumed = Trainer(tiny_model(inputs), train_config(4, eval_every=1, patience=2), tmp_path,
                      validate=lambda: pytest.fail("a finished run is not validated again"))
    state = resumed.fit(resume=True)
    assert (state.epoch, state.stopped_early, state.scored_epoch) == (4, True, 2)
    assert same_weights(resumed.model.state_dict(), validate.weights[2])


class Crash(TrainCallback):
    """Kills training at the start of epoch ``at`` (after the checkpoint of the epoch before)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        if epoch == self.at:
            raise KeyboardInterrupt


def test_a_run_resumed_after_its_best_epoch_still_ends_with_those_weights(inputs: AlignmentInputs,
                                                                          tmp_path: Path) -> None:
    """The best weights travel in the checkpoint: killed after epoch 2 (the best), resumed for epochs 3-4."""
    whole, _ = fit_with_validation(inputs, [0.1, 0.5, 0.3, 0.2], epochs=4)
    config = train_config(4, eval_every=1, checkpoint_every=2)
    first = tiny_model(inputs)
    with pytest.raises(KeyboardInterrupt):
        Trainer(first, config, tmp_path, validate=ScriptedValidation(first, [0.1, 0.5]), callbacks=[Crash(3)]).fit()
    resumed = tiny_model(inputs)
    state = Trainer(resumed, config, tmp_path, validate=ScriptedValidation(resumed, [0.3, 0.2])).fit(resume=True)
    assert (state.epoch, state.best_epoch, state.scored_epoch) == (4, 2, 2)
    assert same_weights(resumed.state_dict(), whole.model.state_dict())


def test_an_older_model_pt_says_which_epoch_it_holds(inputs: AlignmentInputs, tmp_path: Path) -> None:
    """A ``model.pt`` written before ``scored_epoch`` existed: its writer restored the best weights only when
    training stopped early."""
    fit_with_validation(inputs, [0.5, 0.1, 0.9], epochs=3, run_dir=tmp_path, patience=1)
    (tmp_path / CHECKPOINT_NAME).unlink()
    final = load_checkpoint(tmp_path / FINAL_MODEL_NAME)
    del final["trainer"]["scored_epoch"]
    save_checkpoint(tmp_path / FINAL_MODEL_NAME, final)
    state = Trainer(tiny_model(inputs), train_config(3, eval_every=1, patience=1), tmp_path).fit(resume=True)
    assert (state.stopped_early, state.best_epoch, state.scored_epoch) == (True, 1, 1)


def test_resume_without_a_run_directory_is_refused(inputs: AlignmentInputs) -> None:
    with pytest.raises(ValueError, match="run directory"):
        Trainer(tiny_model(inputs), train_config(1)).fit(resume=True)


# ------------------------------------------------------------------------------------------------ wall-clock cap


@pytest.mark.parametrize("spent, exhausted", [(9.9, False), (10.0, True), (12.0, True)])
def test_wall_clock_budget_marks_the_state_once_spent(spent: float, exhausted: bool) -> None:
    trainer = SimpleNamespace(state=TrainState(train_seconds=spent), distributed=None)
    WallClockBudget(10.0).on_epoch_end(trainer, {"epoch": 1})  # type: ignore[arg-type]
    assert trainer.state.budget_exhausted is exhausted


def test_wall_clock_budget_ends_training_after_the_epoch_that_spends_it(inputs: AlignmentInputs) -> None:
    state = Trainer(tiny_model(inputs), train_config(5, max_seconds=1e-9)).fit()
    assert (state.epoch, state.budget_exhausted, state.scored_epoch) == (1, True, 1)


# ------------------------------------------------------------------------------------------------ protocol


class EventRecorder(TrainCallback):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_train_start(self, trainer: Trainer) -> None:
        self.events.append(("start", trainer.state.epoch))

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self.events.append(("epoch_start", epoch))

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.events.append(("epoch_end", record["epoch"], "valid_mrr" in record))

    def on_train_end(self, trainer: Trainer) -> None:
        self.events.append(("end", trainer.state.epoch))


def test_callbacks_see_each_event_in_order_after_the_configured_ones(inputs: AlignmentInputs) -> None:
    recorder = EventRecorder()
    model = tiny_model(inputs)
    Trainer(model, train_config(2, eval_every=2), validate=lambda: 0.5, callbacks=[recorder]).fit()
    assert recorder.events == [("start", 0), ("epoch_start", 1), ("epoch_end", 1, False), ("epoch_start", 2),
                               ("epoch_end", 2, True), ("end", 2)]


def test_a_callback_state_may_not_shadow_a_checkpoint_entry(inputs: AlignmentInputs, tmp_path: Path) -> None:
    class Clashing(TrainCallback):
        def state_dict(self) -> dict:
            return {"model": {}}

    with pytest.raises(ValueError, match="Clashing reuses checkpoint entries"):
        Trainer(tiny_model(inputs), train_config(1), tmp_path, callbacks=[Clashing()]).fit()
