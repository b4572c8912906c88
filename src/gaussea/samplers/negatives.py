"""Negative samples for the margin losses: an entity of the same graph replaces a triple's head or tail.

:class:`NegativeSampler` filters known positives and draws uniformly, or among each entity's nearest neighbours
when handed :class:`~gaussea.samplers.neighbours.NeighbourLists` (truncated sampling, BootEA / OpenEA). Every draw
comes from the CPU generator the trainer passes in and is moved to the device afterwards, so draws do not depend
on the device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from gaussea.models.inputs import triple_keys

if TYPE_CHECKING:  # neighbours.py imports uniform_below from here
    from gaussea.samplers.neighbours import NeighbourLists


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
    return start + uniform_below(size, generator)


def uniform_below(size: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per element of ``size`` (positive integers), an index drawn uniformly from ``[0, size)``: the one draw behind
    every corruption, uniform or among neighbours. Uniforms come from the CPU ``generator``, moved to the device."""
    u = torch.rand(size.shape, generator=generator).to(size.device)
    return (u * size).long().clamp_max(size - 1)


class NegativeSampler(nn.Module):
    """Corrupts head or tail with an entity of the *same graph*, filtering known positives.

    Known positives are the training triples after the exchange strategy (the paper's ``D+``). Filtering is a
    binary search in the sorted keys of ``D+``, so a batch costs ``O(b k log |D+|)`` and no Python loops.
    A module only so that ``model.to(device)`` moves its tables (non-persistent buffers: rebuilt from the data,
    not in checkpoints); random draws come from the CPU generator passed to :meth:`sample` (see
    :func:`random_same_graph`).

    The replacing entity is drawn uniformly from its graph, or — when :meth:`sample` / :meth:`corrupt` are handed
    computed :class:`~gaussea.samplers.neighbours.NeighbourLists` — uniformly among the replaced entity's listed
    neighbours (truncated sampling). The lists are handed in rather than owned: they belong to the model, which
    refreshes them once per schedule point for all of its samplers (IPTransE's soft-alignment triples draw from
    the same lists as its own triples).
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

    def _replacement(self, old: torch.Tensor, generator: torch.Generator,
                     neighbours: NeighbourLists | None) -> torch.Tensor:
        """An entity to put in place of each of ``old``: uniform in its graph, or among its neighbours."""
        if neighbours is None or not neighbours.ready:
            return random_same_graph(old, self.side_of_entity, self.num_left, generator)
        return neighbours.draw(old, generator)

    def sample(self, batch: torch.Tensor, k: int, generator: torch.Generator,
               neighbours: NeighbourLists | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return negatives ``(b, k, 3)`` and a float mask ``(b, k)`` that is 0 for filtered ones (replacements
        among ``neighbours`` once they are computed, else uniform in the graph)."""
        neg, mask, _, _ = self.corrupt(batch, k, generator, neighbours)
        return neg, mask

    def corrupt(self, batch: torch.Tensor, k: int, generator: torch.Generator,
                neighbours: NeighbourLists | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`sample`, also saying which column each negative replaced and by which entity.

        Returns negatives ``(b, k, 3)``, the mask ``(b, k)``, ``corrupt_head`` ``(b, k)`` (True: the head was
        replaced, else the tail) and the drawn entities ``(b, k)``. A negative shares its positive's relation and
        one entity, so a scorer that knows this gathers only the new entity (:func:`kg2e_corrupted_scores`).
        """
        neg = batch.unsqueeze(1).expand(-1, k, -1).clone()
        corrupt_head = torch.rand(neg.shape[:2], generator=generator).to(batch.device) < 0.5
        col = torch.where(corrupt_head, 0, 2)
        old = torch.gather(neg, 2, col.unsqueeze(-1)).squeeze(-1)
        new = self._replacement(old, generator, neighbours)
        neg.scatter_(2, col.unsqueeze(-1), new.unsqueeze(-1))
        keys = triple_keys(neg, self.num_entities, self.num_relations)
        pos = torch.searchsorted(self.sorted_keys, keys).clamp_max(len(self.sorted_keys) - 1)
        known = self.sorted_keys[pos] == keys
        return neg, (~known).float(), corrupt_head, new
