"""The numerical encoder's settings, a part of the own parameters of every model that encodes numbers with it.

The RBF + CNN encoder (:class:`gaussea.modalities.numerical.NumericEncoder`, MMEA's) is read by the paper's model,
MMEA (the same code) and IMUSE, and by no other model, so its settings are not shared config fields but options of
those models: their params dataclasses extend :class:`NumericEncoderParams`, and ``model.options`` sets them
(``--set model.options.numeric_norm=quantile``). Saved runs that had them as ``model.numeric_norm`` /
``model.rbf_width`` / ``model.cnn_channels`` are read through :mod:`gaussea.config_migration`.

Kept free of torch so that reading a run's settings builds no model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from gaussea.config_fields import Allowed, above, at_least, check_fields, one_of

# Repeated from gaussea.models.model_builders' readers so that reading a config imports no model (a test keeps them
# equal to the models whose params extend NumericEncoderParams).
NUMERIC_ENCODER_MODEL_NAMES = ("gaussian", "mmea", "imuse")
NUMERIC_NORMS = ("zscore", "minmax", "quantile")
OPTIONS_SECTION = "model.options"


@dataclass(frozen=True)
class NumericEncoderParams:
    """How numerical triples ``(attribute, value)`` become vectors (DESIGN.md §1; docs/paper-model.md)."""

    # The paper: values "normalised by attribute name". zscore (default) | minmax | quantile (ours: the mid-rank per
    # attribute, robust to heavy tails; it did not make the numerical space align FB15K*-DB15K either,
    # bench/results/tuning/2026-11-24-s3/README.md).
    numeric_norm: str = "zscore"
    rbf_width: float = 0.25  # ours: sigma of the RBF kernels, in normalised units
    cnn_channels: int = 8  # ours: channels of the small CNN over (attribute, RBF) rows

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "numeric_norm": one_of(*NUMERIC_NORMS), "rbf_width": above(0), "cnn_channels": at_least(1),
    }

    def __post_init__(self) -> None:
        check_fields(self, OPTIONS_SECTION, type(self).ALLOWED)
