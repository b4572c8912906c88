"""IMUSE (He et al. DASFAA 2019): relation and attribute embeddings combined, bi-directional global filtering.

Two entity spaces, each trained by its own loss (updated in turn):

- ``rel``: TransE with parameter swapping over the seed pairs (:func:`exchange_triples`), margin ranking
  against filtered same-graph corruptions (uniform or truncated, ``model.negative_sampling``), unit entity
  vectors;
- ``attr``: for every numerical triple ``(e, a, v)`` the entity's *attribute-space* vector should be close to
  an encoding of the value, ``||unit(x_e) - unit(enc(a, v))||_2``, ranked against the same fact on a random
  entity of the same graph (always uniform: truncated sampling applies to the relational part, whose
  vectors the neighbour lists come from). ``enc`` is the numerical modality's encoder
  (:class:`~gaussea.modalities.numerical.NumericEncoder`: per-attribute normalisation, RBF expansion, CNN),
  so IMUSE reads numbers exactly as the Gaussian model does. Seed pairs swap attribute facts too: ``e2``
  gets ``e1``'s ``(a, v)`` facts and vice versa, which is what ties the two graphs' attribute vocabularies
  together.

**Combined similarity.** Ranking (Hits@k, MR, MRR) uses ``alpha * cos_rel + (1 - alpha) * cos_attr``
(``alpha = 0.5``), built into one vector per entity by :func:`combine_for_cosine` so the shared evaluator
(cosine + CSLS) scores it; an entity without attribute facts (even after swapping) has an all-zero attribute
block and is compared on relations only.

**Bi-directional global filtering** (:meth:`IMUSE.filtered_alignment`): when *producing* alignments, a pair
``(e1, e2)`` is kept only if ``e2`` is ``e1``'s best match among the candidates *and* ``e1`` is ``e2``'s
best match (mutual best under the combined similarity); everything else is left unaligned. This raises the
precision of the emitted alignment at the cost of recall. It does **not** change the reported ranking metrics:
Hits@k / MR / MRR rank every candidate by the combined similarity, as for every other model, because a
filter that drops queries would make those metrics incomparable. The filtered alignment is available for
analysis (and for a precision / recall report should the runner ask for one).

Simplifications: IMUSE's first, unsupervised step — pre-aligning entities by string similarity of attribute
values and aligning attribute names by string similarity — is replaced by the supervised seed pairs every
model here receives (our data's attribute values are numbers, not strings). Values are encoded by the shared
numeric encoder instead of a character-level one. No test link is used anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.modalities.relational import margin_ranking
from gaussea.models.base import AlignmentModel
from gaussea.models.encoder_params import NumericEncoderParams
from gaussea.models.inputs import AlignmentInputs, exchange_triples
from gaussea.models.matching import combine_for_cosine, mutual_nearest
from gaussea.models.modal_encoders import numeric_encoder
from gaussea.models.options import resolve_params
from gaussea.models.translational import TripleRanking, point_table, split_sides, unit
from gaussea.models.triple_params import TripleScoreParams
from gaussea.models.truncated import TruncatedNegatives
from gaussea.samplers.negatives import random_same_graph


@dataclass(frozen=True)
class IMUSEParams(NumericEncoderParams, TripleScoreParams):
    """IMUSE's options, its numerical encoder's (:class:`NumericEncoderParams`, the paper model's encoder) and its
    relation loss's triple score (:class:`TripleScoreParams`; margin ours, TransE's 1.0)."""

    attr_margin: float = 0.5  # ours: distances of unit vectors lie in [0, 2]
    alpha: float = 0.5  # ours: weight of the relation similarity in the combined one (equal weights)


def exchange_facts(entity: torch.Tensor, pairs: torch.Tensor, num_entities: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ``(entity, ...)`` facts extended by the exchange strategy: ``(swapped entity, source row)``."""
    rows = torch.arange(len(entity), device=entity.device)
    if len(pairs) == 0:
        return entity, rows
    swap = torch.arange(num_entities, device=entity.device)
    swap[pairs[:, 0]] = pairs[:, 1]
    swap[pairs[:, 1]] = pairs[:, 0]
    moved = swap[entity] != entity
    return torch.cat([entity, swap[entity][moved]]), torch.cat([rows, rows[moved]])


