"""TransE for entity alignment (Bordes et al. 2013), joined across graphs by parameter swapping.

Both graphs live in one embedding space; for every training seed pair ``(e1, e2)`` each triple of ``e1`` is
copied with ``e2`` in its place and vice versa (the exchange strategy, :func:`exchange_triples`), so seed
entities are trained on the same facts and land together, and their neighbours follow. One loss, ``rel``:
margin ranking of ``-||h + r - t||_2`` against filtered same-graph corruptions, entity vectors L2-normalised.

Simplifications: none of substance. Adam (the shared trainer's optimiser) replaces SGD; the margin is TransE's
1.0 and the negatives per positive are the shared ``ModelConfig.negatives``, uniform or truncated
(``model.negative_sampling``). Alignment is ranked with the shared evaluator (cosine + CSLS on the unit entity
vectors; on unit vectors cosine orders like the L2 distance).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs, exchange_triples
from gaussea.models.options import resolve_params
from gaussea.models.translational import TripleRanking, point_table, split_sides, unit
from gaussea.models.triple_params import TripleScoreParams
from gaussea.models.truncated import TruncatedNegatives


@dataclass(frozen=True)
class TransEParams(TripleScoreParams):
    """TransE's options: the triple score alone (margin 1.0 and the L2 distance of Bordes et al. 2013)."""


class TransE(TruncatedNegatives, AlignmentModel):
    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: TransEParams | None = None) -> None:
        super().__init__()
        self.params = resolve_params(TransEParams(), config, params)
        self.inputs = inputs
        self.entity = point_table(inputs.num_entities, config, generator)
        self.relation = point_table(inputs.num_relations, config, generator)
        positives = (exchange_triples(inputs.triples, inputs.train_pairs, inputs.num_entities) if config.exchange
                     else inputs.triples)
        self.triples = TripleRanking(positives, inputs, negatives=config.negatives, score=self.params)
        self.init_truncated_negatives(config, inputs)

    def ent(self, idx: torch.Tensor) -> torch.Tensor:
        return unit(self.entity.mean[idx])

    def rel(self, idx: torch.Tensor) -> torch.Tensor:
        return self.relation.mean[idx]

    def neighbour_embedding(self) -> torch.Tensor:
        """One space for both graphs: each entity's neighbours among its own graph's vectors."""
        return self.entity.mean

    def loss_names(self) -> list[str]:
        return ["rel"]

    def num_items(self, name: str) -> int:
        return len(self.triples)

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.triples.loss(idx, generator, self.ent, self.rel, self.neighbour_lists)

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        left, right = split_sides(unit(self.entity.mean.detach()), self.inputs.num_left)
        return Embeddings(left), Embeddings(right)
