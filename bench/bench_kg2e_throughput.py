"""Benchmark: relational training throughput (triples/s) of our Gaussian relational loss vs PyKEEN's KG2E.

Same data and settings on both sides: FB15K*-DB15K (both graphs' relational triples, 20 % split 0 for our
exchange strategy), dimension 100, batches of 2048 positive triples, 5 negatives per positive, margin ranking
loss (margin 1), Adam (lr 0.01), variances clamped to [0.5, 50], float32 on the CPU, the same torch thread
count. What is timed is the training step loop only (data loading and model construction are not):

- ``ours-stage1`` / ``ours-stage2``: ``build_model("gaussian", ...)`` with modalities ``("r",)``, driving
  ``model.loss("rel", idx, generator)`` + backward + Adam step + ``after_step`` exactly as
  ``Trainer.run_epoch`` does, on ``Trainer.batches("rel")``. Stage 1 has every variance fixed (the model then
  skips the variance gathers), stage 2 trains them — the setting comparable to KG2E, which always learns its
  covariances.
- ``pykeen``: ``pykeen.models.KG2E`` (``dist_similarity="KL"``, the same score
  ``-KL(N(mu_h - mu_t, S_h + S_t) || N(mu_r, S_r))``) in an ``SLCWATrainingLoop`` with the ``basic`` negative
  sampler (``num_negs_per_pos=5``; PyKEEN's default, unfiltered — ours filters known positives, which costs
  us extra), ``MarginRankingLoss(margin=1)``, Adam, ``batch_size=2048``.

Each timed *repeat* is one epoch over the same ``--triples`` positive triples (default 204,800 = 100 batches;
``--triples 0`` uses every triple): ours draws its first batches of ``Trainer.batches``, PyKEEN trains on a
fixed random subset of that size, so per-epoch overheads are in both. One untimed warm-up repeat precedes
``--repeats`` timed ones; the figure is the median. Every variant runs in a fresh child process (its own peak
RSS; PyKEEN is only imported there).

PyKEEN is a benchmark-only dependency. Install it in a *separate* venv so it cannot change the project's torch
or numpy (the pinned torch is the local CPU wheel; check that ``torch.__version__`` ends in ``+cpu``)::

    python3 -m venv /work/bench-venv
    /work/bench-venv/bin/pip install "torch==2.13.0" pykeen faiss-cpu   # or: pip install -e '.[bench]'
    /work/bench-venv/bin/pip install -e /work/main
    /work/bench-venv/bin/python bench/bench_kg2e_throughput.py --data-dir /work/shared/data/mmkg-standin

Without PyKEEN the ``pykeen`` variant is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed_common import last_json_line, load_average, peak_rss_mib, run_child  # noqa: E402

VARIANTS = ("ours-stage1", "ours-stage2", "ours-stage1-lazy", "ours-stage2-lazy", "pykeen")
DEFAULT_DATA_DIR = "/work/shared/data/mmkg-standin"
DIM, BATCH, NEGATIVES, MARGIN, LR, VAR_MIN, VAR_MAX = 100, 2048, 5, 1.0, 0.01, 0.5, 50.0


def _config(data_dir: str, threads: int, seed: int):
    from gaussea.config import RunConfig

    cfg = RunConfig()
    cfg.data.dataset, cfg.data.data_dir, cfg.data.ratio, cfg.data.split = "fb15k-db15k", data_dir, 0.2, 0
    cfg.model.modalities = ("r",)
    cfg.model.dim, cfg.model.negatives = DIM, NEGATIVES
    cfg.model.options = {"margin": MARGIN, "var_min": VAR_MIN, "var_max": VAR_MAX}
    cfg.train.batch_size, cfg.train.lr, cfg.train.threads, cfg.train.seed = BATCH, LR, threads, seed
    cfg.train.progress = False
    return cfg


def _optimiser(library_optimiser, model, lazy: bool):
    """The optimiser under comparison, over the parameter groups of the library's (``library_optimiser``):
    torch's dense Adam, like PyKEEN's, or, with ``lazy``, row-lazy Adam on every embedding table
    (gaussea.optim.LazyAdam). Built here because the library has one choice, lazy on the common-space table only
    (gaussea.training.optimisers): for the relational loss alone, dense Adam's updates through other code."""
    import torch

    from gaussea.models.tables import GaussianTable
    from gaussea.optim import LazyAdam, fused_adam_supported

    tables = {id(p) for m in model.modules() if isinstance(m, GaussianTable) for p in m.parameters()}
    groups = [list(group["params"]) for group in library_optimiser.param_groups]
    if lazy:
        return LazyAdam([{"params": ps, "lr": LR, "lazy": id(ps[0]) in tables} for ps in groups], lr=LR)
    fused = fused_adam_supported(p for ps in groups for p in ps)
    return torch.optim.Adam([{"params": ps, "lr": LR} for ps in groups], lr=LR, fused=fused or None)


