"""How one evaluation scores: the settings every evaluation function shares, as one frozen object.

Why one object: the similarity, CSLS neighbourhood, Hits@k cut-offs, block size, decoder, Sinkhorn's parameters
and the candidate mode travel together from the configuration to the ranking code, through the runner, the
sharded evaluation and the commands that re-read a run. As keyword arguments they were repeated in every
signature on the way; as :class:`EvalSettings` they are checked once, when built, and passed as one value.

``csls_k=None`` is "no CSLS" (the plain similarity). The old ``-1`` sentinel of
:func:`gaussea.runner.evaluate_run` ("keep the run's value") is accepted there, at the boundary, and nowhere here.
The functions of :mod:`gaussea.evaluate.ranking` still take the settings' fields as keywords for convenience
(``evaluate_alignment(s, t, pairs, mode="all")``): :func:`resolve_settings` is the one place that turns such
keywords into an :class:`EvalSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from gaussea.config import CANDIDATE_MODES, EvalConfig, check_decoder
from gaussea.evaluate.csls import DEFAULT_CSLS_K
from gaussea.evaluate.decoders import DEFAULT_DECODER, DEFAULT_SINKHORN_ITERATIONS, DEFAULT_SINKHORN_TAU

if TYPE_CHECKING:
    from gaussea.evaluate.similarity import Similarity

DEFAULT_KS: tuple[int, ...] = (1, 5, 10)


@dataclass(frozen=True)
class EvalSettings:
    """One evaluation's scoring, checked when built (ValueError naming the field).

    - ``mode``: ``"test"`` (candidates = the test targets; the literature's protocol) or ``"all"`` (every entity
      of the other graph); see :mod:`gaussea.evaluate.ranking`.
    - ``similarity``: a name of :data:`~gaussea.evaluate.similarity.SIMILARITIES` or a ``Similarity``.
    - ``csls_k``: CSLS neighbourhood size (clipped to the pool sizes); None ranks by the plain similarity.
    - ``ks``: the ``k`` of the Hits@k entries.
    - ``chunk_size``: query rows per block; None picks ~64 MiB blocks.
    - ``decoder``: ``"csls"`` (each query on its own), ``"sinkhorn"`` or ``"hungarian"`` (all queries jointly).
    - ``sinkhorn_tau``, ``sinkhorn_iterations``: Sinkhorn's temperature and number of (rows; columns) rounds.
    """

    mode: str = "test"
    similarity: str | Similarity = "cosine"
    csls_k: int | None = DEFAULT_CSLS_K
    ks: tuple[int, ...] = DEFAULT_KS
    chunk_size: int | None = None
    decoder: str = DEFAULT_DECODER
    sinkhorn_tau: float = DEFAULT_SINKHORN_TAU
    sinkhorn_iterations: int = DEFAULT_SINKHORN_ITERATIONS

    def __post_init__(self) -> None:
        if self.mode not in CANDIDATE_MODES:
            raise ValueError(f"mode must be one of {CANDIDATE_MODES}, got {self.mode!r}")
        if self.csls_k is not None and (isinstance(self.csls_k, bool) or not isinstance(self.csls_k, int)
                                        or self.csls_k < 1):
            raise ValueError(f"csls_k must be >= 1 or None (plain similarity), got {self.csls_k!r}")
        ks = tuple(int(k) for k in self.ks)
        if not ks or min(ks) < 1:
            raise ValueError(f"ks must be non-empty positive integers, got {list(self.ks)}")
        object.__setattr__(self, "ks", ks)  # a list given by a caller becomes the tuple a frozen value needs
        if self.chunk_size is not None and self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1 or None (automatic), got {self.chunk_size}")
        check_decoder(self.decoder, self.sinkhorn_tau, self.sinkhorn_iterations)

    @classmethod
    def from_config(cls, ev: EvalConfig, mode: str = "test", **changes: Any) -> EvalSettings:
        """The settings a run's ``eval`` section gives for candidate ``mode``: the one way from config to settings.

        ``changes`` replace fields of ``ev`` first (checked as config values), e.g. ``decoder="csls"``.

        A null ``sinkhorn_tau`` means "choose it on the validation links"
        (:func:`gaussea.runner.with_sinkhorn_tau_from_valid` does, before scoring): the Sinkhorn decoder refuses
        it here, and any other decoder, which does not read it, gets the default.
        """
        ev = replace(ev, **changes) if changes else ev
        tau = ev.sinkhorn_tau
        if tau is None:
            if ev.decoder == "sinkhorn":
                raise ValueError("eval.sinkhorn_tau=null: choose the temperature on the validation links before "
                                 "scoring with Sinkhorn (gaussea.runner.with_sinkhorn_tau_from_valid)")
            tau = DEFAULT_SINKHORN_TAU
        return cls(mode=mode, similarity=ev.similarity, csls_k=ev.csls_k, ks=tuple(ev.ks), chunk_size=ev.chunk_size,
                   decoder=ev.decoder, sinkhorn_tau=tau)

    def with_(self, **changes: Any) -> EvalSettings:
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)


SETTING_NAMES: frozenset[str] = frozenset(f.name for f in fields(EvalSettings))


def resolve_settings(settings: EvalSettings | None, overrides: Mapping[str, Any]) -> EvalSettings:
    """``settings`` (default: :class:`EvalSettings`'s defaults) with the keyword ``overrides`` applied.

    An unknown keyword is a TypeError, as it would be for a function that spelt its parameters out.
    """
    unknown = sorted(set(overrides) - SETTING_NAMES)
    if unknown:
        raise TypeError(f"unexpected evaluation setting(s) {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(SETTING_NAMES))})")
    base = settings if settings is not None else EvalSettings()
    return replace(base, **overrides) if overrides else base
