"""Modal Gaussians fused by their precisions: the closed-form core of :mod:`gaussea.models.gaussian_fusion`.

Every entity ``e`` has, per modality ``m`` it carries, a Gaussian ``N(u_m(e), s_m(e) I)`` whose mean ``u_m(e)`` is a
unit vector of that modality's own space and whose scalar variance ``s_m(e)`` says how far that evidence is to be
trusted. The paper's common-space loss ``sum_m KL(N_e || N_e^m)`` is minimised, for the common mean, by the
precision-weighted mean of the modal means (``pi_m = 1 / s_m``)::

    mu_e = sum_m w_m(e) u_m(e),   w_m(e) = pi_m(e) / sum_m' pi_m'(e)

With each modality in its own block of coordinates (the direct sum of the modal spaces; no learned projection
has to squeeze relations, numbers and pictures into one width) the cosine of two entities' fused vectors
``[sqrt(w_m(e)) u_m(e)]_m`` is ``sum_m sqrt(w_m(e1) w_m(e2)) cos_m(e1, e2)``: every modality's agreement counted
with the geometric mean of the two entities' trust in it. A modality an entity lacks has zero precision (an
infinite variance), so it neither counts nor dilutes the others.

**The precision of an entity's modality** is the product of two closed-form factors, ``pi_m(e) = kappa_m a_m(e)``:

- ``kappa_m``, the modality's precision: two Gaussians of the same entity are likely in proportion to
  ``exp(kappa_m cos_m)`` (for unit means, ``-||u - u'||^2 / 2s = (cos - 1) / s``), so the ``kappa`` that make the
  true counterpart of a *calibration pair* most likely against every other entity of the other graph are the
  maximum-likelihood precisions (a softmax regression with one weight per modality, convex, solved by L-BFGS).
  Calibration pairs are seed pairs the encoders never saw: on the pairs an encoder was trained on, its
  similarities are inflated and would claim all the trust (``bench/results/gaussian-fusion/README.md``).
- ``a_m(e)`` in ``(0, 1]``, the entity's reliability: the posterior probability that its modal evidence is real.
  The cosine between an entity's modal mean and its counterpart's follows one of two Gaussians: *null* (the
  modality says nothing about this entity, or shows another entity's facts), fitted on random cross-graph pairs,
  or *valid*, fitted with its share by EM on the calibration pairs (the null component fixed: calibration pairs
  may carry wrong facts too). For a seed entity the counterpart is its partner; for any other it is uncertain,
  so ``a_m(e) = E_q[P(valid | cos_m(e, j))]`` under the posterior ``q(j | e)``, a softmax over the fused
  cosines (temperature ``temperature``) of its ``top_k`` nearest non-seed entities of the other graph in each
  modality. A picture of another entity is as far from its counterpart's picture as a random one, while relations
  and numbers agree on the counterpart: its visual variance grows and it stops counting. A *weak* but real match
  (two shared attributes out of ten) stays far above the null and keeps its weight, which a variance growing
  with the plain gap would not (measured: BENCHMARKS.md, "Gaussian fusion").

Per-entity reliabilities are only as good as the counterpart inference behind them: where the other modalities
cannot say which candidate is the counterpart, ``a_m(e)`` tracks the wrong candidates and lowers a good modality's
weight everywhere. So they are *tested* on the calibration pairs (:func:`reliabilities_explain_calibration`:
the calibration entities' reliabilities inferred as a test entity's would be, ``kappa`` refitted given them) and,
under ``entity_reliability = "auto"``, used only if they make those held-out pairs more likely.

Fusion and reliabilities are alternated ``rounds`` times (an EM: fuse, infer counterparts, re-estimate). With
``rounds = 0`` every variance stays at one shared value: the point version of the same model (equal weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

FUSION_CHUNK = 2048  # query rows scored at once when looking for counterpart candidates
GATHER_ELEMENTS = 1 << 24  # numbers gathered at once by candidate_cosines (64 MiB of float32)
LOG_KAPPA_BOUND = 8.0  # modality precisions stay within exp(+-8): a cosine scaled by 3,000 is already a hard choice


@dataclass(frozen=True)
class ModalMeans:
    """Per-modality unit means of all entities (global ids): ``means[m]`` is (N, d_m), ``present`` (N, M)."""

    names: tuple[str, ...]
    means: tuple[torch.Tensor, ...]
    present: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.names) != len(self.means) or self.present.shape[1] != len(self.means):
            raise ValueError("ModalMeans: one name, one mean table and one presence column per modality")


@dataclass(frozen=True)
class FusionState:
    """The result of :func:`fit_variances`: per-modality variances (N, M; NaN where absent), weights (N, M),
    and the fused unit vectors (N, sum d_m)."""

    variances: torch.Tensor
    weights: torch.Tensor
    fused: torch.Tensor
    entity_reliability: bool = False  # whether per-entity reliabilities entered the variances

    def common_variance(self) -> torch.Tensor:
        """``1 / sum_m pi_m``: the variance of the product of an entity's modal Gaussians (inf with none)."""
        precision = torch.nan_to_num(1.0 / self.variances, nan=0.0)
        return 1.0 / precision.sum(1)


