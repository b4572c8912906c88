"""One-to-one assignment algorithms, ``gaussea.alignment.align`` and the ``gaussea align`` command.

Most tests use a *fabricated* run directory (``embeddings.npz`` + ``config.json`` + ``split/``) whose right graph
is a noisy permutation of the left one, so the correct alignment is known and no training is needed. With
``noise=1.0, seed=3`` (:data:`HARD`) the plain ranking proposes known targets to new sources and a Hungarian
matching moves known pairs, which is what keeping the known pairs fixed must prevent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gaussea.alignment import (
    Candidates,
    MissingDependencyError,
    RunEmbeddings,
    align,
    candidate_lists,
    greedy_match,
    hungarian_match,
    link_accuracy,
    one_to_one,
    read_links,
    stable_match,
)
from gaussea.cli import main
from gaussea.config import RunConfig
from gaussea.evaluate import Embeddings, alignment_ranks

N_LEFT, N_EXTRA_RIGHT, DIM = 60, 15, 12
N_TRAIN, N_VALID = 12, 6  # the first links of the gold dict go to train, then valid; the rest are test links
N_KNOWN, N_TEST = N_TRAIN + N_VALID, N_LEFT - N_TRAIN - N_VALID
HARD = {"noise": 1.0, "seed": 3}


def make_fake_run(run_dir: Path, noise: float = 0.05, seed: int = 0) -> dict[str, str]:
    """A run directory whose right graph = left graph permuted + noise + unlinked extras; returns gold links."""
    rng = np.random.default_rng(seed)
    left = rng.normal(size=(N_LEFT, DIM)).astype(np.float32)
    perm = rng.permutation(N_LEFT + N_EXTRA_RIGHT)
    right = rng.normal(size=(N_LEFT + N_EXTRA_RIGHT, DIM)).astype(np.float32)
    right[perm[:N_LEFT]] = left + noise * rng.normal(size=left.shape).astype(np.float32)
    left_names = np.array([f"L:{i}" for i in range(N_LEFT)])
    right_names = np.array([f"R:{j}" for j in range(len(right))])
    run_dir.mkdir(parents=True, exist_ok=True)
    np.savez(run_dir / "embeddings.npz", left_names=left_names, right_names=right_names, left_mean=left,
             right_mean=right, left_var=np.full_like(left, 0.5), right_var=np.full_like(right, 0.5))
    (run_dir / "config.json").write_text(json.dumps(RunConfig().to_dict()))
    gold = {f"L:{i}": f"R:{perm[i]}" for i in range(N_LEFT)}
    (run_dir / "split").mkdir(exist_ok=True)
    items = list(gold.items())
    for name, part in (("train", items[:N_TRAIN]), ("valid", items[N_TRAIN:N_KNOWN]), ("test", items[N_KNOWN:])):
        (run_dir / "split" / f"{name}_links").write_text("".join(f"{a}\t{b}\n" for a, b in part))
    return gold


@pytest.fixture
def fake_run(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    gold = make_fake_run(tmp_path / "run")
    return tmp_path / "run", gold


def random_candidates(rng: np.random.Generator, n: int, m: int, k: int) -> Candidates:
    scores = rng.random((n, m))
    order = np.argsort(-scores, axis=1)[:, :k]
    return Candidates(np.arange(n), order, np.take_along_axis(scores, order, 1))


# --- assignment algorithms -------------------------------------------------------------------------------
def test_greedy_takes_global_best_first() -> None:
    # source 0 prefers t0 (0.9), source 1 prefers t0 more (0.95): greedy gives t0 to 1, t1 to 0
    cand = Candidates([0, 1], [[0, 1], [0, 1]], [[0.9, 0.5], [0.95, 0.1]])
    m = greedy_match(cand)
    assert m.targets.tolist() == [1, 0]
    assert m.ranks.tolist() == [2, 1]
    assert m.scores.tolist() == [0.5, 0.95]


def test_unmatched_when_candidates_run_out() -> None:
    cand = Candidates([0, 1, 2], [[0, -1], [0, -1], [0, 1]], [[0.9, -np.inf], [0.8, -np.inf], [0.7, 0.6]])
    for method in ("greedy", "stable"):
        m = one_to_one(cand, method)
        assert m.targets.tolist() == [0, -1, 1]
        assert np.isnan(m.scores[1]) and m.ranks[1] == 0
        assert m.num_matched == 2


@pytest.mark.parametrize("seed", range(5))
def test_matchings_are_one_to_one_and_stable_equals_greedy_for_symmetric_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cand = random_candidates(rng, 40, 30, 5)
    g, s = greedy_match(cand), stable_match(cand)
    for m in (g, s):
        matched = m.targets[m.targets >= 0]
        assert len(set(matched.tolist())) == len(matched)
        for r, t in enumerate(m.targets):
            if t >= 0:
                assert t in cand.targets[r]
    # one score for both sides -> the stable matching is unique and is the greedy one
    assert g.targets.tolist() == s.targets.tolist()


def test_stable_with_own_target_preferences() -> None:
    # textbook instance: sources propose, targets rank sources by their own preference
    cand = Candidates([0, 1, 2], [[0, 1, 2], [1, 0, 2], [0, 1, 2]], [[3, 2, 1], [3, 2, 1], [3, 2, 1]])
    prefs = {0: [1, 0, 2], 1: [0, 1, 2], 2: [0, 1, 2]}  # target -> sources, best first
    m = stable_match(cand, target_scores=lambda t, s: -prefs[t].index(s))
    assert m.targets.tolist() == [0, 1, 2]
    # stability: no (source, target) pair that both prefer to their partners
    for s in range(3):
        for t in cand.targets[s][: int(m.ranks[s]) - 1]:
            partner = int(np.flatnonzero(m.targets == t)[0])
            assert prefs[int(t)].index(partner) < prefs[int(t)].index(s)


def test_hungarian_matches_more_and_scores_higher_than_greedy() -> None:
    pytest.importorskip("scipy")
    # greedy takes (0, t0)=0.9 and leaves source 1 without candidates; the optimum pairs both
    cand = Candidates([0, 1], [[0, 1], [0, -1]], [[0.9, 0.8], [0.85, -np.inf]])
    assert greedy_match(cand).num_matched == 1
    h = hungarian_match(cand)
    assert h.targets.tolist() == [1, 0]
    assert h.total_score() == pytest.approx(1.65)


@pytest.mark.parametrize("seed", range(3))
def test_hungarian_equals_linear_sum_assignment_on_full_lists(seed: int) -> None:
    pytest.importorskip("scipy")
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(seed)
    n, m = 25, 30
    scores = rng.normal(size=(n, m))
    order = np.argsort(-scores, axis=1)
    cand = Candidates(np.arange(n), order, np.take_along_axis(scores, order, 1))
    h = hungarian_match(cand)
    rows, cols = linear_sum_assignment(scores, maximize=True)
    assert h.num_matched == n
    assert h.total_score() == pytest.approx(scores[rows, cols].sum())
    assert h.total_score() >= greedy_match(cand).total_score() - 1e-9


def test_hungarian_without_scipy_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse.csgraph", None)
    cand = Candidates([0], [[0]], [[1.0]])
    with pytest.raises(MissingDependencyError, match="pip install scipy"):
        hungarian_match(cand)


def test_candidates_validation() -> None:
    with pytest.raises(ValueError, match="same target twice"):
        Candidates([0], [[1, 1]], [[0.5, 0.4]])
    with pytest.raises(ValueError, match="must be equal"):
        Candidates([0], [[1, 2]], [[0.5]])
    with pytest.raises(ValueError, match="one-to-one method"):
        one_to_one(Candidates([0], [[0]], [[1.0]]), "nope")


# --- align() on a run directory -------------------------------------------------------------------------
def known_links(run_dir: Path) -> list[tuple[str, str, str]]:
    """``(left, right, split)`` of the run's train and valid links."""
    return [(a, b, split) for split in ("train", "valid") for a, b in read_links(run_dir / "split" / f"{split}_links")]


