"""The ``graph_encoder`` model: its attention layer and loss against dense float64 references, its trainer hooks
(own batch size, own optimiser), learning on the synthetic data, resume."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gaussea.cli import main
from gaussea.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gaussea.data.splits import make_split
from gaussea.data.synthetic import load_synthetic
from gaussea.encoders import graph_attention
from gaussea.encoders.graph_attention import index_sum, reflect, reflect_and_sum, reflection_attention, relational_edges
from gaussea.losses.retrieval import info_nce_loss, normalised_hard_sample_loss
from gaussea.models import build_model
from gaussea.models.graph_encoder import GraphEncoder
from gaussea.models.inputs import AlignmentInputs
from gaussea.runner import run
from gaussea.train import Trainer

pytestmark = pytest.mark.usefixtures("single_thread")

# (h, r, t) over 5 entities and 3 relations: parallel triples (0-1 twice), a self-loop, an isolated entity (4).
TRIPLES = torch.tensor([[0, 0, 1], [0, 1, 1], [1, 2, 2], [2, 0, 0], [3, 1, 0], [3, 2, 3]])
N, R = 5, 3


def _dense_layer(x: torch.Tensor, attention: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
    """The layer written from its definition, entity by entity, from the triples themselves."""
    out = torch.zeros_like(x)
    for i in range(N):
        neighbours: dict[int, list[torch.Tensor]] = {}
        for h, r, t in TRIPLES.tolist():
            if h == t:
                continue
            if h == i:
                neighbours.setdefault(t, []).append(relation[r])
            if t == i:
                neighbours.setdefault(h, []).append(relation[r + R])
        if not neighbours:
            out[i] = torch.tanh(torch.zeros_like(x[i]))
            continue
        js = sorted(neighbours)
        hs = [torch.stack(neighbours[j]).mean(0) for j in js]
        hs = [h / h.norm() for h in hs]
        logits = torch.stack([attention @ h for h in hs])
        weights = torch.softmax(logits, 0)
        total = sum(w * (x[j] - 2 * (x[j] @ h) * h) for w, j, h in zip(weights, js, hs, strict=True))
        out[i] = torch.tanh(total)
    return out


def _edge_relations(edges: dict[str, torch.Tensor], relation: torch.Tensor) -> torch.Tensor:
    summed = torch.zeros(len(edges["edge_row"]), relation.shape[1], dtype=relation.dtype)
    summed.index_add_(0, edges["trip_edge"], relation[edges["trip_rel"]] * edges["trip_weight"].to(relation.dtype)
                      .unsqueeze(1))
    return summed / summed.norm(dim=1, keepdim=True)


def test_attention_layer_matches_the_dense_definition_with_its_gradients() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(N, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    attention = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    relation = torch.randn(2 * R, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    edges = relational_edges(TRIPLES, N, R)
    assert len(edges["edge_row"]) == 8  # 0-1, 1-2, 0-2, 0-3 both ways (parallel triples one edge, no self-loop)

    def sparse(x: torch.Tensor, attention: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
        return reflection_attention(x, attention, edges["edge_row"], edges["edge_col"],
                                    _edge_relations(edges, relation))

    torch.testing.assert_close(sparse(x, attention, relation), _dense_layer(x, attention, relation))
    sparse(x, attention, relation).pow(2).sum().backward()
    grads = [t.grad.clone() for t in (x, attention, relation)]
    for t in (x, attention, relation):
        t.grad = None
    _dense_layer(x, attention, relation).pow(2).sum().backward()
    for got, t in zip(grads, (x, attention, relation), strict=True):
        torch.testing.assert_close(got, t.grad)
    assert torch.autograd.gradcheck(sparse, (x, attention, relation))


def test_entity_and_relation_views_list_the_right_pairs() -> None:
    edges = relational_edges(TRIPLES, N, R)
    ent = set(zip(edges["ent_row"].tolist(), edges["ent_col"].tolist(), strict=True))
    assert ent == {(i, i) for i in range(N)} | {(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0), (0, 3),
                                                    (3, 0)}
    rel = set(zip(edges["rel_row"].tolist(), edges["rel_col"].tolist(), strict=True))
    assert rel == {(0, 0), (0, 1), (1, 3), (1, 4), (1, 2), (2, 5), (2, 0), (0, 3), (3, 1), (0, 4)}


def _brute_nhs(anchor: list[list[float]], partner: list[list[float]], cand: list[list[float]],
               mask: list[list[bool]], gamma: float, lamb: float, tau: float) -> list[float]:
    def sq(a: list[float], b: list[float]) -> float:
        return sum((u - v) ** 2 for u, v in zip(a, b, strict=True))

    out = []
    for i, a in enumerate(anchor):
        margins = [sq(a, partner[i]) - sq(a, c) + gamma for j, c in enumerate(cand) if not mask[i][j]]
        mean = sum(margins) / len(margins)
        std = math.sqrt(sum((m - mean) ** 2 for m in margins) / (len(margins) - 1))
        terms = [lamb * (m - mean) / std + tau for m in margins]
        top = max(terms)
        out.append(top + math.log(sum(math.exp(t - top) for t in terms)))
    return out


def test_nhs_loss_matches_brute_force_values_and_gradients() -> None:
    gen = torch.Generator().manual_seed(1)
    anchor = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    partner = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    cand = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    mask = torch.zeros(4, 7, dtype=torch.bool)
    mask[0, 2] = mask[3, 6] = mask[3, 0] = True
    got = normalised_hard_sample_loss(anchor, partner, cand, mask, gamma=1.0, lamb=3.0, tau=10.0)
    want = _brute_nhs(anchor.tolist(), partner.tolist(), cand.tolist(), mask.tolist(), 1.0, 3.0, 10.0)
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64))
    # Gradient: the row statistics are constants (no gradient through them), so a central difference of the
    # loss with the statistics frozen at the current point is the reference.
    got.sum().backward()
    mean_std = []
    for i in range(4):
        with torch.no_grad():
            pos = ((anchor[i] - partner[i]) ** 2).sum()
            m = torch.stack([pos - ((anchor[i] - c) ** 2).sum() + 1.0 for j, c in enumerate(cand) if not mask[i, j]])
            mean_std.append((m.mean(), m.std()))

    def frozen(a: torch.Tensor) -> torch.Tensor:
        total = a.new_zeros(())
        for i in range(4):
            pos = ((a[i] - partner[i]) ** 2).sum()
            m = torch.stack([pos - ((a[i] - c) ** 2).sum() + 1.0 for j, c in enumerate(cand) if not mask[i, j]])
            total = total + torch.logsumexp(3.0 * (m - mean_std[i][0]) / mean_std[i][1] + 10.0, 0)
        return total

    a = anchor.detach().clone().requires_grad_(True)
    frozen(a).backward()
    torch.testing.assert_close(anchor.grad, a.grad)


def test_info_nce_is_the_cross_entropy_of_the_partner() -> None:
    gen = torch.Generator().manual_seed(2)
    anchor, partner, cand = (torch.randn(k, 3, generator=gen, dtype=torch.float64) for k in (2, 2, 4))
    mask = torch.tensor([[True, False, False, False], [False, False, False, False]])
    got = info_nce_loss(anchor, partner, cand, mask, temperature=0.5)
    for i in range(2):
        cos = torch.nn.functional.cosine_similarity
        logits = [cos(anchor[i], partner[i], 0)] + [cos(anchor[i], c, 0) for j, c in enumerate(cand) if not mask[i, j]]
        want = -torch.log_softmax(torch.stack(logits) / 0.5, 0)[0]
        torch.testing.assert_close(got[i], want)


def _inputs(num_entities: int = 200) -> AlignmentInputs:
    pair = load_synthetic(num_entities=num_entities)
    return AlignmentInputs.build(pair, make_split(pair.links, 0.3, seed=0))


def _model(inputs: AlignmentInputs, **options: object) -> GraphEncoder:
    cfg = ModelConfig(options={"dim": 8, "num_sampled": 32, "batch_pairs": 25, **options})
    return build_model("graph_encoder", inputs, cfg, torch.Generator().manual_seed(0))


def test_trainer_uses_the_models_batch_size_and_optimiser() -> None:
    inputs = _inputs()
    model = _model(inputs)
    trainer = Trainer(model, TrainConfig(batch_size=2048, lr=0.5, progress=False, threads=1))
    assert isinstance(trainer.optimisers["align"], torch.optim.RMSprop)
    assert trainer.optimisers["align"].param_groups[0]["lr"] == 0.005
    sizes = [len(b) for b in trainer.batches("align")]
    assert sum(sizes) == len(inputs.train_pairs) and max(sizes) == 25
    adam = Trainer(_model(inputs, optimiser="adam"), TrainConfig(progress=False, threads=1))
    assert isinstance(adam.optimisers["align"], torch.optim.Adam)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="graph_encoder option loss"):
        _model(_inputs(), loss="hinge")
    with pytest.raises(ValueError, match="model.modalities must include 'r'"):
        build_model("graph_encoder", _inputs(), ModelConfig(modalities=("n",)), torch.Generator())


EASY = {"num_entities": 300, "triple_keep": 1.0, "entity_coverage": 1.0, "relation_merge": 0.0,
        "relation_split": 0.0}


def test_the_encoder_alone_learns_easy_synthetic_data(tmp_path: Path) -> None:
    """Encoder only (no propagation), 5 epochs: measured H@1 0.68 against random 1 / 210."""
    cfg = RunConfig(data=DataConfig(ratio=0.3, options=dict(EASY)),
                    model=ModelConfig(options={"with_propagation": False, "batch_pairs": 30}),
                    train=TrainConfig(stage1_epochs=5, stage2_epochs=0, progress=False, checkpoint_every=0, threads=1),
                    eval=EvalConfig(modes=("test",)), model_name="graph_encoder")
    result = run(cfg, tmp_path / "run")
    test = result.metrics["test"]["test_candidates"]
    assert test["hits@1"] > 0.4, test
    assert set(result.metrics["per_space_test"]) == {"encoder"}


def test_cli_run_concatenates_encoder_and_propagation(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["run", "--model", "graph_encoder", "--stage1-epochs", "1", "--stage2-epochs", "0", "--threads", "1",
            "--no-progress", "--out", str(out), "--set", 'data.options={"num_entities": 120}',
            "--set", 'eval.modes=["test"]']
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "graph_encoder" and metrics["epochs_completed"] == 1
    assert set(metrics["per_space_test"]) == {"encoder", "propagation"}
    model = build_model("graph_encoder", _inputs(120), ModelConfig(options={"dim": 8}),
                        torch.Generator().manual_seed(0))
    left, _ = model.entity_embeddings()
    encoder, propagation = model.encoded(), model.propagation()
    assert left.mean.shape[1] == encoder.shape[1] + propagation.shape[1] == 6 * 8 + 6 * 512
    torch.testing.assert_close(left.mean, torch.cat([encoder, propagation], 1)[: model.inputs.num_left])


def test_a_resumed_run_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    """Dropout masks and sampled candidates come from the trainer's generator: stop after 2 epochs, resume to 3."""
    inputs = _inputs()
    train = TrainConfig(stage1_epochs=3, stage2_epochs=0, progress=False, checkpoint_every=1, threads=1)
    whole = _model(inputs)
    Trainer(whole, train, tmp_path / "whole").fit()
    Trainer(_model(inputs), TrainConfig(**{**train.__dict__, "stage1_epochs": 2}), tmp_path / "split").fit()
    resumed = _model(inputs)
    Trainer(resumed, train, tmp_path / "split").fit(resume=True)
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key



