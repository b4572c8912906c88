"""Predicted counterparts for any entities of a trained run, and one-to-one assignment between the graphs.

Evaluation ranks the gold target of each *test* source; a user of a trained aligner instead wants a
counterpart for *every* entity. :func:`align` reads a run directory's ``embeddings.npz`` (common-space means
and variances of every entity of both graphs, with names) and scores candidates exactly as the run's evaluation
did (its similarity and CSLS k), so the numbers printed by ``gaussea align`` and ``gaussea evaluate`` agree.
CSLS neighbourhoods are taken among *all* entities of both graphs (the ``"all"`` candidate mode), whichever
subset of sources is asked for, so a source's scores do not depend on which other sources were requested.

Ranking every source independently lets two sources pick the same target. A one-to-one assignment repairs
that, using only each source's top-``K`` candidate list (memory O(n K), never an ``n x m`` matrix):

- ``greedy``: take candidate pairs globally best-first, skipping pairs whose source or target is taken.
  Fast (one sort) and, for a symmetric score, the unique stable matching.
- ``hungarian``: the matching that pairs the most sources and, among those, has the largest total score
  (sparse Jonker-Volgenant, ``scipy.sparse.csgraph.min_weight_full_bipartite_matching``; scipy is optional).
- ``stable``: Gale-Shapley with sources proposing along their candidate lists and targets keeping the
  proposer they prefer. Target preferences default to the same score, in which case the result equals
  ``greedy`` (CSLS, cosine and the KL similarities are symmetric); pass ``target_scores`` to use another
  preference for the targets.

Sources whose ``K`` candidates are all taken stay unmatched (target ``-1``): raise ``K`` to match more.

**Known pairs stay fixed** (the default of :func:`align`). A run was given links as input: ``split/train_links``
(trained on) and ``split/valid_links`` (used for model selection). Those pairs are known, so a user aligning
the *new* entities wants them kept as they are, not re-predicted: their sources are not queried (they appear in
the output with their known target and origin ``train`` / ``valid``), and their targets are not candidates
for anyone, so no query is proposed an entity that is already taken and a one-to-one matching can never hand
a known target to another source. Test links are what the run predicts, so they stay ordinary queries and
candidates. The known entities also leave the CSLS neighbourhoods (``r_T`` among the remaining targets,
``r_S`` among the remaining sources), as in the evaluator's ``"all"`` mode with ``exclude_sources`` /
``exclude_targets`` = the known links: hubness is a property of the pool being searched, so a first choice is
correct exactly when that evaluation gives its test link rank 1. ``keep_known=False`` (``gaussea align
--realign-known``) ranks every entity against every other instead, as the plain ``"all"`` mode does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gaussea.data.splits import link_name_lines
from gaussea.data.splits import read_link_names as read_links
from gaussea.errors import MissingDependencyError  # noqa: F401 - raised here, re-exported
from gaussea.ioutil import atomic_write_text
from gaussea.run_files import RunDirectory

if TYPE_CHECKING:
    from gaussea.evaluate.similarity import Embeddings

ONE_TO_ONE_METHODS: tuple[str, ...] = ("greedy", "hungarian", "stable")
KNOWN_SPLITS: tuple[str, ...] = ("train", "valid")  # split files whose links the run was given as input
PREDICTED = "predicted"  # origin of a row the model proposed (known rows carry their split's name)
DIRECTIONS: tuple[str, ...] = ("left_to_right", "right_to_left")
DEFAULT_CANDIDATES = 10
TSV_HEADER = "source\trank\ttarget\tscore\torigin\n"


@dataclass
class Candidates:
    """Top-``K`` candidate lists of some sources, best first.

    ``targets[i, j]`` is the ``j``-th best target id of source ``sources[i]`` and ``scores[i, j]`` its score;
    rows shorter than ``K`` are padded with target ``-1`` and score ``-inf``.
    """

    sources: np.ndarray  # (n,) int64 source ids
    targets: np.ndarray  # (n, K) int64 target ids, -1 = padding
    scores: np.ndarray  # (n, K) float64

    def __post_init__(self) -> None:
        self.sources = np.asarray(self.sources, dtype=np.int64).reshape(-1)
        self.targets = np.asarray(self.targets, dtype=np.int64)
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if self.targets.ndim != 2 or self.targets.shape != self.scores.shape:
            raise ValueError(f"targets {self.targets.shape} and scores {self.scores.shape} must be equal (n, K)")
        if len(self.sources) != len(self.targets):
            raise ValueError(f"{len(self.sources)} sources but {len(self.targets)} candidate rows")
        for row in self.targets:
            valid = row[row >= 0]
            if len(np.unique(valid)) != len(valid):
                raise ValueError("a candidate list names the same target twice")

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def k(self) -> int:
        return self.targets.shape[1]

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row, column, score)`` of every real (non-padding) candidate, row-major."""
        rows, cols = np.nonzero(self.targets >= 0)
        return rows, cols, self.scores[rows, cols]


