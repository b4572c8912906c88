"""The fused relational step (shared-row KG2E scores, analytic backward) against the plain formulation.

The fast path must change nothing but speed: the same negatives from the same generator draws, the same scores
and loss, and the same gradients for every parameter, up to float rounding.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gaussea.config import RunConfig
from gaussea.gaussian import kl
from gaussea.modalities.relational import kg2e_corrupted_scores, kg2e_score, margin_ranking
from gaussea.models import build_model
from gaussea.models.gaussian_csl import GaussianCommonSpace
from gaussea.models.inputs import AlignmentInputs, triple_keys
from gaussea.runner import choose_split, load_pair
from gaussea.samplers.negatives import NegativeSampler

B, K, D = 3, 4, 5


def _inputs(scalar: bool, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """float64 (other mean, other var, tail mean, tail var, rel mean, rel var, corrupt_head) with grads on."""
    def leaf(*shape: int, var: bool = False) -> torch.Tensor:
        if var:  # variances in [0.5, 1.5)
            return (torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5).requires_grad_()
        return torch.randn(shape, generator=generator, dtype=torch.float64).requires_grad_()

    var_shapes = [(), (), ()] if scalar else [(B, 1 + K, D), (B, D), (B, D)]
    other_m, tail_m, rel_m = leaf(B, 1 + K, D), leaf(B, D), leaf(B, D)
    other_v, tail_v, rel_v = (leaf(*s, var=True) for s in var_shapes)
    corrupt_head = torch.rand(B, K, generator=generator) < 0.5
    return other_m, other_v, tail_m, tail_v, rel_m, rel_v, corrupt_head


def _explicit_scores(other_m, other_v, tail_m, tail_v, rel_m, rel_v, corrupt_head) -> torch.Tensor:
    """The reference: spell out every group member's (head, tail) and take ``-kl(mh - mt, sh + st, mr, sr)``."""
    in_head = torch.cat([torch.ones(B, 1, dtype=torch.bool), corrupt_head], 1).unsqueeze(-1)
    full = (B, 1 + K, D)

    def rows(x: torch.Tensor) -> torch.Tensor:  # per-member rows of an input: (b, d) or 0-dim -> (b, 1 + k, d)
        return x.expand(full) if x.dim() == 0 else x.unsqueeze(1).expand(full)

    other_v_rows = other_v.expand(full)
    head_v = other_v_rows if other_v.dim() == 0 else other_v[:, :1].expand(full)
    mh = torch.where(in_head, other_m, other_m[:, :1].expand(full))
    mt = torch.where(in_head, rows(tail_m), other_m)
    sh = torch.where(in_head, other_v_rows, head_v)
    st = torch.where(in_head, rows(tail_v), other_v_rows)
    return -kl(mh - mt, sh + st, rows(rel_m), rows(rel_v))


def _fast(other_m, other_v, tail_m, tail_v, rel_m, rel_v, corrupt_head) -> torch.Tensor:
    return kg2e_corrupted_scores((other_m, other_v), (tail_m, tail_v), (rel_m, rel_v), corrupt_head)


