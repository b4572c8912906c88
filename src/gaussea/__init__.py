"""gaussea: multi-modal entity alignment between knowledge graphs with Gaussian embeddings.

The Python API mirrors the command line::

    import gaussea
    result = gaussea.run(gaussea.RunConfig(), "runs/example")   # same as `gaussea run --out runs/example`
    print(result.metrics["test"]["test_candidates"]["hits@1"])   # test split, test-targets candidate pool

Heavy modules (torch) are imported on first use so that ``gaussea datasets`` starts instantly.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run": ("gaussea.runner", "run"),
    "evaluate_run": ("gaussea.runner", "evaluate_run"),
    "RunResult": ("gaussea.runner", "RunResult"),
    "RunConfig": ("gaussea.config", "RunConfig"),
    "DataConfig": ("gaussea.config", "DataConfig"),
    "ModelConfig": ("gaussea.config", "ModelConfig"),
    "TrainConfig": ("gaussea.config", "TrainConfig"),
    "EvalConfig": ("gaussea.config", "EvalConfig"),
    "EvalSettings": ("gaussea.evaluate.settings", "EvalSettings"),
    "RunDirectory": ("gaussea.run_files", "RunDirectory"),
    "load_dataset": ("gaussea.data.registry", "load_dataset"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'gaussea' has no attribute {name!r}")


__all__ = list(_LAZY)
