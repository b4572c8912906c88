"""The ``gaussian_fusion`` model: its closed-form maths against float64 / brute-force references, the numerical
value sketch (properties, seed links only), and the model end to end on the synthetic data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gaussea.encoders.numeric_sketch import (
    GRID_OFFSETS,
    NumericSketchParams,
    attribute_correspondences,
    near_equal,
    numeric_sketch,
    value_cells,
)
from gaussea.models.precision_fusion import (
    ModalMeans,
    calibration_fit,
    candidate_cosines,
    centre_unit_,
    counterpart_candidates,
    fit_variances,
    fuse,
    modality_precisions,
    precision_weights,
    repeated,
)
from gaussea.runner import run

pytestmark = pytest.mark.usefixtures("single_thread")


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


# --- precision-weighted fusion -------------------------------------------------------------------------------
def test_precision_weighted_mean_minimises_the_sum_of_kls_float64() -> None:
    """The common mean the fusion uses is the argmin over mu of sum_m KL(N(mu, s) || N(u_m, s_m)) (isotropic)."""
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    variances = torch.tensor([0.2, 1.0, 5.0], dtype=torch.float64)
    weights = precision_weights(variances.unsqueeze(0), torch.ones(1, 3, dtype=torch.bool))[0]
    closed = (weights.unsqueeze(1) * means).sum(0)
    mu = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([mu], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        common_var = 0.3
        kl = sum(0.5 * (6 * common_var / s + ((mu - u) ** 2).sum() / s - 6 + 6 * torch.log(s / common_var))
                 for u, s in zip(means, variances, strict=True))
        kl.backward()
        return kl

    optimiser.step(objective)
    torch.testing.assert_close(mu.detach(), closed, atol=1e-8, rtol=1e-8)


def test_precision_weights_ignore_absent_modalities() -> None:
    variances = torch.tensor([[1.0, 3.0, float("nan")], [2.0, float("nan"), float("nan")], [1.0, 1.0, 1.0]])
    present = ~torch.isnan(variances)
    w = precision_weights(variances, present)
    torch.testing.assert_close(w[0], torch.tensor([0.75, 0.25, 0.0]))
    torch.testing.assert_close(w[1], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(w[2], torch.full((3,), 1 / 3))
    none = precision_weights(torch.ones(1, 2), torch.zeros(1, 2, dtype=torch.bool))
    assert torch.equal(none, torch.zeros(1, 2))


def test_fused_cosine_is_the_trust_weighted_sum_of_modal_cosines() -> None:
    gen = torch.Generator().manual_seed(1)
    means = (_unit(torch.randn(5, 4, generator=gen, dtype=torch.float64)),
             _unit(torch.randn(5, 7, generator=gen, dtype=torch.float64)))
    modal = ModalMeans(("r", "v"), means, torch.ones(5, 2, dtype=torch.bool))
    weights = precision_weights(torch.rand(5, 2, generator=gen, dtype=torch.float64) + 0.1, modal.present)
    fused = fuse(modal, weights)
    torch.testing.assert_close(fused.norm(dim=1), torch.ones(5, dtype=torch.float64))
    for i in range(5):
        for j in range(5):
            expected = sum(math.sqrt(weights[i, m] * weights[j, m]) * float(means[m][i] @ means[m][j])
                           for m in range(2))
            assert float(fused[i] @ fused[j]) == pytest.approx(expected, abs=1e-12)


def test_centring_is_per_graph_and_keeps_absent_rows_zero() -> None:
    mean = torch.tensor([[1.0, 1.0], [3.0, 1.0], [5.0, 5.0], [0.0, 0.0], [9.0, 1.0]])
    present = torch.tensor([True, True, True, False, True])
    out = centre_unit_(mean.clone(), present, num_left=2)
    torch.testing.assert_close(out[0], torch.tensor([-1.0, 0.0]))  # left mean row is (2, 1)
    torch.testing.assert_close(out[1], torch.tensor([1.0, 0.0]))
    assert torch.equal(out[3], torch.zeros(2))
    right_mean = torch.tensor([7.0, 3.0])  # over the present right rows only
    torch.testing.assert_close(out[4], _unit((mean[4] - right_mean).unsqueeze(0))[0])


# --- counterpart candidates ----------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_counterpart_candidates_match_brute_force_in_both_directions(chunk: int) -> None:
    gen = torch.Generator().manual_seed(2)
    num_left, num_right, k = 7, 9, 3
    x = _unit(torch.randn(num_left + num_right, 5, generator=gen))
    blocked = torch.zeros(num_left + num_right, dtype=torch.bool)
    blocked[[1, num_left + 2, num_left + 5]] = True
    ids, cos = counterpart_candidates(x, num_left, k, blocked, chunk=chunk)
    sims = x[:num_left] @ x[num_left:].T
    for i in range(num_left):
        row = sims[i].clone()
        row[blocked[num_left:]] = -math.inf
        assert set(ids[i].tolist()) == set((row.topk(k).indices + num_left).tolist())
    for j in range(num_right):
        col = sims[:, j].clone()
        col[blocked[:num_left]] = -math.inf
        assert set(ids[num_left + j].tolist()) == set(col.topk(k).indices.tolist())
    torch.testing.assert_close(cos, candidate_cosines(x, ids))


def test_repeated_marks_later_duplicates_only() -> None:
    candidates = torch.tensor([[4, 5, 4, 6, 5], [1, 2, 3, 4, 5]])
    assert repeated(candidates).tolist() == [[False, False, True, False, True], [False] * 5]


# --- precisions and variances --------------------------------------------------------------------------------
def _two_modal_world(num: int, noise: tuple[float, float], seed: int = 0, corrupt: int = 0) -> tuple[ModalMeans, int]:
    """``num`` true pairs (left i <-> right i); modality 0 and 1 are noisy copies of one latent vector; ``corrupt``
    right entities show modality 1 of another entity."""
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randn(num, 16, generator=gen)
    means = []
    for m, sd in enumerate(noise):
        left = latent + sd * torch.randn(num, 16, generator=gen)
        right = latent + sd * torch.randn(num, 16, generator=gen)
        if m == 1 and corrupt:
            right[:corrupt] = right[:corrupt].roll(1, 0)
        means.append(_unit(torch.cat([left, right])))
    return ModalMeans(("r", "v"), tuple(means), torch.ones(2 * num, 2, dtype=torch.bool)), num


def test_modality_precisions_trust_the_informative_modality() -> None:
    modal, num = _two_modal_world(200, noise=(0.3, 3.0))
    pairs = torch.stack([torch.arange(50), torch.arange(50) + num], 1)
    blocked = torch.zeros(2 * num, dtype=torch.bool)
    blocked[pairs.reshape(-1)] = True
    kappa = modality_precisions(modal, num, pairs, blocked)
    assert kappa[0] > 3 * kappa[1]


def test_corrupted_modality_gets_a_larger_variance_and_rounds_zero_is_the_point_version() -> None:
    # Relations are the more reliable modality (as on every benchmark); right 0..99 show the wrong picture.
    modal, num = _two_modal_world(300, noise=(0.3, 0.6), corrupt=100)
    seeds = torch.stack([torch.arange(200, 260), torch.arange(200, 260) + num], 1)
    calibration = seeds[:30]
    state = fit_variances(modal, num, seeds, calibration, temperature=0.1, top_k=5, rounds=2, var_max=100.0)
    visual = state.variances[num:, 1]
    assert visual[:100].median() > 1.5 * visual[100:200].median()
    point = fit_variances(modal, num, seeds, calibration, temperature=0.1, top_k=5, rounds=0, var_max=100.0)
    torch.testing.assert_close(point.weights, torch.full((2 * num, 2), 0.5))
    assert torch.isfinite(state.common_variance()).all()
    flat = fit_variances(modal, num, seeds, calibration, temperature=0.1, top_k=5, rounds=2, var_max=100.0,
                         entity_reliability=False)
    assert torch.allclose(flat.variances, flat.variances[0].expand_as(flat.variances))


def test_calibration_likelihood_matches_a_float64_softmax_over_the_other_graph() -> None:
    """The NLL ``calibration_fit`` returns is the mean cross-entropy of each calibration pair's partner against every
    unblocked entity of the other graph, both directions summed, at the fitted kappa (with the reliabilities'
    ``sqrt(a(e) a(j))`` on each modal cosine)."""
    modal, num = _two_modal_world(60, noise=(0.8, 1.2), seed=3)
    pairs = torch.stack([torch.arange(10), torch.arange(10) + num], 1)
    blocked = torch.zeros(2 * num, dtype=torch.bool)
    blocked[torch.arange(10, 20)] = True
    blocked[torch.arange(10, 20) + num] = True
    blocked[pairs.reshape(-1)] = True
    reliability = torch.rand(2 * num, 2, generator=torch.Generator().manual_seed(4)) * 0.9 + 0.1
    for rel in (None, reliability):
        kappa, nll = calibration_fit(modal, num, pairs, blocked, rel)
        means = [m.double() for m in modal.means]
        a = torch.ones(2 * num, 2, dtype=torch.float64) if rel is None else rel.double()
        total = 0.0
        for src, dst, lo, hi in ((pairs[:, 0], pairs[:, 1], num, 2 * num), (pairs[:, 1], pairs[:, 0], 0, num)):
            losses = []
            for s, d in zip(src.tolist(), dst.tolist(), strict=True):
                logits = sum(kappa[m].double() * (a[s, m] * a[lo:hi, m]).sqrt() * (means[m][s] @ means[m][lo:hi].T)
                             for m in range(2))
                allowed = ~blocked[lo:hi]
                allowed[d - lo] = True
                losses.append(-(logits[d - lo] - torch.logsumexp(logits[allowed], 0)))
            total += float(torch.stack(losses).mean())
        assert nll == pytest.approx(total, rel=1e-4)
    torch.testing.assert_close(calibration_fit(modal, num, pairs, blocked)[0],
                               modality_precisions(modal, num, pairs, blocked))


def _pictures_world(num: int, rel_sd: float, vis_sd: float, wrong_share: float, seed: int) -> ModalMeans:
    """Relations and pictures are noisy copies of one latent vector; ``wrong_share`` of each graph's entities
    show a random picture (wrong evidence on both graphs, as in the synthetic default)."""
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randn(num, 16, generator=gen)
    relations = [latent + rel_sd * torch.randn(num, 16, generator=gen) for _ in range(2)]
    pictures = [latent + vis_sd * torch.randn(num, 16, generator=gen) for _ in range(2)]
    for side in range(2):
        wrong = torch.randperm(num, generator=gen)[: int(wrong_share * num)]
        pictures[side][wrong] = torch.randn(len(wrong), 16, generator=gen)
    return ModalMeans(("r", "v"), (_unit(torch.cat(relations)), _unit(torch.cat(pictures))),
                      torch.ones(2 * num, 2, dtype=torch.bool))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("rel_sd", "vis_sd", "wrong_share", "expected"),
                         [(1.0, 0.3, 0.4, True),    # wrong pictures on both graphs, relations can tell: per entity
                          (2.0, 0.5, 0.0, False)])  # nothing wrong, weak relations: reliabilities only add noise
def test_auto_keeps_per_entity_variances_only_where_the_calibration_pairs_support_them(
        rel_sd: float, vis_sd: float, wrong_share: float, expected: bool, seed: int) -> None:
    num = 300
    modal = _pictures_world(num, rel_sd, vis_sd, wrong_share, seed)
    seeds = torch.stack([torch.arange(150), torch.arange(150) + num], 1)
    calibration = seeds[:60]
    options = {"temperature": 0.1, "top_k": 5, "rounds": 1, "var_max": 100.0}
    auto = fit_variances(modal, num, seeds, calibration, entity_reliability="auto", **options)
    assert auto.entity_reliability is expected
    forced = fit_variances(modal, num, seeds, calibration, entity_reliability=expected, **options)
    torch.testing.assert_close(auto.variances, forced.variances, equal_nan=True)


# --- the numerical value sketch ------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), st.floats(min_value=0, max_value=1))
def test_near_equal_values_share_a_cell_on_some_grid(x: float, fraction: float) -> None:
    tolerance = 1e-3
    y = x + fraction * 0.49 * tolerance * max(abs(x), 1.0)  # well inside the tolerance
    assert near_equal(x, y, tolerance)
    shared = [value_cells(np.array([x]), tolerance, o)[0] == value_cells(np.array([y]), tolerance, o)[0]
              for o in GRID_OFFSETS]
    assert any(shared)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=1, max_value=1e6, allow_nan=False))
def test_far_values_never_share_a_cell(x: float) -> None:
    tolerance = 1e-3
    y = x * 1.05  # 50 tolerances apart
    for o in GRID_OFFSETS:
        assert value_cells(np.array([x]), tolerance, o)[0] != value_cells(np.array([y]), tolerance, o)[0]


def _numeric_world() -> dict[str, torch.Tensor]:
    """Left entities 0-3, right 4-7 (global ids); left attribute 0 ~ right attribute 10 (same value on pairs),
    left attribute 1 unrelated to anything."""
    rows = [(0, 0, 1950.0), (1, 0, 1960.0), (2, 0, 1970.0), (3, 0, 1980.0), (0, 1, 5.0), (1, 1, 7.0),
            (4, 10, 1950.0), (5, 10, 1960.0), (6, 10, 1970.0), (7, 10, 1980.0), (7, 11, 5.0)]
    entity, attribute, value = zip(*rows, strict=True)
    return {"entity": torch.tensor(entity), "attribute": torch.tensor(attribute),
            "value": torch.tensor(value, dtype=torch.float32)}


def test_sketch_matches_on_corresponding_attributes_learned_from_seed_links_only() -> None:
    world = _numeric_world()
    seeds = torch.tensor([[0, 4], [1, 5], [2, 6]])
    params = NumericSketchParams(dim=256, tolerance=1e-4, min_agreements=2)
    sketch = numeric_sketch(8, world["entity"], world["attribute"], world["value"], seeds, params,
                            torch.Generator().manual_seed(0))
    assert sketch.correspondences == [(0, 10)]
    assert sketch.present.tolist() == [True] * 8
    v = sketch.vectors
    assert float(v[3] @ v[7]) == pytest.approx(1.0, abs=1e-6)  # the unseen pair 3 <-> 7 matches on its year
    assert float(v[3] @ v[4]) < 0.5
    # Correspondences come from the seed pairs alone: with seeds that disagree, nothing is matched.
    none = numeric_sketch(8, world["entity"], world["attribute"], world["value"], torch.tensor([[0, 5], [1, 6]]),
                          params, torch.Generator().manual_seed(0))
    assert none.correspondences == [] and not none.present.any()


def test_attribute_correspondences_need_min_agreements() -> None:
    values = {0: [(0, 1.0)], 1: [(0, 2.0)], 10: [(5, 1.0)], 11: [(5, 2.0)]}
    pairs = np.array([[0, 10], [1, 11]])
    assert attribute_correspondences(values, pairs, 1e-4, 2) == [(0, 5)]
    assert attribute_correspondences(values, pairs, 1e-4, 3) == []


# --- the model, end to end -----------------------------------------------------------------------------------
def _synthetic_config(**options: object) -> RunConfig:
    return RunConfig(
        data=DataConfig(dataset="synthetic", options={"num_entities": 400, "num_types": 8, "num_relations": 12},
                        valid_ratio=0.0),
        model=ModelConfig(modalities=("r", "n", "v"), options=dict(options)),
        train=TrainConfig(stage1_epochs=5, stage2_epochs=0, progress=False, threads=1),
        eval=EvalConfig(modes=("test",)),
        model_name="gaussian_fusion")


def test_model_trains_reports_variances_and_holds_calibration_pairs_out(tmp_path) -> None:
    result = run(_synthetic_config(), tmp_path / "run")
    model = result.model
    encoder_pairs = {tuple(p) for p in model.relational.inputs.train_pairs.tolist()}
    calibration = {tuple(p) for p in model.calibration_pairs.tolist()}
    assert calibration and not calibration & encoder_pairs
    assert len(calibration) + len(encoder_pairs) == len(model.inputs.train_pairs)
    report = model.variance_report()
    assert {"common", "relational", "visual"} <= set(report)
    assert result.metrics["test"]["test_candidates"]["hits@1"] > 0.2
    assert "point" in result.metrics["per_space_test"]
    summary = result.metrics["variance_by_corruption"]["visual"]
    assert summary["ratio_of_means"] > 1.0


def test_relations_alone_hold_no_pair_out_and_unknown_options_fail() -> None:
    from gaussea.data.splits import make_split
    from gaussea.data.synthetic import load_synthetic
    from gaussea.models import build_model
    from gaussea.models.inputs import AlignmentInputs

    pair = load_synthetic(num_entities=200, num_types=4, num_relations=6)
    split = make_split(pair.links, 0.3, seed=0, index=0)
    inputs = AlignmentInputs.build(pair, split)
    model = build_model("gaussian_fusion", inputs, ModelConfig(modalities=("r",)), torch.Generator().manual_seed(0))
    assert len(model.calibration_pairs) == 0
    assert len(model.relational.inputs.train_pairs) == len(inputs.train_pairs)
    with pytest.raises(ValueError, match="unknown gaussian_fusion option"):
        build_model("gaussian_fusion", inputs, ModelConfig(options={"nope": 1}), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="entity_variances must be true, false or \"auto\""):
        build_model("gaussian_fusion", inputs, ModelConfig(options={"entity_variances": "sometimes"}),
                    torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="must include 'r'"):
        build_model("gaussian_fusion", inputs, ModelConfig(modalities=("v",)), torch.Generator().manual_seed(0))
