"""Rows a finished run yields without retraining: Sinkhorn decoding and the point version, in ``decoded.json``.

The tables' second block decodes every model with Sinkhorn, and ``gaussian_fusion``'s point version (every
variance frozen: ``variance_rounds = 0``) sits beside the model. Both are read off the trained weights in the run
directory (``model.pt``): the point version's weighing acts after training only
(:meth:`~gaussea.models.gaussian_fusion.GaussianFusion.reweigh`), so model and point version differ by the
weighing alone, as in the fusion benchmarks.

Sinkhorn's temperature is chosen per row on the run's validation links (``eval.sinkhorn_tau = null``: valid x
valid H@1 over ``SINKHORN_TAU_GRID``); a run without validation links keeps the configuration's fixed
temperature, recorded as such. Test links are only scored, never used to choose. Sinkhorn is scored with test
candidates (the tables' protocol): its all-candidates plan would be the full entity square.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from gaussea.metrics_layout import by_candidates_key
from gaussea.run_files import RunDirectory

DECODED_NAME = RunDirectory.DECODED
POINT_VERSION = {"variance_rounds": 0}  # GaussianFusion.reweigh options of the point version
SINKHORN_MODE = "test"


def has_point_version(model: Any) -> bool:
    """Whether the model's variances can be frozen after training (``reweigh``) to give its point version."""
    return callable(getattr(model, "reweigh", None))


def decode_run(run_dir: Path) -> dict[str, Any]:
    """The extra rows of a finished run (see the module docstring), written to ``run_dir/decoded.json``."""
    import torch

    from gaussea.runner import evaluate_model, load_run_model

    cfg, _pair, split, model = load_run_model(run_dir)
    out: dict[str, Any] = {"model": {}, "valid_links": len(split.valid)}
    with torch.no_grad():
        out["model"]["sinkhorn"] = _sinkhorn(model, split, cfg)
        if has_point_version(model):
            model.reweigh(**POINT_VERSION)
            out["point"] = {"csls": by_candidates_key(evaluate_model(model, split.test, cfg)),
                            "sinkhorn": _sinkhorn(model, split, cfg)}
    RunDirectory(run_dir).write_decoded(out)
    return out


def _sinkhorn(model: Any, split: Any, cfg: Any) -> dict[str, Any]:
    """Sinkhorn metrics on test candidates, its temperature chosen on the valid links when there are any."""
    from gaussea.runner import evaluate_model, with_sinkhorn_tau_from_valid

    tau = None if len(split.valid) else cfg.eval.sinkhorn_tau
    sink = replace(cfg, eval=replace(cfg.eval, decoder="sinkhorn", sinkhorn_tau=tau, modes=(SINKHORN_MODE,)))
    sink, choice = with_sinkhorn_tau_from_valid(model, split, sink)
    metrics = by_candidates_key(evaluate_model(model, split.test, sink))
    return {**metrics, "sinkhorn_tau": sink.eval.sinkhorn_tau,
            "tau_source": "valid" if choice else "fixed", **({"valid_hits@1_by_tau": choice["valid_hits@1"]}
                                                            if choice else {})}
