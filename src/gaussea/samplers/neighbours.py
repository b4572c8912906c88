"""The pools of truncated negative sampling: each entity's nearest entities of its own graph, and their schedule.

Once training has moved past its start, a corruption drawn uniformly from a whole graph is almost always
trivially implausible and its hinge is zero; drawing it among the replaced entity's nearest neighbours keeps the
negatives informative (BootEA's "truncated uniform negative sampling", Sun et al. IJCAI 2018; OpenEA's
``neg_sampling = "truncated"``). :class:`NeighbourLists` holds the lists and says when to recompute them;
:class:`~gaussea.samplers.negatives.NegativeSampler` draws from the lists it is handed. One object per model, so
every margin loss of a model (IPTransE's soft-alignment triples as well as its own) draws from the same lists.
"""

from __future__ import annotations

import torch
from torch import nn

from gaussea.samplers.negatives import uniform_below


class NeighbourLists(nn.Module):
    """Per entity, the ``share`` x |graph| entities of its own graph nearest to it by cosine (itself excluded).

    Ids are laid out left graph first (``[0, num_left)``), then right (``[num_left, num_entities)``), as
    everywhere in :mod:`gaussea.samplers`. The lists are a persistent ``int32`` buffer, so a checkpoint carries
    them and a resumed run samples exactly as an uninterrupted one. Only resuming needs them: a finished run's
    ``model.pt`` leaves them out (:data:`RESUME_ONLY_BUFFERS`, read by ``gaussea.train.final_state_dict``).

    The schedule is OpenEA's: no lists for the first ``every`` epochs (random vectors have no neighbours worth
    the name, so the sampler draws uniformly), then lists recomputed at the start of epochs ``every + 1``,
    ``2 every + 1``, ... (:meth:`due`).
    """

    RESUME_ONLY_BUFFERS = ("neighbours", "neighbours_ready")

    def __init__(self, num_entities: int, num_left: int, share: float, every: int) -> None:
        super().__init__()
        if not 0.0 < share <= 1.0:
            raise ValueError(f"the neighbour share must be in (0, 1], got {share}")
        if every < 1:
            raise ValueError(f"the refresh interval must be at least 1 epoch, got {every}")
        self.num_entities = num_entities
        self.num_left = num_left
        self.every = every
        # per graph: how many neighbours each of its entities keeps (at least 1, at most the others)
        sizes = (num_left, num_entities - num_left)
        self.counts = tuple(max(1, min(int(share * m), m - 1)) for m in sizes)
        self.register_buffer("neighbours", torch.zeros((num_entities, max(self.counts)), dtype=torch.int32))
        self.register_buffer("neighbours_ready", torch.zeros((), dtype=torch.bool))

    @property
    def ready(self) -> bool:
        """Whether the lists have been computed (before that, negatives are drawn uniformly)."""
        return bool(self.neighbours_ready)

    def due(self, epoch: int) -> bool:
        """Whether the lists are recomputed at the start of 1-based ``epoch`` (a function of the epoch alone, so a
        resumed run and every data-parallel replica agree)."""
        return epoch > 1 and (epoch - 1) % self.every == 0

    @torch.no_grad()
    def refresh(self, embedding: torch.Tensor, chunk: int = 1024) -> None:
        """Recompute the lists from ``embedding`` (one row per entity), in chunks of ``chunk`` rows: memory
        O(chunk x |graph|), never a full n x n matrix."""
        if embedding.shape[0] != self.num_entities:
            raise ValueError(f"refresh: {embedding.shape[0]} embedding rows for {self.num_entities} entities")
        x = torch.nn.functional.normalize(embedding.detach().float(), dim=-1)
        bounds = ((0, self.num_left), (self.num_left, self.num_entities))
        for (lo, hi), count in zip(bounds, self.counts, strict=True):
            if hi - lo < 2:
                continue
            block = x[lo:hi]
            for start in range(lo, hi, chunk):
                stop = min(start + chunk, hi)
                sim = x[start:stop] @ block.T
                rows = torch.arange(stop - start, device=sim.device)
                sim[rows, rows + (start - lo)] = float("-inf")
                top = sim.topk(count, dim=1).indices + lo
                self.neighbours[start:stop, :count] = top.to(torch.int32)
        self.neighbours_ready.fill_(True)

    def draw(self, old: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """For each of ``old``, one of its listed neighbours, uniformly (uniforms from the CPU ``generator``)."""
        count = torch.where(old >= self.num_left, self.counts[1], self.counts[0])
        return self.neighbours[old, uniform_below(count, generator)].long()
