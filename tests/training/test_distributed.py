"""Distributed training (DDP) and sharded exact retrieval on a 2-process gloo group over loopback.

Processes are started two ways: torchrun itself (``--standalone`` picks a free port), which is what users run,
and :func:`gaussea.distributed.run_local` (the parent hosts the rendezvous store on an OS-chosen port), which
lets a test look inside the ranks. Every rank runs on one thread. About 30-40 s in all.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gaussea.config import RunConfig
from gaussea.distributed import DistContext, free_port, init_from_env, run_local, sharded_evaluate_alignment
from gaussea.distributed.retrieval import sharded_alignment_ranks, sharded_target_radius
from gaussea.evaluate import Embeddings, alignment_ranks, evaluate_alignment, get_similarity, target_radius
from gaussea.runner import run

WORLD = 2
EASY = {"num_entities": 300, "triple_keep": 1.0, "entity_coverage": 1.0, "relation_merge": 0.0,
        "relation_split": 0.0}
WRITERS = {"gaussea.runner": ("build_loggers", "remove_checkpoint"),
           "gaussea.run_files": ("atomic_write_json", "atomic_write_bytes"),  # every run file but the split and log
           "gaussea.data.splits": ("atomic_write_text",),  # the split folder
           "gaussea.training.checkpointing": ("atomic_write_text", "save_checkpoint")}


pytestmark = pytest.mark.usefixtures("single_thread")


# ------------------------------------------------------------------------------------------------ sharding


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_batch_shards_cover_the_batch_and_are_never_empty(size):
    batch = torch.randperm(100)[:size]
    parts = [DistContext(r, WORLD).shard_batch(batch) for r in range(WORLD)]
    assert all(len(p) >= 1 for p in parts)
    if size >= WORLD:
        assert torch.equal(torch.cat(parts), batch)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_chunk_shares_partition_in_order():
    items = list(range(11))
    shares = [list(DistContext(r, 3).share(items)) for r in range(3)]
    assert sum(shares, []) == items and [len(s) for s in shares] == [3, 4, 4]


def test_negative_streams_differ_per_rank_and_repeat_per_seed():
    draw = [torch.randint(10**9, (4,), generator=DistContext(r, WORLD).rank_generator(7)) for r in (0, 1, 0)]
    assert not torch.equal(draw[0], draw[1]) and torch.equal(draw[0], draw[2])


def test_no_process_group_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert init_from_env() is None


# ------------------------------------------------------------------------------------ sharded retrieval


def _embeddings(seed: int = 0, n: int = 230, m: int = 190, d: int = 8):
    """Random Gaussians with exact duplicate targets and duplicate sources, so scores tie exactly."""
    g = torch.Generator().manual_seed(seed)
    mean_s, mean_t = torch.randn(n, d, generator=g), torch.randn(m, d, generator=g)
    var_s, var_t = torch.rand(n, d, generator=g) + 0.5, torch.rand(m, d, generator=g) + 0.5
    mean_t[10:20], var_t[10:20] = mean_t[0:10], var_t[0:10]
    mean_s[5:8], var_s[5:8] = mean_s[0:3], var_s[0:3]
    pairs = torch.stack([torch.randperm(n, generator=g)[:150], torch.randperm(m, generator=g)[:150]], 1)
    return Embeddings(mean_s, var_s), Embeddings(mean_t, var_t), pairs


def _retrieval_cases() -> list[dict]:
    _, _, pairs = _embeddings()
    cases: list[dict] = [
        {"mode": mode, "similarity": sim, "csls_k": k, "chunk_size": chunk}
        for mode in ("test", "all")
        for sim in ("cosine", "neg_sym_kl", "expected_likelihood")
        for k in (None, 3, 10)
        for chunk in (7, None)  # 7: many chunks spread over both ranks; None: one chunk, rank 1 idle
    ]
    # right_to_left ranks left entities for right queries; exclusions keep naming left / right ids
    cases.append({"mode": "all", "csls_k": 10, "chunk_size": 16, "direction": "right_to_left",
                  "exclude_sources": np.setdiff1d(np.arange(180, 230), pairs[:, 0].numpy()),
                  "exclude_targets": np.setdiff1d(np.arange(150, 190), pairs[:, 1].numpy())})
    return cases


def _sharded_retrieval(context: DistContext, cases: list[dict]) -> dict:
    source, target, pairs = _embeddings()
    out: dict = {"ranks": [], "metrics": []}
    for case in cases:
        ranks, _ = sharded_alignment_ranks(context, source, target, pairs, **case)
        out["ranks"].append(ranks)
    out["metrics"] = [sharded_evaluate_alignment(context, source, target, pairs, **case) for case in cases[-2:]]
    prepared = get_similarity("cosine").prepare(source, target)
    out["radius"] = sharded_target_radius(context, prepared, 10, chunk_size=9)
    return out


def test_sharded_retrieval_is_identical_to_single_process():
    cases = _retrieval_cases()
    results = run_local(_sharded_retrieval, WORLD, cases)
    source, target, pairs = _embeddings()
    tied = False
    for i, case in enumerate(cases):
        want, _ = alignment_ranks(source, target, pairs, **case)
        tied |= bool(torch.any(want != want.round()))
        for rank, got in enumerate(results):
            assert torch.equal(got["ranks"][i], want), (rank, case)
    for j, case in enumerate(cases[-2:]):
        want_metrics = evaluate_alignment(source, target, pairs, **case)
        assert all(got["metrics"][j] == want_metrics for got in results), case
    assert tied, "the data must contain exact ties, or tie handling is not tested"
    radius = target_radius(get_similarity("cosine").prepare(source, target), 10, chunk_size=9)
    assert all(torch.equal(r["radius"], radius) for r in results)


# ------------------------------------------------------------------------------------ distributed training


def _tiny_config() -> RunConfig:
    """The end-to-end test's easy pair, with a validation slice evaluated (sharded) during training."""
    cfg = RunConfig(model_name="gaussian")  # two stages: DDP is rebuilt when the variances are freed
    cfg.data.options = dict(EASY)
    cfg.data.valid_ratio = 0.1
    cfg.model.dim = 32
    # stage 2 frees the variances: DDP is rebuilt. 14 stage-1 epochs: with the lazy common-table Adam (the default)
    # 6 left test-mode MRR at 0.049, under twice random (0.056); 14 gives 0.070 / 0.087 (seeds 0 / 1).
    cfg.train.stage1_epochs, cfg.train.stage2_epochs = 14, 3
    cfg.train.eval_every = 3
    cfg.train.threads = 1
    cfg.train.progress = False
    return cfg


