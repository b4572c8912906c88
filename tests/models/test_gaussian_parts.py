"""The paper model's parts, each alone: spaces (tables), encoders, the name -> loss mapping, the stage schedule,
diagnostics; and the state-dict layout that earlier runs' ``model.pt`` and checkpoints were written with."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gaussea.config import ModelConfig, RunConfig, TrainConfig
from gaussea.models import build_model
from gaussea.models import gaussian_diagnostics as diagnostics
from gaussea.models.gaussian_losses import (
    AlignmentLoss,
    CommonSpaceLoss,
    LossStep,
    NumericLoss,
    RelationalLoss,
    VisualLoss,
    build_losses,
)
from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.models.gaussian_spaces import GaussianSpaces
from gaussea.models.gaussian_stages import StageSchedule, points
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import choose_split, load_pair
from gaussea.training.optimisers import shared_adam

# The layout of a gaussian / mmea model on the inputs of _inputs() with dim 4, 2 CNN channels and truncated
# negatives, as written by the model before it was split into parts (branch integ, 5d5b00c): every earlier model.pt
# and checkpoint has these keys and shapes, and its optimiser state these groups, in this order.
LEGACY_STATE: dict[str, tuple[int, ...]] = {
    "common.mean": (67, 4), "common.var": (67, 4), "common.var_trained": (),
    "rel_ent.mean": (67, 4), "rel_ent.var": (67, 4), "rel_ent.var_trained": (),
    "rel.mean": (80, 4), "rel.var": (80, 4), "rel.var_trained": (),
    "neighbour_lists.neighbours": (67, 1), "neighbour_lists.neighbours_ready": (),
    "vis_ent.mean": (67, 4), "vis_ent.var": (67, 4), "vis_ent.var_trained": (),
    "image_encoder.feat_mean": (64,), "image_encoder.feat_std": (64,), "image_encoder.proj.weight": (4, 64),
    "num_ent.mean": (67, 4), "num_ent.var": (67, 4), "num_ent.var_trained": (),
    "numeric_encoder.shift": (16,), "numeric_encoder.scale": (16,), "numeric_encoder.centres": (4,),
    "numeric_encoder.attr.weight": (16, 4), "numeric_encoder.conv1.weight": (2, 1, 2, 3),
    "numeric_encoder.conv1.bias": (2,), "numeric_encoder.conv2.weight": (2, 2, 1, 3),
    "numeric_encoder.conv2.bias": (2,), "numeric_encoder.fc.weight": (4, 8), "numeric_encoder.fc.bias": (4,),
}
LEGACY_ADAM_GROUPS = [
    ["image_encoder.proj.weight", "numeric_encoder.attr.weight", "numeric_encoder.conv1.weight",
     "numeric_encoder.conv1.bias", "numeric_encoder.conv2.weight", "numeric_encoder.conv2.bias",
     "numeric_encoder.fc.weight", "numeric_encoder.fc.bias"],
    ["rel_ent.mean", "rel.mean", "vis_ent.mean", "num_ent.mean"],
    ["common.mean"],
    ["rel_ent.var", "rel.var", "vis_ent.var", "num_ent.var"],
    ["common.var"],
]


def _inputs() -> AlignmentInputs:
    cfg = RunConfig()
    cfg.data.options = {"num_entities": 40, "num_types": 2}
    pair = load_pair(cfg)
    return AlignmentInputs.build(pair, choose_split(cfg, pair))


def _config(modalities: tuple[str, ...] = ("r", "n", "v"), **options: object) -> ModelConfig:
    return ModelConfig(dim=4, modalities=modalities, negative_sampling="truncated",
                       options={"cnn_channels": 2, **options})


def _spaces(config: ModelConfig, params: GaussianCSLParams) -> GaussianSpaces:
    return GaussianSpaces(_inputs(), config, params, torch.Generator().manual_seed(0))


# --- state dicts of earlier runs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gaussian", "mmea"])
def test_state_dict_keeps_the_legacy_layout(name: str) -> None:
    model = build_model(name, _inputs(), _config(), torch.Generator().manual_seed(0))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == LEGACY_STATE
    names = {id(p): n for n, p in model.named_parameters()}
    groups = shared_adam(model, TrainConfig(progress=False)).param_groups
    assert [[names[id(p)] for p in g["params"]] for g in groups] == LEGACY_ADAM_GROUPS


def test_a_legacy_state_dict_loads_into_the_parts() -> None:
    """A state dict with the legacy keys loads strictly, and its values are what the parts then read."""
    model = build_model("gaussian", _inputs(), _config(), torch.Generator().manual_seed(0))
    g, current = torch.Generator().manual_seed(3), model.state_dict()
    legacy = {k: torch.rand(shape, generator=g) + 0.5 if current[k].is_floating_point() else current[k]
              for k, shape in LEGACY_STATE.items()}
    model.load_state_dict(legacy, strict=True)
    assert torch.equal(model.spaces.common.mean, legacy["common.mean"])
    assert torch.equal(model.spaces.encoders.image.proj.weight, legacy["image_encoder.proj.weight"])
    left, _ = model.entity_embeddings()
    assert torch.equal(left.var, legacy["common.var"][: model.inputs.num_left])


# --- spaces and encoders -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("modalities", "present"), [
    (("r", "n", "v"), {"common", "rel_ent", "rel", "vis_ent", "image_encoder", "num_ent", "numeric_encoder"}),
    (("r",), {"common", "rel_ent", "rel"}),
    (("n", "v"), {"common", "vis_ent", "image_encoder", "num_ent", "numeric_encoder"}),
])
def test_spaces_build_one_table_per_used_space(modalities: tuple[str, ...], present: set[str]) -> None:
    spaces = _spaces(_config(modalities), GaussianCSLParams())
    assert {name for name, _ in spaces.named_modules()} == present
    assert len(spaces.tables()) == len(present - {"image_encoder", "numeric_encoder"})


def test_spaces_read_relational_means_on_the_sphere_and_modal_means_from_the_encoders() -> None:
    spaces = _spaces(_config(), GaussianCSLParams(modal_means="encoder"))
    idx = torch.tensor([0, 3, 3, 5])
    mean, var = spaces.relational_entity(idx)
    assert torch.allclose(mean.norm(dim=-1), torch.ones(4)) and var.dim() == 0  # untrained: a scalar variance
    owner = int(spaces.inputs.image_owner[0])
    rows = torch.nonzero(spaces.inputs.image_owner == owner).flatten()
    with torch.no_grad():
        expected = spaces.encode("vis", rows).mean(0)
        got, _ = spaces.modal("vis", torch.tensor([owner]))
    assert torch.allclose(got[0], expected, atol=1e-6)


# --- the loss mapping --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("modalities", "options", "expected"), [
    (("r", "n", "v"), {}, {"rel": RelationalLoss, "vis": VisualLoss, "num": NumericLoss, "csl": CommonSpaceLoss,
                           "ac": AlignmentLoss}),
    (("r", "n", "v"), {"modal_means": "encoder"}, {"rel": RelationalLoss, "csl": CommonSpaceLoss,
                                                   "ac": AlignmentLoss}),
    (("n",), {}, {"num": NumericLoss, "csl": CommonSpaceLoss, "ac": AlignmentLoss}),
])
def test_loss_mapping_has_exactly_the_model_losses_in_update_order(modalities: tuple[str, ...], options: dict,
                                                                   expected: dict[str, type]) -> None:
    config = _config(modalities, **options)
    params = GaussianCSLParams(**options)
    losses = build_losses(_spaces(config, params), config, params, StageSchedule(params))
    assert {name: type(loss) for name, loss in losses.items()} == expected
    assert list(losses) == list(expected)  # the update order
    model = build_model("gaussian", _inputs(), config, torch.Generator().manual_seed(0))
    assert model.loss_names() == list(expected)


def test_model_loss_is_the_mapped_loss_on_the_step() -> None:
    model = build_model("gaussian", _inputs(), _config(), torch.Generator().manual_seed(0))
    for name in model.loss_names():
        idx = torch.arange(min(8, model.num_items(name)))
        direct = model.losses[name](LossStep(idx, torch.Generator().manual_seed(1), 1, model.neighbour_lists))
        assert torch.equal(model.loss(name, idx, torch.Generator().manual_seed(1)), direct)


def test_losses_count_their_own_items() -> None:
    inputs = _inputs()
    model = build_model("gaussian", inputs, _config(), torch.Generator().manual_seed(0))
    assert {name: model.num_items(name) for name in model.loss_names()} == {
        "rel": len(model.losses["rel"].positives), "vis": len(inputs.image_owner), "num": len(inputs.num_entity),
        "csl": inputs.num_entities, "ac": len(inputs.train_pairs)}


# --- the stage schedule ------------------------------------------------------------------------------------------
def _trained(schedule: StageSchedule, spaces: GaussianSpaces, stage: int) -> set[str]:
    names = {id(module): name for name, module in spaces.named_modules()}
    return {names[id(t)] for t in schedule.variances_trained(spaces, stage)}


@pytest.mark.parametrize(("options", "stage2"), [
    ({}, {"common", "rel_ent", "rel", "vis_ent", "num_ent"}),
    ({"free_common_variance": False}, {"rel_ent", "rel", "vis_ent", "num_ent"}),
    ({"free_relational_variance": False}, {"common", "vis_ent", "num_ent"}),
    ({"modal_variance_update": "closed_form"}, {"common", "rel_ent", "rel"}),
])
def test_stage_schedule_frees_the_right_variances(options: dict, stage2: set[str]) -> None:
    params = GaussianCSLParams(**options)
    spaces, schedule = _spaces(_config(**options), params), StageSchedule(params)
    assert _trained(schedule, spaces, 1) == set()
    assert _trained(schedule, spaces, 2) == stage2
    schedule.apply(spaces, 2)
    assert {n for n, m in spaces.named_modules() if getattr(m, "var", None) is not None
            and m.var.requires_grad} == stage2
    assert schedule.assigns_modal_variances(2) == (options.get("modal_variance_update") == "closed_form")
    assert not schedule.assigns_modal_variances(1)


def test_stage_schedule_paces_csl_by_rel_in_stage_2_only() -> None:
    match, batch = StageSchedule(GaussianCSLParams()), StageSchedule(GaussianCSLParams(stage2_csl_steps="batch"))
    assert [match.csl_paced_by_rel(s, True) for s in (1, 2)] == [False, True]
    assert not match.csl_paced_by_rel(2, False)  # no relational loss to be paced by
    assert [batch.csl_paced_by_rel(s, True) for s in (1, 2)] == [False, False]


def test_mmea_schedule_is_one_stage_of_points() -> None:
    params = GaussianCSLParams(modal_variance_update="closed_form")
    spaces, schedule = _spaces(_config(), params), points(params)
    assert schedule.stage(2) == 1
    assert _trained(schedule, spaces, 2) == set() and not schedule.assigns_modal_variances(2)
    model = build_model("mmea", _inputs(), _config(), torch.Generator().manual_seed(0))
    model.set_stage(2)
    assert model.stage == 1 and not any(t.var.requires_grad for t in model.spaces.tables())


# --- diagnostics -------------------------------------------------------------------------------------------------
def test_variance_report_marks_entities_without_the_modality() -> None:
    spaces = _spaces(_config(), GaussianCSLParams())
    with torch.no_grad():
        spaces.visual.var.fill_(2.0)
    report = diagnostics.variance_report(spaces)
    assert set(report) == {"common", "relational", "visual", "numerical"}
    has = spaces.inputs.has_images().numpy()
    assert not has.all() and np.isnan(report["visual"][~has]).all() and (report["visual"][has] == 2.0).all()
    assert report["common"] == pytest.approx(np.full(spaces.num_entities, 0.5))


def test_space_embeddings_split_each_space_by_graph() -> None:
    spaces = _spaces(_config(), GaussianCSLParams())
    out = diagnostics.space_embeddings(spaces)
    assert set(out) == {"relational", "visual", "numerical"}
    left, right = out["relational"]
    assert (len(left.mean), len(right.mean)) == (spaces.inputs.num_left, spaces.inputs.num_right)
    assert torch.allclose(left.mean.norm(dim=-1), torch.ones(len(left.mean)))
    assert math.isclose(float(out["visual"][1].var.mean()), 0.5)


def test_a_moved_model_s_spaces_read_the_moved_inputs() -> None:
    """A device / dtype move replaces the model's inputs by a moved copy; the spaces (and the losses reading the
    inputs through them) must read that copy, or the first loss on a GPU would index CPU tensors."""
    model = build_model("gaussian", _inputs(), _config(), torch.Generator().manual_seed(0))
    model.double()
    assert model.spaces.inputs is model.inputs and model.inputs.image_features.dtype == torch.float64
    assert model.loss("vis", torch.arange(4), torch.Generator().manual_seed(1)).dtype == torch.float64
