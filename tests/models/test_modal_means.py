"""``modal_means = "encoder"``: an entity's visual / numerical mean is the average encoding of its own rows."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.config import ModelConfig, RunConfig
from gaussea.gaussian import kl
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.owners import RowsByOwner
from gaussea.runner import choose_split, load_pair


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 9), max_size=40), st.lists(st.integers(0, 9), min_size=1, max_size=12))
def test_rows_by_owner_matches_a_loop(owner: list[int], entities: list[int]) -> None:
    grouping = RowsByOwner(torch.tensor(owner, dtype=torch.long), 10)
    rows, segment = grouping.rows(torch.tensor(entities))
    got = sorted(zip(segment.tolist(), rows.tolist(), strict=True))
    want = sorted((i, r) for i, e in enumerate(entities) for r, o in enumerate(owner) if o == e)
    assert got == want
    values = torch.randn(len(rows), 3, dtype=torch.float64)
    means = grouping.segment_mean(values, segment, torch.tensor(entities))
    for i in range(len(entities)):
        picked = values[segment == i]
        expected = picked.mean(0) if len(picked) else torch.zeros(3, dtype=torch.float64)
        assert torch.allclose(means[i], expected)


def _options(**options: object) -> ModelConfig:
    """A model config whose ``model.options`` (the paper model's own settings) are ``options``."""
    return ModelConfig(options=options)


def _inputs() -> AlignmentInputs:
    cfg = RunConfig()
    cfg.data.options = {"num_entities": 300, "num_types": 4}
    pair = load_pair(cfg)
    return AlignmentInputs.build(pair, choose_split(cfg, pair))


@pytest.mark.parametrize("model_name", ["gaussian", "mmea"])
def test_encoder_modal_means_are_the_average_encoding(model_name: str) -> None:
    inputs = _inputs()
    model = build_model(model_name, inputs, _options(modal_means="encoder"), torch.Generator().manual_seed(0))
    with torch.no_grad():
        encoded_images = model.image_encoder(inputs.image_features)
        entity = int(inputs.image_owner[inputs.image_owner < inputs.num_left][0])  # a left entity with pictures
        expected = encoded_images[inputs.image_owner == entity].mean(0)
        ids = torch.tensor([entity, entity])
        mean, _ = model.spaces.modal("vis", ids)
        assert torch.allclose(mean[0], expected, atol=1e-6) and torch.allclose(mean[1], expected, atol=1e-6)
        owner = int(inputs.num_entity[0])
        rows = torch.nonzero(inputs.num_entity == owner).flatten()
        expected_num = model.spaces.encode("num", rows).mean(0)
        assert torch.allclose(model.spaces.modal("num", torch.tensor([owner]))[0][0], expected_num, atol=1e-6)
        visual_left, _ = model.space_embeddings()["visual"]
        assert torch.allclose(visual_left.mean[entity], expected, atol=1e-6)


def test_common_space_loss_trains_the_encoders_not_the_free_means() -> None:
    """With encoder means L_csl reaches the image and numerical encoders; the tables' mean rows get no gradient."""
    inputs = _inputs()
    for modal_means, reaches_encoders in (("encoder", True), ("free", False)):
        model = build_model("gaussian", inputs, _options(modal_means=modal_means, common_init_std=0.1),
                            torch.Generator().manual_seed(0))
        model.zero_grad(set_to_none=True)
        model.loss("csl", torch.arange(inputs.num_entities), torch.Generator().manual_seed(1)).backward()
        encoder_grads = [p.grad for p in (*model.image_encoder.parameters(), *model.numeric_encoder.parameters())
                         if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in encoder_grads) == reaches_encoders
        assert (model.vis_ent.mean.grad is not None) == (not reaches_encoders)


def test_unknown_modal_means_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"model\.options\.modal_means=\"tied\": must be one of"):
        build_model("gaussian", _inputs(), _options(modal_means="tied"),
                    torch.Generator().manual_seed(0))


def test_encoder_means_drop_the_modal_losses() -> None:
    """Tied means make L_vis / L_num a pull of an entity's encodings together (a constant encoder wins): dropped."""
    inputs = _inputs()
    free = build_model("gaussian", inputs, ModelConfig(), torch.Generator().manual_seed(0))
    tied = build_model("gaussian", inputs, _options(modal_means="encoder"), torch.Generator().manual_seed(0))
    assert {"vis", "num"} <= set(free.loss_names())
    assert set(tied.loss_names()) == set(free.loss_names()) - {"vis", "num"}


