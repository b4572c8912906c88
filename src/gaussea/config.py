"""Configuration dataclasses: every constant of the method, with the paper's value as default.

Where the paper gives a value it is cited; where it is silent the default is ours and says so. Configs map
1:1 onto JSON (``to_dict`` / ``from_dict``) so a run directory records exactly what produced it.

Every field is checked when a config is built (:mod:`gaussea.config_fields`): its type from the annotation, its
allowed values from the ``ALLOWED`` table of its class, so a bad value is one line naming the field before any
data is loaded or anything written.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from gaussea.config_fields import ANY, Allowed, above, at_least, check_fields, one_of, show, within

T = TypeVar("T")

MODALITIES = ("r", "n", "v")
NUMERIC_NORMS = ("zscore", "minmax", "quantile")
MODAL_MEANS = ("free", "encoder")  # ModelConfig.modal_means
MODAL_VARIANCE_UPDATES = ("gradient", "closed_form")  # ModelConfig.modal_variance_update
NEGATIVE_SAMPLINGS = ("uniform", "truncated")  # ModelConfig.negative_sampling
OPTIMISERS = ("adam", "lazy_adam", "lazy_common")
STAGE2_CSL_STEPS = ("match_rel", "batch")  # TrainConfig.stage2_csl_steps
AC_STEPS = ("match_rel", "all_pairs", "one_pass")  # TrainConfig.ac_steps
# Names owned by other modules, repeated here so that checking a config imports nothing heavy; a test keeps them
# equal to gaussea.evaluate.SIMILARITIES / CANDIDATE_MODES and gaussea.loggers.LOGGER_NAMES.
SIMILARITY_NAMES = ("cosine", "neg_sym_kl", "expected_likelihood")
CANDIDATE_MODES = ("test", "all")
LOGGER_NAMES = ("csv", "tensorboard", "mlflow")
DECODERS = ("csls", "sinkhorn", "hungarian")  # EvalConfig.decoder (gaussea.evaluate.decoders)
SINKHORN_TAU_GRID = (0.01, 0.02, 0.05, 0.1)  # EvalConfig.sinkhorn_tau = null: the temperatures tried on validation


def check_decoder(decoder: str, tau: float, iterations: int) -> None:
    """ValueError naming the setting when a decoder name or its Sinkhorn parameters are not usable.

    Here rather than in :mod:`gaussea.evaluate.decoders` so that building a config stays free of torch; the
    evaluation functions call it too (they can be called without a config).
    """
    if decoder not in DECODERS:
        raise ValueError(f"eval.decoder must be one of {DECODERS}, got {decoder!r}")
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"eval.sinkhorn_tau must be a finite number > 0, got {tau!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"eval.sinkhorn_iterations must be an integer >= 1, got {iterations!r}")


@dataclass
class ModelConfig:
    """Hyper-parameters of the Gaussian common-space model (paper §3, DESIGN.md §1)."""

    dim: int = 100  # ours: the paper does not state d
    modalities: tuple[str, ...] = ("r", "n", "v")  # which of relational / numerical / visual to use
    var_init: float = 0.5  # paper §4.3: every variance starts at 0.5
    var_min: float = 0.5  # paper §4.3: C_min
    var_max: float = 50.0  # paper §4.3: C_max
    image_var: float = 0.5  # paper §3.2.2: Sigma_i fixed at 0.5
    numeric_var: float = 0.5  # paper §3.2.3: Sigma_n fixed at 0.5
    margin: float = 1.0  # ours: gamma of L_rel is not given in the paper
    # ours: corrupted triples per positive (half head, half tail). On dense FB15K*-DB15K more pay off (11.05 / 14.75 /
    # 17.79 % test H@1 with 5 / 10 / 25 at 30 + 10 epochs, bench/results/tuning/2026-11-24-s6); 5 stays the default
    # because each negative costs time and the sparser benchmarks were tuned with 5.
    negatives: int = 5
    # Which entity replaces the head or tail of a corrupted triple (the paper's D- is every filtered corruption;
    # how to sample it is left open). "uniform": any entity of the same graph. "truncated": one of the
    # (1 - truncated_epsilon) x |graph| entities whose relational means are most cosine-similar to the replaced
    # one, the list recomputed every truncated_every epochs (BootEA's truncated uniform sampling, an option of
    # OpenEA, which the paper used). A uniformly drawn corruption of a dense graph is mostly an easy negative
    # with zero hinge; a near neighbour is what the ranking has to tell apart. Measured: BENCHMARKS.md.
    negative_sampling: str = "uniform"
    truncated_epsilon: float = 0.98
    truncated_every: int = 10
    exchange: bool = True  # paper §3.2.1: exchange strategy over training seed pairs
    # KG2E constrains relational entity means to ||mu|| <= 1. We read them through an L2 normalisation instead
    # (||mu|| = 1, as OpenEA/MMEA's ent_l2_norm): measured on synthetic data it aligns far better than the
    # ball projection. unit_means=False falls back to projecting onto the ball of radius max_norm.
    unit_means: bool = True
    max_norm: float | None = 1.0
    # Visual and numerical entity means as free vectors (the paper: they follow tanh encodings, coordinates up to
    # 1). True reads them through an L2 normalisation like the relational ones. True was the default while the
    # numerical encoder was dead (ReLU) and the common table used dense Adam: then unconstrained modal means set
    # the common mean's direction (FB15K*-DB15K R+N common H@1 0.001 at 5 epochs, bench/results/tuning/2026-11-24).
    # With tanh convolutions and the lazy common-table Adam, False is better everywhere measured:
    # FB15K*-DB15K R+N 30+10 epochs test H@1 8.91 % vs 5.21 % (numerical space 6.1 % vs 4.4 %,
    # bench/results/model/fbdb-rn/gaussian-b5000-30-10*.json); synthetic default 6.68 % vs 4.88 %
    # (bench/results/model/synthetic-variance/gaussian-two-stage-{modal-tanh-scale,s3}.json).
    unit_modal_means: bool = False
    # What an entity's visual / numerical Gaussian mean is (ours; the paper leaves it open). "free": a per-entity
    # parameter pulled towards its rows' encodings by L_vis / L_num (the paper's losses read literally). "encoder":
    # the average of the encodings of the entity's pictures / numerical triples themselves (tanh(M1 i), the
    # numerical CNN), so only the modal variance is per-entity; L_vis / L_num are then dropped (they would only
    # pull an entity's encodings together, which a constant encoder satisfies) and L_csl trains the encoders.
    # Why offer it: a free mean settles between its encoding and the common mean (synthetic, identifying
    # pictures: encoder output 30 % test H@1, free visual means 8-11 %, bench/results/tuning/2026-11-24-s6), so
    # the gap the variance measures is not how far the evidence itself is from the common space. Measured
    # (BENCHMARKS.md): synthetic default, 3 splits, 8.91 % test H@1 for ours and for MMEA (free: 6.57 /
    # 7.37 %); FB15K*-DB15K R+N 10.83 % (free 11.05 %): with no pictures, the numerical encoder learns nothing
    # from L_csl alone (numerical space 0.3 % H@1). So "free" stays the default.
    modal_means: str = "free"
    # How L_csl weighs the spaces (ours; the paper sums the KL terms with weight 1 and says nothing of scale).
    # The common mean minimising L_csl is the precision-weighted average of the modal means, so a space whose
    # means are short counts for little: on FB15K*-DB15K R+N the relational means are unit vectors and the free
    # numerical means have norm 0.47 on average, the common means follow the relational ones (cosine 0.975), and
    # ranking by relational + 0.5 x numerical cosine beats the common space by 1.2-1.8 points on every run probed
    # (bench/results/tuning/2026-11-24-s9/space_fusion.json). csl_unit_modal_means reads the visual / numerical
    # means through an L2 normalisation inside L_csl only (L_vis / L_num still see them as they are, unlike
    # unit_modal_means, which collapsed the numerical space: 16.24 %); csl_weights scales each
    # modality's KL term (keys r / v / n; a missing key is weight 1). Measured (BENCHMARKS.md): both
    # hurt there — 23.49 % (unit means in L_csl) and 23.17 % (and weight n 0.5) against 24.02 %: the heavier
    # numerical pull moves the relational means off their own optimum. Kept as options, off by default.
    csl_unit_modal_means: bool = False
    csl_weights: dict = field(default_factory=lambda: {"r": 1.0, "v": 1.0, "n": 1.0})
    # How stage 2 learns the visual / numerical variances (ours; the paper does not say). "gradient": Adam, like
    # every other parameter. "closed_form": before each L_csl step, each batch entity's modal variance is set to
    # L_csl's exact minimiser over it, s_e^m = s_e + (mu_e^m - mu_e)^2 per dimension, clamped to
    # [var_min, var_max] (L_vis / L_num's own pull on the variance is then not used). Why: Adam normalises each
    # coordinate's step, so from the floor every variance climbs at the same rate and stops where momentum left
    # it, whatever its evidence — measured on synthetic data (floor 1e-4): learned visual variances 0.0509 /
    # 0.0511 for true / swapped pictures while their minimisers were 0.0107 / 0.0134 (ratio 1.26).
    modal_variance_update: str = "gradient"
    numeric_norm: str = "zscore"  # paper: "normalised by attribute name"; zscore | minmax | quantile (ours)
    rbf_width: float = 0.25  # ours: sigma of the RBF kernels, in normalised units
    cnn_channels: int = 8  # ours: channels of the small numerical CNN
    # Corrupted (entity, attribute, value) triples per numerical triple (ours; the paper's L_num has none, and
    # MMEA's code has the option but runs with 0). Each negative puts an entity of the same graph with numbers
    # in place of the owner and adds softplus(f_num(neg)) to the loss, the logistic loss of OpenEA/MMEA.
    # Without negatives nothing in L_num keeps two entities' numerical means apart.
    numeric_negatives: int = 0
    standardise_images: bool = True  # ours: z-score image features per column before M1
    symmetric_ac: bool = False  # L_ac as KL(e1||e2) (paper) or KL(e1||e2)+KL(e2||e1)
    # Stage 2 frees every variance, the common-space ones included (the paper). Freed, L_ac ratchets them up to
    # C_max: KL(N1||N2) is minimised over s2 at s1 + gap^2 and over s1 at s2, and all losses rise in stage 2
    # (measured: FB15K*-DB15K L_num 1.2 -> 80). False keeps them at var_init: stable losses on synthetic data,
    # but on FB15K*-DB15K test H@1 fell from 2.7 % to 0.1 % (BENCHMARKS.md), so the paper's choice stays default.
    free_common_variance: bool = True
    # Stage 2 frees the relational (KG2E) entity and relation variances too (the paper). False keeps them at
    # var_init, so only the common, visual and numerical variances learn (ours; measured below).
    free_relational_variance: bool = True
    init_std: float = 0.1  # ours: std of the normal init of mean vectors
    # Common-space means start at 0 (ours): L_csl then moves each one straight towards (a variance-weighted
    # average of) its modal means, with no random start left over (with the modal init, std 0.1, that start has
    # norm ~1 in d = 100, as large as the signal). Measured with D-Y-15K-V1 common test H@1 at 10 epochs 0.115
    # (zero) vs 0.109 (random), bench/results/tuning/2026-11-24/dy_gauss_zeroinit.txt / dy_gauss_ebs4096.txt.
    common_init_std: float = 0.0
    options: dict = field(default_factory=dict)  # model-specific parameters (baselines), checked by each model

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "dim": at_least(1), "modalities": one_of(*MODALITIES, nonempty=True, distinct=True),
        "var_init": above(0), "var_min": above(0), "var_max": above(0), "image_var": above(0),
        "numeric_var": above(0), "margin": at_least(0), "negatives": at_least(1),
        "negative_sampling": one_of(*NEGATIVE_SAMPLINGS), "truncated_epsilon": within(0, 1, high_open=True),
        "truncated_every": at_least(1), "max_norm": above(0, "null: no bound on the relational means"),
        "modal_means": one_of(*MODAL_MEANS), "modal_variance_update": one_of(*MODAL_VARIANCE_UPDATES),
        "numeric_norm": one_of(*NUMERIC_NORMS), "rbf_width": above(0), "cnn_channels": at_least(1),
        "numeric_negatives": at_least(0), "init_std": at_least(0), "common_init_std": at_least(0),
    }

    def __post_init__(self) -> None:
        check_fields(self, "model", self.ALLOWED)
        if not self.var_min <= self.var_init <= self.var_max:
            raise ValueError(f"model.var_min={show(self.var_min)}, model.var_init={show(self.var_init)}, "
                             f"model.var_max={show(self.var_max)}: need var_min <= var_init <= var_max")
        bad_weights = {k: w for k, w in self.csl_weights.items()
                       if k not in MODALITIES or not isinstance(w, (int, float)) or isinstance(w, bool)
                       or not math.isfinite(w) or w < 0}
        if bad_weights:
            raise ValueError(f"model.csl_weights={show(self.csl_weights)}: must map modalities {show(MODALITIES)} "
                             f"to weights >= 0 (bad: {show(bad_weights)})")


@dataclass
class TrainConfig:
    """How training runs: epochs per stage, batches, learning rate, checkpoints, stopping."""

    # Epochs of stage 1 (means only, variances fixed; paper §4.3: two-stage learning) and stage 2 (variances freed
    # and clamped to [var_min, var_max]); one-stage models train for the sum. None: the model's own default
    # (``AlignmentModel.default_epochs``: 40 + 20 for the paper's model and the baselines, chosen on validation
    # links for the graph encoders), resolved when the run starts and saved resolved in config.json.
    stage1_epochs: int | None = None
    stage2_epochs: int | None = None
    lr: float = 0.01
    # Learning-rate factor of the variance parameters (ours). x10 (the first choice: variances live on [0.5, 50])
    # made stage 2 chaotic: on D-Y-15K-V1 L_csl jumped from 0.17 to 23 and L_rel from 0.005 to 0.4 once the
    # variances were freed (test H@1 23.1 %); with x1 L_csl settles at 1.0 and test H@1 is 24.2 %
    # (bench/results/model/d_y_15k_v1/gaussian*.json); on FB15K*-DB15K x10 sent L_num from 0.7 to 112.
    var_lr_mult: float = 1.0
    common_lr_mult: float = 1.0  # learning-rate factor of the common-space table (means and variances)
    # One Adam shared by all losses (default) keeps the relative size of different losses' gradients: with an
    # Adam per loss (MMEA's TensorFlow code), each loss moves a shared parameter by ~lr per step whatever its
    # gradient, so L_vis pulling a visual variance down and L_csl pushing it up cancel step for step and the
    # variances never reflect how far a modality sits from the common embedding.
    optimiser_per_loss: bool = False
    # How table rows are updated (gaussea.optim). "adam": torch's dense Adam — every row drifts with its stale
    # momentum at every step of every loss, which kept the seed pairs' common means ~1.1 apart (L_ac rising,
    # common train H@1 0.58 on FB15K*-DB15K). "lazy_adam": every table lazy (rows move only in steps that give
    # them a gradient). "lazy_common" (default): the common-space table lazy, the modal tables dense. Measured
    # (bench/results/tuning/2026-11-24-s3, bench/results/model/d_y_15k_v1/gaussian-lazy_*.json): D-Y-15K-V1
    # 20+5 epochs test H@1 adam 24.15 / lazy_adam 19.91 / lazy_common 25.22 %; FB15K*-DB15K relational only,
    # common test H@1 after 30 stage-1 epochs adam 5.0 / lazy_adam 7.9 / lazy_common 8.9 %.
    optimiser: str = "lazy_common"
    batch_size: int = 2048  # triples per step of the triple losses (rel, num)
    # Entities per step of L_csl. With one shared Adam every step moves a parameter by about lr whatever the
    # gradient's size, so the number of steps a loss takes per epoch is its weight. Measured on D-Y-15K-V1
    # (bench/results/tuning/2026-11-24, relational test H@1 at 10 epochs): 256 per step (117 csl steps against
    # 28 relational ones) pinned each entity's relational mean to its common mean, 0.02; as many steps as the
    # relational loss, 0.055; 4096 per step (8 steps), 0.125 — as good as not letting L_csl move the relational
    # means at all (0.141). L_vis instead takes as many steps as L_rel (the image encoder needs the steps).
    entity_batch_size: int = 4096
    # Stage 2 learns the variances: a modal variance is pushed up by L_csl (by the squared gap between the
    # common and the modal mean) and pulled back to 0.5 by its own modality's loss, and with one shared Adam
    # the balance is decided by step counts. "match_rel" (default) gives L_csl as many steps as L_rel and L_vis
    # in stage 2, so gradient sizes decide; "batch" keeps entity_batch_size (on the synthetic benchmark its
    # variances then stayed at 0.5; that run was not kept, see bench/results/tuning/2026-11-24/README.md).
    stage2_csl_steps: str = "match_rel"
    # MMEA's schedule: the alignment loss takes as many (smaller) steps per epoch as the relational loss,
    # each on a random sample of len(train links) / steps pairs. "one_pass" instead makes one shuffled pass.
    ac_steps: str = "match_rel"
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None  # torch intra-op threads; None leaves torch's default
    checkpoint_every: int = 5  # epochs between checkpoints (0: only at the end)
    eval_every: int = 0  # epochs between validation evaluations (0: never during training)
    patience: int = 0  # early-stopping patience in evaluations on the VALID slice (0: off)
    progress: bool = True
    max_seconds: float | None = None  # wall-clock training budget; training stops after the epoch that hits it
    loggers: tuple[str, ...] = ("csv",)  # per-epoch metric loggers: csv (RUN_DIR/train_log.csv), tensorboard, mlflow
    # Iterative bootstrapping (every output of such a run is labelled iterative): after the epochs above, this many
    # rounds of adding the model's mutual-best pairs (CSLS k = 10) among the entities no known pair covers to its
    # training pairs, each followed by iterative_epochs more epochs. Models with ``supports_bootstrapping`` only.
    iterative_rounds: int = 0
    iterative_epochs: int = 5

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "stage1_epochs": at_least(0, "null: the model's default"),
        "stage2_epochs": at_least(0, "null: the model's default"), "lr": above(0), "var_lr_mult": at_least(0),
        "common_lr_mult": at_least(0), "optimiser": one_of(*OPTIMISERS), "batch_size": at_least(1),
        "entity_batch_size": at_least(1), "stage2_csl_steps": one_of(*STAGE2_CSL_STEPS),
        "ac_steps": one_of(*AC_STEPS), "seed": at_least(0), "device": ANY,  # the device is checked by name later
        "threads": at_least(1, "null: torch's default"), "checkpoint_every": at_least(0), "eval_every": at_least(0),
        "patience": at_least(0), "max_seconds": above(0, "null: no time budget"),
        "loggers": one_of(*LOGGER_NAMES), "iterative_rounds": at_least(0), "iterative_epochs": at_least(1),
    }

    def __post_init__(self) -> None:
        check_fields(self, "train", self.ALLOWED)


@dataclass
class EvalConfig:
    """How alignment is scored: similarity on common-space means, CSLS, candidate pool."""

    similarity: str = "cosine"  # cosine | neg_sym_kl | expected_likelihood
    csls_k: int | None = 10  # paper §4.3: CSLS; None disables it
    modes: tuple[str, ...] = ("test", "all")  # candidate pools reported
    ks: tuple[int, ...] = (1, 5, 10)
    chunk_size: int | None = None
    # How the test metrics decode the similarities (gaussea.evaluate.decoders): "csls" ranks each query on its own
    # (CSLS with csls_k, else the plain similarity); "sinkhorn" and "hungarian" decode all queries jointly under a
    # one-to-one assumption (transductive, labelled; Hungarian reports Hits@1 only). Validation always uses csls.
    decoder: str = "csls"
    # Sinkhorn's temperature: ours (DESIGN.md §5), about 0.02 for cosine; null: chosen on the run's validation
    # links (data.valid_ratio > 0) among SINKHORN_TAU_GRID by H@1 (ties: the lower), recorded in the metrics.
    sinkhorn_tau: float | None = 0.02
    sinkhorn_iterations: int = 15  # ours: rounds of (rows; columns) normalisation

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "similarity": one_of(*SIMILARITY_NAMES), "csls_k": at_least(1, "null, or --csls-k 0, turns CSLS off"),
        "modes": one_of(*CANDIDATE_MODES, nonempty=True, distinct=True),
        "ks": Allowed(low=1, nonempty=True, distinct=True), "chunk_size": at_least(1, "null: automatic"),
        "decoder": one_of(*DECODERS), "sinkhorn_tau": above(0, "null: chosen on the validation links"),
        "sinkhorn_iterations": at_least(1),
    }

    def __post_init__(self) -> None:
        check_fields(self, "eval", self.ALLOWED)


@dataclass
class DataConfig:
    """Which data and split a run uses."""

    dataset: str = "synthetic"
    data_dir: str | None = None
    ratio: float = 0.2  # share of links used for training (paper: 20 / 50 / 80 %)
    split: int = 0  # index of the random split (the paper averages 5)
    split_seed: int = 0
    valid_ratio: float = 0.0  # share of all links carved out of the non-train links for validation
    given_split: str | None = None  # use a split shipped with the dataset (e.g. "split_721_ExEA")
    split_dir: str | None = None  # load a split folder instead of making one
    strict: bool = False
    options: dict = field(default_factory=dict)  # loader options (e.g. synthetic generator knobs)
    # Planted modality noise on the loaded pair (ours; gaussea.data.corrupt): {"numeric": share, "image": share,
    # "side": "left" | "right" | "both" (default), "seed": int (default split_seed)}; shares in [0, 1) of the entities
    # that have the modality. Empty: off. Checked by CorruptionSpec.from_setting when the run loads its data.
    corrupt: dict = field(default_factory=dict)

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "dataset": ANY, "data_dir": ANY, "given_split": ANY, "split_dir": ANY,  # checked by the dataset registry
        "ratio": within(0, 1, low_open=True, high_open=True), "split": at_least(0), "split_seed": at_least(0),
        "valid_ratio": within(0, 1, high_open=True),
    }

    def __post_init__(self) -> None:
        check_fields(self, "data", self.ALLOWED)
        if self.ratio + self.valid_ratio >= 1:
            raise ValueError(f"data.ratio={show(self.ratio)}, data.valid_ratio={show(self.valid_ratio)}: "
                             "ratio + valid_ratio must be < 1 (the rest are the test links)")


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # A name of gaussea.models.model_builders (checked by the runner: needs torch). The default is the strongest
    # model; the paper's own is "gaussian" (``--preset paper`` sets it with the paper's settings).
    model_name: str = "gaussian_fusion"

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {"model_name": ANY}

    def __post_init__(self) -> None:
        check_fields(self, "", self.ALLOWED)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """The config of a dict shaped like :meth:`to_dict`; missing keys take their defaults.

        Refuses what would otherwise be silently ignored: a key that is neither a section nor ``model_name``
        (``{"dim": 50}`` instead of ``{"model": {"dim": 50}}``) and a section that is not a table.
        """
        if not isinstance(d, dict):
            raise ValueError(f"a config must be a table of sections, got {show(d)}")
        sections = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}
        unknown = sorted(set(d) - {*sections, "model_name"})
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}: a config holds the sections {list(sections)} and "
                             f"model_name (an option belongs to its section, e.g. model.dim)")
        built: dict[str, Any] = {}
        for name, section_cls in sections.items():
            values = d.get(name, {})
            if not isinstance(values, dict):
                raise ValueError(f"{name}={show(values)}: must be a table of {name} options")
            built[name] = dataclass_from_dict(section_cls, values)
        return cls(**built, model_name=d.get("model_name", cls.model_name))


def dataclass_from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Build ``cls`` from ``d``, refusing unknown keys with a message listing the valid ones."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} option(s) {unknown}; valid: {sorted(names)}")
    return cls(**d)
