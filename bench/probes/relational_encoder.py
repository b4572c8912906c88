"""Probe: which relation-aware graph encoder + alignment loss reaches issue 21's floors on a 2-core CPU?

A research probe, not library code: it trains a Dual-AMN / RREA-style encoder on the data and splits gaussea
itself loads and cuts, and scores it with gaussea's own evaluator (test-mode candidates, cosine, CSLS k=10), so
its figures are comparable with every other number in BENCHMARKS.md. Choices are made on a validation slice
(random splits: ``--valid-ratio`` of all links taken out of test; D-Y-15K-V1: its shipped valid fold); test links
are scored only with ``--test`` (or later from saved embeddings with ``--test-from``), once per configuration
finally recommended.

The encoder (after Dual-AMN, Mao et al. 2021; written from the paper's equations, reference code read only):
- two views of every entity: the mean of its neighbours' (and its own) free embeddings, and the mean of the
  embeddings of the relations it takes part in (incoming and outgoing relations are distinct);
- ``depth`` layers of relational-reflection attention over the triples, per view: a neighbour ``x_j`` reached by
  relation vector ``h`` (the normalised mean of the relations linking the two) contributes ``x_j - 2 (x_j.h) h``
  (RREA's ``M_r = I - 2 h h^T``), weighted by a softmax over the row of ``a_l . h`` (Dual-AMN) or of
  ``a_l . [x_i, M x_j, h]`` (RREA); tanh; every layer's output concatenated;
- optionally Dual-AMN's proxy matching (64 learned proxies, a gate between the features and their residual).
All message passing is over edge lists (``index_add_``); no n x n matrix is ever formed.

Losses over a batch of B seed pairs against the C candidate entities (B x C, never N x N):
- ``nhs``: Dual-AMN's normalised hard-sample mining: ``l = pos - neg + gamma`` per candidate, standardised per row
  (statistics without gradient), ``logsumexp(lamb * l + tau)``;
- ``infonce``: cosine similarities / temperature, cross-entropy towards the partner;
- ``hinge``: mean of ``relu(pos - neg + gamma)`` over the candidates (RREA-style margin loss).

Optionally the training-free label propagation of DESIGN.md §5 (LightEA-like) is concatenated to the learned
features at evaluation time (``--prop-weight``), to see whether the two carry complementary signal.

    PYTHONPATH=src python bench/probes/relational_encoder.py --dataset dbp15k-zh_en --epochs 24 --tag base

The defaults are the configuration recommended in bench/results/encoder-probe/README.md (epochs by validation:
24 on DBP15K zh_en, 12 on D-Y-15K-V1, 30 on FB15K*-DB15K); Dual-AMN's own settings are ``--dim 128
--candidates all --batch-size 1024 --prop-weight 0``. ``--checkpoint true --keep-freed-memory false`` keeps peak
RSS under 4 GiB on the largest graph (FB15K*-DB15K) at the cost of speed.

Writes ``bench/results/encoder-probe/<dataset>/<tag>.json`` (config, validation curve, test metrics when asked,
wall times, peak RSS, machine load, provenance) and the final embeddings to ``--emb-dir`` for ``--test-from``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from gaussea.data.kgpair import KGPair, Split
from gaussea.data.registry import default_registry
from gaussea.data.splits import make_split
from gaussea.evaluate import Embeddings, evaluate_alignment
from gaussea.models.inputs import AlignmentInputs
from gaussea.provenance import peak_rss_mib, provenance

RESULTS = Path(__file__).resolve().parents[1] / "results" / "encoder-probe"
DATASETS = {  # name -> (data dir, train ratio, given split) as in the presets
    "dbp15k-zh_en": ("/work/shared/data/dbp15k", 0.3, None),
    "d_y_15k_v1": ("/work/shared/data/openea", None, "split_721_ExEA"),
    "fb15k-db15k": ("/work/shared/data/mmkg-standin", 0.2, None),
}


@dataclass
class ProbeConfig:
    dataset: str = "dbp15k-zh_en"
    data_dir: str = ""
    ratio: float = 0.0
    given_split: str = ""
    split_index: int = 0
    valid_ratio: float = 0.1
    encoder: str = "dualamn"  # dualamn | rrea (attention logits)
    views: str = "ent,rel"  # which input views get an encoder
    dim: int = 64
    depth: int = 2
    proxy: bool = True
    checkpoint: bool = False  # recompute each layer's edge tensors in backward (memory for time)
    dropout: float = 0.3
    lr: float = 0.005
    optimizer: str = "rmsprop"
    epochs: int = 24
    time_budget: float = 0.0  # > 0: stop after the epoch that takes training past this many seconds
    eval_every: int = 6
    batch_size: int = 1500  # 0: all training pairs in one step (one encoder pass per epoch)
    loss: str = "nhs"  # nhs | infonce | hinge
    gamma: float = 1.0
    lamb: float = 30.0
    tau: float = 10.0
    temperature: float = 0.05
    candidates: str = "sample"  # all (both graphs, Dual-AMN) | other (the partner's graph) | sample (see batch_loss)
    num_sampled: int = 1024
    in_batch: bool = True  # sample: the batch's partners are candidates too
    init_prop: bool = False  # initialise the free entity embeddings from the propagation features
    prop_weight: float = 1.0  # > 0: concatenate the label-propagation features, scaled, at evaluation
    prop_dim: int = 512
    threads: int = 1
    seed: int = 0


# ----------------------------------------------------------------------------------------------------------- data


def load_split(cfg: ProbeConfig) -> tuple[KGPair, Split]:
    """The pair and split exactly as gaussea's runner makes them (random splits get a valid slice carved here)."""
    pair = default_registry().load(cfg.dataset, cfg.data_dir)
    if cfg.given_split:
        return pair, pair.given_splits[cfg.given_split]
    return pair, make_split(pair.links, cfg.ratio, seed=0, index=cfg.split_index, valid_ratio=cfg.valid_ratio)


