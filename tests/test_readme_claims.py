"""The documents' statements about reproducibility and the default run quote the measurements they rest on."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THREADS_RESULT = "bench/results/threads/synthetic-default.json"


def _paragraph(text: str, start: str) -> str:
    begin = text.index(start)
    end = text.find("\n\n", begin)
    return text[begin:end if end >= 0 else len(text)]


def test_readme_states_what_the_thread_measurement_found() -> None:
    record = json.loads((REPO / THREADS_RESULT).read_text(encoding="utf-8"))
    one = [r for r in record["runs"] if r["threads"] == 1]
    more = [r for r in record["runs"] if r["threads"] > 1]
    assert len(one) >= 2 and more, "the measurement compares one thread (twice) with more threads"
    assert all(r["recorded_torch_threads"] == r["threads"] for r in record["runs"])
    assert record["summary"]["same_threads_bit_identical"]["1"] is True  # what docs/guarantees.md promises
    guarantees = (REPO / "docs" / "guarantees.md").read_text(encoding="utf-8")
    para = _paragraph(guarantees, "**Same seed, same machine, one thread")
    assert "last bits" not in para  # the effect of threads is not confined to the last bits: it is measured
    assert THREADS_RESULT in para
    for run in record["runs"]:
        assert f"{100 * run['test']['test']['hits@1']:.2f} %" in para, run["test"]["test"]["hits@1"]


def test_default_run_expectation_is_the_recorded_measurement() -> None:
    """The line the default run prints quotes the committed runs of that exact command, rounded outwards."""
    import math

    from gaussea.config import RunConfig
    from gaussea.expectations import DEFAULT_RUN, DEFAULT_RUN_RESULT, expectation_line, is_default_run

    record = json.loads((REPO / DEFAULT_RUN_RESULT).read_text(encoding="utf-8"))
    runs = record["runs"]
    assert runs and all(r["model"] == RunConfig().model_name for r in runs)
    h1 = [r["test"]["test"]["hits@1"] for r in runs]
    ratios = [r["variance_by_corruption"]["visual"]["ratio_of_means"] for r in runs]
    assert DEFAULT_RUN.hits_at_1_low == math.floor(1000 * min(h1)) / 1000
    assert DEFAULT_RUN.hits_at_1_high == math.ceil(1000 * max(h1)) / 1000
    assert DEFAULT_RUN.visual_variance_ratio == math.floor(10 * min(ratios)) / 10
    assert DEFAULT_RUN.visual_variance_ratio >= 1.5  # the separation
    cfg = RunConfig()
    cfg.train.threads, cfg.train.progress = 2, False
    assert is_default_run(cfg) and DEFAULT_RUN_RESULT in (expectation_line(cfg) or "")
    cfg.model_name = "gaussian"
    assert not is_default_run(cfg) and expectation_line(cfg) is None
    other = RunConfig()
    other.train.stage1_epochs = 5
    assert not is_default_run(other)
