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

from gaussea.errors import CheckpointError  # noqa: F401 - raised here, re-exported
from gaussea.ioutil import OutputWriteError, atomic_write_bytes, atomic_write_text, sha256_bytes


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Replace the checkpoint so that a kill at any moment leaves a loadable pair.

    The sidecar first lists the old and the new checksum, then the data is replaced, then the sidecar keeps
    only the new one. Each step is an atomic rename, and at every instant the data file matches a listed sum.
    """
    import torch  # here, not at the top: the CLI imports CheckpointError and must start without torch

    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    side = path.with_name(path.name + ".sha256")
    new = sha256_bytes(data)
    old = _listed_sums(side) if path.exists() and side.exists() else []
    atomic_write_text(side, "".join(f"{s}\n" for s in [*old[:1], new]))
    atomic_write_bytes(path, data)
    atomic_write_text(side, new + "\n")


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint and its ``.sha256`` sidecar (the data first: a sidecar alone is never read)."""
    path = Path(path)
    for file in (path, path.with_name(path.name + ".sha256")):
        try:
            file.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputWriteError(file, exc, action="remove") from exc


def _listed_sums(side: Path) -> list[str]:
    try:
        return [line.strip() for line in side.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return []


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The verified checkpoint at ``path``, every tensor on the CPU whatever device wrote it.

    CPU on purpose: a run trained on CUDA can be resumed, re-evaluated or inspected on a machine without a GPU,
    and the trainer copies the state into its model (``load_state_dict`` copies across devices) and optimisers
    (which move each state tensor to its parameter's device).
    """
    path = Path(path)
    side = path.with_name(path.name + ".sha256")
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not side.exists():
        raise CheckpointError(f"{side}: checksum file missing; refusing to trust {path.name}")
    data = path.read_bytes()
    expected = _listed_sums(side)
    actual = sha256_bytes(data)
    if actual not in expected:
        want = expected[-1][:12] if expected else "nothing"
        raise CheckpointError(
            f"{path}: checksum mismatch (file is truncated or was modified; expected {want}..., "
            f"got {actual[:12]}...). Delete it (and its .sha256) to restart from scratch."
        )
    import torch

    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure becomes one clear message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {first[:200]}); "
                              "it holds objects gaussea never writes and was not loaded") from None
