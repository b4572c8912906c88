"""metrics.json's provenance describes the run as it ran: the torch thread count is the one training used."""

from __future__ import annotations

from pathlib import Path

import torch

from gaussea.runner import run

from ._support import read_json, small_config, torch_threads_restored  # noqa: F401 - autouse fixture


def test_recorded_thread_count_is_the_one_the_run_used(tmp_path: Path) -> None:
    torch.set_num_threads(2)  # torch's count before the run differs from the configured one
    cfg = small_config(stage1=0, stage2=0)  # no epoch: the count is still applied and recorded
    assert cfg.train.threads == 1
    result = run(cfg, tmp_path / "run")
    assert result.metrics["provenance"]["machine"]["torch_threads"] == 1
    assert read_json(tmp_path / "run" / "metrics.json")["provenance"]["machine"]["torch_threads"] == 1