@dataclass
class Graph:
    """Edge lists of the merged graph (both KGs, global ids), with inverse relations ``r + R``."""

    num_entities: int
    num_rel_ids: int  # 2R: forward and inverse
    edge_row: torch.Tensor  # (E,) aggregating entity
    edge_col: torch.Tensor  # (E,) neighbour
    trip_edge: torch.Tensor  # (T2,) the edge each directed triple belongs to
    trip_rel: torch.Tensor  # (T2,) its relation id in [0, 2R)
    trip_weight: torch.Tensor  # (T2,) 1 / (triples on that edge): the edge's relation vector is their mean
    ent_row: torch.Tensor  # neighbour-mean view: (entity, neighbour) incl. self loops, distinct
    ent_col: torch.Tensor
    rel_row: torch.Tensor  # relation-mean view: (entity, relation id) distinct
    rel_col: torch.Tensor


def build_graph(inputs: AlignmentInputs) -> Graph:
    n, r = inputs.num_entities, inputs.num_relations
    t = inputs.triples.numpy()
    h, rel, tl = t[:, 0], t[:, 1], t[:, 2]
    # Row h hears t through r; row t hears h through the inverse r + R.
    rows = np.concatenate([h, tl])
    cols = np.concatenate([tl, h])
    rels = np.concatenate([rel, rel + r])
    keep = rows != cols
    rows, cols, rels = rows[keep], cols[keep], rels[keep]
    key = rows.astype(np.int64) * n + cols
    uniq, edge_of = np.unique(key, return_inverse=True)
    counts = np.bincount(edge_of)
    self_loops = np.arange(n, dtype=np.int64)
    ent_key = np.unique(np.concatenate([uniq, self_loops * n + self_loops]))
    rel_key = np.unique(rows.astype(np.int64) * (2 * r) + rels)
    as_t = torch.as_tensor
    return Graph(
        num_entities=n, num_rel_ids=2 * r,
        edge_row=as_t(uniq // n), edge_col=as_t(uniq % n),
        trip_edge=as_t(edge_of.astype(np.int64)), trip_rel=as_t(rels.astype(np.int64)),
        trip_weight=as_t((1.0 / counts[edge_of]).astype(np.float32)),
        ent_row=as_t(ent_key // n), ent_col=as_t(ent_key % n),
        rel_row=as_t(rel_key // (2 * r)), rel_col=as_t(rel_key % (2 * r)),
    )


def row_mean(row: torch.Tensor, col: torch.Tensor, table: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of ``table[col]`` per ``row`` (rows without entries stay zero)."""
    out = torch.zeros(n, table.shape[1]).index_add_(0, row, table[col])
    deg = torch.bincount(row, minlength=n).clamp_min(1).unsqueeze(1)
    return out / deg


def segment_softmax(logits: torch.Tensor, row: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of edge logits within each aggregating row (the sparse row softmax of GAT)."""
    top = torch.full((n,), -math.inf).scatter_reduce(0, row, logits.detach(), reduce="amax", include_self=True)
    e = torch.exp(logits - top[row])
    z = torch.zeros(n).index_add_(0, row, e)
    return e / z[row]


# -------------------------------------------------------------------------------------------------------- encoder


class ReflectionEncoder(nn.Module):
    """``depth`` layers of relational-reflection attention over one input view, outputs of all layers concatenated."""

    def __init__(self, dim: int, depth: int, style: str, proxy: bool, checkpoint: bool = False) -> None:
        super().__init__()
        self.style = style
        self.checkpoint = checkpoint
        width = 3 * dim if style == "rrea" else dim
        self.attn = nn.ParameterList([nn.Parameter(torch.empty(width).uniform_(-0.1, 0.1)) for _ in range(depth)])
        out = dim * (depth + 1)
        self.proxy = nn.Parameter(nn.init.xavier_uniform_(torch.empty(64, out))) if proxy else None
        self.gate = nn.Linear(out, out) if proxy else None
        if self.gate is not None:
            nn.init.xavier_uniform_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)

    def layer(self, x: torch.Tensor, a: torch.Tensor, g: Graph, edge_rel: torch.Tensor) -> torch.Tensor:
        neigh = x[g.edge_col]
        neigh = neigh - 2 * (neigh * edge_rel).sum(1, keepdim=True) * edge_rel
        if self.style == "rrea":
            logits = torch.cat([x[g.edge_row], neigh, edge_rel], 1) @ a
        else:
            logits = edge_rel @ a
        att = segment_softmax(logits, g.edge_row, g.num_entities)
        return torch.tanh(torch.zeros_like(x).index_add_(0, g.edge_row, neigh * att.unsqueeze(1)))

    def forward(self, x: torch.Tensor, g: Graph, edge_rel: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(x)
        outs = [x]
        for a in self.attn:
            if self.checkpoint and torch.is_grad_enabled():
                # Keep only the layer's input; its edge-sized intermediates are recomputed in backward.
                x = checkpoint(self.layer, x, a, g, edge_rel, use_reentrant=False)
            else:
                x = self.layer(x, a, g, edge_rel)
            outs.append(x)
        out = torch.cat(outs, 1)
        if self.proxy is None:
            return out
        p_att = torch.softmax(F.normalize(out, dim=1) @ F.normalize(self.proxy, dim=1).T, dim=1)
        residual = out - p_att @ self.proxy
        gate = torch.sigmoid(self.gate(residual))
        return gate * out + (1 - gate) * residual


class RelationalAligner(nn.Module):
    def __init__(self, g: Graph, cfg: ProbeConfig) -> None:
        super().__init__()
        self.g = g
        self.views = [v for v in cfg.views.split(",") if v]
        self.ent_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(g.num_entities, cfg.dim)))
        self.rel_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(g.num_rel_ids, cfg.dim)))
        self.encoders = nn.ModuleDict({v: ReflectionEncoder(cfg.dim, cfg.depth, cfg.encoder, cfg.proxy,
                                                                 cfg.checkpoint)
                                       for v in self.views})
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self) -> torch.Tensor:
        g, n = self.g, self.g.num_entities
        edge_rel = torch.zeros(len(g.edge_row), self.rel_emb.shape[1]).index_add_(
            0, g.trip_edge, self.rel_emb[g.trip_rel] * g.trip_weight.unsqueeze(1))
        edge_rel = F.normalize(edge_rel, dim=1)
        inputs = {"ent": row_mean(g.ent_row, g.ent_col, self.ent_emb, n),
                  "rel": row_mean(g.rel_row, g.rel_col, self.rel_emb, n)}
        out = torch.cat([self.encoders[v](inputs[v], g, edge_rel) for v in self.views], 1)
        return self.dropout(out)