@pytest.mark.parametrize("scalar", [False, True], ids=["per-element-variances", "scalar-variances"])
def test_corrupted_scores_match_explicit_kl_values_and_gradients(scalar: bool) -> None:
    inputs = _inputs(scalar, torch.Generator().manual_seed(0))
    fast, ref = _fast(*inputs), _explicit_scores(*inputs)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-12)
    weights = torch.randn(fast.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    leaves = inputs[:6]
    for got, want in zip(torch.autograd.grad((fast * weights).sum(), leaves),
                         torch.autograd.grad((ref * weights).sum(), leaves), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("scalar", [False, True], ids=["per-element-variances", "scalar-variances"])
def test_corrupted_scores_gradcheck(scalar: bool) -> None:
    inputs = _inputs(scalar, torch.Generator().manual_seed(2))
    assert torch.autograd.gradcheck(lambda *x: _fast(*x, inputs[6]), inputs[:6])


def test_column_zero_is_the_positive_kg2e_score() -> None:
    other_m, other_v, tail_m, tail_v, rel_m, rel_v, corrupt_head = _inputs(False, torch.Generator().manual_seed(3))
    fast = _fast(other_m, other_v, tail_m, tail_v, rel_m, rel_v, corrupt_head)
    torch.testing.assert_close(fast[:, 0], kg2e_score((other_m[:, 0], other_v[:, 0]), (rel_m, rel_v),
                                                      (tail_m, tail_v)))


# --- the model's relational loss -------------------------------------------------------------------------


def _model(stage: int) -> GaussianCommonSpace:
    cfg = RunConfig()
    cfg.model.modalities = ("r",)
    cfg.data.options = {"num_entities": 300}
    pair = load_pair(cfg)
    inputs = AlignmentInputs.build(pair, choose_split(cfg, pair))
    model = build_model("gaussian", inputs, cfg.model, torch.Generator().manual_seed(0))
    model.set_stage(stage)
    if stage == 2:  # distinct variances, so the per-element path is really exercised
        g = torch.Generator().manual_seed(4)
        with torch.no_grad():
            for table in (model.rel_ent, model.rel):
                table.var.copy_(torch.rand(table.var.shape, generator=g) * 3 + 0.5)
    return model


def _old_sample(sampler: NegativeSampler, batch: torch.Tensor, k: int, generator: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``NegativeSampler.sample`` as it was before the fused step (kept here to pin the random draws)."""
    neg = batch.unsqueeze(1).expand(-1, k, -1).clone()
    corrupt_head = torch.rand(neg.shape[:2], generator=generator) < 0.5
    col = torch.where(corrupt_head, 0, 2)
    old = torch.gather(neg, 2, col.unsqueeze(-1)).squeeze(-1)
    right = sampler.side_of_entity[old] != 0
    size = torch.where(right, sampler.num_entities - sampler.num_left, sampler.num_left).clamp_min(1)
    start = torch.where(right, sampler.num_left, 0)
    u = torch.rand(right.shape, generator=generator)
    new = start + (u * size).long().clamp_max(size - 1)
    neg.scatter_(2, col.unsqueeze(-1), new.unsqueeze(-1))
    keys = triple_keys(neg, sampler.num_entities, sampler.num_relations)
    pos = torch.searchsorted(sampler.sorted_keys, keys).clamp_max(len(sampler.sorted_keys) - 1)
    return neg, (~(sampler.sorted_keys[pos] == keys)).float()


def _old_loss_rel(model: GaussianCommonSpace, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The relational loss as it was computed before: explicit negative triples through ``kg2e_score``."""
    rel = model.losses["rel"]
    pos = rel.positives[idx]
    neg, mask = _old_sample(rel.sampler, pos, rel.negatives, generator)
    h, r, t = torch.cat([pos, neg.reshape(-1, 3)]).unbind(-1)

    def entity(i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, var = model.rel_ent.lookup(i)
        return F.normalize(mean, dim=-1), var

    f = kg2e_score(entity(h), model.rel.lookup(r), entity(t))
    return margin_ranking(f[: len(pos)], f[len(pos):].reshape(neg.shape[:2]), model.params.margin, mask)


def _loss_and_grads(model: GaussianCommonSpace, loss_fn, idx: torch.Tensor) -> tuple[torch.Tensor, dict]:
    model.zero_grad(set_to_none=True)
    loss = loss_fn(model, idx, torch.Generator().manual_seed(5))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("stage", [1, 2])
@pytest.mark.parametrize("batch", [16, 200], ids=["gather-then-normalise", "normalise-whole-table"])
def test_loss_rel_matches_the_old_formulation(stage: int, batch: int) -> None:
    model = _model(stage)
    idx = torch.randperm(model.num_items("rel"), generator=torch.Generator().manual_seed(6))[:batch]
    loss_new, grads_new = _loss_and_grads(model, lambda m, i, g: m.loss("rel", i, g), idx)
    loss_old, grads_old = _loss_and_grads(model, _old_loss_rel, idx)
    torch.testing.assert_close(loss_new, loss_old, rtol=1e-5, atol=1e-6)
    expected = {"rel_ent.mean", "rel.mean"} | ({"rel_ent.var", "rel.var"} if stage == 2 else set())
    assert set(grads_new) == set(grads_old) == expected
    for name, grad in grads_old.items():
        torch.testing.assert_close(grads_new[name], grad, rtol=1e-5, atol=1e-6, msg=name)


def test_sampler_draws_are_unchanged() -> None:
    rel = _model(1).losses["rel"]
    sampler, pos = rel.sampler, rel.positives[:500]
    g_new, g_old = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    neg, mask, corrupt_head, new = sampler.corrupt(pos, 5, g_new)
    neg_old, mask_old = _old_sample(sampler, pos, 5, g_old)
    assert torch.equal(neg, neg_old) and torch.equal(mask, mask_old)
    assert torch.equal(g_new.get_state(), g_old.get_state())  # the stream continues identically
    # what corrupt() says it replaced is what the negatives hold
    assert torch.equal(torch.where(corrupt_head, neg[..., 0], neg[..., 2]), new)
    kept = torch.where(corrupt_head, neg[..., 2], neg[..., 0])
    assert torch.equal(kept, torch.where(corrupt_head, pos[:, 2:3], pos[:, 0:1]))
    assert torch.equal(neg[..., 1], pos[:, 1:2].expand(-1, 5))
    neg_s, mask_s = sampler.sample(pos, 5, torch.Generator().manual_seed(7))
    assert torch.equal(neg_s, neg) and torch.equal(mask_s, mask)


@pytest.mark.parametrize("size", [10, 2000], ids=["gather-then-normalise", "normalise-whole-table"])
def test_rel_entity_equals_lookup(size: int) -> None:
    """Both normalisation orders give exactly the rows of lookup + F.normalize (the table has 513 rows)."""
    model = _model(2)
    idx = torch.randint(0, len(model.rel_ent), (size,), generator=torch.Generator().manual_seed(8))
    mean, var = model.spaces.relational_entity(idx)
    ref_mean, ref_var = model.rel_ent.lookup(idx)
    torch.testing.assert_close(mean, F.normalize(ref_mean, dim=-1), rtol=0, atol=0)
    torch.testing.assert_close(var, ref_var, rtol=0, atol=0)


def test_corrupted_scores_refuse_mixed_scalar_and_per_element_variances() -> None:
    """The fused kernel handles all-scalar (stage 1) or all-per-element variances; a mix gets a clear error,
    not a shape failure deep inside."""
    b, k, d = 3, 2, 4
    other = (torch.randn(b, 1 + k, d), torch.rand(b, 1 + k, d) + 0.5)
    tail = (torch.randn(b, d), torch.rand(b, d) + 0.5)
    rel = (torch.randn(b, d), torch.tensor(0.5))
    with pytest.raises(ValueError, match="all be per-element or all 0-dim"):
        kg2e_corrupted_scores(other, tail, rel, torch.zeros(b, k, dtype=torch.bool))
