"""Turning attribute literals into numbers: plain floats, typed RDF literals and calendar dates.

Numerical triples in the benchmarks come in several spellings of the same thing: ``6480.0``,
``"6480.0"^^<http://www.w3.org/2001/XMLSchema#double>``, ``"12"^^xsd:integer``, ``"2004-##-##"``
(YAGO/DBpedia year-only dates), ``-321-1-1`` (a date BC). :func:`parse_numeric` maps all of them to one float
so that a numerical modality sees one scale per attribute, and returns ``None`` for text that is not a number
(names, URIs, language-tagged strings) so that callers can count rather than crash.

Dates become a fractional year ``year + (month - 1) / 12 + (day - 1) / 365.25``, the convention FB15K's
numerical triples already use (``1948.75`` is October 1948). Unknown parts (``##``, or ``0`` as DBpedia writes
them) count as the start of the year / month.

YAGO15K writes dates as ``YYYY.MMDD`` floats (``1945.1213`` is 13 December 1945). Those are plain floats and
are kept as they are, on purpose: for years AD they are strictly monotone in time (``1945.1231 < 1946.0101``)
and always lie within 0.1231 of the start of their year, so ordering and year-level distances, which is what a
numerical embedding can use, are preserved. They are *not* within 0.13 of the fractional year (13 December
1945 is 1945.95 as a fractional year, 0.83 away), and for years BC the month/day part runs the wrong way;
rewriting them would mean guessing, per attribute, which floats are dates, which this parser cannot know.

Non-finite results (``nan``, ``inf``, ``1e999``) are returned as such; callers report them with
:func:`check_finite` as problem kind ``"non-finite"``. Huge finite values (``1e300``) are ordinary numbers.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from gaussea.data.report import LoadReport

DAYS_PER_YEAR = 365.25
UNKNOWN = "##"

# year-month-day with optional unknown parts, optional time and timezone (xsd:date / xsd:dateTime); the year
# is bounded so that int() never meets Python's 4300-digit conversion limit;
# or a gYearMonth with a 4-digit year ("2004-05"), the only unambiguous shorter form.
_DATE = re.compile(
    r"(?P<year>-?[0-9]{1,9})-(?P<month>[0-9]{1,2}|##)-(?P<day>[0-9]{1,2}|##)"
    r"(?:T[0-9:.]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?",
    re.ASCII,
)
_YEAR_MONTH = re.compile(r"(?P<year>-?[0-9]{4})-(?P<month>[0-9]{2}|##)", re.ASCII)


def _lexical(text: str) -> str:
    """The lexical form of a literal: type suffix (``^^...``) and surrounding double quotes removed."""
    s = text.strip()
    if "^^" in s:
        s = s.partition("^^")[0].strip()
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        s = s[1:-1].strip()
    return s


def _date_part(token: str | None, limit: int) -> int | None:
    """Month or day as a 0-based offset (unknown -> 0); None when out of range (not a date)."""
    if token is None or token == UNKNOWN:
        return 0
    value = int(token)
    if value > limit:
        return None
    return max(value - 1, 0)


def parse_date(text: str) -> float | None:
    """A ``YYYY-MM-DD``-style date (unknown parts allowed) as a fractional year, else None."""
    m = _DATE.fullmatch(text) or _YEAR_MONTH.fullmatch(text)
    if m is None:
        return None
    groups = m.groupdict()
    month = _date_part(groups.get("month"), 12)
    day = _date_part(groups.get("day"), 31)
    if month is None or day is None:
        return None
    return int(groups["year"]) + month / 12 + day / DAYS_PER_YEAR


def parse_numeric(text: str) -> float | None:
    """The number a literal denotes, or None when it is not numeric. See the module docstring for forms.

    Only ASCII is accepted: Python's ``float`` would also read ``"١٢"`` or ``"1_000"``, which in a data file
    are more likely damage than numbers.
    """
    s = _lexical(text)
    if not s or not s.isascii() or "_" in s:
        return None
    try:
        return float(s)
    except ValueError:
        pass
    return parse_date(s)


def is_finite(value: float) -> bool:
    return math.isfinite(value)


def check_finite(value: float, path: str | Path, lineno: int, report: LoadReport) -> bool:
    """True when ``value`` is finite; otherwise report a ``"non-finite"`` problem (the line is skipped)."""
    if math.isfinite(value):
        return True
    report.problem(path, lineno, "non-finite", f"value {value!r} is not a finite number")
    return False