def test_align_every_source_recovers_planted_links(fake_run: tuple[Path, dict[str, str]]) -> None:
    run_dir, gold = fake_run
    al = align(run_dir, top_k=3)
    assert al.source_names == [f"L:{i}" for i in range(N_LEFT)]  # every entity, not only test ones
    assert al.origins is not None
    predicted = [i for i, o in enumerate(al.origins) if o[0] == "predicted"]
    assert len(predicted) == N_TEST
    assert all(len(al.target_names[i]) == 3 for i in predicted)
    assert all(al.scores[i][0] >= al.scores[i][1] >= al.scores[i][2] for i in predicted)
    assert al.best() == gold
    assert al.settings["similarity"] == "cosine" and al.settings["csls_k"] == 10
    correct, total = link_accuracy(al, read_links(run_dir / "split" / "test_links"))
    assert (correct, total) == (N_TEST, N_TEST)


@pytest.mark.parametrize("keep_known", [True, False])
def test_align_scores_agree_with_all_mode_evaluation(tmp_path: Path, keep_known: bool) -> None:
    """First choices are exactly the test links with realistic rank 1 in ``all`` mode, known pairs' ends
    excluded from the pools when they are kept fixed, all entities with ``keep_known=False``."""
    make_fake_run(tmp_path / "run", noise=1.2, seed=3)  # noisy: some links wrong
    run = RunEmbeddings.load(tmp_path / "run")
    links = read_links(tmp_path / "run" / "split" / "test_links")
    pairs = np.stack([run.ids("left", [a for a, _ in links]), run.ids("right", [b for _, b in links])], 1)
    known = known_links(tmp_path / "run")
    exclude = {"exclude_sources": run.ids("left", [a for a, _, _ in known]),
               "exclude_targets": run.ids("right", [b for _, b, _ in known])} if keep_known else {}
    ranks, _ = alignment_ranks(run.embeddings("left"), run.embeddings("right"), pairs, mode="all", csls_k=10,
                               **exclude)
    al = align(tmp_path / "run", keep_known=keep_known)
    best = al.best()
    hits = [best[a] == b for a, b in links]
    assert 0 < sum(hits) < len(links)
    assert hits == (ranks.numpy() == 1.0).tolist()


