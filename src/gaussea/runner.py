"""One run, end to end: data -> split -> model -> training -> evaluation -> run directory.

The run directory is the unit of reproducibility (names and formats: :class:`~gaussea.run_files.RunDirectory`).
It holds:

- ``config.json``: the resolved configuration (every default written out);
- ``dataset.json``: dataset statistics, the load report and provenance such as the synthetic generator's
  parameters;
- ``split/``: the exact train / valid / test links (names, OpenEA layout), so anyone can rerun the split;
- ``checkpoint.pt`` (+ ``.sha256``) and ``train_log.jsonl``: resumable training state and per-epoch losses;
  the checkpoint (optimiser state included, several times the model's size) is removed once the run has
  finished, unless ``keep_checkpoint`` (``--keep-checkpoint``), since only resuming needs it;
- ``model.pt`` (+ ``.sha256``): the final weights, which everything that reads a finished run loads;
- ``metrics.json``: test metrics per candidate mode (``metrics["test"]["test_candidates"]``, layout:
  :mod:`gaussea.metrics_layout`), labelled, with provenance (command, revision, machine);
- ``ranks.npz``: the rank of every test link per candidate mode, which the metrics summarise (``report`` draws
  its Hits@k curve from them); a decoder that ranks nothing (Hungarian) writes none;
- ``embeddings.npz``: common-space means and variances per side with entity names (no pickle);
- ``variances.npz``: per-entity mean variance of every space (common, relational, visual, numerical);
- ``corruption.npz``: where corruption was planted (synthetic data, ``data.corrupt``), which entities' image /
  numbers are wrong, so ``explain`` needs not rebuild the data to compare their variances.

Every file is written atomically; every path is a fixed name inside the run directory. Under torchrun
(``distributed``) every rank trains and evaluates its shard, and only rank 0 writes.

While a run lasts its directory is locked (``running.lock``); a run that fails before training starts leaves
the directory as it found it, and ``overwrite`` puts the previous run back in that case (:mod:`gaussea.rundir`).

Training runs on ``train.device`` (checked before anything is written); embeddings are brought to the CPU for
evaluation and for the files, so a CUDA-trained model is scored by the same code as a CPU-trained one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from gaussea.checkpoint import CheckpointError, remove_checkpoint
from gaussea.config import SINKHORN_TAU_GRID, RunConfig
from gaussea.corruption_variance import planted_masks, variance_by_corruption
from gaussea.data.checks import check_before_training, data_notices
from gaussea.data.corrupt import CorruptionSpec, corrupt_pair
from gaussea.data.kgpair import KGPair, Split
from gaussea.data.registry import default_registry
from gaussea.data.report import DataError
from gaussea.data.splits import load_split, make_split
from gaussea.evaluate import Embeddings, EvalSettings, ranked_evaluation
from gaussea.loggers import LoggerGroup, build_loggers
from gaussea.metrics_layout import by_candidates_key, candidate_result
from gaussea.models import build_model, check_model_config, model_builders
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.provenance import peak_rss_mib, provenance
from gaussea.run_files import RunDirectory
from gaussea.rundir import RunDirectoryClaim
from gaussea.train import (
    DEVICE_SETTING,
    Trainer,
    TrainState,
    load_final_weights,
    resolve_device,
    with_model_epochs,
)

if TYPE_CHECKING:
    from gaussea.distributed.context import DistContext

T = TypeVar("T")
#: Scores test links under one :class:`EvalSettings`: ``(metrics, ranks or None)``. :func:`ranked_evaluation`, or
#: under torchrun its sharded twin (same arguments, same result).
Evaluator = Callable[[Embeddings, Embeddings, np.ndarray, EvalSettings], "tuple[dict, torch.Tensor | None]"]
NO_GIVEN_SPLIT = "none"  # data.given_split value: draw a random split even where the dataset ships one


@dataclass
class RunResult:
    """What :func:`run` returns: the run directory, the metrics and the trained model."""

    run_dir: Path
    metrics: dict
    model: AlignmentModel
    pair: KGPair
    split: Split

    def __repr__(self) -> str:
        test = candidate_result(self.metrics)
        return f"RunResult({self.run_dir}, test H@1={test.get('hits@1')}, MRR={test.get('mrr')})"


def load_pair(cfg: RunConfig) -> KGPair:
    """The run's data: the dataset as loaded, then ``data.corrupt`` applied (:mod:`gaussea.data.corrupt`).

    Every reader of a run (training, :func:`load_run_model`, ``reproduce``) comes through here, so all of them see
    the same corrupted data, rebuilt deterministically from the configuration; the corruption seed defaults to 0,
    the same for every split. The setting is checked before the dataset is read, so a typo costs no loading time.
    """
    spec = CorruptionSpec.from_setting(cfg.data.corrupt)
    pair = default_registry().load(cfg.data.dataset, cfg.data.data_dir, strict=cfg.data.strict,
                                   **cfg.data.options)
    return pair if spec is None else corrupt_pair(pair, spec)


def choose_split(cfg: RunConfig, pair: KGPair) -> Split:
    """The split a run uses: ``split_dir``, else the given split named (``"none"``: none), else the dataset's
    :attr:`~gaussea.data.kgpair.KGPair.default_split` (marked ``used_by_default``), else a random split."""
    d = cfg.data
    if d.split_dir:
        return load_split(Path(d.split_dir), pair)
    if d.given_split is None and pair.default_split:
        split = pair.given_splits[pair.default_split]
        return replace(split, description={**split.description, "used_by_default": True})
    if d.given_split and d.given_split != NO_GIVEN_SPLIT:
        if d.given_split not in pair.given_splits:
            known = ", ".join(pair.given_splits) or "none"
            raise DataError(f"dataset {pair.name} has no given split {d.given_split!r} (given: {known})")
        return pair.given_splits[d.given_split]
    return make_split(pair.links, d.ratio, index=d.split, valid_ratio=d.valid_ratio)


@dataclass
class TestEvaluation:
    """A model scored on the test links: the result per candidate mode, and the ranks behind each (modes whose
    decoder ranks: all but the Hungarian assignment)."""

    metrics: dict[str, dict]
    ranks: dict[str, np.ndarray]


def evaluate_test(model: AlignmentModel, links: np.ndarray, cfg: RunConfig, *,
                  evaluate: Evaluator = ranked_evaluation) -> TestEvaluation:
    """``model`` scored on ``links`` for every candidate mode in the config (left -> right)."""
    left, right = _on_cpu(model.entity_embeddings())
    out = TestEvaluation({}, {})
    for mode in cfg.eval.modes:
        out.metrics[mode], ranks = evaluate(left, right, links, EvalSettings.from_config(cfg.eval, mode))
        if ranks is not None:
            out.ranks[mode] = ranks.numpy()
    return out


def evaluate_model(model: AlignmentModel, links: np.ndarray, cfg: RunConfig, *,
                   evaluate: Evaluator = ranked_evaluation) -> dict:
    """Metrics of ``model`` on ``links`` for every candidate mode in the config, ``{mode: result}``."""
    return evaluate_test(model, links, cfg, evaluate=evaluate).metrics


def with_sinkhorn_tau_from_valid(model: AlignmentModel, split: Split, cfg: RunConfig, *,
                                 evaluate: Evaluator = ranked_evaluation) -> tuple[RunConfig, dict | None]:
    """``cfg`` with a null ``eval.sinkhorn_tau`` chosen on the validation links, and the record of the choice.

    The temperature that maximises valid x valid H@1 with the Sinkhorn decoder among ``SINKHORN_TAU_GRID`` (ties:
    the lower); test links are not read. Any other configuration is returned as it is, with no record.
    """
    if cfg.eval.decoder != "sinkhorn" or cfg.eval.sinkhorn_tau is not None:
        return cfg, None
    check_sinkhorn_validation(cfg, split)
    left, right = _on_cpu(model.entity_embeddings())
    scores = {}
    for tau in SINKHORN_TAU_GRID:
        settings = EvalSettings.from_config(cfg.eval, "test", sinkhorn_tau=tau)
        scores[tau] = evaluate(left, right, split.valid, settings)[0]["hits@1"]
    best = max(SINKHORN_TAU_GRID, key=lambda tau: (scores[tau], -tau))
    record = {"chosen": best, "valid_hits@1": {str(tau): h1 for tau, h1 in scores.items()},
              "valid_links": len(split.valid)}
    return replace(cfg, eval=replace(cfg.eval, sinkhorn_tau=best)), record


def check_sinkhorn_validation(cfg: RunConfig, split: Split) -> None:
    """A temperature to be chosen on validation links needs some: refused before training otherwise."""
    if cfg.eval.decoder == "sinkhorn" and cfg.eval.sinkhorn_tau is None and not len(split.valid):
        raise ValueError("eval.sinkhorn_tau=null chooses Sinkhorn's temperature on the validation links, and the run "
                         "has none: set data.valid_ratio (e.g. --valid-ratio 0.1) or a temperature")


def per_space_metrics(model: AlignmentModel, links: np.ndarray, cfg: RunConfig, *,
                      evaluate: Evaluator = ranked_evaluation) -> dict:
    """Diagnostics: how well each modality space alone aligns (test candidates, cosine + CSLS).

    Reported next to the main figures, never used to choose anything.
    """
    settings = EvalSettings.from_config(cfg.eval, "test", similarity="cosine", decoder="csls")
    out = {}
    for space, pair in model.space_embeddings().items():
        left, right = _on_cpu(pair)
        m, _ranks = evaluate(left, right, links, settings)
        out[space] = {k: m[k] for k in ("hits@1", "hits@10", "mrr")}
    return out


def validation_settings(cfg: RunConfig) -> EvalSettings:
    """What early stopping scores the validation links with: test candidates and the per-query decoder (joint
    decoding is a test-time choice), with the run's similarity, CSLS k, Hits@k and chunk size."""
    return EvalSettings.from_config(cfg.eval, "test", decoder="csls")


