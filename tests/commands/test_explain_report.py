"""``gaussea explain`` (variance-based modality trust), ``gaussea report`` (HTML/Markdown + PNG plots) and the
per-epoch loggers.

Explain logic is tested on a *fabricated* synthetic run whose variances are planted (corrupted images get large
visual variances), so the expected answers are known; the report is rendered from one real tiny training run.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from gaussea.cli import main
from gaussea.commands.explain import (
    corruption_masks,
    dominant_modality,
    explain_entity,
    format_summary,
    modality_weights,
    variance_summary,
)
from gaussea.config import RunConfig
from gaussea.corruption_variance import auc_higher
from gaussea.data.registry import default_registry
from gaussea.errors import MissingDependencyError
from gaussea.loggers import CSVLogger, LoggerGroup, MLflowLogger, TensorBoardLogger, build_loggers, flatten_record
from gaussea.run_files import RunDirectory

SYNTH_OPTIONS = {"num_entities": 150}


# --- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic run directory with planted variances: visual 5.0 if the image is corrupted, else 0.6."""
    run_dir = tmp_path_factory.mktemp("planted")
    pair = default_registry().load("synthetic", None, **SYNTH_OPTIONS)
    cfg = RunConfig(model_name="gaussian").to_dict()
    cfg["data"]["options"] = SYNTH_OPTIONS
    (run_dir / "config.json").write_text(json.dumps(cfg))
    rng = np.random.default_rng(0)
    arrays, variances = {}, {}
    for side, kg in (("left", pair.left), ("right", pair.right)):
        n = kg.num_entities
        arrays[f"{side}_names"] = np.array(kg.entities.names)
        arrays[f"{side}_mean"] = rng.normal(size=(n, 8)).astype(np.float32)
        bad = np.zeros(n, dtype=bool)
        bad[pair.meta["corrupted_image"][side]] = True
        has_img = np.zeros(n, dtype=bool)
        has_img[kg.images.entity] = True
        variances[f"{side}_common"] = np.full(n, 0.55, np.float32)
        variances[f"{side}_relational"] = np.full(n, 0.8, np.float32)
        variances[f"{side}_visual"] = np.where(has_img, np.where(bad, 5.0, 0.6), np.nan).astype(np.float32)
        variances[f"{side}_numerical"] = np.full(n, 0.8, np.float32)
    np.savez(run_dir / "embeddings.npz", **arrays)
    np.savez(run_dir / "variances.npz", **variances)
    (run_dir / "split").mkdir()
    a, b = pair.links[0]
    (run_dir / "split" / "test_links").write_text(f"{pair.left.entities.name(a)}\t{pair.right.entities.name(b)}\n")
    return run_dir


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real (tiny) training run, with a validation slice so the loss plot has a valid-MRR panel."""
    from gaussea.runner import run

    run_dir = tmp_path_factory.mktemp("tiny") / "run"
    cfg = RunConfig.from_dict({
        "data": {"options": SYNTH_OPTIONS, "valid_ratio": 0.1},
        "model": {"dim": 16},
        "train": {"stage1_epochs": 2, "stage2_epochs": 2, "progress": False, "eval_every": 1},
        "model_name": "gaussian",  # the paper model: two stages in the log
    })
    run(cfg, run_dir)
    return run_dir


# --- explain: units ------------------------------------------------------------------------------------
def test_modality_weights_are_inverse_variance_shares() -> None:
    w = modality_weights({"common": 0.3, "relational": 1.0, "visual": 4.0, "numerical": float("nan")})
    assert set(w) == {"relational", "visual"}  # common is not a modality; NaN = absent
    assert w["relational"] == pytest.approx(0.8) and w["visual"] == pytest.approx(0.2)
    assert modality_weights({"visual": float("nan")}) == {}


def test_dominant_modality_ties_and_single_modalities() -> None:
    nan = np.nan
    modal = np.array([[0.5, 0.9, 0.7], [0.5, 0.5, 0.5], [nan, 0.6, nan], [0.9, nan, 0.6], [0.5, 0.50001, 2.0]])
    assert dominant_modality(modal).tolist() == [0, -1, -2, 2, -1]


def test_auc_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    pos, neg = rng.integers(0, 5, 30).astype(float), rng.integers(0, 5, 40).astype(float)
    brute = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])
    assert auc_higher(pos, neg) == pytest.approx(brute)


# --- explain: planted run -------------------------------------------------------------------------------
def test_summary_on_planted_variances(planted_run: Path) -> None:
    s = variance_summary(planted_run)
    assert set(s["spaces"]) == {"common", "relational", "visual", "numerical"}
    vis = s["spaces"]["visual"]
    assert vis["quantiles"]["q00"] == pytest.approx(0.6) and vis["quantiles"]["q100"] == pytest.approx(5.0)
    c = s["corruption"]["visual"]
    assert c["auc"] == pytest.approx(1.0) and c["corrupted_mean"] == pytest.approx(5.0)
    assert c["clean_mean"] == pytest.approx(0.6)
    dom = s["dominance"]
    # visual is trusted exactly where the image is clean; elsewhere relational = numerical = 0.8 tie
    assert dom["share"]["visual"] + dom["tie"] == pytest.approx(1.0)
    assert dom["share"]["visual"] == pytest.approx(c["num_clean"] / dom["entities_with_2plus_modalities"])
    text = format_summary(s)
    assert "AUC 1.000" in text and "visual" in text


def test_corruption_masks_match_generator(planted_run: Path) -> None:
    masks = corruption_masks(planted_run)
    pair = default_registry().load("synthetic", None, **SYNTH_OPTIONS)
    assert np.flatnonzero(masks["visual"]["left"]).tolist() == sorted(pair.meta["corrupted_image"]["left"])
    assert set(masks) == {"visual", "numerical"}


def test_explain_entity_on_planted_run(planted_run: Path) -> None:
    pair = default_registry().load("synthetic", None, **SYNTH_OPTIONS)
    bad = pair.left.entities.name(pair.meta["corrupted_image"]["left"][0])
    [item] = explain_entity(planted_run, bad, candidates=3)
    assert item["side"] == "left" and item["ground_truth_corrupted"]["visual"] is True
    assert item["trusted"] == "tie"  # relational = numerical = 0.8 < visual 5.0
    assert item["weights"]["visual"] == pytest.approx((1 / 5) / (1 / 5 + 2 / 0.8))
    assert len(item["candidates"]) == 3
    has_img = set(pair.left.images.entity.tolist()) - set(pair.meta["corrupted_image"]["left"])
    good = pair.left.entities.name(sorted(has_img)[0])
    [item] = explain_entity(planted_run, good)
    assert item["trusted"] == "visual"
    with pytest.raises(ValueError, match="neither graph"):
        explain_entity(planted_run, "no-such-entity")


def test_explain_cli(planted_run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["explain", str(planted_run)]) == 0
    out = capsys.readouterr().out
    assert "trusted modality" in out and "synthetic ground truth, visual" in out
    assert main(["explain", str(planted_run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["corruption"]["visual"]["auc"] == pytest.approx(1.0)
    link = (planted_run / "split" / "test_links").read_text().split()
    assert main(["explain", str(planted_run), "--entity", link[0], "--entity", link[1]]) == 0
    out = capsys.readouterr().out
    assert f"entity {link[0]} (left graph" in out and f"entity {link[1]} (right graph" in out
    assert f"reference link (test): {link[1]}" in out
    assert main(["explain", str(planted_run), "--entity", link[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["links"] == [{"split": "test", "counterpart": link[1]}]


def test_explain_without_variances(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["explain", str(tmp_path)]) == 2
    assert "no learned variances" in capsys.readouterr().err


# --- report ---------------------------------------------------------------------------------------------
def _check_png(data: bytes) -> None:
    """A valid PNG of reasonable size that is not a blank canvas."""
    import matplotlib.image as mpimg

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000
    img = mpimg.imread(__import__("io").BytesIO(data), format="png")
    h, w = img.shape[:2]
    assert w >= 400 and h >= 250
    rgb = (img[..., :3] * 255).astype(np.int32)
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert len(colours) > 20  # lines, text, fills: far from a single colour
    assert img[..., :3].std() > 0.05


def test_report_renders(tiny_run: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("matplotlib")
    out = tiny_run / "report"  # the default output folder
    assert main(["report", str(tiny_run)]) == 0
    assert "4 figures" in capsys.readouterr().out
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["corruption.png", "hits_at_k.png", "losses.png", "variances.png"]
    for p in (out / "figures").iterdir():
        _check_png(p.read_bytes())
    page = (out / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == 4
    for b64 in embedded:
        _check_png(base64.b64decode(b64))
    assert not re.search(r'src="(?!data:)', page)  # self-contained: no external references
    md = (out / "report.md").read_text()
    for name in figures:
        assert f"(figures/{name})" in md
    assert "H@1 %" in md and "Variance summary" in md


def test_hits_curve_matches_metrics(tiny_run: Path) -> None:
    from gaussea.commands.report import hits_curve

    metrics = json.loads((tiny_run / "metrics.json").read_text())
    curves = hits_curve(tiny_run)
    assert {f"{mode}_candidates" for mode in curves} == set(metrics["test"])
    for mode, y in curves.items():
        assert len(y) == 50 and np.all(np.diff(y) >= 0)
        for k in (1, 5, 10):
            assert y[k - 1] == pytest.approx(metrics["test"][f"{mode}_candidates"][f"hits@{k}"], abs=1e-9)


def test_train_log_has_both_stages_and_valid_mrr(tiny_run: Path) -> None:
    log = RunDirectory(tiny_run).read_train_log()
    assert [r["stage"] for r in log] == [1, 1, 2, 2] and all("valid_mrr" in r for r in log)


def test_report_without_matplotlib(tiny_run: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["report", str(tiny_run), "--out", str(tiny_run / "nope")]) == 2
    assert "pip install 'gaussea[plot]'" in capsys.readouterr().err
    assert not (tiny_run / "nope").exists()


def test_report_needs_a_finished_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("matplotlib")
    assert main(["report", str(tmp_path)]) == 2
    assert "not a finished run" in capsys.readouterr().err


# --- per-epoch loggers ----------------------------------------------------------------------------------
RECORDS = [{"epoch": 1, "stage": 1, "seconds": 0.5, "loss": {"rel": 1.0, "ac": 0.3}},
           {"epoch": 2, "stage": 1, "seconds": 0.4, "loss": {"rel": 0.8, "ac": 0.2}, "valid_mrr": 0.1},
           {"epoch": 3, "stage": 2, "seconds": 0.4, "loss": {"rel": 0.7, "ac": 0.2}}]


def test_flatten_record() -> None:
    assert flatten_record(RECORDS[1]) == {"epoch": 2, "stage": 1, "seconds": 0.4, "loss/rel": 0.8, "loss/ac": 0.2,
                                          "valid_mrr": 0.1}


def test_csv_logger_and_resume(tmp_path: Path) -> None:
    import csv

    path = tmp_path / "train_log.csv"
    log = CSVLogger(path)
    for r in RECORDS:
        log.on_epoch(r)
    log.close()
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert list(rows[0]) == ["epoch", "stage", "seconds", "loss/rel", "loss/ac", "valid_mrr"]
    assert rows[0]["valid_mrr"] == "" and rows[1]["valid_mrr"] == "0.1"
    # a resumed run replays from epoch 3 (checkpoint after 2): epoch 3's stale row is replaced
    again = CSVLogger(path)
    again.on_epoch({**RECORDS[2], "seconds": 9.0})
    rows = list(csv.DictReader(path.open()))
    assert [(r["epoch"], r["seconds"]) for r in rows] == [("1", "0.5"), ("2", "0.4"), ("3", "9.0")]


def test_build_loggers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [csv_logger] = build_loggers(["csv", "csv"], tmp_path)
    assert isinstance(csv_logger, CSVLogger) and csv_logger.path == tmp_path / "train_log.csv"
    assert build_loggers(["csv"], None) == []
    with pytest.raises(ValueError, match="unknown logger"):
        build_loggers(["wandb"], tmp_path)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(MissingDependencyError, match="pip install tensorboard"):
        build_loggers(["tensorboard"], tmp_path)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(MissingDependencyError, match="pip install mlflow"):
        build_loggers(["mlflow"], tmp_path)


class _FakeMlflow:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.active = None

    def active_run(self) -> object:
        return self.active

    def start_run(self, run_name: str | None = None) -> None:
        self.active = run_name or "run"
        self.calls.append(("start", run_name))

    def end_run(self) -> None:
        self.calls.append(("end",))

    def log_params(self, params: dict) -> None:
        self.calls.append(("params", params))

    def log_metrics(self, metrics: dict, step: int) -> None:
        self.calls.append(("metrics", metrics, step))


def test_mlflow_logger_with_fake_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    group = LoggerGroup(build_loggers(["mlflow"], tmp_path / "myrun", {"train": {"lr": 0.01}}))
    assert isinstance(group.loggers[0], MLflowLogger)
    for r in RECORDS:
        group.on_epoch(r)
    group.close()
    assert fake.calls[0] == ("start", "myrun") and fake.calls[1] == ("params", {"train/lr": 0.01})
    assert fake.calls[3] == ("metrics", {"stage": 1.0, "seconds": 0.4, "loss_rel": 0.8, "loss_ac": 0.2,
                                         "valid_mrr": 0.1}, 2)
    assert fake.calls[-1] == ("end",)


def test_tensorboard_logger_with_fake_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    scalars: list[tuple] = []

    class Writer:
        def __init__(self, log_dir: str) -> None:
            scalars.append(("dir", log_dir))

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            scalars.append((tag, value, step))

        def flush(self) -> None:
            pass

        def close(self) -> None:
            scalars.append(("closed",))

    monkeypatch.setitem(sys.modules, "tensorboard", types.ModuleType("tensorboard"))
    fake_tb = types.ModuleType("torch.utils.tensorboard")
    fake_tb.SummaryWriter = Writer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake_tb)
    [tb] = build_loggers(["tensorboard"], tmp_path)
    assert isinstance(tb, TensorBoardLogger)
    tb.on_epoch(RECORDS[0])
    tb.close()
    assert scalars[0] == ("dir", str(tmp_path / "tensorboard"))
    assert ("loss/rel", 1.0, 1) in scalars and scalars[-1] == ("closed",)