def test_align_scores_are_true_csls(fake_run: tuple[Path, dict[str, str]]) -> None:
    """Scores are CSLS over all entities with ``keep_known=False``, over the entities outside the known pairs
    (both CSLS neighbourhoods and candidates) when they are kept fixed."""
    from gaussea.evaluate import full_score_matrix

    run_dir, _ = fake_run
    run = RunEmbeddings.load(run_dir)
    full = full_score_matrix(run.embeddings("left"), run.embeddings("right"), csls_k=10).numpy()
    al = align(run_dir, ["L:5", "L:30"], top_k=2, keep_known=False)
    for i, src in enumerate(("L:5", "L:30")):
        expect = np.sort(full[int(src[2:])])[::-1][:2]
        assert al.scores[i] == pytest.approx(expect.tolist(), abs=1e-5)
    known = known_links(run_dir)
    rows = np.setdiff1d(np.arange(N_LEFT), run.ids("left", [a for a, _, _ in known]))
    cols = np.setdiff1d(np.arange(N_LEFT + N_EXTRA_RIGHT), run.ids("right", [b for _, b, _ in known]))
    pooled = full_score_matrix(run.embeddings("left").subset(torch.from_numpy(rows)),
                               run.embeddings("right").subset(torch.from_numpy(cols)), csls_k=10).numpy()
    al = align(run_dir, ["L:30"], top_k=2)
    expect = np.sort(pooled[int(np.flatnonzero(rows == 30)[0])])[::-1][:2]
    assert al.scores[0] == pytest.approx(expect.tolist(), abs=1e-5)


