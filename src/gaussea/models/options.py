"""Per-baseline hyper-parameters: one small frozen dataclass per model, defaults from its paper or OpenEA.

:class:`gaussea.config.ModelConfig` holds the knobs every model shares (``dim``, ``negatives``, ``init_std``,
``exchange``, ``modalities``). What only one baseline has (GCN-Align's channel weight, SEA's degree split,
IPTransE's bootstrapping schedule, ...) lives in that baseline's own dataclass, so ``ModelConfig`` does not grow
a field per method. Defaults are the published (or OpenEA) values where those exist and are marked "ours"
otherwise; no value was tuned on any benchmark (same, zero, tuning effort for every baseline).

Overrides come from a ``dict`` on the model config: ``ModelConfig.options`` when that field exists (a flat
``{"field": value}`` mapping for the one model a run trains). Unknown keys are an error, not silently ignored.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, TypeVar

from gaussea.config import ModelConfig

P = TypeVar("P")


def model_options(config: ModelConfig) -> dict[str, Any]:
    """The override mapping of ``config`` (empty while ``ModelConfig`` has no ``options`` field)."""
    options = getattr(config, "options", None)
    return dict(options or {})


def resolve_params(defaults: P, config: ModelConfig, override: P | None = None) -> P:
    """``override`` if given, else ``defaults`` updated from ``config``'s options (unknown keys raise)."""
    if override is not None:
        return override
    options = model_options(config)
    names = {f.name for f in fields(defaults)}  # type: ignore[arg-type]
    unknown = sorted(set(options) - names)
    if unknown:
        kind = type(defaults).__name__
        raise ValueError(f"unknown {kind} option(s) {unknown}; valid: {sorted(names)}")
    return replace(defaults, **options)  # type: ignore[type-var]


def require_relations(config: ModelConfig, model: str, what: str) -> None:
    """``ValueError`` unless ``r`` is among the modalities: for models that read only the relational triples, a
    run without them would silently align nothing."""
    if "r" not in config.modalities:
        raise ValueError(f"the {model} model {what} the relational triples: model.modalities must include 'r', "
                         f"got {list(config.modalities)}")