class IMUSE(TruncatedNegatives, AlignmentModel):
    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: IMUSEParams | None = None) -> None:
        super().__init__()
        self.params = p = resolve_params(IMUSEParams(), config, params)
        self.inputs = inputs
        self.negatives = config.negatives
        n = inputs.num_entities
        self.entity = point_table(n, config, generator)
        self.relation = point_table(inputs.num_relations, config, generator)
        positives = (exchange_triples(inputs.triples, inputs.train_pairs, n) if config.exchange
                     else inputs.triples)
        self.triples = TripleRanking(positives, inputs, negatives=config.negatives, score=p)
        self.use_attr = "n" in config.modalities and len(inputs.num_entity) > 0
        has_attr = torch.zeros(n, dtype=torch.bool)
        if self.use_attr:
            self.attr_entity = point_table(n, config, generator)
            self.encoder = numeric_encoder(inputs, config.dim, p)
            pairs = inputs.train_pairs if config.exchange else inputs.train_pairs[:0]
            fact_entity, fact_row = exchange_facts(inputs.num_entity, pairs, n)
            self.register_buffer("fact_entity", fact_entity, persistent=False)
            self.register_buffer("fact_row", fact_row, persistent=False)
            has_attr[fact_entity] = True
        self.register_buffer("has_attr", has_attr, persistent=False)
        self.init_truncated_negatives(config, inputs)

    def ent(self, idx: torch.Tensor) -> torch.Tensor:
        return unit(self.entity.mean[idx])

    def rel(self, idx: torch.Tensor) -> torch.Tensor:
        return self.relation.mean[idx]

    def neighbour_embedding(self) -> torch.Tensor:
        """The relational vectors: only the relational loss draws truncated negatives (see the module docstring)."""
        return self.entity.mean

    def loss_names(self) -> list[str]:
        return ["rel", "attr"] if self.use_attr else ["rel"]

    def num_items(self, name: str) -> int:
        return len(self.triples) if name == "rel" else len(self.fact_entity)

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if name == "rel":
            return self.triples.loss(idx, generator, self.ent, self.rel, self.neighbour_lists)
        return self._loss_attr(idx, generator)

    def _loss_attr(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        ent, row = self.fact_entity[idx], self.fact_row[idx]
        attr, value = self.inputs.num_attribute[row], self.inputs.num_value[row]
        # Encode each distinct (attribute, value) of the batch once: numbers repeat a lot (years, counts).
        keys = torch.stack([attr.double(), value.double()], 1)
        uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
        target = unit(self.encoder(uniq[:, 0].long(), uniq[:, 1].float()))[inverse]
        neg = random_same_graph(ent.unsqueeze(1).expand(-1, self.negatives), self.inputs.side_of_entity,
                                self.inputs.num_left, generator)
        f_pos = -(unit(self.attr_entity.mean[ent]) - target).norm(dim=-1)
        f_neg = -(unit(self.attr_entity.mean[neg]) - target.unsqueeze(1)).norm(dim=-1)
        return margin_ranking(f_pos, f_neg, self.params.attr_margin, (neg != ent.unsqueeze(1)).float())

    # --- prediction -----------------------------------------------------------------------------
    def combined(self) -> torch.Tensor:
        """One row per entity whose cosine is the combined similarity (see the module docstring)."""
        rel = self.entity.mean.detach()
        if not self.use_attr:
            return unit(rel)
        attr = unit(self.attr_entity.mean.detach()) * self.has_attr.unsqueeze(1)
        return combine_for_cosine([(rel, self.params.alpha), (attr, 1.0 - self.params.alpha)])

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        left, right = split_sides(self.combined(), self.inputs.num_left)
        return Embeddings(left), Embeddings(right)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        n1 = self.inputs.num_left
        out = {"relational": tuple(Embeddings(x) for x in split_sides(unit(self.entity.mean.detach()), n1))}
        if self.use_attr:
            out["attribute"] = tuple(Embeddings(x) for x in split_sides(unit(self.attr_entity.mean.detach()), n1))
        return out  # type: ignore[return-value]

    def filtered_alignment(self, left_ids: torch.Tensor | None = None, right_ids: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Bi-directional global filtering: mutual-best pairs under the combined similarity.

        ``left_ids`` / ``right_ids`` are side-local candidate ids (default: every entity of that graph).
        Returns ``(pairs, similarity)`` with ``pairs`` a ``(k, 2)`` tensor of side-local ``(left, right)``
        ids; each entity appears at most once.
        """
        left, right = split_sides(self.combined(), self.inputs.num_left)
        device = left.device
        left_ids = torch.arange(len(left), device=device) if left_ids is None else left_ids
        right_ids = torch.arange(len(right), device=device) if right_ids is None else right_ids
        left_ids, right_ids = torch.as_tensor(left_ids, device=device), torch.as_tensor(right_ids, device=device)
        li, ri, sim = mutual_nearest(left[left_ids], right[right_ids])
        return torch.stack([left_ids[li], right_ids[ri]], 1), sim
