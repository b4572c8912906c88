"""Relational modality: KG2E scores and margin ranking with filtered negatives (paper §3.2.1).

``f_rel(h, r, t) = -KL(N(mu_h - mu_t, s_h + s_t) || N(mu_r, s_r))``. The paper prints ``Sigma_h - Sigma_t``;
a difference of covariances is not a covariance (it can be negative), and KG2E — which the paper follows —
uses the sum, so the sum it is (DESIGN.md §1).
"""

from __future__ import annotations

import torch
from torch import nn

from gaussea.gaussian import kl
from gaussea.models.inputs import triple_keys


def kg2e_score(
    head: tuple[torch.Tensor, torch.Tensor],
    rel: tuple[torch.Tensor, torch.Tensor],
    tail: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """``-KL(N(mu_h - mu_t, s_h + s_t) || N(mu_r, s_r))`` for aligned batches of (mean, var) pairs."""
    (mh, sh), (mr, sr), (mt, st) = head, rel, tail
    return -kl(mh - mt, sh + st, mr, sr)


def margin_ranking(pos: torch.Tensor, neg: torch.Tensor, margin: float, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``max(0, margin - f(pos) + f(neg))`` over the negatives that survived filtering.

    ``pos`` is ``(b,)``, ``neg`` and ``mask`` ``(b, k)``. Filtered negatives (known positives) carry no loss.
    """
    hinge = torch.relu(margin - pos.unsqueeze(1) + neg) * mask
    return hinge.sum() / mask.sum().clamp_min(1)


def random_same_graph(entities: torch.Tensor, side_of_entity: torch.Tensor, num_left: int,
                      generator: torch.Generator) -> torch.Tensor:
    """A uniformly drawn entity of the same graph as each of ``entities`` (unfiltered).

    ``generator`` is a CPU generator whatever the device of ``entities``: the uniforms are drawn there and moved,
    so the draws (and a resumed run's stream) are the same on every device.
    """
    return uniform_in_side_block(side_of_entity[entities] != 0, num_left, int(side_of_entity.shape[0]), generator)


def uniform_in_side_block(right: torch.Tensor, num_left: int, num_total: int,
                          generator: torch.Generator) -> torch.Tensor:
    """Per row, an index drawn uniformly from ``[0, num_left)`` (``right`` False) or ``[num_left, num_total)``.

    The one draw behind every same-graph corruption: ids (or a pool listed left graph first) are laid out left
    block then right block. Uniforms come from the CPU ``generator`` and are moved to ``right``'s device.
    """
    size = torch.where(right, num_total - num_left, num_left).clamp_min(1)
    start = torch.where(right, num_left, 0)
    u = torch.rand(right.shape, generator=generator).to(right.device)
    return start + (u * size).long().clamp_max(size - 1)


class NegativeSampler(nn.Module):
    """Corrupts head or tail with a uniformly drawn entity of the *same graph*, filtering known positives.

    Known positives are the training triples after the exchange strategy (the paper's ``D+``). Filtering is a
    binary search in the sorted keys of ``D+``, so a batch costs ``O(b k log |D+|)`` and no Python loops.
    A module only so that ``model.to(device)`` moves its tables (non-persistent buffers: not in checkpoints);
    random draws come from the CPU generator passed to :meth:`sample` (see :func:`random_same_graph`).
    """

    def __init__(self, positives: torch.Tensor, side_of_entity: torch.Tensor, num_left: int,
                 num_relations: int) -> None:
        super().__init__()
        self.num_entities = int(side_of_entity.shape[0])
        self.num_left = num_left
        self.num_relations = num_relations
        self.register_buffer("side_of_entity", side_of_entity, persistent=False)
        self.register_buffer("sorted_keys", torch.sort(triple_keys(positives, self.num_entities,
                                                                   num_relations)).values, persistent=False)

    def sample(self, batch: torch.Tensor, k: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Return negatives ``(b, k, 3)`` and a float mask ``(b, k)`` that is 0 for filtered ones."""
        neg = batch.unsqueeze(1).expand(-1, k, -1).clone()
        corrupt_head = torch.rand(neg.shape[:2], generator=generator).to(batch.device) < 0.5
        col = torch.where(corrupt_head, 0, 2)
        old = torch.gather(neg, 2, col.unsqueeze(-1)).squeeze(-1)
        new = random_same_graph(old, self.side_of_entity, self.num_left, generator)
        neg.scatter_(2, col.unsqueeze(-1), new.unsqueeze(-1))
        keys = triple_keys(neg, self.num_entities, self.num_relations)
        pos = torch.searchsorted(self.sorted_keys, keys).clamp_max(len(self.sorted_keys) - 1)
        known = self.sorted_keys[pos] == keys
        return neg, (~known).float()
