"""Configuration presets: the shipped TOML files, ``extends`` resolution, and the ``gaussea presets`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gaussea.cli import main
from gaussea.config import RunConfig
from gaussea.config_migration import migrate_config
from gaussea.models.gaussian_params import GaussianCSLParams
from gaussea.presets import apply_preset, load_preset, merge_sections, preset_config, preset_names

# The run whose figures the fb15k-db15k-long preset quotes (bench/results/model/fbdb-rn/).
FB_LONG_RUN = "gaussian-s10-dim150-2threads.json"
EXPECTED = {"paper", "synthetic", "fb15k-db15k", "fb15k-db15k-long", "fb15k-yago15k", "dbp15k", "d_y_15k_v1"}


def test_builtin_presets_exist_and_validate() -> None:
    assert EXPECTED <= set(preset_names())
    for name in preset_names():
        data = load_preset(name)
        assert set(data) <= {"data", "model", "train", "eval", "model_name"}
        cfg = preset_config(name)  # every key is a real config option with a valid value
        assert isinstance(cfg, RunConfig)


def test_paper_preset_has_the_papers_values() -> None:
    cfg = preset_config("paper")
    m, t, e, d = cfg.model, cfg.train, cfg.eval, cfg.data
    assert cfg.model_name == "gaussian"
    p = GaussianCSLParams.from_options(m.options)  # the model's constants: their defaults are the paper's
    assert (p.var_init, p.var_min, p.var_max, p.image_var, p.numeric_var) == (0.5, 0.5, 50.0, 0.5, 0.5)
    assert m.modalities == ("r", "n", "v") and m.exchange and not p.symmetric_ac
    assert t.stage1_epochs > 0 and t.stage2_epochs > 0  # two stages
    assert e.csls_k == 10 and e.similarity == "cosine" and e.ks == (1, 5, 10)
    assert d.ratio == 0.2 and d.valid_ratio == 0.0


def test_dataset_presets_extend_paper() -> None:
    paper = load_preset("paper")
    for name in EXPECTED - {"paper"}:
        data = load_preset(name)
        assert data["model"]["exchange"] == paper["model"]["exchange"] and data["model_name"] == "gaussian"
        assert data["eval"]["csls_k"] == 10
    assert load_preset("fb15k-db15k")["data"]["dataset"] == "fb15k-db15k"
    dy = preset_config("d_y_15k_v1")
    assert dy.data.given_split == "split_721_ExEA" and dy.model.modalities == ("r",)
    dbp = preset_config("dbp15k")
    assert dbp.data.dataset == "dbp15k-zh_en" and dbp.data.ratio == 0.3
    assert preset_config("synthetic").data.dataset == "synthetic"


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown preset 'nope'; known: .*paper"):
        load_preset("nope")


def test_user_preset_file_extends_builtin(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('description = "x"\nextends = "dbp15k"\n[train]\nlr = 0.005\n[data]\ndataset = "dbp15k-fr_en"\n')
    data = load_preset(str(path))
    assert data["train"]["lr"] == 0.005  # the user's value wins
    assert data["train"]["stage1_epochs"] == load_preset("dbp15k")["train"]["stage1_epochs"]  # the rest inherited
    assert data["eval"]["ks"] == load_preset("paper")["eval"]["ks"]  # through dbp15k from paper
    assert data["data"]["dataset"] == "dbp15k-fr_en" and data["data"]["ratio"] == 0.3
    assert "description" not in data and "extends" not in data


def test_extends_cycle_and_bad_keys(tmp_path: Path) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(f'extends = "{b}"\n')
    b.write_text(f'extends = "{a}"\n')
    with pytest.raises(ValueError, match="cycle"):
        load_preset(str(a))
    bad = tmp_path / "bad.toml"
    bad.write_text("[trian]\nlr = 1\n")
    with pytest.raises(ValueError, match="unknown top-level key"):
        load_preset(str(bad))
    broken = tmp_path / "broken.toml"
    broken.write_text("[data\n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_preset(str(broken))


def test_apply_preset_then_config_then_flags() -> None:
    """The order of the `gaussea run --preset` hook: defaults < preset < config file < flags."""
    base = RunConfig().to_dict()
    apply_preset(base, "dbp15k")
    merge_sections(base, {"data": {"ratio": 0.5}})  # a --config file
    base["train"]["lr"] = 0.1  # a flag
    cfg = RunConfig.from_dict(base)
    assert (cfg.data.dataset, cfg.data.ratio, cfg.train.lr, cfg.model.modalities) == \
        ("dbp15k-zh_en", 0.5, 0.1, ("r",))


def test_merge_does_not_alias_preset_lists() -> None:
    base = RunConfig().to_dict()
    apply_preset(base, "paper")
    base["model"]["modalities"].append("x")
    assert load_preset("paper")["model"]["modalities"] == ["r", "n", "v"]


def test_presets_command(capsys: pytest.CaptureFixture) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in EXPECTED:
        assert name in out
    assert main(["presets", "--show", "paper"]) == 0
    shown = capsys.readouterr().out
    assert "[model]" in shown and "exchange = true" in shown
    import tomllib

    assert tomllib.loads(shown) == load_preset("paper")  # the display is valid TOML of the preset
    assert main(["presets", "--show", "d_y_15k_v1", "--full"]) == 0
    full = json.loads(capsys.readouterr().out)
    assert full == json.loads(json.dumps(preset_config("d_y_15k_v1").to_dict()))
    assert main(["presets", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(preset_names())
    assert main(["presets", "--show", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err


def test_long_fb_preset_is_the_measured_configuration() -> None:
    """`fb15k-db15k-long` quotes a measured run: its resolved config must be that run's, field by field (the run's
    JSON is committed, so this needs no data). Only where the data lives and how the run reported progress differ."""
    measured = Path(__file__).resolve().parents[1] / "bench/results/model/fbdb-rn" / FB_LONG_RUN
    recorded = migrate_config(json.loads(measured.read_text(encoding="utf-8"))["config"], str(measured))
    preset = preset_config("fb15k-db15k-long").to_dict()
    incidental = {("data", "data_dir"), ("train", "progress"), ("train", "loggers"), ("train", "checkpoint_every"),
                  ("model", "modalities")}
    for section in ("data", "model", "train", "eval"):
        for key, value in recorded[section].items():
            if (section, key) not in incidental:
                got = preset[section][key]
                assert (list(got) if isinstance(got, tuple) else got) == value, f"{section}.{key}"
    # The run asked for r,n; the preset keeps the paper's r,n,v, which on this data (no image features) is r,n.
    assert set(recorded["model"]["modalities"]) == {"r", "n"} <= set(preset["model"]["modalities"])
    assert preset["model_name"] == recorded["model_name"]


def test_set_splits_a_plain_string_for_a_list_key_on_commas() -> None:
    """``--set model.modalities=r,n`` means the list ["r", "n"] (it used to reach the config as the string "r,n");
    JSON lists and scalar keys are parsed as before."""
    from gaussea.cli import apply_overrides

    cfg = RunConfig().to_dict()
    apply_overrides(cfg, ["model.modalities=r, n", "eval.ks=[1, 3]", "model.negative_sampling=truncated"])
    assert cfg["model"]["modalities"] == ["r", "n"] and cfg["eval"]["ks"] == [1, 3]
    assert cfg["model"]["negative_sampling"] == "truncated"
    assert list(RunConfig.from_dict(cfg).model.modalities) == ["r", "n"]
