"""IPTransE (Zhu et al. IJCAI 2017): joint embedding, relation-path composition, iterative soft alignment.

Joint embedding by *parameter sharing*: each training seed pair uses one vector (the right entity reads its
left partner's row), the strategy the paper found best and OpenEA's port uses. Losses, updated in turn:

- ``rel``: TransE margin ranking in each graph (filtered same-graph negatives, uniform or truncated, unit entity
  vectors);
- ``path``: 2-hop relation paths ``h -r1-> m -r2-> t`` that a direct triple ``(h, r, t)`` closes are composed
  by addition, ``r1 + r2 ~ r``: margin ranking of ``||r1 + r2 - r||`` against a random relation ``r'`` of the
  same graph, each path weighted by ``1 / (|tails(h, r1)| * |tails(m, r2)|)`` (a cheap stand-in for the
  paper's path-constraint resource reliability, as OpenEA does), paths with weight below 1/100 dropped;
- ``soft``: for each soft pair ``(e1, e2, w)``, the triples of ``e1`` with ``e2`` in its place and vice versa,
  ranked against corruptions with weight ``w`` (the paper's soft alignment; the same negatives as ``rel``).

**Iterative soft alignment** (the trainer's per-epoch hook, :meth:`IPTransE.before_epoch`): at the start of epoch
``bootstrap_start`` and every ``bootstrap_every`` epochs after it, the soft pairs are replaced by the mutual
nearest neighbours (cosine) among entities outside the training pairs whose similarity is at least ``threshold``,
each with its similarity as reliability; that epoch's losses already train on them. Results therefore rest on
the model's own predictions and are labelled apart (:attr:`IPTransE.iterative`).

Candidates for expansion never include a test *link*: only entities (both graphs' entities are known in
transductive alignment), never which of them are linked. Soft pairs live in fixed-size buffers, so they are in
every checkpoint and a resumed run continues with the same pairs.

Simplifications: paths are 2-hop only (the paper also uses 3-hop) and composed by addition only (the paper
also tries multiplication and RNN composition); the number of paths kept is capped at ``max_paths_per_triple``
times the number of triples by a seeded random subsample, since hub entities make the 2-hop join explode on
FB15K. The soft set is recomputed, not accumulated, at each expansion. Ranking uses cosine + CSLS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.matching import mutual_nearest
from gaussea.models.options import resolve_params
from gaussea.models.translational import TripleRanking, distance, point_table, split_sides, unit
from gaussea.models.triple_params import TripleScoreParams
from gaussea.models.truncated import TruncatedNegatives

PATH_BLOCK = 1 << 22  # candidate 2-hop paths materialised per block when enumerating them


@dataclass(frozen=True)
class IPTransEParams(TripleScoreParams):
    # margin: ours, TransE's 1.0
    path_min_weight: float = 0.01  # OpenEA: paths with |tails(h,r1)| * |tails(m,r2)| > 100 are dropped
    max_paths_per_triple: float = 1.0  # ours: cap on the path count, relative to the number of triples
    bootstrap_start: int = 5  # ours: first epoch that expands the seeds (at its start)
    bootstrap_every: int = 5  # ours: epochs between expansions
    threshold: float = 0.7  # ours: minimum cosine of a soft pair


def two_hop_paths(triples: np.ndarray, min_weight: float, max_paths: int, seed: int) -> np.ndarray:
    """Rows ``(r1, r2, r, weight)`` for paths ``h -r1-> m -r2-> t`` closed by a direct triple ``(h, r, t)``.

    ``triples`` are one graph's ``(h, r, t)`` rows. ``weight = 1 / (|tails(h, r1)| * |tails(m, r2)|)``; paths
    below ``min_weight`` are dropped, and at most ``max_paths`` rows are kept (seeded random subsample). The
    join runs in blocks of at most :data:`PATH_BLOCK` candidate paths, so memory stays bounded on hubs.
    """
    if len(triples) == 0 or max_paths <= 0:
        return np.zeros((0, 4))
    h, r, t = (triples[:, i].astype(np.int64) for i in range(3))
    _, hr_inverse, hr_count = np.unique(h * (r.max() + 1) + r, return_inverse=True, return_counts=True)
    fanout = hr_count[hr_inverse].astype(np.float64)  # |tails(h, r)| of each triple
    eligible = np.nonzero(fanout <= 1.0 / min_weight)[0]  # a hop with a larger fan-out cannot pass
    n_ent = int(max(h.max(), t.max())) + 1
    by_head = eligible[np.argsort(h[eligible], kind="stable")]
    start = np.searchsorted(h[by_head], np.arange(n_ent))
    count = np.searchsorted(h[by_head], np.arange(n_ent), side="right") - start
    ht_key = h * n_ent + t
    ht_order = np.argsort(ht_key, kind="stable")
    ht_sorted = ht_key[ht_order]
    second_counts = count[t[eligible]]
    block_of = np.cumsum(second_counts) // PATH_BLOCK
    out = []
    for block in np.unique(block_of):
        first = eligible[block_of == block]
        counts = count[t[first]]
        f = np.repeat(first, counts)
        s = by_head[np.repeat(start[t[first]], counts) + _ranges(counts)]
        weight = 1.0 / (fanout[f] * fanout[s])
        keep = (weight >= min_weight) & (h[f] != t[s])
        f, s, weight = f[keep], s[keep], weight[keep]
        key = h[f] * n_ent + t[s]
        lo = np.searchsorted(ht_sorted, key)
        closes = np.searchsorted(ht_sorted, key, side="right") - lo
        direct = ht_order[np.repeat(lo, closes) + _ranges(closes)]
        f, s, weight = np.repeat(f, closes), np.repeat(s, closes), np.repeat(weight, closes)
        out.append(np.stack([r[f], r[s], r[direct], weight], 1))
    paths = np.concatenate(out) if out else np.zeros((0, 4))
    if len(paths) > max_paths:
        paths = paths[np.sort(np.random.default_rng(seed).choice(len(paths), max_paths, replace=False))]
    return paths


def _ranges(counts: np.ndarray) -> np.ndarray:
    """``concat(arange(c) for c in counts)``, vectorised."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