def _on_cpu(pair: tuple[Embeddings, Embeddings]) -> tuple[Embeddings, Embeddings]:
    """A model's left / right embeddings, detached on the CPU (models return them on their training device)."""
    left, right = pair
    return left.cpu(), right.cpu()


def variances_by_side(model: AlignmentModel, pair: KGPair) -> dict[str, dict[str, np.ndarray]]:
    """The model's per-entity mean variance of every space, ``{side: {space: values}}``; empty sides for a model
    without variances."""
    n1 = pair.left.num_entities
    report = model.variance_report()
    return {"left": {space: v[:n1] for space, v in report.items()},
            "right": {space: v[n1:] for space, v in report.items()}}


def corruption_variance_summary(model: AlignmentModel, pair: KGPair) -> dict | None:
    """Where corruption was planted (synthetic data, ``data.corrupt``): learned modal variance of corrupted vs
    clean entities (the paper's claim; :func:`~gaussea.corruption_variance.variance_by_corruption`)."""
    masks = planted_masks(pair)
    return variance_by_corruption(variances_by_side(model, pair), masks) if masks else None


def write_embeddings(run_dir: RunDirectory, model: AlignmentModel, pair: KGPair) -> None:
    """``embeddings.npz`` (common-space Gaussians with entity names) and, for a model with variances,
    ``variances.npz``."""
    left, right = _on_cpu(model.entity_embeddings())
    sides = {"left": left, "right": right}
    run_dir.write_embeddings({"left": pair.left.entities.names, "right": pair.right.entities.names},
                             {side: emb.mean.cpu().numpy() for side, emb in sides.items()},
                             {side: None if emb.var is None else emb.var.cpu().numpy() for side, emb in sides.items()})
    variances = variances_by_side(model, pair)
    if variances["left"]:
        run_dir.write_variances(variances)


