"""The epoch loop shared by every model: alternating losses, stages, checkpoints, resume, early stopping.

Each epoch runs one full pass of each of the model's losses in turn (MMEA's alternating updates), with one
Adam shared by all losses (``optimiser_per_loss`` gives each loss its own, as MMEA's code does; see
TrainConfig for why that is not the default), shuffled mini-batches
drawn from a seeded generator. Everything a resumed run needs — model, optimisers, the batch generator's
state, epoch and stage, best validation state — is in the checkpoint, so ``--resume`` continues exactly
where the last checkpoint left off and reaches the same final parameters as an uninterrupted run.

Early stopping looks only at the validation slice (carved out of non-train links, never test links).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from gaussea.checkpoint import load_checkpoint, save_checkpoint
from gaussea.config import TrainConfig
from gaussea.ioutil import atomic_write_text
from gaussea.loggers import EpochLogger
from gaussea.models.base import AlignmentModel

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.jsonl"
# Losses whose items are entities (or one image row each): far fewer items than triples, so they take smaller
# batches; otherwise the common space gets one optimiser step per epoch and barely moves.
ENTITY_LEVEL_LOSSES = frozenset({"vis", "csl"})


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_score: float | None = None
    best_epoch: int | None = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    budget_exhausted: bool = False
    train_seconds: float = 0.0  # wall-clock spent in epochs so far (summed over resumed sessions)
    log: list[dict] = field(default_factory=list)


class Trainer:
    def __init__(
        self,
        model: AlignmentModel,
        config: TrainConfig,
        run_dir: Path | None = None,
        validate: Callable[[], float] | None = None,
        callbacks: Sequence[EpochLogger] = (),
    ) -> None:
        self.model = model
        self.cfg = config
        self.run_dir = Path(run_dir) if run_dir else None
        self.validate = validate
        self.callbacks = list(callbacks)
        self.generator = torch.Generator().manual_seed(config.seed)
        names = model.loss_names()
        if config.optimiser_per_loss:
            self.optimisers = {name: self._adam() for name in names}
        else:
            shared = self._adam()
            self.optimisers = {name: shared for name in names}
        self.state = TrainState()
        self._best_params: dict | None = None

    def _adam(self) -> torch.optim.Adam:
        """Adam with a larger learning rate for variance parameters (``var_lr_mult``)."""
        named = list(self.model.named_parameters())
        variances = [p for n, p in named if n.endswith(".var")]
        others = [p for n, p in named if not n.endswith(".var")]
        groups = [{"params": others, "lr": self.cfg.lr}]
        if variances:
            groups.append({"params": variances, "lr": self.cfg.lr * self.cfg.var_lr_mult})
        return torch.optim.Adam(groups, lr=self.cfg.lr)

    # --- epochs ---------------------------------------------------------------------------------
    @property
    def total_epochs(self) -> int:
        """One-stage models train for the same total budget as two-stage ones (a fair comparison)."""
        return self.cfg.stage1_epochs + self.cfg.stage2_epochs

    def stage_of(self, epoch: int) -> int:
        """Stage of 1-based ``epoch``: the first ``stage1_epochs`` are stage 1 for two-stage models."""
        if self.model.num_stages == 1:
            return 1
        return 1 if epoch <= self.cfg.stage1_epochs else 2

    def run_epoch(self, epoch: int) -> dict[str, float]:
        self.model.set_stage(self.stage_of(epoch))
        self.model.train()
        losses: dict[str, float] = {}
        for name in self.model.loss_names():
            opt = self.optimisers[name]
            total, steps = 0.0, 0
            for idx in self.batches(name):
                opt.zero_grad(set_to_none=True)
                loss = self.model.loss(name, idx, self.generator)
                loss.backward()
                opt.step()
                self.model.after_step(name)
                total += float(loss.detach())
                steps += 1
            losses[name] = total / max(steps, 1)
        return losses

    def batches(self, name: str) -> list[torch.Tensor]:
        """Item indices of each step of loss ``name`` in this epoch (shuffled with the run's generator)."""
        n = self.model.num_items(name)
        names = self.model.loss_names()
        if name == "ac" and self.cfg.ac_steps == "match_rel" and "rel" in names and n:
            steps = max(1, -(-self.model.num_items("rel") // self.cfg.batch_size))
            size = max(1, n // steps)
            return [torch.randint(n, (size,), generator=self.generator) for _ in range(steps)]
        size = self.cfg.entity_batch_size if name in ENTITY_LEVEL_LOSSES else self.cfg.batch_size
        order = torch.randperm(n, generator=self.generator)
        return list(order.split(size)) if n else []

    def fit(self, resume: bool = False) -> TrainState:
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        if resume:
            self._resume()
        total = self.total_epochs
        bar = tqdm(total=total, initial=self.state.epoch, disable=not self.cfg.progress, desc="train",
                   unit="epoch", dynamic_ncols=True)
        while self.state.epoch < total and not (self.state.stopped_early or self.state.budget_exhausted):
            epoch = self.state.epoch + 1
            t0 = time.perf_counter()
            losses = self.run_epoch(epoch)
            seconds = time.perf_counter() - t0
            record: dict = {"epoch": epoch, "stage": self.stage_of(epoch), "seconds": seconds, "loss": losses}
            self.state.epoch = epoch
            self.state.train_seconds += seconds
            if self.cfg.max_seconds is not None and self.state.train_seconds >= self.cfg.max_seconds:
                self.state.budget_exhausted = True
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
        if self.run_dir:
            self.save()
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
        state = {
            "model": self.model.state_dict(),
            "optimisers": {k: v.state_dict() for k, v in self._distinct_optimisers().items()},
            "generator": self.generator.get_state(),
            "trainer": {k: v for k, v in vars(self.state).items() if k != "log"},
            "best_params": self._best_params,
        }
        # The log first: a kill before the checkpoint leaves records past it, which resume drops.
        lines = "".join(json.dumps(r) + "\n" for r in self.state.log)
        atomic_write_text(self.run_dir / LOG_NAME, lines)
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, state)

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
            return
        ckpt = load_checkpoint(path)
        self.model.load_state_dict(ckpt["model"])
        for name, opt in self._distinct_optimisers().items():
            opt.load_state_dict(ckpt["optimisers"][name])
        self.generator.set_state(ckpt["generator"])
        for k, v in ckpt["trainer"].items():
            setattr(self.state, k, v)
        self._best_params = ckpt.get("best_params")
        log_path = self.run_dir / LOG_NAME
        if log_path.exists():
            records = [json.loads(x) for x in log_path.read_text(encoding="utf-8").splitlines() if x.strip()]
            self.state.log = [r for r in records if r["epoch"] <= self.state.epoch]
        self.model.set_stage(self.stage_of(max(self.state.epoch, 1)))