# ----------------------------------------------------------------------------------------------------------- loss


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * a).sum(1, keepdim=True) + (b * b).sum(1).unsqueeze(0) - 2 * a @ b.T


def side_loss(anchor: torch.Tensor, partner: torch.Tensor, cand: torch.Tensor, mask: torch.Tensor,
              cfg: ProbeConfig) -> torch.Tensor:
    """Loss of ``anchor`` rows that should be nearer ``partner`` than every unmasked candidate (B x C)."""
    if cfg.loss == "infonce":
        a, p, c = F.normalize(anchor, dim=1), F.normalize(partner, dim=1), F.normalize(cand, dim=1)
        pos = (a * p).sum(1, keepdim=True)
        neg = (a @ c.T).masked_fill(mask, -math.inf)
        logits = torch.cat([pos, neg], 1) / cfg.temperature
        return torch.logsumexp(logits, 1) - logits[:, 0]
    pos = ((anchor - partner) ** 2).sum(1, keepdim=True)
    margin = (pos - sq_dist(anchor, cand) + cfg.gamma).masked_fill(mask, 0.0)
    if cfg.loss == "hinge":
        return F.relu(margin).sum(1) / (~mask).sum(1)
    mean = margin.mean(1, keepdim=True).detach()
    std = margin.std(1, keepdim=True).detach()
    z = ((margin - mean) / std).masked_fill(mask, -math.inf)
    return torch.logsumexp(cfg.lamb * z + cfg.tau, 1)


