"""The experiment grid behind ``gaussea reproduce``: which runs a table needs and the configuration of each.

A table is a *target* (:data:`TARGETS`): models x datasets x training shares x splits. Every cell is a
:class:`RunSpec` with its own run directory ``<root>/<dataset>/<model>/r<ratio>/s<split>/``; the layout does not
depend on the table, so tables pointed at one results root share their common cells (Table 2's 20 % runs are
Table 1's).

Each run's configuration (:func:`run_config`) is the dataset's preset (``gaussea presets``; ``paper`` for datasets
without one, or ``--preset`` for every dataset), then the cell (dataset, model, share, split), then the budget, then
``--set`` overrides. Two budgets exist (:class:`Budget`):

- ``fixed``: the same number of epochs for every model (the tables' first form);
- ``valid`` ("at strength"): at most ``max_epochs``, validation MRR every ``eval_every`` epochs on a slice carved
  from the non-train links (``valid_ratio`` of all links; a dataset's shipped split keeps its own valid links),
  stopping after ``patience`` evaluations without improvement. Every model thus trains as long as *its*
  validation score rises, and test links are read only once training is over.

Two-stage models split the epochs in their dataset preset's proportion (30 + 10 on FB15K*-DB15K, 40 + 20 in the
paper); under early stopping, patience running out in stage 1 ends stage 1 early and stage 2 starts
(:mod:`gaussea.training.early_stopping`), and the table counts the runs scored on stage-1 weights. Training-free models
(:data:`TRAINING_FREE`) get no epochs at all. A dataset whose preset names a shipped split (D-Y-15K-V1) has that
one split only: random split indices would all name the same split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaussea.published_settings import HYPER_MODES, published_assignments

TABLE1_MODELS = ("mtranse", "iptranse", "transe", "sea", "gcn_align", "imuse", "propagation", "mmea", "gaussian",
                 "gaussian_fusion")
TABLE2_MODELS = ("propagation", "mmea", "gaussian", "gaussian_fusion")  # propagation: the training-free yardstick
RELATIONAL_MODELS = ("mtranse", "iptranse", "transe", "sea", "gcn_align", "propagation", "gaussian",
                     "gaussian_fusion")
MMKG_DATASETS = ("fb15k-db15k", "fb15k-yago15k")
RELATIONAL_DATASETS = ("dbp15k-zh_en", "dbp15k-ja_en", "dbp15k-fr_en", "d_y_15k_v1")
DEFAULT_SPLITS = 5  # the paper averages 5 random splits
DEFAULT_EPOCHS = 60  # TrainConfig's default budget (40 + 20)
DEFAULT_MAX_EPOCHS = 300  # budget "valid": the most any model may train; validation decides the rest
DEFAULT_EVAL_EVERY = 5
DEFAULT_PATIENCE = 3
DEFAULT_VALID_RATIO = 0.1
BUDGET_MODES = ("fixed", "valid")
# Models that learn nothing by gradient steps: their embedding is computed once, so epochs would only re-evaluate.
TRAINING_FREE = frozenset({"propagation"})
# Models that draw no negatives from the shared sampler (model.negative_sampling is not theirs to read).
NO_SHARED_NEGATIVES = frozenset({"propagation", "gaussian_fusion", "graph_encoder"})
# The paper's "Modal" column: which modalities each model is given (intersected with the preset's).
MODAL_GROUP = {"mtranse": "R", "iptranse": "R", "transe": "R", "sea": "R", "gcn_align": "R+N", "imuse": "R+N",
               "propagation": "R", "mmea": "R+N+V", "gaussian": "R+N+V", "gaussian_fusion": "R+N+V"}
GROUP_MODALITIES = {"R": ["r"], "R+N": ["r", "n"], "R+N+V": ["r", "n", "v"]}


@dataclass(frozen=True)
class Target:
    """One table: its models, datasets and training shares (``None``: each dataset preset's share)."""

    title: str
    models: tuple[str, ...]
    datasets: tuple[str, ...]
    ratios: tuple[float, ...] | None


TARGETS = {
    "table1": Target("Table 1 — every model", TABLE1_MODELS, MMKG_DATASETS, (0.2,)),
    "table2": Target("Table 2 — by share of training links", TABLE2_MODELS, MMKG_DATASETS, (0.2, 0.5, 0.8)),
    "relational": Target("Relational table — relations only, published peers beside", RELATIONAL_MODELS,
                         RELATIONAL_DATASETS, None),
}


@dataclass(frozen=True)
class RunSpec:
    """One cell of the experiment grid."""

    dataset: str
    model: str
    ratio: float
    split: int

    def run_dir(self, root: Path) -> Path:
        return root / self.dataset / self.model / f"r{self.ratio:g}" / f"s{self.split}"

    def label(self) -> str:
        return f"{self.dataset} {self.model} r{self.ratio:g} s{self.split}"


@dataclass(frozen=True)
class Budget:
    """How long every run trains: the same rule for every model.

    ``epochs`` is the fixed count (``mode == "fixed"``) or the most a run may train (``mode == "valid"``).
    ``stage_shares`` maps each dataset to stage 2's share of the epochs in its base preset
    (``stage2_epochs / (stage1_epochs + stage2_epochs)``), so that a total equal to the preset's reproduces it.
    """

    epochs: int
    max_seconds: float | None = None
    stage_shares: tuple[tuple[str, float], ...] = ()
    preset: str | None = None  # ``--preset``: named in the description instead of "the dataset preset"
    mode: str = "fixed"
    eval_every: int = DEFAULT_EVAL_EVERY
    patience: int = DEFAULT_PATIENCE
    valid_ratio: float | None = None  # None: the preset's (0 in the paper's)
    hyper: str = "preset"  # "published": each baseline's published values on top (gaussea.published_settings)

    def __post_init__(self) -> None:
        if self.mode not in BUDGET_MODES:
            raise ValueError(f"--budget must be one of {BUDGET_MODES}, got {self.mode!r}")
        if self.hyper not in HYPER_MODES:
            raise ValueError(f"--hyper must be one of {HYPER_MODES}, got {self.hyper!r}")
        if self.epochs < 1:
            raise ValueError("--epochs / --max-epochs must be >= 1")
        if self.mode == "valid" and (self.eval_every < 1 or self.patience < 1):
            raise ValueError("--budget valid needs --eval-every >= 1 and --patience >= 1")
        if self.mode == "valid" and not self.valid_ratio:
            raise ValueError("--budget valid needs --valid-ratio > 0 (the links early stopping reads)")

    def share(self, dataset: str) -> float:
        return dict(self.stage_shares).get(dataset, 1 / 3)

    def stages(self, dataset: str) -> tuple[int, int]:
        stage2 = round(self.epochs * self.share(dataset))
        return self.epochs - stage2, stage2

    def describe(self) -> str:
        """One sentence for the table's footer."""
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        source = f"the {self.preset} preset's" if self.preset else "the dataset preset's"
        by_split: dict[tuple[int, int], list[str]] = {}
        for dataset, _ in self.stage_shares:
            by_split.setdefault(self.stages(dataset), []).append(dataset)
        if len(by_split) <= 1:
            stages = "{} + {}".format(*next(iter(by_split), self.stages("")))
        else:
            stages = ", ".join(f"{a} + {b} ({', '.join(ds)})" for (a, b), ds in by_split.items())
        if self.mode == "fixed":
            text = (f"{epochs} per run for every model (two-stage models: {stages}, {source} proportion; one-stage "
                    f"models train all {self.epochs} in their only stage)")
        else:
            text = (f"chosen on validation for every model: at most {epochs} (two-stage models: {stages}, {source} "
                    f"proportion), validation MRR every {self.eval_every} epochs on {self.valid_ratio:.0%} of the "
                    f"links carved from the non-train links (a shipped split: its own valid links), stopped after "
                    f"{self.patience} evaluations without improvement, and the best validated epoch's weights "
                    "scored (also when a run reaches the most epochs)")
        if self.hyper == "published":
            text += ", each baseline with its published hyper-parameters"
        if self.max_seconds is not None:
            text += f", wall-clock cap {self.max_seconds:g} s of training per run (checked after each epoch)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "epochs": self.epochs, "max_seconds": self.max_seconds,
                "stages": {d: list(self.stages(d)) for d, _ in self.stage_shares},
                **({"eval_every": self.eval_every, "patience": self.patience, "valid_ratio": self.valid_ratio}
                   if self.mode == "valid" else {}),
                **({"hyper": self.hyper} if self.hyper != "preset" else {})}


