"""GCN-Align (Wang et al. EMNLP 2018): two-layer GCNs over structure and attributes, seed-pair margin loss.

**Adjacency** — relation-functionality weighted, as the paper (§3.2) and the authors' code: for a triple
``(h, r, t)`` the edge ``h -> t`` gets ``max(ifun(r), 0.3)`` and ``t -> h`` gets ``max(fun(r), 0.3)``, with
``fun(r) = #distinct heads / #triples of r`` and ``ifun(r) = #distinct tails / #triples of r``; parallel
edges add up, self-loops are added and the matrix is normalised ``D^-1/2 (A + I) D^-1/2`` with ``D`` its row
sums. Both graphs are one block-diagonal matrix over the global ids: no edge crosses graphs, and seed pairs
act only through the loss (GCN-Align neither swaps nor shares).

**Channels** (each its own loss, updated in turn):

- ``struct``: ``H = A relu(A X)`` with ``X`` a learned (N, d) input embedding (the authors' code: the
  structure channel's layers only propagate, ``X`` carries the parameters);
- ``attr``: ``H = A relu(A F W)`` with ``F`` the bag-of-attributes matrix (1 where the entity has the
  attribute; the ``attr_features`` most frequent attributes) and ``W`` learned. Attributes come from the
  numerical triples' attribute ids, plus ``attribute_presence`` facts (DBP15K's ``training_attrs``) when the
  inputs carry them. The channel is off when ``"n"`` is not in ``ModelConfig.modalities`` or no entity has
  attributes.

Loss per channel: for each training seed pair ``(e1, e2)`` and ``negatives`` corruptions (one side replaced
by an entity of its own graph, filtered), ``max(0, ||h_e1 - h_e2||_1 + gamma - ||h_e1' - h_e2'||_1)``,
``gamma = 3``. Alignment combines the channels as the paper, ``beta * sim_struct + (1 - beta) * sim_attr``
with ``beta = 0.9`` — as cosines (see :func:`combine_for_cosine`) under the shared evaluator (cosine + CSLS),
where the paper combines L1 distances.

Simplifications: the shared trainer's Adam instead of SGD at learning rate 25; both
channels have dimension ``ModelConfig.dim`` (the paper: 300 / 100); every step recomputes the full GCN (the
paper's full-batch training), with the trainer's mini-batches of seed pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.matching import combine_for_cosine
from gaussea.models.options import resolve_params
from gaussea.models.translational import PairRanking, distance, point_table, split_sides


@dataclass(frozen=True)
class GCNAlignParams:
    margin: float = 3.0  # the paper's gamma
    beta: float = 0.9  # the paper's weight of the structure channel
    attr_features: int = 2000  # the authors' code keeps the 2000 most frequent attributes
    functionality: bool = True  # False: plain (unweighted) normalised adjacency
    min_weight: float = 0.3  # the authors' code: functionality weights are at least 0.3


def _sparse(indices: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """A coalesced sparse COO tensor; indices are built in range here, so invariant checks are skipped."""
    return torch.sparse_coo_tensor(indices, values, tuple(shape), check_invariants=False).coalesce()


def functionality(triples: torch.Tensor, num_relations: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``fun(r)`` (#distinct heads / #triples) and ``ifun(r)`` (#distinct tails / #triples) per relation."""
    count = torch.bincount(triples[:, 1], minlength=num_relations).float().clamp_min(1)
    out = []
    for col in (0, 2):
        distinct = torch.unique(triples[:, [1, col]], dim=0)
        out.append(torch.bincount(distinct[:, 0], minlength=num_relations).float() / count)
    return out[0], out[1]


def normalised_adjacency(triples: torch.Tensor, num_entities: int, num_relations: int, *, weighted: bool,
                         min_weight: float) -> torch.Tensor:
    """The sparse ``D^-1/2 (A + I) D^-1/2`` of GCN-Align (functionality-weighted or plain)."""
    h, r, t = triples.unbind(1)
    keep = h != t
    h, r, t = h[keep], r[keep], t[keep]
    if weighted:
        fun, ifun = functionality(triples, num_relations)
        w_ht, w_th = ifun[r].clamp_min(min_weight), fun[r].clamp_min(min_weight)
    else:
        w_ht = w_th = torch.ones(len(h))
    loops = torch.arange(num_entities)
    rows = torch.cat([h, t, loops])
    cols = torch.cat([t, h, loops])
    vals = torch.cat([w_ht, w_th, torch.ones(num_entities)])
    adj = _sparse(torch.stack([rows, cols]), vals, (num_entities, num_entities))
    if not weighted:  # a plain adjacency counts an edge once however many relations connect the pair
        adj = _sparse(adj.indices(), torch.ones_like(adj.values()), adj.shape)
    idx, val = adj.indices(), adj.values()
    deg = torch.zeros(num_entities).index_add_(0, idx[0], val)
    inv_sqrt = deg.clamp_min(1e-12).rsqrt()
    return _sparse(idx, val * inv_sqrt[idx[0]] * inv_sqrt[idx[1]], adj.shape)


