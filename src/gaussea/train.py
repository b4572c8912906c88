"""The trainer's public names under their long-standing import path (``from gaussea.train import Trainer``);
the code lives in :mod:`gaussea.training`, one module per job."""

from gaussea.training import (
    CHECKPOINT_NAME,
    DEVICE_SETTING,
    FINAL_MODEL_NAME,
    LOG_NAME,
    Trainer,
    TrainState,
    final_state_dict,
    load_final_weights,
    resolve_device,
    resume_only_keys,
    with_model_epochs,
)

__all__ = ["CHECKPOINT_NAME", "DEVICE_SETTING", "FINAL_MODEL_NAME", "LOG_NAME", "TrainState", "Trainer",
           "final_state_dict", "load_final_weights", "resolve_device", "resume_only_keys", "with_model_epochs"]
