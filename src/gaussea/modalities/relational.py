"""Relational modality: KG2E scores and margin ranking with filtered negatives (paper §3.2.1).

``f_rel(h, r, t) = -KL(N(mu_h - mu_t, s_h + s_t) || N(mu_r, s_r))``. The paper prints ``Sigma_h - Sigma_t``;
a difference of covariances is not a covariance (it can be negative), and KG2E — which the paper follows —
uses the sum, so the sum it is (DESIGN.md §1).
"""

from __future__ import annotations

import torch

from gaussea.gaussian import kl


def kg2e_score(
    head: tuple[torch.Tensor, torch.Tensor],
    rel: tuple[torch.Tensor, torch.Tensor],
    tail: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """``-KL(N(mu_h - mu_t, s_h + s_t) || N(mu_r, s_r))`` for aligned batches of (mean, var) pairs."""
    (mh, sh), (mr, sr), (mt, st) = head, rel, tail
    return -kl(mh - mt, sh + st, mr, sr)


Gaussian = tuple[torch.Tensor, torch.Tensor]


def kg2e_corrupted_scores(other: Gaussian, tail: Gaussian, rel: Gaussian, corrupt_head: torch.Tensor) -> torch.Tensor:
    """KG2E scores ``(b, 1 + k)`` of each positive (column 0) and its ``k`` corruptions, from shared rows.

    A negative keeps its positive's relation and one of its entities
    (:meth:`gaussea.samplers.negatives.NegativeSampler.corrupt`), so the
    rows are passed once: ``other`` is ``(b, 1 + k, d)``, column 0 the positive's head and column ``j`` the
    entity drawn for negative ``j``, which replaced the head where ``corrupt_head[:, j - 1]`` (``(b, k)``) and
    the tail elsewhere; ``tail`` and ``rel`` are ``(b, d)``. Variances are per element (same shapes as the
    means) or, all of them, 0-dim scalars (untrained: stage 1). Equal to :func:`kg2e_score` on the explicit
    triples up to float rounding, but with an analytic backward in a few passes: autograd's chain of
    temporaries, and gathering every negative's three rows, were most of a relational training step.
    """
    return _CorruptedKG2E.apply(*other, *tail, *rel, corrupt_head)


class _CorruptedKG2E(torch.autograd.Function):
    """``-KL(N(mu_h - mu_t, s_h + s_t) || N(mu_r, s_r))`` per group member with a hand-written backward.

    Writing ``x = s_1 + diff^2`` (``diff = mu_r - mu_h + mu_t``, ``s_1 = s_h + s_t``), twice the KL is
    ``sum(x / s_r - log s_1 + log s_r - 1)``, whose derivatives are ``2 diff / s_r`` (means), ``1/s_r - 1/s_1``
    (``s_h``, ``s_t``) and ``1/s_r - x / s_r^2`` (``s_r``); the sums over a group (shared rows) are batched
    matrix products.
    """

    @staticmethod
    def forward(ctx, other_mean: torch.Tensor, other_var: torch.Tensor, tail_mean: torch.Tensor,
                tail_var: torch.Tensor, rel_mean: torch.Tensor, rel_var: torch.Tensor,
                corrupt_head: torch.Tensor) -> torch.Tensor:
        scalar = rel_var.dim() == 0
        if not (other_var.dim() == 0) == (tail_var.dim() == 0) == scalar:
            raise ValueError("kg2e_corrupted_scores: the entity and relation variances must all be per-element or "
                             "all 0-dim (untrained) scalars; got "
                             f"{[tuple(v.shape) for v in (other_var, tail_var, rel_var)]}")
        # in_head: the group member's head is its ``other`` row (the positive, head corruptions); else its tail is
        in_head = torch.cat([torch.ones_like(corrupt_head[:, :1]), corrupt_head], 1)
        sign = 1.0 - 2.0 * in_head.to(other_mean.dtype).unsqueeze(-1)
        diff = _pick(in_head, rel_mean + tail_mean, rel_mean - other_mean[:, 0]).addcmul_(sign, other_mean)
        s1 = _pick(in_head, tail_var, other_var if scalar else other_var[:, 0]) + other_var
        inv = rel_var.reciprocal()
        if scalar:  # s1 is (b, 1 + k): every dimension has the same variance
            dim = diff.shape[-1]
            x = (diff * diff).sum(-1) + dim * s1
            twice_kl = x * inv + dim * (torch.log(rel_var) - torch.log(s1) - 1.0)
        else:
            x = torch.addcmul(s1, diff, diff)
            twice_kl = ((x * inv.unsqueeze(1)).sum(-1) - torch.log(s1).sum(-1)
                        + (torch.log(rel_var).sum(-1) - diff.shape[-1]).unsqueeze(1))
        ctx.save_for_backward(diff, s1, x, inv, in_head, sign)
        ctx.scalar = scalar
        return -0.5 * twice_kl

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        diff, s1, x, inv, in_head, sign = ctx.saved_tensors
        need = ctx.needs_input_grad
        c = -0.5 * grad  # d(score) / d(twice_kl)
        inv_b = inv if ctx.scalar else inv.unsqueeze(1)
        grads: list[torch.Tensor | None] = [None] * 7
        if need[0] or need[2] or need[4]:
            scaled = diff * inv_b  # d(twice_kl) / d(diff) = 2 diff / s_r
            grads[0], grads[2], grads[4] = _spread(2.0 * c, scaled, in_head, sign=sign)
        if need[1] or need[3] or need[5]:
            dim_factor = diff.shape[-1] if ctx.scalar else 1
            per_s1 = dim_factor * (inv_b - s1.reciprocal())  # d(twice_kl) / d(s_1)
            grads[1], grads[3], _ = _spread(c, per_s1, in_head)
            grads[5] = _group_sum(c.unsqueeze(1), x).squeeze(1) * -(inv * inv)
            grads[5] = grads[5] + _expand_rows(c.sum(1), inv) * (dim_factor * inv)
            if ctx.scalar:
                grads[5] = grads[5].sum()
        return tuple(grads)


def _pick(in_head: torch.Tensor, if_head: torch.Tensor, if_tail: torch.Tensor) -> torch.Tensor:
    """Per group member, the row of ``if_head`` or ``if_tail`` (``(b, d)`` each, or 0-dim) by ``in_head``.

    A row copy (index_select of the two stacked candidates), several times cheaper here than a broadcasting
    ``torch.where`` over ``(b, 1 + k, d)``.
    """
    if if_head.dim() == 0:
        return torch.where(in_head, if_head, if_tail)
    b = in_head.shape[0]
    rows = torch.stack([if_tail, if_head], 1).flatten(0, 1)
    pick = in_head.long() + 2 * torch.arange(b, device=in_head.device).unsqueeze(1)
    return rows.index_select(0, pick.flatten()).view(*in_head.shape, -1)


def _group_sum(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``sum_j weights[b, m, j] * values[b, j, ...]``: ``(b, m, d)`` for ``(b, 1 + k, d)`` values, else ``(b, m)``."""
    if values.dim() == 3:
        return torch.bmm(weights, values)
    return (weights * values.unsqueeze(1)).sum(-1)


def _expand_rows(per_row: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``per_row`` ``(b,)`` shaped to broadcast against ``like`` (``(b, d)``, or 0-dim: then left as is)."""
    return per_row.unsqueeze(-1) if like.dim() else per_row


def _spread(weight: torch.Tensor, per_member: torch.Tensor, in_head: torch.Tensor, sign: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of the ``other``, ``tail`` and ``rel`` inputs from ``weight * per_member`` (the gradient w.r.t.
    ``diff`` or ``s_1`` of each group member).

    Where ``in_head`` the member's tail is the positive's tail, elsewhere its head is the positive's head
    (``other[:, 0]``); ``sign`` is how ``diff`` depends on the ``other`` row (``s_1`` grows with it: no sign).
    Shared rows receive group sums; 0-dim inputs receive the total.
    """
    sums = _group_sum(torch.stack([weight, weight * in_head], 1), per_member)
    every, heads = sums.unbind(1)
    w = weight * sign.squeeze(-1) if sign is not None else weight
    other = per_member * (w.unsqueeze(-1) if per_member.dim() == 3 else w)
    # the positive's head is also the head of every tail corruption: -diff (mean), +s_1 (variance) there
    other[:, 0] += (every - heads) * (-1.0 if sign is not None else 1.0)
    if per_member.dim() == 2:  # scalar variances: one shared value per input
        return other.sum(), heads.sum(), every.sum()
    return other, heads, every


def margin_ranking(pos: torch.Tensor, neg: torch.Tensor, margin: float, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``max(0, margin - f(pos) + f(neg))`` over the negatives that survived filtering.

    ``pos`` is ``(b,)``, ``neg`` and ``mask`` ``(b, k)``. Filtered negatives (known positives) carry no loss.
    """
    hinge = torch.relu(margin - pos.unsqueeze(1) + neg) * mask
    return hinge.sum() / mask.sum().clamp_min(1)
