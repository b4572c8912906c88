"""The README's statements about reproducibility quote the measurement they rest on."""

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
    assert record["summary"]["same_threads_bit_identical"]["1"] is True  # what the README promises
    para = _paragraph((REPO / "README.md").read_text(encoding="utf-8"), "**Same seed, same machine, one thread")
    assert "last bits" not in para  # the effect of threads is not confined to the last bits: it is measured
    assert THREADS_RESULT in para
    for run in record["runs"]:
        assert f"{100 * run['test']['test']['hits@1']:.2f} %" in para, run["test"]["test"]["hits@1"]
