"""The baselines: a smoke run of each through the runner, learning checks, and their distinctive parts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gaussea.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gaussea.data.splits import make_split
from gaussea.data.synthetic import load_synthetic
from gaussea.models import build_model, model_builders
from gaussea.models.gcn_align import functionality, normalised_adjacency
from gaussea.models.imuse import IMUSE
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.iptranse import IPTransE, IPTransEParams, two_hop_paths
from gaussea.models.matching import combine_for_cosine, mutual_nearest
from gaussea.models.options import resolve_params
from gaussea.models.sea import SEA
from gaussea.models.transe import TransEParams
from gaussea.runner import run
from gaussea.train import Trainer

BASELINES = ("transe", "mtranse", "iptranse", "sea", "gcn_align", "imuse")
TINY = {"num_entities": 120}
# Easy data: every entity on both sides, most facts kept, no relation merges/splits.
EASY = {"num_entities": 200, "entity_coverage": 1.0, "triple_keep": 0.9, "relation_merge": 0.0,
        "relation_split": 0.0}


def config(model: str, options: dict, epochs: int) -> RunConfig:
    return RunConfig(
        data=DataConfig(dataset="synthetic", ratio=0.3, options=options),
        model=ModelConfig(dim=32),
        train=TrainConfig(stage1_epochs=epochs, stage2_epochs=0, batch_size=512, progress=False,
                          checkpoint_every=0, threads=1),
        eval=EvalConfig(modes=("test",)),
        model_name=model,
    )


def tiny_inputs(options: dict | None = None) -> AlignmentInputs:
    pair = load_synthetic(**(options or TINY))
    return AlignmentInputs.build(pair, make_split(pair.links, 0.3, seed=0))


@pytest.mark.parametrize("model", BASELINES)
def test_baseline_trains_through_the_runner(model: str, tmp_path: Path) -> None:
    result = run(config(model, TINY, epochs=2), tmp_path / model)
    assert (tmp_path / model / "metrics.json").exists()
    saved = json.loads((tmp_path / model / "metrics.json").read_text())
    test = saved["test"]["test_candidates"]
    for key in ("hits@1", "hits@10", "mr", "mrr"):
        assert math.isfinite(test[key])
    assert 0.0 <= test["hits@1"] <= test["hits@10"] <= 1.0
    left, right = result.model.entity_embeddings()
    assert left.mean.shape[1] == right.mean.shape[1]
    assert torch.isfinite(left.mean).all() and torch.isfinite(right.mean).all()


@pytest.mark.parametrize("model", ["transe", "gcn_align"])
def test_baseline_learns_on_easy_data(model: str, tmp_path: Path) -> None:
    test = run(config(model, EASY, epochs=10), tmp_path).metrics["test"]["test_candidates"]
    random_hits10 = 10 / test["num_candidates"]
    assert test["hits@10"] > 4 * random_hits10, test


def test_registry_names_every_baseline() -> None:
    assert set(BASELINES) <= set(model_builders())
    assert getattr(model_builders()["iptranse"], "iterative", False) is True
    assert not getattr(model_builders()["transe"], "iterative", False)


def test_options_override_defaults_and_reject_unknown_keys() -> None:
    cfg = ModelConfig()
    assert resolve_params(TransEParams(), cfg).margin == 1.0
    cfg.options = {"margin": 2.5}  # type: ignore[attr-defined]  # the field the lead may add
    assert resolve_params(TransEParams(), cfg).margin == 2.5
    cfg.options = {"margn": 2.5}  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="margn"):
        resolve_params(TransEParams(), cfg)


def test_squared_distance_is_openeas_l2_score_for_every_translational_baseline() -> None:
    """OpenEA's "L2" margin loss scores sum((h + r - t)^2); its margin 1.5 is meant for that score. The option
    reaches the triple ranking of each of the five translational baselines, and the score matches float64."""
    from gaussea.models.translational import TripleRanking, transe_distance

    g = torch.Generator().manual_seed(0)
    h, r, t = (torch.randn(9, 6, generator=g, dtype=torch.float64) for _ in range(3))
    assert torch.allclose(transe_distance(h, r, t, 2, squared=True), ((h + r - t) ** 2).sum(-1))
    assert torch.allclose(transe_distance(h, r, t, 2), ((h + r - t) ** 2).sum(-1).sqrt())
    assert torch.allclose(transe_distance(h, r, t, 1, squared=True), (h + r - t).abs().sum(-1) ** 2)
    inputs = tiny_inputs()
    for model in ("transe", "mtranse", "iptranse", "sea", "imuse"):
        cfg = ModelConfig(dim=8, modalities=["r", "n"], options={"squared_distance": True, "margin": 1.5})
        built = build_model(model, inputs, cfg, torch.Generator().manual_seed(0))
        rankings = [m for m in built.modules() if isinstance(m, TripleRanking)]
        assert rankings and all(m.score.squared_distance and m.score.margin == 1.5 for m in rankings), model


def test_mutual_nearest_matches_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(37, 5, generator=g), torch.randn(23, 5, generator=g)
    li, ri, sim = mutual_nearest(a, b, chunk_rows=8)
    cos = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T
    expected = {(i, int(cos[i].argmax())) for i in range(37) if int(cos[:, int(cos[i].argmax())].argmax()) == i}
    assert set(zip(li.tolist(), ri.tolist(), strict=True)) == expected
    torch.testing.assert_close(sim, cos[li, ri])
    li2, _, sim2 = mutual_nearest(a, b, threshold=0.5)
    assert (sim2 >= 0.5).all() and set(li2.tolist()) <= set(li.tolist())


def test_combined_features_give_weighted_cosine() -> None:
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 6, generator=g), torch.randn(4, 3, generator=g)
    z = combine_for_cosine([(x, 0.9), (y, 0.1)])
    cos = torch.nn.functional.cosine_similarity
    expected = 0.9 * cos(x[0:1], x[1:2]) + 0.1 * cos(y[0:1], y[1:2])
    torch.testing.assert_close(cos(z[0:1], z[1:2]), expected)


def test_two_hop_paths_are_closed_and_weighted() -> None:
    # 0 -a-> 1 -b-> 2 closed by 0 -c-> 2; 0 -a-> 3 (so |tails(0, a)| = 2); 3 -b-> 4 is not closed.
    a, b, c = 0, 1, 2
    triples = np.array([[0, a, 1], [1, b, 2], [0, c, 2], [0, a, 3], [3, b, 4]])
    paths = two_hop_paths(triples, min_weight=0.01, max_paths=100, seed=0)
    assert paths.tolist() == [[a, b, c, 0.5]]
    assert len(two_hop_paths(triples, min_weight=0.6, max_paths=100, seed=0)) == 0


def test_gcn_adjacency_uses_relation_functionality() -> None:
    # relation 0: heads {0, 1}, tails {2} over 2 triples -> fun 1.0, ifun 0.5
    triples = torch.tensor([[0, 0, 2], [1, 0, 2]])
    fun, ifun = functionality(triples, 1)
    assert fun.tolist() == [1.0] and ifun.tolist() == [0.5]
    adj = normalised_adjacency(triples, 3, 1, weighted=True, min_weight=0.3).to_dense()
    # raw: 0->2 = 0.5, 2->0 = 1.0, 1->2 = 0.5, 2->1 = 1.0, plus self-loops; row sums 1.5, 1.5, 3
    deg = torch.tensor([1.5, 1.5, 3.0])
    assert adj[0, 2].item() == pytest.approx(0.5 / math.sqrt(1.5 * 3.0))
    assert adj[2, 0].item() == pytest.approx(1.0 / math.sqrt(3.0 * 1.5))
    torch.testing.assert_close(adj.diagonal(), 1.0 / deg)


def test_sea_adversarial_step_trains_only_the_embeddings() -> None:
    inputs = tiny_inputs()
    model = SEA(inputs, ModelConfig(dim=16), torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    idx = torch.arange(inputs.num_entities)
    model.loss("adv", idx, g).backward()
    assert model.entity.mean.grad is not None
    assert all(p.grad is None for p in model.discriminators.parameters())
    model.zero_grad(set_to_none=True)
    model.loss("disc", idx, g).backward()
    assert model.entity.mean.grad is None
    assert any(p.grad is not None for p in model.discriminators.parameters())


def test_iptranse_expands_seeds_in_the_epoch_hook_not_in_a_loss() -> None:
    """The soft pairs come from the trainer's per-epoch hook, on schedule; no pseudo-loss does the job."""
    inputs = tiny_inputs()
    params = IPTransEParams(bootstrap_start=2, bootstrap_every=2, threshold=0.0)
    model = IPTransE(inputs, ModelConfig(dim=16), torch.Generator().manual_seed(0), params=params)
    assert "bootstrap" not in model.loss_names()
    model.before_epoch(1)
    assert len(model.soft_pairs()) == 0
    model.before_epoch(2)
    pairs = model.soft_pairs()
    assert len(pairs) > 0 and model.num_items("soft") > 0
    assert (inputs.side_of_entity[pairs[:, 0]] == 0).all() and (inputs.side_of_entity[pairs[:, 1]] == 1).all()
    assert not set(inputs.train_pairs.reshape(-1).tolist()) & set(pairs.reshape(-1).tolist())
    with torch.no_grad():
        model.entity.mean.copy_(torch.randn(model.entity.mean.shape, generator=torch.Generator().manual_seed(1)))
    model.before_epoch(3)  # not an expansion epoch: the pairs stay
    assert torch.equal(model.soft_pairs(), pairs)
    model.before_epoch(4)
    assert not torch.equal(model.soft_pairs(), pairs)


