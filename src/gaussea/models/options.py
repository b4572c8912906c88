"""Per-baseline hyper-parameters: one small frozen dataclass per model, defaults from its paper or OpenEA.

:class:`gaussea.config.ModelConfig` holds the knobs every model shares (``dim``, ``negatives``, ``exchange``,
``modalities``, the negative sampling). What only one baseline has (GCN-Align's channel weight, SEA's degree split,
IPTransE's bootstrapping schedule, ...) lives in that baseline's own dataclass, so ``ModelConfig`` does not grow
a field per method; what a few models share lives in a params dataclass theirs extend (the numerical encoder's:
:class:`~gaussea.models.encoder_params.NumericEncoderParams`). Defaults are the published (or OpenEA) values where
those exist and are marked "ours" otherwise; no value was tuned on any benchmark (same, zero, tuning effort for
every baseline).

Overrides come from ``ModelConfig.options``, a flat ``{"field": value}`` mapping for the one model a run trains.
Unknown keys are an error, not silently ignored, with one exception: the paper model's options
(:class:`~gaussea.models.gaussian_params.GaussianCSLParams`) are ignored by the models that do not read them.
Presets are shared by every model (``--preset fb15k-db15k --model transe``; ``gaussea reproduce`` trains every
model of a table with its dataset's preset), and the dataset presets carry the paper model's tunings for it, as
the shared fields those options replaced did. A name both the paper model and another model use (``margin``,
``var_max``) is read by each from the same key: a preset that sets one (``evidence-variances``) is a preset of the
paper's model.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from gaussea.config import ModelConfig
from gaussea.models.gaussian_params import option_names as paper_option_names

P = TypeVar("P")


def model_options(config: ModelConfig) -> dict[str, Any]:
    """The override mapping of ``config``."""
    return dict(config.options)


def unknown_options(options: Mapping[str, Any], names: Collection[str]) -> list[str]:
    """The keys of ``options`` that a model reading ``names`` must refuse: neither its own nor the paper model's
    (see the module docstring)."""
    return sorted(set(options) - set(names) - paper_option_names())


def resolve_params(defaults: P, config: ModelConfig, override: P | None = None) -> P:
    """``override`` if given, else ``defaults`` updated from ``config``'s options (unknown keys raise)."""
    if override is not None:
        return override
    options = model_options(config)
    names = {f.name for f in fields(defaults)}  # type: ignore[arg-type]
    unknown = unknown_options(options, names)
    if unknown:
        kind = type(defaults).__name__
        raise ValueError(f"unknown {kind} option(s) {unknown}; valid: {sorted(names)}")
    return replace(defaults, **{k: v for k, v in options.items() if k in names})  # type: ignore[type-var]


def require_relations(config: ModelConfig, model: str, what: str) -> None:
    """``ValueError`` unless ``r`` is among the modalities: for models that read only the relational triples, a
    run without them would silently align nothing."""
    if "r" not in config.modalities:
        raise ValueError(f"the {model} model {what} the relational triples: model.modalities must include 'r', "
                         f"got {list(config.modalities)}")
