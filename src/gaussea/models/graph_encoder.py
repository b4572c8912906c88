"""``graph_encoder``: a Dual-AMN-style relational encoder trained on the seed pairs, plus label propagation.

**Encoder** (:class:`gaussea.encoders.graph_attention.RelationalGraphEncoder`): an entity view and a relation
view, ``depth`` relational-reflection attention layers each over the triples of both graphs (global ids; the
graphs meet only through the loss), every layer's output concatenated, Dual-AMN's proxy gate. Width
``2 * dim * (depth + 1)`` (384 at the defaults). ``ModelConfig.dim`` is not read (the ``dim`` option is), so that
the trained models' shared default does not change this one's.

**Loss** ``align`` (one, over the training pairs; ``num_items`` = #train pairs, a batch = ``batch_pairs`` of
them): the encoder runs on the whole graph, dropout ``dropout`` is applied to its output (mask drawn from the
trainer's generator, so a resumed run draws the same), and for each pair both directions are scored against the
batch's own partners plus ``num_sampled`` entities of the partner's graph drawn afresh each step (B x C, never
N x N), with Dual-AMN's normalised hard-sample loss (:func:`gaussea.losses.retrieval.normalised_hard_sample_loss`,
``gamma``, ``lamb``, ``tau``) or InfoNCE (``loss="infonce"``, ``temperature``).

**Embedding** for alignment: the encoder's output in eval mode, unit rows; with ``with_propagation`` (default)
concatenated with the training-free propagation embedding (:mod:`gaussea.models.propagation`, its default
options; the label draw is seeded from the run's generator), scaled by ``propagation_weight``: the research
probe found the two complementary (``bench/results/encoder-probe/README.md``: validation H@1 of the
concatenation above either alone on the three benchmarks).

**Optimiser**: RMSprop (Dual-AMN's; ``optimiser="adam"`` for Adam) at the model's own ``lr`` option; the
trainer builds it through :meth:`make_optimiser`, so ``train.lr`` and the trainer's shared Adam do not apply to
this model. Steps per epoch come from ``batch_pairs`` (:meth:`batch_size`), not ``train.batch_size`` (triples).

Defaults are the probe's recommended configuration (``bench/probes/relational_encoder.py``, chosen on
validation slices, test links unused). The probe's epochs, also chosen on validation (use them as
``--stage1-epochs``; ``--stage2-epochs 0``, the model has one stage)::

    gaussea run --model graph_encoder --dataset dbp15k-zh_en ... --modalities r --stage1-epochs 24 --stage2-epochs 0
    gaussea run --model graph_encoder --dataset d_y_15k_v1 --data-dir ../shared/data/openea \\
        --given-split split_721_ExEA --modalities r --stage1-epochs 12 --stage2-epochs 0
    gaussea run --model graph_encoder --dataset fb15k-db15k ... --modalities r --stage1-epochs 30 --stage2-epochs 0

(the probe's test H@1: 74.6 %, 75.8 %, 49.0 %, relations only, with the probe's own propagation features).

Inputs: the relational triples and the training pairs (``model.modalities`` must include ``r``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gaussea.config import ModelConfig
from gaussea.embeddings import Embeddings
from gaussea.encoders.graph_attention import RelationalGraphEncoder
from gaussea.losses.retrieval import info_nce_loss, normalised_hard_sample_loss
from gaussea.models.base import AlignmentModel
from gaussea.models.inputs import AlignmentInputs
from gaussea.models.options import require_relations, resolve_params
from gaussea.models.propagation import PropagationParams, propagation_views
from gaussea.models.translational import split_sides, unit

LOSSES = ("nhs", "infonce")
OPTIMISERS = ("rmsprop", "adam")


@dataclass(frozen=True)
class GraphEncoderParams:
    """Options of :class:`GraphEncoder` (``--set model.options.<name>=<value>``); the probe's recommended values."""

    dim: int = 64  # free embedding width per view (Dual-AMN: 128; 64 did as well in the probe, at half the cost)
    depth: int = 2  # attention layers per view
    proxy: bool = True  # Dual-AMN's proxy matching gate
    dropout: float = 0.3  # on the encoder's output while training
    lr: float = 0.005
    optimiser: str = "rmsprop"  # rmsprop (Dual-AMN) | adam
    loss: str = "nhs"  # nhs (normalised hard samples) | infonce
    gamma: float = 1.0  # nhs margin
    lamb: float = 30.0  # nhs scale
    tau: float = 10.0  # nhs offset
    temperature: float = 0.05  # infonce
    num_sampled: int = 1024  # candidates drawn per step from each side's graph, besides the batch's partners
    batch_pairs: int = 1500  # seed pairs per step
    with_propagation: bool = True  # concatenate the propagation embedding for alignment
    propagation_weight: float = 1.0  # its scale in that concatenation

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "batch_pairs"):
            if getattr(self, name) < 1:
                raise ValueError(f"graph_encoder option {name} must be >= 1, got {getattr(self, name)}")
        if self.num_sampled < 0:
            raise ValueError(f"graph_encoder option num_sampled must be >= 0, got {self.num_sampled}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"graph_encoder option dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise ValueError(f"graph_encoder option lr must be > 0, got {self.lr}")
        if self.loss not in LOSSES:
            raise ValueError(f"graph_encoder option loss must be one of {list(LOSSES)}, got {self.loss!r}")
        if self.optimiser not in OPTIMISERS:
            raise ValueError(f"graph_encoder option optimiser must be one of {list(OPTIMISERS)}, "
                             f"got {self.optimiser!r}")


class GraphEncoder(AlignmentModel):
    """The ``graph_encoder`` model (see the module docstring)."""

    # One stage. 20 epochs: the synthetic benchmark's validation MRR levels off there (bench/results/gaussian-fusion);
    # the real benchmarks' budgets, also chosen on validation, are in bench/bench_fusion.py.
    default_epochs = (20, 0)
    supports_bootstrapping = True  # train.iterative_rounds: see add_seed_pairs

    def __init__(self, inputs: AlignmentInputs, config: ModelConfig, generator: torch.Generator,
                 params: GraphEncoderParams | None = None) -> None:
        super().__init__()
        require_relations(config, "graph_encoder", "encodes")
        self.params = p = resolve_params(GraphEncoderParams(), config, params)
        self.inputs = inputs
        self.encoder = RelationalGraphEncoder(inputs.triples, inputs.num_entities, inputs.num_relations, p.dim,
                                              p.depth, p.proxy, generator)
        self.label_seed = int(torch.randint(2**62, (1,), generator=generator))
        self.register_buffer("_propagation", None, persistent=False)
        # Pairs added by iterative bootstrapping (global ids), saved with the weights: a resumed run keeps them.
        self.register_buffer("bootstrapped_pairs", torch.zeros((0, 2), dtype=torch.long))

    # --- seed pairs -----------------------------------------------------------------------------
    def pairs(self) -> torch.Tensor:
        """The pairs the encoder and the propagation train on: the seed pairs, then any bootstrapped ones."""
        if not len(self.bootstrapped_pairs):
            return self.inputs.train_pairs
        return torch.cat([self.inputs.train_pairs, self.bootstrapped_pairs])

    def known_pairs(self) -> torch.Tensor:
        return self.pairs()

    def add_seed_pairs(self, pairs: torch.Tensor) -> None:
        self.bootstrapped_pairs = torch.cat([self.bootstrapped_pairs, pairs.to(self.bootstrapped_pairs)])
        self._propagation = None  # propagated from the seed pairs: recomputed with the new ones

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Bootstrapped pairs vary in number: the buffer takes the saved one's size (none saved: none added)."""
        key = prefix + "bootstrapped_pairs"
        saved = state_dict.setdefault(key, torch.zeros((0, 2), dtype=torch.long))
        self.bootstrapped_pairs = torch.empty_like(saved, device=self.bootstrapped_pairs.device)
        self._propagation = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # --- training -------------------------------------------------------------------------------
    def loss_names(self) -> list[str]:
        return ["align"] if len(self.pairs()) else []

    def num_items(self, name: str) -> int:
        self._check(name)
        return len(self.pairs())

    def batch_size(self, name: str) -> int | None:
        return self.params.batch_pairs

    def make_optimiser(self) -> torch.optim.Optimizer:
        """RMSprop with Dual-AMN's (Keras) settings, or Adam, at the ``lr`` option."""
        if self.params.optimiser == "adam":
            return torch.optim.Adam(self.parameters(), lr=self.params.lr)
        return torch.optim.RMSprop(self.parameters(), lr=self.params.lr, alpha=0.9, eps=1e-7)

    def _check(self, name: str) -> None:
        if name != "align":
            raise KeyError(f"the graph_encoder model has no loss {name!r}")

    def loss(self, name: str, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        self._check(name)
        p = self.params
        emb = self.encoder()
        device = emb.device
        if p.dropout > 0:
            keep = torch.rand(emb.shape, generator=generator).to(device) >= p.dropout
            emb = emb * keep / (1 - p.dropout)
        pairs = self.pairs()[idx]
        left, right = pairs[:, 0], pairs[:, 1]
        n_left, n = self.inputs.num_left, self.inputs.num_entities
        right_ids = torch.randint(n_left, n, (p.num_sampled,), generator=generator).to(device)
        left_ids = torch.randint(0, n_left, (p.num_sampled,), generator=generator).to(device)
        right_ids, left_ids = torch.cat([right, right_ids]), torch.cat([left, left_ids])
        total = self._side(emb[left], emb[right], emb[right_ids], right_ids.unsqueeze(0) == right.unsqueeze(1))
        total = total + self._side(emb[right], emb[left], emb[left_ids], left_ids.unsqueeze(0) == left.unsqueeze(1))
        return total.mean()

    def _side(self, anchor: torch.Tensor, partner: torch.Tensor, candidates: torch.Tensor,
              mask: torch.Tensor) -> torch.Tensor:
        p = self.params
        if p.loss == "infonce":
            return info_nce_loss(anchor, partner, candidates, mask, p.temperature)
        return normalised_hard_sample_loss(anchor, partner, candidates, mask, p.gamma, p.lamb, p.tau)

    # --- embeddings -----------------------------------------------------------------------------
    @torch.no_grad()
    def encoded(self) -> torch.Tensor:
        """The encoder's output without dropout (dropout lives in :meth:`loss`), unit rows."""
        return unit(self.encoder())

    @torch.no_grad()
    def propagation(self) -> torch.Tensor:
        """The propagation model's embedding (default options), computed once per model and cached."""
        if self._propagation is None:
            generator = torch.Generator().manual_seed(self.label_seed)
            views = propagation_views(self.inputs, self.pairs(), PropagationParams(), generator)
            self._propagation = views.final()
        return self._propagation

    def release_propagation(self) -> None:
        """Drop the cached propagation embedding (recomputed, identically, on the next :meth:`propagation`): a caller
        that keeps its own copy need not hold two."""
        self._propagation = None

    def _sides(self, emb: torch.Tensor) -> tuple[Embeddings, Embeddings]:
        left, right = split_sides(emb, self.inputs.num_left)
        return Embeddings(left), Embeddings(right)

    def entity_embeddings(self) -> tuple[Embeddings, Embeddings]:
        emb = self.encoded()
        if self.params.with_propagation:
            emb = torch.cat([emb, self.params.propagation_weight * self.propagation()], 1)
        return self._sides(emb)

    def space_embeddings(self) -> dict[str, tuple[Embeddings, Embeddings]]:
        """The encoder alone and (if used) the propagation alone: what each contributes (diagnostics)."""
        out = {"encoder": self._sides(self.encoded())}
        if self.params.with_propagation:
            out["propagation"] = self._sides(self.propagation())
        return out
