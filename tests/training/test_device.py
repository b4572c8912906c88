"""``train.device``: models, their inputs and every tensor their losses make live on the training device.

This machine (and the project's CI) has no GPU, so the CUDA tests are skipped here. What runs on the CPU:

- ``device="cpu"`` given explicitly trains and scores exactly like the default;
- a model built for a device has its parameters, buffers, inputs and any other tensor it holds there (checked
  on ``meta`` too, a device without data: whatever ``model.to`` misses stays behind on the CPU);
- an audit of every tensor a model's training steps and embeddings create: each one names its device (no
  factory call left on the default device) and each draw from the CPU generator is moved before use — the two
  ways a loss that runs on the CPU can break on CUDA;
- bad devices fail before any work with an error naming ``train.device``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

import gaussea
from gaussea.cli import main
from gaussea.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gaussea.data.splits import make_split
from gaussea.data.synthetic import load_synthetic
from gaussea.models import build_model, model_builders
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import evaluate_run, run
from gaussea.train import Trainer, resolve_device

pytestmark = pytest.mark.usefixtures("single_thread")

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device on this machine")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]
MODELS = tuple(model_builders())
TINY = {"num_entities": 120}
# IPTransE expands its seeds from the first epoch on, so the soft-alignment loss runs too; the paper's model and
# MMEA take L_csl in several steps.
OPTIONS = {"iptranse": {"bootstrap_start": 1, "bootstrap_every": 1, "threshold": 0.0},
           "gaussian": {"entity_batch_size": 100}, "mmea": {"entity_batch_size": 100}}


def tiny_config(model: str = "gaussian", device: str | None = None, options: dict | None = None,
                **model_fields: Any) -> RunConfig:
    """Every model's losses in a second or two: 120 entities, dim 16, one epoch per stage."""
    train = TrainConfig(stage1_epochs=1, stage2_epochs=1, batch_size=256, progress=False, checkpoint_every=1,
                        threads=1)
    if device is not None:
        train.device = device
    return RunConfig(data=DataConfig(ratio=0.3, options=dict(TINY)),
                     model=ModelConfig(dim=16, options={**OPTIONS.get(model, {}), **(options or {})}, **model_fields),
                     train=train, eval=EvalConfig(modes=("test",)), model_name=model)


def tiny_inputs() -> AlignmentInputs:
    pair = load_synthetic(**TINY)
    return AlignmentInputs.build(pair, make_split(pair.links, 0.3, seed=0))


