"""The reproduce grid's plan and run configurations: targets, datasets with shipped splits, budgets."""

from __future__ import annotations

import pytest

from gaussea.paper_grid import (
    TARGETS,
    TRAINING_FREE,
    Budget,
    RunSpec,
    plan,
    run_config,
    stage_shares,
)


def test_tables_1_and_2_cover_both_mmkg_datasets_and_the_new_rows() -> None:
    assert TARGETS["table1"].datasets == TARGETS["table2"].datasets == ("fb15k-db15k", "fb15k-yago15k")
    assert {"propagation", "gaussian", "gaussian_fusion", "mmea", "iptranse"} <= set(TARGETS["table1"].models)
    assert set(TARGETS["table2"].models) == {"propagation", "mmea", "gaussian", "gaussian_fusion"}
    specs = plan(TARGETS["table2"].datasets, TARGETS["table2"].models, TARGETS["table2"].ratios, 3)
    assert len(specs) == 2 * 4 * 3 * 3  # datasets x models x shares x splits
    assert {s.ratio for s in specs if s.dataset == "fb15k-yago15k"} == {0.2, 0.5, 0.8}


def test_relational_plan_uses_each_datasets_preset_share_and_d_y_its_one_shipped_split() -> None:
    target = TARGETS["relational"]
    specs = plan(target.datasets, target.models, target.ratios, 3)
    dy = [s for s in specs if s.dataset == "d_y_15k_v1"]
    assert {(s.ratio, s.split) for s in dy} == {(0.2, 0)} and len(dy) == len(target.models)
    for pair in ("zh_en", "ja_en", "fr_en"):
        cells = [s for s in specs if s.dataset == f"dbp15k-{pair}"]
        assert {(s.ratio, s.split) for s in cells} == {(0.3, 0), (0.3, 1), (0.3, 2)}
    budget = Budget(10, None, stage_shares(target.datasets))
    cfg = run_config(RunSpec("d_y_15k_v1", "gaussian", 0.2, 0), budget, None, [], None)
    assert cfg.data.given_split == "split_721_ExEA" and list(cfg.model.modalities) == ["r"]


def test_training_free_models_get_no_epochs_and_valid_budget_sets_early_stopping() -> None:
    budget = Budget(30, None, stage_shares(["synthetic"]), mode="valid", eval_every=2, patience=4, valid_ratio=0.1)
    assert "propagation" in TRAINING_FREE
    free = run_config(RunSpec("synthetic", "propagation", 0.2, 0), budget, None, [], None)
    assert (free.train.stage1_epochs, free.train.stage2_epochs) == (0, 0)
    cfg = run_config(RunSpec("synthetic", "gaussian", 0.2, 1), budget, None, [], None)
    assert (cfg.train.stage1_epochs, cfg.train.stage2_epochs) == (20, 10)
    assert (cfg.train.eval_every, cfg.train.patience, cfg.data.valid_ratio) == (2, 4, 0.1)
    fixed = run_config(RunSpec("synthetic", "gaussian", 0.2, 1), Budget(30), None, [], None)
    assert (fixed.train.eval_every, fixed.train.patience, fixed.data.valid_ratio) == (0, 0, 0.0)


@pytest.mark.parametrize("kwargs", [{"mode": "valid", "valid_ratio": None}, {"mode": "valid", "valid_ratio": 0.1,
                                    "patience": 0}, {"mode": "often"}, {"epochs": 0}, {"hyper": "tuned"}])
def test_unusable_budgets_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="--"):
        Budget(**{"epochs": 10, **kwargs})


def test_published_hyper_parameters_reach_each_baseline_and_only_it() -> None:
    """At strength every translational baseline gets OpenEA's 15K values (batch 5000, one negative, its margin)
    on top of the preset; models without published values keep the preset, and --set still wins."""
    published = Budget(30, None, stage_shares(["synthetic"]), hyper="published")
    preset = Budget(30, None, stage_shares(["synthetic"]))
    imuse = run_config(RunSpec("synthetic", "imuse", 0.2, 0), published, None, [], None)
    assert (imuse.train.batch_size, imuse.model.negatives, imuse.model.options["margin"]) == (5000, 1, 1.5)
    mtranse = run_config(RunSpec("synthetic", "mtranse", 0.2, 0), published, None, [], None)
    assert mtranse.model.options == {"squared_distance": True, "align_weight": 5.0}
    assert mtranse.train.batch_size == 5000
    dy = run_config(RunSpec("d_y_15k_v1", "transe", 0.2, 0), published, None, [], None)
    assert (dy.model.negative_sampling, dy.model.negatives) == ("uniform", 1)  # the preset's truncated 25 is ours
    plain = run_config(RunSpec("synthetic", "imuse", 0.2, 0), preset, None, [], None)
    assert (plain.train.batch_size, plain.model.negatives, plain.model.options) != (5000, 1, {"margin": 1.5})
    for model in ("gaussian", "gaussian_fusion", "propagation", "gcn_align", "sea"):
        spec = RunSpec("synthetic", model, 0.2, 0)
        assert run_config(spec, published, None, [], None) == run_config(spec, preset, None, [], None)
    overridden = run_config(RunSpec("synthetic", "imuse", 0.2, 0), published, None, ["model.negatives=3"], None)
    assert overridden.model.negatives == 3
    assert published.as_dict()["hyper"] == "published" and "hyper" not in preset.as_dict()
    assert "published hyper-parameters" in published.describe()


def test_the_table_footer_names_each_baselines_published_values() -> None:
    from gaussea.published_settings import describe_published

    text = describe_published(["propagation", "imuse", "mtranse", "sea"])
    assert ("imuse: dim 100, batch_size 5000, lr 0.01, negatives 1, negative_sampling uniform, squared_distance True, "
            "margin 1.5") in text
    assert "align_weight 5.0" in text and "propagation" not in text and "sea:" not in text
    assert describe_published(["gaussian_fusion"]) == ""