def test_closed_form_variances_are_the_csl_minimiser() -> None:
    """In stage 2 an L_csl step first sets each batch entity's modal variance to s_e + (mu_e^m - mu_e)^2, clamped;
    numerically that is where the gradient of KL(N_e || N_e^m) with respect to the modal variance vanishes."""
    inputs = _inputs()
    config = _options(modal_means="encoder", modal_variance_update="closed_form", common_init_std=0.1,
                      var_init=1e-4, var_min=1e-4, var_max=0.5)
    model = build_model("gaussian", inputs, config, torch.Generator().manual_seed(0))
    model.set_stage(2)
    assert not model.vis_ent.var.requires_grad and not model.num_ent.var.requires_grad
    idx = torch.arange(40)
    with torch.no_grad():
        common_mean, common_var = model.common.lookup(idx)
        vis_mean, _ = model.spaces.modal("vis", idx)
    model.loss("csl", idx, torch.Generator().manual_seed(1))
    expected = (common_var + (vis_mean - common_mean) ** 2).clamp(1e-4, 0.5)
    assert torch.allclose(model.vis_ent.var[idx], expected)
    assert torch.all(model.vis_ent.var[40:] == 1e-4)  # rows outside the batch untouched
    # the minimiser: d/d(log s) KL(N(m, s_c) || N(v, s)) = 0 at the assigned s where not clamped (the log-scale
    # derivative, 1/2 (1 - optimum / s), is free of the 1/s factor that magnifies float32 rounding of tiny s)
    s = model.vis_ent.var[idx].clone().double().requires_grad_(True)
    kl(common_mean.double(), common_var.double(), vis_mean.double(), s).sum().backward()
    inside = (expected > 1e-4) & (expected < 0.5)
    assert inside.any() and float((s.grad * s.detach())[inside].abs().max()) < 1e-5


def test_gradient_variance_update_leaves_variances_to_the_optimiser() -> None:
    inputs = _inputs()
    model = build_model("gaussian", inputs, _options(modal_means="encoder"), torch.Generator().manual_seed(0))
    model.set_stage(2)
    assert model.vis_ent.var.requires_grad
    before = model.vis_ent.var.detach().clone()
    model.loss("csl", torch.arange(40), torch.Generator().manual_seed(1))
    assert torch.equal(model.vis_ent.var.detach(), before)


def test_evidence_variances_preset_trains_and_moves_the_visual_variances(tmp_path) -> None:
    """The preset end to end on a small synthetic pair: both stages run, the visual variances leave their floor
    and stay in range, and the common space aligns far better than chance."""
    from gaussea.presets import preset_config
    from gaussea.runner import run

    cfg = preset_config("evidence-variances")
    cfg.data.options = {"num_entities": 300, "num_types": 4}
    cfg.train.stage1_epochs, cfg.train.stage2_epochs, cfg.train.progress = 8, 4, False
    result = run(cfg, tmp_path / "run")
    var = result.model.vis_ent.var.detach()[result.model.inputs.has_images()]
    params = result.model.params
    assert float(var.min()) >= params.var_min and float(var.max()) <= params.var_max
    assert float(var.mean()) > 2 * params.var_min  # moved off the floor
    queries = result.metrics["test"]["test_candidates"]["num_candidates"]
    assert result.metrics["test"]["test_candidates"]["hits@10"] > 3 * 10 / queries


def test_closed_form_variances_are_refused_under_data_parallelism() -> None:
    """Each rank would set a different shard of variances outside the optimiser: replicas would drift apart."""
    from gaussea.config import TrainConfig
    from gaussea.distributed import DistContext
    from gaussea.train import Trainer

    inputs = _inputs()
    closed = build_model("gaussian", inputs, _options(modal_variance_update="closed_form"),
                         torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="closed_form"):
        Trainer(closed, TrainConfig(progress=False), distributed=DistContext(0, 2))
    Trainer(closed, TrainConfig(progress=False), distributed=DistContext(0, 1))  # one process: fine
    gradient = build_model("gaussian", inputs, ModelConfig(), torch.Generator().manual_seed(0))
    Trainer(gradient, TrainConfig(progress=False), distributed=DistContext(0, 2))
