"""Alignment models by name. A new model is one module plus one entry in :func:`model_builders`."""

from __future__ import annotations

from collections.abc import Callable

import torch

from gaussea.config import ModelConfig
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs

ModelBuilder = Callable[[AlignmentInputs, ModelConfig, torch.Generator], AlignmentModel]


def model_builders() -> dict[str, ModelBuilder]:
    from gaussea.models.gaussian_csl import GaussianCommonSpace
    from gaussea.models.gcn_align import GCNAlign
    from gaussea.models.imuse import IMUSE
    from gaussea.models.iptranse import IPTransE
    from gaussea.models.mmea import MMEA
    from gaussea.models.mtranse import MTransE
    from gaussea.models.sea import SEA
    from gaussea.models.transe import TransE

    return {
        "gaussian": GaussianCommonSpace,
        "mmea": MMEA,
        "transe": TransE,
        "mtranse": MTransE,
        "iptranse": IPTransE,
        "sea": SEA,
        "gcn_align": GCNAlign,
        "imuse": IMUSE,
    }


def build_model(name: str, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator
                ) -> AlignmentModel:
    builders = model_builders()
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(builders)}")
    return builders[name](inputs, config, generator)
