"""A Dual-AMN-style relational encoder (after Mao et al. 2021, with RREA's relational reflection).

Every entity has two input views: the mean of its neighbours' (and its own) free embeddings (*entity view*) and
the mean of the embeddings of the relations it takes part in (*relation view*; a relation used as incoming and
as outgoing are two distinct ids, ``r`` and ``r + R``). Each view goes through ``depth`` layers of
relational-reflection attention over the triples:

- an edge ``i <- j`` (``j`` a neighbour of ``i``, both directions of every triple, self-loops dropped, parallel
  triples one edge) carries the unit vector ``h`` of the mean of its relations' embeddings;
- the neighbour contributes its reflection ``x_j - 2 (x_j . h) h`` (RREA's ``M_r = I - 2 h h^T``: a norm- and
  angle-preserving, relation-specific map), weighted by a softmax over row ``i`` of ``a_l . h`` (Dual-AMN's
  relation-only attention, one vector ``a_l`` per layer);
- the sum goes through ``tanh``; the view's output is ``[tanh(x), layer 1, ..., layer depth]``.

Optionally (``proxy``) Dual-AMN's proxy matching: 64 learned proxy vectors, each entity's residual against its
soft proxy match, and a learned sigmoid gate between the features and that residual.

Everything is over edge lists (``index_add_``, a segment softmax): memory is O(edges x dim), never n x n. All
initial values are drawn from the generator passed in, so a model's starting point is a function of the seed.

Memory and time: an ``edges x dim`` float tensor is ~170 MB on FB15K*-DB15K (647k edges). Plain autograd keeps
three of them per layer and view for the backward pass (~2 GB at the defaults), and every such temporary is a
fresh block the kernel must map and zero page by page (glibc serves blocks above 32 MiB with ``mmap``), which
costs about as much as the arithmetic. So a layer's edge work (:func:`reflect_and_sum`) runs over slices of
``EDGE_CHUNK_BYTES`` of edges, whose temporaries glibc recycles from its heap, keeps no edge-sized tensor of
its own for the backward pass and recomputes the reflections there; the other edge-list sums
(:func:`index_sum`) keep only their index. ``bench/results/encoder-budget/README.md`` has the measurements.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gaussea.models.translational import unit


def glorot(shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Xavier-uniform initial values drawn from ``generator`` (``nn.init`` would draw from the global RNG)."""
    bound = math.sqrt(6.0 / (shape[0] + shape[1]))
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