def batch_loss(emb: torch.Tensor, pairs: torch.Tensor, n_left: int, cfg: ProbeConfig) -> torch.Tensor:
    """Both directions of the batch's loss against the candidates ``cfg.candidates`` names.

    ``all``: every entity of both graphs (Dual-AMN); ``other``: every entity of the partner's graph; ``sample``:
    the batch's own partners plus ``cfg.num_sampled`` entities of the partner's graph drawn afresh each step.
    """
    left, right = pairs[:, 0], pairs[:, 1]
    le, re = emb[left], emb[right]
    n = emb.shape[0]
    if cfg.candidates == "all":
        ids = torch.arange(n)
        mask = (ids.unsqueeze(0) == left.unsqueeze(1)) | (ids.unsqueeze(0) == right.unsqueeze(1))
        return (side_loss(le, re, emb, mask, cfg) + side_loss(re, le, emb, mask, cfg)).mean()
    if cfg.candidates == "other":
        r_ids, l_ids = torch.arange(n_left, n), torch.arange(n_left)
    else:
        r_ids = torch.randint(n_left, n, (cfg.num_sampled,))
        l_ids = torch.randint(0, n_left, (cfg.num_sampled,))
        if cfg.in_batch:
            r_ids, l_ids = torch.cat([right, r_ids]), torch.cat([left, l_ids])
    mask_l = r_ids.unsqueeze(0) == right.unsqueeze(1)
    mask_r = l_ids.unsqueeze(0) == left.unsqueeze(1)
    return (side_loss(le, re, emb[r_ids], mask_l, cfg) + side_loss(re, le, emb[l_ids], mask_r, cfg)).mean()