def test_align_right_to_left_and_subsets(fake_run: tuple[Path, dict[str, str]]) -> None:
    run_dir, gold = fake_run
    inverse = {b: a for a, b in gold.items()}
    some = list(inverse)[:5]
    al = align(run_dir, some, direction="right_to_left")
    assert al.source_names == some
    assert al.best() == {b: inverse[b] for b in some}
    with pytest.raises(ValueError, match="not in the left graph"):
        align(run_dir, ["L:0", "nope"])
    with pytest.raises(ValueError, match="--candidates"):
        align(run_dir, top_k=2, one_to_one_method="greedy")


@pytest.mark.parametrize("method", ["greedy", "stable", "hungarian"])
def test_align_one_to_one(fake_run: tuple[Path, dict[str, str]], method: str) -> None:
    if method == "hungarian":
        pytest.importorskip("scipy")
    run_dir, gold = fake_run
    al = align(run_dir, one_to_one_method=method, candidates=5)
    targets = [t[0] for t in al.target_names if t[0] is not None]
    assert len(targets) == len(set(targets)) == N_LEFT
    assert al.best() == gold
    assert al.settings["matched"] == al.settings["queried"] == N_TEST


# --- known pairs (the run's train + valid links) ---------------------------------------------------------
@pytest.fixture
def hard_run(tmp_path: Path) -> Path:
    make_fake_run(tmp_path / "run", **HARD)
    return tmp_path / "run"


def oriented_known(run_dir: Path, direction: str) -> list[tuple[str, str, str]]:
    """``(source, target, split)`` of the known pairs in the alignment direction."""
    flip = direction == "right_to_left"
    return [(b, a, sp) if flip else (a, b, sp) for a, b, sp in known_links(run_dir)]


ALIGN_MODES = {"top3": {"top_k": 3}, "greedy": {"one_to_one_method": "greedy", "candidates": 5},
               "hungarian": {"one_to_one_method": "hungarian", "candidates": 5},
               "stable": {"one_to_one_method": "stable", "candidates": 5}}


@pytest.mark.parametrize("mode", ALIGN_MODES)
@pytest.mark.parametrize("direction", ["left_to_right", "right_to_left"])
def test_known_pairs_stay_fixed_by_default(hard_run: Path, direction: str, mode: str) -> None:
    """No query is proposed a known target, known sources are not queried, every known pair is written as is."""
    if mode == "hungarian":
        pytest.importorskip("scipy")
    known = oriented_known(hard_run, direction)
    known_sources, known_targets = {a for a, _, _ in known}, {b for _, b, _ in known}
    old = align(hard_run, direction=direction, keep_known=False, **ALIGN_MODES[mode])
    # the fixture has the problem: ranking every entity proposes known targets to new sources
    assert any(t in known_targets for src, _, t, _ in old.rows() if src not in known_sources)

    al = align(hard_run, direction=direction, **ALIGN_MODES[mode])
    rows = list(al.labelled_rows())
    fixed = [r for r in rows if r[4] != "predicted"]
    assert sorted(fixed) == sorted((a, None, b, None, sp) for a, b, sp in known)
    predicted = [r for r in rows if r[4] == "predicted"]
    assert not {t for _, _, t, _, _ in predicted} & known_targets
    assert not {src for src, *_ in predicted} & known_sources
    assert al.source_names == old.source_names  # every source still has a row, in the same order
    assert al.settings["known_pairs"] == "fixed"
    assert al.settings["kept_known"] == {"train": N_TRAIN, "valid": N_VALID}
    assert al.settings["excluded_targets"] == N_KNOWN
    assert al.settings["queried"] == len(al.source_names) - N_KNOWN