class IPTransE(TruncatedNegatives, AlignmentModel):
    iterative = True  # results bootstrap new pairs from the model's own predictions: label them apart

    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: IPTransEParams | None = None) -> None:
        super().__init__()
        self.params = p = resolve_params(IPTransEParams(), config, params)
        self.inputs = inputs
        n = inputs.num_entities
        self.entity = point_table(n, config, generator)
        self.relation = point_table(inputs.num_relations, config, generator)
        canon = torch.arange(n)
        canon[inputs.train_pairs[:, 1]] = inputs.train_pairs[:, 0]
        self.register_buffer("canon", canon, persistent=False)
        self.triples = TripleRanking(inputs.triples, inputs, negatives=config.negatives, score=p)
        self.negatives = config.negatives
        self._init_paths(generator)
        seeded = torch.zeros(n, dtype=torch.bool)
        seeded[inputs.train_pairs.reshape(-1)] = True
        ids = torch.arange(n)
        self.register_buffer("candidates_left", ids[(inputs.side_of_entity == 0) & ~seeded], persistent=False)
        self.register_buffer("candidates_right", ids[(inputs.side_of_entity == 1) & ~seeded], persistent=False)
        # The soft pairs, in fixed-size (checkpointable) form: partner of each left entity (-1: none).
        self.register_buffer("soft_partner", torch.full((inputs.num_left,), -1, dtype=torch.long))
        self.register_buffer("soft_weight", torch.zeros(inputs.num_left))
        self._soft: TripleRanking | None = None
        self._soft_key: bytes | None = None
        self.init_truncated_negatives(config, inputs)

    # --- relation paths -------------------------------------------------------------------------
    def _init_paths(self, generator: torch.Generator) -> None:
        inputs, p = self.inputs, self.params
        triples = inputs.triples.cpu().numpy()
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        paths = []
        rel_side = torch.full((inputs.num_relations,), -1, dtype=torch.long)
        rel_side[inputs.triples[:, 1]] = inputs.side_of_entity[inputs.triples[:, 0]]
        for side in (0, 1):
            rows = triples[inputs.side_of_entity.cpu().numpy()[triples[:, 0]] == side]
            cap = int(p.max_paths_per_triple * len(rows))
            paths.append(two_hop_paths(rows, p.path_min_weight, cap, seed + side))
        path = np.concatenate(paths)
        self.register_buffer("paths", torch.as_tensor(path[:, :3], dtype=torch.long), persistent=False)
        self.register_buffer("path_weight", torch.as_tensor(path[:, 3], dtype=torch.float32), persistent=False)
        self.register_buffer("rel_side", rel_side, persistent=False)
        for s in (0, 1):
            self.register_buffer(f"relations_of_side{s}", torch.nonzero(rel_side == s).squeeze(1), persistent=False)

    def _random_relation_like(self, rels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        side = self.rel_side[rels]
        out = torch.empty_like(rels)
        for s in (0, 1):
            pool = getattr(self, f"relations_of_side{s}")
            mask = side == s
            if mask.any():  # drawn on the CPU generator, then moved: the same draws on every device
                draw = torch.randint(len(pool), (int(mask.sum()),), generator=generator).to(pool.device)
                out[mask] = pool[draw]
        return out

    def _loss_path(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        r1, r2, r = self.paths[idx].unbind(1)
        neg = self._random_relation_like(r.unsqueeze(1).expand(-1, self.negatives).reshape(-1), generator)
        composed = self.rel(r1) + self.rel(r2)
        d_pos = distance(composed - self.rel(r), self.params.norm, self.params.squared_distance)
        d_neg = distance(composed.repeat_interleave(self.negatives, 0) - self.rel(neg), self.params.norm,
                         self.params.squared_distance)
        d_neg = d_neg.reshape(-1, self.negatives)
        weight = self.path_weight[idx].unsqueeze(1) * (neg.reshape(-1, self.negatives) != r.unsqueeze(1))
        hinge = torch.relu(self.params.margin + d_pos.unsqueeze(1) - d_neg) * weight
        return hinge.sum() / weight.sum().clamp_min(1e-12)

    # --- soft alignment -------------------------------------------------------------------------
    def expand_seeds(self) -> int:
        """Replace the soft pairs by the confident mutual nearest neighbours; returns how many were found."""
        with torch.no_grad():
            emb = self.ent(torch.arange(self.inputs.num_entities, device=self.canon.device))
            li, ri, sim = mutual_nearest(emb[self.candidates_left], emb[self.candidates_right],
                                         threshold=self.params.threshold)
            self.soft_partner.fill_(-1)
            self.soft_weight.zero_()
            left = self.candidates_left[li]
            self.soft_partner[left] = self.candidates_right[ri]
            self.soft_weight[left] = sim.clamp(0.0, 1.0)
        return int(len(li))

    def soft_ranking(self) -> TripleRanking | None:
        """The weighted swapped triples of the current soft pairs (rebuilt when the pairs change)."""
        key = self.soft_partner.cpu().numpy().tobytes()
        if key != self._soft_key:
            self._soft_key, self._soft = key, self._build_soft()
        return self._soft

    def _build_soft(self) -> TripleRanking | None:
        left = torch.nonzero(self.soft_partner >= 0).squeeze(1)
        if len(left) == 0:
            return None
        n = self.inputs.num_entities
        swap = torch.arange(n, device=left.device)
        weight_of = torch.zeros(n, device=left.device)
        right = self.soft_partner[left]
        swap[left], swap[right] = right, left
        weight_of[left] = weight_of[right] = self.soft_weight[left]
        h, r, t = self.inputs.triples.unbind(1)
        heads = torch.stack([swap[h], r, t], 1)[swap[h] != h]
        tails = torch.stack([h, r, swap[t]], 1)[swap[t] != t]
        weights = torch.cat([weight_of[h[swap[h] != h]], weight_of[t[swap[t] != t]]])
        soft = torch.cat([heads, tails])
        known = torch.unique(torch.cat([self.inputs.triples, soft]), dim=0)
        return TripleRanking(soft, self.inputs, negatives=self.negatives, score=self.params, known=known,
                             weights=weights)

    def expands_before(self, epoch: int) -> bool:
        """Whether the soft pairs are recomputed at the start of 1-based ``epoch`` (a function of the epoch alone,
        so a resumed run expands exactly where an uninterrupted one does)."""
        p = self.params
        return epoch >= p.bootstrap_start and (epoch - p.bootstrap_start) % p.bootstrap_every == 0

    # --- the trainer protocol -------------------------------------------------------------------
    def before_epoch(self, epoch: int) -> None:
        """Truncated sampling's lists (the mixin), then the soft pairs when the schedule says so. Both read only the
        embeddings, which the checkpoint holds, and the epoch: a resumed run computes the same."""
        super().before_epoch(epoch)
        if self.expands_before(epoch):
            self.expand_seeds()

    def neighbour_embedding(self) -> torch.Tensor:
        """The entity vectors as every loss sees them: a seed pair's right entity reads its partner's row."""
        return self.entity.mean[self.canon]

    def ent(self, idx: torch.Tensor) -> torch.Tensor:
        return unit(self.entity.mean[self.canon[idx]])

    def rel(self, idx: torch.Tensor) -> torch.Tensor:
        return self.relation.mean[idx]

    def loss_names(self) -> list[str]:
        names = ["rel"]
        if len(self.paths):
            names.append("path")
        return names + ["soft"]

    def num_items(self, name: str) -> int:
        if name == "soft":
            soft = self.soft_ranking()
            return len(soft) if soft is not None else 0
        return {"rel": len(self.triples), "path": len(self.paths)}[name]

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if name == "rel":
            return self.triples.loss(idx, generator, self.ent, self.rel, self.neighbour_lists)
        if name == "path":
            return self._loss_path(idx, generator)
        soft = self.soft_ranking()
        assert soft is not None, "soft loss called without soft pairs"
        return soft.loss(idx, generator, self.ent, self.rel, self.neighbour_lists)

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        emb = self.ent(torch.arange(self.inputs.num_entities, device=self.canon.device)).detach()
        left, right = split_sides(emb, self.inputs.num_left)
        return Embeddings(left), Embeddings(right)

    def soft_pairs(self) -> torch.Tensor:
        """The current soft pairs as ``(k, 2)`` global ids (left, right)."""
        left = torch.nonzero(self.soft_partner >= 0).squeeze(1)
        return torch.stack([left, self.soft_partner[left]], 1)