def _inputs(cfg):
    from gaussea.models.inputs import AlignmentInputs
    from gaussea.runner import choose_split, load_pair

    pair = load_pair(cfg)
    return AlignmentInputs.build(pair, choose_split(cfg, pair))


def worker_ours(stage: int, data_dir: str, triples: int, repeats: int, threads: int, seed: int,
                lazy: bool = False) -> dict:
    """Time the relational step loop of ``Trainer.run_epoch`` on the first ``triples`` of each epoch.

    ``lazy`` (the ``-lazy`` variants) updates only the table rows a batch touched (gaussea.optim.LazyAdam);
    otherwise torch's dense Adam, like PyKEEN's (:func:`_optimiser`)."""
    import torch

    from gaussea.models import build_model
    from gaussea.train import Trainer

    torch.set_num_threads(threads)
    cfg = _config(data_dir, threads, seed)
    inputs = _inputs(cfg)
    model = build_model("gaussian", inputs, cfg.model, torch.Generator().manual_seed(seed))
    trainer = Trainer(model, cfg.train)
    model.set_stage(stage)
    model.train()
    opt = _optimiser(trainer.optimisers["rel"], model, lazy)
    generator = getattr(trainer, "sample_generator", trainer.generator)
    times, counts, losses = [], [], []
    for rep in range(repeats + 1):
        batches = trainer.batches("rel")
        if triples:
            keep, seen = [], 0
            for idx in batches:
                if seen >= triples:
                    break
                keep.append(idx)
                seen += len(idx)
            batches = keep
        total = 0.0
        t0 = time.perf_counter()
        for idx in batches:  # the body of Trainer.run_epoch for one loss
            opt.zero_grad(set_to_none=True)
            loss = model.loss("rel", idx, generator)
            loss.backward()
            opt.step()
            model.after_step("rel")
            total += float(loss.detach())
        seconds = time.perf_counter() - t0
        if rep:  # rep 0 is the warm-up
            times.append(seconds)
            counts.append(sum(len(b) for b in batches))
            losses.append(total / max(len(batches), 1))
    return {"positives_available": int(model.num_items("rel")), "times_s": times, "triples": counts,
            "mean_loss": losses}


def worker_pykeen(data_dir: str, triples: int, repeats: int, threads: int, seed: int) -> dict:
    """Time ``SLCWATrainingLoop.train`` epochs of PyKEEN's KG2E on the same triples and settings."""
    import torch

    torch.set_num_threads(threads)
    try:
        from importlib.metadata import version

        from pykeen.losses import MarginRankingLoss
        from pykeen.models import KG2E
        from pykeen.training import SLCWATrainingLoop
        from pykeen.triples import CoreTriplesFactory
    except ImportError as exc:
        return {"skipped": f"pykeen not importable here ({exc}); see the module docstring"}
    cfg = _config(data_dir, threads, seed)
    inputs = _inputs(cfg)
    mapped = inputs.triples
    if triples and triples < len(mapped):
        pick = torch.randperm(len(mapped), generator=torch.Generator().manual_seed(seed))[:triples]
        mapped = mapped[pick]
    factory = CoreTriplesFactory.create(mapped_triples=mapped, num_entities=inputs.num_entities,
                                        num_relations=inputs.num_relations)
    model = KG2E(triples_factory=factory, embedding_dim=DIM, dist_similarity="KL", c_min=VAR_MIN, c_max=VAR_MAX,
                 loss=MarginRankingLoss(margin=MARGIN), random_seed=seed)
    loop = SLCWATrainingLoop(model=model, triples_factory=factory, optimizer="adam", optimizer_kwargs={"lr": LR},
                             negative_sampler="basic", negative_sampler_kwargs={"num_negs_per_pos": NEGATIVES})
    times, counts, losses = [], [], []
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        # With continue_training, num_epochs counts the epochs in total: one more each call.
        out = loop.train(triples_factory=factory, num_epochs=rep + 1, batch_size=BATCH, use_tqdm=False,
                         use_tqdm_batch=False, continue_training=rep > 0, pin_memory=False, num_workers=0)
        seconds = time.perf_counter() - t0
        if rep:
            times.append(seconds)
            counts.append(int(len(mapped)))
            losses.append(float(out[-1]) if out else float("nan"))
    return {"pykeen": version("pykeen"), "times_s": times, "triples": counts, "mean_loss": losses}


