"""Rows of a per-row input (an entity's pictures, its numerical triples) grouped by the entity that owns them.

Why: with ``modal_means = "encoder"`` an entity's visual / numerical mean is the average of its rows' encodings,
so a loss over a batch of entities must find every row of those entities. Sorting the rows by owner once and
keeping per-entity offsets turns that into a gather (no Python loop, no ``n x rows`` mask).
"""

from __future__ import annotations

import torch
from torch import nn


class RowsByOwner(nn.Module):
    """Row ids grouped by owner: ``rows(entities)`` returns the rows of each given entity and their segment."""

    def __init__(self, owner: torch.Tensor, num_entities: int) -> None:
        super().__init__()
        owner = owner.long()
        counts = torch.bincount(owner, minlength=num_entities)
        self.register_buffer("order", torch.argsort(owner, stable=True), persistent=False)
        self.register_buffer("counts", counts, persistent=False)
        self.register_buffer("offsets", torch.cumsum(counts, 0) - counts, persistent=False)

    def rows(self, entities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rows, segment)``: every row owned by ``entities[i]`` appears once with ``segment == i``."""
        counts = self.counts[entities]
        segment = torch.repeat_interleave(torch.arange(len(entities), device=entities.device), counts)
        first = torch.cumsum(counts, 0) - counts  # where each entity's rows start in the output
        within = torch.arange(len(segment), device=entities.device) - first[segment]
        return self.order[self.offsets[entities][segment] + within], segment

    def segment_mean(self, values: torch.Tensor, segment: torch.Tensor, entities: torch.Tensor) -> torch.Tensor:
        """Mean of ``values`` (one row per entry of ``segment``) per entity; zeros for an entity with no rows."""
        total = values.new_zeros(len(entities), values.shape[1]).index_add(0, segment, values)
        return total / self.counts[entities].clamp_min(1).unsqueeze(1).to(values.dtype)
