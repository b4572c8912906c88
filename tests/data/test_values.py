"""parse_numeric: the literal spellings found in the benchmarks, dates, and what must not parse."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.data.report import DataError, LoadReport
from gaussea.data.values import check_finite, parse_date, parse_numeric

XSD = "http://www.w3.org/2001/XMLSchema#"


def frac_year(y: int, m: int = 1, d: int = 1) -> float:
    return y + (m - 1) / 12 + (d - 1) / 365.25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6480.0", 6480.0),
        ("12", 12.0),
        ("-3.5e2", -350.0),
        ("  7 ", 7.0),
        ("-73.99377777777778", -73.99377777777778),
        ('"42"', 42.0),
        (f'"6480.0"^^<{XSD}double>', 6480.0),
        ('"6480.0"^^<xsd:double>', 6480.0),
        ('"12"^^xsd:integer', 12.0),
        ("1e300", 1e300),
        ("1945.1213", 1945.1213),  # YAGO YYYY.MMDD kept as is
        ("1861.0000", 1861.0),
    ],
)
def test_plain_and_typed_numbers(text: str, expected: float) -> None:
    assert parse_numeric(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"2004-##-##"', 2004.0),
        ("2004-05-12", frac_year(2004, 5, 12)),
        ('"2004-05-##"', frac_year(2004, 5)),
        (f'"1961-08-04"^^<{XSD}date>', frac_year(1961, 8, 4)),
        ('"2004-05-12T10:30:00Z"^^xsd:dateTime', frac_year(2004, 5, 12)),
        ("2004-05-12+02:00", frac_year(2004, 5, 12)),
        ("2004-05", frac_year(2004, 5)),
        ("-321-1-1", -321.0),  # DBpedia's dates BC
        ("-63-0-0", -63.0),  # 0 = unknown month/day
        ("-44-3-15", frac_year(-44, 3, 15)),
    ],
)
def test_dates_become_fractional_years(text: str, expected: float) -> None:
    assert parse_numeric(text) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "text",
    ["", "abc", '"hello"@en', '"abc"^^xsd:string', "1,000", "1_000", "١٢", "1.2.3", "<http://x/1>", '""',
     "2004-13-01", "2004-05-32", "12-3", "0x10", "--5", "2004-05-12 garbage", "9" * 5000 + "-01-01"],
)
def test_non_numeric_is_none(text: str) -> None:
    assert parse_numeric(text) is None


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999", '"nan"^^xsd:double'])
def test_non_finite_parses_and_is_reported(text: str) -> None:
    value = parse_numeric(text)
    assert value is not None and not math.isfinite(value)
    report = LoadReport()
    assert check_finite(value, "f.txt", 7, report) is False
    assert report.counts["non-finite"] == 1 and str(report.problems[0]).startswith("f.txt:7: non-finite")
    with pytest.raises(DataError, match="f.txt:7"):
        check_finite(value, "f.txt", 7, LoadReport(strict=True))


def test_huge_finite_is_a_number() -> None:
    report = LoadReport()
    assert check_finite(parse_numeric("-1e300"), "f", 1, report) and report.total_problems == 0


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_round_trip(x: float) -> None:
    for text in (repr(x), f'"{x!r}"', f'"{x!r}"^^<{XSD}double>', f'"{x!r}"^^xsd:double'):
        assert parse_numeric(text) == x


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**12))
def test_int_round_trip(n: int) -> None:
    assert parse_numeric(str(n)) == float(n)
    assert parse_numeric(f'"{n}"^^xsd:integer') == float(n)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_never_raises(text: str) -> None:
    value = parse_numeric(text)
    assert value is None or isinstance(value, float)


dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))


@settings(max_examples=200, deadline=None)
@given(dates, dates)
def test_dates_are_strictly_monotone(a: date, b: date) -> None:
    fa, fb = parse_date(a.isoformat()), parse_date(b.isoformat())
    assert fa == pytest.approx(frac_year(a.year, a.month, a.day))
    assert (fa < fb) == (a < b) and (fa == fb) == (a == b)
    # unknown parts sort at the start of their year / month
    assert parse_numeric(f'"{a.year:04d}-##-##"') <= fa
    assert parse_numeric(f'"{a.year:04d}-{a.month:02d}-##"') <= fa


@settings(max_examples=200, deadline=None)
@given(dates, dates)
def test_yago_yyyymmdd_kept_monotone_and_near_year(a: date, b: date) -> None:
    """The documented reason YAGO's YYYY.MMDD floats need no conversion (years AD)."""
    ya, yb = (parse_numeric(f"{d.year}.{d.month:02d}{d.day:02d}") for d in (a, b))
    assert (ya < yb) == (a < b)
    assert 0 <= ya - a.year < 0.13
