"""Alignment models by name. A new model is one module plus one entry in :func:`model_builders`.

A plain dict on purpose, not a class-resolver ``ClassResolver`` (PyKEEN's choice): its keys are normalised
class names (``gaussiancommonspace``, ``labelpropagation``, ``gcnalign``), so keeping the names that configs,
run directories and results use needs synonyms, and its ``make(name, kwargs)`` has nothing to do when every
builder takes the same ``(inputs, config, generator)``. See docs/architecture.md, "Hand-written on purpose".
"""

from __future__ import annotations

import json
from collections.abc import Callable

import torch

from gaussea.config import ModelConfig
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs

ModelBuilder = Callable[[AlignmentInputs, ModelConfig, torch.Generator], AlignmentModel]


def model_builders() -> dict[str, ModelBuilder]:
    from gaussea.models.gaussian_csl import GaussianCommonSpace
    from gaussea.models.gaussian_fusion import GaussianFusion
    from gaussea.models.gcn_align import GCNAlign
    from gaussea.models.graph_encoder import GraphEncoder
    from gaussea.models.imuse import IMUSE
    from gaussea.models.iptranse import IPTransE
    from gaussea.models.mmea import MMEA
    from gaussea.models.mtranse import MTransE
    from gaussea.models.propagation import LabelPropagation
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
        "propagation": LabelPropagation,
        "graph_encoder": GraphEncoder,
        "gaussian_fusion": GaussianFusion,
    }


def check_model_name(name: str) -> None:
    """Refuse a ``model_name`` no builder answers to (``ValueError``), e.g. before a run loads any data."""
    builders = model_builders()
    if name not in builders:
        raise ValueError(f"model_name={json.dumps(name)}: unknown model; known: {', '.join(builders)}")


def check_model_config(name: str, config: ModelConfig) -> None:
    """Refuse an unknown model, or ``model.options`` that model refuses (``ValueError``, one line), before a run
    loads any data (:meth:`AlignmentModel.check_options`)."""
    check_model_name(name)
    builder = model_builders()[name]
    if isinstance(builder, type) and issubclass(builder, AlignmentModel):
        builder.check_options(config)


def build_model(name: str, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                device: torch.device | str | None = None) -> AlignmentModel:
    """Model ``name`` built on the CPU, then moved (parameters, buffers and inputs) to ``device`` if given.

    Building on the CPU whatever the device keeps a model's starting point a function of the seed alone: the
    initialisation draws from the CPU ``generator`` and every table derived from the inputs (exchanged
    triples, sorted filter keys, paths) is computed by the same CPU code.
    """
    check_model_name(name)
    builders = model_builders()
    if config.negative_sampling != "uniform" and not getattr(builders[name], "supports_truncated_negatives", False):
        able = ", ".join(n for n, b in builders.items() if getattr(b, "supports_truncated_negatives", False))
        raise ValueError(f"model.negative_sampling={config.negative_sampling!r} is implemented for {able} only, "
                         f"not {name!r}: use model.negative_sampling='uniform'")
    model = builders[name](inputs.to("cpu"), config, generator)
    return model if device is None else model.to(device)