@pytest.mark.parametrize("method", ["greedy", "hungarian", "stable"])
def test_one_to_one_never_reassigns_a_known_pair(hard_run: Path, method: str) -> None:
    if method == "hungarian":
        pytest.importorskip("scipy")
    known = [(a, b) for a, b, _ in known_links(hard_run)]
    old = align(hard_run, one_to_one_method=method, candidates=5, keep_known=False).best()
    assert any(old.get(a) != b for a, b in known)  # ranking everyone moves some known pairs
    new = align(hard_run, one_to_one_method=method, candidates=5).best()
    assert all(new[a] == b for a, b in known)
    assigned = list(new.values())
    assert len(assigned) == len(set(assigned))  # still one-to-one, known targets included


@pytest.mark.parametrize("mode", ALIGN_MODES)
def test_realign_known_ranks_every_source_against_every_target(hard_run: Path, mode: str) -> None:
    """``keep_known=False``: the known pairs' sources are ranked and their targets are candidates, exactly as
    the candidate lists over all entities give."""
    if mode == "hungarian":
        pytest.importorskip("scipy")
    opts = ALIGN_MODES[mode]
    al = align(hard_run, keep_known=False, **opts)
    run = RunEmbeddings.load(hard_run)
    cand = candidate_lists(run, None, opts.get("top_k", 5))
    left, right = run.names["left"], run.names["right"]
    if "one_to_one_method" in opts:
        m = one_to_one(cand, opts["one_to_one_method"])
        want = {left[s]: right[t] for s, t in zip(m.sources, m.targets, strict=True) if t >= 0}
        assert al.best() == want
    else:
        assert al.target_names == [[right[t] for t in row] for row in cand.targets]
    assert al.origins is not None and {o for row in al.origins for o in row} == {"predicted"}
    assert al.settings["known_pairs"] == "realigned" and al.settings["queried"] == N_LEFT
    assert al.settings["kept_known"] == {"train": 0, "valid": 0} and al.settings["excluded_targets"] == 0


def test_requested_known_sources_are_fixed_and_counted(hard_run: Path) -> None:
    (a, b, split), *_ = known_links(hard_run)
    test_source = read_links(hard_run / "split" / "test_links")[0][0]
    al = align(hard_run, [test_source, a], top_k=2)
    assert list(al.labelled_rows())[-1] == (a, None, b, None, split)
    assert al.settings["kept_known"] == {"train": 1, "valid": 0}  # only the requested known source is written
    assert al.settings["excluded_targets"] == N_KNOWN  # but every known target stays out of the pool
    assert not set(al.target_names[0]) & {t for _, t, _ in known_links(hard_run)}


@pytest.mark.parametrize(("file", "text", "message"), [
    ("valid_links", None, "valid_links: missing"),
    ("valid_links", "L:0\tR:1\nL:1 R:2\n", "valid_links:2: expected 2 tab-separated columns, got 1"),
    ("train_links", "L:nope\tR:1\n", "train_links:1: entity 'L:nope' is not in the left graph"),
])
def test_unreadable_known_pairs_are_errors(fake_run: tuple[Path, dict[str, str]], file: str, text: str | None,
                                           message: str, capsys: pytest.CaptureFixture) -> None:
    """A known pair that cannot be read is an error naming the file and line, never a pair silently re-ranked."""
    run_dir, _ = fake_run
    path = run_dir / "split" / file
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        align(run_dir)
    assert main(["align", str(run_dir), "--out", str(run_dir / "a.tsv")]) == 2
    assert message in capsys.readouterr().err
    if text is None:
        assert len(align(run_dir, keep_known=False).source_names) == N_LEFT  # not needed when not kept


