"""``gaussian_fusion``: every modality a Gaussian whose variance says how far to trust it, on encoders that align.

The paper's idea (a common-space Gaussian per entity, tied by KL terms to one Gaussian per modality, so a noisy
modality can be ignored by growing its variance) on modal encoders that are strong on their own:

- **relational** mean: the :class:`~gaussea.models.graph_encoder.GraphEncoder` embedding (a Dual-AMN-style
  relational encoder trained on the seed pairs, concatenated with training-free label propagation), unit rows.
  Its loss ``align`` is the only trained part; the trainer runs it like any model's.
- **numerical** mean: the value sketch of :mod:`gaussea.encoders.numeric_sketch` (near-equal values of attributes
  that correspond on the seed links), unit rows; absent for entities with no such value.
- **visual** mean: the entity's image features averaged over its pictures, z-scored per column (over all
  pictures of both graphs) and L2-normalised; absent for entities with no picture. Image features already
  describe what is pictured, in one space for both graphs; this read needs no training and any width works.

**Variances and the common space** (:mod:`gaussea.models.precision_fusion`, where the maths is): the common mean
is the precision-weighted mean of the modal means (the minimiser of the paper's ``sum_m KL``), laid out as
``[sqrt(w_m) u_m]_m``. An entity's modal precision is the modality's precision, fitted by maximum likelihood on
*calibration pairs* (``calibration_share`` of the seed pairs, drawn with the run's generator and held out of the
encoder and of the numbers' attribute matching), times the posterior probability that the entity's evidence in
that modality is real (``entity_variances``); computed in closed form after training, ``variance_rounds`` times.
By default (``entity_variances = "auto"``) the per-entity part is kept only when it makes the held-out calibration
pairs more likely than the modality precisions alone: it pays where wrong evidence sits on both graphs and the
other modalities can tell which, and it costs where they cannot (measured: BENCHMARKS.md, "Gaussian fusion").
With relations alone there is nothing to weigh and no pair is held out. ``variance_rounds = 0`` freezes every
variance at one equal value: the **point version** of the same model, which the benchmarks report beside it
(same encoders, same training; only the weighing differs, so the comparison isolates the variances).

Options (``--set model.options.<name>=<value>``): those of :class:`GaussianFusionParams`, plus every option of
:class:`~gaussea.models.graph_encoder.GraphEncoderParams` (``dim``, ``lr``, ``batch_pairs``, ...), passed to the
relational encoder. Which modalities are used: ``model.modalities`` (``r`` is required).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.encoders.numeric_sketch import NumericSketchParams, numeric_sketch
from gaussea.models.base import AlignmentModel
from gaussea.models.graph_encoder import GraphEncoder, GraphEncoderParams
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.options import model_options, require_relations, unknown_options
from gaussea.models.precision_fusion import (
    ENTITY_RELIABILITY_CHOICES,
    FusionState,
    ModalMeans,
    centre_unit_,
    fit_variances,
)
from gaussea.models.translational import split_sides, unit

SPACE_NAMES = {"r": "relational", "n": "numerical", "v": "visual"}


@dataclass(frozen=True)
class GaussianFusionParams:
    """Fusion options of :class:`GaussianFusion`; chosen on validation links (``bench/results/gaussian-fusion``)."""

    variance_rounds: int = 1  # fuse / re-estimate rounds after training (0: the point version, variances frozen)
    var_max: float = 100.0  # the largest a modal variance can be (a modality with no signal: weight ~ 0)
    temperature: float = 0.05  # of the softmax over a non-seed entity's counterpart candidates
    top_k: int = 10  # counterpart candidates per entity and modality
    calibration_share: float = 0.1  # of the seed pairs, held out of the encoders to fit the modality precisions
    # Per-entity reliabilities: "auto" uses them only where they make the held-out calibration pairs more likely
    # than one precision per modality (precision_fusion.reliabilities_explain_calibration); True / False force
    # them on / off (the ablations of bench/bench_fusion.py).
    entity_variances: bool | str = "auto"
    numeric_dim: int = 512
    numeric_tolerance: float = 1e-4
    numeric_min_agreements: int = 3

    def __post_init__(self) -> None:
        if self.variance_rounds < 0:
            raise ValueError(f"gaussian_fusion option variance_rounds must be >= 0, got {self.variance_rounds}")
        if self.var_max <= 0:
            raise ValueError(f"gaussian_fusion option var_max must be > 0, got {self.var_max}")
        if self.temperature <= 0:
            raise ValueError(f"gaussian_fusion option temperature must be > 0, got {self.temperature}")
        if not 0 <= self.calibration_share < 1:
            raise ValueError(f"gaussian_fusion option calibration_share must be in [0, 1), "
                             f"got {self.calibration_share}")
        if self.entity_variances not in ENTITY_RELIABILITY_CHOICES:
            raise ValueError(f"gaussian_fusion option entity_variances must be true, false or \"auto\", "
                             f"got {self.entity_variances!r}")
        if self.top_k < 1:
            raise ValueError(f"gaussian_fusion option top_k must be >= 1, got {self.top_k}")

    def numeric(self) -> NumericSketchParams:
        return NumericSketchParams(dim=self.numeric_dim, tolerance=self.numeric_tolerance,
                                   min_agreements=self.numeric_min_agreements)


def split_options(config: ModelConfig) -> tuple[GaussianFusionParams, GraphEncoderParams]:
    """The run's ``model.options`` divided between the fusion and the relational encoder (unknown keys raise)."""
    options = model_options(config)
    fusion_names = {f.name for f in fields(GaussianFusionParams)}
    encoder_names = {f.name for f in fields(GraphEncoderParams)}
    unknown = unknown_options(options, fusion_names | encoder_names)
    if unknown:
        raise ValueError(f"unknown gaussian_fusion option(s) {unknown}; valid: {sorted(fusion_names | encoder_names)}")
    fusion = replace(GaussianFusionParams(), **{k: v for k, v in options.items() if k in fusion_names})
    encoder = replace(GraphEncoderParams(), **{k: v for k, v in options.items() if k in encoder_names})
    return fusion, encoder