def _digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _forbid_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rank other than 0 tried to write")

    for module, names in WRITERS.items():
        for name in names:
            monkeypatch.setattr(f"{module}.{name}", refuse)


def _train_in_ranks(context: DistContext, cfg: RunConfig, run_dir: str) -> dict:
    with pytest.MonkeyPatch.context() as monkeypatch:
        if not context.is_main:
            _forbid_writes(monkeypatch)
        result = run(cfg, run_dir, distributed=context)
    return {"digest": _digest(result.model), "metrics": result.metrics["test"]}


@pytest.fixture(scope="module")
def torchrun_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``torchrun --nproc-per-node 2 -m gaussea run`` on the tiny pair, as a user runs it."""
    tmp = tmp_path_factory.mktemp("torchrun")
    config = tmp / "config.json"
    config.write_text(json.dumps(_tiny_config().to_dict()))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(WORLD),
           "-m", "gaussea", "run", "--config", str(config), "--out", str(tmp / "run")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("[test candidates") == 1, proc.stdout  # only rank 0 prints
    return tmp / "run"


def _communicate_all(procs: list[subprocess.Popen], timeout: float) -> list[tuple[str, str]]:
    """Every process's (stdout, stderr); on a timeout all are killed and the test fails with what each printed,
    so a hang (e.g. one node's agent waiting in torchrun's exit barrier for a worker that died) is diagnosable."""
    try:
        return [p.communicate(timeout=timeout) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        tails = [f"node {i} rc {p.returncode}: {p.communicate()[1][-2000:]}" for i, p in enumerate(procs)]
        pytest.fail(f"torchrun timed out after {timeout} s\n" + "\n".join(tails))


def test_two_node_rendezvous_matches_one_node(torchrun_dir: Path, tmp_path: Path):
    """torchrun's multi-node arguments (``--nnodes 2 --node-rank i --master-addr --master-port``), emulated with
    two "nodes" of one process each on loopback: the same world size as the one-node run, so the same result
    bit for bit, and only node 0's rank 0 writes."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(_tiny_config().to_dict()))
    port = str(free_port())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = []
    for node in range(WORLD):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", str(WORLD), "--node-rank", str(node),
               "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port,
               "-m", "gaussea", "run", "--config", str(config), "--out", str(tmp_path / f"node{node}")]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                      cwd=tmp_path))
    outputs = _communicate_all(procs, timeout=300)
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert not (tmp_path / "node1").exists()  # node 1 holds rank 1 only: it writes nothing
    metrics = json.loads((tmp_path / "node0" / "metrics.json").read_text())
    assert metrics["distributed"]["world_size"] == WORLD
    assert metrics["test"] == json.loads((torchrun_dir / "metrics.json").read_text())["test"]
    with np.load(torchrun_dir / "embeddings.npz") as a, np.load(tmp_path / "node0" / "embeddings.npz") as b:
        assert np.array_equal(a["left_mean"], b["left_mean"]) and np.array_equal(a["right_var"], b["right_var"])


