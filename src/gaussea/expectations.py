"""What the default ``gaussea run`` should print, said by the run itself.

A newcomer's first run is the embedded synthetic benchmark with every default; one line after its metrics says what
a healthy install gives there, so a broken one is noticed at once. The figures are those of the committed
measurement of that exact command (``DEFAULT_RUN_RESULT``, written by ``bench/bench_thread_determinism.py``:
runs on one and two threads); a test keeps them equal to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gaussea.config import RunConfig

DEFAULT_RUN_RESULT = "bench/results/threads/synthetic-default.json"
# Train settings that do not change what is computed (only how fast, where, or what is shown).
NEUTRAL_TRAIN_FIELDS = frozenset({"threads", "progress", "device", "checkpoint_every"})


@dataclass(frozen=True)
class ExpectedResult:
    """Test-mode H@1 range of the recorded runs and the smallest visual variance ratio they showed."""

    hits_at_1_low: float
    hits_at_1_high: float
    visual_variance_ratio: float


DEFAULT_RUN = ExpectedResult(hits_at_1_low=0.473, hits_at_1_high=0.474, visual_variance_ratio=6.7)


def is_default_run(cfg: RunConfig) -> bool:
    """Whether ``cfg`` computes what ``gaussea run`` with no arguments computes (threads and display aside)."""
    default, given = RunConfig().to_dict(), cfg.to_dict()
    if any(given[key] != default[key] for key in ("model_name", "data", "model", "eval")):
        return False
    train = {k: v for k, v in given["train"].items() if k not in NEUTRAL_TRAIN_FIELDS}
    base = {k: v for k, v in default["train"].items() if k not in NEUTRAL_TRAIN_FIELDS}
    stage1, stage2 = _default_epochs()
    for key, value in (("stage1_epochs", stage1), ("stage2_epochs", stage2)):
        if train.get(key) == value:
            train[key] = base[key]
    return train == base


def _default_epochs() -> tuple[int, int]:
    from gaussea.models import model_builders

    return model_builders()[RunConfig().model_name].default_epochs


def expectation_line(cfg: RunConfig) -> str | None:
    """The line to print after a default run's metrics (None for any other run)."""
    if not is_default_run(cfg):
        return None
    e = DEFAULT_RUN
    return (f"expected for this default run: test-candidates H@1 {e.hits_at_1_low:.3f}-{e.hits_at_1_high:.3f} "
            f"(one or two threads) and a visual variance of corrupted pictures at least {e.visual_variance_ratio:.1f}x "
            f"that of clean ones (measured: {DEFAULT_RUN_RESULT})")