@pytest.mark.parametrize("sampling", ["uniform", "truncated"])
def test_iptranse_resumed_run_matches_an_uninterrupted_one(sampling: str, tmp_path: Path) -> None:
    """Stopped after epoch 3 (soft pairs from epoch 3's expansion) and resumed to 5 (expansion at 5): the same
    weights, soft pairs and neighbour lists as a run that never stopped."""
    inputs = tiny_inputs()
    params = IPTransEParams(bootstrap_start=1, bootstrap_every=2, threshold=0.0)
    cfg = ModelConfig(dim=16, negative_sampling=sampling, truncated_every=2)
    train = TrainConfig(stage1_epochs=5, stage2_epochs=0, batch_size=512, progress=False, checkpoint_every=1,
                        threads=1)

    def fit(epochs: int, run_dir: Path, resume: bool = False) -> tuple[IPTransE, list[dict]]:
        model = IPTransE(inputs, cfg, torch.Generator().manual_seed(0), params=params)
        state = Trainer(model, TrainConfig(**{**train.__dict__, "stage1_epochs": epochs}), run_dir).fit(resume)
        return model, state.log

    whole, log = fit(5, tmp_path / "whole")
    fit(3, tmp_path / "split")
    resumed, resumed_log = fit(5, tmp_path / "split", resume=True)
    assert all(set(r["loss"]) == {"rel", "path", "soft"} for r in log) and log[-1]["loss"]["soft"] > 0
    assert [r["loss"] for r in resumed_log] == [r["loss"] for r in log]
    assert len(whole.soft_pairs()) > 0 and torch.equal(resumed.soft_pairs(), whole.soft_pairs())
    assert whole.state_dict().keys() == resumed.state_dict().keys()
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key


def test_imuse_filtered_alignment_is_one_to_one() -> None:
    inputs = tiny_inputs()
    model = build_model("imuse", inputs, ModelConfig(dim=16), torch.Generator().manual_seed(0))
    assert isinstance(model, IMUSE)
    pairs, sim = model.filtered_alignment()
    assert len(pairs) > 0 and len(sim) == len(pairs)
    assert len(set(pairs[:, 0].tolist())) == len(pairs) == len(set(pairs[:, 1].tolist()))