def prepare_run_dir(run_dir: Path, cfg: RunConfig, resume: bool, overwrite: bool) -> RunConfig:
    """Create the run directory, or reuse it on ``resume`` (the saved config then wins).

    Without ``resume`` or ``overwrite`` a directory that holds a run is refused: a finished one (``metrics.json``),
    so that results are never replaced by accident, and an interrupted one (``checkpoint.pt``), so that nobody
    loses its training by accident. (``make run`` passes ``--overwrite``: the quick start's directory is scratch.)
    Under ``overwrite`` the previous run was already moved aside when the directory was claimed
    (:class:`~gaussea.rundir.RunDirectoryClaim`); with ``resume`` as well, ``resume`` wins.
    """
    files = RunDirectory(run_dir)
    if resume and run_dir.exists():
        for stale in run_dir.rglob(".*.tmp"):  # left by a kill during an atomic write
            stale.unlink(missing_ok=True)
    if not (resume or overwrite):
        if files.is_finished():
            raise FileExistsError(f"{run_dir} holds a finished run ({files.METRICS}); pass --overwrite to replace "
                                  "it, --resume to re-evaluate it, or choose another --out")
        if files.checkpoint_path.exists():
            raise FileExistsError(f"{run_dir} holds an unfinished run ({files.CHECKPOINT}); pass --resume to "
                                  "continue it or --overwrite to discard it")
    saved = files.read_config(missing_ok=True) if resume else None
    if saved is not None:
        return RunConfig.from_dict(saved)
    run_dir.mkdir(parents=True, exist_ok=True)
    files.write_config(cfg.to_dict())
    return cfg