def misplaced(model: AlignmentModel, device: torch.device) -> list[str]:
    """Names of the tensors ``model`` holds that are not on ``device``: parameters, buffers, inputs, and tensors
    kept in plain attributes of any submodule (or of a helper object one level down), which ``to`` would miss."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    tensors += [(f"inputs.{f.name}", getattr(model.inputs, f.name)) for f in fields(model.inputs)
                if isinstance(getattr(model.inputs, f.name), torch.Tensor)]
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if attr != "inputs":
                tensors += _loose_tensors(f"{prefix}.{attr}" if prefix else attr, value)
    return [name for name, t in tensors if t is not None and t.device != device]


def _loose_tensors(name: str, value: Any, depth: int = 0) -> list[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        return [(name, value)]
    if isinstance(value, (list, tuple)):
        return [x for i, item in enumerate(value) for x in _loose_tensors(f"{name}[{i}]", item, depth)]
    if depth == 0 and hasattr(value, "__dict__") and not isinstance(value, (torch.nn.Module, type)):
        return [x for k, v in vars(value).items() for x in _loose_tensors(f"{name}.{k}", v, depth + 1)]
    return []


# ---------------------------------------------------------------------------------------------- CPU results


def test_explicit_cpu_gives_exactly_the_default_results(tmp_path: Path) -> None:
    def small(device: str | None) -> RunConfig:
        cfg = RunConfig()  # the default (synthetic) dataset and model, smaller and shorter
        cfg.data.options = {"num_entities": 300}
        cfg.model.dim = 16
        cfg.train.stage1_epochs, cfg.train.stage2_epochs = 2, 1
        cfg.train.threads, cfg.train.progress = 1, False
        if device is not None:
            cfg.train.device = device
        return cfg

    default = run(small(None), tmp_path / "default")
    explicit = run(small("cpu"), tmp_path / "cpu")
    for key in ("test", "per_space_test", "variance_by_corruption", "epochs_completed"):
        assert explicit.metrics[key] == default.metrics[key], key
    a, b = default.model.state_dict(), explicit.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with np.load(tmp_path / "default" / "embeddings.npz") as x, np.load(tmp_path / "cpu" / "embeddings.npz") as y:
        assert all(np.array_equal(x[k], y[k]) for k in x.files)


# ------------------------------------------------------------------------------------------------ placement


@pytest.mark.parametrize("device", [*DEVICES, "meta"])
@pytest.mark.parametrize("name", MODELS)
def test_model_and_its_inputs_live_on_the_device(name: str, device: str) -> None:
    inputs = tiny_inputs()
    torch.manual_seed(0)  # the encoders' layers initialise from torch's global generator (the runner seeds it)
    model = build_model(name, inputs, ModelConfig(dim=16), torch.Generator().manual_seed(0), device=device)
    target = torch.device("meta") if device == "meta" else resolve_device(device)
    assert misplaced(model, target) == []
    assert inputs.triples.device.type == "cpu"  # the caller's inputs are left where they were
    if device == "meta":
        return  # placement only: meta tensors hold no values
    # The same starting point on every device: initialisation draws from CPU generators before the move.
    torch.manual_seed(0)
    reference = build_model(name, inputs, ModelConfig(dim=16), torch.Generator().manual_seed(0))
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key].cpu(), value), key


def test_trainer_moves_the_model_to_the_configured_device() -> None:
    model = build_model("transe", tiny_inputs(), ModelConfig(dim=16), torch.Generator().manual_seed(0))
    trainer = Trainer(model, TrainConfig(device="cpu", progress=False))
    assert trainer.device == torch.device("cpu") and misplaced(trainer.model, trainer.device) == []


# -------------------------------------------------------------------- what a loss creates, audited on the CPU

#: Functions that make a tensor from nothing: on the default device (the CPU) unless told otherwise.
FACTORIES = {torch.zeros, torch.ones, torch.full, torch.empty, torch.arange, torch.linspace, torch.eye,
             torch.tensor, torch.as_tensor, torch.rand, torch.randn, torch.randint, torch.randperm}
SRC = Path(gaussea.__file__).resolve().parent
AUDITED = (SRC / "models", SRC / "modalities", SRC / "gaussian.py")


class DeviceAudit(TorchFunctionMode):
    """Records, for calls made from model code, the two patterns that run on the CPU but break on CUDA.

    1. a factory call without ``device=`` (``torch.zeros(len(idx))``): lands on the CPU while the model is on
       the GPU. Draws from a generator are exempt: the generator is a CPU one on purpose;
    2. a draw from the CPU generator used by anything but ``.to(...)``: it must be moved to the device first.
    """

    def __init__(self, audited: tuple[Path, ...] = AUDITED) -> None:
        super().__init__()
        self.audited = audited
        self.problems: set[str] = set()
        self._draws: dict[int, torch.Tensor] = {}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        site = _model_site(sys._getframe(1), self.audited)
        if site is None:
            return out
        name = getattr(func, "__name__", str(func))
        if func in FACTORIES:
            if "generator" in kwargs:
                self._draws[id(out)] = out
            elif "device" not in kwargs:
                self.problems.add(f"{site}: torch.{name}(...) without device=")
        elif func is torch.Tensor.to:
            self._draws.pop(id(args[0]), None)
        elif any(self._draws.get(id(t)) is t for t in _tensors((args, kwargs))):
            self.problems.add(f"{site}: a CPU-generator draw goes into {name} before .to(device)")
        return out


def _model_site(frame: FrameType | None, audited: tuple[Path, ...]) -> str | None:
    """``file:line`` of the innermost gaussea (or audited) frame if it is audited code; the trainer's batches and
    the optimiser's step counters are CPU tensors on purpose and are not audited."""
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        inside = [a for a in audited if path == a or path.is_relative_to(a)]
        if inside:
            return f"{path.name}:{frame.f_lineno}"
        if path.is_relative_to(SRC):
            return None
        frame = frame.f_back
    return None


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


