"""Where the test results sit in ``metrics.json`` (and ``decoded.json``): split first, then candidate mode.

Layout written now::

    metrics["test"]["test_candidates"]   # test split, ranked among the test targets (the literature's protocol)
    metrics["test"]["all_candidates"]    # test split, ranked among every entity of the other graph

Earlier runs wrote ``metrics["test"]["test"]`` / ``metrics["test"]["all"]``: the split and the candidate mode
were both called "test". The new keys say which is which; the split level stays ``"test"`` (the only split
scored; the validation links choose things and are recorded where they do). Each result dict still carries its
evaluator label ``"mode": "test" | "all"``, the candidate mode's name in the configuration (``eval.modes``).

:func:`split_results` is the one reader: it understands both layouts, so every reader (commands, the reproduce
grid, the benchmark scripts and their summaries of committed results) goes through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gaussea.config import CANDIDATE_MODES

CANDIDATES_SUFFIX = "_candidates"
TEST_SPLIT = "test"


def candidates_key(mode: str) -> str:
    """The key of candidate mode ``mode`` (``"test"`` -> ``"test_candidates"``)."""
    return mode + CANDIDATES_SUFFIX


def mode_of_key(key: str) -> str:
    """The candidate mode a key names, in either layout (``"test_candidates"`` or the older ``"test"``)."""
    return key[: -len(CANDIDATES_SUFFIX)] if key.endswith(CANDIDATES_SUFFIX) else key


def by_candidates_key(results: Mapping[str, Any]) -> dict[str, Any]:
    """``{mode: result}`` (as the evaluation computes it) in the layout written to disk."""
    return {candidates_key(mode): result for mode, result in results.items()}


def results_by_mode(section: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """``{mode: result dict}`` of one split's section in either layout, in file order.

    Entries that are not a candidate mode's result (e.g. the Sinkhorn temperature beside them in
    ``decoded.json``) are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in (section or {}).items():
        if not isinstance(value, Mapping):
            continue
        if key.endswith(CANDIDATES_SUFFIX) or key in CANDIDATE_MODES:
            out[mode_of_key(key)] = dict(value)
    return out


def split_results(metrics: Mapping[str, Any], split: str = TEST_SPLIT) -> dict[str, dict[str, Any]]:
    """``{mode: result dict}`` of ``split`` in a metrics dict of either layout (empty when it has none)."""
    return results_by_mode(metrics.get(split))


def candidate_result(metrics: Mapping[str, Any], mode: str = "test") -> dict[str, Any]:
    """The test split's result for candidate ``mode`` (empty dict when the run did not score that mode)."""
    return split_results(metrics).get(mode, {})