def plan(datasets: Sequence[str], models: Sequence[str], ratios: Sequence[float] | None, splits: int,
         preset: str | None = None) -> list[RunSpec]:
    """Every cell, dataset by dataset; ``ratios`` None takes each dataset preset's share, and a dataset whose
    preset names a shipped split gets split 0 only (that split)."""
    out = []
    for dataset in datasets:
        data = base_config(dataset, preset)["data"]
        shares = ratios if ratios is not None else [data["ratio"]]
        indices = range(1) if data.get("given_split") else range(splits)
        out += [RunSpec(dataset, m, r, s) for r in shares for m in models for s in indices]
    return out


def base_preset(dataset: str, presets: Sequence[str]) -> str:
    """The dataset's preset (``dbp15k-zh_en`` falls back to ``dbp15k``), else the paper's settings."""
    for name in (dataset, dataset.split("-")[0]):
        if name in presets:
            return name
    return "paper"


def base_config(dataset: str, preset: str | None = None) -> dict[str, Any]:
    """The config dict a dataset's runs start from: ``preset`` when given, else the dataset's own preset."""
    from gaussea.config import RunConfig
    from gaussea.presets import apply_preset, preset_names

    return apply_preset(RunConfig().to_dict(), preset or base_preset(dataset, preset_names()))