@dataclass
class Matching:
    """A one-to-one assignment: ``targets[i]`` is matched to ``sources[i]`` (``-1``: unmatched).

    ``scores[i]`` is the pair's score and ``ranks[i]`` the 1-based position of the target in the source's
    candidate list (1: its first choice); NaN / 0 when unmatched.
    """

    sources: np.ndarray
    targets: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray

    @property
    def num_matched(self) -> int:
        return int((self.targets >= 0).sum())

    def total_score(self) -> float:
        return float(np.nansum(self.scores))


def _matching_from_columns(cand: Candidates, cols: np.ndarray) -> Matching:
    """Build a :class:`Matching` from the chosen column (candidate position) of each row, -1 = none."""
    n = len(cand)
    rows = np.arange(n)
    has = cols >= 0
    safe = np.where(has, cols, 0)
    targets = np.where(has, cand.targets[rows, safe] if n else np.zeros(0, np.int64), -1)
    scores = np.where(has, cand.scores[rows, safe] if n else np.zeros(0), np.nan)
    return Matching(cand.sources.copy(), targets.astype(np.int64), scores.astype(np.float64),
                    np.where(has, safe + 1, 0).astype(np.int64))


def greedy_match(cand: Candidates) -> Matching:
    """Global best-first matching: visit candidate pairs by decreasing score, keep those with both ends free.

    Ties are broken by source row, then candidate position, so the result is deterministic. O(E log E) for
    ``E = n K`` candidate pairs.
    """
    rows, cols, scores = cand.edges()
    order = np.lexsort((cols, rows, -scores))
    chosen = np.full(len(cand), -1, dtype=np.int64)
    taken: set[int] = set()
    for e in order:
        r = int(rows[e])
        if chosen[r] >= 0:
            continue
        t = int(cand.targets[r, cols[e]])
        if t in taken:
            continue
        chosen[r] = cols[e]
        taken.add(t)
    return _matching_from_columns(cand, chosen)


def stable_match(cand: Candidates, target_scores: Callable[[int, int], float] | None = None) -> Matching:
    """Gale-Shapley, sources proposing along their candidate lists (source-optimal stable matching).

    A target holds the best proposer so far by ``target_scores(target_id, source_id)`` (default: the pair's
    score in ``cand``), ties going to the earlier source row. Only pairs in some source's list exist, so a
    source whose list runs out stays unmatched.
    """
    n, k = len(cand), cand.k
    pair_score: dict[tuple[int, int], float] = {}
    if target_scores is None:
        for r in range(n):
            for j in range(k):
                t = int(cand.targets[r, j])
                if t >= 0:
                    pair_score[(t, r)] = float(cand.scores[r, j])

    def prefer(t: int, r: int) -> tuple[float, int]:
        s = pair_score[(t, r)] if target_scores is None else float(target_scores(t, int(cand.sources[r])))
        return (s, -r)

    next_choice = np.zeros(n, dtype=np.int64)
    holder: dict[int, tuple[tuple[float, int], int]] = {}  # target -> (preference key, row)
    chosen = np.full(n, -1, dtype=np.int64)
    free = list(range(n - 1, -1, -1))
    while free:
        r = free.pop()
        while next_choice[r] < k:
            j = int(next_choice[r])
            next_choice[r] += 1
            t = int(cand.targets[r, j])
            if t < 0:
                continue
            key = prefer(t, r)
            current = holder.get(t)
            if current is None:
                holder[t] = (key, r)
                chosen[r] = j
                break
            if key > current[0]:
                loser = current[1]
                chosen[loser] = -1
                free.append(loser)
                holder[t] = (key, r)
                chosen[r] = j
                break
    return _matching_from_columns(cand, chosen)


