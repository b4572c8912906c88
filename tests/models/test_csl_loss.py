"""L_csl is the paper's plain sum of one KL term per space the entity has, each with weight 1."""

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


def _reference_csl(model, inputs: AlignmentInputs, idx: torch.Tensor) -> torch.Tensor:
    """L_csl written out term by term from the tables, independently of the model's loss code."""
    m, s = model.common.mean[idx], model.common.var[idx]
    rel_mean = F.normalize(model.rel_ent.mean[idx], dim=-1)
    total = kl(m, s, rel_mean, model.rel_ent.var[idx])
    for table, has in ((model.vis_ent, inputs.has_images()), (model.num_ent, inputs.has_numbers())):
        total = total + kl(m, s, table.mean[idx], table.var[idx]) * has[idx]
    return total.mean()


@pytest.mark.parametrize("model_name", ["gaussian", "mmea"])
def test_csl_is_the_sum_of_its_kl_terms(model_name: str) -> None:
    inputs = _inputs()
    config = ModelConfig(options={"common_init_std": 0.1})  # common means off zero, so every term counts
    model = build_model(model_name, inputs, config, torch.Generator().manual_seed(0))
    idx = torch.arange(inputs.num_entities)
    with torch.no_grad():
        got = model.loss("csl", idx, torch.Generator().manual_seed(1))
        want = _reference_csl(model, inputs, idx)
    assert torch.allclose(got, want, rtol=1e-5)
