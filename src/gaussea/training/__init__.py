"""Training: a :class:`Trainer` that runs the epoch loop, and the callbacks around it, one job per module.

- :mod:`~gaussea.training.trainer`: the loop (stages, batches, optimiser steps, the model's hooks);
- :mod:`~gaussea.training.callbacks`: the callback protocol, metric loggers, the progress bar;
- :mod:`~gaussea.training.early_stopping`: validation, patience, the best epoch's weights;
- :mod:`~gaussea.training.checkpointing`: checkpoints, ``model.pt`` and ``--resume``;
- :mod:`~gaussea.training.budget`: the wall-clock cap;
- :mod:`~gaussea.training.bootstrapping`: iterative bootstrapping rounds;
- :mod:`~gaussea.training.epochs`, :mod:`~gaussea.training.optimisers`, :mod:`~gaussea.training.devices`,
  :mod:`~gaussea.training.state`: the epoch plan, the default optimiser, the device check, the counters.
"""

from gaussea.training.bootstrapping import IterativeBootstrapping
from gaussea.training.budget import WallClockBudget
from gaussea.training.callbacks import LoggerCallback, ProgressBar, TrainCallback
from gaussea.training.checkpointing import (
    CHECKPOINT_NAME,
    FINAL_MODEL_NAME,
    LOG_NAME,
    Checkpointing,
    final_state_dict,
    load_final_weights,
    resume_only_keys,
)
from gaussea.training.devices import DEVICE_SETTING, resolve_device
from gaussea.training.early_stopping import EarlyStopping
from gaussea.training.epochs import EpochPlan, with_model_epochs
from gaussea.training.state import TrainState
from gaussea.training.trainer import Trainer

__all__ = ["CHECKPOINT_NAME", "DEVICE_SETTING", "FINAL_MODEL_NAME", "LOG_NAME", "Checkpointing", "EarlyStopping",
           "EpochPlan", "IterativeBootstrapping", "LoggerCallback", "ProgressBar", "TrainCallback", "TrainState",
           "Trainer", "WallClockBudget", "final_state_dict", "load_final_weights", "resolve_device",
           "resume_only_keys", "with_model_epochs"]
