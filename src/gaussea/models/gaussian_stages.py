"""The paper model's stage schedule: what each training stage switches on.

Stage 1 learns means with every variance fixed at ``var_init``; stage 2 frees the variances (paper §4.3), except
those the model's options keep fixed (``free_common_variance``, ``free_relational_variance``) and the modal ones a
closed-form update sets instead (``modal_variance_update = "closed_form"``, which
:class:`~gaussea.models.gaussian_losses.CommonSpaceLoss` applies in stage 2 only). Every loss is active in both
stages; what else changes is ``L_csl``'s steps in stage 2 (``stage2_csl_steps``). MMEA is the same model with one
stage and no variance ever freed (:func:`points`).

Kept apart from the losses and the tables so that "what is trained when" reads in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.models.gaussian_spaces import GaussianSpaces
from gaussea.models.tables import GaussianTable


@dataclass(frozen=True)
class StageSchedule:
    """``num_stages`` stages; ``frees_variances`` False keeps every variance at ``var_init`` in all of them."""

    params: GaussianCSLParams
    num_stages: int = 2
    frees_variances: bool = True

    def stage(self, requested: int) -> int:
        """The stage the model is in when the trainer asks for ``requested`` (a one-stage schedule stays in 1)."""
        return min(requested, self.num_stages)

    def variances_trained(self, spaces: GaussianSpaces, stage: int) -> list[GaussianTable]:
        """The tables whose variances the optimiser trains in ``stage``."""
        if not self.frees_variances or stage < 2:
            return []
        fixed: list[GaussianTable | None] = []
        if not self.params.free_common_variance:
            fixed.append(spaces.common)
        if not self.params.free_relational_variance:
            fixed += [spaces.relational, spaces.relation]
        if self.assigns_modal_variances(stage):
            fixed += spaces.modal_tables()
        return [t for t in spaces.tables() if not any(t is f for f in fixed)]

    def apply(self, spaces: GaussianSpaces, stage: int) -> None:
        """Make exactly the variances of :meth:`variances_trained` trainable."""
        trained = self.variances_trained(spaces, stage)
        for table in spaces.tables():
            table.set_variance_trainable(any(table is t for t in trained))

    def assigns_modal_variances(self, stage: int) -> bool:
        """Whether ``L_csl`` sets the batch's modal variances to its minimiser before each step in ``stage``."""
        return self.frees_variances and stage >= 2 and self.params.modal_variance_update == "closed_form"

    def csl_paced_by_rel(self, stage: int, has_relational: bool) -> bool:
        """Whether ``L_csl`` takes as many steps as ``L_rel`` in ``stage`` (else ``entity_batch_size`` entities a
        step): in stage 2 with ``stage2_csl_steps = "match_rel"``, when there is a relational loss."""
        return stage >= 2 and self.params.stage2_csl_steps == "match_rel" and has_relational


def points(params: GaussianCSLParams) -> StageSchedule:
    """MMEA's schedule: one stage, every variance frozen at ``var_init`` (points)."""
    return StageSchedule(params, num_stages=1, frees_variances=False)