def precision_weights(variances: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """``w_m = pi_m / sum pi`` over the modalities present (rows with none stay zero)."""
    precision = torch.where(present, 1.0 / variances, torch.zeros_like(variances))
    total = precision.sum(1, keepdim=True)
    return torch.where(total > 0, precision / total.clamp_min(1e-30), torch.zeros_like(precision))


def fuse(modal: ModalMeans, weights: torch.Tensor) -> torch.Tensor:
    """``[sqrt(w_m) u_m]_m``: unit rows where the weights sum to one (see the module docstring)."""
    widths = [mean.shape[1] for mean in modal.means]
    out = torch.empty(len(weights), sum(widths), dtype=modal.means[0].dtype, device=weights.device)
    start = 0
    for m, mean in enumerate(modal.means):  # block by block, in place: no temporary copy of a modality
        out[:, start:start + widths[m]].copy_(mean).mul_(weights[:, m:m + 1].sqrt())
        start += widths[m]
    return out


def counterpart_candidates(fused: torch.Tensor, num_left: int, top_k: int, blocked: torch.Tensor,
                           chunk: int = FUSION_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """Each entity's ``top_k`` most cosine-similar entities of the other graph, skipping ``blocked`` ones (seed
    entities, whose counterparts are known). Returns global ids and cosines, both (N, k).

    One pass over (left chunk x right) similarity blocks yields both directions: the rows' top-k directly, the
    columns' by merging each block's column top-k into a running one. Memory: O(chunk x N_right), never N x N.
    """
    left, right = fused[:num_left], fused[num_left:]
    k_right, k_left = min(top_k, len(right)), min(top_k, len(left))
    row_ids, row_sims = [], []
    col_sims = torch.full((k_left, len(right)), -torch.inf, dtype=fused.dtype, device=fused.device)
    col_ids = torch.zeros((k_left, len(right)), dtype=torch.long, device=fused.device)
    blocked_left, blocked_right = blocked[:num_left], blocked[num_left:]
    for start in range(0, len(left), chunk):
        sims = left[start:start + chunk] @ right.T
        s, i = sims.masked_fill(blocked_right.unsqueeze(0), -torch.inf).topk(k_right, dim=1)
        row_sims.append(s)
        row_ids.append(i + num_left)
        sims[blocked_left[start:start + chunk]] = -torch.inf
        kk = min(k_left, len(sims))
        cs, ci = sims.topk(kk, dim=0)
        merged_s, merged_i = torch.cat([col_sims, cs]), torch.cat([col_ids, ci + start])
        top_s, top_pos = merged_s.topk(k_left, dim=0)
        col_sims, col_ids = top_s, merged_i.gather(0, top_pos)
    k = min(k_left, k_right)
    ids = torch.cat([torch.cat(row_ids)[:, :k], col_ids.T[:, :k]])
    cos = torch.cat([torch.cat(row_sims)[:, :k], col_sims.T[:, :k]])
    return ids, cos


def candidate_cosines(means: torch.Tensor, candidates: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """``cos(u(e), u(candidates[e, i]))`` (N, k) for unit rows ``means``, in row chunks whose gathered candidate
    rows hold at most ``GATHER_ELEMENTS`` numbers (never N x k x d at once: 2 GB on FB15K*-DB15K)."""
    if chunk is None:
        chunk = max(1, GATHER_ELEMENTS // max(1, candidates.shape[1] * means.shape[1]))
    out = [torch.einsum("cd,ckd->ck", means[s:s + chunk], means[candidates[s:s + chunk]])
           for s in range(0, len(candidates), chunk)]
    return torch.cat(out) if out else means.new_zeros((0, candidates.shape[1]))


def centre_unit_(mean: torch.Tensor, present: torch.Tensor, num_left: int) -> torch.Tensor:
    """In place: each graph's rows minus that graph's mean row (over the entities carrying the modality), unit
    length; absent rows set to zero. Returns ``mean``. Centring makes an unrelated pair's cosine zero on average, so
    a cosine measures evidence rather than what every entity of a modality shares (non-negative CNN features, a
    common year). In place because the relational means of a large pair are hundreds of MB."""
    for rows in (slice(0, num_left), slice(num_left, len(mean))):
        block, has = mean[rows], present[rows]
        if has.any():
            block.sub_(block[has].mean(0))
            block.div_(block.norm(dim=1, keepdim=True).clamp_min(1e-12))
        block[~has] = 0.0
    return mean


def modality_precisions(modal: ModalMeans, num_left: int, pairs: torch.Tensor, blocked: torch.Tensor,
                        max_iter: int = 100) -> torch.Tensor:
    """``kappa`` (M,): the maximum-likelihood precisions of the calibration ``pairs`` (module docstring).

    Each pair is scored in both directions against every entity of the other graph that is not ``blocked`` (seed
    entities, whose counterparts are known), its partner excepted; ``log kappa`` is fitted, so each stays positive.
    A modality absent at both ends of every pair keeps ``kappa = 1`` (nothing to fit it on).
    """
    return calibration_fit(modal, num_left, pairs, blocked, max_iter=max_iter)[0]


def calibration_fit(modal: ModalMeans, num_left: int, pairs: torch.Tensor, blocked: torch.Tensor,
                    reliability: torch.Tensor | None = None, max_iter: int = 100) -> tuple[torch.Tensor, float]:
    """:func:`modality_precisions` and the calibration pairs' mean negative log-likelihood at the fitted ``kappa``.

    With ``reliability`` (N, M) the modal cosine of two entities counts ``sqrt(a_m(e) a_m(j))`` times, as in the
    fused cosine: ``kappa`` is then the best modality-level trust *given* the per-entity reliabilities, and the
    likelihood says whether those reliabilities explain the held-out pairs better than the modality level alone.
    """
    num_modalities = len(modal.means)
    if len(pairs) == 0:
        return torch.ones(num_modalities, device=modal.present.device), 0.0
    directions = []  # (cosines (P, candidates, M), excluded candidates (P, candidates), partner column (P,))
    for src, dst, lo, hi in ((pairs[:, 0], pairs[:, 1], num_left, len(modal.present)),
                             (pairs[:, 1], pairs[:, 0], 0, num_left)):
        cos = torch.stack([mean[src] @ mean[lo:hi].T for mean in modal.means], 2)
        if reliability is not None:
            cos *= (reliability[src].unsqueeze(1) * reliability[lo:hi].unsqueeze(0)).sqrt()
        excluded = blocked[lo:hi].unsqueeze(0).expand(len(src), -1).clone()
        excluded[torch.arange(len(src), device=src.device), dst - lo] = False
        directions.append((cos, excluded, dst - lo))
    log_kappa = torch.zeros(num_modalities, device=modal.present.device, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_kappa], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = log_kappa.new_zeros(())
        kappa = log_kappa.clamp(-LOG_KAPPA_BOUND, LOG_KAPPA_BOUND).exp()  # a line-search step may overshoot
        for cos, excluded, target in directions:
            logits = (cos * kappa).sum(2).masked_fill(excluded, -torch.inf)
            loss = loss + torch.nn.functional.cross_entropy(logits, target)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
        final = float(closure().detach())
    return log_kappa.detach().clamp(-LOG_KAPPA_BOUND, LOG_KAPPA_BOUND).exp(), final


def _normal_logpdf(x: torch.Tensor, mean: float, var: float) -> torch.Tensor:
    return -0.5 * (x - mean) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


@dataclass(frozen=True)
class ValidityModel:
    """Two Gaussians of the cosine between an entity's modal mean and its counterpart's: *valid* (weight
    ``weight``, ``N(mu1, var1)``) and *null* (``N(mu0, var0)``)."""

    weight: float
    mu1: float
    var1: float
    mu0: float
    var0: float

    def posterior(self, cos: torch.Tensor) -> torch.Tensor:
        """``P(valid | cos)``, elementwise."""
        return torch.sigmoid(math.log(self.weight) + _normal_logpdf(cos, self.mu1, self.var1)
                             - math.log(1 - self.weight) - _normal_logpdf(cos, self.mu0, self.var0))


def fit_validity(modal: ModalMeans, num_left: int, calibration_pairs: torch.Tensor,
                 iterations: int = 20) -> list[ValidityModel | None]:
    """Per modality, the :class:`ValidityModel`: *null* fitted on random cross-graph pairs (the modality says
    nothing about the entity, or shows another entity's facts); *valid* fitted with its weight by EM on the
    calibration pairs' cosines, the null component fixed (calibration pairs may carry corrupted facts too).
    None where too few entities or pairs carry the modality to fit it (its evidence then counts as valid)."""
    generator = torch.Generator().manual_seed(0)
    models: list[ValidityModel | None] = []
    for m, mean in enumerate(modal.means):
        has = modal.present[:, m]
        left = torch.nonzero(has[:num_left]).squeeze(1)
        right = torch.nonzero(has[num_left:]).squeeze(1) + num_left
        both = has[calibration_pairs[:, 0]] & has[calibration_pairs[:, 1]]
        if len(left) < 2 or len(right) < 2 or both.sum() < 2:
            models.append(None)
            continue
        i = left[torch.randint(len(left), (20000,), generator=generator).to(left.device)]
        j = right[torch.randint(len(right), (20000,), generator=generator).to(right.device)]
        null = (mean[i] * mean[j]).sum(1)
        mu0, var0 = float(null.mean()), float(null.var().clamp_min(1e-6))
        pairs = calibration_pairs[both]
        x = (mean[pairs[:, 0]] * mean[pairs[:, 1]]).sum(1)
        weight, mu1, var1 = 0.5, float(x.mean()), float(x.var().clamp_min(1e-6))
        for _ in range(iterations):
            a = math.log(weight) + _normal_logpdf(x, mu1, var1)
            b = math.log(1 - weight) + _normal_logpdf(x, mu0, var0)
            r = torch.sigmoid(a - b)
            total = float(r.sum()) + 1e-9
            weight = min(max(total / len(x), 1e-3), 1 - 1e-3)
            mu1 = float((r * x).sum()) / total
            var1 = max(float((r * (x - mu1) ** 2).sum()) / total, 1e-6)
        models.append(ValidityModel(weight, mu1, var1, mu0, var0))
    return models


def candidate_validity(models: list[ValidityModel | None], modal_cos: torch.Tensor) -> torch.Tensor:
    """``P(valid | cos_m(e, j))`` for every entity, candidate and modality (N, k, M); 1 where unfitted."""
    return torch.stack([torch.ones_like(modal_cos[:, :, m]) if model is None else model.posterior(modal_cos[:, :, m])
                        for m, model in enumerate(models)], 2)


def expected_validity(present: torch.Tensor, candidates: torch.Tensor, validity: torch.Tensor,
                      probabilities: torch.Tensor) -> torch.Tensor:
    """``E_q[P(valid | cos_m(e, j))]`` (N, M) over the candidates carrying ``m`` (renormalised); ``present`` (0 or
    1) where the entity lacks ``m`` or none of its candidates has it."""
    out = torch.zeros(present.shape, dtype=validity.dtype, device=validity.device)
    for m in range(present.shape[1]):
        q = probabilities * present[candidates, m]
        mass = q.sum(1)
        has = present[:, m]
        out[:, m] = torch.where(has & (mass > 0), (q * validity[:, :, m]).sum(1) / mass.clamp_min(1e-30),
                                has.to(out.dtype))
    return out


def union_candidates(modal: ModalMeans, num_left: int, top_k: int, blocked: torch.Tensor) -> torch.Tensor:
    """Per entity, the ``top_k`` nearest non-blocked entities of the other graph in each modality, side by side
    (N, M * k); an entity repeated across modalities appears more than once (see :func:`repeated`)."""
    return torch.cat([counterpart_candidates(mean, num_left, top_k, blocked)[0] for mean in modal.means], 1)


def repeated(candidates: torch.Tensor) -> torch.Tensor:
    """``True`` at every entry equal to an earlier entry of its row (so a softmax counts each candidate once)."""
    same = candidates.unsqueeze(2) == candidates.unsqueeze(1)
    return same.tril(diagonal=-1).any(2)


ENTITY_RELIABILITY_CHOICES = (True, False, "auto")


def fit_variances(modal: ModalMeans, num_left: int, seed_pairs: torch.Tensor, calibration_pairs: torch.Tensor, *,
                  temperature: float, top_k: int, rounds: int, var_max: float,
                  entity_reliability: bool | str = True) -> FusionState:
    """Modality precisions from ``calibration_pairs``, then ``rounds`` of fusion and per-entity reliabilities
    (module docstring). ``seed_pairs`` are all known pairs (the calibration pairs among them).

    ``rounds = 0`` returns the point version: every present modality at variance 1 (equal weights).
    ``entity_reliability = False`` keeps every ``a_m(e) = 1``: modality-level precisions only (an ablation).
    ``entity_reliability = "auto"`` uses the per-entity reliabilities only where they make the held-out calibration
    pairs more likely (:func:`reliabilities_explain_calibration`), else the modality level alone.
    ``var_max`` bounds how far an entity's modal variance may exceed its modality's (``a_m(e) >= 1 / var_max``).
    """
    n, num_modalities = modal.present.shape
    device = modal.present.device
    absent = torch.full((n, num_modalities), torch.nan, device=device)
    variances = torch.where(modal.present, torch.ones(n, num_modalities, device=device), absent)
    if rounds == 0:
        weights = precision_weights(variances, modal.present)
        return FusionState(variances, weights, fuse(modal, weights))
    blocked = torch.zeros(n, dtype=torch.bool, device=device)
    blocked[seed_pairs.reshape(-1)] = True
    kappa, calibration_nll = calibration_fit(modal, num_left, calibration_pairs, blocked)
    use_entities = entity_reliability is True
    if entity_reliability == "auto":
        use_entities = reliabilities_explain_calibration(
            modal, num_left, seed_pairs, calibration_pairs, kappa, calibration_nll,
            temperature=temperature, top_k=top_k, rounds=rounds, var_max=var_max)
    reliability = modal.present.to(kappa.dtype)
    if use_entities:
        reliability = entity_reliabilities(modal, num_left, seed_pairs, calibration_pairs, kappa, blocked,
                                           temperature=temperature, top_k=top_k, rounds=rounds, var_max=var_max)
    variances = torch.where(modal.present, 1.0 / (kappa * reliability).clamp_min(1e-30), absent)
    weights = precision_weights(variances, modal.present)
    return FusionState(variances, weights, fuse(modal, weights), entity_reliability=use_entities)


def entity_reliabilities(modal: ModalMeans, num_left: int, seed_pairs: torch.Tensor, calibration_pairs: torch.Tensor,
                         kappa: torch.Tensor, blocked: torch.Tensor, *, temperature: float, top_k: int, rounds: int,
                         var_max: float) -> torch.Tensor:
    """``a_m(e)`` (N, M; 0 where absent) after ``rounds`` of fusion and counterpart inference (module docstring).

    A ``blocked`` entity's counterpart is its partner in ``seed_pairs``; any other entity's is inferred.
    """
    n = len(modal.present)
    device = modal.present.device
    candidates = union_candidates(modal, num_left, top_k, blocked)
    # A seed entity's counterpart is its partner: all the probability on it.
    partner_of = torch.arange(n, device=device)
    partner_of[seed_pairs[:, 0]] = seed_pairs[:, 1]
    partner_of[seed_pairs[:, 1]] = seed_pairs[:, 0]
    candidates[blocked, 0] = partner_of[blocked]
    duplicate = repeated(candidates)
    modal_cos = torch.stack([candidate_cosines(mean, candidates) for mean in modal.means], 2)
    seed_q = torch.zeros(candidates.shape[1], device=device)
    seed_q[0] = 1.0
    validity = candidate_validity(fit_validity(modal, num_left, calibration_pairs), modal_cos)
    reliability = modal.present.to(modal_cos.dtype)
    for _ in range(rounds):
        weights = precision_weights(1.0 / (kappa * reliability).clamp_min(1e-30), modal.present)
        fused_cos = ((weights.unsqueeze(1) * weights[candidates]).sqrt() * modal_cos).sum(2)
        probabilities = torch.softmax(fused_cos.masked_fill(duplicate, -torch.inf) / temperature, dim=1)
        probabilities[blocked] = seed_q
        reliability = expected_validity(modal.present, candidates, validity, probabilities)
        reliability = torch.where(modal.present, reliability.clamp_min(1.0 / var_max), torch.zeros_like(reliability))
    return reliability


def reliabilities_explain_calibration(modal: ModalMeans, num_left: int, seed_pairs: torch.Tensor,
                                      calibration_pairs: torch.Tensor, kappa: torch.Tensor, modality_nll: float, *,
                                      temperature: float, top_k: int, rounds: int, var_max: float) -> bool:
    """Whether the per-entity reliabilities make the held-out calibration pairs more likely than the modality
    level alone (``modality_nll``, the calibration likelihood at ``kappa``).

    The calibration entities are treated as any entity whose counterpart is unknown (their reliabilities come
    from inferred counterparts, as a test entity's do), and ``kappa`` is refitted given the reliabilities, so
    that only what they add *per entity* is judged, not the level they move every weight to. Where the
    counterpart inference is too weak to say which evidence is real (a poor relational view, as on
    FB15K*-YAGO15K), the reliabilities mostly track the wrong candidates and lose this test; where wrong
    evidence is planted on both graphs (the synthetic default) they win it (``bench/results/gaussian-fusion``).
    """
    if len(calibration_pairs) == 0:
        return False
    known = torch.zeros(len(modal.present), dtype=torch.bool, device=modal.present.device)
    known[seed_pairs.reshape(-1)] = True
    held_out = known.clone()
    held_out[calibration_pairs.reshape(-1)] = False
    in_calibration = (seed_pairs.unsqueeze(1) == calibration_pairs.unsqueeze(0)).all(2).any(1)
    reliability = entity_reliabilities(modal, num_left, seed_pairs[~in_calibration], calibration_pairs, kappa,
                                       held_out, temperature=temperature, top_k=top_k, rounds=rounds, var_max=var_max)
    _, entity_nll = calibration_fit(modal, num_left, calibration_pairs, known, reliability)
    return entity_nll < modality_nll
