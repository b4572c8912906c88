"""Model-ready tensors built once from a KGPair and a Split.

Both graphs share one *global* id space so a single embedding table serves both sides and the exchange
strategy can write cross-graph triples: left entity ``i`` is global ``i``, right entity ``j`` is global
``n_left + j``; relations and attributes are offset the same way. Only training links are used here: test
and valid links never reach a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from gaussea.data.kgpair import KGPair, Split


@dataclass
class AlignmentInputs:
    num_left: int
    num_right: int
    num_relations: int
    num_attributes: int
    triples: torch.Tensor  # (t, 3) global ids, both graphs, as loaded (deduplicated)
    side_of_entity: torch.Tensor  # (N,) 0 left, 1 right
    train_pairs: torch.Tensor  # (p, 2) global ids (left, right)
    image_owner: torch.Tensor  # (k,) global entity ids
    image_features: torch.Tensor  # (k, w) float32
    num_entity: torch.Tensor  # (q,) global entity ids
    num_attribute: torch.Tensor  # (q,) global attribute ids
    num_value: torch.Tensor  # (q,) float32, raw values (normalisation is the encoder's job)

    @property
    def num_entities(self) -> int:
        return self.num_left + self.num_right

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> AlignmentInputs:
        """A copy with ``fn`` applied to every tensor (counts are kept); ``self`` is left as it is.

        Models call it from ``nn.Module._apply`` so that ``model.to(device)`` moves the inputs they index in
        their losses together with their parameters and buffers (see :class:`~gaussea.models.base.AlignmentModel`).
        """
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                moved[f.name] = fn(value)
        return replace(self, **moved)

    def to(self, device: torch.device | str) -> AlignmentInputs:
        """A copy on ``device`` (tensors already there are shared, not copied)."""
        return self.apply(lambda t: t.to(device))

    def has_images(self) -> torch.Tensor:
        mask = torch.zeros(self.num_entities, dtype=torch.bool, device=self.image_owner.device)
        mask[self.image_owner] = True
        return mask

    def has_numbers(self) -> torch.Tensor:
        mask = torch.zeros(self.num_entities, dtype=torch.bool, device=self.num_entity.device)
        mask[self.num_entity] = True
        return mask

    @staticmethod
    def build(pair: KGPair, split: Split) -> AlignmentInputs:
        left, right = pair.left, pair.right
        n1, r1, a1 = left.num_entities, left.num_relations, len(left.attributes)
        offsets_e, offsets_r = (0, n1), (0, r1)
        triples = []
        for side, oe, orl in zip(pair.sides, offsets_e, offsets_r, strict=True):
            t = side.triples.astype(np.int64) + np.array([oe, orl, oe], dtype=np.int64)
            triples.append(t)
        all_triples = np.unique(np.concatenate(triples, axis=0), axis=0) if triples else np.zeros((0, 3))
        widths = {s.images.width for s in pair.sides if len(s.images)}
        if len(widths) > 1:
            raise ValueError(f"image feature widths differ between the graphs: {sorted(widths)}")
        width = widths.pop() if widths else 0
        owners = np.concatenate([left.images.entity, right.images.entity + n1]).astype(np.int64)
        feats = [s.images.features.reshape(len(s.images), -1) for s in pair.sides if len(s.images)]
        features = np.concatenate(feats, axis=0) if feats else np.zeros((0, width), dtype=np.float32)
        num_e = np.concatenate([left.numerical.entity, right.numerical.entity + n1]).astype(np.int64)
        num_a = np.concatenate([left.numerical.attribute, right.numerical.attribute + a1]).astype(np.int64)
        num_v = np.concatenate([left.numerical.value, right.numerical.value]).astype(np.float64)
        side = np.concatenate([np.zeros(n1, dtype=np.int64), np.ones(right.num_entities, dtype=np.int64)])
        train = split.train.astype(np.int64) + np.array([0, n1], dtype=np.int64)
        return AlignmentInputs(
            num_left=n1,
            num_right=right.num_entities,
            num_relations=r1 + right.num_relations,
            num_attributes=a1 + len(right.attributes),
            triples=torch.as_tensor(all_triples, dtype=torch.long),
            side_of_entity=torch.as_tensor(side),
            train_pairs=torch.as_tensor(train.reshape(-1, 2)),
            image_owner=torch.as_tensor(owners),
            image_features=torch.as_tensor(features, dtype=torch.float32),
            num_entity=torch.as_tensor(num_e),
            num_attribute=torch.as_tensor(num_a),
            num_value=torch.as_tensor(num_v, dtype=torch.float32),
        )


def exchange_triples(triples: torch.Tensor, pairs: torch.Tensor, num_entities: int) -> torch.Tensor:
    """The exchange (parameter-swapping) strategy of MMEA / the paper §3.2.1.

    For every training pair ``(e1, e2)``, each triple with ``e1`` as head gets a copy with ``e2`` as head,
    each with ``e1`` as tail a copy with ``e2`` as tail, and vice versa. Head and tail are swapped one at a
    time (as the paper's definition reads), never both at once. Returns the deduplicated union.
    """
    if len(pairs) == 0:
        return triples
    swap = torch.arange(num_entities, device=triples.device)
    swap[pairs[:, 0]] = pairs[:, 1]
    swap[pairs[:, 1]] = pairs[:, 0]
    h, r, t = triples.unbind(1)
    head_swapped = torch.stack([swap[h], r, t], 1)[swap[h] != h]
    tail_swapped = torch.stack([h, r, swap[t]], 1)[swap[t] != t]
    return torch.unique(torch.cat([triples, head_swapped, tail_swapped]), dim=0)


def triple_keys(triples: torch.Tensor, num_entities: int, num_relations: int) -> torch.Tensor:
    """A unique int64 key per triple, used to filter negatives that are actually positives."""
    h, r, t = triples.unbind(-1)
    return (h * num_relations + r) * num_entities + t
