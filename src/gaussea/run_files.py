"""The files of a run directory: every name, and how each file is read and written.

A run directory is the unit of reproducibility (:mod:`gaussea.runner` describes what a run puts there).
:class:`RunDirectory` is the only place that knows a file's name and format: the runner, the trainer's
checkpoints, the loggers, ``report``, ``explain``, ``align``, the reproduce grid and the benchmark scripts all go
through it, so a name or a format changes in one place. On-disk names and formats are those runs have always
written, so old run directories (and the committed ones under ``bench/results``) still read.

Locking and clean-up of a directory while a run holds it are :mod:`gaussea.rundir`'s job; the metrics' key layout
(split, then candidate mode) is :mod:`gaussea.metrics_layout`'s.

Every writer is atomic (:mod:`gaussea.ioutil`). Readers of required files raise FileNotFoundError naming the
path; ``missing_ok=True`` readers return None for a file the run did not write.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gaussea.ioutil import atomic_write_bytes, atomic_write_json

if TYPE_CHECKING:
    from gaussea.data.kgpair import KGPair, Split

SIDES: tuple[str, ...] = ("left", "right")
LINK_PARTS: tuple[str, ...] = ("train", "valid", "test")


class RunDirectory:
    """One run directory: the paths of its files and their readers and writers.

    Names (class attributes) are part of the on-disk format: never rename one without reading the old name too.
    """

    CONFIG: ClassVar[str] = "config.json"  # the resolved configuration, every default written out
    DATASET: ClassVar[str] = "dataset.json"  # dataset statistics, load report and provenance
    SPLIT: ClassVar[str] = "split"  # the train / valid / test links by name (OpenEA layout, gaussea.data.splits)
    CHECKPOINT: ClassVar[str] = "checkpoint.pt"  # resumable training state (removed once finished by default)
    FINAL_MODEL: ClassVar[str] = "model.pt"  # the final weights, which every reader of a finished run loads
    CHECKSUM_SUFFIX: ClassVar[str] = ".sha256"  # sidecar of each weights file (gaussea.checkpoint)
    TRAIN_LOG: ClassVar[str] = "train_log.jsonl"  # one JSON line per epoch (losses, validation)
    TRAIN_LOG_CSV: ClassVar[str] = "train_log.csv"  # the ``csv`` logger's copy
    TENSORBOARD: ClassVar[str] = "tensorboard"  # the ``tensorboard`` logger's folder
    METRICS: ClassVar[str] = "metrics.json"  # test metrics (gaussea.metrics_layout), timings, provenance
    EMBEDDINGS: ClassVar[str] = "embeddings.npz"  # common-space means / variances per side, with entity names
    VARIANCES: ClassVar[str] = "variances.npz"  # per-entity mean variance of every space
    RANKS: ClassVar[str] = "ranks.npz"  # the realistic rank of every test link per candidate mode
    CORRUPTION: ClassVar[str] = "corruption.npz"  # planted corruption (ground truth) per space and side
    DECODED: ClassVar[str] = "decoded.json"  # rows decoded later without retraining (gaussea.paper_decode)
    REPORT: ClassVar[str] = "report"  # ``gaussea report``'s default output folder
    LOCK: ClassVar[str] = "running.lock"  # held while a process works in the directory (gaussea.runlock)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    @classmethod
    def outputs(cls) -> tuple[str, ...]:
        """Every entry gaussea writes into a run directory: what ``--overwrite`` moves aside."""
        weights = (cls.CHECKPOINT, cls.FINAL_MODEL)
        return (cls.CONFIG, cls.DATASET, cls.SPLIT, *weights, *(w + cls.CHECKSUM_SUFFIX for w in weights),
                cls.TRAIN_LOG, cls.TRAIN_LOG_CSV, cls.TENSORBOARD, cls.METRICS, cls.EMBEDDINGS, cls.VARIANCES,
                cls.RANKS, cls.CORRUPTION, cls.DECODED, cls.REPORT)

    # --- paths -------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def dataset_path(self) -> Path:
        return self.path / self.DATASET

    @property
    def split_dir(self) -> Path:
        return self.path / self.SPLIT

    def links_path(self, part: str) -> Path:
        """The link file of ``part`` (``train`` / ``valid`` / ``test``) in the run's split folder."""
        from gaussea.data.splits import SPLIT_FILES

        if part not in LINK_PARTS:
            raise ValueError(f"split part must be one of {LINK_PARTS}, got {part!r}")
        return self.split_dir / SPLIT_FILES[LINK_PARTS.index(part)]

    @property
    def checkpoint_path(self) -> Path:
        return self.path / self.CHECKPOINT

    @property
    def model_path(self) -> Path:
        return self.path / self.FINAL_MODEL

    @property
    def train_log_path(self) -> Path:
        return self.path / self.TRAIN_LOG

    @property
    def train_log_csv_path(self) -> Path:
        return self.path / self.TRAIN_LOG_CSV

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / self.TENSORBOARD

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def embeddings_path(self) -> Path:
        return self.path / self.EMBEDDINGS

    @property
    def variances_path(self) -> Path:
        return self.path / self.VARIANCES

    @property
    def ranks_path(self) -> Path:
        return self.path / self.RANKS

    @property
    def corruption_path(self) -> Path:
        return self.path / self.CORRUPTION

    @property
    def decoded_path(self) -> Path:
        return self.path / self.DECODED

    @property
    def report_dir(self) -> Path:
        return self.path / self.REPORT

    def is_finished(self) -> bool:
        """Whether a run finished here (its metrics are written last)."""
        return self.metrics_path.exists()

    def weights_path(self) -> Path | None:
        """The trained weights: ``model.pt``, else ``checkpoint.pt`` (unfinished runs, and runs made before runs
        kept ``model.pt``); None when neither exists."""
        return next((p for p in (self.model_path, self.checkpoint_path) if p.exists()), None)

    # --- JSON files --------------------------------------------------------------------------------------
    def read_config(self, missing_ok: bool = False) -> dict[str, Any] | None:
        """The saved configuration as a dict in today's shape: settings that moved or retired since it was written
        are migrated (:func:`gaussea.config_migration.migrate_config`); ``RunConfig.from_dict`` checks the rest."""
        from gaussea.config_migration import migrate_config

        found = _read_json(self.config_path, missing_ok, "no saved configuration")
        return None if found is None else migrate_config(found, str(self.config_path))

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_json(self.config_path, config)

    def read_dataset(self, missing_ok: bool = False) -> dict[str, Any] | None:
        return _read_json(self.dataset_path, missing_ok, "no dataset record")

    def write_dataset(self, stats: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        atomic_write_json(self.dataset_path, {"stats": stats, "meta": meta})

    def read_metrics(self, missing_ok: bool = False) -> dict[str, Any] | None:
        """The metrics as written (read the test results with :func:`gaussea.metrics_layout.split_results`)."""
        return _read_json(self.metrics_path, missing_ok, "not a finished run directory")

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        atomic_write_json(self.metrics_path, metrics)

    def read_decoded(self, missing_ok: bool = False) -> dict[str, Any] | None:
        return _read_json(self.decoded_path, missing_ok, "not decoded yet")

    def write_decoded(self, decoded: Mapping[str, Any]) -> None:
        atomic_write_json(self.decoded_path, decoded)

    def read_train_log(self) -> list[dict[str, Any]]:
        """One dict per logged epoch; empty when the run has no log (yet)."""
        if not self.train_log_path.exists():
            return []
        lines = self.train_log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    # --- split -------------------------------------------------------------------------------------------
    def write_split(self, split: Split, pair: KGPair) -> None:
        from gaussea.data.splits import save_split

        save_split(split, pair, self.split_dir)

    def read_split(self, pair: KGPair) -> Split:
        from gaussea.data.splits import load_split

        return load_split(self.split_dir, pair)

    def read_links(self, part: str) -> list[tuple[str, str]]:
        """``(left name, right name)`` of every link of ``part``; empty when the file is absent."""
        from gaussea.data.splits import read_link_names

        return read_link_names(self.links_path(part))

    # --- arrays ------------------------------------------------------------------------------------------
    def write_embeddings(self, names: Mapping[str, list[str]], means: Mapping[str, np.ndarray],
                         variances: Mapping[str, np.ndarray | None]) -> None:
        """``{side}_names`` (str), ``{side}_mean`` and, for Gaussian models, ``{side}_var`` (float32)."""
        arrays: dict[str, np.ndarray] = {f"{side}_names": np.array(names[side], dtype=str) for side in SIDES}
        for side in SIDES:
            arrays[f"{side}_mean"] = np.asarray(means[side]).astype(np.float32)
            if variances.get(side) is not None:
                arrays[f"{side}_var"] = np.asarray(variances[side]).astype(np.float32)
        atomic_write_bytes(self.embeddings_path, _npz_bytes(arrays))

    def read_embeddings(self) -> tuple[dict[str, list[str]], dict[str, np.ndarray]]:
        """``(names per side, arrays)`` with arrays keyed ``{side}_mean`` / ``{side}_var``."""
        path = self.embeddings_path
        if not path.exists():
            raise FileNotFoundError(f"{path}: no embeddings (is {self.path} a finished `gaussea run` directory?)")
        with np.load(path, allow_pickle=False) as z:
            names = {side: [str(x) for x in z[f"{side}_names"]] for side in SIDES}
            arrays = {k: z[k] for k in z.files if not k.endswith("_names")}
        return names, arrays

    def read_entity_names(self) -> dict[str, list[str]] | None:
        """The entity names per side, or None when the run wrote no embeddings."""
        return self.read_embeddings()[0] if self.embeddings_path.exists() else None

    def write_variances(self, variances: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """``{side: {space: per-entity mean variance}}`` as ``{side}_{space}`` float32 arrays."""
        arrays = {f"{side}_{space}": np.asarray(variances[side][space]).astype(np.float32)
                  for space in variances[SIDES[0]] for side in SIDES}
        atomic_write_bytes(self.variances_path, _npz_bytes(arrays))

    def read_variances(self) -> dict[str, dict[str, np.ndarray]]:
        """``{side: {space: per-entity mean variance}}`` (float64; NaN: the entity lacks the space)."""
        path = self.variances_path
        if not path.exists():
            raise FileNotFoundError(f"{path}: no learned variances (point-embedding model, or not a finished run)")
        return _by_side(path, np.float64)

    def write_ranks(self, ranks: Mapping[str, np.ndarray]) -> None:
        """The realistic rank of every test link (split file order) per candidate mode, as ``{mode}_candidates``."""
        from gaussea.metrics_layout import candidates_key

        arrays = {candidates_key(mode): np.asarray(r, dtype=np.float64) for mode, r in ranks.items()}
        atomic_write_bytes(self.ranks_path, _npz_bytes(arrays))

    def read_ranks(self) -> dict[str, np.ndarray] | None:
        """``{mode: ranks}`` as the run saved them; None for a run that saved none (older runs, a decoder that
        ranks nothing)."""
        from gaussea.metrics_layout import mode_of_key

        if not self.ranks_path.exists():
            return None
        with np.load(self.ranks_path, allow_pickle=False) as z:
            return {mode_of_key(k): z[k] for k in z.files}

    def write_corruption(self, masks: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        """Planted corruption ``{space: {side: bool mask over the side's entities}}`` as ``{side}_{space}``."""
        arrays = {f"{side}_{space}": np.asarray(by_side[side], dtype=bool)
                  for space, by_side in masks.items() for side in SIDES}
        atomic_write_bytes(self.corruption_path, _npz_bytes(arrays))

    def read_corruption(self) -> dict[str, dict[str, np.ndarray]] | None:
        """``{space: {side: bool mask}}`` as the run saved it; None when the run saved none."""
        if not self.corruption_path.exists():
            return None
        by_side = _by_side(self.corruption_path, bool)
        return {space: {side: by_side[side][space] for side in SIDES} for space in by_side[SIDES[0]]}


def _read_json(path: Path, missing_ok: bool, what: str) -> dict[str, Any] | None:
    if not path.exists():
        if missing_ok:
            return None
        raise FileNotFoundError(f"{path}: {what}")
    return json.loads(path.read_text(encoding="utf-8"))


def _by_side(path: Path, dtype: type) -> dict[str, dict[str, np.ndarray]]:
    """``{side: {name: array}}`` of an npz whose keys are ``{side}_{name}``."""
    out: dict[str, dict[str, np.ndarray]] = {side: {} for side in SIDES}
    with np.load(path, allow_pickle=False) as z:
        for key in z.files:
            side, _, name = key.partition("_")
            if side in out:
                out[side][name] = z[key].astype(dtype)
    return out


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()