def run_device(device: str, distributed: DistContext | None = None) -> torch.device:
    """Where this process trains: ``train.device`` checked (``ValueError`` naming it), or under torchrun the
    rank's own device (``cuda:LOCAL_RANK`` for a CUDA run, whatever index ``train.device`` names)."""
    resolved = resolve_device(device)
    if distributed is None:
        return resolved
    if resolved.type != distributed.device.type:
        raise ValueError(f"{DEVICE_SETTING}={device!r} but the process group was set up for "
                         f"{distributed.device.type} (start it with the same device)")
    return distributed.device


def _on_main(distributed: DistContext | None, fn: Callable[[], T]) -> T:
    """``fn()`` here, or (distributed) on rank 0 only with its result or error handed to every rank."""
    return fn() if distributed is None else distributed.main_only(fn)


def run(cfg: RunConfig | None = None, run_dir: str | Path = "runs/default", *, resume: bool = False,
        overwrite: bool = False, keep_checkpoint: bool = False, distributed: DistContext | None = None,
        notify: Callable[[str], None] | None = None) -> RunResult:
    """Train and evaluate one model; the Python twin of ``gaussea run``.

    ``run_dir`` is locked while the run lasts: another run pointed at it stops with
    :class:`~gaussea.runlock.RunDirectoryBusy` naming the process that holds it. A directory that already holds a
    run needs ``resume`` (continue an interrupted run; re-evaluate a finished one) or ``overwrite`` (replace it).
    A run that fails before training starts leaves the directory as it found it. After a successful run the
    resumable checkpoint is removed and ``model.pt`` stays, unless ``keep_checkpoint``.

    ``distributed`` (set by the CLI under torchrun): every rank calls this with the same arguments; they train
    one model with DDP and evaluate it sharded, and only rank 0 writes the run directory.
    ``notify`` receives, before training, the lines of :func:`~gaussea.data.checks.data_notices` (the CLI
    prints them on stderr); data that cannot train a model raises :class:`DataError` before the model is built.
    """
    cfg = RunConfig.from_dict((cfg or RunConfig()).to_dict())  # checked again: fields may be set after construction
    if not resume:
        check_model_config(cfg.model_name, cfg.model)  # like a bad device: refused before loading or writing
    run_dir = Path(run_dir).resolve()
    main = distributed is None or distributed.is_main
    claim = RunDirectoryClaim(run_dir, overwrite=overwrite and not resume)
    _on_main(distributed, claim.acquire)
    try:
        result = _run_claimed(cfg, run_dir, claim, resume=resume, overwrite=overwrite,
                              keep_checkpoint=keep_checkpoint, distributed=distributed, notify=notify)
    except BaseException:
        if main:
            claim.release(failed=True)
        raise
    if main:
        claim.release()
    return result


def check_bootstrapping(cfg: RunConfig) -> None:
    """``train.iterative_rounds`` needs a model that takes new pairs: refused before anything is written."""
    builders = model_builders()
    if cfg.train.iterative_rounds and not builders[cfg.model_name].supports_bootstrapping:
        takers = sorted(name for name, cls in builders.items() if cls.supports_bootstrapping)
        raise ValueError(f"train.iterative_rounds={cfg.train.iterative_rounds}: the {cfg.model_name} model cannot "
                         f"take bootstrapped pairs (models that can: {', '.join(takers)}; propagation has its own "
                         f"model.options.iterative_rounds)")


def is_iterative(model: torch.nn.Module, cfg: RunConfig) -> bool:
    """Whether the run's results come from pairs the model proposed itself (kept apart in every table)."""
    return bool(getattr(model, "iterative", False)) or cfg.train.iterative_rounds > 0