def _careless_loss(idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Both mistakes at once (fine on the CPU, a device mismatch on CUDA)."""
    return torch.zeros(len(idx)) + (torch.rand(len(idx), generator=generator) < 0.5)


def _careful_loss(idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.zeros(len(idx), device=idx.device) + (torch.rand(len(idx), generator=generator).to(idx.device) < 0.5)


def test_the_audit_catches_both_patterns() -> None:
    here, idx = (Path(__file__).resolve(),), torch.arange(3)
    with DeviceAudit(here) as audit:
        _careless_loss(idx, torch.Generator())
    assert len(audit.problems) == 2 and any("without device=" in p for p in audit.problems), audit.problems
    with DeviceAudit(here) as audit:
        _careful_loss(idx, torch.Generator())
    assert audit.problems == set()


@pytest.mark.parametrize("name, model_fields", [(m, {}) for m in MODELS]
                         + [("gaussian", {"options": {"numeric_negatives": 1, "numeric_norm": "quantile"}})])
def test_model_code_names_the_device_of_every_tensor_it_makes(name: str, model_fields: dict) -> None:
    cfg = tiny_config(name, **model_fields)
    model = build_model(name, tiny_inputs(), cfg.model, torch.Generator().manual_seed(0))
    trainer = Trainer(model, cfg.train)
    with DeviceAudit() as audit:
        for epoch in (1, 2):  # both stages: the second frees the variances (other lookups, other kernels)
            trainer.run_epoch(epoch)
        model.entity_embeddings()
        model.space_embeddings()
        model.variance_report()
        if hasattr(model, "filtered_alignment"):
            model.filtered_alignment()
    assert sorted(audit.problems) == []


# ------------------------------------------------------------------------------------------ clear errors


@pytest.mark.parametrize("device", ["gpu", "", "cuda:x", "CUDA", "meta", "mps"])
def test_a_nonsense_device_is_refused_before_any_work(device: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"train\.device"):
        run(tiny_config(device=device), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run directory is made
    model = build_model("transe", tiny_inputs(), ModelConfig(dim=8), torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"train\.device"):
        Trainer(model, TrainConfig(device=device))
    assert main(["run", "--device", device, "--out", str(tmp_path / "cli"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gaussea: error: train.device=") and "Traceback" not in err, err
    assert not (tmp_path / "cli").exists()


@pytest.mark.skipif(HAS_CUDA, reason="checks the error a machine without CUDA gives")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_without_cuda_is_a_clear_error(device: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match=r"train\.device=.*CUDA is not available"):
        run(tiny_config(device=device), tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert main(["run", "--device", device, "--out", str(tmp_path / "cli"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "train.device" in err and "CUDA is not available" in err and "Traceback" not in err
    assert not (tmp_path / "cli").exists()


@pytest.mark.skipif(HAS_CUDA, reason="checks the error a machine without CUDA gives")
def test_resuming_a_cuda_run_without_cuda_points_at_its_saved_config(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(tiny_config(device="cuda").to_dict()))
    with pytest.raises(ValueError, match=r"config\.json.*train\.device='cuda'.*edit train\.device"):
        run(None, run_dir, resume=True)


# ---------------------------------------------------------------------------------- CUDA (skipped without)


def _finite_metrics(metrics: dict) -> None:
    test = metrics["test"]["test_candidates"]
    assert all(math.isfinite(test[k]) for k in ("hits@1", "hits@10", "mr", "mrr"))


@needs_cuda
@pytest.mark.parametrize("name", MODELS)
def test_tiny_run_on_cuda(name: str, tmp_path: Path) -> None:
    result = run(tiny_config(name, device="cuda"), tmp_path / "run")
    _finite_metrics(result.metrics)
    assert misplaced(result.model, resolve_device("cuda")) == []  # lazily built parts (IPTransE's soft set) too
    assert result.metrics["epochs_completed"] == 2
    for file in ("embeddings.npz", "metrics.json", "checkpoint.pt"):
        assert (tmp_path / "run" / file).exists()
    # The CUDA checkpoint reloads on the CPU (evaluate) and into a CUDA model (resume).
    assert math.isfinite(evaluate_run(tmp_path / "run")["test_candidates"]["mrr"])
    resumed = run(None, tmp_path / "run", resume=True)
    assert resumed.metrics["epochs_completed"] == 2
    _finite_metrics(resumed.metrics)


@needs_cuda
def test_cuda_draws_the_same_negatives_as_the_cpu() -> None:
    """Sampling stays on the CPU generator: the same seed draws the same corruptions on either device."""
    inputs = tiny_inputs()
    draws = []
    for device in ("cpu", "cuda"):
        model = build_model("transe", inputs, ModelConfig(dim=8), torch.Generator().manual_seed(0), device=device)
        pos = model.triples.positives[:50]
        neg, mask = model.triples.sampler.sample(pos, 5, torch.Generator().manual_seed(1))
        draws.append((neg.cpu(), mask.cpu()))
    assert torch.equal(draws[0][0], draws[1][0]) and torch.equal(draws[0][1], draws[1][1])


def _cuda_ranks(context: Any, cfg: RunConfig, run_dir: str) -> dict:
    result = run(cfg, run_dir, distributed=context)
    devices = {p.device for p in result.model.parameters()}
    return {"devices": sorted(str(d) for d in devices), "metrics": result.metrics["test"]}


@pytest.mark.skipif(not HAS_CUDA or torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_each_rank_trains_on_its_own_gpu(tmp_path: Path) -> None:
    from gaussea.distributed import run_local

    ranks = run_local(_cuda_ranks, 2, tiny_config(device="cuda"), str(tmp_path / "run"), backend="nccl")
    assert [r["devices"] for r in ranks] == [["cuda:0"], ["cuda:1"]]
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
