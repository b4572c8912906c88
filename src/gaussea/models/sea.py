"""SEA (Pei et al. WWW 2019): semi-supervised alignment with awareness of degree difference.

Each graph gets its own TransE embedding; two matrices map between the spaces, ``M12`` (left to right) and
``M21`` (right to left). Losses, updated in turn each epoch:

- ``rel``: TransE margin ranking in each graph (filtered same-graph negatives, unit entity vectors; truncated
  negatives take the neighbours within the replaced entity's graph, in its unmapped space);
- ``ac``: supervised mapping on seed pairs, ``||M12 e1 - e2|| + ||M21 e2 - e1||``;
- ``cycle``: the semi-supervised term on *unaligned* entities (everything outside the training pairs, no test
  link used): ``||M21 M12 e1 - e1||`` for left entities and ``||M12 M21 e2 - e2||`` for right ones, so the
  maps are mutually inverse on the data, not only on the seeds;
- ``disc``: one discriminator per graph (an MLP, as the authors' code) learns to tell high-degree entities from
  low-degree ones from their (detached) embeddings — class-balanced binary cross-entropy;
- ``adv``: the embeddings are trained to fool it (labels flipped, discriminator frozen), which removes degree
  information from the embeddings so that rare entities are not pushed apart from frequent ones.

Alignment ranks right entities against ``M12 e1`` (:meth:`entity_embeddings`).

Simplifications: "high" vs "low" degree is a median split of each graph's degree (the paper does not fix a
threshold; a median split gives balanced classes). Weights: the cycle term has the authors' 0.1, the
adversarial term 0.1 (ours: it should regularise the embedding, not dominate it), the others 1; every loss is a
batch mean. The margin is the authors' 0.5. Ranking uses the shared cosine + CSLS rather than the distance to
``M12 e1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

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
class SEAParams(TripleScoreParams):
    margin: float = 0.5  # the authors' m1
    high_share: float = 0.5  # ours: share of each graph's entities (by degree) labelled "high degree"
    disc_hidden: int = 500  # the authors' discriminator width
    cycle_weight: float = 0.1  # the authors' code: 0.1 on the cycle term over unlabelled entities
    adv_weight: float = 0.1  # ours: weight of the embeddings' adversarial (fooling) term


class DegreeDiscriminator(nn.Module):
    """``dim -> hidden -> 1`` MLP giving the logit of "high degree"; usable with frozen weights."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        layers = [(self.hidden.weight, self.hidden.bias), (self.out.weight, self.out.bias)]
        if frozen:  # gradients reach x only: the adversarial step must not train the discriminator
            layers = [(w.detach(), b.detach()) for w, b in layers]
        (w1, b1), (w2, b2) = layers
        return F.linear(torch.relu(F.linear(x, w1, b1)), w2, b2).squeeze(-1)


def high_degree_mask(triples: torch.Tensor, side_of_entity: torch.Tensor, share: float) -> torch.Tensor:
    """True for the ``share`` most connected entities of each graph (degree = triples mentioning it)."""
    n = int(side_of_entity.shape[0])
    degree = torch.bincount(triples[:, 0], minlength=n) + torch.bincount(triples[:, 2], minlength=n)
    high = torch.zeros(n, dtype=torch.bool)
    for side in (0, 1):
        ids = torch.nonzero(side_of_entity == side).squeeze(1)
        if len(ids) == 0:
            continue
        order = torch.argsort(degree[ids], descending=True, stable=True)  # ties: lower id first, deterministic
        high[ids[order[: int(round(share * len(ids)))]]] = True
    return high


