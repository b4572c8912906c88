"""The paper model's five losses, one object each, in the name -> loss mapping the model builds once.

- ``rel``: KG2E margin ranking on triples extended by the exchange strategy, filtered negatives;
- ``vis``: ``softplus(KL(N(mu_e^v, s_e^v) || N(tanh(M1 i), 0.5)))`` per (entity, image) row;
- ``num``: ``softplus(KL(N(mu_e^n, s_e^n) || N(mu_n, 0.5)))`` per numerical triple;
- ``csl``: ``KL(N_e || N_e^r) + KL(N_e || N_e^v) + KL(N_e || N_e^n)``, each term only where the entity has
  that modality — the modal variance divides the mean gap, so a noisy modality can be ignored by growing it;
- ``ac``: ``KL(N_e1 || N_e2)`` over training seed pairs (``symmetric_ac`` adds the reverse).

Losses are means over the batch (the paper writes sums; with Adam the difference is a learning-rate scale). Each
reads the entity Gaussians through the shared :class:`~gaussea.models.gaussian_spaces.GaussianSpaces` and owns only
what is its own: its items' count, its constants, and the tensors only it indexes (the exchanged triples and their
sampler, the modality masks, the entities with numbers), as non-persistent buffers, so that a device move of the
model moves them and no state dict changes. Each is called with a :class:`LossStep`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gaussea.config import ModelConfig
from gaussea.gaussian import kl
from gaussea.modalities.relational import kg2e_corrupted_scores, margin_ranking
from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.models.gaussian_spaces import GaussianSpaces
from gaussea.models.gaussian_stages import StageSchedule
from gaussea.models.inputs import exchange_triples
from gaussea.models.modal_encoders import NUMERICAL, VISUAL
from gaussea.samplers.negatives import NegativeSampler, uniform_in_side_block
from gaussea.samplers.neighbours import NeighbourLists


@dataclass(frozen=True)
class LossStep:
    """What one optimiser step hands a loss: the items, the generator its random draws come from, the training stage,
    and the neighbour lists entity negatives are drawn among (truncated sampling; None: uniform)."""

    idx: torch.Tensor
    generator: torch.Generator
    stage: int = 1
    neighbours: NeighbourLists | None = None


class GaussianLoss(nn.Module, ABC):
    """One named loss of the paper model over the shared spaces."""

    def __init__(self, spaces: GaussianSpaces) -> None:
        super().__init__()
        self.spaces = spaces  # shared, not a child module: the model owns (and registers) the tables

    @abstractmethod
    def num_items(self) -> int:
        """How many items (triples, rows, entities, pairs) one pass of the loss covers."""

    @abstractmethod
    def forward(self, step: LossStep) -> torch.Tensor:
        """The scalar loss on the items ``step.idx``."""


class RelationalLoss(GaussianLoss):
    """``L_rel``: KG2E margin ranking of the (exchanged) triples against ``negatives`` filtered corruptions each."""

    def __init__(self, spaces: GaussianSpaces, config: ModelConfig, margin: float) -> None:
        super().__init__(spaces)
        inputs = spaces.inputs
        positives = (exchange_triples(inputs.triples, inputs.train_pairs, inputs.num_entities) if config.exchange
                     else inputs.triples)
        self.register_buffer("positives", positives, persistent=False)
        self.sampler = NegativeSampler(positives, inputs.side_of_entity, inputs.num_left, inputs.num_relations)
        self.negatives = config.negatives
        self.margin = margin

    def num_items(self) -> int:
        return len(self.positives)

    def forward(self, step: LossStep) -> torch.Tensor:
        pos = self.positives[step.idx]
        k = self.negatives
        _, mask, corrupt_head, new = self.sampler.corrupt(pos, k, step.generator, step.neighbours)
        h, r, t = pos.unbind(-1)
        # A negative shares its positive's relation and one entity: one gather of each positive's head and
        # drawn entities (the layout of kg2e_corrupted_scores) and of the tails — (2 + k) rows per positive
        # instead of 2 (1 + k) — and one relation row per positive.
        mean, var = self.spaces.relational_entity(torch.cat([torch.cat([h.unsqueeze(1), new], 1).flatten(), t]))
        b, group = len(pos), k + 1
        other_mean, tail_mean = mean.split([b * group, b])
        other_var = tail_var = var
        if var.dim():
            other_var, tail_var = var.split([b * group, b])
            other_var = other_var.view(b, group, -1)
        f = kg2e_corrupted_scores((other_mean.view(b, group, -1), other_var), (tail_mean, tail_var),
                                  self.spaces.relation.lookup(r), corrupt_head)  # type: ignore[union-attr]
        return margin_ranking(f[:, 0], f[:, 1:], self.margin, mask)


class VisualLoss(GaussianLoss):
    """``L_vis`` over the (entity, picture) rows; ``variance`` is the pictures' fixed variance (paper: 0.5)."""

    def __init__(self, spaces: GaussianSpaces, variance: float) -> None:
        super().__init__(spaces)
        self.variance = variance

    def num_items(self) -> int:
        return len(self.spaces.inputs.image_owner)

    def forward(self, step: LossStep) -> torch.Tensor:
        owner = self.spaces.inputs.image_owner[step.idx]
        mu_i = self.spaces.encode(VISUAL, step.idx)
        m, s = self.spaces.modal(VISUAL, owner)
        return F.softplus(kl(m, s, mu_i, torch.full((), self.variance, device=mu_i.device))).mean()


