"""Truncated negative sampling for any model whose margin losses corrupt entities (``model.negative_sampling``).

One implementation for the paper's model and every translational baseline: the model mixes in
:class:`TruncatedNegatives`, calls :meth:`~TruncatedNegatives.init_truncated_negatives` in its constructor, names
the entity vectors whose neighbours matter (:meth:`~TruncatedNegatives.neighbour_embedding`) and hands
``self.neighbour_lists`` to its samplers; the mixin refreshes the lists in the trainer's per-epoch hook on
OpenEA's schedule (:meth:`gaussea.samplers.neighbours.NeighbourLists.due`).

The neighbours are computed, as in OpenEA, from the embeddings the negatives are drawn for: the relational entity
vectors of each graph, within that graph (for MTransE and SEA, whose graphs live in separate spaces, the unmapped
vectors of the replaced entity's own graph).
"""

from __future__ import annotations

import torch

from gaussea.config import ModelConfig
from gaussea.models.inputs import AlignmentInputs
from gaussea.samplers.neighbours import NeighbourLists


class TruncatedNegatives:
    """Mixin for an :class:`~gaussea.models.base.AlignmentModel` (listed before it among the bases)."""

    supports_truncated_negatives = True
    neighbour_lists: NeighbourLists | None

    def init_truncated_negatives(self, config: ModelConfig, inputs: AlignmentInputs, *,
                                 corrupts_entities: bool = True) -> None:
        """Neighbour lists when ``config.negative_sampling`` is ``"truncated"`` (each keeps ``1 - truncated_epsilon``
        of its graph, refreshed every ``truncated_every`` epochs), else None: uniform negatives, and no lists in
        the model's state. ``corrupts_entities`` False (e.g. the Gaussian model without the relational modality):
        no loss draws entity negatives, so no lists either. Call after ``nn.Module.__init__``."""
        self.neighbour_lists = None
        if config.negative_sampling == "truncated" and corrupts_entities:
            self.neighbour_lists = NeighbourLists(inputs.num_entities, inputs.num_left,
                                                  1.0 - config.truncated_epsilon, config.truncated_every)

    def neighbour_embedding(self) -> torch.Tensor:
        """One row per entity (global ids): the vectors whose cosine neighbours replace an entity in a negative."""
        raise NotImplementedError(f"{type(self).__name__} must name the embedding of its truncated negatives")

    def before_epoch(self, epoch: int) -> None:
        """Recompute the neighbour lists when the schedule says so, before the model's own per-epoch work."""
        super().before_epoch(epoch)  # type: ignore[misc]
        lists = self.neighbour_lists
        if lists is not None and lists.due(epoch):
            lists.refresh(self.neighbour_embedding())
