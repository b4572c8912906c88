"""bench/run_all.py keeps BENCHMARKS.md short: the summary table there, every measurement in the speed README."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
SUMMARY_HEADER = "| target | measured (median) | peer / reference | ratio | met | command | revision | load |"
DETAIL_HEADER = "| variant | median triples/s | all repeats | peak RSS MiB |"


def test_speed_block_holds_the_summary_and_the_readme_every_measurement(
        tmp_path: Path, bench_script: Callable[[str], ModuleType]) -> None:
    run_all = bench_script("run_all")
    doc, readme, notes = tmp_path / "BENCHMARKS.md", tmp_path / "README.md", tmp_path / "notes.md"
    doc.write_text(f"# before\n\n{run_all.BEGIN}\nstale table\n{run_all.END}\n\n## after\n", encoding="utf-8")
    notes.write_text("### What bounds the missed targets\n\nprofile of the CSLS pass\n", encoding="utf-8")

    run_all.write_table(doc, readme=readme, notes=notes)

    text, full = doc.read_text(encoding="utf-8"), readme.read_text(encoding="utf-8")
    assert text.startswith("# before\n") and text.endswith("## after\n") and "stale table" not in text
    assert SUMMARY_HEADER in text and "bench/results/speed/README.md" in text
    assert DETAIL_HEADER not in text and "profile of the CSLS pass" not in text
    assert SUMMARY_HEADER in full and DETAIL_HEADER in full and full.rstrip().endswith("profile of the CSLS pass")


def test_committed_speed_documents_are_what_the_generator_writes(bench_script: Callable[[str], ModuleType]) -> None:
    """Both documents quote the newest committed JSON: nothing in them is typed by hand (the notes aside)."""
    run_all = bench_script("run_all")
    reports = {name: run_all.latest(name) for name in run_all.BENCHES}
    text = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    block = text.split(run_all.BEGIN, 1)[1].split(run_all.END, 1)[0]
    assert block == "\n" + run_all.summary(reports)
    notes = run_all.NOTES.read_text(encoding="utf-8")
    assert run_all.SPEED_README.read_text(encoding="utf-8") == run_all.full_report(reports, notes)