def summarise(variant: str, raw: dict) -> dict:
    if "skipped" in raw:
        return {"variant": variant, **raw}
    rates = [n / t for n, t in zip(raw["triples"], raw["times_s"], strict=True)]
    return {"variant": variant, "median_triples_per_s": round(statistics.median(rates), 1),
            "triples_per_s": [round(r, 1) for r in rates], **raw}


def collect(data_dir: str = DEFAULT_DATA_DIR, *, triples: int = 204_800, repeats: int = 3, threads: int = 2,
            variants: tuple[str, ...] = VARIANTS, peer_python: str | None = None, seed: int = 0) -> dict:
    """Run every variant in a child process and return the results with the ratios ours / PyKEEN."""
    results = []
    load_before = load_average()
    for variant in variants:
        python = (peer_python or sys.executable) if variant == "pykeen" else sys.executable
        cmd = [python, __file__, "--worker", variant, "--data-dir", data_dir, "--triples", str(triples),
               "--repeats", str(repeats), "--threads", str(threads), "--seed", str(seed)]
        child = run_child(cmd, timeout=3600)
        if child["returncode"] != 0:
            raise RuntimeError(f"{variant} failed:\n{child['stderr'][-3000:]}")
        raw = last_json_line(child["stdout"])
        results.append({**summarise(variant, raw), "peak_rss_mib": round(child["peak_rss_mib"], 1),
                        "load_avg_after": load_average()})
        print(f"{variant}: {results[-1].get('median_triples_per_s', 'skipped')} triples/s", file=sys.stderr)
    by = {r["variant"]: r for r in results}
    ratios = {}
    peer = by.get("pykeen", {}).get("median_triples_per_s")
    for name in VARIANTS[:-1]:
        if peer and name in by:
            ratios[f"{name}/pykeen"] = round(by[name]["median_triples_per_s"] / peer, 3)
    return {
        "benchmark": "kg2e_throughput",
        "settings": {"dataset": "fb15k-db15k", "data_dir": data_dir, "dim": DIM, "batch_size": BATCH,
                     "negatives": NEGATIVES, "margin": MARGIN, "lr": LR, "var_range": [VAR_MIN, VAR_MAX],
                     "triples_per_repeat": triples, "repeats": repeats, "warmup_repeats": 1, "threads": threads,
                     "seed": seed},
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
        "results": results,
        "ratios": ratios,
        "target": "ours >= 2x PyKEEN KG2E triples/s at equal settings",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--triples", type=int, default=204_800, help="positives per timed repeat (0: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--peer-python", help="interpreter with PyKEEN installed (default: $GAUSSEA_BENCH_PYTHON or "
                                          "this one)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        if args.worker == "pykeen":
            raw = worker_pykeen(args.data_dir, args.triples, args.repeats, args.threads, args.seed)
        else:
            stage = 1 if args.worker.startswith("ours-stage1") else 2
            raw = worker_ours(stage, args.data_dir, args.triples, args.repeats, args.threads, args.seed,
                              lazy=args.worker.endswith("-lazy"))
        print(json.dumps({**raw, "worker_peak_rss_mib": round(peak_rss_mib(), 1)}))
        return 0
    from speed_common import emit_report, python_for_peers

    report = collect(args.data_dir, triples=args.triples, repeats=args.repeats, threads=args.threads,
                     variants=tuple(args.variants.split(",")), peer_python=args.peer_python or python_for_peers(),
                     seed=args.seed)
    emit_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