def balanced_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy with both classes weighted equally whatever their batch counts."""
    losses = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    pos = labels > 0.5
    parts = [losses[mask].mean() for mask in (pos, ~pos) if mask.any()]
    return torch.stack(parts).mean()


class SEA(TruncatedNegatives, RelationallyPaced, AlignmentModel):
    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: SEAParams | None = None) -> None:
        super().__init__()
        self.params = resolve_params(SEAParams(), config, params)
        self.inputs = inputs
        n = inputs.num_entities
        self.entity = point_table(n, config, generator)
        self.relation = point_table(inputs.num_relations, config, generator)
        self.map12 = LinearMap(config.dim, generator)
        self.map21 = LinearMap(config.dim, generator)
        self.discriminators = nn.ModuleList([DegreeDiscriminator(config.dim, self.params.disc_hidden)
                                             for _ in range(2)])
        self.triples = TripleRanking(inputs.triples, inputs, negatives=config.negatives, score=self.params)
        seeded = torch.zeros(n, dtype=torch.bool)
        seeded[inputs.train_pairs.reshape(-1)] = True
        self.register_buffer("unaligned", torch.nonzero(~seeded).squeeze(1), persistent=False)
        self.register_buffer("high", high_degree_mask(inputs.triples, inputs.side_of_entity,
                                                      self.params.high_share), persistent=False)
        self.init_truncated_negatives(config, inputs)

    def ent(self, idx: torch.Tensor) -> torch.Tensor:
        return unit(self.entity.mean[idx])

    def rel(self, idx: torch.Tensor) -> torch.Tensor:
        return self.relation.mean[idx]

    def neighbour_embedding(self) -> torch.Tensor:
        """Each graph's own (unmapped) vectors: a negative replaces an entity within its graph's space."""
        return self.entity.mean

    def loss_names(self) -> list[str]:
        names = ["rel"]
        if len(self.inputs.train_pairs):
            names.append("ac")
        return names + ["cycle", "disc", "adv"]

    def num_items(self, name: str) -> int:
        return {"rel": len(self.triples), "ac": len(self.inputs.train_pairs), "cycle": len(self.unaligned),
                "disc": self.inputs.num_entities, "adv": self.inputs.num_entities}[name]

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if name == "rel":
            return self.triples.loss(idx, generator, self.ent, self.rel, self.neighbour_lists)
        if name == "ac":
            pairs = self.inputs.train_pairs[idx]
            e1, e2 = self.ent(pairs[:, 0]), self.ent(pairs[:, 1])
            return ((self.map12(e1) - e2).norm(dim=-1) + (self.map21(e2) - e1).norm(dim=-1)).mean()
        if name == "cycle":
            ids = self.unaligned[idx]
            e = self.ent(ids)
            left = (self.inputs.side_of_entity[ids] == 0).unsqueeze(1)
            there_and_back = torch.where(left, self.map21(self.map12(e)), self.map12(self.map21(e)))
            return self.params.cycle_weight * (there_and_back - e).norm(dim=-1).mean()
        if name == "adv":
            return self.params.adv_weight * self._degree_loss(idx, adversarial=True)
        return self._degree_loss(idx, adversarial=False)

    def _degree_loss(self, idx: torch.Tensor, adversarial: bool) -> torch.Tensor:
        side = self.inputs.side_of_entity[idx]
        labels = self.high[idx].float()
        e = self.ent(idx)
        if not adversarial:
            e = e.detach()  # the discriminator step trains the discriminators only
            target = labels
        else:
            target = 1.0 - labels  # fool it: high-degree entities should look low-degree and vice versa
        losses = []
        for s, disc in enumerate(self.discriminators):
            mask = side == s
            if mask.any():
                losses.append(balanced_bce(disc(e[mask], frozen=adversarial), target[mask]))
        return torch.stack(losses).mean()

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        left, right = split_sides(unit(self.entity.mean.detach()), self.inputs.num_left)
        return Embeddings(self.map12(left).detach()), Embeddings(right)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        left, right = split_sides(unit(self.entity.mean.detach()), self.inputs.num_left)
        return {"unmapped": (Embeddings(left), Embeddings(right)),
                "mapped_right_to_left": (Embeddings(left), Embeddings(self.map21(right).detach()))}
