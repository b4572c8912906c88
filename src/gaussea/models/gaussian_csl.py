"""The paper's model: Gaussian modality embeddings integrated in a Gaussian common space (paper §3).

Per entity: a common-space Gaussian ``N(mu_e, s_e)`` and one Gaussian per modality (relational, visual,
numerical). Five losses, updated in turn each epoch (MMEA's scheme): ``rel`` (KG2E margin ranking), ``vis`` and
``num`` (each modal Gaussian towards its encodings), ``csl`` (the common Gaussian towards every modal one) and ``ac``
(seed pairs together); their formulas are in :mod:`gaussea.models.gaussian_losses`.
Two stages: stage 1 learns means with every variance fixed at ``var_init``; stage 2 frees the variances and
clamps them to ``[var_min, var_max]`` after each step. Relational entity means are read on the unit sphere
(OpenEA / MMEA's ``ent_l2_norm``; KG2E's ball projection aligned far worse on synthetic data).

The model composes parts with one job each (in the spirit of PyKEEN's representations + interactions):

- :class:`~gaussea.models.gaussian_spaces.GaussianSpaces`: the Gaussian tables and how the losses read them;
- :class:`~gaussea.models.modal_encoders.ModalEncoders`: pictures and numbers to vectors;
- :mod:`~gaussea.models.gaussian_losses`: the losses, a name -> loss mapping built once;
- :class:`~gaussea.models.gaussian_stages.StageSchedule`: which variances and loss behaviours each stage switches on;
- :mod:`~gaussea.models.gaussian_diagnostics`: embeddings per space and the variance report.

The model's own settings (``var_init``, ``margin``, ``modal_means``, ...) are ``model.options``, parsed into
:class:`~gaussea.models.gaussian_params.GaussianCSLParams`; the shared ``model.*`` fields give the dimension,
modalities, negatives and their sampling, the exchange strategy and the numerical encoder's input.

``modal_means = "encoder"`` (ours, off by default) makes ``mu_e^v`` / ``mu_e^n`` the average encoding of the
entity's own pictures / numerical triples instead of a free parameter, and drops ``L_vis`` / ``L_num`` (with tied
means they would only pull an entity's encodings together, which a constant encoder satisfies): ``L_csl`` trains
the encoders towards the common space and sets the modal variances, so the gap a modal variance measures is the
gap between the evidence itself and the common mean. (The tables' mean rows then go unused.)
``modal_variance_update = "closed_form"`` (ours, off by default) sets each visual / numerical variance of an
``L_csl`` batch to ``L_csl``'s minimiser over it before the step, instead of leaving it to Adam, whose normalised
steps move every variance at the same rate whatever its evidence (measured: BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from gaussea.config import ModelConfig, TrainConfig
from gaussea.embeddings import Embeddings
from gaussea.models import gaussian_diagnostics as diagnostics
from gaussea.models.base import AlignmentModel
from gaussea.models.gaussian_losses import LossStep, build_losses
from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.models.gaussian_spaces import GaussianSpaces
from gaussea.models.gaussian_stages import StageSchedule
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.options import resolve_params
from gaussea.models.truncated import TruncatedNegatives
from gaussea.schedules import RelationallyPaced, relationally_paced_batches, shuffled_batches


class GaussianCommonSpace(TruncatedNegatives, RelationallyPaced, AlignmentModel):
    """The spaces, the losses and the stage schedule, composed behind the trainer's protocol.

    The tables and encoders are registered under their historical names (``common``, ``rel_ent``, ...,
    ``image_encoder``), so the ``model.pt`` and checkpoints of earlier runs load, and the trainer's optimiser groups
    (which read ``common.*`` and ``*.var``) are what they were. The losses are the child ``losses``, whose buffers are
    all non-persistent (no state-dict keys).
    """

    num_stages = 2

    @classmethod
    def check_options(cls, config: ModelConfig) -> None:
        resolve_params(GaussianCSLParams(), config)

    @classmethod
    def stage_schedule(cls, params: GaussianCSLParams) -> StageSchedule:
        """The model's stage schedule: two stages, variances freed in the second (MMEA overrides it)."""
        return StageSchedule(params, num_stages=cls.num_stages)

    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: GaussianCSLParams | None = None) -> None:
        super().__init__()
        self.cfg = config
        self.params = resolve_params(GaussianCSLParams(), config, params)
        self.inputs = inputs
        self.spaces = GaussianSpaces(inputs, config, self.params, generator)
        for name, module in self.spaces.named_modules():
            self.add_module(name, module)
        self.init_truncated_negatives(config, inputs, corrupts_entities=self.spaces.relational is not None)
        self.schedule = self.stage_schedule(self.params)
        self.losses = nn.ModuleDict(build_losses(self.spaces, config, self.params, self.schedule))
        self.set_stage(1)

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> GaussianCommonSpace:
        """A device move replaces ``self.inputs`` by a moved copy (:meth:`AlignmentModel._apply`): the spaces, which
        the losses read the inputs through, take the copy too."""
        super()._apply(fn, recurse)
        self.spaces.inputs = self.inputs
        return self

    # --- the trainer protocol -------------------------------------------------------------------
    def loss_names(self) -> list[str]:
        return list(self.losses)

    def num_items(self, name: str) -> int:
        return self.losses[name].num_items()

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.losses[name](LossStep(idx, generator, self.stage, self.neighbour_lists))

    def after_step(self, name: str) -> None:
        self.spaces.clamp_()

    def set_stage(self, stage: int) -> None:
        self.stage = self.schedule.stage(stage)
        self.schedule.apply(self.spaces, self.stage)

    def epoch_batches(self, name: str, cfg: TrainConfig, generator: torch.Generator) -> list[torch.Tensor]:
        """L_csl's steps are this model's (``entity_batch_size`` / ``stage2_csl_steps``, see
        :class:`GaussianCSLParams`): ``entity_batch_size`` entities a step, except where the stage schedule paces it
        like the others by the relational loss (:meth:`StageSchedule.csl_paced_by_rel`)."""
        if name == "csl" and not self.schedule.csl_paced_by_rel(self.stage, "rel" in self.losses):
            return shuffled_batches(self.num_items(name), self.params.entity_batch_size, generator)
        return relationally_paced_batches(self, name, cfg, generator)

    def neighbour_embedding(self) -> torch.Tensor:
        """Truncated negatives replace an entity by a neighbour under the relational means."""
        return self.spaces.relational.mean  # type: ignore[union-attr]

    def data_parallel_blocker(self) -> str | None:
        if self.params.modal_variance_update == "closed_form":
            return ("model.options.modal_variance_update='closed_form' sets each rank's shard of modal variances "
                    "outside the optimiser, so replicas would diverge: use 'gradient' or train in one process")
        return None

    # --- what the model shows -------------------------------------------------------------------
    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        return diagnostics.entity_embeddings(self.spaces)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        return diagnostics.space_embeddings(self.spaces)

    def variance_report(self) -> dict[str, np.ndarray]:
        return diagnostics.variance_report(self.spaces)