# ------------------------------------------------------------------------------------------ label propagation


def propagation_features(g: Graph, inputs: AlignmentInputs, dim: int, seed: int) -> torch.Tensor:
    """DESIGN.md §5's training-free yardstick: seed labels propagated 2 hops, plus the relation view."""
    gen = torch.Generator().manual_seed(seed)
    n = g.num_entities
    labels = torch.zeros(n, dim)
    seeds = F.normalize(torch.randn(len(inputs.train_pairs), dim, generator=gen), dim=1)
    labels[inputs.train_pairs[:, 0]] = seeds
    labels[inputs.train_pairs[:, 1]] = seeds
    adj = torch.sparse_coo_tensor(torch.stack([g.edge_row, g.edge_col]), torch.ones(len(g.edge_row)), (n, n),
                                  check_invariants=False)
    deg = torch.bincount(g.edge_row, minlength=n).clamp_min(1).unsqueeze(1)
    h, hops = labels, []
    for _ in range(2):
        h = F.normalize(torch.sparse.mm(adj, h) / deg, dim=1)
        hops.append(h)
    ent_view = torch.cat(hops, 1)
    t = inputs.triples
    r = inputs.num_relations
    # Sparse incidence products: gathering per triple would materialise a (triples x width) block (2 GB on FB15K).
    ones = torch.ones(len(t))
    tails = torch.sparse_coo_tensor(torch.stack([t[:, 1], t[:, 2]]), ones, (r, n), check_invariants=False).coalesce()
    heads = torch.sparse_coo_tensor(torch.stack([t[:, 1], t[:, 0]]), ones, (r, n), check_invariants=False).coalesce()
    counts = torch.bincount(t[:, 1], minlength=r).clamp_min(1).unsqueeze(1)
    rel_vec = F.normalize((torch.sparse.mm(tails, ent_view) - torch.sparse.mm(heads, ent_view)) / counts, dim=1)
    out_deg = torch.bincount(t[:, 0], minlength=n).clamp_min(1).unsqueeze(1)
    in_deg = torch.bincount(t[:, 2], minlength=n).clamp_min(1).unsqueeze(1)
    out_view = torch.sparse.mm(heads.t().coalesce(), rel_vec) / out_deg
    in_view = torch.sparse.mm(tails.t().coalesce(), rel_vec) / in_deg
    rel_view = F.normalize(torch.cat([out_view, in_view], 1), dim=1)
    return torch.cat([F.normalize(ent_view, dim=1), rel_view], 1)


# --------------------------------------------------------------------------------------------------- evaluation


def score(emb: torch.Tensor, n_left: int, links: np.ndarray) -> dict:
    """gaussea's evaluator: candidates = the links' targets, cosine, CSLS k = 10 (as ``evaluate_model``)."""
    m = evaluate_alignment(Embeddings(emb[:n_left]), Embeddings(emb[n_left:]), links, mode="test",
                           similarity="cosine", csls_k=10, ks=(1, 5, 10))
    return {k: round(float(m[k]), 5) for k in ("hits@1", "hits@5", "hits@10", "mrr", "num_queries")}


