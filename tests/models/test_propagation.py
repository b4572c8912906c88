"""The training-free propagation model: its maths against a dense float64 reference, bootstrapping, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gaussea.cli import main
from gaussea.config import ModelConfig, RunConfig
from gaussea.models import build_model
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.matching import propose_mutual_best
from gaussea.models.propagation import LabelPropagation, PropagationParams, seed_labels
from gaussea.runner import evaluate_run, run

# Left graph: entities 0-3, right graph: 4-7 (global ids). A repeated edge (0-1 by two relations), a self-loop
# (3, r, 3) and an isolated entity (right 7) exercise the adjacency's rules.
TRIPLES = [(0, 0, 1), (1, 0, 0), (0, 1, 1), (1, 1, 2), (3, 0, 3), (2, 0, 3),
           (4, 2, 5), (5, 3, 6), (4, 3, 5), (6, 2, 4)]
TRAIN = [(0, 4), (1, 5)]


def tiny_inputs() -> AlignmentInputs:
    empty_long = torch.zeros(0, dtype=torch.long)
    return AlignmentInputs(
        num_left=4, num_right=4, num_relations=4, num_attributes=0,
        triples=torch.tensor(TRIPLES), side_of_entity=torch.tensor([0] * 4 + [1] * 4),
        train_pairs=torch.tensor(TRAIN), image_owner=empty_long, image_features=torch.zeros(0, 0),
        num_entity=empty_long, num_attribute=empty_long, num_value=torch.zeros(0))


def unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)


def dense_reference(labels: np.ndarray, hops: int) -> np.ndarray:
    """DESIGN.md §5 in dense float64: propagation, relation view, final concatenation."""
    n, num_rel = labels.shape[0], 4
    adj = np.zeros((n, n))
    for h, _, t in TRIPLES:
        if h != t:
            adj[h, t] = adj[t, h] = 1.0
    deg = adj.sum(1, keepdims=True)
    a_hat = np.divide(adj, deg, out=np.zeros_like(adj), where=deg > 0)
    hs = [labels]
    for _ in range(hops):
        hs.append(unit_rows(a_hat @ hs[-1]))
    e = np.concatenate(hs, 1)
    rel = np.zeros((num_rel, e.shape[1]))
    for r in range(num_rel):
        mine = [(h, t) for h, rr, t in TRIPLES if rr == r]
        rel[r] = np.mean([e[t] - e[h] for h, t in mine], axis=0)
    rel = unit_rows(rel)
    view = np.zeros_like(e)
    for ent in range(n):
        incoming = [rel[r] for _, r, t in TRIPLES if t == ent]
        outgoing = [rel[r] for h, r, _ in TRIPLES if h == ent]
        view[ent] = (np.mean(incoming, 0) if incoming else 0.0) - (np.mean(outgoing, 0) if outgoing else 0.0)
    return unit_rows(np.concatenate([*hs, unit_rows(view)], 1))


@pytest.mark.parametrize("hops", [0, 1, 2, 3])
def test_sparse_propagation_equals_the_dense_formula(hops: int) -> None:
    inputs = tiny_inputs()
    config = ModelConfig(options={"label_dim": 6, "hops": hops})
    model = build_model("propagation", inputs, config, torch.Generator().manual_seed(0))
    left, right = model.entity_embeddings()
    ours = torch.cat([left.mean, right.mean]).double().numpy()
    labels = seed_labels(inputs.train_pairs, 8, 6, torch.Generator().manual_seed(model.label_seed))
    np.testing.assert_allclose(ours, dense_reference(labels.double().numpy(), hops), atol=1e-6)
    assert ours.shape == (8, 2 * (hops + 1) * 6)
    assert not ours[7].any()  # the isolated entity has no evidence at all


def test_labels_are_shared_unit_vectors_on_seed_pairs_only() -> None:
    labels = seed_labels(torch.tensor(TRAIN), 8, 5, torch.Generator().manual_seed(1))
    assert torch.equal(labels[0], labels[4]) and torch.equal(labels[1], labels[5])
    assert torch.allclose(labels[[0, 1]].norm(dim=1), torch.ones(2))
    assert not labels[[2, 3, 6, 7]].any()


def test_relation_view_can_be_switched_off() -> None:
    config = ModelConfig(options={"label_dim": 4, "relation_view": False})
    model = build_model("propagation", tiny_inputs(), config, torch.Generator().manual_seed(0))
    assert model.entity_embeddings()[0].dim == 3 * 4
    assert set(model.space_embeddings()) == {"entity_view"}


def test_unknown_or_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown PropagationParams option"):
        build_model("propagation", tiny_inputs(), ModelConfig(options={"dim": 8}), torch.Generator())
    with pytest.raises(ValueError, match="model.modalities must include 'r'"):
        build_model("propagation", tiny_inputs(), ModelConfig(modalities=("n",)), torch.Generator())
    with pytest.raises(ValueError, match="iterative_rounds must be >= 0"):
        PropagationParams(iterative_rounds=-1)


def test_mutual_best_proposals_on_a_hand_made_example() -> None:
    """Left 0 / right 0 are known; left 1 and right 2 are each other's best; left 2's best (right 3) prefers left
    3; left 4 has a zero embedding (no evidence) and right 1 is nobody's best."""
    left = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    right = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.99, 0.1], [0.0, 0.05, 0.999]])
    known = torch.tensor([[0, 0]])
    assert propose_mutual_best(left, right, known).tolist() == [[1, 2], [3, 3]]
    # The known pair's own entities are never proposed again, even if they would match best.
    assert propose_mutual_best(left, right, torch.tensor([[0, 0], [3, 3]])).tolist() == [[1, 2]]
    assert propose_mutual_best(left, right, known, threshold=0.995).tolist() == [[3, 3]]
    assert propose_mutual_best(left, right, known, csls_k=1).tolist() == [[1, 2], [3, 3]]


