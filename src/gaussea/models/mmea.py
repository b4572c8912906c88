"""MMEA (Chen et al., KSEM 2020) in our framework: the paper's direct ancestor, with points instead of Gaussians.

MMEA embeds each entity as a point in a relational, a visual and a numerical space and pulls the three points
towards a common-space point; alignment pulls seed pairs together in the common space; the losses are updated
in turn each epoch. The Gaussian model generalises exactly this: with every variance frozen at the same value
``v`` its KL terms reduce to MMEA's squared distances,

    KL(N(a, v) || N(b, v))            = ||a - b||^2 / (2 v)
    KL(N(h - t, 2v) || N(r, v))       = ||h - t - r||^2 / (2 v) + const      (TransE, squared)

so MMEA here *is* :class:`~gaussea.models.gaussian_csl.GaussianCommonSpace` trained in one stage with the
variances never freed — same encoders (``tanh(M1 i)`` for images, the RBF + CNN numerical encoder), same
exchange strategy, negatives, schedule and budget. That makes the comparison in Table 2 measure one thing:
what learned variances add.

Simplified relative to the public MMEA code (liyichen-cly/MMEA, built on OpenEA): it L2-normalises the image
and attribute encoder outputs (and applies dropout 0.5 to the image one); it also weights the common-space terms
separately and uses a second learning rate for them. Its relational loss is OpenEA's ``get_loss_func``, whose
"L2" margin loss sums *squared* differences — the same squared TransE as ours (the run arguments are not
published, so an L1 run cannot be excluded). Its relation loss samples triples of each graph without the
exchange strategy; ours keeps the exchange strategy, which the Gaussian paper describes "as in MMEA". We keep
our encoders and a single learning rate so that the only difference from the proposed model is the variance;
the epochs given to the second stage of the Gaussian model are given to MMEA as further epochs of its only
stage.
"""

from __future__ import annotations

from gaussea.models.gaussian_csl import GaussianCommonSpace
from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.models.gaussian_stages import StageSchedule, points


class MMEA(GaussianCommonSpace):
    num_stages = 1

    @classmethod
    def stage_schedule(cls, params: GaussianCSLParams) -> StageSchedule:
        """MMEA has one stage: variances stay frozen at ``var_init`` (points), whatever the epoch."""
        return points(params)

    def variance_report(self) -> dict:
        return {}
