"""Probe: how much can FB15K*-DB15K's numbers align on their own, with no learning beyond attribute matching?

Not the paper's method: a ceiling check for the numerical modality. Attribute correspondence is read from the
*train* links only (FB attribute a <-> DB attribute b where their values agree most often on train pairs);
each test source then ranks the test targets by how many corresponding attributes carry (nearly) the same
value. Prints the share of test links with numbers on both sides and the expected H@1 under random
tie-breaking.

    python bench/probes/numeric_signal.py [DATA_DIR] [RATIO] [TOL]
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

import numpy as np

from gaussea.config import RunConfig
from gaussea.runner import choose_split, load_pair


def values_by_entity(side) -> dict[int, dict[int, float]]:
    out: dict[int, dict[int, float]] = defaultdict(dict)
    num = side.numerical
    for e, a, v in zip(num.entity.tolist(), num.attribute.tolist(), num.value.tolist(), strict=True):
        out[e][a] = v
    return out


def close(x: float, y: float, tol: float) -> bool:
    return abs(x - y) <= tol * max(abs(x), abs(y), 1.0)


def main() -> None:
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mmkg-standin"
    ratio = float(sys.argv[2]) if len(sys.argv) > 2 else 0.2
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 0.002
    cfg = RunConfig.from_dict({"data": {"dataset": "fb15k-db15k", "data_dir": data_dir, "ratio": ratio}})
    pair = load_pair(cfg)
    split = choose_split(cfg, pair)
    left, right = values_by_entity(pair.left), values_by_entity(pair.right)
    agree: Counter = Counter()
    for e1, e2 in split.train.tolist():
        for a, x in left.get(e1, {}).items():
            for b, y in right.get(e2, {}).items():
                if close(x, y, tol):
                    agree[(a, b)] += 1
    best: dict[int, tuple[int, int]] = {}
    for (a, b), n in agree.items():
        if n >= 3 and n > best.get(a, (-1, 0))[1]:
            best[a] = (b, n)
    corr = {a: b for a, (b, _) in best.items()}
    test = split.test
    both = sum(1 for e1, e2 in test.tolist() if left.get(e1) and right.get(e2))
    targets = test[:, 1].tolist()
    # index of target values per DB attribute for fast matching
    hits, scored = 0.0, 0
    for e1, e2 in test.tolist():
        src = left.get(e1, {})
        scores = np.zeros(len(targets))
        for a, x in src.items():
            b = corr.get(a)
            if b is None:
                continue
            for j, t in enumerate(targets):
                y = right.get(t, {}).get(b)
                if y is not None and close(x, y, tol):
                    scores[j] += 1
        true = scores[targets.index(e2)]
        if true > 0:
            scored += 1
            hits += 1.0 / int((scores >= true).sum())
    print(f"test links {len(test)}; numbers on both sides {both} ({both / len(test):.3f}); "
          f"attribute pairs matched {len(corr)}; true target scored > 0: {scored}; "
          f"expected H@1 {hits / len(test):.4f}")
    for a, (b, n) in sorted(best.items(), key=lambda kv: -kv[1][1])[:12]:
        print(f"  {pair.left.attributes.name(a)} <-> {pair.right.attributes.name(b)}: {n} train pairs agree")


if __name__ == "__main__":
    main()
