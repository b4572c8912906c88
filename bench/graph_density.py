"""How much graph each benchmark gives the aligned entities: the measured side of "why the baselines sit below the
paper's figures" in BENCHMARKS.md.

Per dataset and side: triples, relation types, and the relational degree (triples an entity takes part in, as head
or tail) of the entities that have a reference link, as median, mean and the share with at most two triples. A
structure-only baseline (TransE, MTransE, SEA, GCN-Align) can place an entity only through its triples, so a
benchmark whose linked entities mostly have one or two of them leaves it little to learn from. What it learns
from is agreement. Over the links (a, b), ``neighbour_agreement`` gives, per side, the mean share of that side's
linked neighbours whose counterpart is a neighbour of the other end (an entity with no linked neighbour counts
as 0), and ``links_with_an_agreeing_neighbour`` the share of links with at least one neighbour pair that is
itself a link. Two graphs can be sparse and still agree (D-Y-15K-V1 was sampled to keep both sides' structure
alike), or agree only from the sparse side: most of a dense entity's neighbours then have no counterpart near
its partner.

    python bench/graph_density.py --data-dir ../shared/data

Writes ``bench/results/tables-valid/graph-density.json`` with the command, date, machine and git revision.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gaussea.data.kgpair import KGPair, KGSide
from gaussea.data.registry import load_dataset
from gaussea.ioutil import atomic_write_json
from gaussea.provenance import now_iso

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_common import git_revision, machine  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "tables-valid" / "graph-density.json"
# dataset -> its folder under --data-dir
DATASETS = {"fb15k-db15k": "mmkg-standin", "fb15k-yago15k": "mmkg-standin", "d_y_15k_v1": "openea"}


def linked_degrees(side: KGSide, linked: np.ndarray) -> dict[str, float]:
    """Relational degree statistics of the ``linked`` entity ids of ``side``."""
    degree = np.bincount(side.triples[:, [0, 2]].ravel(), minlength=side.num_entities)[linked]
    return {"triples": int(len(side.triples)), "relations": side.num_relations,
            "entities": side.num_entities, "linked_median_degree": float(np.median(degree)),
            "linked_mean_degree": round(float(degree.mean()), 2),
            "linked_share_degree_at_most_2": round(float((degree <= 2).mean()), 4)}


def neighbours(side: KGSide) -> list[set[int]]:
    """Each entity's relational neighbours (either direction, self-loops dropped)."""
    out: list[set[int]] = [set() for _ in range(side.num_entities)]
    for head, _, tail in side.triples.tolist():
        if head != tail:
            out[head].add(tail)
            out[tail].add(head)
    return out


def _agreeing_share(own: list[set[int]], other: list[set[int]], to_other: dict[int, int],
                    pairs: list[tuple[int, int]]) -> list[float]:
    """Per (x, y) in ``pairs``: the share of x's linked neighbours whose counterpart neighbours y."""
    shares = []
    for x, y in pairs:
        counterparts = [to_other[n] for n in own[x] if n in to_other]
        shares.append(sum(c in other[y] for c in counterparts) / len(counterparts) if counterparts else 0.0)
    return shares


def agreement(pair: KGPair) -> dict[str, object]:
    """How far the two graphs agree around each link (module docstring)."""
    left, right = neighbours(pair.left), neighbours(pair.right)
    links = [(int(a), int(b)) for a, b in pair.links.tolist()]
    from_left = _agreeing_share(left, right, dict(links), links)
    from_right = _agreeing_share(right, left, {b: a for a, b in links}, [(b, a) for a, b in links])
    return {"neighbour_agreement": {"left": round(float(np.mean(from_left)), 4),
                                    "right": round(float(np.mean(from_right)), 4)},
            "links_with_an_agreeing_neighbour": round(float(np.mean([s > 0 for s in from_left])), 4)}


def measure(name: str, data_dir: Path) -> dict:
    pair = load_dataset(name, data_dir / DATASETS[name])
    return {"dataset": name, "links": int(len(pair.links)), **agreement(pair),
            "left": {"kg": pair.left.name, **linked_degrees(pair.left, pair.links[:, 0])},
            "right": {"kg": pair.right.name, **linked_degrees(pair.right, pair.links[:, 1])}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows = [measure(name, args.data_dir) for name in DATASETS]
    record = {"command": " ".join([sys.executable, *sys.argv]), "date": now_iso(), "revision": git_revision(),
              "machine": machine(), "datasets": rows}
    atomic_write_json(args.out, record)
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
