"""How L_csl weighs the spaces: ``csl_weights`` per modality and ``csl_unit_modal_means`` (ours, off by default)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gaussea.config import ModelConfig, RunConfig
from gaussea.gaussian import kl
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair


def _inputs() -> AlignmentInputs:
    cfg = RunConfig()
    cfg.data.options = {"num_entities": 300, "num_types": 4}
    pair = load_pair(cfg)
    return AlignmentInputs.build(pair, choose_split(cfg, pair))


def _reference_csl(model, idx: torch.Tensor, weights: dict[str, float], unit: bool) -> torch.Tensor:
    """L_csl written out term by term from the tables, independently of the model's loss code."""
    m, s = model.common.mean[idx], model.common.var[idx]
    rel_mean = F.normalize(model.rel_ent.mean[idx], dim=-1)
    total = weights["r"] * kl(m, s, rel_mean, model.rel_ent.var[idx])
    for key, table, has in (("v", model.vis_ent, model.has_image), ("n", model.num_ent, model.has_number)):
        mean = F.normalize(table.mean[idx], dim=-1) if unit else table.mean[idx]
        total = total + weights[key] * kl(m, s, mean, table.var[idx]) * has[idx]
    return total.mean()


@pytest.mark.parametrize("model_name", ["gaussian", "mmea"])
@pytest.mark.parametrize(("given", "weights", "unit"), [
    (None, {"r": 1.0, "v": 1.0, "n": 1.0}, False),  # the default: the paper's plain sum
    ({"r": 1.0, "v": 0.25, "n": 2.0}, {"r": 1.0, "v": 0.25, "n": 2.0}, False),
    ({"n": 3.0}, {"r": 1.0, "v": 1.0, "n": 3.0}, False),  # a missing key means weight 1
    ({"r": 0.5, "v": 1.0, "n": 0.0}, {"r": 0.5, "v": 1.0, "n": 0.0}, True)])
def test_csl_is_the_weighted_sum_of_its_kl_terms(model_name: str, given: dict | None, weights: dict[str, float],
                                                 unit: bool) -> None:
    inputs = _inputs()
    config = ModelConfig(common_init_std=0.1, csl_unit_modal_means=unit)
    if given is not None:
        config.csl_weights = given
    model = build_model(model_name, inputs, config, torch.Generator().manual_seed(0))
    idx = torch.arange(inputs.num_entities)
    with torch.no_grad():
        got = model.loss("csl", idx, torch.Generator().manual_seed(1))
        want = _reference_csl(model, idx, weights, unit)
    assert torch.allclose(got, want, rtol=1e-5)


def test_unit_means_in_csl_leave_the_numerical_loss_alone() -> None:
    """csl_unit_modal_means normalises inside L_csl only: L_num (and the space the numerical ranking reads) keep
    the raw means, unlike unit_modal_means."""
    inputs = _inputs()
    torch.manual_seed(0)  # the encoders' layers draw their initial weights from the global generator
    plain = build_model("gaussian", inputs, ModelConfig(), torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    unit = build_model("gaussian", inputs, ModelConfig(csl_unit_modal_means=True), torch.Generator().manual_seed(0))
    rows = torch.arange(min(200, unit.num_items("num")))
    with torch.no_grad():
        assert torch.equal(plain.loss("num", rows, torch.Generator().manual_seed(1)),
                           unit.loss("num", rows, torch.Generator().manual_seed(1)))
        left, _ = unit.space_embeddings()["numerical"]
    assert not torch.allclose(left.mean.norm(dim=1), torch.ones(len(left.mean)))


@pytest.mark.parametrize("weights", [{"x": 1.0}, {"n": -1.0}, {"n": "half"}, {"v": True}])
def test_bad_csl_weights_are_rejected(weights: dict) -> None:
    with pytest.raises(ValueError, match="csl_weights"):
        ModelConfig(csl_weights=weights)


def test_weights_can_be_set_from_the_command_line() -> None:
    from gaussea.cli import apply_overrides

    cfg = RunConfig().to_dict()
    apply_overrides(cfg, ["model.csl_weights.n=0.5", "model.csl_unit_modal_means=true"])
    run = RunConfig.from_dict(cfg)
    assert run.model.csl_weights == {"r": 1.0, "v": 1.0, "n": 0.5} and run.model.csl_unit_modal_means is True
