"""Print the Markdown tables of BENCHMARKS.md's model-quality section from bench/results/model/*/*.json.

The figures in BENCHMARKS.md are pasted from this script's output, never typed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from gaussea.metrics_layout import split_results

RESULTS = Path(__file__).parent / "results" / "model"


def fmt(m: dict) -> str:
    return (f"{100 * m['hits@1']:.2f} | {100 * m['hits@5']:.2f} | {100 * m['hits@10']:.2f} | {m['mr']:.1f} | "
            f"{m['mrr']:.3f}")


def main() -> int:
    print("| experiment | variant | candidates | H@1 | H@5 | H@10 | MR | MRR | epochs | train s | peak RSS MiB | "
          "revision |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    variance_rows = []
    for path in sorted(RESULTS.glob("*/*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        m = rec["metrics"]
        for mode, metrics in split_results(m).items():
            print(f"| {rec['experiment']} | {rec['variant']} | {mode} ({metrics['num_queries']} x "
                  f"{metrics['num_candidates']}) | {fmt(metrics)} | {m['epochs_completed']} | "
                  f"{m['train_seconds']:.0f} | {rec['peak_rss_mib']:.0f} | {rec['revision'][:12]} |")
        for space, v in (m.get("variance_by_corruption") or {}).items():
            variance_rows.append(
                f"| {rec['experiment']} | {rec['variant']} | {space} | {v['corrupted_mean']:.3f} | "
                f"{v['clean_mean']:.3f} | {v['ratio_of_means']:.3f} | {v['num_corrupted']} / {v['num_clean']} |")
    if variance_rows:
        print()
        print("| experiment | variant | space | mean variance, corrupted | mean variance, clean | ratio | "
              "n corrupted / clean |")
        print("|---|---|---|---|---|---|---|")
        print("\n".join(variance_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