class _IndexSum(torch.autograd.Function):
    """``zeros(n, ...).index_add_(0, index, source)`` whose backward pass keeps ``index`` alone.

    Why: autograd's own ``index_add`` keeps ``source`` although its gradient, ``grad.index_select(0, index)``,
    needs only the index; here the sources are ``triples x dim`` or ``pairs x dim`` tensors (~0.5 GB together on
    FB15K*-DB15K). Forward and backward run the very operations autograd's would (same values bit for bit).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, index: torch.Tensor, source: torch.Tensor,
                n: int) -> torch.Tensor:
        ctx.save_for_backward(index)
        return source.new_zeros((n, *source.shape[1:])).index_add_(0, index, source)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[None, torch.Tensor, None]:
        (index,) = ctx.saved_tensors
        return None, grad.index_select(0, index), None


def index_sum(index: torch.Tensor, source: torch.Tensor, n: int) -> torch.Tensor:
    """``(n, ...)``: row ``i`` is the sum of the rows ``source[k]`` with ``index[k] == i`` (``index_add_`` into
    zeros; its backward pass keeps only ``index``, see :class:`_IndexSum`)."""
    return _IndexSum.apply(index, source, n)


def row_mean(row: torch.Tensor, col: torch.Tensor, table: torch.Tensor, n: int) -> torch.Tensor:
    """``(n, d)``: the mean of ``table[col]`` over the entries of each ``row`` (rows without entries stay zero)."""
    out = index_sum(row, table[col], n)
    degree = torch.bincount(row, minlength=n).clamp_min(1).unsqueeze(1).to(table.dtype)
    return out / degree


def segment_softmax(logits: torch.Tensor, row: torch.Tensor, n: int) -> torch.Tensor:
    """Softmax of edge ``logits`` within each row (GAT's sparse row softmax); the row maximum is a constant."""
    top = torch.full((n,), -math.inf, dtype=logits.dtype, device=logits.device)
    top = top.scatter_reduce(0, row, logits.detach(), reduce="amax", include_self=True)
    e = torch.exp(logits - top[row])
    z = torch.zeros(n, dtype=logits.dtype, device=logits.device).index_add_(0, row, e)
    return e / z[row]


def reflect(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` reflected in the hyperplanes orthogonal to the unit rows of ``h``: ``x - 2 (x . h) h``."""
    return x - 2 * (x * h).sum(1, keepdim=True) * h


#: Bytes of one float temporary of :func:`reflect_and_sum`'s edge slices: below the mmap threshold that
#: :func:`gaussea.memory.keep_freed_memory` sets (32 MiB), so freed slices are recycled from glibc's heap
#: instead of being mapped and zeroed afresh; as large as that allows, because every operation on a slice is
#: one parallel region, and on a loaded machine each region can wait for a descheduled thread.
EDGE_CHUNK_BYTES = 24 * 2**20

def edge_slices(num_edges: int, dim: int, element_size: int) -> list[slice]:
    """Consecutive slices of the edges, each ``EDGE_CHUNK_BYTES`` of ``dim``-wide rows (at least one row)."""
    step = max(1, EDGE_CHUNK_BYTES // max(1, dim * element_size))
    return [slice(start, start + step) for start in range(0, num_edges, step)]


class _ReflectAndSum(torch.autograd.Function):
    """:func:`reflect_and_sum` with a hand-written backward pass that recomputes the reflections per slice.

    Per edge, with ``n = x[col]``, ``s = n . h``, ``m = n - 2 s h`` (the reflection), ``u = grad[row]``,
    ``b = u . h`` and ``g = w u`` (the gradient reaching ``m``): ``grad w = u . m = u . n - 2 s b``,
    ``grad n = g - 2 (g . h) h = g - 2 w b h`` (a reflection is its own transpose) and
    ``grad h = -2 ((g . h) n + s g) = -2 (w b n + s g)``.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, h: torch.Tensor, w: torch.Tensor,
                row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        for part in edge_slices(len(row), x.shape[1], x.element_size()):
            out.index_add_(0, row[part], reflect(x[col[part]], h[part]) * w[part].unsqueeze(1))
        ctx.save_for_backward(x, h, w, row, col)
        return out

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
                 ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        x, h, w, row, col = ctx.saved_tensors
        need_x, need_h, need_w = ctx.needs_input_grad[:3]
        grad_x = torch.zeros_like(x) if need_x else None
        grad_h = torch.empty_like(h) if need_h else None
        grad_w = torch.empty_like(w) if need_w else None
        for part in edge_slices(len(row), x.shape[1], x.element_size()):
            u, hp, n, wp = grad[row[part]], h[part], x[col[part]], w[part].unsqueeze(1)
            s = (n * hp).sum(1, keepdim=True)
            b = (u * hp).sum(1, keepdim=True)
            if grad_w is not None:
                grad_w[part] = ((u * n).sum(1, keepdim=True) - 2 * s * b).squeeze(1)
            g = u.mul_(wp)
            wb = wp * b
            if grad_h is not None:
                torch.mul(n, wb, out=grad_h[part]).add_(g * s).mul_(-2)
            if grad_x is not None:
                grad_x.index_add_(0, col[part], g.sub_(2 * wb * hp))
        return grad_x, grad_h, grad_w, None, None


def reflect_and_sum(x: torch.Tensor, h: torch.Tensor, w: torch.Tensor, row: torch.Tensor,
                    col: torch.Tensor) -> torch.Tensor:
    """``(N, d)``: row ``i`` is ``sum_k w_k reflect(x[col_k], h_k)`` over the edges ``k`` with ``row_k == i``.

    The same sums, in the same order, as one ``index_add_`` over all edges; computed over slices of the edges,
    keeping no ``edges x dim`` tensor for the backward pass (see the module docstring, "Memory and time").
    """
    return _ReflectAndSum.apply(x, h, w, row, col)


def reflection_attention(x: torch.Tensor, attention: torch.Tensor, edge_row: torch.Tensor, edge_col: torch.Tensor,
                         edge_rel: torch.Tensor) -> torch.Tensor:
    """One layer: ``tanh(sum_j softmax_j(attention . h_ij) reflect(x_j, h_ij))`` per row ``i`` of the edges."""
    weights = segment_softmax(edge_rel @ attention, edge_row, x.shape[0])
    return torch.tanh(reflect_and_sum(x, edge_rel, weights, edge_row, edge_col))


class ReflectionEncoder(nn.Module):
    """``depth`` reflection-attention layers over one input view, every layer's output concatenated, then the
    optional proxy gate. Output width ``dim * (depth + 1)``."""

    def __init__(self, dim: int, depth: int, proxy: bool, generator: torch.Generator, num_proxies: int = 64) -> None:
        super().__init__()
        self.attention = nn.ParameterList(
            [nn.Parameter((torch.rand(dim, generator=generator) * 2 - 1) * 0.1) for _ in range(depth)])
        width = dim * (depth + 1)
        self.proxy = nn.Parameter(glorot((num_proxies, width), generator)) if proxy else None
        self.gate_weight = nn.Parameter(glorot((width, width), generator)) if proxy else None
        self.gate_bias = nn.Parameter(torch.zeros(width)) if proxy else None

    def forward(self, x: torch.Tensor, edge_row: torch.Tensor, edge_col: torch.Tensor,
                edge_rel: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(x)
        outs = [x]
        for attention in self.attention:
            x = reflection_attention(x, attention, edge_row, edge_col, edge_rel)
            outs.append(x)
        out = torch.cat(outs, 1)
        if self.proxy is None:
            return out
        match = torch.softmax(unit(out) @ unit(self.proxy).T, dim=1)
        residual = out - match @ self.proxy
        gate = torch.sigmoid(residual @ self.gate_weight.T + self.gate_bias)
        return gate * out + (1 - gate) * residual


def relational_edges(triples: torch.Tensor, num_entities: int, num_relations: int) -> dict[str, torch.Tensor]:
    """The edge lists the encoder runs over, from global-id ``(h, r, t)`` triples (inverse relations ``r + R``).

    - ``edge_row`` / ``edge_col``: each distinct directed edge ``row <- col`` (both directions of every triple,
      self-loops dropped), sorted;
    - ``trip_edge`` / ``trip_rel`` / ``trip_weight``: per directed triple, its edge, its relation id in
      ``[0, 2R)`` and ``1 / (triples on that edge)``, so that an edge's relation vector is their mean;
    - ``ent_row`` / ``ent_col``: the entity view's (entity, neighbour) pairs, self-loops included, distinct;
    - ``rel_row`` / ``rel_col``: the relation view's (entity, relation id) pairs, distinct.
    """
    n, r = num_entities, num_relations
    h, rel, t = triples.unbind(1)
    rows, cols, rels = torch.cat([h, t]), torch.cat([t, h]), torch.cat([rel, rel + r])
    keep = rows != cols
    rows, cols, rels = rows[keep], cols[keep], rels[keep]
    edges, edge_of = torch.unique(rows * n + cols, return_inverse=True)
    counts = torch.bincount(edge_of, minlength=len(edges))
    loops = torch.arange(n, dtype=torch.long, device=triples.device)
    entity_pairs = torch.unique(torch.cat([edges, loops * n + loops]))
    width = max(2 * r, 1)  # a graph without relations has no triples: empty lists, no division by zero
    relation_pairs = torch.unique(rows * width + rels)
    return {
        "edge_row": edges // n, "edge_col": edges % n,
        "trip_edge": edge_of, "trip_rel": rels, "trip_weight": 1.0 / counts[edge_of].to(torch.float32),
        "ent_row": entity_pairs // n, "ent_col": entity_pairs % n,
        "rel_row": relation_pairs // width, "rel_col": relation_pairs % width,
    }


class RelationalGraphEncoder(nn.Module):
    """Free entity and relation embeddings, encoded by one :class:`ReflectionEncoder` per view; the views'
    outputs concatenated (width ``2 * dim * (depth + 1)``). The edge lists are non-persistent buffers: they are
    recomputed from the triples when the model is rebuilt, and move with ``to``."""

    def __init__(self, triples: torch.Tensor, num_entities: int, num_relations: int, dim: int, depth: int,
                 proxy: bool, generator: torch.Generator) -> None:
        super().__init__()
        self.num_entities = num_entities
        for name, tensor in relational_edges(triples, num_entities, num_relations).items():
            self.register_buffer(name, tensor, persistent=False)
        self.entity = nn.Parameter(glorot((num_entities, dim), generator))
        self.relation = nn.Parameter(glorot((2 * num_relations, dim), generator))
        self.views = nn.ModuleDict({view: ReflectionEncoder(dim, depth, proxy, generator) for view in ("ent", "rel")})

    @property
    def out_dim(self) -> int:
        first = self.views["ent"]
        return 2 * self.entity.shape[1] * (len(first.attention) + 1)

    def edge_relations(self) -> torch.Tensor:
        """``(E, dim)``: each edge's unit mean relation vector."""
        return unit(index_sum(self.trip_edge, self.relation[self.trip_rel] * self.trip_weight.unsqueeze(1),
                              len(self.edge_row)))

    def forward(self) -> torch.Tensor:
        n = self.num_entities
        edge_rel = self.edge_relations()
        inputs = {"ent": row_mean(self.ent_row, self.ent_col, self.entity, n),
                  "rel": row_mean(self.rel_row, self.rel_col, self.relation, n)}
        return torch.cat([self.views[v](inputs[v], self.edge_row, self.edge_col, edge_rel) for v in self.views], 1)
