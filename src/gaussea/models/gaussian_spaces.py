"""The paper model's representations: one diagonal-Gaussian table per space, and how every loss reads them.

Per entity a common-space Gaussian ``N(mu_e, s_e)`` and one per used modality (relational, visual, numerical), plus
one Gaussian per relation (KG2E). This module owns building the tables and the lookups the losses, the stage schedule
and the diagnostics share (PyKEEN's "representations", apart from its "interactions": the losses in
:mod:`gaussea.models.gaussian_losses`):

- relational entity means are read on the unit sphere (OpenEA / MMEA's ``ent_l2_norm``);
- a visual / numerical entity Gaussian has its table's variance row and, as mean, its table's mean row
  (``modal_means = "free"``) or the average encoding of the entity's own rows (``"encoder"``, through
  :class:`~gaussea.models.modal_encoders.ModalEncoders`); ``unit_modal_means`` puts that mean on the unit sphere.

Not an ``nn.Module``: the model registers :meth:`GaussianSpaces.named_modules` under the names every state dict and
checkpoint written so far uses (``common``, ``rel_ent``, ``rel``, ``vis_ent``, ``num_ent``, ``image_encoder``,
``numeric_encoder``), and the trainer's optimiser groups read those names (``common.*``, ``*.var``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gaussea.config import ModelConfig
from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.modal_encoders import NUMERICAL, VISUAL, ModalEncoders
from gaussea.models.tables import MEAN_INIT_STD, GaussianTable

Gaussians = tuple[torch.Tensor, torch.Tensor | None]


class GaussianSpaces:
    """The tables ``common``, ``relational`` / ``relation`` (with ``r``), ``visual`` (with ``v`` and pictures),
    ``numerical`` (with ``n`` and numbers), an absent space's being None, and the modal encoders.

    ``inputs`` are the model's current inputs: the model hands its moved copy over after a device move.
    """

    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, params: GaussianCSLParams,
                 generator: torch.Generator) -> None:
        self.inputs = inputs
        n, use = inputs.num_entities, set(config.modalities)

        def table(num: int, init_std: float = MEAN_INIT_STD) -> GaussianTable:
            return GaussianTable(num, config.dim, init_std=init_std, var_init=params.var_init,
                                 var_min=params.var_min, var_max=params.var_max, generator=generator)

        # Drawn from ``generator`` in this order: common, relational, relation, visual, numerical.
        self.common = table(n, params.common_init_std)
        self.relational = table(n) if "r" in use else None
        self.relation = table(inputs.num_relations) if "r" in use else None
        self.visual = table(n) if "v" in use and len(inputs.image_owner) > 0 else None
        self.numerical = table(n) if "n" in use and len(inputs.num_entity) > 0 else None
        self.encoded_modal_means = params.modal_means == "encoder"
        self.unit_modal_means = params.unit_modal_means
        self.encoders = ModalEncoders(inputs, config.dim, params, visual=self.visual is not None,
                                      numerical=self.numerical is not None, encoded_means=self.encoded_modal_means)

    def named_modules(self) -> list[tuple[str, torch.nn.Module]]:
        """Every table and encoder under the model's attribute names, in the order the model has always registered
        them (its parameter order)."""
        named: list[tuple[str, torch.nn.Module | None]] = [
            ("common", self.common), ("rel_ent", self.relational), ("rel", self.relation), ("vis_ent", self.visual)]
        named += self.encoders.named_modules(VISUAL)
        named.append(("num_ent", self.numerical))
        named += self.encoders.named_modules(NUMERICAL)
        return [(name, module) for name, module in named if module is not None]

    @property
    def num_entities(self) -> int:
        return len(self.common)

    def tables(self) -> list[GaussianTable]:
        """The tables that exist, common first."""
        return [t for t in (self.common, self.relational, self.relation, self.visual, self.numerical)
                if t is not None]

    def modal_tables(self) -> list[GaussianTable]:
        """The visual and numerical tables that exist."""
        return [t for t in (self.visual, self.numerical) if t is not None]

    def modal_table(self, space: str) -> GaussianTable:
        """The visual (``space="vis"``) or numerical (``"num"``) table."""
        table = self.visual if space == VISUAL else self.numerical
        if table is None:
            raise ValueError(f"the model has no {space!r} space")
        return table

    def clamp_(self) -> None:
        """Clamp every trainable variance after an optimiser step (:meth:`GaussianTable.clamp_`)."""
        for table in self.tables():
            table.clamp_()

    def relational_entity(self, idx: torch.Tensor) -> Gaussians:
        """Relational entity Gaussians as every loss sees them (means on the unit sphere)."""
        return self.relational.lookup(idx, normalise=True)  # type: ignore[union-attr]

    def modal(self, space: str, idx: torch.Tensor) -> Gaussians:
        """Visual (``space="vis"``) / numerical (``"num"``) entity Gaussians as every loss sees them (see the module
        docstring); with encoder means each distinct entity of ``idx`` is encoded once."""
        table = self.modal_table(space)
        if not self.encoded_modal_means:
            return table.lookup(idx, normalise=self.unit_modal_means)
        var = table.variance_rows(idx)
        entities, inverse = torch.unique(idx.reshape(-1), return_inverse=True)
        mean = self.encoders.entity_means(space, self.inputs, entities)
        if self.unit_modal_means:
            mean = F.normalize(mean, dim=-1)
        return mean[inverse].view(*idx.shape, -1), var

    def encode(self, space: str, rows: torch.Tensor) -> torch.Tensor:
        """The encodings of picture rows (``"vis"``) or numerical-triple rows (``"num"``) of the inputs."""
        return self.encoders.encode(space, self.inputs, rows)

    def modal_means_all(self, space: str, chunk: int = 4096) -> torch.Tensor:
        """Every entity's visual / numerical mean as the losses see it, computed in chunks without gradients."""
        with torch.no_grad():
            ids = torch.arange(self.num_entities, device=self.common.mean.device)
            return torch.cat([self.modal(space, part)[0] for part in ids.split(chunk)])
