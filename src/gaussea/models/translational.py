"""Shared maths of the point-embedding baselines: TransE scores, ranking losses, negatives, linear maps.

TransE, MTransE, IPTransE, SEA and IMUSE score a triple the same way (``||h + r - t||``) and rank it above
filtered same-graph corruptions with the same hinge; GCN-Align ranks seed pairs above corrupted pairs. Keeping
that here means a fix (to negative filtering, say) reaches every baseline at once, and the baselines differ
only where their papers make them differ. Negatives and the hinge are those of the Gaussian model
(:class:`gaussea.samplers.negatives.NegativeSampler`, :func:`~gaussea.modalities.relational.margin_ranking`),
so "filtered, same graph, half head / half tail" means the same thing for every model in a table, and so do
truncated negatives (``model.negative_sampling = "truncated"``, :mod:`gaussea.models.truncated`).

Scores are "higher is better" (``-distance``) to fit ``margin_ranking``. Entity vectors are L2-normalised at
lookup (:func:`unit`) rather than renormalised after each step: the constraint ``||e|| = 1`` of TransE then
holds exactly inside every loss, and no projection hook is needed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gaussea.config import ModelConfig
from gaussea.modalities.relational import margin_ranking
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.tables import MEAN_INIT_STD, GaussianTable
from gaussea.models.triple_params import TripleScoreParams
from gaussea.samplers.negatives import NegativeSampler
from gaussea.samplers.neighbours import NeighbourLists

Lookup = Callable[[torch.Tensor], torch.Tensor]
PairDistance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return F.normalize(x, dim=-1)


def point_table(num: int, config: ModelConfig, generator: torch.Generator, dim: int | None = None
                ) -> GaussianTable:
    """A table of point embeddings (no variances), normal-initialised with std :data:`MEAN_INIT_STD`."""
    return GaussianTable(num, dim or config.dim, init_std=MEAN_INIT_STD, with_variance=False,
                         generator=generator)


def distance(x: torch.Tensor, norm: int, squared: bool = False) -> torch.Tensor:
    """L1 or L2 norm of ``x`` over its last dimension, or its square (OpenEA's "L2" score:
    :class:`~gaussea.models.triple_params.TripleScoreParams`)."""
    if norm == 1:
        return x.abs().sum(-1).square() if squared else x.abs().sum(-1)
    if norm == 2:
        return x.square().sum(-1) if squared else x.norm(dim=-1)
    raise ValueError(f"norm must be 1 or 2, got {norm}")


def transe_distance(head: torch.Tensor, rel: torch.Tensor, tail: torch.Tensor, norm: int = 2,
                    squared: bool = False) -> torch.Tensor:
    """``||h + r - t||_p`` (or its square): low for a plausible triple (Bordes et al. 2013)."""
    return distance(head + rel - tail, norm, squared)


class TripleRanking(nn.Module):
    """TransE margin ranking of positive triples against filtered same-graph corruptions.

    ``known`` (default: ``positives``) are the triples a corruption must not reproduce. Optional per-triple
    ``weights`` make the hinge a weighted mean, as IPTransE's soft alignment needs. A module (no parameters,
    non-persistent buffers) so that ``model.to(device)`` moves the triples with the model.
    """

    def __init__(self, positives: torch.Tensor, inputs: AlignmentInputs, *, negatives: int, score: TripleScoreParams,
                 known: torch.Tensor | None = None, weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("positives", positives, persistent=False)
        self.negatives = negatives
        self.score = score
        self.register_buffer("weights", weights, persistent=False)
        self.sampler = NegativeSampler(positives if known is None else known, inputs.side_of_entity,
                                       inputs.num_left, inputs.num_relations)

    def __len__(self) -> int:
        return int(self.positives.shape[0])

    def distance(self, triples: torch.Tensor, entity: Lookup, relation: Lookup) -> torch.Tensor:
        """``||h + r - t||`` of ``(n, 3)`` triples; heads and tails are looked up in one gather."""
        h, r, t = triples.unbind(-1)
        head, tail = entity(torch.cat([h, t])).split(len(h))
        return transe_distance(head, relation(r), tail, self.score.norm, self.score.squared_distance)

    def loss(self, idx: torch.Tensor, generator: torch.Generator, entity: Lookup, relation: Lookup,
             neighbours: NeighbourLists | None = None) -> torch.Tensor:
        """Mean hinge of the triples ``idx``; corruptions among ``neighbours`` once computed (truncated
        sampling, the model's :class:`~gaussea.models.truncated.TruncatedNegatives`), else uniform."""
        pos = self.positives[idx]
        neg, mask = self.sampler.sample(pos, self.negatives, generator, neighbours)
        # One lookup for positives and negatives: a gather's backward writes a dense table-sized gradient, so
        # fewer, larger gathers are markedly cheaper on big graphs.
        d = self.distance(torch.cat([pos, neg.reshape(-1, 3)]), entity, relation)
        f_pos, f_neg = -d[: len(pos)], -d[len(pos):].reshape(neg.shape[:2])
        if self.weights is not None:
            mask = mask * self.weights[idx].unsqueeze(1)
        return margin_ranking(f_pos, f_neg, self.score.margin, mask)


class PairRanking(nn.Module):
    """Seed pairs ranked above corrupted pairs: one side replaced by an entity of its own graph, filtered.

    A pair ``(e1, e2)`` is handled as the pseudo-triple ``(e1, 0, e2)`` so that :class:`NegativeSampler`
    does the corruption (head or tail, half each) and drops corruptions that are themselves seed pairs.
    A module for the same reason as :class:`TripleRanking`.
    """

    def __init__(self, pairs: torch.Tensor, inputs: AlignmentInputs, *, negatives: int, margin: float) -> None:
        super().__init__()
        zeros = torch.zeros(len(pairs), dtype=torch.long, device=pairs.device)
        pseudo = torch.stack([pairs[:, 0], zeros, pairs[:, 1]], 1) if len(pairs) else pairs.new_zeros((0, 3))
        self.register_buffer("pseudo", pseudo, persistent=False)
        self.negatives = negatives
        self.margin = margin
        self.sampler = NegativeSampler(self.pseudo, inputs.side_of_entity, inputs.num_left, 1)

    def __len__(self) -> int:
        return int(self.pseudo.shape[0])

    def loss(self, idx: torch.Tensor, generator: torch.Generator, pair_distance: PairDistance) -> torch.Tensor:
        pos = self.pseudo[idx]
        neg, mask = self.sampler.sample(pos, self.negatives, generator)
        f_pos = -pair_distance(pos[:, 0], pos[:, 2])
        f_neg = -pair_distance(neg[..., 0].reshape(-1), neg[..., 2].reshape(-1)).reshape(neg.shape[:2])
        return margin_ranking(f_pos, f_neg, self.margin, mask)


class LinearMap(nn.Module):
    """``x -> x M^T`` between embedding spaces (MTransE's / SEA's mapping), orthogonally initialised.

    An orthogonal start keeps norms, so the mapped unit vectors begin on the sphere like the targets.
    """

    def __init__(self, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator))
        self.weight = nn.Parameter(q * torch.sign(torch.diagonal(r)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T


def split_sides(x: torch.Tensor, num_left: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Global-id rows split into the left and right graphs' rows."""
    return x[:num_left], x[num_left:]
