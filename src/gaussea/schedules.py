"""How many steps, over which items, each loss takes in an epoch: the models' step plans, kept out of the trainer.

The trainer asks the model (:meth:`gaussea.models.base.AlignmentModel.epoch_batches`) and never looks at loss
names. Most models take one shuffled pass over each loss's items in batches of their own size or of
``train.batch_size`` (:func:`shuffled_batches`). The models that alternate a relational loss with alignment and
common-space losses (the paper's, MMEA, MTransE, SEA) pace those losses by the relational one
(:func:`relationally_paced_batches`), because with one shared Adam a loss's number of steps per epoch is its weight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from gaussea.config import TrainConfig

if TYPE_CHECKING:
    from gaussea.models.base import AlignmentModel


def shuffled_batches(num_items: int, size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One pass over ``range(num_items)`` in a random order, ``size`` items a step (none without items)."""
    return list(torch.randperm(num_items, generator=generator).split(size)) if num_items else []


def relationally_paced_batches(model: AlignmentModel, name: str, cfg: TrainConfig,
                               generator: torch.Generator) -> list[torch.Tensor]:
    """The schedule of the models with a relational loss ``rel`` that the others are paced by.

    - ``ac`` (seed pairs): as many steps as ``rel`` takes, each a random draw of ``#pairs / rel steps`` pairs
      (MMEA's schedule);
    - ``vis`` and ``csl``: one pass in as many steps as ``rel`` takes (the paper's model paces ``csl`` itself
      outside stage 2: :meth:`gaussea.models.gaussian_csl.GaussianCommonSpace.epoch_batches`);
    - everything else, and every loss of a model without ``rel``: one pass in ``train.batch_size`` steps.
    """
    n = model.num_items(name)
    own = model.batch_size(name)
    if own is not None:
        return shuffled_batches(n, own, generator)
    # Steps of the relational loss: the unit the other losses' schedules are counted in (0 without it).
    rel_steps = max(1, -(-model.num_items("rel") // cfg.batch_size)) if "rel" in model.loss_names() else 0
    if name == "ac" and rel_steps and n:
        size = max(1, n // rel_steps)
        return [torch.randint(n, (size,), generator=generator) for _ in range(rel_steps)]
    size = cfg.batch_size
    if name in ("vis", "csl") and rel_steps:  # one pass in as many steps as the relational loss takes
        size = max(1, -(-n // rel_steps))
    return shuffled_batches(n, size, generator)


class RelationallyPaced:
    """Mixin for an :class:`~gaussea.models.base.AlignmentModel` whose losses are paced by its ``rel`` loss."""

    def epoch_batches(self, name: str, cfg: TrainConfig, generator: torch.Generator) -> list[torch.Tensor]:
        return relationally_paced_batches(self, name, cfg, generator)  # type: ignore[arg-type]