class NumericLoss(GaussianLoss):
    """``L_num`` over the numerical triples (``variance``: the encodings' fixed variance, paper: 0.5), with
    ``negatives`` corrupted owners per triple (ours; the paper's has none): each puts a same-graph entity with
    numbers in place of the owner and adds ``softplus(-KL)`` (OpenEA / MMEA's logistic loss)."""

    def __init__(self, spaces: GaussianSpaces, variance: float, negatives: int) -> None:
        super().__init__(spaces)
        self.variance = variance
        self.negatives = negatives
        inputs = spaces.inputs
        owners = torch.unique(inputs.num_entity)  # sorted: left-graph owners first
        self.register_buffer("owners", owners, persistent=False)
        self.owners_left = int((owners < inputs.num_left).sum())

    def num_items(self) -> int:
        return len(self.spaces.inputs.num_entity)

    def forward(self, step: LossStep) -> torch.Tensor:
        ent = self.spaces.inputs.num_entity[step.idx]
        mu_n = self.spaces.encode(NUMERICAL, step.idx)
        m, s = self.spaces.modal(NUMERICAL, ent)
        var_n = torch.full((), self.variance, device=mu_n.device)  # (a fill: no host-to-GPU copy)
        loss = F.softplus(kl(m, s, mu_n, var_n)).mean()
        k = self.negatives
        if k:
            owners = self.random_owner(ent.repeat_interleave(k), step.generator)
            m_neg, s_neg = self.spaces.modal(NUMERICAL, owners)
            loss = loss + F.softplus(-kl(m_neg, s_neg, mu_n.repeat_interleave(k, 0), var_n)).mean()
        return loss

    def random_owner(self, entities: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """For each entity, a uniformly drawn entity *with numbers* of the same graph (unfiltered: a drawn
        owner may hold the same (attribute, value) by chance, rare enough to ignore)."""
        right = self.spaces.inputs.side_of_entity[entities] != 0
        pick = uniform_in_side_block(right, self.owners_left, len(self.owners), generator)
        return self.owners[pick]


class CommonSpaceLoss(GaussianLoss):
    """``L_csl`` over the entities; in the stages where ``schedule`` says so it first sets the batch's modal
    variances to its own minimiser over them (``modal_variance_update = "closed_form"``)."""

    def __init__(self, spaces: GaussianSpaces, schedule: StageSchedule) -> None:
        super().__init__(spaces)
        self.schedule = schedule
        self.register_buffer("has_image", spaces.inputs.has_images(), persistent=False)
        self.register_buffer("has_number", spaces.inputs.has_numbers(), persistent=False)

    def num_items(self) -> int:
        return self.spaces.num_entities

    def forward(self, step: LossStep) -> torch.Tensor:
        idx, spaces = step.idx, self.spaces
        m, s = spaces.common.lookup(idx)
        total = torch.zeros(len(idx), device=m.device)
        if spaces.relational is not None:
            total = total + kl(m, s, *spaces.relational_entity(idx))
        for space, table, has in ((VISUAL, spaces.visual, self.has_image), (NUMERICAL, spaces.numerical,
                                                                             self.has_number)):
            if table is not None:
                modal_mean, modal_var = spaces.modal(space, idx)
                if self.schedule.assigns_modal_variances(step.stage):
                    modal_var = self._assign_modal_variance(space, idx, m, s, modal_mean)
                total = total + kl(m, s, modal_mean, modal_var) * has[idx]
        return total.mean()

    def _assign_modal_variance(self, space: str, idx: torch.Tensor, common_mean: torch.Tensor,
                               common_var: torch.Tensor, modal_mean: torch.Tensor) -> torch.Tensor:
        """Set the batch's modal variances to L_csl's minimiser over them, ``s_e + (mu_e^m - mu_e)^2``
        (KL(N_e || N_e^m) is convex in 1/s_e^m with that stationary point), and return them as set (clamped)."""
        with torch.no_grad():
            return self.spaces.modal_table(space).assign_variance_(idx, common_var + (modal_mean - common_mean) ** 2)


class AlignmentLoss(GaussianLoss):
    """``L_ac`` over the training seed pairs; ``symmetric`` adds ``KL(N_e2 || N_e1)``."""

    def __init__(self, spaces: GaussianSpaces, symmetric: bool) -> None:
        super().__init__(spaces)
        self.symmetric = symmetric

    def num_items(self) -> int:
        return len(self.spaces.inputs.train_pairs)

    def forward(self, step: LossStep) -> torch.Tensor:
        pairs = self.spaces.inputs.train_pairs[step.idx]
        a, b = self.spaces.common.lookup(pairs[:, 0]), self.spaces.common.lookup(pairs[:, 1])
        loss = kl(*a, *b)
        if self.symmetric:
            loss = loss + kl(*b, *a)
        return loss.mean()


def build_losses(spaces: GaussianSpaces, config: ModelConfig, params: GaussianCSLParams,
                 schedule: StageSchedule) -> dict[str, GaussianLoss]:
    """The model's losses by name, in update order: ``rel`` (with the relational modality), ``vis`` / ``num`` (with
    that modality, and free modal means), ``csl``, and ``ac`` (with training pairs).

    With encoder means ``L_vis`` / ``L_num`` only measure how far an entity's own encodings lie from their average:
    minimising that rewards an encoder that maps every row alike (a constant encoder makes it zero), so in that mode
    the encoders learn from ``L_csl`` alone.
    """
    losses: dict[str, GaussianLoss] = {}
    if spaces.relational is not None:
        losses["rel"] = RelationalLoss(spaces, config, params.margin)
    if spaces.visual is not None and not spaces.encoded_modal_means:
        losses["vis"] = VisualLoss(spaces, params.image_var)
    if spaces.numerical is not None and not spaces.encoded_modal_means:
        losses["num"] = NumericLoss(spaces, params.numeric_var, params.numeric_negatives)
    losses["csl"] = CommonSpaceLoss(spaces, schedule)
    if len(spaces.inputs.train_pairs):
        losses["ac"] = AlignmentLoss(spaces, params.symmetric_ac)
    return losses