def hungarian_match(cand: Candidates) -> Matching:
    """Maximum-cardinality, then maximum-total-score matching over the candidate pairs (sparse LAP).

    Solved with scipy's sparse Jonker-Volgenant (``min_weight_full_bipartite_matching``) on the candidate
    edges only, so memory is O(n K) whatever the graph sizes. Each source also gets a private "unmatched"
    column whose cost exceeds any possible gain of real edges along an augmenting path, so a full matching
    always exists and real pairs are preferred whenever possible. Restricted to candidates, this equals
    ``scipy.optimize.linear_sum_assignment`` on the full score matrix when ``K`` is the number of targets.
    """
    try:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import min_weight_full_bipartite_matching
    except ImportError:
        raise MissingDependencyError(
            "one-to-one 'hungarian' needs scipy: pip install scipy (or use --one-to-one greedy|stable)"
        ) from None
    n = len(cand)
    rows, cols, scores = cand.edges()
    if n == 0 or len(rows) == 0:
        return _matching_from_columns(cand, np.full(n, -1, dtype=np.int64))
    targets = cand.targets[rows, cols]
    uniq, col_of_edge = np.unique(targets, return_inverse=True)
    hi, lo = float(scores.max()), float(scores.min())
    span = hi - lo
    cost = (hi - scores) + 1.0  # in [1, span + 1]: strictly positive, so no edge reads as "absent"
    dummy = (n + 2) * (span + 1.0)  # more than any rearrangement of real edges can gain
    all_rows = np.concatenate([rows, np.arange(n)])
    all_cols = np.concatenate([col_of_edge, len(uniq) + np.arange(n)])
    all_cost = np.concatenate([cost, np.full(n, dummy)])
    graph = coo_matrix((all_cost, (all_rows, all_cols)), shape=(n, len(uniq) + n)).tocsr()
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    chosen = np.full(n, -1, dtype=np.int64)
    position = {(int(r), int(t)): int(c) for r, c, t in zip(rows, cols, targets, strict=True)}
    for r, c in zip(row_ind, col_ind, strict=True):
        if c < len(uniq):
            chosen[r] = position[(int(r), int(uniq[c]))]
    return _matching_from_columns(cand, chosen)


def one_to_one(cand: Candidates, method: str = "greedy") -> Matching:
    """Dispatch to :func:`greedy_match`, :func:`hungarian_match` or :func:`stable_match` by name."""
    methods: dict[str, Callable[[Candidates], Matching]] = {
        "greedy": greedy_match, "hungarian": hungarian_match, "stable": stable_match}
    if method not in methods:
        raise ValueError(f"one-to-one method must be one of {ONE_TO_ONE_METHODS}, got {method!r}")
    return methods[method](cand)


# --- run directories --------------------------------------------------------------------------------
@dataclass
class RunEmbeddings:
    """What a finished run directory says about every entity: names, common-space Gaussians, eval settings.

    Read from ``embeddings.npz`` and ``config.json`` only: no dataset loading, no model rebuild, so aligning
    a run trained on a large graph takes seconds.
    """

    run_dir: Path
    names: dict[str, list[str]]  # side ("left" / "right") -> entity names in id order
    arrays: dict[str, np.ndarray]  # "{side}_mean" / "{side}_var" -> (n, d) float32
    config: dict

    @classmethod
    def load(cls, run_dir: str | Path) -> RunEmbeddings:
        files = RunDirectory(run_dir)
        names, arrays = files.read_embeddings()
        return cls(files.path, names, arrays, files.read_config(missing_ok=True) or {})

    def embeddings(self, side: str) -> Embeddings:
        import torch

        from gaussea.evaluate.similarity import Embeddings

        var = self.arrays.get(f"{side}_var")
        return Embeddings(torch.from_numpy(np.ascontiguousarray(self.arrays[f"{side}_mean"])),
                          None if var is None else torch.from_numpy(np.ascontiguousarray(var)))

    @property
    def eval_config(self) -> dict:
        """The run's evaluation section (similarity, csls_k, chunk_size), with the library defaults."""
        ev = {"similarity": "cosine", "csls_k": 10, "chunk_size": None}
        ev.update({k: v for k, v in self.config.get("eval", {}).items() if k in ev})
        return ev

    def ids(self, side: str, entities: Sequence[str]) -> np.ndarray:
        """Ids of named entities of ``side``; unknown names are a ValueError listing a few of them."""
        index = {name: i for i, name in enumerate(self.names[side])}
        missing = [e for e in entities if e not in index]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:5])
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise ValueError(f"{len(missing)} entit{'y' if len(missing) == 1 else 'ies'} not in the {side} graph "
                             f"of {self.run_dir}: {shown}{more}")
        return np.asarray([index[e] for e in entities], dtype=np.int64)

    def side_of(self, entity: str) -> list[str]:
        """The sides (``left`` / ``right``) whose graph has an entity of this name."""
        return [side for side in ("left", "right") if entity in set(self.names[side])]


