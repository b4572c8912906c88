"""Benchmark: scaling over processes with torch.distributed (gloo on this CPU machine).

Parts (each writes ``bench/results/scaling/<part>_<date>.json`` with the command, date, git revision, machine,
python / torch versions and the load average before and after, since other work may share the CPU):

- ``train``: ``gaussea run`` on a synthetic pair with 1 process (1 and 2 threads) vs ``torchrun
  --nproc-per-node 2`` (1 thread per rank): seconds per epoch, test metrics, peak RSS per rank.
- ``e2e``: one end-to-end ``torchrun`` run on a ~100K-entity-per-side synthetic pair (generation, training,
  sharded evaluation, writing), with a training budget in epochs / seconds recorded in the JSON.
- ``retrieval``: sharded exact CSLS evaluation of ``n`` random test pairs (``n x n``), 1 vs 2 processes:
  seconds, peak RSS per rank, and whether the ranks equal the single-process ranks.
- ``approx``: faiss IVF / HNSW cosine retrieval for ``n`` targets: build and search seconds and recall@k
  against exact top-k on a sample of sources.

    python bench/bench_scaling.py train --seeds 0 1 2 --two-nodes
    python bench/bench_scaling.py e2e --num-entities 117650 --stage1-epochs 1 --stage2-epochs 0 \
        --batch-size 16384 --entity-batch-size 2048
    python bench/bench_scaling.py retrieval --n 100000
    python bench/bench_scaling.py approx --n 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gaussea.metrics_layout import split_results
from gaussea.run_files import RunDirectory

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_DIR = HERE / "results" / "scaling"


# ------------------------------------------------------------------------------------------------- helpers


def _provenance() -> dict:
    from gaussea.provenance import provenance

    return provenance([sys.executable, *sys.argv])


def _write(part: str, result: dict) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{part}_{time.strftime('%Y-%m-%d')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_command(nproc: int, threads: int, out: Path, run_args: list[str]) -> tuple[list[str], float]:
    """``gaussea run`` in 1 process, or under torchrun with ``nproc`` ranks; returns (command, wall seconds)."""
    if nproc == 1:
        cmd = [sys.executable, "-m", "gaussea", "run"]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               "-m", "gaussea", "run"]
    cmd += ["--out", str(out), "--no-progress", "--threads", str(threads), *run_args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-4000:]}")
    return cmd, wall


def _run_two_nodes(threads: int, out: Path, run_args: list[str]) -> tuple[list[str], float]:
    """torchrun's multi-node launch (``--nnodes 2 --node-rank i``, static rendezvous at 127.0.0.1), one process
    per "node", both on this machine: the commands a two-machine user runs, on loopback. Returns node 0's
    command and the wall seconds until both nodes finished."""
    from gaussea.distributed import free_port

    port = str(free_port())
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmds, procs = [], []
    t0 = time.perf_counter()
    for node in range(2):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank", str(node),
               "--nproc-per-node", "1", "--master-addr", "127.0.0.1", "--master-port", port,
               "-m", "gaussea", "run", "--out", str(out if node == 0 else out.with_name(out.name + "-node1")),
               "--no-progress", "--threads", str(threads), *run_args]
        cmds.append(cmd)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                      cwd=ROOT))
    errors = [p.communicate()[1] for p in procs]
    wall = time.perf_counter() - t0
    for cmd, p, err in zip(cmds, procs, errors, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-4000:]}")
    return cmds[0], wall


def _summarise_run(run_dir: Path, wall: float) -> dict:
    files = RunDirectory(run_dir)
    metrics = files.read_metrics()
    log = files.read_train_log()
    seconds = sorted(r["seconds"] for r in log)
    per_rank = metrics.get("distributed", {}).get("peak_rss_mib_per_rank", [metrics["peak_rss_mib"]])
    return {
        "epochs": len(log),
        "epoch_seconds_median": round(seconds[len(seconds) // 2], 3) if seconds else None,
        "epoch_seconds_by_stage": {str(s): round(sum(r["seconds"] for r in log if r["stage"] == s)
                                                 / max(1, sum(r["stage"] == s for r in log)), 3)
                                   for s in sorted({r["stage"] for r in log})},
        "train_seconds": round(metrics["train_seconds"], 2),
        "eval_seconds": round(metrics["eval_seconds"], 2),
        "total_seconds": round(metrics["total_seconds"], 2),
        "wall_seconds_with_startup": round(wall, 2),
        "peak_rss_mib_per_rank": [round(x, 1) for x in per_rank],
        "budget_exhausted": metrics["budget_exhausted"],
        "test": {mode: {k: round(v, 4) for k, v in m.items() if k in ("hits@1", "hits@10", "mrr", "mr")}
                 | {"num_queries": m["num_queries"], "num_candidates": m["num_candidates"]}
                 for mode, m in split_results(metrics).items()},
        "dataset": files.read_dataset()["stats"]["sides"],
    }


# ------------------------------------------------------------------------------------------------ training


def part_train(args: argparse.Namespace) -> dict:
    """1 process (1 and 2 threads) vs 2 processes x 1 thread, same config and seeds."""
    options = json.dumps({"num_entities": args.num_entities})
    run_args = ["--set", f"data.options={options}", "--stage1-epochs", str(args.stage1_epochs),
                "--stage2-epochs", str(args.stage2_epochs)]
    rows = []
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        for seed in args.seeds:
            for nproc, threads, nodes in ((1, 1, 1), (1, 2, 1), (2, 1, 1), (2, 1, 2))[: 4 if args.two_nodes else 3]:
                out = Path(tmp) / f"s{seed}-p{nproc}-t{threads}-n{nodes}"
                # each repeat is another split and training seed: the spread over repeats is the noise that a
                # 1-vs-2-process difference must stay within
                seeded = [*run_args, "--seed", str(seed), "--set", f"data.split={seed}"]
                cmd, wall = (_run_two_nodes(threads, out, seeded) if nodes == 2
                             else _run_command(nproc, threads, out, seeded))
                row = {"processes": nproc, "threads_per_process": threads, "nodes": nodes, "seed": seed,
                       "command": " ".join(cmd[1:]), "load_avg_after": _load(), **_summarise_run(out, wall)}
                rows.append(row)
                print(json.dumps({k: row[k] for k in ("processes", "threads_per_process", "nodes", "seed",
                                                      "epoch_seconds_median", "test")}))
    return {"part": "train", "num_entities_world": args.num_entities, "load_avg_before": load_before,
            "runs": rows, "provenance": _provenance()}


def part_e2e(args: argparse.Namespace) -> dict:
    """One torchrun run end to end on a large synthetic pair, with a training budget."""
    options = json.dumps({"num_entities": args.num_entities})
    run_args = ["--set", f"data.options={options}", "--stage1-epochs", str(args.stage1_epochs),
                "--stage2-epochs", str(args.stage2_epochs)]
    run_args += ["--set", f"train.batch_size={args.batch_size}", "--set",
                 f"model.options.entity_batch_size={args.entity_batch_size}"]
    if args.max_seconds:
        run_args += ["--set", f"train.max_seconds={args.max_seconds}"]
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        out = Path(tmp) / "run"
        cmd, wall = _run_command(args.nproc, 1, out, run_args)
        summary = _summarise_run(out, wall)
    return {"part": "e2e", "processes": args.nproc, "threads_per_process": 1,
            "num_entities_world": args.num_entities, "command": " ".join(cmd[1:]),
            "budget": {"stage1_epochs": args.stage1_epochs, "stage2_epochs": args.stage2_epochs,
                       "max_seconds": args.max_seconds, "batch_size": args.batch_size,
                       "entity_batch_size": args.entity_batch_size,
                       "why": "a full 40+20-epoch run at this size takes days on 2 cores: gradients are dense, "
                              "so a step costs O(entities) and an epoch O(entities^2) (an epoch at the default "
                              "batch sizes would take ~1 h here); max_seconds is only checked between epochs, so "
                              "the budget is one epoch with 8x the default batch sizes. Evaluation runs in full "
                              "(test and all modes + per-space diagnostics)"},
            "load_avg_before": load_before, "load_avg_after": _load(), **summary, "provenance": _provenance()}


# ----------------------------------------------------------------------------------------------- retrieval


def _pairs_data(n: int, d: int, seed: int = 0, clusters: int = 0):
    """Unit vectors and noisy copies (bench_csls.py's setting): gold cosine near the top of the random ones.

    ``clusters > 0`` draws the sources around that many random centres (within-cluster cosine ~0.5), closer to
    trained embeddings (entity types) than isotropic noise, which is the worst case for approximate search.
    """
    import torch

    gold_cos = min((2 * math.log(n) / d) ** 0.5, 0.99)
    noise = (1 / gold_cos**2 - 1) ** 0.5
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    if clusters:
        centres = torch.nn.functional.normalize(torch.randn(clusters, d, generator=g), dim=1)
        x = centres[torch.randint(clusters, (n,), generator=g)] + x / d**0.5
    x = torch.nn.functional.normalize(x, dim=1)
    y = torch.nn.functional.normalize(x + torch.randn(n, d, generator=g) * (noise / d**0.5), dim=1)
    return x, y


def _retrieval_worker(context, n: int, d: int, mode: str) -> dict:
    import torch

    from gaussea.distributed.retrieval import sharded_alignment_ranks
    from gaussea.evaluate import Embeddings, alignment_ranks, rank_metrics

    rss_start = _peak_rss_mib()
    x, y = _pairs_data(n, d)
    pairs = torch.arange(n).unsqueeze(1).expand(-1, 2)
    t0 = time.perf_counter()
    if context.world_size == 1:
        ranks, _ = alignment_ranks(Embeddings(x), Embeddings(y), pairs, mode=mode, csls_k=10)
    else:
        ranks, _ = sharded_alignment_ranks(context, Embeddings(x), Embeddings(y), pairs, mode=mode, csls_k=10)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_rss_mib": _peak_rss_mib(), "rss_after_imports_mib": rss_start,
            "metrics": rank_metrics(ranks, (1, 10)), "ranks": ranks if context.rank == 0 else None}


def part_retrieval(args: argparse.Namespace) -> dict:
    from gaussea.distributed import run_local

    rows = []
    load_before = _load()
    for n in args.n:
        reference = None
        for world, threads in ((1, 2), (2, 1)):
            results = run_local(_retrieval_worker, world, n, args.d, "test", threads=threads, timeout_s=7200)
            ranks = results[0]["ranks"]
            if reference is None:
                reference = ranks
            differing = int((ranks != reference).sum())
            row = {"n": n, "d": args.d, "csls_k": 10, "mode": "test", "processes": world,
                   "threads_per_process": threads, "seconds": round(max(r["seconds"] for r in results), 2),
                   "peak_rss_mib_per_rank": [round(r["peak_rss_mib"], 1) for r in results],
                   "rss_after_imports_mib": [round(r["rss_after_imports_mib"], 1) for r in results],
                   "metrics": {k: round(v, 5) for k, v in results[0]["metrics"].items()},
                   "ranks_differing_from_1_process": differing, "load_avg_after": _load()}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "metrics"}))
    return {"part": "retrieval", "load_avg_before": load_before, "runs": rows,
            "note": "1 process uses 2 threads, 2 processes 1 thread each (both use the 2 cores); the ranks equal "
                    "the single-process ranks exactly when the thread counts match "
                    "(tests/training/test_distributed.py), "
                    "MKL's kernels depend on the thread count",
            "provenance": _provenance()}


def part_approx(args: argparse.Namespace) -> dict:
    import torch

    from gaussea.distributed.approx import ApproximateIndex, recall_at_k
    from gaussea.evaluate import Embeddings, top_k

    torch.set_num_threads(2)
    rows = []
    load_before = _load()
    k = args.k
    for data, n in [(data, n) for data in args.data for n in args.n]:
        x, y = _pairs_data(n, args.d, clusters=args.clusters if data == "clustered" else 0)
        g = torch.Generator().manual_seed(1)
        sample = torch.randperm(n, generator=g)[:args.sample].sort().values
        t0 = time.perf_counter()
        _, exact = top_k(Embeddings(x), Embeddings(y), sample, k, csls_k=None)
        exact_seconds = time.perf_counter() - t0
        kinds = [("ivf", args.nprobe)] + ([("hnsw", args.ef_search)] if n <= args.hnsw_max_n else [])
        for kind, efforts in kinds:
            t0 = time.perf_counter()
            index = ApproximateIndex(Embeddings(y), kind=kind)
            build = time.perf_counter() - t0
            for effort in efforts:
                index.set_effort(effort)
                t0 = time.perf_counter()
                _, ids = index.search(Embeddings(x[sample]), k)
                search = time.perf_counter() - t0
                row = {"data": data, "n_targets": n, "d": args.d, "kind": kind,
                       "nlist": index.nlist if kind == "ivf" else None,
                       "effort": effort, "effort_name": "nprobe" if kind == "ivf" else "efSearch",
                       "sample_queries": len(sample), "k": k, f"recall@{k}": round(recall_at_k(ids, exact), 4),
                       "gold_in_top1_approx": round(float((ids[:, 0] == sample).double().mean()), 4),
                       "gold_in_top1_exact": round(float((exact[:, 0] == sample).double().mean()), 4),
                       "build_seconds": round(build, 2), "search_seconds": round(search, 3),
                       "exact_seconds_for_sample": round(exact_seconds, 2),
                       "peak_rss_mib": round(_peak_rss_mib(), 1), "load_avg_after": _load()}
                rows.append(row)
                print(json.dumps(row))
            del index
        del x, y
    return {"part": "approx", "similarity": "cosine (inner product of unit means), no CSLS",
            "data": {"random": "isotropic unit vectors, targets = noisy copies (no structure: hardest case)",
                     "clustered": f"sources around {args.clusters} random centres, targets = noisy copies"},
            "load_avg_before": load_before, "runs": rows, "provenance": _provenance()}


# ------------------------------------------------------------------------------------------------------ CLI


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="part", required=True)
    s = sub.add_parser("train")
    s.add_argument("--num-entities", type=int, default=2000, help="world entities of the synthetic pair")
    s.add_argument("--stage1-epochs", type=int, default=40)
    s.add_argument("--stage2-epochs", type=int, default=20)
    s.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds; seed i also uses split i")
    s.add_argument("--two-nodes", action="store_true",
                   help="add 2 processes launched as 2 torchrun nodes (multi-node rendezvous on loopback)")
    s = sub.add_parser("e2e")
    s.add_argument("--num-entities", type=int, default=117_650, help="world entities (x0.85 per side)")
    s.add_argument("--nproc", type=int, default=2)
    s.add_argument("--stage1-epochs", type=int, default=1)
    s.add_argument("--stage2-epochs", type=int, default=0)
    s.add_argument("--max-seconds", type=float, default=None, help="training budget (checked after each epoch)")
    s.add_argument("--batch-size", type=int, default=16384, help="triples per step (default config: 2048)")
    s.add_argument("--entity-batch-size", type=int, default=2048, help="entities per step (default config: 256)")
    s = sub.add_parser("retrieval")
    s.add_argument("--n", type=int, nargs="+", default=[100_000])
    s.add_argument("--d", type=int, default=100)
    s = sub.add_parser("approx")
    s.add_argument("--n", type=int, nargs="+", default=[100_000, 1_000_000])
    s.add_argument("--d", type=int, default=100)
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--sample", type=int, default=1000, help="sources whose exact top-k is computed")
    s.add_argument("--data", nargs="+", choices=["random", "clustered"], default=["random", "clustered"])
    s.add_argument("--clusters", type=int, default=1000)
    s.add_argument("--nprobe", type=int, nargs="+", default=[8, 32, 128, 512])
    s.add_argument("--ef-search", type=int, nargs="+", default=[64, 256, 1024])
    s.add_argument("--hnsw-max-n", type=int, default=200_000, help="skip HNSW above this size (slow build)")
    args = p.parse_args()
    part = {"train": part_train, "e2e": part_e2e, "retrieval": part_retrieval, "approx": part_approx}[args.part]
    _write(args.part, part(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
