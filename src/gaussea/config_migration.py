"""Run configs saved before settings moved or were removed, read in today's shape.

A run directory's ``config.json`` records every setting of its day, so the runs committed under ``bench/results``
and users' own run directories carry keys that are no longer fields: settings of some models only, which moved
from the shared sections into those models' ``model.options`` (the paper model's:
:class:`gaussea.models.gaussian_params.GaussianCSLParams`; the numerical encoder's, read by the paper model, MMEA
and IMUSE: :class:`gaussea.models.encoder_params.NumericEncoderParams`), and settings that were removed (ablations
that lost, knobs nothing used; their results stay in the experiment records). :func:`migrate_config` maps such a
config to today's, so that ``gaussea report``, ``evaluate``, ``explain``, ``reproduce --render-only`` and
``run --resume`` read it as it ran:

- a moved key of a run of a model that reads it goes to ``model.options`` (dropped where it holds its former
  default, which is also today's: the options then stay the ones the run chose); any other model never read it,
  so there it is dropped whatever it holds;
- a removed key holding its former default is dropped (the behaviour it selected is the one that remains);
- a removed key holding anything else is refused in one line naming the file and the key: the run asked for
  behaviour that gaussea no longer has, and reading it as if it had not would misreport it.

The tables below are history (the keys and defaults of the old schema), so they never change with today's
defaults; a test keeps the moved keys' defaults equal to their params dataclasses'. A config a user writes now
(``--config``, ``--set``) is not migrated: an old key there is refused, naming its new home
(:func:`check_no_retired_keys`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from gaussea.config_fields import show

# Repeated from gaussea.models.gaussian_params / encoder_params so that reading a config imports no model (a test
# keeps them equal).
PAPER_MODEL_NAMES = ("gaussian", "mmea")
NUMERIC_ENCODER_MODEL_NAMES = ("gaussian", "mmea", "imuse")
# Where model_name is missing, the run built RunConfig's default model (gaussea.config.RunConfig.model_name).
DEFAULT_MODEL_NAME = "gaussian_fusion"

# (section, key) -> the default it had, for the paper model's settings now read from model.options.
MOVED_TO_PAPER_MODEL: dict[tuple[str, str], Any] = {
    ("model", "var_init"): 0.5, ("model", "var_min"): 0.5, ("model", "var_max"): 50.0,
    ("model", "image_var"): 0.5, ("model", "numeric_var"): 0.5, ("model", "margin"): 1.0,
    ("model", "unit_modal_means"): False, ("model", "modal_means"): "free",
    ("model", "modal_variance_update"): "gradient", ("model", "numeric_negatives"): 0,
    ("model", "symmetric_ac"): False, ("model", "free_common_variance"): True,
    ("model", "free_relational_variance"): True, ("model", "common_init_std"): 0.0,
    ("train", "entity_batch_size"): 4096, ("train", "stage2_csl_steps"): "match_rel",
}
# The same for the numerical encoder's settings, now options of the models that encode numbers with it.
MOVED_TO_NUMERIC_ENCODER: dict[tuple[str, str], Any] = {
    ("model", "numeric_norm"): "zscore", ("model", "rbf_width"): 0.25, ("model", "cnn_channels"): 8,
}
# Each moved key with its default and the models that read it now.
MOVED: dict[tuple[str, str], tuple[Any, tuple[str, ...]]] = {
    **{key: (default, PAPER_MODEL_NAMES) for key, default in MOVED_TO_PAPER_MODEL.items()},
    **{key: (default, NUMERIC_ENCODER_MODEL_NAMES) for key, default in MOVED_TO_NUMERIC_ENCODER.items()},
}
# (section, key) -> the default it had, which is the only behaviour left, for the settings that were removed.
REMOVED: dict[tuple[str, str], Any] = {
    ("model", "unit_means"): True, ("model", "max_norm"): 1.0, ("model", "standardise_images"): True,
    ("model", "csl_unit_modal_means"): False, ("model", "csl_weights"): {"r": 1.0, "v": 1.0, "n": 1.0},
    ("train", "var_lr_mult"): 1.0, ("train", "common_lr_mult"): 1.0, ("train", "optimiser_per_loss"): False,
    ("train", "ac_steps"): "match_rel", ("data", "split_seed"): 0,
    # Lost: torch's dense Adam and row-lazy Adam on every table (gaussea.training.optimisers).
    ("train", "optimiser"): "lazy_common",
    # Never varied: now constants (gaussea.models.tables.MEAN_INIT_STD, DEFAULT_SINKHORN_ITERATIONS).
    ("model", "init_std"): 0.1, ("eval", "sinkhorn_iterations"): 15,
}


def _same(value: Any, default: Any) -> bool:
    """Equal as JSON values (``1`` and ``1.0`` alike, as the config checks read them; ``true`` is not ``1``)."""
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return bool(value == default)


def migrate_config(config: dict[str, Any], source: str) -> dict[str, Any]:
    """``config`` (a saved run config, as JSON) in today's shape; ``source`` names it in errors (its path).

    Raises ``ValueError`` (one line: source, key, value) for a removed setting that holds a non-default value and
    for a moved one that ``model.options`` already sets differently.
    """
    out = copy.deepcopy(config)
    model_name = out.get("model_name", DEFAULT_MODEL_NAME)
    for (section, key), default in REMOVED.items():
        values = out.get(section)
        if isinstance(values, dict) and key in values:
            value = values.pop(key)
            if not _same(value, default):
                raise ValueError(f"{source}: {section}.{key}={show(value)} asks for a setting gaussea no longer has "
                                 f"(removed; only its former default {show(default)} remains)")
    for (section, key), (default, readers) in MOVED.items():
        values = out.get(section)
        if not (isinstance(values, dict) and key in values):
            continue
        value = values.pop(key)
        if model_name not in readers or _same(value, default):
            continue
        model = out.setdefault("model", {})
        options = model.get("options")
        options = model["options"] = dict(options) if isinstance(options, dict) else {}
        if key in options and not _same(options[key], value):
            raise ValueError(f"{source}: {section}.{key}={show(value)} and model.options.{key}="
                             f"{show(options[key])} disagree (the setting is now model.options.{key})")
        options[key] = value
    return out


def read_saved_config(path: Path) -> dict[str, Any]:
    """A run directory's ``config.json`` (``path``), migrated; a file that is not JSON is a ``ValueError`` naming
    it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a run config is a table of sections, got {show(data)}")
    return migrate_config(data, str(path))


def retired_key_note(section: str, key: str) -> str | None:
    """Where a retired key went, in words (None for a key that never existed): for the error a new config gets."""
    if (section, key) in MOVED:
        readers = MOVED[section, key][1]
        owner = "the paper's model" if readers == PAPER_MODEL_NAMES else f"the models {', '.join(readers)}"
        return f"{section}.{key} is now model.options.{key} (a setting of {owner})"
    if (section, key) in REMOVED:
        return f"{section}.{key} was removed (only its former default {show(REMOVED[section, key])} remains)"
    return None


def check_no_retired_keys(config: dict[str, Any]) -> None:
    """``ValueError`` naming the new home of every retired key in ``config`` (a config being written now)."""
    notes = [note for section, values in config.items() if isinstance(values, dict)
             for key in values if (note := retired_key_note(section, key))]
    if notes:
        raise ValueError("; ".join(notes) + " (a saved run's config.json is migrated: gaussea.config_migration)")
