"""Load reports: every problem found in an input file, with file and line, counted by kind.

Loaders never raise deep tracebacks for bad input. They call :meth:`LoadReport.problem` for every malformed
line; in lenient mode (the default) the line is skipped and counted, in strict mode the first problem raises a
:class:`DataError` naming the file, the line and what is wrong. Either way the user learns exactly what was
dropped, which matters because a silently smaller dataset gives silently different benchmark figures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gaussea.errors import DataError  # noqa: F401 - raised here, re-exported


@dataclass(frozen=True)
class Problem:
    """One problem in one input line (``line`` is 1-based; 0 means the file as a whole)."""

    file: str
    line: int
    kind: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.kind}: {self.message}"


@dataclass
class LoadReport:
    """Collects problems and notable counts while a dataset is loaded.

    ``strict`` turns the first problem into a :class:`DataError`. ``max_examples`` bounds how many problems
    are kept verbatim per kind (all are counted), so a file with a million bad lines does not eat memory.
    ``by_file`` counts the problems of each file, so a check can say why a file yielded nothing and a run can
    say how many lines it lost without listing them.
    """

    strict: bool = False
    max_examples: int = 20
    problems: list[Problem] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    notes: dict[str, int | str] = field(default_factory=dict)
    by_file: Counter = field(default_factory=Counter)

    def problem(self, file: str | Path, line: int, kind: str, message: str) -> None:
        """Record a problem; raise at once in strict mode."""
        p = Problem(str(file), int(line), kind, message)
        if self.strict:
            raise DataError(f"{p} (strict mode; drop --strict to skip and count such lines)")
        self.counts[kind] += 1
        self.by_file[p.file] += 1
        if self.counts[kind] <= self.max_examples:
            self.problems.append(p)

    def note(self, key: str, value: int | str) -> None:
        """Record a count or fact that is not a problem (e.g. how many links were kept)."""
        self.notes[key] = value

    @property
    def total_problems(self) -> int:
        return sum(self.counts.values())

    def summary(self, notes: bool = True) -> str:
        """A short human-readable account: counts per kind plus the first few examples, then (``notes``) the
        notes, for a caller that has not printed them already."""
        lines = []
        for kind, n in sorted(self.counts.items()):
            lines.append(f"  {kind}: {n} line(s) skipped")
            for p in [q for q in self.problems if q.kind == kind][:3]:
                lines.append(f"    e.g. {p}")
        for key, value in (self.notes if notes else {}).items():
            lines.append(f"  {key}: {value}")
        return "\n".join(lines) if lines else "  no problems"

    def to_dict(self) -> dict:
        return {
            "strict": self.strict,
            "counts": dict(self.counts),
            "problems_by_file": dict(self.by_file),
            "examples": [str(p) for p in self.problems],
            "notes": dict(self.notes),
        }