def _sides(direction: str) -> tuple[str, str]:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return ("left", "right") if direction == "left_to_right" else ("right", "left")


@dataclass
class KnownPairs:
    """The links a run was given as input (``split/{train,valid}_links``), as ids in one alignment direction.

    ``sources[i]`` -> ``targets[i]`` is a known pair from split ``splits[i]`` (``train`` / ``valid``); sources are
    the direction's source side (left ends for ``left_to_right``, right ends for ``right_to_left``).
    """

    sources: np.ndarray  # (p,) int64
    targets: np.ndarray  # (p,) int64
    splits: list[str]

    @classmethod
    def none(cls) -> KnownPairs:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), [])

    @classmethod
    def load(cls, run: RunEmbeddings, direction: str) -> KnownPairs:
        """Read the run's train and valid links; both files must exist (a finished run always writes them).

        A missing file (FileNotFoundError), a malformed line or a name the embeddings do not have (ValueError)
        is an error naming the file and line: silently dropping a known pair would re-predict it.
        """
        src_side, tgt_side = _sides(direction)
        files = RunDirectory(run.run_dir)
        index = {side: {name: i for i, name in enumerate(run.names[side])} for side in ("left", "right")}
        sources, targets, splits = [], [], []
        for split in KNOWN_SPLITS:
            path = files.links_path(split)
            if not path.exists():
                raise FileNotFoundError(f"{path}: missing, so the run's known pairs cannot be kept fixed "
                                        "(keep_known=False / --realign-known aligns without them)")
            for lineno, left, right in link_name_lines(path):
                ids = {}
                for side, name in (("left", left), ("right", right)):
                    if name not in index[side]:
                        raise ValueError(f"{path}:{lineno}: entity {name!r} is not in the {side} graph of "
                                         f"{files.embeddings_path}")
                    ids[side] = index[side][name]
                sources.append(ids[src_side])
                targets.append(ids[tgt_side])
                splits.append(split)
        return cls(np.asarray(sources, np.int64), np.asarray(targets, np.int64), splits)

    def by_source(self) -> dict[int, list[tuple[int, str]]]:
        """Source id -> its known ``(target id, split)`` pairs, in file order (usually one)."""
        out: dict[int, list[tuple[int, str]]] = {}
        for s, t, split in zip(self.sources.tolist(), self.targets.tolist(), self.splits, strict=True):
            out.setdefault(s, []).append((t, split))
        return out


def candidate_lists(run: RunEmbeddings, source_ids: np.ndarray | None, k: int, *,
                    direction: str = "left_to_right", similarity: str | None = None,
                    csls_k: int | None | str = "run", chunk_size: int | None = None,
                    exclude_sources: np.ndarray | None = None,
                    exclude_targets: np.ndarray | None = None) -> Candidates:
    """Top-``k`` targets of each source (default: every source), scored as the run's evaluation scores.

    ``similarity`` / ``csls_k`` override the run's eval settings (``csls_k=None`` disables CSLS; the default
    ``"run"`` keeps the run's). ``exclude_targets`` are never candidates and, with ``exclude_sources``, leave
    the CSLS neighbourhoods, as in the evaluator's ``"all"`` mode with the same exclusions. Work is chunked by
    :func:`gaussea.evaluate.top_k`.
    """
    from gaussea.evaluate.ranking import top_k

    src_side, tgt_side = _sides(direction)
    ev = run.eval_config
    sim = similarity or ev["similarity"]
    ck = ev["csls_k"] if csls_k == "run" else csls_k
    source, target = run.embeddings(src_side), run.embeddings(tgt_side)
    ids = np.arange(len(source)) if source_ids is None else np.asarray(source_ids, dtype=np.int64)
    pool = _kept(len(target), exclude_targets)
    width = min(k, len(target) if pool is None else len(pool))
    if len(ids) == 0 or width == 0:
        return Candidates(ids, np.full((len(ids), width), -1, np.int64), np.full((len(ids), width), -np.inf))
    scores, targets = top_k(source, target, ids, k, similarity=sim, csls_k=ck, candidates=pool,
                            source_pool=_kept(len(source), exclude_sources),
                            chunk_size=chunk_size or ev["chunk_size"])
    return Candidates(ids, targets.cpu().numpy(), scores.double().cpu().numpy())


