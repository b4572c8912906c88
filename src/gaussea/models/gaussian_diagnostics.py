"""What the paper model shows of itself after training: its alignment embeddings, each space's embeddings, and the
learned variances per space (``gaussea explain`` and ``report`` read the last two).

Read-only views of :class:`~gaussea.models.gaussian_spaces.GaussianSpaces`, kept out of the model so that the model
composes and this module only reports.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gaussea.embeddings import Embeddings
from gaussea.models.gaussian_spaces import GaussianSpaces
from gaussea.models.modal_encoders import NUMERICAL, VISUAL

SidePair = tuple[Embeddings, Embeddings]


def by_graph(mean: torch.Tensor, var: torch.Tensor, num_left: int) -> SidePair:
    """Global-id rows of Gaussians as the left graph's and the right graph's embeddings."""
    return Embeddings(mean[:num_left], var[:num_left]), Embeddings(mean[num_left:], var[num_left:])


def entity_embeddings(spaces: GaussianSpaces) -> SidePair:
    """The common-space Gaussians: what the model aligns with."""
    return by_graph(spaces.common.mean.detach(), spaces.common.var.detach(), spaces.inputs.num_left)


def space_embeddings(spaces: GaussianSpaces) -> dict[str, SidePair]:
    """Each modal space's entity Gaussians as the losses read them (relational means on the unit sphere; visual and
    numerical means from the table or the encoders)."""
    n1 = spaces.inputs.num_left
    out = {}
    if spaces.relational is not None:
        mean = F.normalize(spaces.relational.mean.detach(), dim=-1)
        out["relational"] = by_graph(mean, spaces.relational.var.detach(), n1)
    for label, space, table in (("visual", VISUAL, spaces.visual), ("numerical", NUMERICAL, spaces.numerical)):
        if table is not None:
            out[label] = by_graph(spaces.modal_means_all(space), table.var.detach(), n1)
    return out


def variance_report(spaces: GaussianSpaces) -> dict[str, np.ndarray]:
    """Mean variance per entity for each space; NaN where the entity lacks that modality."""
    out = {"common": _mean_variance(spaces.common.var)}
    if spaces.relational is not None:
        out["relational"] = _mean_variance(spaces.relational.var)
    for label, table, has in (("visual", spaces.visual, spaces.inputs.has_images),
                              ("numerical", spaces.numerical, spaces.inputs.has_numbers)):
        if table is not None:
            values = _mean_variance(table.var)
            values[~has().cpu().numpy()] = np.nan
            out[label] = values
    return out


def _mean_variance(var: torch.Tensor | None) -> np.ndarray:
    """Per row, the mean of the variance's dimensions (a writable copy)."""
    return var.detach().mean(1).cpu().numpy().copy()  # type: ignore[union-attr]
