"""Checks between loading and training: refuse data no run can learn from, and say what loading dropped.

Lenient loading skips bad lines so that one stray byte does not cost a 400k-line file. The price is that a file
can lose *everything* and the run still go on: an empty link file trained every epoch before failing in the
evaluator, and an empty ``triples_2`` trained and reported H@1 0.0001 with exit status 0. Everything checked
here is known once the data is loaded and the split chosen, so :func:`check_before_training` stops a run within
seconds, before the model is built, with one :class:`DataError` line naming the file and the problem:

* a graph without entities, no usable link, an empty train or test split;
* a modality asked for (``model.modalities``) that one graph cannot feed: no relational triple for ``r``; for
  ``n`` / ``v`` a numerical / image-feature file that has content of which nothing could be used. A dataset
  that simply ships no numbers or pictures (DBP15K) is not an error: the model leaves the modality out, and
  :func:`data_notices` says so.

:func:`data_notices` gives the lines a run prints before training (on stderr, by the CLI): which given split
is used when the dataset chose it, how many input lines were skipped (with the ``gaussea stats`` command that
lists them), a folder that does not look like the named dataset, and modalities without data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gaussea.data.kgpair import KGPair, KGSide, Split
from gaussea.data.report import DataError, LoadReport

# What each modality needs from a graph, for messages: (KGSide.sources role, what it is called).
MODALITY_DATA = {"r": ("triples", "relational triples"), "n": ("numerical", "numerical values"),
                 "v": ("images", "image features")}


def check_before_training(pair: KGPair, split: Split, modalities: Sequence[str]) -> None:
    """Raise :class:`DataError` (one line, naming the file) when ``pair`` / ``split`` cannot train a model."""
    for side in pair.sides:
        if side.num_entities == 0:
            where = side.sources.get("entities", pair.name)
            raise DataError(f"{where}: graph {side.name} has no entities{_why_empty(pair.report, where)}")
    links_where = " + ".join(pair.link_sources) or pair.name
    if len(pair.links) == 0:
        raise DataError(f"{links_where}: no usable links{_why_no_links(pair.report, links_where)}")
    _check_split(split, links_where, len(pair.links))
    for side in pair.sides:
        for modality in modalities:
            _check_modality(pair.report, side, modality)


def _check_split(split: Split, links_where: str, num_links: int) -> None:
    # A split read from files names its file, even when split.json says it was drawn at random originally.
    drawn = split.description.get("kind") == "random" and not split.files
    for part, links in (("train", split.train), ("test", split.test)):
        if len(links):
            continue
        if drawn:
            raise DataError(f"{links_where}: {num_links:,} usable link(s) leave no {part} links at train ratio "
                            f"{split.description.get('ratio')}")
        where = split.files.get(part, links_where)
        raise DataError(f"{where}: the split has no {part} links")


def _check_modality(report: LoadReport, side: KGSide, modality: str) -> None:
    role, what = MODALITY_DATA[modality]
    if modal_count(side, modality):
        return
    where = side.sources.get(role)
    if modality == "r":
        raise DataError(f"{where or side.name}: graph {side.name} has no relational triples"
                        f"{_why_empty(report, where)}; modality r needs them")
    if where and _has_content(where):  # a file was there, and nothing of it survived
        why = _why_empty(report, where) or " (not numbers, or not of entities in the graph)"
        raise DataError(f"{where}: none of its {what} could be used for graph {side.name}{why}; modality "
                        f"{modality} needs them (leave it out with --modalities, or see gaussea stats)")


def modal_count(side: KGSide, modality: str) -> int:
    """How many facts of ``modality`` (``r`` / ``n`` / ``v``) graph ``side`` has."""
    if modality == "r":
        return len(side.triples)
    return len(side.numerical) if modality == "n" else len(side.images)


def _has_content(sources: str) -> bool:
    """Whether any of the ``", "``-joined files holds more than white space."""
    for name in sources.split(", "):
        path = Path(name)
        if path.is_file() and path.read_bytes().strip():
            return True
    return False


def _why_empty(report: LoadReport, where: str | None) -> str:
    """`` (the file is empty)`` / `` (all N lines skipped: see gaussea stats)`` / ``""`` for ``where``."""
    if not where:
        return ""
    files = where.split(" + ")
    if any(p.kind == "empty-file" and p.file in files for p in report.problems):
        return " (the file is empty)"
    skipped = sum(report.by_file[f] for f in files)
    return f" ({skipped:,} line(s) skipped: see gaussea stats)" if skipped else ""


def _why_no_links(report: LoadReport, where: str) -> str:
    notes = report.notes
    read = int(notes.get("links_lines", 0))
    if read == 0:
        return _why_empty(report, where) or " (no link lines)"
    missing = int(notes.get("links_dropped_missing_entity", 0))
    ambiguous = int(notes.get("links_dropped_one_to_many", 0))
    return (f" ({read:,} read: {missing:,} with an end that is not in its graph, {ambiguous:,} dropped as "
            f"one-to-many)")


def data_notices(pair: KGPair, split: Split, modalities: Sequence[str], *, dataset: str,
                 data_dir: str | None) -> list[str]:
    """The lines a run prints before training (see the module docstring); empty when there is nothing to say."""
    lines: list[str] = []
    warning = pair.meta.get("dataset_warning")
    if warning:
        lines.append(f"warning: {warning}")
    report = pair.report
    if report.total_problems:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(report.counts.items()))
        where = f" --data-dir {data_dir}" if data_dir else ""
        lines.append(f"warning: {report.total_problems:,} input line(s) skipped while loading ({kinds}); "
                     f"see gaussea stats {dataset}{where}")
    if split.description.get("used_by_default"):
        sizes = split.sizes()
        lines.append(f"split: {split.description.get('name')}, shipped with the dataset ({sizes['train']:,} train / "
                     f"{sizes['test']:,} test links), used by default; --given-split none draws a random split")
    absent = [m for m in modalities if not any(modal_count(side, m) for side in pair.sides)]
    if absent:
        what = " or ".join(MODALITY_DATA[m][1] for m in absent)
        lines.append(f"note: modality {', '.join(absent)} left out: no entity of {pair.name} has {what}")
    return lines
