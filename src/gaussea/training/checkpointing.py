"""Checkpoints and ``--resume``: what a run needs to continue exactly where it left off, and what it keeps.

Everything a resumed run needs — model, optimisers, the batch generator's state (and under data parallelism every
rank's negative-sampling stream), the trainer's counters, each callback's state (the best validation weights) — is
in ``checkpoint.pt``, so ``--resume`` continues exactly where the last checkpoint left off and reaches the same
final parameters as an uninterrupted run. Checkpoints are written every ``train.checkpoint_every`` epochs and after
the last epoch, before anything (early stopping) changes the weights at the end: a finished run kept with
``--keep-checkpoint`` then extends as if it had been configured longer. ``train_log.jsonl`` is written first: a
kill between the two leaves records past the checkpoint, which resume drops. Every write is atomic.

At the end ``model.pt`` keeps the weights the run is scored with, without what only resuming needs (a fraction of
the checkpoint's size), so that the runner can remove the large checkpoint of a finished run. Checkpoints load
onto the CPU and are copied into the model and optimisers, which put each tensor on its parameter's device. Only
rank 0 writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gaussea.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gaussea.ioutil import atomic_write_text
from gaussea.run_files import RunDirectory
from gaussea.training.callbacks import TrainCallback

if TYPE_CHECKING:
    from gaussea.training.trainer import Trainer

CHECKPOINT_NAME = RunDirectory.CHECKPOINT
FINAL_MODEL_NAME = RunDirectory.FINAL_MODEL
LOG_NAME = RunDirectory.TRAIN_LOG
TRAINER_KEYS = ("model", "optimisers", "generator", "trainer", "sample_generators")  # the trainer's own entries


def resume_only_keys(model: torch.nn.Module) -> set[str]:
    """State-dict keys of the buffers that only continuing the training needs: those a module lists in its
    ``RESUME_ONLY_BUFFERS`` (truncated sampling's neighbour lists, one row per entity)."""
    keys = set()
    for prefix, module in model.named_modules():
        for name in getattr(module, "RESUME_ONLY_BUFFERS", ()):
            if getattr(module, name, None) is not None:
                keys.add(f"{prefix}.{name}" if prefix else name)
    return keys


def final_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state without its resume-only buffers: what a finished run keeps in ``model.pt``."""
    skip = resume_only_keys(model)
    return {k: v for k, v in model.state_dict().items() if k not in skip}


def load_final_weights(model: torch.nn.Module, path: Path) -> dict:
    """Load the verified weights at ``path`` (``model.pt``, or a checkpoint) into ``model``; returns the file's
    content. Only resume-only buffers may be missing; any other difference means the file does not belong to the
    model the run's ``config.json`` builds, and is a ``CheckpointError`` naming the file."""
    content = load_checkpoint(path)
    missing, unexpected = model.load_state_dict(content["model"], strict=False)
    wrong = sorted(set(missing) - resume_only_keys(model)) + sorted(unexpected)
    if wrong:
        raise CheckpointError(f"{path}: its weights do not fit the model of the run's config.json "
                              f"({len(wrong)} parameter(s) differ, e.g. {wrong[0]})")
    return content


def distinct_optimisers(optimisers: Mapping[str, torch.optim.Optimizer]) -> dict[str, torch.optim.Optimizer]:
    """Each optimiser once, under the first loss that uses it (a shared one is saved once)."""
    out: dict[str, torch.optim.Optimizer] = {}
    for name, opt in optimisers.items():
        if all(o is not opt for o in out.values()):
            out[name] = opt
    return out


class Checkpointing(TrainCallback):
    """Writes ``checkpoint.pt`` + ``train_log.jsonl`` in ``run_dir`` every ``every`` epochs (0: only after the last)
    and ``model.pt`` at the end; :meth:`restore` reads them back for ``--resume``."""

    def __init__(self, run_dir: Path, every: int) -> None:
        self.run_dir = Path(run_dir)
        self.every = every
        self.saved_epoch: int | None = None  # the epoch the checkpoint on disk holds, if this process knows it
        self.weights_only = False  # resumed from a finished run's model.pt: nothing to train, nothing to save

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        epoch = record["epoch"]
        if (self.every and epoch % self.every == 0) or trainer.finished:
            self.save(trainer)

    def on_train_end(self, trainer: Trainer) -> None:
        if self.weights_only:
            return
        if self.saved_epoch != trainer.state.epoch:  # no epoch ran (a model without losses): its first checkpoint
            self.save(trainer)
        self.save_final(trainer)

    # --- writing --------------------------------------------------------------------------------
    def save(self, trainer: Trainer) -> None:
        """``train_log.jsonl``, then ``checkpoint.pt`` (every rank takes part: the negative streams are gathered)."""
        content: dict[str, Any] = {}
        for callback in trainer.callbacks:
            entries = callback.state_dict()
            clash = set(entries) & (set(content) | set(TRAINER_KEYS))
            if clash:
                raise ValueError(f"callback {type(callback).__name__} reuses checkpoint entries {sorted(clash)}")
            content.update(entries)
        distributed = trainer.distributed
        if distributed is not None:  # every rank's negative stream, written by rank 0 only
            content["sample_generators"] = distributed.all_gather_object(trainer.sample_generator.get_state())
        self.saved_epoch = trainer.state.epoch
        if distributed is not None and not distributed.is_main:
            return
        content.update(model=trainer.model.state_dict(),
                       optimisers={k: v.state_dict() for k, v in distinct_optimisers(trainer.optimisers).items()},
                       generator=trainer.generator.get_state(), trainer=trainer.state.counters())
        lines = "".join(json.dumps(r) + "\n" for r in trainer.state.log)
        atomic_write_text(self.run_dir / LOG_NAME, lines)
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, content)

    def save_final(self, trainer: Trainer) -> None:
        """``model.pt`` (+ ``.sha256``): the weights the run is scored with and the trainer's counters. What a
        finished run keeps once its checkpoint is removed: every command that reads a finished run loads it, and
        ``--resume`` on a finished run re-evaluates it."""
        if trainer.distributed is not None and not trainer.distributed.is_main:
            return
        save_checkpoint(self.run_dir / FINAL_MODEL_NAME, {"model": final_state_dict(trainer.model),
                                                          "trainer": trainer.state.counters()})

    # --- reading --------------------------------------------------------------------------------
    def restore(self, trainer: Trainer) -> bool:
        """Put ``trainer`` where the checkpoint left it (or, once it was removed, at a finished run's final
        weights); nothing if neither exists. Returns whether only final weights were loaded (nothing to train)."""
        path = self.run_dir / CHECKPOINT_NAME
        if path.exists():
            self._restore_checkpoint(trainer, path)
        elif (self.run_dir / FINAL_MODEL_NAME).exists():
            self._restore_finished(trainer, self.run_dir / FINAL_MODEL_NAME)
        else:
            return False
        self._restore_log(trainer)
        trainer.model.set_stage(trainer.stage_of(max(trainer.state.epoch, 1)))
        return self.weights_only

    def _restore_checkpoint(self, trainer: Trainer, path: Path) -> None:
        content = load_checkpoint(path)
        trainer.model.load_state_dict(content["model"])
        for name, opt in distinct_optimisers(trainer.optimisers).items():
            opt.load_state_dict(content["optimisers"][name])
        trainer.generator.set_state(content["generator"])
        streams = content.get("sample_generators") or []
        if trainer.distributed is not None and len(streams) == trainer.distributed.world_size:
            trainer.sample_generator.set_state(streams[trainer.distributed.rank])
        trainer.state.load_counters(content["trainer"])
        for callback in trainer.callbacks:
            callback.load_state_dict(content)
        self.saved_epoch = trainer.state.epoch

    def _restore_finished(self, trainer: Trainer, path: Path) -> None:
        """A finished run whose checkpoint was removed: its final weights, and nothing left to train.

        Training further would need the optimiser state the checkpoint held, so a configuration asking for more
        epochs than the run finished is refused (``CheckpointError`` naming the file) rather than silently
        restarted with fresh optimiser moments. A ``model.pt`` that does not say which epoch's weights it holds
        holds the best validation epoch's if training stopped early, else the last's (the only restore its
        writer did).
        """
        final = load_final_weights(trainer.model, path)
        state = trainer.state
        state.load_counters(final["trainer"])
        if "scored_epoch" not in final["trainer"]:
            restored = state.stopped_early and state.best_epoch is not None
            state.scored_epoch = state.best_epoch if restored else state.epoch
        if state.epoch < trainer.total_epochs and not state.stopped:
            raise CheckpointError(f"{path}: the run finished after {state.epoch} epochs and its checkpoint was "
                                  f"removed, so it cannot continue to {trainer.total_epochs}; start it again with "
                                  "--overwrite (with --keep-checkpoint a finished run can be extended later)")
        self.weights_only = True

    def _restore_log(self, trainer: Trainer) -> None:
        """The log up to the restored epoch (records past it are recomputed)."""
        log_path = self.run_dir / LOG_NAME
        if log_path.exists():
            records = [json.loads(x) for x in log_path.read_text(encoding="utf-8").splitlines() if x.strip()]
            trainer.state.log = [r for r in records if r["epoch"] <= trainer.state.epoch]
