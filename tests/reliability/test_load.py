"""Load: a synthetic pair far larger than the default trains one short epoch and evaluates within memory.

The default synthetic benchmark has ~1,700 entities per side. Here ``num_entities`` is raised so each side
holds ~150,000 entities (slow, run with ``-m slow``) or ~15,000 (the fast 10x-smaller variant that runs in
CI), every modality on, both candidate modes evaluated with CSLS. The run is a real ``gaussea run``
subprocess so that its peak RSS (recorded by the runner in metrics.json) is the run's alone.

"One short epoch" uses large batches (``batch_size=65536``, ``model.options.entity_batch_size=16384``) and ``dim=32``.
With the default batches an epoch's cost grows with the square of the entity count (every optimiser step
updates and clamps the full embedding tables, and the number of steps grows with the triples): measured
0.12 s per relational step at 5k world entities vs 0.78 s at 17.6k, so one default epoch at 150k per side
would take hours on 2 cores. See docs/guarantees.md for the measured figures.

Also here: asking for a dense score matrix that cannot fit is refused at once, naming the option to use.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
import torch

from gaussea.evaluate import Embeddings, evaluate_alignment, full_score_matrix, top_k

from ._support import read_json, run_gaussea

# world entities -> about 85% of them per side (entity_coverage)
FAST_WORLD, SLOW_WORLD = 17_650, 176_500
FAST_LIMITS = {"peak_rss_mib": 2048, "total_seconds": 150}
SLOW_LIMITS = {"peak_rss_mib": 8192, "total_seconds": 3600}


def big_run(tmp_path: Path, world: int) -> dict:
    args = [
        "run", "--model", "gaussian", "--out", "big", "--set", f'data.options={{"num_entities": {world}}}',
        "--stage1-epochs", "1", "--stage2-epochs", "0", "--dim", "32", "--batch-size", "65536",
        "--set", "model.options.entity_batch_size=16384", "--set", "train.checkpoint_every=0", "--threads", "1",
        "--no-progress",
    ]
    t0 = time.perf_counter()
    proc = run_gaussea(args, cwd=tmp_path, timeout=2 * 3600)
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    metrics = read_json(tmp_path / "big" / "metrics.json")
    stats = read_json(tmp_path / "big" / "dataset.json")["stats"]
    sides = [s["entities"] for s in stats["sides"]]
    figures = {
        "entities_per_side": sides,
        "relational_triples": [s["relational_triples"] for s in stats["sides"]],
        "links": stats["links_usable"],
        "peak_rss_mib": round(metrics["peak_rss_mib"]),
        "train_seconds": round(metrics["train_seconds"], 1),
        "eval_seconds": round(metrics["eval_seconds"], 1),
        "total_seconds": round(metrics["total_seconds"], 1),
        "wall_seconds_with_startup": round(wall, 1),
        "all_mode_candidates": metrics["test"]["all_candidates"]["num_candidates"],
        "test_queries": metrics["test"]["test_candidates"]["num_queries"],
    }
    print(f"load figures: {figures}")
    assert metrics["epochs_completed"] == 1
    for mode in ("test", "all"):
        m = metrics["test"][f"{mode}_candidates"]
        assert 0.0 <= m["hits@1"] <= m["hits@10"] <= 1.0 and m["mr"] >= 1.0
    return figures


def test_fast_large_pair_trains_and_evaluates_within_memory(tmp_path: Path) -> None:
    figures = big_run(tmp_path, FAST_WORLD)
    assert min(figures["entities_per_side"]) > 14_000
    assert figures["peak_rss_mib"] < FAST_LIMITS["peak_rss_mib"]
    assert figures["total_seconds"] < FAST_LIMITS["total_seconds"]


@pytest.mark.slow
def test_150k_entities_per_side_trains_and_evaluates_within_memory(tmp_path: Path) -> None:
    figures = big_run(tmp_path, SLOW_WORLD)
    assert min(figures["entities_per_side"]) > 145_000
    # a dense test x test float32 score matrix alone would need > 40 GB
    assert figures["peak_rss_mib"] < SLOW_LIMITS["peak_rss_mib"]
    assert figures["total_seconds"] < SLOW_LIMITS["total_seconds"]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def test_dense_matrix_too_large_is_refused_early_naming_the_option() -> None:
    """150k x 150k float32 is 84 GiB: refused in well under a second, before any allocation."""
    n = 150_000
    gen = torch.Generator().manual_seed(0)
    left = Embeddings(torch.randn(n, 8, generator=gen))
    right = Embeddings(torch.randn(n, 8, generator=gen))
    pairs = torch.stack([torch.arange(n), torch.arange(n)], 1)
    rss = _rss_mib()
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"evaluate_alignment\(\) or top_k\(\).*chunk_size"):
        full_score_matrix(left, right)
    with pytest.raises(ValueError, match=r"chunk_size=150000 needs .*pass a smaller chunk_size"):
        evaluate_alignment(left, right, pairs, mode="all", chunk_size=n)
    with pytest.raises(ValueError, match=r"chunk_size=.*pass a smaller chunk_size"):
        top_k(left, right, torch.arange(n), 10, chunk_size=10**9)
    assert time.perf_counter() - t0 < 5.0
    assert _rss_mib() - rss < 256  # nothing of the refused size was allocated
