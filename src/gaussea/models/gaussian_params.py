"""The paper model's own settings (``gaussian`` and ``mmea``): ``model.options`` parsed into :class:`GaussianCSLParams`.

They live here and not in the shared :class:`~gaussea.config.ModelConfig` because no other model reads them (the
rule of :mod:`gaussea.models.options`); the numerical encoder's settings, which IMUSE reads too, are inherited from
:class:`~gaussea.models.encoder_params.NumericEncoderParams`. Every default is the paper's value where the paper
gives one, else ours, marked so; each "ours" choice cites the measurement that kept it (the losing alternatives were
removed; their records stay under ``bench/results``). Kept apart from the model's code so that reading a run's settings
(``gaussea explain``, ``report``) builds no model.

Set with ``--set model.options.<name>=<value>`` or a preset's ``[model.options]`` table. A bad value is one line
naming ``model.options.<name>``, as for any config field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from gaussea.config_fields import Allowed, above, at_least, check_fields, one_of, show
from gaussea.models.encoder_params import OPTIONS_SECTION, NumericEncoderParams

# The models that read these options: the paper's model and MMEA, the same code with its variances frozen.
PAPER_MODEL_NAMES = ("gaussian", "mmea")
MODAL_MEANS = ("free", "encoder")
MODAL_VARIANCE_UPDATES = ("gradient", "closed_form")
STAGE2_CSL_STEPS = ("match_rel", "batch")


@dataclass(frozen=True)
class GaussianCSLParams(NumericEncoderParams):
    """Constants and choices of the Gaussian common-space model (paper §3, DESIGN.md §1; docs/paper-model.md), and
    its numerical encoder's (:class:`NumericEncoderParams`)."""

    var_init: float = 0.5  # paper §4.3: every variance starts at 0.5
    var_min: float = 0.5  # paper §4.3: C_min
    var_max: float = 50.0  # paper §4.3: C_max
    image_var: float = 0.5  # paper §3.2.2: Sigma_i fixed at 0.5
    numeric_var: float = 0.5  # paper §3.2.3: Sigma_n fixed at 0.5
    margin: float = 1.0  # ours: gamma of L_rel is not given in the paper
    # Symmetric L_ac, KL(e1||e2) + KL(e2||e1), instead of the paper's KL(e1||e2).
    symmetric_ac: bool = False
    # What an entity's visual / numerical mean is (ours; the paper leaves it open). "free": a per-entity parameter
    # pulled towards its rows' encodings by L_vis / L_num (the paper's losses read literally). "encoder": the average
    # encoding of the entity's own pictures / numerical triples, so only the modal variance is per-entity; L_vis /
    # L_num are then dropped (a constant encoder would satisfy them) and L_csl trains the encoders. "free" stays the
    # default: on FB15K*-DB15K R+N "encoder" leaves the numerical space untrained (0.3 % H@1; BENCHMARKS.md); the
    # evidence-variances preset uses "encoder".
    modal_means: str = "free"
    # Visual / numerical means read through an L2 normalisation (ours). False is better where measured (FB15K*-DB15K
    # R+N 8.91 vs 5.21 % test H@1, synthetic 6.68 vs 4.88 %; bench/results/model/HISTORY.md); the evidence-variances
    # preset sets it with "encoder" means.
    unit_modal_means: bool = False
    # How stage 2 learns the visual / numerical variances (ours). "gradient": Adam, like every parameter.
    # "closed_form": before each L_csl step the batch's modal variances are set to L_csl's minimiser over them,
    # s_e + (mu_e^m - mu_e)^2, clamped to [var_min, var_max] — Adam's normalised steps move every variance at the
    # same rate whatever its evidence (BENCHMARKS.md). Used by the evidence-variances preset.
    modal_variance_update: str = "gradient"
    # Corrupted (entity, attribute, value) triples per numerical triple (ours; the paper's L_num has none): each puts
    # a same-graph entity with numbers in place of the owner and adds softplus(-KL) (OpenEA / MMEA's logistic loss).
    numeric_negatives: int = 0
    # Stage 2 frees the common-space variances (the paper). Freed, L_ac ratchets them up (its optimum over s2 is
    # s1 + gap^2); kept at var_init, FB15K*-DB15K fell from 2.7 % to 0.1 % test H@1 (BENCHMARKS.md).
    free_common_variance: bool = True
    # Stage 2 frees the relational (KG2E) variances too (the paper). The fb15k-db15k preset keeps them at var_init
    # (1.5 points better there); on D-Y-15K-V1 the paper's choice is better (25.2 vs 24.1 %).
    free_relational_variance: bool = True
    # Std of the normal init of the common-space means (ours: 0, so L_csl moves each straight towards its modal
    # means; D-Y-15K-V1 common test H@1 at 10 epochs 0.115 vs 0.109 with the modal init 0.1).
    common_init_std: float = 0.0
    # Entities per step of L_csl (ours). With one shared Adam a loss's number of steps per epoch is its weight:
    # 256 per step pinned the relational means to the common ones (D-Y-15K-V1 relational test H@1 0.02 at 10
    # epochs), 4096 left them free (0.125; bench/results/tuning/2026-11-24).
    entity_batch_size: int = 4096
    # L_csl's steps in stage 2 (ours). "match_rel": as many as L_rel takes, so gradient sizes, not step counts,
    # balance a modal variance between L_csl and its own loss. "batch": entity_batch_size, as in stage 1 (the
    # fb15k-db15k preset: 10.43 -> 11.05 % test H@1 there, split 0).
    stage2_csl_steps: str = "match_rel"

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        **NumericEncoderParams.ALLOWED,
        "var_init": above(0), "var_min": above(0), "var_max": above(0), "image_var": above(0),
        "numeric_var": above(0), "margin": at_least(0), "modal_means": one_of(*MODAL_MEANS),
        "modal_variance_update": one_of(*MODAL_VARIANCE_UPDATES), "numeric_negatives": at_least(0),
        "common_init_std": at_least(0), "entity_batch_size": at_least(1),
        "stage2_csl_steps": one_of(*STAGE2_CSL_STEPS),
    }

    def __post_init__(self) -> None:
        check_fields(self, OPTIONS_SECTION, self.ALLOWED)
        if not self.var_min <= self.var_init <= self.var_max:
            raise ValueError(f"{OPTIONS_SECTION}.var_min={show(self.var_min)}, "
                             f"{OPTIONS_SECTION}.var_init={show(self.var_init)}, "
                             f"{OPTIONS_SECTION}.var_max={show(self.var_max)}: need var_min <= var_init <= var_max")

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> GaussianCSLParams:
        """The params of an options mapping, ignoring the keys that are not this model's (another model's options)."""
        names = option_names()
        return cls(**{k: v for k, v in options.items() if k in names})


def option_names() -> frozenset[str]:
    """The names :class:`GaussianCSLParams` reads from ``model.options``."""
    return frozenset(f.name for f in fields(GaussianCSLParams))


def paper_model_params(config: Mapping[str, Any]) -> GaussianCSLParams:
    """The paper model's settings of a saved run config (a dict): its options for ``gaussian`` / ``mmea``, the
    defaults for any other model (which has none of these constants)."""
    if config.get("model_name") not in PAPER_MODEL_NAMES:
        return GaussianCSLParams()
    return GaussianCSLParams.from_options(config.get("model", {}).get("options") or {})