def test_torchrun_writes_one_complete_run_directory(torchrun_dir: Path):
    for name in ("config.json", "dataset.json", "model.pt", "train_log.jsonl", "metrics.json",
                 "embeddings.npz", "split/test_links"):
        assert (torchrun_dir / name).exists(), name
    assert not (torchrun_dir / "checkpoint.pt").exists() and not (torchrun_dir / "running.lock").exists()
    assert not list(torchrun_dir.rglob(".*.tmp"))
    metrics = json.loads((torchrun_dir / "metrics.json").read_text())
    assert metrics["distributed"]["world_size"] == WORLD and metrics["distributed"]["backend"] == "gloo"
    assert len(metrics["distributed"]["peak_rss_mib_per_rank"]) == WORLD
    log = [json.loads(x) for x in (torchrun_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["stage"] for r in log] == [1] * 14 + [2] * 3
    assert all(np.isfinite(v) for r in log for v in r["loss"].values())
    assert [r["epoch"] for r in log if "valid_mrr" in r] == [3, 6, 9, 12, 15]


def test_ranks_stay_identical_deterministic_and_close_to_one_process(torchrun_dir: Path, tmp_path: Path):
    cfg = _tiny_config()
    ranks = run_local(_train_in_ranks, WORLD, cfg, str(tmp_path / "spawned"))
    # DDP kept the replicas bit-identical through both stages, and evaluation agrees on every rank.
    assert ranks[0]["digest"] == ranks[1]["digest"]
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    # Same seed, same world size: the library call reproduces the torchrun run exactly.
    assert ranks[0]["metrics"] == json.loads((torchrun_dir / "metrics.json").read_text())["test"]
    with np.load(torchrun_dir / "embeddings.npz") as a, np.load(tmp_path / "spawned" / "embeddings.npz") as b:
        assert np.array_equal(a["left_mean"], b["left_mean"]) and np.array_equal(a["right_var"], b["right_var"])
    # Not the same numbers as one process (other negatives, sharded batch means), but the same quality.
    single = run(cfg, tmp_path / "single").metrics["test"]
    for mode in ("test_candidates", "all_candidates"):
        n = single[mode]["num_candidates"]
        random_mrr = sum(1.0 / r for r in range(1, n + 1)) / n
        assert ranks[0]["metrics"][mode]["mrr"] >= 2 * random_mrr, mode
        assert abs(ranks[0]["metrics"][mode]["mrr"] - single[mode]["mrr"]) <= 0.25 * single[mode]["mrr"], mode


# ---------------------------------------------------------------------------------- approximate retrieval


def test_recall_at_k_counts_found_neighbours():
    from gaussea.distributed.approx import recall_at_k

    exact = torch.tensor([[1, 2], [3, 4]])
    assert recall_at_k(torch.tensor([[2, 1], [3, 9]]), exact) == 0.75


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_faiss_index_is_exact_at_full_effort(kind):
    pytest.importorskip("faiss")
    from gaussea.distributed.approx import ApproximateIndex, recall_at_k
    from gaussea.evaluate import top_k

    g = torch.Generator().manual_seed(3)
    source, target = Embeddings(torch.randn(50, 16, generator=g)), Embeddings(torch.randn(400, 16, generator=g))
    index = ApproximateIndex(target, kind=kind, nlist=8)
    index.set_effort(8 if kind == "ivf" else 400)  # every list / a search list as large as the index
    scores, ids = index.search(source, 5)
    want_scores, want_ids = top_k(source, target, torch.arange(50), 5, csls_k=None)
    assert recall_at_k(ids, want_ids) == 1.0
    torch.testing.assert_close(scores, want_scores, rtol=1e-5, atol=1e-5)


def test_exit_now_flushes_and_keeps_the_exit_code(tmp_path: Path):
    """A torchrun worker leaves through exit_now (no interpreter teardown): what it printed and logged still
    arrives, and the exit code is the one asked for."""
    script = ("import logging, sys\n"
              "from gaussea.distributed.context import exit_now\n"
              f"logging.basicConfig(filename={str(tmp_path / 'log.txt')!r}, level=logging.INFO)\n"
              "logging.getLogger('x').info('logged line')\n"
              "print('printed line', end='')\n"
              "sys.stderr.write('stderr line')\n"
              "exit_now(3)\n"
              "print('never')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 3
    assert proc.stdout == "printed line" and proc.stderr == "stderr line"
    assert "logged line" in (tmp_path / "log.txt").read_text()
