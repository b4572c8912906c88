"""The paper's model: Gaussian modality embeddings integrated in a Gaussian common space (paper §3).

Per entity: a common-space Gaussian ``N(mu_e, s_e)`` and one Gaussian per modality (relational, visual,
numerical). Losses, updated in turn each epoch (MMEA's scheme):

- ``rel``: KG2E margin ranking on triples extended by the exchange strategy, filtered negatives;
- ``vis``: ``softplus(KL(N(mu_e^v, s_e^v) || N(tanh(M1 i), 0.5)))`` per (entity, image) row;
- ``num``: ``softplus(KL(N(mu_e^n, s_e^n) || N(mu_n, 0.5)))`` per numerical triple;
- ``csl``: ``KL(N_e || N_e^r) + KL(N_e || N_e^v) + KL(N_e || N_e^n)``, each term only where the entity has
  that modality — the modal variance divides the mean gap, so a noisy modality can be ignored by growing it;
- ``ac``: ``KL(N_e1 || N_e2)`` over training seed pairs (``symmetric_ac`` adds the reverse).

Losses are means over the batch (the paper writes sums; with Adam the difference is a learning-rate scale).
Two stages: stage 1 learns means with every variance fixed at ``var_init``; stage 2 frees the variances and
clamps them to ``[var_min, var_max]`` after each step. Relational entity means are read on the unit sphere
(OpenEA / MMEA's ``ent_l2_norm``; KG2E's ball projection aligned far worse on synthetic data).

The model's own settings (``var_init``, ``margin``, ``modal_means``, ...) are ``model.options``, parsed into
:class:`~gaussea.models.gaussian_params.GaussianCSLParams`; the shared ``model.*`` fields give the dimension,
modalities, negatives and their sampling, the exchange strategy and the numerical encoder's input.

``modal_means = "encoder"`` (ours, off by default) makes ``mu_e^v`` / ``mu_e^n`` the average encoding of the
entity's own pictures / numerical triples instead of a free parameter, and drops ``L_vis`` / ``L_num`` (with tied
means they would only pull an entity's encodings together, which a constant encoder satisfies): ``L_csl`` trains
the encoders towards the common space and sets the modal variances, so the gap a modal variance measures is the
gap between the evidence itself and the common mean. (The tables' mean rows then go unused.)
``modal_variance_update = "closed_form"`` (ours, off by default) sets each visual / numerical variance of an
``L_csl`` batch to ``L_csl``'s minimiser over it before the step, instead of leaving it to Adam, whose normalised
steps move every variance at the same rate whatever its evidence (measured: BENCHMARKS.md).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gaussea.config import ModelConfig, TrainConfig
from gaussea.embeddings import Embeddings
from gaussea.gaussian import kl
from gaussea.modalities.numerical import NumericEncoder
from gaussea.modalities.relational import kg2e_corrupted_scores, margin_ranking
from gaussea.modalities.visual import ImageEncoder
from gaussea.models.base import AlignmentModel
from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.models.inputs import AlignmentInputs, exchange_triples
from gaussea.models.options import resolve_params
from gaussea.models.owners import RowsByOwner
from gaussea.models.tables import GaussianTable
from gaussea.models.truncated import TruncatedNegatives
from gaussea.samplers.negatives import NegativeSampler, uniform_in_side_block
from gaussea.schedules import RelationallyPaced, relationally_paced_batches, shuffled_batches


class GaussianCommonSpace(TruncatedNegatives, RelationallyPaced, AlignmentModel):
    num_stages = 2

    @classmethod
    def check_options(cls, config: ModelConfig) -> None:
        resolve_params(GaussianCSLParams(), config)

    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: GaussianCSLParams | None = None) -> None:
        super().__init__()
        self.cfg = config
        self.params = p = resolve_params(GaussianCSLParams(), config, params)
        self.inputs = inputs
        n, d = inputs.num_entities, config.dim
        use = set(config.modalities)
        self.use_rel = "r" in use
        self.use_vis = "v" in use and len(inputs.image_owner) > 0
        self.use_num = "n" in use and len(inputs.num_entity) > 0
        self.encoded_modal_means = p.modal_means == "encoder"

        def table(num: int, init_std: float = config.init_std) -> GaussianTable:
            return GaussianTable(num, d, init_std=init_std, var_init=p.var_init,
                                 var_min=p.var_min, var_max=p.var_max, generator=generator)

        self.common = table(n, p.common_init_std)
        if self.use_rel:
            self.rel_ent = table(n)
            self.rel = table(inputs.num_relations)
            positives = (exchange_triples(inputs.triples, inputs.train_pairs, n) if config.exchange
                         else inputs.triples)
            self.register_buffer("positives", positives, persistent=False)
            self.sampler = NegativeSampler(positives, inputs.side_of_entity, inputs.num_left, inputs.num_relations)
        self.init_truncated_negatives(config, inputs, corrupts_entities=self.use_rel)
        if self.use_vis:
            self.vis_ent = table(n)
            self.image_encoder = ImageEncoder(inputs.image_features.shape[1], d, standardise=True,
                                              features=inputs.image_features)
            if self.encoded_modal_means:
                self.image_rows = RowsByOwner(inputs.image_owner, n)
        if self.use_num:
            self.num_ent = table(n)
            self.numeric_encoder = NumericEncoder(
                inputs.num_attributes, d, channels=config.cnn_channels, rbf_width=config.rbf_width,
                how=config.numeric_norm, attribute=inputs.num_attribute, value=inputs.num_value,
                init_std=config.init_std)
            owners = torch.unique(inputs.num_entity)  # sorted: left-graph owners first
            self.register_buffer("numeric_owners", owners, persistent=False)
            self.numeric_owner_left = int((owners < inputs.num_left).sum())
            if self.encoded_modal_means:
                self.numeric_rows = RowsByOwner(inputs.num_entity, n)
        self.register_buffer("has_image", inputs.has_images(), persistent=False)
        self.register_buffer("has_number", inputs.has_numbers(), persistent=False)
        self.set_stage(1)

    # --- the trainer protocol -------------------------------------------------------------------
    def loss_names(self) -> list[str]:
        names = []
        if self.use_rel:
            names.append("rel")
        # With encoder means L_vis / L_num only measure how far an entity's own encodings lie from their average:
        # minimising that rewards an encoder that maps every row alike (a constant encoder makes it zero), so in
        # that mode the encoders learn from L_csl alone.
        if self.use_vis and not self.encoded_modal_means:
            names.append("vis")
        if self.use_num and not self.encoded_modal_means:
            names.append("num")
        names.append("csl")
        if len(self.inputs.train_pairs):
            names.append("ac")
        return names

    def num_items(self, name: str) -> int:
        return {
            "rel": lambda: len(self.positives),
            "vis": lambda: len(self.inputs.image_owner),
            "num": lambda: len(self.inputs.num_entity),
            "csl": lambda: self.inputs.num_entities,
            "ac": lambda: len(self.inputs.train_pairs),
        }[name]()

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return getattr(self, f"_loss_{name}")(idx, generator)

    def after_step(self, name: str) -> None:
        for table in self._tables():
            table.clamp_()

    def epoch_batches(self, name: str, cfg: TrainConfig, generator: torch.Generator) -> list[torch.Tensor]:
        """L_csl's steps are this model's (``entity_batch_size`` / ``stage2_csl_steps``, see
        :class:`GaussianCSLParams`): ``entity_batch_size`` entities a step, except in stage 2 with
        ``stage2_csl_steps="match_rel"``, where it is paced like the others by the relational loss."""
        paced_in_stage2 = self.stage >= 2 and self.params.stage2_csl_steps == "match_rel" and self.use_rel
        if name == "csl" and not paced_in_stage2:
            return shuffled_batches(self.num_items(name), self.params.entity_batch_size, generator)
        return relationally_paced_batches(self, name, cfg, generator)

    def neighbour_embedding(self) -> torch.Tensor:
        """Truncated negatives replace an entity by a neighbour under the relational means."""
        return self.rel_ent.mean

    def _rel_entity(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Relational entity Gaussians as every loss sees them (means on the unit sphere)."""
        return self.rel_ent.lookup(idx, normalise=True)

    def _modal_entity(self, space: str, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Visual (``space="vis"``) / numerical (``"num"``) entity Gaussians as every loss sees them.

        The variance is the entity's table row; the mean is its table row (``modal_means = "free"``) or the
        average encoding of its rows (``"encoder"``, each distinct entity encoded once); ``unit_modal_means``
        puts it on the unit sphere.
        """
        table = self.vis_ent if space == "vis" else self.num_ent
        if not self.encoded_modal_means:
            return table.lookup(idx, normalise=self.params.unit_modal_means)
        var = table.variance_rows(idx)
        grouping = self.image_rows if space == "vis" else self.numeric_rows
        entities, inverse = torch.unique(idx.reshape(-1), return_inverse=True)
        rows, segment = grouping.rows(entities)
        encoded = self._encode_images(rows) if space == "vis" else self._encode_numbers(rows)
        mean = grouping.segment_mean(encoded, segment, entities)
        if self.params.unit_modal_means:
            mean = F.normalize(mean, dim=-1)
        return mean[inverse].view(*idx.shape, -1), var

    def _encode_images(self, rows: torch.Tensor) -> torch.Tensor:
        """``tanh(M1 i)`` for the given picture rows."""
        return self.image_encoder(self.inputs.image_features[rows])

    def _encode_numbers(self, rows: torch.Tensor) -> torch.Tensor:
        """The numerical encoding of the given (entity, attribute, value) rows; each distinct (attribute, value)
        is encoded once (numbers repeat a lot: years, counts)."""
        attr, value = self.inputs.num_attribute[rows], self.inputs.num_value[rows]
        keys = torch.stack([attr.double(), value.double()], 1)
        uniq, inverse = torch.unique(keys, dim=0, return_inverse=True)
        return self.numeric_encoder(uniq[:, 0].long(), uniq[:, 1].float())[inverse]

    def _modal_means_all(self, space: str, chunk: int = 4096) -> torch.Tensor:
        """Every entity's visual / numerical mean as the losses see it, computed in chunks without gradients."""
        with torch.no_grad():
            ids = torch.arange(self.inputs.num_entities, device=self.common.mean.device)
            return torch.cat([self._modal_entity(space, part)[0] for part in ids.split(chunk)])

    def set_stage(self, stage: int) -> None:
        self.stage = stage
        for table in self._tables():
            frozen = ((table is self.common and not self.params.free_common_variance)
                      or (not self.params.free_relational_variance and self.use_rel
                          and (table is self.rel_ent or table is self.rel))
                      or (self._closed_form_variances and table in self._modal_tables()))
            table.set_variance_trainable(stage >= 2 and not frozen)

    def data_parallel_blocker(self) -> str | None:
        if self._closed_form_variances:
            return ("model.options.modal_variance_update='closed_form' sets each rank's shard of modal variances "
                    "outside the optimiser, so replicas would diverge: use 'gradient' or train in one process")
        return None

    @property
    def _closed_form_variances(self) -> bool:
        return self.params.modal_variance_update == "closed_form"

    def _modal_tables(self) -> list[GaussianTable]:
        return [t for t, used in ((getattr(self, "vis_ent", None), self.use_vis),
                                  (getattr(self, "num_ent", None), self.use_num)) if used]

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        n1 = self.inputs.num_left
        mean, var = self.common.mean.detach(), self.common.var.detach()
        return Embeddings(mean[:n1], var[:n1]), Embeddings(mean[n1:], var[n1:])

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        n1 = self.inputs.num_left
        out = {}
        if self.use_rel:
            mean, var = self.rel_ent.mean.detach(), self.rel_ent.var.detach()
            mean = F.normalize(mean, dim=-1)
            out["relational"] = (Embeddings(mean[:n1], var[:n1]), Embeddings(mean[n1:], var[n1:]))
        for label, used, space, table in (("visual", self.use_vis, "vis", "vis_ent"),
                                          ("numerical", self.use_num, "num", "num_ent")):
            if used:
                mean, var = self._modal_means_all(space), getattr(self, table).var.detach()
                out[label] = (Embeddings(mean[:n1], var[:n1]), Embeddings(mean[n1:], var[n1:]))
        return out

    def variance_report(self) -> dict[str, np.ndarray]:
        """Mean variance per entity for each space; NaN where the entity lacks that modality."""
        out = {"common": self.common.var.detach().mean(1).cpu().numpy()}
        spaces = [("relational", self.use_rel, "rel_ent", None),
                  ("visual", self.use_vis, "vis_ent", self.has_image),
                  ("numerical", self.use_num, "num_ent", self.has_number)]
        for label, used, attr, mask in spaces:
            if not used:
                continue
            v = getattr(self, attr).var.detach().mean(1).cpu().numpy().copy()
            if mask is not None:
                v[~mask.cpu().numpy()] = np.nan
            out[label] = v
        return out

    # --- losses ---------------------------------------------------------------------------------
    def _tables(self) -> list[GaussianTable]:
        return [m for m in self.modules() if isinstance(m, GaussianTable)]

    def _loss_rel(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        pos = self.positives[idx]
        k = self.cfg.negatives
        _, mask, corrupt_head, new = self.sampler.corrupt(pos, k, generator, self.neighbour_lists)
        h, r, t = pos.unbind(-1)
        # A negative shares its positive's relation and one entity: one gather of each positive's head and
        # drawn entities (the layout of kg2e_corrupted_scores) and of the tails — (2 + k) rows per positive
        # instead of 2 (1 + k) — and one relation row per positive.
        mean, var = self._rel_entity(torch.cat([torch.cat([h.unsqueeze(1), new], 1).flatten(), t]))
        b, group = len(pos), k + 1
        other_mean, tail_mean = mean.split([b * group, b])
        other_var = tail_var = var
        if var.dim():
            other_var, tail_var = var.split([b * group, b])
            other_var = other_var.view(b, group, -1)
        f = kg2e_corrupted_scores((other_mean.view(b, group, -1), other_var), (tail_mean, tail_var),
                                  self.rel.lookup(r), corrupt_head)
        return margin_ranking(f[:, 0], f[:, 1:], self.params.margin, mask)

    def _loss_vis(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        owner = self.inputs.image_owner[idx]
        mu_i = self._encode_images(idx)
        m, s = self._modal_entity("vis", owner)
        return F.softplus(kl(m, s, mu_i, torch.full((), self.params.image_var, device=mu_i.device))).mean()

    def _loss_num(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        ent = self.inputs.num_entity[idx]
        mu_n = self._encode_numbers(idx)
        m, s = self._modal_entity("num", ent)
        var_n = torch.full((), self.params.numeric_var, device=mu_n.device)  # (a fill: no host-to-GPU copy)
        loss = F.softplus(kl(m, s, mu_n, var_n)).mean()
        k = self.params.numeric_negatives
        if k:
            owners = self._random_numeric_owner(ent.repeat_interleave(k), generator)
            m_neg, s_neg = self._modal_entity("num", owners)
            loss = loss + F.softplus(-kl(m_neg, s_neg, mu_n.repeat_interleave(k, 0), var_n)).mean()
        return loss

    def _random_numeric_owner(self, entities: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """For each entity, a uniformly drawn entity *with numbers* of the same graph (unfiltered: a drawn
        owner may hold the same (attribute, value) by chance, rare enough to ignore)."""
        right = self.inputs.side_of_entity[entities] != 0
        pick = uniform_in_side_block(right, self.numeric_owner_left, len(self.numeric_owners), generator)
        return self.numeric_owners[pick]

    def _loss_csl(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        m, s = self.common.lookup(idx)
        total = torch.zeros(len(idx), device=m.device)
        if self.use_rel:
            total = total + kl(m, s, *self._rel_entity(idx))
        for space, used, has in (("vis", self.use_vis, self.has_image), ("num", self.use_num, self.has_number)):
            if used:
                modal_mean, modal_var = self._modal_entity(space, idx)
                if self.stage >= 2 and self._closed_form_variances:
                    modal_var = self._assign_modal_variance(space, idx, m, s, modal_mean)
                total = total + kl(m, s, modal_mean, modal_var) * has[idx]
        return total.mean()

    def _assign_modal_variance(self, space: str, idx: torch.Tensor, common_mean: torch.Tensor,
                               common_var: torch.Tensor, modal_mean: torch.Tensor) -> torch.Tensor:
        """``modal_variance_update = "closed_form"``: set the batch's modal variances to L_csl's minimiser over
        them, ``s_e + (mu_e^m - mu_e)^2`` (KL(N_e || N_e^m) is convex in 1/s_e^m with that stationary point), and
        return them as set (clamped)."""
        table = self.vis_ent if space == "vis" else self.num_ent
        with torch.no_grad():
            return table.assign_variance_(idx, common_var + (modal_mean - common_mean) ** 2)

    def _loss_ac(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        pairs = self.inputs.train_pairs[idx]
        a, b = self.common.lookup(pairs[:, 0]), self.common.lookup(pairs[:, 1])
        loss = kl(*a, *b)
        if self.params.symmetric_ac:
            loss = loss + kl(*b, *a)
        return loss.mean()
