"""The TransE-family triple score, a part of the own parameters of every translational baseline.

TransE, MTransE, IPTransE, SEA and IMUSE rank ``||h + r - t||`` of a triple above that of a corruption with a
margin (:class:`gaussea.models.translational.TripleRanking`); their params dataclasses extend
:class:`TripleScoreParams`, so ``--set model.options.squared_distance=true`` means the same for each.

``squared_distance`` exists because OpenEA's "L2" loss (``loss_norm = "L2"``, its ``margin_loss``) scores a
triple by the *squared* distance ``sum((h + r - t)^2)``: the margin 1.5 of its 15K settings is meant for that
score, whose range on unit entity vectors is about four times the distance's. Its margin on the plain distance
leaves the hinge active on almost every pair (FB15K*-DB15K split 0: TransE 0.7 % test H@1, SEA 1.1 %;
bench/results/tables-valid-hyper/README.md).

Kept free of torch so that reading a run's settings builds no model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TripleScoreParams:
    """How a translational baseline scores ``(h, r, t)``: the ``norm`` of ``h + r - t``, squared or not, and the
    margin by which a true triple must beat a corruption."""

    margin: float = 1.0  # Bordes et al. 2013 (TransE's margin); models with a published one redeclare it
    norm: int = 2  # L2 (TransE allows L1 or L2)
    squared_distance: bool = False  # True: OpenEA's "L2" score, the squared distance
