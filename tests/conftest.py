"""Shared fixtures. Real-data tests read ``../shared/data`` beside the repository and skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("GAUSSEA_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The real benchmark data folder; the test is skipped when it is not there."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path