def score_pool(emb: torch.Tensor, n_left: int, split: Split) -> dict:
    """Valid links ranked among all valid + test targets (CSLS over valid + test sources).

    The valid pool (1,500 targets on DBP15K at 30 %) is much easier than the test pool (9,000); this pool
    (10,500) is close to the test one in size, so its H@1 predicts test H@1 (propagation on DBP15K zh_en:
    60.9 % here against 62.2 % on test). It uses only which entities are link ends, never a test pairing.
    """
    n_right = emb.shape[0] - n_left
    links = np.concatenate([split.valid, split.test])
    m = evaluate_alignment(Embeddings(emb[:n_left]), Embeddings(emb[n_left:]), split.valid, mode="all",
                           similarity="cosine", csls_k=10, ks=(1, 10),
                           exclude_sources=np.setdiff1d(np.arange(n_left), links[:, 0]),
                           exclude_targets=np.setdiff1d(np.arange(n_right), links[:, 1]))
    return {"pool_hits@1": round(float(m["hits@1"]), 5), "pool_hits@10": round(float(m["hits@10"]), 5),
            "pool_mrr": round(float(m["mrr"]), 5), "pool_size": len(links)}


def final_embeddings(model: RelationalAligner, prop: torch.Tensor | None, weight: float) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        emb = F.normalize(model(), dim=1)
    model.train()
    if prop is not None and weight > 0:
        emb = torch.cat([emb, weight * F.normalize(prop, dim=1)], 1)
    return emb


def keep_freed_memory() -> None:
    """Make glibc keep freed blocks instead of unmapping them (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2 GB).

    Every large PyTorch temporary (an E x d edge tensor is ~130 MB here) is otherwise a fresh mmap whose pages
    fault in on first touch: measured on this machine, ``x * x`` on 259k x 128 floats took ~200 ms that way and
    ~25 ms with the memory kept, and the encoder's step is dominated by such element-wise ops.
    """
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-4, 0)  # M_MMAP_MAX
    libc.mallopt(-1, 2_000_000_000)  # M_TRIM_THRESHOLD


def load_average() -> float:
    return os.getloadavg()[0]


def train(cfg: ProbeConfig, run_test: bool, emb_path: Path | None) -> dict:
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    t0 = time.perf_counter()
    pair, split = load_split(cfg)
    inputs = AlignmentInputs.build(pair, split)
    g = build_graph(inputs)
    n_left = inputs.num_left
    model = RelationalAligner(g, cfg)
    opt_cls = {"rmsprop": lambda p: torch.optim.RMSprop(p, lr=cfg.lr, alpha=0.9, eps=1e-7),
               "adam": lambda p: torch.optim.Adam(p, lr=cfg.lr)}[cfg.optimizer]
    opt = opt_cls(model.parameters())
    prop = propagation_features(g, inputs, cfg.prop_dim, cfg.seed) if cfg.prop_weight > 0 or cfg.init_prop else None
    if cfg.init_prop:
        with torch.no_grad():  # a fixed random projection of the propagation features, at the table's scale
            proj = torch.randn(prop.shape[1], cfg.dim) / math.sqrt(prop.shape[1])
            init = F.normalize(prop, dim=1) @ proj
            model.ent_emb.copy_(init * (model.ent_emb.std() / init.std()))
    setup_s = time.perf_counter() - t0
    pairs = inputs.train_pairs
    curve, train_s, loads = [], 0.0, [load_average()]
    if prop is not None and cfg.prop_weight > 0:
        alone = {**score(prop, n_left, split.valid), **score_pool(prop, n_left, split)}
        curve.append({"epoch": 0, "train_s": 0.0, "valid": alone, "note": "propagation"})
        print(json.dumps(curve[-1]), flush=True)
    for epoch in range(1, cfg.epochs + 1):
        t = time.perf_counter()
        order = torch.randperm(len(pairs))
        losses = []
        step = cfg.batch_size or len(pairs)
        for start in range(0, len(pairs), step):
            batch = pairs[order[start:start + step]]
            loss = batch_loss(model(), batch, n_left, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        train_s += time.perf_counter() - t
        over = 0 < cfg.time_budget <= train_s
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or over:
            t_eval = time.perf_counter()
            enc = final_embeddings(model, None, 0.0)
            row = {"epoch": epoch, "train_s": round(train_s, 1), "loss": round(float(np.mean(losses)), 4),
                   "valid": score(enc, n_left, split.valid), "load1": round(load_average(), 2)}
            if prop is not None and cfg.prop_weight > 0:
                row["valid_encoder"] = row["valid"]
                row["valid"] = score(final_embeddings(model, prop, cfg.prop_weight), n_left, split.valid)
            row["eval_s"] = round(time.perf_counter() - t_eval, 1)
            loads.append(row["load1"])
            curve.append(row)
            print(json.dumps(row), flush=True)
        if over:
            break
    emb = final_embeddings(model, prop, cfg.prop_weight)
    final = {**score(emb, n_left, split.valid), **score_pool(emb, n_left, split)}
    if prop is not None and cfg.prop_weight > 0:
        enc = final_embeddings(model, None, 0.0)
        final["encoder_only"] = {**score(enc, n_left, split.valid), **score_pool(enc, n_left, split)}
    result = {
        "config": asdict(cfg), "split_sizes": split.sizes(), "setup_s": round(setup_s, 1),
        "train_s": round(train_s, 1), "epochs_run": curve[-1]["epoch"],
        "s_per_epoch": round(train_s / max(curve[-1]["epoch"], 1), 2),
        "wall_s": round(time.perf_counter() - t0, 1), "peak_rss_mib": round(peak_rss_mib(), 1),
        "mean_load1": round(float(np.mean(loads)), 2), "curve": curve, "valid": final,
        "best_valid_epoch": max(curve, key=lambda r: r["valid"]["hits@1"])["epoch"],
    }
    if run_test:
        result["test"] = score(emb, n_left, split.test)
    if emb_path is not None:
        emb_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"emb": emb, "n_left": n_left}, emb_path)
    return result


