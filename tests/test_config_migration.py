"""Run configs saved before settings moved or were removed still load, as they ran (gaussea.config_migration)."""

from __future__ import annotations

import json
import typing
from dataclasses import asdict
from pathlib import Path

import pytest

from gaussea.cli import main
from gaussea.config import RunConfig
from gaussea.config_migration import (
    MOVED,
    MOVED_TO_NUMERIC_ENCODER,
    NUMERIC_ENCODER_MODEL_NAMES,
    PAPER_MODEL_NAMES,
    REMOVED,
    migrate_config,
    read_saved_config,
)
from gaussea.models.encoder_params import NUMERIC_ENCODER_MODEL_NAMES as OWNED_NUMERIC_ENCODER_MODEL_NAMES
from gaussea.models.encoder_params import NumericEncoderParams
from gaussea.models.gaussian_params import PAPER_MODEL_NAMES as OWNED_PAPER_MODEL_NAMES
from gaussea.models.gaussian_params import GaussianCSLParams

REPO = Path(__file__).resolve().parents[1]
COMMITTED_CONFIGS = sorted((REPO / "bench" / "results").rglob("config.json"))
# A committed run of the fb15k-db15k preset, written when the paper model's settings were shared fields.
FB_GAUSSIAN = REPO / "bench/results/tables/fb15k-db15k/gaussian/r0.2/s0/config.json"
# A committed run written when the numerical encoder's settings, the optimiser, init_std and the Sinkhorn rounds were
# shared fields.
FY_FUSION = REPO / "bench/results/tables-valid/fb15k-yago15k/gaussian_fusion/r0.2/s0/config.json"


def _old_config(model_name: str = "gaussian", **changes: dict) -> dict:
    """A config.json as written before the move: today's shape plus every retired key at its old default."""
    config = RunConfig(model_name=model_name).to_dict()
    for (section, key), default in {**{key: default for key, (default, _) in MOVED.items()}, **REMOVED}.items():
        config[section][key] = default
    for section, values in changes.items():
        config[section].update(values)
    return config


def test_moved_keys_go_to_the_paper_models_options() -> None:
    old = _old_config(model={"var_max": 20.0, "margin": 2.0, "var_init": 0.5},
                      train={"stage2_csl_steps": "batch", "entity_batch_size": 4096})
    new = migrate_config(old, "runs/a/config.json")
    assert new["model"]["options"] == {"var_max": 20.0, "margin": 2.0, "stage2_csl_steps": "batch"}
    params = GaussianCSLParams.from_options(RunConfig.from_dict(new).model.options)
    assert (params.var_max, params.margin, params.stage2_csl_steps, params.var_init) == (20.0, 2.0, "batch", 0.5)
    assert "var_max" not in new["model"] and "stage2_csl_steps" not in new["train"]
    assert old["model"]["var_max"] == 20.0  # the caller's dict is left alone


def test_moved_keys_of_another_model_are_dropped() -> None:
    """A baseline never read the paper model's fields: its migrated config must not hand them to it (transe has
    an option named margin of its own)."""
    new = migrate_config(_old_config("transe", model={"margin": 3.0}), "runs/t/config.json")
    assert new["model"]["options"] == {}
    assert RunConfig.from_dict(new).model_name == "transe"


def test_removed_keys_at_their_default_are_dropped() -> None:
    old = _old_config(train={"var_lr_mult": 1}, model={"csl_weights": {"r": 1, "v": 1.0, "n": 1.0}})
    new = migrate_config(old, "runs/a/config.json")
    assert RunConfig.from_dict(new) == RunConfig(model_name="gaussian")


@pytest.mark.parametrize(("section", "key", "value"), [
    ("train", "var_lr_mult", 10.0), ("model", "csl_unit_modal_means", True), ("model", "unit_means", False),
    ("model", "csl_weights", {"r": 1.0, "v": 1.0, "n": 0.5}), ("train", "optimiser_per_loss", True),
    ("data", "split_seed", 3), ("train", "optimiser", "adam"), ("model", "init_std", 0.2),
    ("eval", "sinkhorn_iterations", 30)])
