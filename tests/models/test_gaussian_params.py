"""The paper model's own settings: ``model.options`` parsed into GaussianCSLParams, and ignored by the models that do
not read them (presets are shared by every model). Bad values: tests/reliability/test_config_checks.py."""

from __future__ import annotations

from dataclasses import fields

import pytest
import torch

from gaussea.config import ModelConfig, RunConfig
from gaussea.data.splits import make_split
from gaussea.data.synthetic import load_synthetic
from gaussea.models import build_model
from gaussea.models.gaussian_params import GaussianCSLParams, option_names
from gaussea.models.inputs import AlignmentInputs
from gaussea.presets import load_preset, merge_sections, preset_config, preset_names


def _inputs() -> AlignmentInputs:
    pair = load_synthetic(num_entities=120)
    return AlignmentInputs.build(pair, make_split(pair.links, 0.3, seed=0))


def _other_models_options() -> set[str]:
    """Every option name of a model other than the paper's (its own params dataclasses)."""
    from gaussea.models.gaussian_fusion import GaussianFusionParams
    from gaussea.models.gcn_align import GCNAlignParams
    from gaussea.models.graph_encoder import GraphEncoderParams
    from gaussea.models.imuse import IMUSEParams
    from gaussea.models.iptranse import IPTransEParams
    from gaussea.models.mtranse import MTransEParams
    from gaussea.models.propagation import PropagationParams
    from gaussea.models.sea import SEAParams
    from gaussea.models.transe import TransEParams

    classes = (GaussianFusionParams, GCNAlignParams, GraphEncoderParams, IMUSEParams, IPTransEParams, MTransEParams,
               PropagationParams, SEAParams, TransEParams)
    return {f.name for cls in classes for f in fields(cls)}


@pytest.mark.parametrize("model_name", ["gaussian", "mmea"])
def test_options_reach_the_model(model_name: str) -> None:
    options = {"var_init": 0.25, "var_min": 0.25, "margin": 2.0, "numeric_negatives": 2, "symmetric_ac": True}
    model = build_model(model_name, _inputs(), ModelConfig(options=options), torch.Generator().manual_seed(0))
    assert model.params == GaussianCSLParams(**options)
    assert float(model.common.var[0, 0]) == 0.25  # the tables start at the given variance


@pytest.mark.parametrize("model_name", ["gaussian", "mmea", "imuse"])
def test_numeric_encoder_options_reach_the_encoder(model_name: str) -> None:
    """``model.options.numeric_norm`` / ``rbf_width`` / ``cnn_channels``: the numerical encoder's, read by every
    model that encodes numbers with it (gaussea.models.encoder_params)."""
    options = {"numeric_norm": "minmax", "rbf_width": 0.6, "cnn_channels": 3}
    model = build_model(model_name, _inputs(), ModelConfig(dim=16, modalities=("r", "n"), options=options),
                        torch.Generator().manual_seed(0))
    encoder = model.encoder if model_name == "imuse" else model.spaces.encoders.numeric
    assert (encoder.how, encoder.conv1.out_channels) == ("minmax", 3)
    assert encoder.sigma == pytest.approx(0.6 / 6)  # minmax: rbf_width in units of the full range / 6


@pytest.mark.parametrize(("model_name", "option", "value", "message"), [
    ("imuse", "numeric_norm", "log", 'model.options.numeric_norm="log": must be one of "zscore", "minmax", '
                                     '"quantile"'),
    ("imuse", "cnn_channels", 0, "model.options.cnn_channels=0: must be an integer >= 1"),
    ("gaussian", "rbf_width", 0, "model.options.rbf_width=0: must be a number > 0"),
    ("mmea", "cnn_channels", 2.5, "model.options.cnn_channels=2.5: must be an integer >= 1"),
])
def test_bad_numeric_encoder_options_are_one_line_naming_the_option(model_name: str, option: str, value: object,
                                                                    message: str) -> None:
    with pytest.raises(ValueError) as info:
        build_model(model_name, _inputs(), ModelConfig(options={option: value}), torch.Generator().manual_seed(0))
    assert str(info.value) == message


def test_other_models_ignore_the_paper_models_options_but_not_unknown_ones() -> None:
    """A dataset preset carries the paper model's tunings; ``--preset fb15k-db15k --model transe`` must train."""
    cfg = preset_config("fb15k-db15k")
    assert cfg.model.options  # the preset's stage-2 choices for the paper's model
    for name in ("transe", "gaussian_fusion"):
        build_model(name, _inputs(), cfg.model, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"unknown TransEParams option\(s\) \['nonsense'\]"):
        build_model("transe", _inputs(), ModelConfig(options={"nonsense": 1}), torch.Generator().manual_seed(0))


def test_dataset_presets_set_no_option_another_model_would_read() -> None:
    """The paper model's options are read by any model with an option of that name; the presets every model runs
    with (all but the paper model's own evidence-variances) must not set such a name."""
    others = _other_models_options()
    for name in set(preset_names()) - {"evidence-variances"}:
        options = set(load_preset(name).get("model", {}).get("options", {}))
        assert options <= option_names() and not options & others, (name, options & others)


def test_preset_options_are_merged_not_replaced() -> None:
    """A preset's [model.options] adds to those of the preset it extends, and a config file's to the preset's."""
    assert preset_config("fb15k-db15k-long").model.options == preset_config("fb15k-db15k").model.options
    base = RunConfig().to_dict()
    merge_sections(base, load_preset("fb15k-db15k"))
    merge_sections(base, {"model": {"options": {"margin": 2.0}}})  # a --config file
    assert RunConfig.from_dict(base).model.options == {
        "free_relational_variance": False, "stage2_csl_steps": "batch", "margin": 2.0}
