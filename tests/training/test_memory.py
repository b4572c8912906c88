"""The allocator settings (gaussea.memory): what they set, when they stay a no-op, and that training applies them."""

from __future__ import annotations

import ctypes

import pytest
import torch

from gaussea import memory
from gaussea.config import ModelConfig, TrainConfig
from gaussea.data.splits import make_split
from gaussea.data.synthetic import load_synthetic
from gaussea.memory import M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, MMAP_THRESHOLD, glibc_mallopt, keep_freed_memory
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.train import Trainer


class RecordingMallopt:
    """Stands in for glibc's ``mallopt``: records its calls, succeeds (glibc returns 1 on success)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


def test_sets_the_mmap_and_trim_thresholds_and_again_the_same() -> None:
    mallopt = RecordingMallopt()
    assert keep_freed_memory(123_456, environ={}, mallopt=mallopt)
    first = list(mallopt.calls)
    assert first == [(M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, 123_456)]
    assert keep_freed_memory(123_456, environ={}, mallopt=mallopt)  # idempotent: the same values once more
    assert mallopt.calls == first * 2


@pytest.mark.parametrize("environ", [{"MALLOC_MMAP_MAX_": "65536"}, {"MALLOC_TRIM_THRESHOLD_": "0"},
                                     {"GLIBC_TUNABLES": "glibc.malloc.mmap_max=65536"}])
def test_the_users_own_malloc_settings_win(environ: dict[str, str]) -> None:
    mallopt = RecordingMallopt()
    assert not keep_freed_memory(environ=environ, mallopt=mallopt)
    assert mallopt.calls == []


def test_unrelated_tunables_do_not_count_as_a_malloc_choice() -> None:
    mallopt = RecordingMallopt()
    assert keep_freed_memory(environ={"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"}, mallopt=mallopt)
    assert len(mallopt.calls) == 2


def test_a_failing_mallopt_is_reported_as_not_applied() -> None:
    assert not keep_freed_memory(environ={}, mallopt=lambda param, value: 0)


def test_a_trim_threshold_that_does_not_fit_a_c_int_is_refused() -> None:
    with pytest.raises(ValueError, match="trim_threshold"):
        keep_freed_memory(2**31, environ={}, mallopt=RecordingMallopt())


def test_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    class Musl:  # a C library with mallopt but without glibc's gnu_get_libc_version
        mallopt = staticmethod(lambda param, value: 1)

    monkeypatch.setattr(ctypes, "CDLL", lambda name: Musl())
    assert glibc_mallopt() is None
    assert not keep_freed_memory(environ={})
    monkeypatch.setattr(memory.os, "name", "nt")
    assert glibc_mallopt() is None


def test_applies_to_this_processs_glibc() -> None:
    if glibc_mallopt() is None:
        pytest.skip("no glibc in this process")
    assert keep_freed_memory(environ={})
    assert keep_freed_memory(environ={})


def test_training_applies_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every model's training gets them (the trainer applies them), with the process's environment."""
    pair = load_synthetic(num_entities=60)
    inputs = AlignmentInputs.build(pair, make_split(pair.links, 0.3, seed=0))
    model = build_model("transe", inputs, ModelConfig(modalities=("r",), dim=4), torch.Generator().manual_seed(0))
    calls: list[dict] = []
    monkeypatch.setattr("gaussea.training.trainer.keep_freed_memory", lambda **kwargs: calls.append(kwargs) or True)
    Trainer(model, TrainConfig(stage1_epochs=0, stage2_epochs=0, progress=False, threads=1)).fit()
    assert calls == [{}]
