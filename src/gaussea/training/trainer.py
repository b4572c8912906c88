"""The epoch loop shared by every model: stages, alternating losses, optimiser steps, the model's hooks.

Each epoch runs one full pass of each of the model's losses in turn (MMEA's alternating updates), with one
optimiser shared by all losses (:mod:`gaussea.training.optimisers`), over shuffled mini-batches drawn from a seeded
generator. A model whose method prescribes its optimiser or its batch size declares them
(``AlignmentModel.make_optimiser`` / ``batch_size``) and the trainer uses those instead. The model's hooks run at
fixed points: ``before_training`` once, ``set_stage`` and ``before_epoch`` at the start of each epoch,
``after_step`` after each optimiser step. Everything else — validation and early stopping, checkpoints and resume,
the wall-clock cap, bootstrapping rounds, loggers, the progress bar — is a callback
(:mod:`gaussea.training.callbacks`), built from the configuration by :meth:`Trainer.__init__`.

Devices (``train.device``: ``cpu``, ``cuda`` or ``cuda:N``): the trainer moves the model there and hands every
loss its batch indices there; the batch order and all random draws come from CPU generators, so they, and the
generator states in a checkpoint, are the same on every device.

With a ``distributed`` context (torchrun, see :mod:`gaussea.distributed`) every rank draws the same batches from
the shared generator and takes its shard of each; negatives come from a per-rank generator, losses run through
DistributedDataParallel, and only rank 0 writes the log and checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from gaussea.config import TrainConfig
from gaussea.loggers import EpochLogger
from gaussea.memory import keep_freed_memory
from gaussea.models.base import AlignmentModel
from gaussea.training.bootstrapping import IterativeBootstrapping
from gaussea.training.budget import WallClockBudget
from gaussea.training.callbacks import LoggerCallback, ProgressBar, TrainCallback
from gaussea.training.checkpointing import Checkpointing
from gaussea.training.devices import resolve_device
from gaussea.training.early_stopping import EarlyStopping
from gaussea.training.epochs import EpochPlan, with_model_epochs
from gaussea.training.optimisers import model_optimiser
from gaussea.training.state import TrainState

if TYPE_CHECKING:
    from gaussea.distributed.context import DistContext

LossFn = Callable[[str, torch.Tensor, torch.Generator], torch.Tensor]


class Trainer:
    def __init__(
        self,
        model: AlignmentModel,
        config: TrainConfig,
        run_dir: Path | None = None,
        validate: Callable[[], float] | None = None,
        loggers: Sequence[EpochLogger] = (),
        distributed: DistContext | None = None,
        device: torch.device | str | None = None,
        callbacks: Sequence[TrainCallback] = (),
    ) -> None:
        """``validate`` scores the model on the validation slice (used every ``eval_every`` epochs when given);
        ``run_dir`` receives checkpoints and ``model.pt``; ``callbacks`` run after the configured ones and before
        checkpointing (so that their state is saved with the epoch). ``device`` defaults to ``config.device``
        (under ``distributed``, the context's device, one per rank)."""
        if device is None:
            device = distributed.device if distributed is not None else config.device
        self.device = resolve_device(device)
        self.model = model.to(self.device)  # before the optimisers and DDP see the parameters
        self.cfg = with_model_epochs(config, type(model))
        self.configured_plan = EpochPlan.of(self.cfg, model.num_stages)
        self.run_dir = Path(run_dir) if run_dir else None
        self.generator = torch.Generator().manual_seed(config.seed)
        self.distributed = distributed
        self.sample_generator, self._loss = self._sampling_and_loss(config.seed)
        names = model.loss_names()
        shared = model_optimiser(model, self.cfg) if names else None  # Adam refuses an empty parameter list
        self.optimisers = {name: shared for name in names}
        self.state = TrainState()
        self.checkpoints = Checkpointing(self.run_dir, self.cfg.checkpoint_every) if self.run_dir else None
        self.callbacks = self._configured_callbacks(validate, loggers, callbacks)

    def _sampling_and_loss(self, seed: int) -> tuple[torch.Generator, LossFn]:
        """The generator negatives are drawn from and the loss to step on: the shared generator and the model's loss,
        or under ``distributed`` a per-rank generator and the loss through DDP."""
        if self.distributed is None:
            return self.generator, self.model.loss
        from gaussea.distributed.ddp import DistributedLoss

        blocker = self.model.data_parallel_blocker() if self.distributed.world_size > 1 else None
        if blocker:
            raise ValueError(blocker)
        return self.distributed.rank_generator(seed), DistributedLoss(self.model, self.distributed)

    def _configured_callbacks(self, validate: Callable[[], float] | None, loggers: Sequence[EpochLogger],
                              extra: Sequence[TrainCallback]) -> list[TrainCallback]:
        """The callbacks the configuration asks for, in the order they must see each epoch: the bootstrapping round
        and the stopping rules complete the record before the loggers see it, and checkpointing comes last, so
        that a checkpoint holds the whole epoch."""
        cfg = self.cfg
        out: list[TrainCallback] = []
        if cfg.iterative_rounds:
            out.append(IterativeBootstrapping())
        if cfg.max_seconds is not None:
            out.append(WallClockBudget(cfg.max_seconds))
        if validate is not None and cfg.eval_every:
            out.append(EarlyStopping(validate, cfg.eval_every, cfg.patience))
        out += [LoggerCallback(logger) for logger in loggers]
        out += extra
        if cfg.progress and (self.distributed is None or self.distributed.is_main):
            out.append(ProgressBar())
        if self.checkpoints is not None:
            out.append(self.checkpoints)
        return out

    # --- epochs ---------------------------------------------------------------------------------
    @property
    def plan(self) -> EpochPlan:
        """The configured plan, with stage 1 shortened where early stopping ended it (read from the state, so
        that a restored checkpoint brings the shortened plan with it)."""
        ended = self.state.stage1_ended
        return self.configured_plan if ended is None else self.configured_plan.with_stage1_ended(ended)

    @property
    def total_epochs(self) -> int:
        """The plan's epochs; a model with no losses trains for none."""
        return self.plan.total_epochs if self.model.loss_names() else 0

    @property
    def finished(self) -> bool:
        """Whether no epoch is left: all were trained, or a callback stopped training."""
        return self.state.epoch >= self.total_epochs or self.state.stopped

    def stage_of(self, epoch: int) -> int:
        return self.plan.stage_of(epoch)

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """One pass of every loss of 1-based ``epoch``; returns each loss's mean (over ranks when distributed)."""
        self.model.set_stage(self.stage_of(epoch))
        self.model.before_epoch(epoch)
        self.model.train()
        losses: dict[str, float] = {}
        for name in self.model.loss_names():
            opt = self.optimisers[name]
            total, steps = 0.0, 0
            for idx in self.batches(name):
                idx = idx.to(self.device)  # drawn on the CPU generator; the loss indexes device tensors
                opt.zero_grad(set_to_none=True)
                loss = self._loss(name, idx, self.sample_generator)
                loss.backward()
                opt.step()
                self.model.after_step(name)
                total += float(loss.detach())
                steps += 1
            losses[name] = total / max(steps, 1)
        if self.distributed is not None:  # log the mean over ranks (each saw its shard)
            losses = self.distributed.mean_of(losses)
        return losses

    def batches(self, name: str) -> list[torch.Tensor]:
        """Item indices of each step of loss ``name`` in this epoch: the model's plan (:mod:`gaussea.schedules`),
        shuffled with the run's generator; the trainer itself never looks at loss names.

        Distributed: every rank draws the same batches (same generator, same seed) and keeps its shard of each.
        """
        full = self.model.epoch_batches(name, self.cfg, self.generator)
        return full if self.distributed is None else [self.distributed.shard_batch(b) for b in full]

    def fit(self, resume: bool = False) -> TrainState:
        """Train to the configured epochs (first restoring the run directory's checkpoint if ``resume``).

        Sets glibc's allocator to keep freed memory for reuse (:func:`gaussea.memory.keep_freed_memory`, for the
        whole process: every model's steps reuse their large temporaries instead of page-faulting fresh ones; a
        no-op without glibc or where the user set glibc's malloc variables).
        """
        keep_freed_memory()
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        weights_only = self._restore() if resume else False
        self.model.before_training()
        for callback in self.callbacks:
            callback.on_train_start(self)
        while not self.finished:
            self._train_epoch(self.state.epoch + 1)
        if not weights_only:  # restored final weights say themselves which epoch they are
            self.state.scored_epoch = self.state.epoch
        for callback in self.callbacks:
            callback.on_train_end(self)
        return self.state

    def _restore(self) -> bool:
        if self.checkpoints is None:
            raise ValueError("resuming needs the run directory that holds the checkpoint")
        return self.checkpoints.restore(self)

    def _train_epoch(self, epoch: int) -> None:
        start = time.perf_counter()
        for callback in self.callbacks:
            callback.on_epoch_start(self, epoch)
        losses = self.run_epoch(epoch)
        seconds = time.perf_counter() - start
        record: dict = {"epoch": epoch, "stage": self.stage_of(epoch), "seconds": seconds, "loss": losses}
        self.state.epoch = epoch
        self.state.train_seconds += seconds
        self.state.log.append(record)  # callbacks may still add fields (valid_mrr, bootstrapped_pairs)
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)
