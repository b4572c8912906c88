"""Every config field is checked when a config is built: type from the annotation, range / choices from the
``ALLOWED`` table of its class. On the command line a bad value is one line and exit status 2, before any data
is loaded or anything written."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from gaussea.cli import apply_overrides
from gaussea.config import (
    CANDIDATE_MODES,
    LOGGER_NAMES,
    SIMILARITY_NAMES,
    DataConfig,
    EvalConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from gaussea.config_fields import field_types
from gaussea.data.registry import DatasetRegistry

from ._support import assert_one_line_error, cli_in_process

SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}
# The fields of the four sections: 38 settings + the two option namespaces (data.options, model.options).
MAX_SHARED_SETTINGS = 40


def test_every_number_and_string_field_declares_what_it_allows() -> None:
    """A new field gets its type checked from its annotation; this makes its author decide its range too."""
    for cls in (*SECTIONS.values(), RunConfig):
        types = field_types(cls)  # raises for an annotation the checks do not understand
        need = {name for name, t in types.items() if t.base in (int, float, str) or t.base is tuple}
        assert need <= set(cls.ALLOWED), f"{cls.__name__}: no ALLOWED entry for {sorted(need - set(cls.ALLOWED))}"
        assert set(cls.ALLOWED) <= set(types), f"{cls.__name__}.ALLOWED names unknown fields"


def _wrong_type(base: type) -> object:
    return 7 if base is str else "abc"


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_a_value_of_the_wrong_type_is_refused_for_every_field(section: str) -> None:
    for name, ftype in field_types(SECTIONS[section]).items():
        value = _wrong_type(ftype.base)
        with pytest.raises(ValueError) as info:
            RunConfig.from_dict({section: {name: value}})
        assert str(info.value).startswith(f"{section}.{name}={json.dumps(value)}: must be "), str(info.value)


@pytest.mark.parametrize(("section", "values", "message"), [
    ("model", {"dim": 0}, "model.dim=0: must be an integer >= 1"),
    ("model", {"dim": 100.0}, "model.dim=100.0: must be an integer >= 1"),
    ("model", {"dim": True}, "model.dim=true: must be an integer"),
    ("model", {"negatives": -3}, "model.negatives=-3: must be an integer >= 1"),
    ("model", {"truncated_epsilon": math.inf}, "model.truncated_epsilon=Infinity: must be a number in [0, 1)"),
    ("model", {"modalities": "rn"}, 'model.modalities="rn": must be a list of items from "r", "n", "v"'),
    ("model", {"modalities": []}, "model.modalities=[]: must be a list"),
    ("model", {"exchange": 1}, "model.exchange=1: must be true or false"),
    ("model", {"options": []}, "model.options=[]: must be a table"),
    ("train", {"batch_size": 0}, "train.batch_size=0: must be an integer >= 1"),
    ("train", {"threads": 0}, "train.threads=0: must be an integer >= 1, or null"),
    ("train", {"lr": math.nan}, "train.lr=NaN: must be a number > 0"),
    ("train", {"loggers": ["csv", "wandb"]}, 'train.loggers=["csv", "wandb"]: must be a list of items from "csv"'),
    ("eval", {"csls_k": -5}, "eval.csls_k=-5: must be an integer >= 1, or null"),
    ("eval", {"modes": ["test", "test"]}, "no repeats"),
    ("eval", {"similarity": "dot"}, 'eval.similarity="dot": must be one of "cosine"'),
    ("data", {"ratio": 1.0}, "data.ratio=1.0: must be a number in (0, 1)"),
    ("data", {"ratio": 0.6, "valid_ratio": 0.5}, "ratio + valid_ratio must be < 1"),
])
def test_bad_values_name_the_field_the_value_and_what_is_allowed(section: str, values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        RunConfig.from_dict({section: values})
    assert str(info.value).startswith(f"{section}."), "the message starts with the field it is about"


def test_accepted_values_are_normalised() -> None:
    cfg = RunConfig.from_dict({"train": {"max_seconds": 60, "threads": None}, "model": {"modalities": ["r", "n"]},
                               "eval": {"csls_k": None, "ks": [1, 10]}})
    assert cfg.train.max_seconds == 60.0 and isinstance(cfg.train.max_seconds, float)  # an int is a fine float
    assert cfg.model.modalities == ("r", "n") and cfg.eval.ks == (1, 10) and cfg.eval.csls_k is None
    assert RunConfig.from_dict(RunConfig().to_dict()) == RunConfig()  # the defaults pass their own checks


def test_keys_outside_a_section_and_sections_that_are_not_tables_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['dim'\]"):
        RunConfig.from_dict({"dim": 50})
    with pytest.raises(ValueError, match="^model=3: must be a table of model options"):
        RunConfig.from_dict({"model": 3})
    cfg = RunConfig().to_dict()
    with pytest.raises(ValueError, match="'dim' is not a config key"):
        apply_overrides(cfg, ["dim=50"])
    with pytest.raises(ValueError, match="'model' is a section"):
        apply_overrides(cfg, ["model=3"])
    apply_overrides(cfg, ["model_name=mmea", "eval.ks=1,10", "model.modalities=r,n"])
    assert (cfg["model_name"], cfg["eval"]["ks"], cfg["model"]["modalities"]) == ("mmea", [1, 10], ["r", "n"])


def test_the_shared_config_stays_small() -> None:
    """The shared sections hold what every model shares (a model's own settings are its ``model.options``): a new
    field here must displace one, not grow the list unnoticed. Counted: every field of the four sections (72 before
    the paper model's and the numerical encoder's settings moved to their options and the lost ablations went);
    ``model_name``, which model runs, is not one of them."""
    count = sum(len(field_types(cls)) for cls in SECTIONS.values())
    assert count <= MAX_SHARED_SETTINGS, f"{count} shared settings; at most {MAX_SHARED_SETTINGS}"


def test_names_repeated_in_config_match_their_owners() -> None:
    """The config lists similarity, candidate-mode and logger names itself (checking a config imports no torch);
    they must stay those of the modules that implement them."""
    from gaussea.evaluate import CANDIDATE_MODES as owned_modes
    from gaussea.evaluate import SIMILARITIES
    from gaussea.loggers import LOGGER_NAMES as owned_loggers

    assert SIMILARITY_NAMES == tuple(SIMILARITIES)
    assert CANDIDATE_MODES == tuple(owned_modes)
    assert LOGGER_NAMES == tuple(owned_loggers)


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "model.dim=abc"], 'model.dim="abc": must be an integer >= 1'),
    (["--set", "model.negatives=-3"], "model.negatives=-3: must be an integer >= 1"),
    (["--dim", "0"], "model.dim=0: must be an integer >= 1"),
    (["--batch-size", "0"], "train.batch_size=0: must be an integer >= 1"),
    (["--csls-k", "-5"], "eval.csls_k=-5: must be an integer >= 1, or null"),
    (["--set", "dim=50"], "'dim' is not a config key"),
    (["--ratio", "1.5"], "data.ratio=1.5: must be a number in (0, 1)"),
    (["--model", "nope"], 'model_name="nope": unknown model'),
    (["--config", "CONFIG"], "unknown config key(s) ['dim']"),
    (["--set", "model.var_max=20"], "model.var_max is now model.options.var_max"),
    # the paper model's own settings (model.options): checked by the model, still before any data is loaded
    (["--model", "gaussian", "--set", "model.options.var_max=-1"], "model.options.var_max=-1: must be a number > 0"),
    (["--model", "mmea", "--set", "model.options.modal_means=tied"],
     'model.options.modal_means="tied": must be one of "free", "encoder"'),
    (["--model", "gaussian", "--set", "model.options.symmetric_ac=1"], "model.options.symmetric_ac=1: must be true"),
    (["--model", "gaussian", "--set", "model.options.var_min=2"], "need var_min <= var_init <= var_max"),
    (["--model", "gaussian", "--set", "model.options.var_maxx=2"], "unknown GaussianCSLParams option(s) ['var_maxx']"),
])
def test_run_refuses_a_bad_value_in_one_line_before_loading_or_writing(
        args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loading(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("data was loaded before the bad value was refused")

    monkeypatch.setattr(DatasetRegistry, "load", no_loading)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dim": 50}))
    out = tmp_path / "run"
    status, stdout, stderr = cli_in_process(["run", *[str(config) if a == "CONFIG" else a for a in args],
                                             "--out", str(out), "--no-progress"])
    assert status == 2 and stdout == ""
    assert_one_line_error(stderr, message)
    assert not out.exists()  # nothing written


def test_evaluate_refuses_a_negative_csls_k_before_reading_the_run(tmp_path: Path) -> None:
    status, _, stderr = cli_in_process(["evaluate", str(tmp_path / "no-such-run"), "--csls-k", "-5"])
    assert status == 2
    assert_one_line_error(stderr, "eval.csls_k=-5: must be an integer >= 1")
    status, _, stderr = cli_in_process(["evaluate", str(tmp_path / "no-such-run"), "--modes", "test,every"])
    assert status == 2
    assert_one_line_error(stderr, 'eval.modes=["test", "every"]')
