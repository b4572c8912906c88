"""Shared fixtures. Real-data tests read ``../shared/data`` beside the repository and skip when it is absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

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


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One torch thread for a whole module, restored after it (use with ``pytestmark``).

    Tiny matrices gain nothing from threads and each parallel region can stall on a busy machine; reference
    results must also be computed on as many threads as each rank uses, since MKL's roundings depend on it.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
