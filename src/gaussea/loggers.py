"""Per-epoch metric loggers: a CSV file in the run directory, and optionally TensorBoard and MLflow.

Why callbacks: ``train_log.jsonl`` is written only at checkpoints and is made for resuming, not for watching a run
or comparing many. A logger receives each epoch's record as the trainer produces it (``on_epoch(record)``, the
same dict that goes into ``train_log.jsonl``: ``epoch``, ``stage``, ``seconds``, ``loss`` (name -> mean loss),
optionally ``valid_mrr``) and ``close()`` at the end. Records are flattened to scalar columns such as
``loss/rel``. TensorBoard and MLflow are optional: asking for one that is not installed fails *before* training
with a one-line message naming the package to install, instead of after an hour of training.

On ``--resume`` the trainer replays from the last checkpoint: epochs after it are recomputed. The CSV logger keeps
the rows of earlier epochs and drops the stale ones, so the file always describes the epochs of the final run.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from gaussea.errors import MissingDependencyError
from gaussea.ioutil import atomic_write_text
from gaussea.run_files import RunDirectory

CSV_NAME = RunDirectory.TRAIN_LOG_CSV
LOGGER_NAMES: tuple[str, ...] = ("csv", "tensorboard", "mlflow")
TENSORBOARD_DIR = RunDirectory.TENSORBOARD


class EpochLogger(Protocol):
    """What the trainer calls: ``on_epoch`` after every epoch, ``close`` once at the end."""

    def on_epoch(self, record: dict) -> None: ...

    def close(self) -> None: ...


def flatten_record(record: Mapping[str, Any], prefix: str = "") -> dict[str, float | int | str]:
    """``{"epoch": 3, "loss": {"rel": 0.2}}`` -> ``{"epoch": 3, "loss/rel": 0.2}`` (nested dicts joined by ``/``)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_record(value, name + "/"))
        elif isinstance(value, bool):
            out[name] = int(value)
        elif isinstance(value, int | float | str) or value is None:
            out[name] = value
    return out


def _scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """Numeric metrics of a record except the step (``epoch``), for TensorBoard / MLflow."""
    return {k: float(v) for k, v in flatten_record(record).items()
            if k != "epoch" and isinstance(v, int | float) and v is not None}


class CSVLogger:
    """``train_log.csv``: one row per epoch, columns = union of the flattened records' keys.

    The whole file is rewritten atomically each epoch (epochs are few, rows small), so a reader never sees a
    half-written line and a column that appears late (``valid_mrr``) still gets a header.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] | None = None

    def _load_existing(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="", encoding="utf-8") as fh:
            return [dict(r) for r in csv.DictReader(fh)]

    def on_epoch(self, record: dict) -> None:
        row = flatten_record(record)
        if self.rows is None:  # first call: keep earlier epochs of a resumed run, drop the recomputed ones
            epoch = int(row.get("epoch", 0))
            self.rows = [r for r in self._load_existing() if int(float(r.get("epoch") or 0)) < epoch]
        self.rows.append(row)
        self._write()

    def _write(self) -> None:
        assert self.rows is not None
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        if "epoch" in columns:
            columns.remove("epoch")
            columns.insert(0, "epoch")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
        atomic_write_text(self.path, buf.getvalue())

    def close(self) -> None:
        pass


class TensorBoardLogger:
    """Scalars under ``RUN_DIR/tensorboard`` (``loss/rel``, ``valid_mrr``, ``seconds``, ``stage``), step = epoch."""

    def __init__(self, log_dir: str | Path) -> None:
        try:
            import tensorboard  # noqa: F401 - torch's SummaryWriter needs it
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MissingDependencyError("the tensorboard logger needs tensorboard: pip install tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def on_epoch(self, record: dict) -> None:
        step = int(record.get("epoch", 0))
        for key, value in _scalars(record).items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class MLflowLogger:
    """Metrics to the active MLflow run (one is started, and ended on close, if none is active).

    ``params`` (e.g. the flattened run config) are logged once at start; the tracking URI is MLflow's own
    setting (``MLFLOW_TRACKING_URI``, default ``./mlruns``).
    """

    def __init__(self, run_name: str | None = None, params: Mapping[str, Any] | None = None) -> None:
        try:
            import mlflow
        except ImportError:
            raise MissingDependencyError("the mlflow logger needs mlflow: pip install mlflow") from None
        self.mlflow = mlflow
        self.owns_run = mlflow.active_run() is None
        if self.owns_run:
            mlflow.start_run(run_name=run_name)
        if params:
            flat = flatten_record(params)
            mlflow.log_params({k: v for k, v in flat.items() if v is not None})

    def on_epoch(self, record: dict) -> None:
        metrics = {k.replace("/", "_"): v for k, v in _scalars(record).items()}
        self.mlflow.log_metrics(metrics, step=int(record.get("epoch", 0)))

    def close(self) -> None:
        if self.owns_run:
            self.mlflow.end_run()


def build_loggers(names: Iterable[str], run_dir: str | Path | None, config: Mapping[str, Any] | None = None
                  ) -> list[EpochLogger]:
    """Loggers by name (``csv``, ``tensorboard``, ``mlflow``), created up front so a missing package fails early.

    ``run_dir`` None (training without a run directory) drops the file-based ``csv`` / ``tensorboard``.
    """
    out: list[EpochLogger] = []
    run_path = Path(run_dir) if run_dir is not None else None
    for name in dict.fromkeys(names):
        if name not in LOGGER_NAMES:
            raise ValueError(f"unknown logger {name!r}; valid: {', '.join(LOGGER_NAMES)}")
        if name == "csv" and run_path is not None:
            out.append(CSVLogger(run_path / CSV_NAME))
        elif name == "tensorboard" and run_path is not None:
            out.append(TensorBoardLogger(run_path / TENSORBOARD_DIR))
        elif name == "mlflow":
            out.append(MLflowLogger(run_name=run_path.name if run_path else None, params=config))
    return out


class LoggerGroup:
    """Several loggers behind one ``on_epoch`` / ``close`` (what the trainer holds)."""

    def __init__(self, loggers: Iterable[EpochLogger] = ()) -> None:
        self.loggers = list(loggers)

    def on_epoch(self, record: dict) -> None:
        for logger in self.loggers:
            logger.on_epoch(record)

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


__all__ = ["CSVLogger", "EpochLogger", "LoggerGroup", "MLflowLogger", "TensorBoardLogger", "build_loggers",
           "flatten_record"]