def mean_image_features(inputs: AlignmentInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Per entity, the mean of its z-scored image features, unit rows (zero without a picture), and presence."""
    n = inputs.num_entities
    features = inputs.image_features
    if len(features) > 1:
        features = (features - features.mean(0)) / features.std(0).clamp_min(1e-6)
    device = features.device
    total = torch.zeros(n, features.shape[1], dtype=features.dtype, device=device)
    total.index_add_(0, inputs.image_owner, features)
    present = torch.zeros(n, dtype=torch.bool, device=device)
    present[inputs.image_owner] = True
    return unit(total) * present.unsqueeze(1), present


class GaussianFusion(AlignmentModel):
    """The ``gaussian_fusion`` model (see the module docstring)."""

    default_epochs = GraphEncoder.default_epochs  # training is the relational encoder's
    supports_bootstrapping = True  # train.iterative_rounds: see add_seed_pairs

    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: GaussianFusionParams | None = None) -> None:
        super().__init__()
        require_relations(config, "gaussian_fusion", "encodes")
        fusion, encoder = split_options(config)
        self.params = params or fusion
        self.inputs = inputs
        self.use_numbers = "n" in config.modalities and len(inputs.num_entity) > 0
        self.use_images = "v" in config.modalities and len(inputs.image_owner) > 0
        # With relations alone there is nothing to weigh: no seed pair is held out of training.
        share = self.params.calibration_share if self.use_numbers or self.use_images else 0.0
        order = torch.randperm(len(inputs.train_pairs), generator=generator)
        held_out = int(round(share * len(inputs.train_pairs)))
        self.register_buffer("calibration_pairs", inputs.train_pairs[order[:held_out]].clone(), persistent=False)
        encoder_inputs = replace(inputs, train_pairs=inputs.train_pairs[order[held_out:]].clone())
        self.relational = GraphEncoder(encoder_inputs, config, generator, encoder)
        self.numeric_seed = int(torch.randint(2**62, (1,), generator=generator))
        self._cache: dict[str, object] = {}  # modal means and fusions of the current parameters
        self._evidence: list[tuple[str, torch.Tensor, torch.Tensor]] | None = None  # numbers and pictures

    # --- training: the relational encoder's loss, untouched -------------------------------------
    def loss_names(self) -> list[str]:
        return self.relational.loss_names()

    def num_items(self, name: str) -> int:
        return self.relational.num_items(name)

    def batch_size(self, name: str) -> int | None:
        return self.relational.batch_size(name)

    def make_optimiser(self) -> torch.optim.Optimizer | None:
        return self.relational.make_optimiser()

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.relational.loss(name, idx, generator)

    def after_step(self, name: str) -> None:
        self._cache.clear()  # the relational means moved: the modal means and variances are stale

    # --- iterative bootstrapping: new pairs train the relational encoder and pair the numbers -------
    def known_pairs(self) -> torch.Tensor:
        """The seed pairs (calibration pairs included: never proposed, never trained on) and the bootstrapped."""
        return torch.cat([self.inputs.train_pairs, self.relational.bootstrapped_pairs])

    def add_seed_pairs(self, pairs: torch.Tensor) -> None:
        """The relational encoder trains on ``pairs`` and the numbers' attributes are paired on them too. The
        variances keep the seed pairs alone as known counterparts and calibration (bootstrapped pairs are
        predictions, not evidence of how far to trust a modality)."""
        self.relational.add_seed_pairs(pairs)
        self._drop_caches()

    def _load_from_state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._drop_caches()  # the loaded weights (and bootstrapped pairs) make every cached mean stale
        super()._load_from_state_dict(*args, **kwargs)

    def _drop_caches(self) -> None:
        """Forget every cached mean and fusion, the numbers and pictures included (they depend on the seed pairs
        and the device): recomputed on the next read."""
        self._cache.clear()
        self._evidence = None

    # --- the modal Gaussians --------------------------------------------------------------------
    @torch.no_grad()
    def modal_means(self) -> ModalMeans:
        """Centred unit modal means of every entity (global ids) and which entity carries which modality."""
        if "means" not in self._cache:
            self._cache["means"] = self._modal_means()
        return self._cache["means"]  # type: ignore[return-value]

    def _modal_means(self) -> ModalMeans:
        relational = self.relational
        rel = relational.encoded()
        if relational.params.with_propagation:
            width = rel.shape[1]
            rel = torch.cat([rel, relational.propagation()], 1)
            if relational.params.propagation_weight != 1.0:
                rel[:, width:].mul_(relational.params.propagation_weight)
            relational.release_propagation()  # now held inside ``rel``: one copy, not two
        rel.div_(rel.norm(dim=1, keepdim=True).clamp_min(1e-12))
        device = rel.device
        present = [torch.ones(len(rel), dtype=torch.bool, device=device)]
        names, means = ["r"], [centre_unit_(rel, present[0], self.inputs.num_left)]
        if self._evidence is None:
            self._evidence = self._numbers_and_pictures()
        for name, mean, has in self._evidence:
            names.append(name)
            means.append(mean)
            present.append(has)
        return ModalMeans(tuple(names), tuple(means), torch.stack(present, 1))

    def _numbers_and_pictures(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """The numerical and visual means (centred, unit) and presence: training never changes them, so they are
        computed once, not after every step like the relational ones."""
        out = []
        device = self.inputs.train_pairs.device
        if self.use_numbers:
            inp = self.relational.inputs  # the numbers' correspondences, too, come from the encoders' seeds
            sketch = numeric_sketch(inp.num_entities, inp.num_entity, inp.num_attribute, inp.num_value,
                                    self.relational.pairs(), self.params.numeric(),
                                    torch.Generator().manual_seed(self.numeric_seed))
            out.append(("n", sketch.vectors.to(device), sketch.present.to(device)))
        if self.use_images:
            out.append(("v", *mean_image_features(self.inputs)))
        return [(name, centre_unit_(mean, has, self.inputs.num_left), has) for name, mean, has in out]

    def _apply(self, fn, recurse: bool = True):  # type: ignore[no-untyped-def]
        """Moving the model (``to`` / ``cuda``) drops every cached mean: they were computed on the old device."""
        self._drop_caches()
        return super()._apply(fn, recurse)

    @torch.no_grad()
    def fusion(self, rounds: int | None = None) -> FusionState:
        """The fitted variances and fused means (``rounds`` defaults to the option; 0 is the point version)."""
        rounds = self.params.variance_rounds if rounds is None else rounds
        key = f"fusion-{rounds}"
        if key in self._cache:
            return self._cache[key]  # type: ignore[return-value]
        p = self.params
        self._cache[key] = fit_variances(self.modal_means(), self.inputs.num_left, self.inputs.train_pairs,
                                         self.calibration_pairs, temperature=p.temperature, top_k=p.top_k,
                                         rounds=rounds, var_max=p.var_max,
                                         entity_reliability=p.entity_variances)
        return self._cache[key]  # type: ignore[return-value]

    def reweigh(self, **changes: object) -> None:
        """Change fusion options (``variance_rounds``, ``entity_variances``, ``temperature``...) of a trained model.

        They act after training only, so the benchmarks read the point version and the ablations off one trained
        model (``reweigh(variance_rounds=0)``): the rows then differ by the weighing alone.
        """
        self.params = replace(self.params, **changes)  # type: ignore[arg-type]
        for key in [k for k in self._cache if k.startswith("fusion-")]:
            del self._cache[key]

    # --- what evaluation and reports read -------------------------------------------------------
    def _sides(self, emb: torch.Tensor) -> tuple[Embeddings, Embeddings]:
        left, right = split_sides(emb, self.inputs.num_left)
        return Embeddings(left), Embeddings(right)

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        return self._sides(self.fusion().fused)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        """Each modality's means alone (zero rows where absent) and the point version's fused means."""
        modal = self.modal_means()
        out = {SPACE_NAMES[name]: self._sides(mean) for name, mean in zip(modal.names, modal.means, strict=True)}
        if self.params.variance_rounds > 0 and len(modal.names) > 1:
            # Not cached (the point version is cheap to recompute and as large as the model's own fused means).
            p = self.params
            point = fit_variances(modal, self.inputs.num_left, self.inputs.train_pairs, self.calibration_pairs,
                                  temperature=p.temperature, top_k=p.top_k, rounds=0, var_max=p.var_max)
            out["point"] = self._sides(point.fused)
        return out

    def variance_report(self) -> dict[str, np.ndarray]:
        """Per entity: each modality's variance (NaN where absent) and the common variance ``1 / sum pi``."""
        state = self.fusion()
        names = self.modal_means().names
        out = {"common": state.common_variance().cpu().numpy()}
        for m, name in enumerate(names):
            out[SPACE_NAMES[name]] = state.variances[:, m].cpu().numpy()
        return out