def test_from(cfg: ProbeConfig, emb_path: Path) -> dict:
    """Test metrics of saved final embeddings (the run's config must name the same data and split)."""
    _, split = load_split(cfg)
    saved = torch.load(emb_path)
    return score(saved["emb"], saved["n_left"], split.test)


def parse() -> tuple[ProbeConfig, argparse.Namespace]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = ProbeConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            ap.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=value)
        else:
            ap.add_argument(flag, type=type(value), default=value)
    ap.add_argument("--tag", required=True, help="result file name (without .json)")
    ap.add_argument("--test", action="store_true", help="also score the test links (final configurations only)")
    ap.add_argument("--test-from", action="store_true", help="score test from the saved embeddings of --tag")
    ap.add_argument("--emb-dir", default="/tmp/enc21-emb")
    ap.add_argument("--keep-freed-memory", type=lambda s: s.lower() in ("1", "true", "yes"), default=True)
    args = ap.parse_args()
    cfg = ProbeConfig(**{k: getattr(args, k) for k in asdict(defaults)})
    data_dir, ratio, given = DATASETS.get(cfg.dataset, ("", 0.2, None))
    cfg.data_dir = cfg.data_dir or data_dir
    cfg.ratio = cfg.ratio or ratio or 0.0
    cfg.given_split = cfg.given_split or given or ""
    return cfg, args


def main() -> None:
    cfg, args = parse()
    if args.keep_freed_memory:
        keep_freed_memory()
    torch.set_num_threads(cfg.threads)
    out = RESULTS / cfg.dataset / f"{args.tag}.json"
    emb_path = Path(args.emb_dir) / cfg.dataset / f"{args.tag}.pt"
    if args.test_from:
        result = json.loads(out.read_text())
        result["test"] = test_from(cfg, emb_path)
        result["test_provenance"] = provenance()
    else:
        result = {**train(cfg, args.test, emb_path), "provenance": provenance()}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: result.get(k) for k in ("valid", "test", "train_s", "s_per_epoch", "wall_s", "peak_rss_mib")}
    print(json.dumps(summary), file=sys.stderr)


if __name__ == "__main__":
    main()