def _run_claimed(cfg: RunConfig | None, run_dir: Path, claim: RunDirectoryClaim, *, resume: bool, overwrite: bool,
                 keep_checkpoint: bool, distributed: DistContext | None,
                 notify: Callable[[str], None] | None) -> RunResult:
    """The body of :func:`run`, in the directory ``claim`` holds."""
    cfg = cfg or RunConfig()
    t_start = time.perf_counter()
    if not resume:
        run_device(cfg.train.device, distributed)  # a bad device fails here, before anything is written
        # Null epochs become the model's defaults, saved resolved (a resumed run keeps its own).
        cfg = replace(cfg, train=with_model_epochs(cfg.train, model_builders()[cfg.model_name]))
        check_bootstrapping(cfg)
    cfg = _on_main(distributed, partial(prepare_run_dir, run_dir, cfg, resume, overwrite))
    if cfg.train.threads:  # the run's (on --resume the saved) count, set before anything computes or is recorded
        torch.set_num_threads(cfg.train.threads)
    started = provenance()  # before training: the code that runs is the code of this revision
    files = RunDirectory(run_dir)
    try:
        device = run_device(cfg.train.device, distributed)
    except ValueError as exc:
        if not resume:
            raise
        raise ValueError(f"{files.config_path}: {exc} (a resumed run keeps its saved "
                         f"configuration: edit {DEVICE_SETTING} there to continue on another device)") from None
    main = distributed is None or distributed.is_main
    evaluate = _evaluator(distributed)
    torch.manual_seed(cfg.train.seed)
    pair, split = _load_checked_data(cfg, files, main, notify)
    inputs = AlignmentInputs.build(pair, split)
    generator = torch.Generator().manual_seed(cfg.train.seed)
    model = build_model(cfg.model_name, inputs, cfg.model, generator, device=device)

    validate = None
    if len(split.valid) and cfg.train.eval_every:
        def validate() -> float:
            left, right = _on_cpu(model.entity_embeddings())
            return evaluate(left, right, split.valid, validation_settings(cfg))[0]["mrr"]

    loggers = LoggerGroup(build_loggers(cfg.train.loggers, run_dir, cfg.to_dict()) if main else [])
    trainer = Trainer(model, cfg.train, run_dir, validate=validate, loggers=[loggers], distributed=distributed,
                      device=device)
    claim.training_started()  # from here on a failure keeps the run directory, for --resume
    t_train = time.perf_counter()
    try:
        state = trainer.fit(resume=resume)
    finally:
        loggers.close()
    train_seconds = time.perf_counter() - t_train
    model.eval()
    t_eval = time.perf_counter()
    with torch.no_grad():
        cfg, tau_choice = with_sinkhorn_tau_from_valid(model, split, cfg, evaluate=evaluate)
        tested = evaluate_test(model, split.test, cfg, evaluate=evaluate)
    timings = {"train_seconds": train_seconds, "eval_seconds": time.perf_counter() - t_eval,
               "total_seconds": time.perf_counter() - t_start}
    metrics = _run_metrics(cfg, pair, split, model, state, tested, tau_choice, timings, started)
    with torch.no_grad():
        metrics["per_space_test"] = per_space_metrics(model, split.test, cfg, evaluate=evaluate)
    summary = corruption_variance_summary(model, pair)
    if summary:
        metrics["variance_by_corruption"] = summary
    if distributed is not None:
        metrics["distributed"] = {**distributed.describe(),
                                  "peak_rss_mib_per_rank": distributed.all_gather_object(peak_rss_mib())}
    _on_main(distributed, partial(_write_outputs, files, model, pair, tested, metrics, keep_checkpoint))
    return RunResult(run_dir, metrics, model, pair, split)


def _evaluator(distributed: DistContext | None) -> Evaluator:
    """One process ranks alone; under torchrun every rank ranks its shard of the queries."""
    if distributed is None:
        return ranked_evaluation
    from gaussea.distributed.retrieval import sharded_ranked_evaluation

    return partial(sharded_ranked_evaluation, distributed)


def _load_checked_data(cfg: RunConfig, files: RunDirectory, main: bool,
                       notify: Callable[[str], None] | None) -> tuple[KGPair, Split]:
    """The run's data and split, checked before any training; the main process records both in the run."""
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    check_before_training(pair, split, cfg.model.modalities)
    check_sinkhorn_validation(cfg, split)
    if main and notify is not None:
        for line in data_notices(pair, split, cfg.model.modalities, dataset=cfg.data.dataset,
                                 data_dir=cfg.data.data_dir):
            notify(line)
    if main:
        files.write_split(split, pair)
        files.write_dataset(pair.stats(), _jsonable_meta(pair.meta))
    return pair, split


