"""Checkpoints: atomic, checksummed, and tamper/truncation detected with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gaussea.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip(tmp_path: Path) -> None:
    state = {"w": torch.arange(5.0), "epoch": 3, "nested": {"a": [1, 2]}}
    save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(back["w"], state["w"]) and back["epoch"] == 3 and back["nested"] == {"a": [1, 2]}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_truncated_checkpoint_is_detected(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(100)})
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "c.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(tmp_path / "c.pt")


def test_tampered_checkpoint_is_detected(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(100)})
    data = bytearray((tmp_path / "c.pt").read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "c.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.pt"):
        load_checkpoint(tmp_path / "c.pt")


def test_missing_checksum_refused(tmp_path: Path) -> None:
    save_checkpoint(tmp_path / "c.pt", {"w": torch.zeros(1)})
    (tmp_path / "c.pt.sha256").unlink()
    with pytest.raises(CheckpointError, match="checksum file missing"):
        load_checkpoint(tmp_path / "c.pt")
