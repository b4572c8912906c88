"""What the trainer needs from a model, so every model (ours and the baselines) shares one training loop.

A model exposes named losses that the trainer updates *in turn*, one full pass each per epoch (MMEA's
alternating scheme, which the paper follows). For loss ``name`` the trainer draws mini-batches of item
indices in ``range(num_items(name))`` and calls ``loss(name, idx, generator)``; after each optimiser step it
calls ``after_step(name)`` for projections and clamps. Models with several stages (ours: means first, then
variances) switch behaviour in ``set_stage``. A model with no losses (``loss_names() == []``, e.g. the
training-free label propagation) gets no optimiser and no epoch; it computes its embedding in
``before_training``.

Devices: a model is built on the CPU (its random initialisation draws from the CPU generator, so it starts from
the same numbers whatever device trains it) and then moved with ``model.to(device)``. Everything a loss indexes
lives in a parameter, a buffer, a submodule or ``self.inputs``, and ``to`` moves all four (``_apply`` below);
the trainer hands ``loss`` indices on the model's device. Random draws stay on the CPU generator the trainer
passes in and are moved to the device after drawing, so they do not depend on the device either.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from gaussea.config import ModelConfig, TrainConfig
from gaussea.embeddings import Embeddings
from gaussea.models.inputs import AlignmentInputs
from gaussea.schedules import shuffled_batches


class AlignmentModel(nn.Module, ABC):
    """Base class of every alignment model trained by :class:`gaussea.train.Trainer`."""

    num_stages: int = 1
    # (stage 1, stage 2) epochs when ``train.stage1_epochs`` / ``stage2_epochs`` are null (see TrainConfig).
    default_epochs: tuple[int, int] = (40, 20)
    # Whether the model implements ``model.negative_sampling = "truncated"`` (it mixes in
    # :class:`gaussea.models.truncated.TruncatedNegatives`); :func:`gaussea.models.build_model` refuses the setting
    # for the others.
    supports_truncated_negatives: bool = False
    # Whether the model can take pairs proposed from its own predictions between epochs (iterative bootstrapping,
    # ``train.iterative_rounds``): it implements :meth:`add_seed_pairs`. The run refuses the setting for the others.
    supports_bootstrapping: bool = False

    @classmethod
    def check_options(cls, config: ModelConfig) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError`` (one line) if the model would refuse ``config.options``: called before a run loads
        its data, so that a bad option costs no loading time. Default: checked only when the model is built."""

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> AlignmentModel:
        """``nn.Module._apply`` (behind ``to`` / ``cuda`` / ``cpu``), extended to the model's ``inputs``.

        The losses index ``self.inputs`` (image features, numerical triples, seed pairs), which is not a module:
        without this, ``model.to("cuda")`` would leave them on the CPU and the first loss would mix devices.
        The inputs are replaced by a converted copy; the caller's :class:`AlignmentInputs` is not touched.
        """
        super()._apply(fn, recurse)
        inputs = self.__dict__.get("inputs")
        if isinstance(inputs, AlignmentInputs):
            self.inputs = inputs.apply(fn)
        return self

    @abstractmethod
    def loss_names(self) -> list[str]:
        """Active losses, in update order."""

    @abstractmethod
    def num_items(self, name: str) -> int:
        """How many items (triples, pairs, entities...) one pass of loss ``name`` covers."""

    @abstractmethod
    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The scalar loss ``name`` on the items ``idx``."""

    def after_step(self, name: str) -> None:  # noqa: B027 - optional hook
        """Projections / clamps after an optimiser step for loss ``name``."""

    def set_stage(self, stage: int) -> None:  # noqa: B027 - optional hook
        """Switch to training stage ``stage`` (1-based)."""

    def before_training(self) -> None:  # noqa: B027 - optional hook
        """Called once by :meth:`gaussea.train.Trainer.fit` before the first epoch (also when resuming).

        A training-free model (no losses: the trainer then runs no epoch) computes its embedding here, so that
        the cost is reported as the run's training time; it must also compute it on demand in
        :meth:`entity_embeddings`, for a model rebuilt from its run directory without training.
        """

    def before_epoch(self, epoch: int) -> None:  # noqa: B027 - optional hook
        """Called at the start of 1-based ``epoch``, after :meth:`set_stage`: per-epoch state (e.g. the
        neighbour lists of truncated negative sampling). Must depend only on the model's state and ``epoch``,
        so that every data-parallel replica, and a resumed run, computes the same."""

    def epoch_batches(self, name: str, cfg: TrainConfig, generator: torch.Generator) -> list[torch.Tensor]:
        """Item indices of each step of loss ``name`` in one epoch, drawn from ``generator``.

        Default: one shuffled pass in batches of :meth:`batch_size` (or ``train.batch_size``). Models whose losses
        are paced by another override it (:func:`gaussea.schedules.relationally_paced_batches`).
        """
        own = self.batch_size(name)
        return shuffled_batches(self.num_items(name), cfg.batch_size if own is None else own, generator)

    def known_pairs(self) -> torch.Tensor:
        """Global-id pairs bootstrapping must not propose again: the seed pairs and any added before."""
        return self.inputs.train_pairs

    def add_seed_pairs(self, pairs: torch.Tensor) -> None:
        """Train on ``pairs`` (global ids, ``(p, 2)``) too from now on, and keep them in the model's state (a resumed
        run continues with them). Only models with ``supports_bootstrapping``."""
        raise NotImplementedError(f"the {type(self).__name__} model cannot take bootstrapped pairs")

    def batch_size(self, name: str) -> int | None:
        """Items per step of loss ``name`` when the model fixes it (None: the trainer's ``TrainConfig`` decides).

        ``train.batch_size`` counts triples; a model whose items are something else (seed pairs of a full-graph
        encoder, where the batch size is part of the method) names its own here.
        """
        return None

    def make_optimiser(self) -> torch.optim.Optimizer | None:
        """The optimiser the model's method prescribes (None: the trainer's Adam at ``train.lr``).

        A model that returns one carries its own learning rate (an option of the model), documented there:
        ``train.lr`` and the shared Adam then do not apply to it.
        """
        return None

    def data_parallel_blocker(self) -> str | None:
        """Why this model cannot train with its batches sharded over several processes (None: it can).

        Data parallelism keeps replicas identical by averaging gradients; a model that writes parameters outside
        the optimiser from its own shard would let them drift apart, so the trainer refuses it up front.
        """
        return None

    @abstractmethod
    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        """Left and right entity representations used for alignment (evaluation and retrieval)."""

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        """Per-space (modality) left / right embeddings, for diagnostics; the final space by default."""
        return {}

    def variance_report(self) -> dict[str, np.ndarray]:
        """Per-entity mean variance for each space (empty for point-embedding models)."""
        return {}
