"""Which device a run trains on, checked before any work starts."""

from __future__ import annotations

import torch

DEVICE_SETTING = "train.device"


def resolve_device(name: str | torch.device, setting: str = DEVICE_SETTING) -> torch.device:
    """The device ``name`` names, checked before any work starts (``ValueError`` naming ``setting`` if unusable).

    Why up front: a misspelt device or ``cuda`` on a machine without CUDA would otherwise surface as a stack trace
    from inside the first loss, after the data is loaded. ``cuda`` resolves to the current CUDA device with its
    index, so that device comparisons (and DDP's ``device_ids``) see one spelling.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{setting}={name!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"{setting}={name!r}: gaussea trains on cpu or cuda (cuda:N), not {device.type}")
    if device.type == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(f"{setting}={name!r} but CUDA is not available here (torch {torch.__version__}, {build}); "
                         f"use {setting}=cpu (--device cpu)")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if device.index is None else device.index
    if index >= count:
        raise ValueError(f"{setting}={name!r} but only {count} CUDA device(s) are visible (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)