def test_tsv_output(fake_run: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    run_dir, _ = fake_run
    out = tmp_path / "a.tsv"
    n = align(run_dir, top_k=2).to_tsv(out)
    lines = out.read_text().splitlines()
    assert lines[0] == "source\trank\ttarget\tscore\torigin"
    assert n == len(lines) - 1 == 2 * N_TEST + N_KNOWN
    src, rank, tgt, score, origin = lines[-2].split("\t")
    assert src == f"L:{N_LEFT - 1}"
    assert rank == "1" and tgt.startswith("R:") and float(score) > 0 and origin == "predicted"
    assert not list(tmp_path.glob(".a.tsv.*"))  # no temporary file left behind


def test_unmatched_rows_are_written(tmp_path: Path) -> None:
    from gaussea.alignment import Alignment

    al = Alignment("left_to_right", ["a", "b"], [["x"], [None]], [[0.5], [float("nan")]], [[1], [0]], {})
    al.to_tsv(tmp_path / "u.tsv")
    assert (tmp_path / "u.tsv").read_text().splitlines()[1:] == ["a\t1\tx\t0.500000\tpredicted",
                                                                 "b\t\t\t\tpredicted"]


# --- the command --------------------------------------------------------------------------------------
def test_cli_align(fake_run: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run_dir, _ = fake_run
    out = tmp_path / "al.tsv"
    assert main(["align", str(run_dir), "--out", str(out), "--top-k", "2"]) == 0
    text = capsys.readouterr().out
    assert f"aligned {N_LEFT} left entities" in text and f"test links: {N_TEST}/{N_TEST}" in text
    assert len(out.read_text().splitlines()) == 1 + 2 * N_TEST + N_KNOWN
    assert main(["align", str(run_dir), "--out", str(out), "--one-to-one", "greedy", "--candidates", "3"]) == 0
    assert f"{N_TEST} matched, 0 unmatched" in capsys.readouterr().out
    tsv = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    assert sum(row[4] in ("train", "valid") for row in tsv) == N_KNOWN
    names = tmp_path / "names.txt"
    names.write_text("R:1\nR:2\n")
    assert main(["align", str(run_dir), "--out", str(out), "--direction", "right_to_left",
                 "--entities", str(names), "--csls-k", "0"]) == 0
    assert [line.split("\t")[0] for line in out.read_text().splitlines()[1:]] == ["R:1", "R:2"]


def test_cli_align_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["align", str(tmp_path / "missing"), "--out", str(tmp_path / "x.tsv")]) == 2
    assert "no embeddings" in capsys.readouterr().err


def test_embeddings_roundtrip_uses_variances(fake_run: tuple[Path, dict[str, str]]) -> None:
    run_dir, gold = fake_run
    run = RunEmbeddings.load(run_dir)
    emb = run.embeddings("left")
    assert isinstance(emb, Embeddings) and emb.var is not None and emb.mean.dtype == torch.float32
    al = align(run_dir, ["L:0"], similarity="neg_sym_kl", csls_k=None)
    assert al.best()["L:0"] == gold["L:0"]


def test_cli_align_says_how_many_known_pairs_were_kept(hard_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "al.tsv"
    assert main(["align", str(hard_run), "--out", str(out), "--one-to-one", "hungarian", "--candidates", "5"]) == 0
    text = capsys.readouterr().out
    assert (f"known pairs kept fixed: {N_KNOWN} (train {N_TRAIN}, valid {N_VALID}; origin column); "
            f"{N_KNOWN} known right entities out of the candidates; {N_TEST} left entities ranked") in text
    assert f"{N_TEST} matched, 0 unmatched" in text
    origins = [line.split("\t")[4] for line in out.read_text().splitlines()[1:]]
    assert (origins.count("train"), origins.count("valid"), len(origins)) == (N_TRAIN, N_VALID, N_LEFT)
    assert main(["align", str(hard_run), "--out", str(out), "--one-to-one", "hungarian", "--candidates", "5",
                 "--realign-known"]) == 0
    text = capsys.readouterr().out
    assert "known pairs: none kept (--realign-known)" in text and f"{N_LEFT} matched" in text
    assert {line.split("\t")[4] for line in out.read_text().splitlines()[1:]} == {"predicted"}
