"""Reading line-based data files robustly: 1-based line numbers, every bad line reported, never a traceback.

Benchmark files come from many hands (Windows line endings, a BOM from an editor, a stray Latin-1 byte in a
URI). One bad byte must not kill a 400k-line file, so decoding is done per line when the file as a whole is
not valid UTF-8: the offending line is reported (kind ``"encoding"``) and skipped, the rest is read.

Line numbers count physical lines (blank ones included), so ``file:line`` in a report points at the line an
editor shows. Blank lines are ignored silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gaussea.data.report import DataError, LoadReport

BOM = b"\xef\xbb\xbf"
MAX_ID_DIGITS = 18  # fits int64; also keeps int() far from Python's 4300-digit conversion limit
TRIPLE_END = "."


def read_bytes(path: Path) -> bytes:
    """The raw bytes of ``path``; a missing or unreadable file is a :class:`DataError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _decoded_lines(
    data: bytes, path: Path, report: LoadReport, keep_bad: bool
) -> Iterator[tuple[int, str | None]]:
    """Decode ``data`` into ``(line number, text)``; undecodable lines are reported (and yielded as ``None``
    when ``keep_bad``, so row-aligned files such as id lists keep their alignment)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:  # fast path: the whole file is valid UTF-8
        for lineno, line in enumerate(text.split("\n"), start=1):
            yield lineno, line
        return
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.problem(path, lineno, "encoding", f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
            if keep_bad:
                yield lineno, None


def iter_lines(
    path: str | Path, report: LoadReport, *, optional: bool = False, keep_bad: bool = False
) -> Iterator[tuple[int, str | None]]:
    """Yield ``(line number, line)`` for every non-blank line of ``path`` (BOM and ``\\r`` removed).

    A missing file raises :class:`DataError` unless ``optional`` (then nothing is yielded). An empty file is a
    problem of kind ``"empty-file"`` for required files and only a note for optional ones (OpenEA ships empty
    attribute files on purpose). With ``keep_bad`` undecodable lines are yielded as ``None`` after being
    reported; otherwise they are skipped.
    """
    path = Path(path)
    if optional and not path.exists():
        return
    data = read_bytes(path)
    if data.startswith(BOM):
        data = data[len(BOM):]
    if not data or data.isspace():
        if optional:
            report.note(f"empty_optional_file:{path.name}", 1)
        else:
            report.problem(path, 0, "empty-file", "file is empty")
        return
    for lineno, line in _decoded_lines(data, path, report, keep_bad):
        if line is None:
            yield lineno, None
            continue
        if line.endswith("\r"):
            line = line[:-1]
        if line.strip():
            yield lineno, line


def split_tab(line: str, ncols: int, path: Path, lineno: int, report: LoadReport) -> list[str] | None:
    """Split a tab-separated line into exactly ``ncols`` stripped non-empty fields, or report and return None.

    Surrounding spaces of a field are dropped (a trailing blank before the newline is not part of a name);
    inner spaces are kept (``New York``).
    """
    fields = line.split("\t")
    if len(fields) != ncols:
        report.problem(path, lineno, "columns", f"expected {ncols} tab-separated columns, got {len(fields)}")
        return None
    return _non_empty([f.strip() for f in fields], path, lineno, report)


def split_words(line: str, ncols: int, path: Path, lineno: int, report: LoadReport) -> list[str] | None:
    """Split an N-Triples-like line (``head rel tail .``) on whitespace, dropping one trailing ``.`` token.

    MMKG's entity names never contain whitespace (URIs are ``<...>`` tokens, Freebase ids ``/m/...``), so a
    whitespace split is exact there and much faster than a regex.
    """
    fields = line.split()
    if fields and fields[-1] == TRIPLE_END:
        fields.pop()
    if len(fields) != ncols:
        report.problem(path, lineno, "columns", f"expected {ncols} space-separated terms, got {len(fields)}")
        return None
    return fields


def _non_empty(fields: list[str], path: Path, lineno: int, report: LoadReport) -> list[str] | None:
    for i, field in enumerate(fields, start=1):
        if not field:
            report.problem(path, lineno, "empty-field", f"column {i} is empty")
            return None
    return fields


def iter_rows(
    path: str | Path, ncols: int, report: LoadReport, *, words: bool = False, optional: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` for the well-formed lines of a tab (or, with ``words``, whitespace)
    separated file; malformed lines are reported and skipped."""
    path = Path(path)
    for lineno, line in iter_lines(path, report, optional=optional):
        assert line is not None  # keep_bad is off
        if words:
            fields = split_words(line, ncols, path, lineno, report)
        else:
            fields = split_tab(line, ncols, path, lineno, report)
        if fields is not None:
            yield lineno, fields


def parse_id(token: str, path: Path, lineno: int, report: LoadReport) -> int | None:
    """A non-negative ASCII integer id, or report ``"bad-id"`` and return None.

    ``int()`` alone would also accept ``"+5"``, ``"1_0"`` or Arabic-Indic digits; ids in these files are plain
    digits, and anything else is more likely a shifted column than a real id.
    """
    if token.isascii() and token.isdigit() and len(token) <= MAX_ID_DIGITS:
        return int(token)
    report.problem(path, lineno, "bad-id", f"{token[:60]!r} is not a non-negative integer id")
    return None