def _kept(n: int, excluded: np.ndarray | None) -> np.ndarray | None:
    """Ids ``0..n-1`` that are not in ``excluded``; None (everyone, no pool to restrict) when none is."""
    if excluded is None or len(excluded) == 0:
        return None
    ids = np.arange(n, dtype=np.int64)
    return ids[~np.isin(ids, excluded)]


@dataclass
class Alignment:
    """Predicted counterparts: for each source name, ranked ``(target name, score)`` rows.

    ``rows()`` yields ``(source, rank, target, score)``; one-to-one alignments have one row per source with
    ``rank`` the target's position in the source's candidate list, and ``target=None`` when unmatched.
    ``origins`` labels every row: ``"predicted"``, or the split (``train`` / ``valid``) of a known pair kept
    fixed, whose rank and score are None (it was not ranked). None means every row is predicted.
    """

    direction: str
    source_names: list[str]
    target_names: list[list[str | None]]
    scores: list[list[float]]
    ranks: list[list[int]]
    settings: dict
    origins: list[list[str]] | None = None

    def labelled_rows(self) -> Iterator[tuple[str, int | None, str | None, float | None, str]]:
        """``(source, rank, target, score, origin)`` of every row, in source order."""
        origins = self.origins or [[PREDICTED] * len(t) for t in self.target_names]
        for src, tgts, scs, rks, ors in zip(self.source_names, self.target_names, self.scores, self.ranks,
                                            origins, strict=True):
            for t, s, r, o in zip(tgts, scs, rks, ors, strict=True):
                if t is None or o != PREDICTED:
                    yield src, None, t, None, o
                else:
                    yield src, r, t, s, o

    def rows(self) -> Iterator[tuple[str, int | None, str | None, float | None]]:
        for src, rank, tgt, score, _ in self.labelled_rows():
            yield src, rank, tgt, score

    def best(self) -> dict[str, str]:
        """Source name -> its first (or assigned, or known) target name, unmatched sources left out."""
        return {src: tgts[0] for src, tgts in zip(self.source_names, self.target_names, strict=True)
                if tgts and tgts[0] is not None}

    def to_tsv(self, path: str | Path) -> int:
        """Write ``source, rank, target, score, origin`` rows (with a header) atomically; returns the row count.

        Unmatched sources of a one-to-one alignment get a row with empty rank, target and score, so every
        requested source appears in the file; known pairs kept fixed have empty rank and score and their split
        as origin, so the file itself says which pairs (and how many) were kept rather than predicted.
        """
        lines = [TSV_HEADER]
        for src, rank, tgt, score, origin in self.labelled_rows():
            cells = [src, "" if rank is None else str(rank), tgt or "", "" if score is None else f"{score:.6f}",
                     origin]
            lines.append("\t".join(cells) + "\n")
        atomic_write_text(path, "".join(lines))
        return len(lines) - 1