def _run_metrics(cfg: RunConfig, pair: KGPair, split: Split, model: AlignmentModel, state: TrainState,
                 tested: TestEvaluation, tau_choice: dict | None, timings: dict[str, float],
                 started: dict) -> dict[str, Any]:
    """What ``metrics.json`` says about a finished run (per-space figures and diagnostics are added after)."""
    return {
        "model": cfg.model_name,
        "dataset": cfg.data.dataset,
        "data_dir": pair.meta.get("data_dir"),
        "modalities": list(cfg.model.modalities),
        "split": {**split.description, **split.sizes()},
        "iterative": is_iterative(model, cfg),
        "uses_names": False,
        "test": by_candidates_key(tested.metrics),
        **({"sinkhorn_tau_chosen_on_valid": tau_choice} if tau_choice else {}),
        "epochs_completed": state.epoch,
        "stopped_early": state.stopped_early,
        "stage1_ended_early": state.stage1_ended,
        "budget_exhausted": state.budget_exhausted,
        "best_valid_epoch": state.best_epoch,
        "scored_epoch": state.scored_epoch,
        **timings,
        "peak_rss_mib": peak_rss_mib(),
        "provenance": started,
    }


def _write_outputs(files: RunDirectory, model: AlignmentModel, pair: KGPair, tested: TestEvaluation,
                   metrics: dict, keep_checkpoint: bool) -> None:
    """The run's outputs, ``metrics.json`` last: its presence marks the run finished."""
    write_embeddings(files, model, pair)
    if tested.ranks:
        files.write_ranks(tested.ranks)
    masks = planted_masks(pair)
    if masks:
        files.write_corruption(masks)
    files.write_metrics(metrics)
    if not keep_checkpoint:  # finished: model.pt holds what is read from now on
        remove_checkpoint(files.checkpoint_path)


def _jsonable_meta(meta: dict) -> dict:
    """Drop bulky per-entity arrays from the metadata written to dataset.json (they are in the data)."""
    return {k: v for k, v in meta.items() if not k.startswith("corrupted_")}


def load_run_model(run_dir: Path) -> tuple[RunConfig, KGPair, Split, AlignmentModel]:
    """Rebuild a trained model from its run directory (config + data + split + final weights), on the CPU.

    The weights come from ``model.pt``, or from ``checkpoint.pt`` in run directories made before runs kept
    ``model.pt`` (and in unfinished ones). On the CPU whatever ``train.device`` was: everything that reads a
    finished run (evaluate, align, explain, report) works on CPU tensors, and a run trained on a GPU can then be
    inspected on a machine without one.
    """
    files = RunDirectory(run_dir)
    weights = files.weights_path()
    if weights is None:
        raise CheckpointError(f"{run_dir}: no trained model ({files.FINAL_MODEL} or {files.CHECKPOINT}); "
                              "is it the directory of a finished run?")
    cfg = RunConfig.from_dict(files.read_config())
    pair = load_pair(cfg)
    split = files.read_split(pair)
    inputs = AlignmentInputs.build(pair, split)
    model = build_model(cfg.model_name, inputs, cfg.model, torch.Generator().manual_seed(cfg.train.seed))
    load_final_weights(model, weights)
    model.eval()
    return cfg, pair, split, model


#: ``evaluate_run(csls_k=...)``: keep the run's own CSLS k (None turns CSLS off).
RUN_VALUE = "run"
#: The sentinel older callers passed for :data:`RUN_VALUE`; still accepted at this boundary.
LEGACY_RUN_CSLS_K = -1


def evaluate_run(run_dir: str | Path, similarity: str | None = None, csls_k: int | None | str = RUN_VALUE,
                 modes: tuple[str, ...] | None = None, decoder: str | None = None) -> dict:
    """Re-evaluate a finished run, optionally with another similarity / CSLS k / candidate modes / decoder.

    Returns the test split's section in the layout of ``metrics.json`` (``{"test_candidates": {...}, ...}``).
    ``csls_k``: ``"run"`` (default; the old ``-1`` means the same) keeps the run's, None turns CSLS off.
    """
    cfg, _pair, split, model = load_run_model(Path(run_dir))
    changes: dict = {}
    if decoder:
        changes["decoder"] = decoder
    if similarity:
        changes["similarity"] = similarity
    if csls_k not in (RUN_VALUE, LEGACY_RUN_CSLS_K):
        changes["csls_k"] = csls_k
    if modes:
        changes["modes"] = tuple(modes)
    cfg = replace(cfg, eval=replace(cfg.eval, **changes))  # each value checked like a config value
    with torch.no_grad():
        cfg, tau_choice = with_sinkhorn_tau_from_valid(model, split, cfg)
        metrics = evaluate_model(model, split.test, cfg)
    for mode_metrics in metrics.values() if tau_choice else ():
        mode_metrics["sinkhorn_tau_chosen_on_valid"] = tau_choice
    return by_candidates_key(metrics)


__all__ = ["RunResult", "run", "evaluate_run", "load_run_model", "Embeddings"]
