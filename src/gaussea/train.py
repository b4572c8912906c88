"""The epoch loop shared by every model: alternating losses, stages, checkpoints, resume, early stopping.

Each epoch runs one full pass of each of the model's losses in turn (MMEA's alternating updates), with one
Adam shared by all losses (``optimiser_per_loss`` gives each loss its own, as MMEA's code does; see
TrainConfig for why that is not the default), shuffled mini-batches
drawn from a seeded generator. A model whose method prescribes its optimiser or its batch size (a full-graph
encoder trained on seed pairs) declares them (``AlignmentModel.make_optimiser`` / ``batch_size``) and the trainer
uses those instead. Everything a resumed run needs — model, optimisers, the batch generator's
state, epoch and stage, best validation state — is in the checkpoint, so ``--resume`` continues exactly
where the last checkpoint left off and reaches the same final parameters as an uninterrupted run. At the end,
``model.pt`` keeps the final weights alone (:meth:`Trainer.save_final`), so that the runner can remove the large
checkpoint of a finished run.

Early stopping looks only at the validation slice (carved out of non-train links, never test links).

Devices (``train.device``: ``cpu``, ``cuda`` or ``cuda:N``): the trainer moves the model there and hands every
loss its batch indices there; the batch order and all random draws come from CPU generators, so they, and the
generator states in a checkpoint, are the same on every device. Checkpoints load onto the CPU and are copied into
the model and optimisers, which put each tensor on its parameter's device.

With a ``distributed`` context (torchrun, see :mod:`gaussea.distributed`) every rank draws the same batches from
the shared generator and takes its shard of each; negatives come from a per-rank generator, losses run through
DistributedDataParallel, and only rank 0 writes the log and checkpoints.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from gaussea.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gaussea.config import TrainConfig
from gaussea.ioutil import atomic_write_text
from gaussea.loggers import EpochLogger
from gaussea.memory import keep_freed_memory
from gaussea.models.base import AlignmentModel
from gaussea.models.matching import bootstrap_round
from gaussea.models.tables import GaussianTable
from gaussea.optim import LazyAdam, fused_adam_supported
from gaussea.run_files import RunDirectory

if TYPE_CHECKING:
    from gaussea.distributed.context import DistContext

CHECKPOINT_NAME = RunDirectory.CHECKPOINT
FINAL_MODEL_NAME = RunDirectory.FINAL_MODEL
LOG_NAME = RunDirectory.TRAIN_LOG
DEVICE_SETTING = "train.device"


def resolve_device(name: str | torch.device, setting: str = DEVICE_SETTING) -> torch.device:
    """The device ``name`` names, checked before any work starts (``ValueError`` naming ``setting`` if unusable).

    Why up front: a misspelt device or ``cuda`` on a machine without CUDA would otherwise surface as a stack trace
    from inside the first loss, after the data is loaded. ``cuda`` resolves to the current CUDA device with its
    index, so that device comparisons (and DDP's ``device_ids``) see one spelling.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{setting}={name!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{setting}={name!r}: gaussea trains on cpu or cuda (cuda:N), not {device.type}")
    if device.type == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"{setting}={name!r} but CUDA is not available here (torch {torch.__version__}, {build}); "
                         f"use {setting}=cpu (--device cpu)")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= count:
        raise ValueError(f"{setting}={name!r} but only {count} CUDA device(s) are visible (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


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


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_score: float | None = None
    best_epoch: int | None = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    budget_exhausted: bool = False
    train_seconds: float = 0.0  # wall-clock spent in epochs so far (summed over resumed invocations)
    log: list[dict] = field(default_factory=list)


def with_model_epochs(config: TrainConfig, model_class: type[AlignmentModel]) -> TrainConfig:
    """``config`` with null epoch counts replaced by the model's ``default_epochs`` (a copy; ``config`` is kept)."""
    stage1, stage2 = model_class.default_epochs
    return dataclasses.replace(
        config,
        stage1_epochs=stage1 if config.stage1_epochs is None else config.stage1_epochs,
        stage2_epochs=stage2 if config.stage2_epochs is None else config.stage2_epochs)


class Trainer:
    def __init__(
        self,
        model: AlignmentModel,
        config: TrainConfig,
        run_dir: Path | None = None,
        validate: Callable[[], float] | None = None,
        callbacks: Sequence[EpochLogger] = (),
        distributed: DistContext | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        """``device`` defaults to ``config.device`` (under ``distributed``, the context's device, one per rank)."""
        if device is None:
            device = distributed.device if distributed is not None else config.device
        self.device = resolve_device(device)
        self.model = model.to(self.device)  # before the optimisers and DDP see the parameters
        self.cfg = with_model_epochs(config, type(model))
        self.run_dir = Path(run_dir) if run_dir else None
        self.validate = validate
        self.callbacks = list(callbacks)
        self.generator = torch.Generator().manual_seed(config.seed)
        # --- distributed: batch order from the shared generator, negatives from a per-rank one, losses via DDP
        self.distributed = distributed
        self.sample_generator = self.generator
        self._loss: Callable[[str, torch.Tensor, torch.Generator], torch.Tensor] = model.loss
        if distributed is not None:
            from gaussea.distributed.ddp import DistributedLoss

            blocker = model.data_parallel_blocker() if distributed.world_size > 1 else None
            if blocker:
                raise ValueError(blocker)

            self.sample_generator = distributed.rank_generator(config.seed)
            self._loss = DistributedLoss(model, distributed)
        # --- end distributed
        names = model.loss_names()
        if not names:  # a training-free model: nothing to optimise (Adam refuses an empty parameter list)
            self.optimisers = {}
        elif config.optimiser_per_loss:
            self.optimisers = {name: self._optimiser() for name in names}
        else:
            shared = self._optimiser()
            self.optimisers = {name: shared for name in names}
        self.state = TrainState()
        self._best_params: dict | None = None
        self._weights_only = False  # resumed from a finished run's model.pt: nothing to train, nothing to save

    def _optimiser(self) -> torch.optim.Optimizer:
        """The model's own optimiser if it prescribes one (:meth:`AlignmentModel.make_optimiser`), else Adam."""
        own = self.model.make_optimiser()
        return own if own is not None else self._adam()

    def _adam(self) -> torch.optim.Optimizer:
        """Adam with parameter groups: variances get ``var_lr_mult`` x lr, the common table ``common_lr_mult`` x;
        with ``optimiser="lazy_adam"`` the embedding tables' rows are updated lazily (gaussea.optim)."""
        tables = {id(p) for m in self.model.modules() if isinstance(m, GaussianTable) for p in m.parameters()}
        named = list(self.model.named_parameters())
        lazy = self.cfg.optimiser in ("lazy_adam", "lazy_common")
        common_only = self.cfg.optimiser == "lazy_common"
        lr = self.cfg.lr
        groups = []
        for is_var in (False, True):
            for is_common in (False, True):
                for is_table in (False, True):
                    params = [p for n, p in named if n.endswith(".var") == is_var
                              and n.startswith("common.") == is_common and (id(p) in tables) == is_table]
                    if params:
                        mult = ((self.cfg.var_lr_mult if is_var else 1.0)
                                * (self.cfg.common_lr_mult if is_common else 1.0))
                        row_lazy = lazy and is_table and (is_common or not common_only)
                        groups.append({"params": params, "lr": lr * mult, "lazy": row_lazy})
        if lazy:
            return LazyAdam(groups, lr=lr)
        for group in groups:
            del group["lazy"]
        fused = fused_adam_supported(p for _, p in named)  # one pass per table, not ~7 (gaussea.optim)
        return torch.optim.Adam(groups, lr=lr, fused=fused or None)

    # --- epochs ---------------------------------------------------------------------------------
    @property
    def total_epochs(self) -> int:
        """One-stage models train for the same total budget as two-stage ones (a fair comparison); a model with
        no losses trains for none."""
        if not self.model.loss_names():
            return 0
        return self.base_epochs + self.cfg.iterative_rounds * self.cfg.iterative_epochs

    @property
    def base_epochs(self) -> int:
        """The epochs before any iterative bootstrapping round."""
        return self.cfg.stage1_epochs + self.cfg.stage2_epochs

    def bootstraps_before(self, epoch: int) -> bool:
        """Whether a bootstrapping round opens 1-based ``epoch``: the first after the base epochs, then every
        ``iterative_epochs`` (a function of the epoch alone, so a resumed run and every replica agree)."""
        after = epoch - 1 - self.base_epochs
        return after >= 0 and after % self.cfg.iterative_epochs == 0 and after // self.cfg.iterative_epochs < \
            self.cfg.iterative_rounds

    def stage_of(self, epoch: int) -> int:
        """Stage of 1-based ``epoch``: the first ``stage1_epochs`` are stage 1 for two-stage models."""
        if self.model.num_stages == 1:
            return 1
        return 1 if epoch <= self.cfg.stage1_epochs else 2

    def run_epoch(self, epoch: int) -> dict[str, float]:
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
        if self.distributed is not None:  # distributed: log the mean over ranks (each saw its shard)
            losses = self.distributed.mean_of(losses)
        return losses

    def batches(self, name: str) -> list[torch.Tensor]:
        """Item indices of each step of loss ``name`` in this epoch (shuffled with the run's generator).

        Distributed: every rank draws the same batches (same generator, same seed) and keeps its shard of each.
        """
        full = self._full_batches(name)
        return full if self.distributed is None else [self.distributed.shard_batch(b) for b in full]

    def _full_batches(self, name: str) -> list[torch.Tensor]:
        """The model's plan for this epoch's steps of loss ``name`` (:mod:`gaussea.schedules`): the trainer itself
        never looks at loss names."""
        return self.model.epoch_batches(name, self.cfg, self.generator)

    def fit(self, resume: bool = False) -> TrainState:
        """Train to the configured epochs (or resume from the checkpoint first).

        Sets glibc's allocator to keep freed memory for reuse (:func:`gaussea.memory.keep_freed_memory`, for the
        whole process: every model's steps reuse their large temporaries instead of page-faulting fresh ones; a
        no-op without glibc or where the user set glibc's malloc variables).
        """
        keep_freed_memory()
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        if resume:
            self._resume()
        self.model.before_training()
        total = self.total_epochs
        main = self.distributed is None or self.distributed.is_main
        bar = tqdm(total=total, initial=self.state.epoch, disable=not (self.cfg.progress and main and total),
                   desc="train", unit="epoch", dynamic_ncols=True)
        while self.state.epoch < total and not (self.state.stopped_early or self.state.budget_exhausted):
            epoch = self.state.epoch + 1
            t0 = time.perf_counter()
            added = None
            if self.bootstraps_before(epoch):
                self.model.eval()
                added = bootstrap_round(self.model)
            losses = self.run_epoch(epoch)
            seconds = time.perf_counter() - t0
            record: dict = {"epoch": epoch, "stage": self.stage_of(epoch), "seconds": seconds, "loss": losses}
            if added is not None:
                record["bootstrapped_pairs"] = added
            self.state.epoch = epoch
            self.state.train_seconds += seconds
            if self.cfg.max_seconds is not None and self.state.train_seconds >= self.cfg.max_seconds:
                self.state.budget_exhausted = True
            if self.distributed is not None:  # distributed: rank 0's clock decides, or ranks would part ways
                self.state.budget_exhausted = self.distributed.broadcast_object(self.state.budget_exhausted)
            if self.validate and self.cfg.eval_every and epoch % self.cfg.eval_every == 0:
                record["valid_mrr"] = self._evaluate_and_track(epoch)
            self.state.log.append(record)
            for callback in self.callbacks:
                callback.on_epoch(record)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()})
            bar.update(1)
            if self.run_dir and self.cfg.checkpoint_every and epoch % self.cfg.checkpoint_every == 0:
                self.save()
        bar.close()
        if self.state.stopped_early and self._best_params is not None:
            self.model.load_state_dict(self._best_params)
        if self.run_dir and not self._weights_only:
            self.save()
            self.save_final()
        return self.state

    def _evaluate_and_track(self, epoch: int) -> float:
        score = float(self.validate())  # type: ignore[misc]
        st = self.state
        if st.best_score is None or score > st.best_score:
            st.best_score, st.best_epoch, st.evals_without_improvement = score, epoch, 0
            self._best_params = copy.deepcopy(self.model.state_dict())
        else:
            st.evals_without_improvement += 1
            if self.cfg.patience and st.evals_without_improvement >= self.cfg.patience:
                st.stopped_early = True
        return score

    # --- checkpoints ----------------------------------------------------------------------------
    def save(self) -> None:
        assert self.run_dir is not None
        extra = {}
        if self.distributed is not None:  # distributed: every rank's negative stream, written by rank 0 only
            extra["sample_generators"] = self.distributed.all_gather_object(self.sample_generator.get_state())
            if not self.distributed.is_main:
                return
        state = {
            "model": self.model.state_dict(),
            "optimisers": {k: v.state_dict() for k, v in self._distinct_optimisers().items()},
            "generator": self.generator.get_state(),
            "trainer": self._counters(),
            "best_params": self._best_params,
            **extra,
        }
        # The log first: a kill before the checkpoint leaves records past it, which resume drops.
        lines = "".join(json.dumps(r) + "\n" for r in self.state.log)
        atomic_write_text(self.run_dir / LOG_NAME, lines)
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, state)

    def save_final(self) -> None:
        """``model.pt`` (+ ``.sha256``): the trained weights and the trainer's counters, without the optimiser
        state, generator states, best-validation copy and negative-sampling lists that only resuming needs (a
        fraction of the checkpoint's size). What a finished run keeps once its checkpoint is removed: every
        command that reads a finished run loads it, and ``--resume`` on a finished run re-evaluates it."""
        assert self.run_dir is not None
        if self.distributed is not None and not self.distributed.is_main:
            return
        save_checkpoint(self.run_dir / FINAL_MODEL_NAME, {"model": final_state_dict(self.model),
                                                          "trainer": self._counters()})

    def _counters(self) -> dict:
        return {k: v for k, v in vars(self.state).items() if k != "log"}

    def _distinct_optimisers(self) -> dict[str, torch.optim.Optimizer]:
        """Each optimiser once, under the first loss that uses it (a shared one is saved once)."""
        out: dict[str, torch.optim.Optimizer] = {}
        for name, opt in self.optimisers.items():
            if all(o is not opt for o in out.values()):
                out[name] = opt
        return out

    def _resume(self) -> None:
        assert self.run_dir is not None
        path = self.run_dir / CHECKPOINT_NAME
        if not path.exists():
            if (self.run_dir / FINAL_MODEL_NAME).exists():
                self._resume_finished(self.run_dir / FINAL_MODEL_NAME)
            return
        ckpt = load_checkpoint(path)
        self.model.load_state_dict(ckpt["model"])
        for name, opt in self._distinct_optimisers().items():
            opt.load_state_dict(ckpt["optimisers"][name])
        self.generator.set_state(ckpt["generator"])
        streams = ckpt.get("sample_generators") or []
        if self.distributed is not None and len(streams) == self.distributed.world_size:
            self.sample_generator.set_state(streams[self.distributed.rank])
        for k, v in ckpt["trainer"].items():
            setattr(self.state, k, v)
        self._best_params = ckpt.get("best_params")
        self._resume_log()

    def _resume_finished(self, path: Path) -> None:
        """Resume a finished run whose checkpoint was removed: its final weights, and nothing left to train.

        Training further would need the optimiser state the checkpoint held, so a configuration asking for more
        epochs than the run finished is refused (``CheckpointError`` naming the file) rather than silently
        restarted with fresh optimiser moments.
        """
        final = load_final_weights(self.model, path)
        for k, v in final["trainer"].items():
            setattr(self.state, k, v)
        st = self.state
        if st.epoch < self.total_epochs and not (st.stopped_early or st.budget_exhausted):
            raise CheckpointError(f"{path}: the run finished after {st.epoch} epochs and its checkpoint was removed, "
                                  f"so it cannot continue to {self.total_epochs}; start it again with --overwrite "
                                  "(with --keep-checkpoint a finished run can be extended later)")
        self._weights_only = True
        self._resume_log()

    def _resume_log(self) -> None:
        assert self.run_dir is not None
        log_path = self.run_dir / LOG_NAME
        if log_path.exists():
            records = [json.loads(x) for x in log_path.read_text(encoding="utf-8").splitlines() if x.strip()]
            self.state.log = [r for r in records if r["epoch"] <= self.state.epoch]
        self.model.set_stage(self.stage_of(max(self.state.epoch, 1)))