def attribute_bag(entity: torch.Tensor, attribute: torch.Tensor, num_entities: int, top: int) -> torch.Tensor:
    """Sparse (N, k) 0/1 matrix of the ``top`` most frequent attributes each entity has."""
    pairs = torch.unique(torch.stack([entity, attribute], 1), dim=0)
    if len(pairs) == 0:
        return _sparse(torch.zeros((2, 0), dtype=torch.long), torch.zeros(0), (num_entities, 0))
    ids, counts = torch.unique(pairs[:, 1], return_counts=True)
    order = torch.argsort(counts, descending=True, stable=True)[:top]
    column = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
    column[ids[order]] = torch.arange(len(order))
    col = column[pairs[:, 1]]
    keep = col >= 0
    idx = torch.stack([pairs[keep, 0], col[keep]])
    return _sparse(idx, torch.ones(idx.shape[1]), (num_entities, len(order)))


class GCNAlign(AlignmentModel):
    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: GCNAlignParams | None = None) -> None:
        super().__init__()
        self.params = p = resolve_params(GCNAlignParams(), config, params)
        self.inputs = inputs
        n = inputs.num_entities
        self.register_buffer("adj", normalised_adjacency(inputs.triples, n, inputs.num_relations,
                                                         weighted=p.functionality, min_weight=p.min_weight),
                             persistent=False)
        self.struct_input = point_table(n, config, generator)
        entity, attribute = inputs.num_entity, inputs.num_attribute
        presence = getattr(inputs, "attribute_presence", None)  # (k, 2) global (entity, attribute), if carried
        if presence is not None and len(presence):
            entity = torch.cat([entity, presence[:, 0]])
            attribute = torch.cat([attribute, presence[:, 1]])
        bag = attribute_bag(entity, attribute, n, p.attr_features)
        self.use_attr = "n" in config.modalities and bag.shape[1] > 0 and bag.values().numel() > 0
        if self.use_attr:
            self.register_buffer("attr_bag", bag, persistent=False)
            glorot = (2.0 / (bag.shape[1] + config.dim)) ** 0.5
            self.attr_weight = nn.Parameter(torch.randn(bag.shape[1], config.dim, generator=generator) * glorot)
        self.pairs = PairRanking(inputs.train_pairs, inputs, negatives=config.negatives, margin=p.margin)

    def structure(self) -> torch.Tensor:
        return torch.sparse.mm(self.adj, torch.relu(torch.sparse.mm(self.adj, self.struct_input.mean)))

    def attributes(self) -> torch.Tensor:
        return torch.sparse.mm(self.adj, torch.relu(torch.sparse.mm(self.adj, torch.sparse.mm(self.attr_bag,
                                                                                                self.attr_weight))))

    def loss_names(self) -> list[str]:
        if not len(self.pairs):
            return []
        return ["struct", "attr"] if self.use_attr else ["struct"]

    def num_items(self, name: str) -> int:
        return len(self.pairs)

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        h = self.structure() if name == "struct" else self.attributes()
        return self.pairs.loss(idx, generator, lambda a, b: distance(h[a] - h[b], 1))

    def _channels(self) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            out = {"structure": self.structure()}
            if self.use_attr:
                out["attribute"] = self.attributes()
        return out

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        ch = self._channels()
        blocks = [(ch["structure"], self.params.beta)]
        if self.use_attr:
            blocks.append((ch["attribute"], 1.0 - self.params.beta))
        left, right = split_sides(combine_for_cosine(blocks), self.inputs.num_left)
        return Embeddings(left), Embeddings(right)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        out = {}
        for name, h in self._channels().items():
            left, right = split_sides(h, self.inputs.num_left)
            out[name] = (Embeddings(left), Embeddings(right))
        return out