def test_removed_keys_holding_another_value_are_refused_in_one_line(section: str, key: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        migrate_config(_old_config(**{section: {key: value}}), "runs/b/config.json")
    message = str(info.value)
    assert message.startswith(f"runs/b/config.json: {section}.{key}={json.dumps(value)} asks for a setting")
    assert "\n" not in message


def test_moved_defaults_are_the_paper_models_defaults() -> None:
    """The migration drops a moved key at its old default: right only while that is still the default."""
    defaults = asdict(GaussianCSLParams())
    assert {key: default for (_, key), (default, _) in MOVED.items()} == defaults
    assert {key: default for (_, key), default in MOVED_TO_NUMERIC_ENCODER.items()} == asdict(NumericEncoderParams())


def test_paper_model_names_match_the_models_that_read_the_options() -> None:
    from gaussea.models import model_builders
    from gaussea.models.gaussian_csl import GaussianCommonSpace

    readers = tuple(name for name, builder in model_builders().items() if issubclass(builder, GaussianCommonSpace))
    assert PAPER_MODEL_NAMES == OWNED_PAPER_MODEL_NAMES == readers


def test_numeric_encoder_model_names_match_the_models_whose_params_have_its_settings() -> None:
    from gaussea.models import model_builders

    def params_class(builder: type) -> type:
        return typing.get_args(typing.get_type_hints(builder.__init__)["params"])[0]

    readers = tuple(name for name, builder in model_builders().items()
                    if issubclass(params_class(builder), NumericEncoderParams))
    assert NUMERIC_ENCODER_MODEL_NAMES == OWNED_NUMERIC_ENCODER_MODEL_NAMES == readers


def test_every_committed_run_config_loads() -> None:
    assert len(COMMITTED_CONFIGS) >= 60  # bench/results/tables*/**, bench/results/gaussian-fusion/**
    for path in COMMITTED_CONFIGS:
        cfg = RunConfig.from_dict(read_saved_config(path))
        assert cfg.model_name == json.loads(path.read_text(encoding="utf-8"))["model_name"]


def test_a_committed_paper_model_run_keeps_its_settings() -> None:
    """fb15k-db15k's stage-2 choices, once shared fields, are the run's options after the migration."""
    old = json.loads(FB_GAUSSIAN.read_text(encoding="utf-8"))
    cfg = RunConfig.from_dict(read_saved_config(FB_GAUSSIAN))
    assert cfg.model.options == {"free_relational_variance": False, "stage2_csl_steps": "batch"}
    params = GaussianCSLParams.from_options(cfg.model.options)
    for (section, key), (default, _) in MOVED.items():  # a key the run predates ran at its default
        assert getattr(params, key) == old[section].get(key, default), key
    assert (cfg.model.dim, cfg.train.batch_size, cfg.model.negatives) == (
        old["model"]["dim"], old["train"]["batch_size"], old["model"]["negatives"])


def test_a_resumed_old_run_directory_reads_its_config(tmp_path: Path) -> None:
    """``gaussea run --resume`` on a directory written before the move (its config wins over the one given)."""
    from gaussea.runner import prepare_run_dir

    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(_old_config(model={"symmetric_ac": True})), encoding="utf-8")
    cfg = prepare_run_dir(run_dir, RunConfig(), resume=True, overwrite=False)
    assert cfg.model_name == "gaussian" and cfg.model.options == {"symmetric_ac": True}


def test_a_config_written_now_names_the_new_home_of_an_old_key() -> None:
    with pytest.raises(ValueError, match=r"^model\.var_max is now model\.options\.var_max"):
        RunConfig.from_dict({"model": {"var_max": 20.0}})
    with pytest.raises(ValueError, match=r"^train\.ac_steps was removed"):
        RunConfig.from_dict({"train": {"ac_steps": "one_pass"}})


# --- the numerical encoder's settings, the optimiser, init_std, the Sinkhorn rounds ------------------------------
def test_a_hand_written_old_config_moves_the_encoder_settings_to_the_models_that_read_them(tmp_path: Path) -> None:
    """``model.numeric_norm`` / ``rbf_width`` / ``cnn_channels`` of an imuse or paper-model run become its options;
    a model that never encoded numbers drops them."""
    old = {"model_name": "imuse",
           "model": {"dim": 32, "numeric_norm": "quantile", "rbf_width": 0.5, "cnn_channels": 8, "init_std": 0.1},
           "train": {"optimiser": "lazy_common", "lr": 0.005}, "eval": {"sinkhorn_iterations": 15}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    cfg = RunConfig.from_dict(read_saved_config(path))
    assert cfg.model.options == {"numeric_norm": "quantile", "rbf_width": 0.5}  # cnn_channels held its default
    assert (cfg.model_name, cfg.model.dim, cfg.train.lr) == ("imuse", 32, 0.005)
    mmea = migrate_config({**old, "model_name": "mmea"}, "runs/m/config.json")
    assert mmea["model"]["options"] == {"numeric_norm": "quantile", "rbf_width": 0.5}
    transe = migrate_config({**old, "model_name": "transe"}, "runs/t/config.json")
    assert transe["model"] == {"dim": 32}


def test_the_committed_fusion_run_of_the_valid_tables_loads_as_it_ran() -> None:
    old = json.loads(FY_FUSION.read_text(encoding="utf-8"))
    retired = [("model", "numeric_norm"), ("model", "rbf_width"), ("model", "cnn_channels"), ("model", "init_std"),
               ("train", "optimiser"), ("eval", "sinkhorn_iterations")]
    assert all(key in old[section] for section, key in retired)  # the file predates the change
    cfg = RunConfig.from_dict(read_saved_config(FY_FUSION))
    assert cfg.model_name == "gaussian_fusion" and cfg.model.options == {}
    kept = {section: {k: v for k, v in values.items() if (section, k) not in retired}
            for section, values in old.items() if isinstance(values, dict)}
    assert {section: {k: v for k, v in values.items() if k in kept[section]}
            for section, values in json.loads(json.dumps(cfg.to_dict())).items() if isinstance(values, dict)} == kept


@pytest.mark.parametrize(("assignment", "message"), [
    ("model.numeric_norm=quantile", "model.numeric_norm is now model.options.numeric_norm (a setting of the models "
                                    "gaussian, mmea, imuse)"),
    ("model.rbf_width=0.5", "model.rbf_width is now model.options.rbf_width"),
    ("train.optimiser=adam", 'train.optimiser was removed (only its former default "lazy_common" remains)'),
    ("model.init_std=0.2", "model.init_std was removed (only its former default 0.1 remains)"),
    ("eval.sinkhorn_iterations=30", "eval.sinkhorn_iterations was removed (only its former default 15 remains)"),
])
def test_set_of_a_retired_key_names_its_new_home_in_one_line(assignment: str, message: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--out", str(tmp_path / "run"), "--set", assignment]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "run").exists()