def stage2_share(dataset: str, preset: str | None = None) -> float:
    """Stage 2's share of the epochs in the dataset's base preset."""
    train = base_config(dataset, preset)["train"]
    return train["stage2_epochs"] / max(1, train["stage1_epochs"] + train["stage2_epochs"])


def stage_shares(datasets: Sequence[str], preset: str | None = None) -> tuple[tuple[str, float], ...]:
    return tuple((d, stage2_share(d, preset)) for d in dict.fromkeys(datasets))


def run_config(spec: RunSpec, budget: Budget, data_dir: str | None, overrides: Sequence[str],
               threads: int | None, preset: str | None = None) -> Any:
    """The resolved RunConfig of one run: preset, then the grid cell, the budget and ``--set`` overrides."""
    from gaussea.cli import apply_overrides
    from gaussea.config import RunConfig

    base = base_config(spec.dataset, preset)
    base["data"].update(dataset=spec.dataset, data_dir=data_dir, ratio=spec.ratio, split=spec.split)
    base["model_name"] = spec.model
    group = MODAL_GROUP.get(spec.model)
    if group:
        preset_modalities = base["model"].get("modalities") or GROUP_MODALITIES["R+N+V"]
        base["model"]["modalities"] = [m for m in GROUP_MODALITIES[group] if m in preset_modalities] or ["r"]
    s1, s2 = (0, 0) if spec.model in TRAINING_FREE else budget.stages(spec.dataset)
    base["train"].update(stage1_epochs=s1, stage2_epochs=s2, max_seconds=budget.max_seconds, progress=False)
    if budget.valid_ratio is not None:
        base["data"]["valid_ratio"] = budget.valid_ratio
    if budget.mode == "valid":
        base["train"].update(eval_every=budget.eval_every, patience=budget.patience)
    if threads:
        base["train"]["threads"] = threads
    if not _draws_sampler(spec.model, base["model"]["negative_sampling"]):
        base["model"]["negative_sampling"] = "uniform"
    if budget.hyper == "published":
        apply_overrides(base, published_assignments(spec.model))
    apply_overrides(base, list(overrides))
    return RunConfig.from_dict(base)


def _draws_sampler(model: str, sampling: str) -> bool:
    """Whether ``model`` implements the preset's negative sampler; a model that does not draws uniform negatives
    (said under the table) instead of being refused, so one table holds every model at its best available."""
    from gaussea.models import model_builders

    builder = model_builders().get(model)
    return sampling == "uniform" or bool(getattr(builder, "supports_truncated_negatives", False))


def uniform_fallbacks(configs: dict[RunSpec, Any], preset: str | None = None) -> list[str]:
    """Models that drew uniform negatives because they lack the sampler their base preset names."""
    out = set()
    for spec, cfg in configs.items():
        wanted = base_config(spec.dataset, preset)["model"]["negative_sampling"]
        if (spec.model not in NO_SHARED_NEGATIVES and cfg.model.negative_sampling == "uniform"
                and not _draws_sampler(spec.model, wanted)):
            out.add(spec.model)
    return sorted(out)
