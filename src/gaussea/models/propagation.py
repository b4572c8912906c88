"""Training-free label propagation (after LightEA, Mao et al. 2022): the yardstick every table shows.

No parameter is learned and no loss is minimised: the embedding is a fixed function of the graphs, the seed
pairs and one random draw, computed once (seconds on one core). A trained model that does not beat it has
not learned anything the graph structure did not already give away (DESIGN.md §5).

**Labels.** Each training pair ``(e1, e2)`` gets one random unit vector of ``dim`` dimensions (a standard
normal draw, normalised), shared by both its ends; every other entity starts at zero. An entity in several
pairs gets the normalised sum of their vectors.

**Entity view.** ``A`` is the adjacency of the union of both graphs over the global ids (:mod:`.inputs`): an
edge ``h - t`` for every triple ``(h, r, t)`` with ``h != t``, in both directions, counted once however many
triples join the pair (binary), no self-loops, rows normalised (``A_hat = D^-1 A``; an isolated entity's row
is zero). The graphs share no edge: they meet only through the shared labels. ``H_0`` are the labels and
``H_k = normalise_rows(A_hat H_{k-1})`` for ``k = 1 .. hops``; the entity view is ``[H_0, H_1, ..., H_hops]``,
each block a unit vector per entity (or zero). ``H_0`` is kept (as LightEA does): it is zero for every entity
outside the seed pairs, so it changes no test-by-test score, and it is what the relation view below reads at
the seed entities themselves.

**Relation view.** With ``E = [H_0, ..., H_hops]`` the entity view, relation ``r``'s vector is the mean over its
triples of ``E[t] - E[h]`` (the TransE reading: a relation is a translation in label space; relations of both
graphs that join corresponding entity pairs get similar vectors, because corresponding entities share labels),
scaled to unit length. Each entity gets the mean vector of the relations of its *incoming* triples minus that
of its *outgoing* ones (``e ~ h + r`` for ``(h, r, e)``, ``e ~ t - r`` for ``(e, r, t)``), normalised: one
block of ``E``'s width.

**Final embedding** (``relation_view=True``, the default): the row-normalised concatenation
``[H_0, ..., H_hops, relation view]``, ``2 (hops + 1) label_dim`` numbers per entity (3,072 at the defaults),
every non-zero block weighing the same in the cosine. ``relation_view=False`` keeps the entity view alone.

How the relation view is built was chosen on validation slices (10 % of the links carved out of the non-train
links; test links unused; valid x valid H@1 with CSLS, FB15K*-DB15K / DBP15K zh_en / D-Y-15K-V1;
``bench/probes/propagation_variants.py``): the entity view alone 47.2 / 70.3 / 68.7 %; the signed block from
plain relation means 50.2 / 76.1 / 71.8 %; from unit relation vectors 50.6 / 77.8 / 72.1 % (kept); incoming and
outgoing as two blocks, the relation block weighted 2x, a multiplicity-weighted adjacency or 1,024-d labels did
no better on all three. Three hops are much better on the sparse D-Y-15K-V1 (80.3 %) and worse on the other two
(48.0 / 76.9 %): ``hops`` stays 2 (LightEA) and is worth raising on sparse graphs (BENCHMARKS.md, "Propagation").

**Bootstrapping** (``iterative_rounds = R > 0``): after the first propagation, pairs of entities outside every
known pair (training pairs and those proposed so far) that are each other's best match (cosine, re-scored by
CSLS with ``iterative_csls_k``; :func:`gaussea.models.matching.propose_mutual_best`) join the seed pairs, every
seed pair gets a fresh label, and everything is propagated again, ``R`` times (fewer if a round proposes
nothing). Only the embeddings are used, never test links; the result is labelled ``"iterative": true``.

**Inputs.** The relational triples and the training pairs only: numerical and visual inputs are not used
(``model.modalities`` must include ``r``; other modalities listed there are ignored).

**Randomness and reproducibility.** The builder draws one seed from the run's generator; every random vector
comes from a private generator seeded with it when the embedding is computed, so rebuilding the model from
its run directory (``gaussea evaluate`` / ``align``) recomputes the same embedding and the checkpoint stores
nothing. Options (``ModelConfig.options``): see :class:`PropagationParams`; ``ModelConfig.dim`` is not read,
so that the shared default of the trained models (100) does not silently shrink this one's label space.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.matching import propose_mutual_best
from gaussea.models.options import require_relations, resolve_params
from gaussea.models.translational import split_sides, unit


@dataclass(frozen=True)
class PropagationParams:
    """Options of :class:`LabelPropagation` (``--set model.options.<name>=<value>``); all ours unless noted."""

    label_dim: int = 512  # width of the random labels (LightEA: a few hundred to a thousand)
    hops: int = 2  # propagation steps (LightEA: 2; 3 is far better on the sparse D-Y-15K-V1, see the docstring)
    relation_view: bool = True  # add the relation view (mean translation of each relation) to the entity view
    iterative_rounds: int = 0  # bootstrapping rounds (0: none; > 0 labels the run iterative)
    iterative_csls_k: int | None = 10  # CSLS neighbourhood of the mutual-best proposals (None: plain cosine)
    iterative_threshold: float | None = None  # keep only proposals scoring at least this (None: every mutual pair)

    def __post_init__(self) -> None:
        if self.label_dim < 1:
            raise ValueError(f"propagation option label_dim must be >= 1, got {self.label_dim}")
        if self.hops < 0:
            raise ValueError(f"propagation option hops must be >= 0, got {self.hops}")
        if self.iterative_rounds < 0:
            raise ValueError(f"propagation option iterative_rounds must be >= 0, got {self.iterative_rounds}")
        if self.iterative_csls_k is not None and self.iterative_csls_k < 1:
            raise ValueError(f"propagation option iterative_csls_k must be >= 1 or null, got {self.iterative_csls_k}")


def _sparse(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """A coalesced sparse COO matrix from (possibly repeated) entries, repeats summed."""
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape, check_invariants=False).coalesce()


def row_normalised_adjacency(triples: torch.Tensor, num_entities: int) -> torch.Tensor:
    """``D^-1 A`` of the binary, symmetric, loop-free adjacency of ``triples`` (global ids), sparse COO float32."""
    h, t = triples[:, 0], triples[:, 2]
    keep = h != t
    rows = torch.cat([h[keep], t[keep]])
    cols = torch.cat([t[keep], h[keep]])
    if len(rows):
        key = torch.unique(rows * num_entities + cols)  # each undirected edge once in each direction
        rows, cols = key // num_entities, key % num_entities
    degree = torch.bincount(rows, minlength=num_entities).to(torch.float32)
    values = 1.0 / degree[rows]
    return _sparse(rows, cols, values, (num_entities, num_entities))


def seed_labels(pairs: torch.Tensor, num_entities: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """``(N, dim)``: one random unit vector per pair in ``pairs`` (global ids) on both its ends, zero elsewhere.

    Drawn on the CPU ``generator`` (the same numbers on every device), then moved to ``pairs``' device.
    """
    vectors = unit(torch.randn(len(pairs), dim, generator=generator).to(pairs.device))
    labels = torch.zeros(num_entities, dim, device=pairs.device)
    labels.index_add_(0, pairs[:, 0], vectors)
    labels.index_add_(0, pairs[:, 1], vectors)
    return unit(labels)


def propagate(adjacency: torch.Tensor, labels: torch.Tensor, hops: int) -> list[torch.Tensor]:
    """``[H_0, ..., H_hops]`` with ``H_0 = labels`` and ``H_k = normalise_rows(adjacency @ H_{k-1})``."""
    out = [labels]
    for _ in range(hops):
        out.append(unit(torch.sparse.mm(adjacency, out[-1])))
    return out


def relation_translations(features: torch.Tensor, triples: torch.Tensor, num_relations: int) -> torch.Tensor:
    """``(R, D)``: each relation's mean of ``features[t] - features[h]`` over its triples (zero if it has none).

    One sparse product: row ``r`` of the ``(R, N)`` matrix holds ``+1/c_r`` at every tail and ``-1/c_r`` at every
    head of ``r``'s ``c_r`` triples (entries of one entity add up).
    """
    h, r, t = triples.unbind(1)
    count = torch.bincount(r, minlength=num_relations).to(features.dtype).clamp_min(1.0)
    weight = 1.0 / count[r]
    means = _sparse(torch.cat([r, r]), torch.cat([t, h]), torch.cat([weight, -weight]),
                        (num_relations, features.shape[0]))
    return torch.sparse.mm(means, features)


def relation_view(features: torch.Tensor, triples: torch.Tensor, num_relations: int) -> torch.Tensor:
    """``(N, D)``: per entity, the unit vector of (mean relation vector of its incoming triples) minus (that of its
    outgoing triples), the relation vectors being the unit :func:`relation_translations` of ``features``.

    The signs are the TransE reading: an incoming triple ``(h, r, e)`` says ``e ~ h + r``, an outgoing one
    ``(e, r, t)`` says ``e ~ t - r``. The relation vectors are scaled to unit length first, so that every
    relation weighs the same: a relation whose triples point many ways has a short mean and would count for
    little. An entity without triples gets zero.
    """
    translations = unit(relation_translations(features, triples, num_relations))
    h, r, t = triples.unbind(1)
    n = features.shape[0]
    weights = []
    for ends, sign in ((t, 1.0), (h, -1.0)):
        count = torch.bincount(ends, minlength=n).to(features.dtype).clamp_min(1.0)
        weights.append(sign / count[ends])
    incidence = _sparse(torch.cat([t, h]), torch.cat([r, r]), torch.cat(weights), (n, num_relations))
    return unit(torch.sparse.mm(incidence, translations))


@dataclass(frozen=True)
class PropagationViews:
    """The blocks of one propagation, before they are joined into the final embedding."""

    entity: list[torch.Tensor]  # H_0 .. H_hops
    relation: list[torch.Tensor]  # [relation view] (empty without it)

    def joined(self, blocks: list[torch.Tensor]) -> torch.Tensor:
        return unit(torch.cat(blocks, dim=1))

    def final(self) -> torch.Tensor:
        return self.joined(self.entity + self.relation)


def propagation_views(inputs: AlignmentInputs, pairs: torch.Tensor, params: PropagationParams,
                      generator: torch.Generator, adjacency: torch.Tensor | None = None) -> PropagationViews:
    """Label, propagate and (optionally) add the relation view for the seed ``pairs`` (global ids)."""
    n = inputs.num_entities
    adjacency = row_normalised_adjacency(inputs.triples, n) if adjacency is None else adjacency
    labels = seed_labels(pairs, n, params.label_dim, generator)
    entity = propagate(adjacency, labels, params.hops)
    relation = [relation_view(torch.cat(entity, 1), inputs.triples, inputs.num_relations)] \
        if params.relation_view and len(inputs.triples) else []
    return PropagationViews(entity, relation)


class LabelPropagation(AlignmentModel):
    """The ``propagation`` model: no losses, embeddings computed once (see the module docstring)."""

    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: PropagationParams | None = None) -> None:
        super().__init__()
        require_relations(config, "propagation", "propagates over")
        self.params = resolve_params(PropagationParams(), config, params)
        self.inputs = inputs
        self.iterative = self.params.iterative_rounds > 0
        # Every random vector derives from this one draw (see the module docstring).
        self.label_seed = int(torch.randint(2**62, (1,), generator=generator))
        self.register_buffer("_final", None, persistent=False)
        self._views: PropagationViews | None = None
        self.proposed_pairs = 0  # pairs added by bootstrapping, for the record
        self.compute_seconds = 0.0

    def loss_names(self) -> list[str]:
        return []

    def num_items(self, name: str) -> int:
        raise KeyError(f"the propagation model has no loss {name!r}")

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        raise KeyError(f"the propagation model has no loss {name!r}")

    def before_training(self) -> None:
        """Compute the embedding now, so that the run's training time is the propagation's time."""
        self._compute()

    @torch.no_grad()
    def _compute(self) -> PropagationViews:
        if self._views is not None and self._final is not None:
            return self._views
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(self.label_seed)
        inputs, params = self.inputs, self.params
        adjacency = row_normalised_adjacency(inputs.triples, inputs.num_entities)
        pairs = inputs.train_pairs
        views = propagation_views(inputs, pairs, params, generator, adjacency)
        for _ in range(params.iterative_rounds):
            left, right = split_sides(views.final(), inputs.num_left)
            known = pairs - torch.tensor([0, inputs.num_left], device=pairs.device)
            new = propose_mutual_best(left, right, known, csls_k=params.iterative_csls_k,
                                      threshold=params.iterative_threshold)
            if len(new) == 0:
                break
            pairs = torch.cat([pairs, new + torch.tensor([0, inputs.num_left], device=new.device)])
            views = propagation_views(inputs, pairs, params, generator, adjacency)
        self.proposed_pairs = len(pairs) - len(inputs.train_pairs)
        self._views = views
        self._final = views.final()
        self.compute_seconds = time.perf_counter() - t0
        return views

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        self._compute()
        left, right = split_sides(self._final, self.inputs.num_left)
        return Embeddings(left), Embeddings(right)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        """The entity view and (if on) the relation view alone: how much each contributes (diagnostics)."""
        views = self._compute()
        spaces = {"entity_view": views.joined(views.entity)}
        if views.relation:
            spaces["relation_view"] = views.joined(views.relation)
        out = {}
        for name, emb in spaces.items():
            left, right = split_sides(emb, self.inputs.num_left)
            out[name] = (Embeddings(left), Embeddings(right))
        return out
