"""Unit tests of the model's building blocks: exchange strategy, negatives, losses, encoders, tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.config import RunConfig, TrainConfig
from gaussea.gaussian import kl
from gaussea.modalities.numerical import NumericEncoder, QuantileTable, attribute_statistics
from gaussea.modalities.relational import kg2e_score, margin_ranking
from gaussea.modalities.visual import ImageEncoder
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs, exchange_triples, triple_keys
from gaussea.models.tables import GaussianTable
from gaussea.runner import choose_split, load_pair
from gaussea.samplers.negatives import NegativeSampler
from gaussea.train import Trainer


def test_exchange_swaps_head_and_tail_one_at_a_time() -> None:
    # left entities 0,1,2 ; right entities 3,4 ; pair (0, 3)
    triples = torch.tensor([[0, 0, 1], [2, 0, 0], [3, 1, 4]])
    out = {tuple(t) for t in exchange_triples(triples, torch.tensor([[0, 3]]), 5).tolist()}
    assert out == {(0, 0, 1), (2, 0, 0), (3, 1, 4), (3, 0, 1), (2, 0, 3), (0, 1, 4)}


def test_exchange_without_pairs_is_identity() -> None:
    triples = torch.tensor([[0, 0, 1]])
    assert torch.equal(exchange_triples(triples, torch.zeros((0, 2), dtype=torch.long), 2), triples)


def test_negative_sampler_filters_known_positives_and_stays_in_graph() -> None:
    # left graph: entities 0..1 (only two), right graph: 2..9
    positives = torch.tensor([[0, 0, 1], [1, 0, 0], [2, 1, 3]])
    side = torch.tensor([0, 0] + [1] * 8)
    sampler = NegativeSampler(positives, side, num_left=2, num_relations=2)
    g = torch.Generator().manual_seed(0)
    neg, mask = sampler.sample(positives, 64, g)
    keys = set(triple_keys(positives, 10, 2).tolist())
    neg_keys = triple_keys(neg, 10, 2)
    for k, m in zip(neg_keys.flatten().tolist(), mask.flatten().tolist(), strict=True):
        assert (m == 0.0) == (k in keys)
    # corrupting a left triple must draw left entities only
    assert neg[:2].max() <= 1
    assert neg[2, :, [0, 2]].min() >= 2
    # the left graph has two entities, so some negatives of (0,0,1) are the positive (1,0,0)? no: (1,0,1) etc.
    assert mask[0].sum() < 64  # some corruptions reproduce a positive and are masked


def test_kg2e_score_is_negative_kl_with_summed_variances() -> None:
    g = torch.Generator().manual_seed(1)
    mh, mt, mr = (torch.randn(4, 3, generator=g) for _ in range(3))
    sh, st, sr = (torch.rand(4, 3, generator=g) + 0.5 for _ in range(3))
    expected = -kl(mh - mt, sh + st, mr, sr)
    torch.testing.assert_close(kg2e_score((mh, sh), (mr, sr), (mt, st)), expected)


def test_margin_ranking_ignores_masked_negatives() -> None:
    pos = torch.tensor([0.0, 0.0])
    neg = torch.tensor([[1.0, -5.0], [0.5, 0.5]])
    mask = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # hinge = relu(1 - 0 + neg): [[2, 0], [1.5, 1.5]] ; masked mean over 3 = (2 + 0 + 1.5) / 3
    assert margin_ranking(pos, neg, 1.0, mask).item() == pytest.approx(3.5 / 3)


def test_attribute_statistics_zscore_and_minmax() -> None:
    attr = torch.tensor([0, 0, 1, 1, 1])
    val = torch.tensor([1.0, 3.0, 10.0, 10.0, 40.0])
    mean, std = attribute_statistics(attr, val, 3, "zscore")
    assert mean[:2].tolist() == pytest.approx([2.0, 20.0])
    assert std[0].item() == pytest.approx(1.0) and std[1].item() == pytest.approx(np.std([10, 10, 40]))
    assert std[2].item() == 1.0  # unused attribute: neutral scale, no division by zero
    lo, span = attribute_statistics(attr, val, 3, "minmax")
    assert lo[:2].tolist() == [1.0, 10.0] and span[:2].tolist() == [2.0, 30.0]


def test_numeric_encoder_shapes_and_range() -> None:
    attr = torch.tensor([0, 1, 1, 2])
    val = torch.tensor([1e6, -3.0, 5.0, 1999.5])
    enc = NumericEncoder(3, 16, channels=4, rbf_width=0.25, how="zscore", attribute=attr, value=val, init_std=0.1)
    out = enc(attr, val)
    assert out.shape == (4, 16)
    assert torch.all(out.abs() <= 1)
    # the RBF peaks at the centre nearest the normalised value
    z = enc.normalise(attr, val)
    peak = enc.rbf(z).argmax(1)
    nearest = (z.unsqueeze(1) - enc.centres).abs().argmin(1)
    assert torch.equal(peak, nearest)


def test_image_encoder_accepts_any_width() -> None:
    for width in (3, 17, 4096):
        feats = torch.rand(5, width) * 100
        enc = ImageEncoder(width, 8, standardise=True, features=feats)
        out = enc(feats)
        assert out.shape == (5, 8) and torch.all(out.abs() <= 1)


def test_gaussian_table_clamp() -> None:
    table = GaussianTable(3, 4, init_std=10.0, var_min=0.5, var_max=50.0)
    assert not table.var.requires_grad
    table.set_variance_trainable(True)
    assert table.var.requires_grad
    table.var.data[0] = 100.0
    table.var.data[1] = 0.01
    table.var.grad = torch.zeros_like(table.var)  # as after an optimiser step that gave it a gradient
    table.clamp_()
    assert table.var.data.max() == 50.0 and table.var.data.min() == 0.5


def test_frozen_variances_are_not_clamped() -> None:
    """clamp_ only touches trainable variances (frozen ones sit at var_init and must stay untouched)."""
    table = GaussianTable(2, 3, init_std=1.0, var_min=0.5, var_max=50.0)
    table.var.data[0] = 100.0  # impossible for a frozen table; shows clamp_ did not run
    table.clamp_()
    assert table.var.data[0, 0] == 100.0
    table.set_variance_trainable(True)
    table.clamp_()  # no gradient in this step: the optimiser did not move it, so clamp_ skips it
    assert table.var.data[0, 0] == 100.0
    table.var.grad = torch.zeros_like(table.var)
    table.clamp_()
    assert table.var.data[0, 0] == 50.0


def test_variances_stay_in_range_through_training_steps() -> None:
    """With the clamp skipping tables without a gradient, every trainable variance is still in range after steps
    of losses that touch different tables (a large lr pushes them out between clamps)."""
    tables = [GaussianTable(5, 3, init_std=1.0, var_min=0.5, var_max=0.75) for _ in range(2)]
    for t in tables:
        t.set_variance_trainable(True)
    opt = torch.optim.Adam([p for t in tables for p in t.parameters()], lr=1.0)
    for step in range(6):
        touched = tables[step % 2]
        opt.zero_grad(set_to_none=True)
        mean, var = touched.lookup(torch.tensor([0, 2, 4]))
        (var.sum() * (1 if step % 3 else -1) + mean.sum()).backward()
        opt.step()
        for t in tables:
            t.clamp_()
        for t in tables:
            assert 0.5 <= float(t.var.detach().min()) and float(t.var.detach().max()) <= 0.75


def _brute_mid_rank_quantile(values: list[float], v: float) -> float:
    below = sum(1 for x in values if x < v)
    equal = sum(1 for x in values if x == v)
    mid = below + (equal - 1) / 2 if equal else below - 0.5
    return min(max(mid / (len(values) - 1), 0.0), 1.0)


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([-2.0, 0.0, 1.0, 1.0, 2.5, 1e6, 1e6 + 1])),
                min_size=1, max_size=40))
@settings(max_examples=60, deadline=None)
def test_quantile_normalisation_is_the_mid_rank(rows: list[tuple[int, float]]) -> None:
    attr = torch.tensor([a for a, _ in rows])
    val = torch.tensor([v for _, v in rows], dtype=torch.float64)
    table = QuantileTable(attr, val, 5)
    out = table(attr, val)
    for a, v, q in zip(attr.tolist(), val.tolist(), out.tolist(), strict=True):
        values = [x for b, x in rows if b == a]
        expected = 0.5 if len(values) < 2 else _brute_mid_rank_quantile(values, v)
        assert q == pytest.approx(expected, abs=1e-6)
    # monotone within each attribute, and equal values share one quantile
    for a in set(attr.tolist()):
        sel = attr == a
        v, q = val[sel], out[sel]
        order = torch.argsort(v)
        assert torch.all(q[order][1:] >= q[order][:-1])


def test_quantile_encoder_spreads_heavy_tailed_values() -> None:
    """A population-like attribute: z-scores crowd all but the largest value into one RBF kernel."""
    val = torch.tensor([1e3, 2e3, 5e3, 1e4, 3e4, 1e5, 1e6, 3e7])
    attr = torch.zeros(len(val), dtype=torch.long)
    peaks = {}
    for how in ("zscore", "quantile"):
        enc = NumericEncoder(1, 32, channels=2, rbf_width=0.25, how=how, attribute=attr, value=val, init_std=0.1)
        peaks[how] = len(set(enc.rbf(enc.normalise(attr, val)).argmax(1).tolist()))
    assert peaks["quantile"] == len(val)
    assert peaks["zscore"] <= 3


def test_numeric_encoder_does_not_collapse_in_training() -> None:
    """Numerical-only training first asks the encoder to fit random entity means, which rewards a constant
    output; with ReLU convolutions every unit died within an epoch (all encodings identical, on the synthetic
    default and on FB15K*-DB15K). The encodings must stay distinct."""
    cfg = RunConfig()
    cfg.model.modalities = ("n",)
    pair = load_pair(cfg)
    inputs = AlignmentInputs.build(pair, choose_split(cfg, pair))
    model = build_model("gaussian", inputs, cfg.model, torch.Generator().manual_seed(0))
    trainer = Trainer(model, TrainConfig(progress=False))
    for epoch in (1, 2):
        trainer.run_epoch(epoch)
    with torch.no_grad():
        enc = model.numeric_encoder(inputs.num_attribute[:1000], inputs.num_value[:1000])
    enc = torch.nn.functional.normalize(enc, dim=1)
    assert (enc @ enc.T).min().item() < 0.999


def test_numeric_negatives_draw_owners_with_numbers_from_the_same_graph() -> None:
    cfg = RunConfig()
    cfg.model.modalities = ("n",)
    cfg.model.options = {"numeric_negatives": 3}
    cfg.data.options = {"num_entities": 300}
    pair = load_pair(cfg)
    inputs = AlignmentInputs.build(pair, choose_split(cfg, pair))
    model = build_model("gaussian", inputs, cfg.model, torch.Generator().manual_seed(0))
    ent = inputs.num_entity[:500]
    drawn = model.losses["num"].random_owner(ent, torch.Generator().manual_seed(1))
    assert torch.equal(inputs.side_of_entity[drawn], inputs.side_of_entity[ent])
    assert inputs.has_numbers()[drawn].all()
    assert len(set(drawn.tolist())) > 50  # uniform over many owners, not a constant
    # the negatives add a term: the loss differs from the positive-only loss on the same batch
    idx = torch.arange(200)
    with_neg = model.loss("num", idx, torch.Generator().manual_seed(2))
    model.losses["num"].negatives = 0
    without = model.loss("num", idx, torch.Generator().manual_seed(2))
    assert with_neg.item() > without.item()