def _saved_storages(fn: Callable[[], torch.Tensor]) -> list[tuple[int, ...]]:
    """Shapes of the distinct storages autograd keeps for the backward pass of ``fn()``."""
    seen: dict[int, tuple[int, ...]] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen.setdefault(t.untyped_storage().data_ptr(), tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sorted(seen.values())


def _edge_problem(dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(3)
    n, e, d = 7, 40, 5
    x = torch.randn(n, d, generator=gen, dtype=dtype, requires_grad=True)
    h = torch.nn.functional.normalize(torch.randn(e, d, generator=gen, dtype=dtype), dim=1).requires_grad_()
    w = torch.rand(e, generator=gen, dtype=dtype, requires_grad=True)
    row, col = torch.randint(n, (e,), generator=gen), torch.randint(n, (e,), generator=gen)
    return x, h, w, row, col


def _reflect_and_sum_by_autograd(x: torch.Tensor, h: torch.Tensor, w: torch.Tensor, row: torch.Tensor,
                                 col: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x).index_add_(0, row, reflect(x[col], h) * w.unsqueeze(1))


@pytest.mark.parametrize("chunk_bytes", [3 * 5 * 8, 2**24])  # 3 edges a slice (float64); all edges in one
def test_reflect_and_sum_matches_autograd_and_keeps_no_edge_tensor(monkeypatch: pytest.MonkeyPatch,
                                                                   chunk_bytes: int) -> None:
    monkeypatch.setattr(graph_attention, "EDGE_CHUNK_BYTES", chunk_bytes)
    x, h, w, row, col = _edge_problem(torch.float64)
    upstream = torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    ours = reflect_and_sum(x, h, w, row, col)
    assert torch.equal(ours, _reflect_and_sum_by_autograd(x, h, w, row, col))  # same sums in the same order
    grads = torch.autograd.grad(ours, (x, h, w), upstream)
    expected = torch.autograd.grad(_reflect_and_sum_by_autograd(x, h, w, row, col), (x, h, w), upstream)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(reflect_and_sum, (x, h, w, row, col))
    # Kept for the backward pass: the inputs themselves, nothing edges x dim of its own.
    kept = _saved_storages(lambda: reflect_and_sum(x, h, w, row, col))
    assert kept == sorted([tuple(x.shape), tuple(h.shape), tuple(w.shape), tuple(row.shape), tuple(col.shape)])


def test_reflect_and_sum_is_bit_identical_in_float32_over_many_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_attention, "EDGE_CHUNK_BYTES", 3 * 5 * 4)
    x, h, w, row, col = (t.detach().float() if t.is_floating_point() else t for t in _edge_problem(torch.float64))
    assert torch.equal(reflect_and_sum(x, h, w, row, col), _reflect_and_sum_by_autograd(x, h, w, row, col))


def test_index_sum_is_index_add_keeping_only_the_index() -> None:
    x = _edge_problem(torch.float64)[0]
    rows, index = torch.arange(7).repeat(3), torch.arange(21) % 4
    upstream = torch.randn(4, 5, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ours = index_sum(index, x[rows], 4)
    theirs = torch.zeros(4, 5, dtype=torch.float64).index_add_(0, index, x[rows])
    assert torch.equal(ours, theirs)
    assert torch.equal(torch.autograd.grad(ours, x, upstream)[0], torch.autograd.grad(theirs, x, upstream)[0])
    leaf = x[rows].detach().requires_grad_()
    assert _saved_storages(lambda: index_sum(index, leaf, 4)) == [(21,)]  # the index, not the 21 x 5 source