def test_bootstrapping_adds_seed_pairs_and_labels_the_model_iterative() -> None:
    config = ModelConfig(options={"label_dim": 8, "iterative_rounds": 2})
    model = build_model("propagation", tiny_inputs(), config, torch.Generator().manual_seed(0))
    assert isinstance(model, LabelPropagation) and model.iterative
    model.entity_embeddings()
    assert model.proposed_pairs > 0
    plain = build_model("propagation", tiny_inputs(), ModelConfig(), torch.Generator().manual_seed(0))
    assert not plain.iterative


def test_trainer_runs_no_epoch_for_a_model_without_losses(tmp_path: Path) -> None:
    """No optimiser (Adam refuses an empty parameter list), no epoch, the embedding computed once before
    training, and a checkpoint that resumes."""
    from gaussea.config import TrainConfig
    from gaussea.train import Trainer

    model = build_model("propagation", tiny_inputs(), ModelConfig(), torch.Generator().manual_seed(0))
    state = Trainer(model, TrainConfig(progress=False), tmp_path).fit()
    assert state.epoch == 0 and state.log == [] and model._final is not None
    assert (tmp_path / "checkpoint.pt").exists()
    again = build_model("propagation", tiny_inputs(), ModelConfig(), torch.Generator().manual_seed(0))
    assert Trainer(again, TrainConfig(progress=False), tmp_path).fit(resume=True).epoch == 0
    assert torch.equal(again.entity_embeddings()[0].mean, model.entity_embeddings()[0].mean)


EASY = {"num_entities": 300, "triple_keep": 1.0, "entity_coverage": 1.0, "relation_merge": 0.0,
        "relation_split": 0.0}


def test_run_on_the_synthetic_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`gaussea run --model propagation`: no epoch, a complete run directory, far above random."""
    out = tmp_path / "run"
    argv = ["run", "--model", "propagation", "--threads", "1", "--no-progress", "--out", str(out)]
    assert main([*argv, "--set", 'eval.modes=["test"]']) == 0
    assert "[test candidates, cosine, csls_k=10, decoder=csls] H@1" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "propagation" and metrics["epochs_completed"] == 0 and metrics["iterative"] is False
    assert (out / "train_log.jsonl").read_text() == ""
    for name in ("model.pt", "embeddings.npz", "config.json", "split/test_links"):
        assert (out / name).exists(), name
    test = metrics["test"]["test_candidates"]
    assert test["hits@1"] > 0.25 and test["decoder"] == "csls"  # random: 1 / 1,167
    assert set(metrics["per_space_test"]) == {"entity_view", "relation_view"}


def test_rebuilt_and_resumed_runs_reproduce_the_metrics(tmp_path: Path) -> None:
    """The checkpoint stores nothing: rebuilt from its run directory, the model recomputes the same embedding,
    and a resumed run (nothing left to train) ends with the same metrics."""
    cfg = RunConfig(model_name="propagation")
    cfg.data.options = dict(EASY)
    cfg.train.threads, cfg.train.progress = 1, False
    out = tmp_path / "run"
    metrics = run(cfg, out).metrics
    assert evaluate_run(out) == metrics["test"]
    assert main(["run", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert json.loads((out / "metrics.json").read_text())["test"] == metrics["test"]


@pytest.mark.parametrize("flags", [["--decoder", "sinkhorn"], ["--set", "eval.decoder=sinkhorn"]])
def test_sinkhorn_decoder_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]) -> None:
    out = tmp_path / "run"
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"data": {"options": EASY}}))
    argv = ["run", "--model", "propagation", "--config", str(config_file), "--threads", "1", "--no-progress",
            "--out", str(out), *flags]
    assert main(argv) == 0
    assert "decoder=sinkhorn(tau=0.02, 15 iterations)] H@1" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    for mode in ("test", "all"):
        m = metrics["test"][f"{mode}_candidates"]
        assert m["decoder"] == "sinkhorn" and m["transductive"] is True and m["csls_k"] is None
        assert 0.0 <= m["hits@1"] <= 1.0 and m["mrr"] > 0
    # `gaussea evaluate --decoder` re-decodes a finished run: Hungarian gives H@1 only.
    assert main(["evaluate", str(out), "--decoder", "hungarian", "--modes", "test"]) == 0
    assert "decoder=hungarian] H@1" in capsys.readouterr().out


def test_iterative_run_is_labelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = RunConfig(model_name="propagation")
    cfg.data.options = dict(EASY)
    cfg.model.options = {"iterative_rounds": 1}
    cfg.train.threads, cfg.train.progress = 1, False
    cfg.eval.modes = ("test",)
    result = run(cfg, tmp_path / "run")
    assert result.metrics["iterative"] is True
    from gaussea.cli import print_metrics

    print_metrics(result.metrics)
    assert "decoder=csls, iterative]" in capsys.readouterr().out
