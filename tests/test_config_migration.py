"""Run configs saved before settings moved or were removed still load, as they ran (gaussea.config_migration)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from gaussea.config import RunConfig
from gaussea.config_migration import MOVED, PAPER_MODEL_NAMES, REMOVED, migrate_config, read_saved_config
from gaussea.models.gaussian_params import PAPER_MODEL_NAMES as OWNED_PAPER_MODEL_NAMES
from gaussea.models.gaussian_params import GaussianCSLParams

REPO = Path(__file__).resolve().parents[1]
COMMITTED_CONFIGS = sorted((REPO / "bench" / "results").rglob("config.json"))
# A committed run of the fb15k-db15k preset, written when the paper model's settings were shared fields.
FB_GAUSSIAN = REPO / "bench/results/tables/fb15k-db15k/gaussian/r0.2/s0/config.json"


def _old_config(model_name: str = "gaussian", **changes: dict) -> dict:
    """A config.json as written before the move: today's shape plus every retired key at its old default."""
    config = RunConfig(model_name=model_name).to_dict()
    for (section, key), default in {**MOVED, **REMOVED}.items():
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
    ("data", "split_seed", 3)])
def test_removed_keys_holding_another_value_are_refused_in_one_line(section: str, key: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        migrate_config(_old_config(**{section: {key: value}}), "runs/b/config.json")
    message = str(info.value)
    assert message.startswith(f"runs/b/config.json: {section}.{key}={json.dumps(value)} asks for a setting")
    assert "\n" not in message


def test_moved_defaults_are_the_paper_models_defaults() -> None:
    """The migration drops a moved key at its old default: right only while that is still the default."""
    defaults = asdict(GaussianCSLParams())
    assert {key: default for (_, key), default in MOVED.items()} == defaults


def test_paper_model_names_match_the_models_that_read_the_options() -> None:
    from gaussea.models import model_builders
    from gaussea.models.gaussian_csl import GaussianCommonSpace

    readers = tuple(name for name, builder in model_builders().items() if issubclass(builder, GaussianCommonSpace))
    assert PAPER_MODEL_NAMES == OWNED_PAPER_MODEL_NAMES == readers


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
    for (section, key), default in MOVED.items():  # a key the run predates ran at its default
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
