"""Configuration dataclasses: the settings every model shares, with the paper's value as default.

Where the paper gives a value it is cited; where it is silent the default is ours and says so. Configs map
1:1 onto JSON (``to_dict`` / ``from_dict``) so a run directory records exactly what produced it. A model's own
settings are not fields here but ``model.options``, which that model parses into its own params dataclass
(:mod:`gaussea.models.options`; the paper model's: :mod:`gaussea.models.gaussian_params`). Run configs saved with
settings that have since moved or gone are read through :mod:`gaussea.config_migration`.

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
from gaussea.config_migration import check_no_retired_keys

T = TypeVar("T")

MODALITIES = ("r", "n", "v")
NEGATIVE_SAMPLINGS = ("uniform", "truncated")  # ModelConfig.negative_sampling
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
    evaluation functions call it too (they can be called without a config). ``iterations`` is a parameter of the
    evaluation functions only: a run uses Sinkhorn's fixed number of rounds
    (:data:`gaussea.evaluate.decoders.DEFAULT_SINKHORN_ITERATIONS`).
    """
    if decoder not in DECODERS:
        raise ValueError(f"eval.decoder must be one of {DECODERS}, got {decoder!r}")
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"eval.sinkhorn_tau must be a finite number > 0, got {tau!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"sinkhorn_iterations must be an integer >= 1, got {iterations!r}")


@dataclass
class ModelConfig:
    """What every model shares: dimension, modalities, negatives, the exchange strategy.

    A model's own settings are in ``options``, parsed and checked by that model (:mod:`gaussea.models.options`):
    the paper model's constants (variances, margin, ...) are :class:`gaussea.models.gaussian_params.GaussianCSLParams`,
    the numerical encoder's (``numeric_norm``, ``rbf_width``, ``cnn_channels``; the paper model's, MMEA's and
    IMUSE's) :class:`gaussea.models.encoder_params.NumericEncoderParams`. The std of the mean tables' initialisation
    is the constant :data:`gaussea.models.tables.MEAN_INIT_STD`.
    """

    dim: int = 100  # ours: the paper does not state d
    modalities: tuple[str, ...] = ("r", "n", "v")  # which of relational / numerical / visual to use
    # ours: corrupted triples per positive (half head, half tail). On dense FB15K*-DB15K more pay off (11.05 / 14.75 /
    # 17.79 % test H@1 with 5 / 10 / 25 at 30 + 10 epochs, bench/results/tuning/2026-11-24-s6); 5 stays the default
    # because each negative costs time and the sparser benchmarks were tuned with 5.
    negatives: int = 5
    # Which entity replaces the head or tail of a corrupted triple (the paper's D- is every filtered corruption;
    # how to sample it is left open). "uniform": any entity of the same graph. "truncated": one of the
    # (1 - truncated_epsilon) x |graph| entities whose relational means are most cosine-similar to the replaced
    # one, the list recomputed every truncated_every epochs (BootEA's truncated uniform sampling, an option of
    # OpenEA, which the paper used). A uniformly drawn corruption of a dense graph is mostly an easy negative
    # with zero hinge; a near neighbour is what the ranking has to tell apart. Measured: BENCHMARKS.md. Shared
    # (not the paper model's own) because the negative sampler is shared by every margin-loss model; a model that
    # does not implement "truncated" refuses it (``supports_truncated_negatives``).
    negative_sampling: str = "uniform"
    truncated_epsilon: float = 0.98
    truncated_every: int = 10
    exchange: bool = True  # paper §3.2.1: exchange strategy over training seed pairs
    options: dict = field(default_factory=dict)  # the run's model's own parameters, checked by that model

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "dim": at_least(1), "modalities": one_of(*MODALITIES, nonempty=True, distinct=True),
        "negatives": at_least(1), "negative_sampling": one_of(*NEGATIVE_SAMPLINGS),
        "truncated_epsilon": within(0, 1, high_open=True), "truncated_every": at_least(1),
    }

    def __post_init__(self) -> None:
        check_fields(self, "model", self.ALLOWED)


@dataclass
class TrainConfig:
    """How training runs: epochs per stage, batches, learning rate, checkpoints, stopping."""

    # Epochs of stage 1 (means only, variances fixed; paper §4.3: two-stage learning) and stage 2 (variances freed
    # and clamped to the model's range); one-stage models train for the sum. None: the model's own default
    # (``AlignmentModel.default_epochs``: 40 + 20 for the paper's model and the baselines, chosen on validation
    # links for the graph encoders), resolved when the run starts and saved resolved in config.json.
    stage1_epochs: int | None = None
    stage2_epochs: int | None = None
    lr: float = 0.01  # of the shared Adam (gaussea.training.optimisers: lazy on the common-space table)
    batch_size: int = 2048  # triples per step of the triple losses (rel, num)
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
        "stage2_epochs": at_least(0, "null: the model's default"), "lr": above(0), "batch_size": at_least(1),
        "seed": at_least(0), "device": ANY,  # the device is checked by name later
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
    # links (data.valid_ratio > 0) among SINKHORN_TAU_GRID by H@1 (ties: the lower), recorded in the metrics. Its
    # rounds of (rows; columns) normalisation are fixed (gaussea.evaluate.decoders.DEFAULT_SINKHORN_ITERATIONS).
    sinkhorn_tau: float | None = 0.02

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "similarity": one_of(*SIMILARITY_NAMES), "csls_k": at_least(1, "null, or --csls-k 0, turns CSLS off"),
        "modes": one_of(*CANDIDATE_MODES, nonempty=True, distinct=True),
        "ks": Allowed(low=1, nonempty=True, distinct=True), "chunk_size": at_least(1, "null: automatic"),
        "decoder": one_of(*DECODERS), "sinkhorn_tau": above(0, "null: chosen on the validation links"),
    }

    def __post_init__(self) -> None:
        check_fields(self, "eval", self.ALLOWED)


@dataclass
class DataConfig:
    """Which data and split a run uses."""

    dataset: str = "synthetic"
    data_dir: str | None = None
    ratio: float = 0.2  # share of links used for training (paper: 20 / 50 / 80 %)
    split: int = 0  # index of the random split (the paper averages 5; each index draws another split)
    valid_ratio: float = 0.0  # share of all links carved out of the non-train links for validation
    given_split: str | None = None  # use a split shipped with the dataset (e.g. "split_721_ExEA")
    split_dir: str | None = None  # load a split folder instead of making one
    strict: bool = False
    options: dict = field(default_factory=dict)  # loader options (e.g. synthetic generator knobs)
    # Planted modality noise on the loaded pair (ours; gaussea.data.corrupt): {"numeric": share, "image": share,
    # "side": "left" | "right" | "both" (default), "seed": int (default 0)}; shares in [0, 1) of the entities
    # that have the modality. Empty: off. Checked by CorruptionSpec.from_setting when the run loads its data.
    corrupt: dict = field(default_factory=dict)

    ALLOWED: ClassVar[Mapping[str, Allowed]] = {
        "dataset": ANY, "data_dir": ANY, "given_split": ANY, "split_dir": ANY,  # checked by the dataset registry
        "ratio": within(0, 1, low_open=True, high_open=True), "split": at_least(0),
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
        (``{"dim": 50}`` instead of ``{"model": {"dim": 50}}``), a section that is not a table, and a key that
        moved or was removed (naming where it went; a saved run's config is migrated first:
        :func:`gaussea.config_migration.read_saved_config`).
        """
        if not isinstance(d, dict):
            raise ValueError(f"a config must be a table of sections, got {show(d)}")
        check_no_retired_keys(d)
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
