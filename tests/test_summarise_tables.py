"""bench/summarise_tables.py: the condensed rows of BENCHMARKS.md, read back from a hand-made summary."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType


def entry(dataset: str, ratio: float, model: str, decoder: str, h1: list[float], *, variant: str = "model",
          iterative: bool = False, epochs: tuple[int, ...] = (50, 40, 60)) -> dict:
    n = len(h1)
    mean = sum(h1) / n
    std = (sum((x - mean) ** 2 for x in h1) / (n - 1)) ** 0.5 if n > 1 else 0.0
    stat = {"hits@1": {"mean": mean, "std": std, "n": n}, "hits@10": {"mean": 0.5, "std": 0.0, "n": n},
            "mrr": {"mean": 0.25, "std": 0.0, "n": n}}
    return {"dataset": dataset, "ratio": ratio, "model": model, "variant": variant, "decoder": decoder,
            "iterative": iterative, "splits": list(range(n)), "modes": {"test": stat},
            "train_seconds": {"mean": 100.0, "std": 0.0, "n": n}, "weights_epochs": list(epochs[:n])}


def test_table2_rows_go_share_by_share_with_the_papers_h10_and_mrr(bench_script: Callable[[str], ModuleType]) -> None:
    st = bench_script("summarise_tables")
    summary = {"table": "table2", "mode": "test", "datasets": ["fb15k-db15k"], "entries": [
        entry("fb15k-db15k", 0.8, "mmea", "csls", [0.40, 0.42]),
        entry("fb15k-db15k", 0.2, "mmea", "csls", [0.10, 0.12, 0.14]),
        entry("fb15k-db15k", 0.2, "mmea", "sinkhorn", [0.20, 0.22, 0.24]),
    ]}
    lines = st.render([summary]).splitlines()
    assert lines[0].startswith("| dataset | share | model | splits | H@1 % CSLS | H@10 % CSLS |")
    assert lines[2] == ("| fb15k-db15k | 20% | MMEA | 3 | 12.00 ± 2.00 | 50.00 ± 0.00 | 0.250 ± 0.000 | 22.00 ± 2.00 "
                        "| 50 / 100 | 70.58 / 0.513 |")
    # no Sinkhorn block at 80 %: its cell says so instead of borrowing another share's figure
    assert lines[3] == ("| fb15k-db15k | 80% | MMEA | 2 | 41.00 ± 1.41 | 50.00 ± 0.00 | 0.250 ± 0.000 | – | 40 / 100 "
                        "| 89.11 / 0.749 |")
    assert len(lines) == 4


def test_iterative_rows_never_share_a_table_with_the_others(bench_script: Callable[[str], ModuleType]) -> None:
    st = bench_script("summarise_tables")
    summary = {"table": "table1", "mode": "test", "datasets": ["fb15k-db15k"], "entries": [
        entry("fb15k-db15k", 0.2, "transe", "csls", [0.05]),
        entry("fb15k-db15k", 0.2, "iptranse", "csls", [0.03], iterative=True),
        entry("fb15k-db15k", 0.2, "gaussian_fusion", "csls", [0.6], variant="point"),
    ]}
    text = st.render([summary])
    plain, iterative = text.split("Iterative")
    assert "TransE | 1 | 5.00 | 0.250 | – | 50 / 100 | 23.21 |" in plain and "IPTransE" not in plain
    assert "Gaussian fusion, point version | 1 | 60.00 | 0.250 | – | same run | – |" in plain
    assert "IPTransE † | 1 | 3.00 |" in iterative
