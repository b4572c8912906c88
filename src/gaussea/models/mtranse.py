"""MTransE (Chen et al. IJCAI 2017), linear-transformation variant.

Each graph is embedded by its own TransE (one shared table holds both graphs' rows, but no triple crosses graphs
and no parameter is shared), and a matrix ``M`` learned on the seed pairs maps the left space onto the right:
alignment ranks right entities by their closeness to ``M e1``. Losses, updated in turn:

- ``rel``: TransE margin ranking in each graph (filtered same-graph negatives, unit entity vectors; truncated
  negatives take the neighbours within the replaced entity's graph, in its unmapped space);
- ``ac``: ``||M e1 - e2||^2`` over seed pairs (the paper's ``S_a`` for the linear-transformation technique).

:meth:`entity_embeddings` returns ``M e1`` for left entities and ``e2`` for right ones, so the shared evaluator
ranks in the right graph's space.

Simplifications: the paper's knowledge loss scores positives only (so does OpenEA's port); we rank positives
against negatives with a margin, the same TransE objective as every other translational baseline here, since a
positive-only loss on its own can shrink all translations to zero. The paper weighs ``S_a`` by ``alpha``
(``align_weight``, 1 here: the paper's value is not given, OpenEA's config only requires it above 1); both losses
are batch means. Ranking uses the shared cosine + CSLS rather than ``||M e1 - e2||``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.options import resolve_params
from gaussea.models.translational import LinearMap, TripleRanking, point_table, split_sides, unit
from gaussea.models.triple_params import TripleScoreParams
from gaussea.models.truncated import TruncatedNegatives
from gaussea.schedules import RelationallyPaced


@dataclass(frozen=True)
class MTransEParams(TripleScoreParams):
    # margin: ours, TransE's 1.0 (the paper's loss has none, see the module docstring)
    align_weight: float = 1.0  # ours: the paper's alpha, weight of the mapping loss


class MTransE(TruncatedNegatives, RelationallyPaced, AlignmentModel):
    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: MTransEParams | None = None) -> None:
        super().__init__()
        self.params = resolve_params(MTransEParams(), config, params)
        self.inputs = inputs
        self.entity = point_table(inputs.num_entities, config, generator)
        self.relation = point_table(inputs.num_relations, config, generator)
        self.mapping = LinearMap(config.dim, generator)
        self.triples = TripleRanking(inputs.triples, inputs, negatives=config.negatives, score=self.params)
        self.init_truncated_negatives(config, inputs)

    def ent(self, idx: torch.Tensor) -> torch.Tensor:
        return unit(self.entity.mean[idx])

    def rel(self, idx: torch.Tensor) -> torch.Tensor:
        return self.relation.mean[idx]

    def neighbour_embedding(self) -> torch.Tensor:
        """Each graph's own (unmapped) vectors: a negative replaces an entity within its graph's space."""
        return self.entity.mean

    def loss_names(self) -> list[str]:
        return ["rel", "ac"] if len(self.inputs.train_pairs) else ["rel"]

    def num_items(self, name: str) -> int:
        return len(self.triples) if name == "rel" else len(self.inputs.train_pairs)

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if name == "rel":
            return self.triples.loss(idx, generator, self.ent, self.rel, self.neighbour_lists)
        pairs = self.inputs.train_pairs[idx]
        gap = self.mapping(self.ent(pairs[:, 0])) - self.ent(pairs[:, 1])
        return self.params.align_weight * (gap**2).sum(-1).mean()

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        left, right = split_sides(unit(self.entity.mean.detach()), self.inputs.num_left)
        return Embeddings(self.mapping(left).detach()), Embeddings(right)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        """The unmapped spaces too: how much the mapping adds over comparing raw per-graph vectors."""
        left, right = split_sides(unit(self.entity.mean.detach()), self.inputs.num_left)
        return {"unmapped": (Embeddings(left), Embeddings(right))}
