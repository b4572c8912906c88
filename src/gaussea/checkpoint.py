"""Checkpoints that are written atomically, verified by checksum and loaded without arbitrary code.

A checkpoint is ``torch.save`` output (tensors and plain containers only) written through
:func:`gaussea.ioutil.atomic_write_bytes`, plus a ``.sha256`` sidecar. Loading checks the checksum first —
a truncated or tampered file is reported as such, not as an obscure unpickling error — and then uses
``torch.load(weights_only=True)``, which refuses to construct arbitrary Python objects.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from gaussea.ioutil import atomic_write_bytes, atomic_write_text, sha256_bytes


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, tampered with or unreadable."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    # Write the data first, then its checksum: a crash between the two leaves a mismatch, detected on load.
    atomic_write_bytes(path, data)
    atomic_write_text(path.with_name(path.name + ".sha256"), sha256_bytes(data) + "\n")


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    side = path.with_name(path.name + ".sha256")
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not side.exists():
        raise CheckpointError(f"{side}: checksum file missing; refusing to trust {path.name}")
    data = path.read_bytes()
    expected = side.read_text(encoding="utf-8").strip()
    actual = sha256_bytes(data)
    if actual != expected:
        raise CheckpointError(
            f"{path}: checksum mismatch (file is truncated or was modified; expected {expected[:12]}..., "
            f"got {actual[:12]}...). Delete it to restart from the previous checkpoint or from scratch."
        )
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure becomes one clear message
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