def align(run_dir: str | Path, entities: Sequence[str] | None = None, top_k: int = 1, *,
          direction: str = "left_to_right", one_to_one_method: str | None = None,
          candidates: int = DEFAULT_CANDIDATES, similarity: str | None = None,
          csls_k: int | None | str = "run", chunk_size: int | None = None, keep_known: bool = True) -> Alignment:
    """Predicted counterpart(s) of ``entities`` (default: every entity of the source graph) of a run.

    Args:
        run_dir: a finished ``gaussea run`` directory.
        entities: source-graph entity names; None aligns all of them.
        top_k: targets per source (ranked) when no one-to-one method is given.
        direction: ``left_to_right`` (sources = left graph) or ``right_to_left``.
        one_to_one_method: ``greedy`` / ``hungarian`` / ``stable``: one target per source, no target twice,
            chosen among each source's ``candidates`` best targets.
        candidates: candidate list length ``K`` for the one-to-one assignment.
        similarity, csls_k: override the run's scoring (defaults: as the run was evaluated).
        keep_known: keep the run's known pairs (train + valid links) fixed: their sources are not queried but
            written with their known target (origin ``train`` / ``valid``), and their targets are nobody's
            candidate (see the module docstring). False ranks every requested source against every target.

    ``settings`` records ``known_pairs`` (``"fixed"`` / ``"realigned"``), ``kept_known`` (known pairs written
    as fixed rows, per split: those whose source was requested), ``excluded_targets`` (known targets out of
    the candidate pool, whichever sources were requested) and ``queried`` (sources actually ranked).
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if one_to_one_method is not None and one_to_one_method not in ONE_TO_ONE_METHODS:
        raise ValueError(f"one-to-one method must be one of {ONE_TO_ONE_METHODS}, got {one_to_one_method!r}")
    if one_to_one_method is not None and top_k != 1:
        raise ValueError("a one-to-one alignment gives one target per source: use --candidates K, not --top-k")
    run = RunEmbeddings.load(run_dir)
    src_side, tgt_side = _sides(direction)
    ids = np.arange(len(run.names[src_side])) if entities is None else run.ids(src_side, list(entities))
    known = KnownPairs.load(run, direction) if keep_known else KnownPairs.none()
    fixed = known.by_source()
    queries = np.asarray([i for i in ids.tolist() if i not in fixed], dtype=np.int64)
    k = candidates if one_to_one_method else top_k
    cand = candidate_lists(run, queries, k, direction=direction, similarity=similarity, csls_k=csls_k,
                           chunk_size=chunk_size, exclude_sources=known.sources, exclude_targets=known.targets)
    src_names, tgt_names = run.names[src_side], run.names[tgt_side]
    ev = run.eval_config
    kept = [split for i in ids.tolist() for _, split in fixed.get(i, [])]
    settings = {
        "direction": direction,
        "similarity": similarity or ev["similarity"],
        "csls_k": ev["csls_k"] if csls_k == "run" else csls_k,
        "csls_pools": "all entities of both graphs" + (" but the known pairs' ends" if keep_known else ""),
        "one_to_one": one_to_one_method,
        "candidates": cand.k if one_to_one_method else None,
        "top_k": None if one_to_one_method else cand.k,
        "known_pairs": "fixed" if keep_known else "realigned",
        "kept_known": {split: kept.count(split) for split in KNOWN_SPLITS},
        "excluded_targets": len(np.unique(known.targets)),
        "queried": len(queries),
    }
    rows = dict(zip(queries.tolist(), _predicted_rows(cand, one_to_one_method, settings), strict=True))
    for i, pairs in fixed.items():
        rows[i] = ([t for t, _ in pairs], [float("nan")] * len(pairs), [0] * len(pairs), [sp for _, sp in pairs])
    chosen = [rows[i] for i in ids.tolist()]
    return Alignment(direction, [src_names[i] for i in ids.tolist()],
                     [[tgt_names[t] if t >= 0 else None for t in row[0]] for row in chosen],
                     [row[1] for row in chosen], [row[2] for row in chosen], settings, [row[3] for row in chosen])


def _predicted_rows(cand: Candidates, one_to_one_method: str | None,
                    settings: dict) -> list[tuple[list[int], list[float], list[int], list[str]]]:
    """``(target ids, scores, ranks, origins)`` per candidate row: its ranked list, or its one-to-one match.

    A source left without any target (unmatched, or every target excluded) gets one row with target ``-1``.
    Records the number of matched sources in ``settings["matched"]`` for a one-to-one method.
    """
    if one_to_one_method:
        m = one_to_one(cand, one_to_one_method)
        settings["matched"] = m.num_matched
        return [([int(t)], [float(s)], [int(r)], [PREDICTED]) for t, s, r in zip(m.targets, m.scores, m.ranks,
                                                                                  strict=True)]
    out = []
    for srow, trow in zip(cand.scores, cand.targets, strict=True):
        real = trow >= 0
        if not real.any():
            out.append(([-1], [float("nan")], [0], [PREDICTED]))
        else:
            n = int(real.sum())
            out.append((trow[real].tolist(), srow[real].tolist(), list(range(1, n + 1)), [PREDICTED] * n))
    return out


def link_accuracy(alignment: Alignment, links: Sequence[tuple[str, str]]) -> tuple[int, int]:
    """``(correct, total)``: how many gold links (left, right) the alignment's first choices reproduce.

    Only links whose source was aligned count; links are flipped for ``right_to_left`` alignments.
    """
    best = alignment.best()
    pairs = links if alignment.direction == "left_to_right" else [(b, a) for a, b in links]
    asked = set(alignment.source_names)
    relevant = [(a, b) for a, b in pairs if a in asked]
    return sum(best.get(a) == b for a, b in relevant), len(relevant)


__all__ = [
    "Alignment", "Candidates", "KnownPairs", "Matching", "MissingDependencyError", "RunEmbeddings", "align",
    "candidate_lists", "greedy_match", "hungarian_match", "link_accuracy", "one_to_one", "read_links",
    "stable_match",
]
