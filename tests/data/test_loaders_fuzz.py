"""Loaders under hostile input: property tests with garbage mixed into valid files, plus small exact cases.

The property tests build every file from a list of lines whose fate is known in advance (well-formed, or bad
with a known problem kind), add BOMs, CRLF endings, blank lines and empty files, and check that a lenient load
keeps *exactly* the well-formed lines (not silently fewer, not silently different) and counts every bad one,
and that a strict load stops at the first bad line with ``file:line`` in the message.
"""

from __future__ import annotations

import math
import pickle
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.data.dbp15k import load_dbp15k
from gaussea.data.features import load_image_features, merge_image_features
from gaussea.data.kgpair import KGPair, KGSide, Vocab
from gaussea.data.mmkg import load_mmkg_pair
from gaussea.data.openea import load_openea
from gaussea.data.report import DataError, LoadReport
from gaussea.data.textio import iter_lines, iter_rows

FUZZ = settings(max_examples=40, deadline=None)
BOM = b"\xef\xbb\xbf"
XSD_DOUBLE = "^^<http://www.w3.org/2001/XMLSchema#double>"

# ================================================================================== line and file builders


@dataclass(frozen=True)
class Line:
    """One input line and its known fate: ``fields`` when well-formed, ``kind`` (problem) when not.

    ``value`` is the number a value column denotes (None: not numeric); only numeric files use it.
    """

    raw: bytes
    fields: tuple[str, ...] | None = None
    kind: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class FileSpec:
    lines: tuple[Line, ...]
    bom: bool
    crlf: tuple[bool, ...]
    blanks: tuple[int, ...]
    final_newline: bool
    empty_form: bytes

    def render(self) -> tuple[bytes, list[int]]:
        """The file's bytes and the physical (1-based) line number of each :class:`Line`."""
        rows: list[bytes] = []
        numbers: list[int] = []
        for line, nblank in zip(self.lines, self.blanks, strict=True):
            rows.extend([b" "] * nblank)
            rows.append(line.raw)
            numbers.append(len(rows))
        if not rows:
            return self.empty_form, []
        terms = [b"\r\n" if self.crlf[i % len(self.crlf)] else b"\n" for i in range(len(rows))]
        if not self.final_newline:
            terms[-1] = b""
        body = b"".join(r + t for r, t in zip(rows, terms, strict=True))
        return (BOM + body if self.bom else body), numbers


@st.composite
def files(draw: st.DrawFn, line: st.SearchStrategy[Line], max_lines: int = 10) -> FileSpec:
    lines = tuple(draw(st.lists(line, max_size=max_lines)))
    n = len(lines)
    return FileSpec(
        lines=lines,
        bom=draw(st.booleans()),
        crlf=tuple(draw(st.lists(st.booleans(), min_size=1, max_size=3))),
        blanks=tuple(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))),
        final_newline=draw(st.booleans()),
        empty_form=draw(st.sampled_from([b"", BOM, b"\n \r\n"])),
    )


def write(path: Path, spec: FileSpec) -> list[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    data, numbers = spec.render()
    path.write_bytes(data)
    return numbers


def enc(text: str) -> bytes:
    return text.encode("utf-8")


# ---------------------------------------------------------------------------------------- tab-separated
def tab_good(cols: list[st.SearchStrategy[str]]) -> st.SearchStrategy[Line]:
    pad = st.sampled_from(["", " "])

    @st.composite
    def build(draw: st.DrawFn) -> Line:
        fields = tuple(draw(c) for c in cols)
        text = "\t".join(draw(pad) + f + draw(pad) for f in fields)
        return Line(enc(text), fields=fields)

    return build()


def encoding_bad(good: st.SearchStrategy[Line]) -> st.SearchStrategy[Line]:
    """A good line with an invalid UTF-8 byte, or random bytes after one."""
    damaged = good.flatmap(
        lambda g: st.integers(0, len(g.raw)).map(
            lambda i: Line(g.raw[:i] + b"\xff" + g.raw[i:], kind="encoding")
        )
    )
    noise = st.binary(max_size=24).map(lambda b: Line(b"\xfe" + b.replace(b"\n", b""), kind="encoding"))
    return st.one_of(damaged, noise)


def _truncate(g: Line, sep: str, p: st.DrawFn) -> Line:
    """Cut a good line before its last separator, so that it has too few columns (but is not blank)."""
    text = g.raw.decode("utf-8")
    start = len(text) - len(text.lstrip())
    last = text.rfind("\t") if sep == "\t" else text.rfind(g.fields[-1])  # where the last column starts
    cut = p(st.integers(start + 1, max(start + 1, last)))
    return Line(enc(text[:cut]), kind="columns")


def tab_bad(cols: list[st.SearchStrategy[str]]) -> st.SearchStrategy[Line]:
    n = len(cols)
    name = st.one_of(*cols)
    columns = (
        st.integers(1, n + 2)
        .filter(lambda k: k != n)
        .flatmap(lambda k: st.lists(name, min_size=k, max_size=k))
        .map(lambda fs: Line(enc("\t".join(fs)), kind="columns"))
    )
    empty = st.tuples(st.tuples(*cols), st.integers(0, n - 1), st.sampled_from(["", " "])).map(
        lambda a: Line(enc("\t".join(a[0][: a[1]] + (a[2],) + a[0][a[1] + 1 :])), kind="empty-field")
    )

    @st.composite
    def truncated(draw: st.DrawFn) -> Line:
        return _truncate(draw(tab_good(cols)), "\t", draw)

    return st.one_of(columns, empty, truncated(), encoding_bad(tab_good(cols)))


# ------------------------------------------------------------------------------------ whitespace (MMKG)
SEPS = st.sampled_from([" ", "\t", "  "])


def word_good(cols: list[st.SearchStrategy[str]]) -> st.SearchStrategy[Line]:
    @st.composite
    def build(draw: st.DrawFn) -> Line:
        fields = tuple(draw(c) for c in cols)
        text = draw(st.sampled_from(["", " "])) + "".join(f + draw(SEPS) for f in fields)
        text = text + "." if draw(st.booleans()) else text.rstrip()
        return Line(enc(text), fields=fields)

    return build()


def word_bad(cols: list[st.SearchStrategy[str]]) -> st.SearchStrategy[Line]:
    n = len(cols)
    name = st.one_of(*cols)
    counts = st.integers(1, n + 2).filter(lambda k: k != n)
    columns = st.tuples(
        counts.flatmap(lambda k: st.lists(name, min_size=k, max_size=k)),
        st.booleans(),
    ).map(lambda a: Line(enc(" ".join(a[0]) + (" ." if a[1] else "")), kind="columns"))

    @st.composite
    def truncated(draw: st.DrawFn) -> Line:
        return _truncate(draw(word_good(cols)), " ", draw)

    return st.one_of(columns, truncated(), encoding_bad(word_good(cols)))


# ------------------------------------------------------------------------------------------ value pools
WORD_NAMES = ["e0", "e1", "/m/0ab_c", "<http://dbpedia.org/resource/A_(b)>", "中文", "naïve", "x#y.z"]
TAB_NAMES = [*WORD_NAMES, "New York", "a  b"]
RELS = ["r0", "<http://x/rel>", "/film/actor"]
ATTRS = ["a0", "<http://x/attr>"]
NAN, INF = float("nan"), float("inf")
finite = st.floats(allow_nan=False, allow_infinity=False)
VALUES = st.one_of(
    finite.map(lambda x: (repr(x), x)),
    finite.map(lambda x: (f'"{x!r}"{XSD_DOUBLE}', x)),
    st.sampled_from(
        [("1e300", 1e300), ('"2004-##-##"', 2004.0), ("2004-05-12", 2004 + 4 / 12 + 11 / 365.25),
         ("-321-1-1", -321.0), ("1945.1213", 1945.1213), ('"12"^^xsd:integer', 12.0)]
    ),
    st.sampled_from([("nan", NAN), ("inf", INF), ("-1e999", -INF), ('"NaN"^^xsd:double', NAN)]),
    st.sampled_from([("abc", None), ('"hello"@en', None), ("<http://x/v>", None), ("12 apples", None)]),
)


def numeric_good(entities: list[str]) -> st.SearchStrategy[Line]:
    return st.tuples(st.sampled_from(entities), st.sampled_from(ATTRS), VALUES).map(
        lambda a: Line(enc(f"{a[0]}\t{a[1]}\t{a[2][0]}"), fields=(a[0], a[1], a[2][0]), value=a[2][1])
    )


def numeric_lines(entities: list[str]) -> st.SearchStrategy[Line]:
    cols = [st.sampled_from(entities), st.sampled_from(ATTRS), VALUES.map(lambda v: v[0])]
    return st.one_of(numeric_good(entities), numeric_good(entities), tab_bad(cols))


# =============================================================================================== oracles


class Expect:
    """What a load must produce: problems in read order, and notes the loader must have counted."""

    def __init__(self) -> None:
        self._problems: list[tuple[Path, int, str]] = []
        self._order: dict[Path, int] = {}  # files in the order the loader reads them

    def problem(self, path: Path, lineno: int, kind: str) -> None:
        self._order.setdefault(path, len(self._order))
        self._problems.append((path, lineno, kind))

    @property
    def problems(self) -> list[tuple[Path, int, str]]:
        """In read order: by file, then by line (syntax and meaning are checked line by line)."""
        return sorted(self._problems, key=lambda p: (self._order[p[0]], p[1]))

    def syntax(self, path: Path, spec: FileSpec, numbers: list[int], *, optional: bool = False) -> list:
        """Report syntactic problems; return ``(lineno, line)`` of the well-formed lines."""
        self._order.setdefault(path, len(self._order))
        if not spec.lines and not optional:
            self.problem(path, 0, "empty-file")
        good = []
        for line, no in zip(spec.lines, numbers, strict=True):
            if line.kind is not None:
                self.problem(path, no, line.kind)
            else:
                good.append((no, line))
        return good

    def check_lenient(self, pair: KGPair) -> None:
        pair.validate()
        assert pair.report.counts == Counter(k for _, _, k in self.problems)

    def check_strict(self, load: Callable[[], KGPair]) -> None:
        if not self.problems:
            load().validate()
            return
        path, lineno, kind = self.problems[0]
        with pytest.raises(DataError) as info:
            load()
        where = f"{path}:{lineno}: {kind}" if lineno else f"{path}: {kind}"
        assert where in str(info.value)


def expected_links(pairs: list[tuple], left: dict, right: dict) -> tuple[list[tuple], dict[str, int]]:
    """The documented link policy, restated plainly: dedupe, drop missing ends, drop one-to-many."""
    unique = list(dict.fromkeys(pairs))
    present = [(a, b) for a, b in unique if a in left and b in right]
    ca, cb = Counter(a for a, _ in present), Counter(b for _, b in present)
    kept = [(left[a], right[b]) for a, b in present if ca[a] == 1 and cb[b] == 1]
    notes = {
        "links_lines": len(pairs),
        "links_duplicate_lines": len(pairs) - len(unique),
        "links_dropped_missing_entity": len(unique) - len(present),
        "links_dropped_one_to_many": len(present) - len(kept),
        "links_kept": len(kept),
    }
    return kept, notes


def link_names(pair: KGPair) -> list[tuple[str, str]]:
    return [(pair.left.entities.name(a), pair.right.entities.name(b)) for a, b in pair.links.tolist()]


def triple_names(side: KGSide) -> list[tuple[str, str, str]]:
    e, r = side.entities.name, side.relations.name
    return [(e(h), r(p), e(t)) for h, p, t in side.triples.tolist()]


def numeric_names(side: KGSide) -> list[tuple[str, str, float]]:
    num = side.numerical
    return [
        (side.entities.name(e), side.attributes.name(a), v)
        for e, a, v in zip(num.entity.tolist(), num.attribute.tolist(), num.value.tolist(), strict=True)
    ]


def expect_relational(exp: Expect, path: Path, spec: FileSpec, numbers: list[int]) -> tuple[list, list]:
    entities: dict[str, None] = {}
    triples = []
    for _, line in exp.syntax(path, spec, numbers):
        h, r, t = line.fields
        entities.setdefault(h)
        entities.setdefault(t)
        triples.append((h, r, t))
    return list(entities), triples


def expect_numeric(
    exp: Expect, path: Path, spec: FileSpec | None, numbers: list[int], entities: list[str], *, mmkg: bool
) -> tuple[list, int, int]:
    """Expected kept numerical triples, non-numeric count (OpenEA) and out-of-graph count."""
    if spec is None:
        return [], 0, 0
    kept, non_numeric, outside = [], 0, 0
    for no, line in exp.syntax(path, spec, numbers, optional=True):
        e, a, _ = line.fields
        if line.value is None:
            if mmkg:
                exp.problem(path, no, "not-numeric")
            else:
                non_numeric += 1
        elif not math.isfinite(line.value):
            exp.problem(path, no, "non-finite")
        elif e not in entities:
            outside += 1
        else:
            kept.append((e, a, line.value))
    return kept, non_numeric, outside


# ================================================================================================= MMKG

MMKG_TRIPLES = [st.sampled_from(WORD_NAMES[:5]), st.sampled_from(RELS), st.sampled_from(WORD_NAMES[:5])]
MMKG_TRIPLE_LINES = st.one_of(word_good(MMKG_TRIPLES), word_good(MMKG_TRIPLES), word_bad(MMKG_TRIPLES))
SAMEAS = [st.sampled_from(WORD_NAMES), st.just("<SameAs>"), st.sampled_from(WORD_NAMES)]
SAMEAS_LINES = st.one_of(
    word_good(SAMEAS),
    word_good(SAMEAS),
    word_bad(SAMEAS),
    st.tuples(st.sampled_from(WORD_NAMES), st.sampled_from(WORD_NAMES)).map(
        lambda a: Line(enc(f"{a[0]} <knows> {a[1]} ."), kind="predicate")
    ),
)
OPTIONAL_NUMERIC = st.one_of(st.none(), files(numeric_lines(WORD_NAMES)))


@FUZZ
@given(
    ft=files(MMKG_TRIPLE_LINES), fn=OPTIONAL_NUMERIC,
    dt=files(MMKG_TRIPLE_LINES), dn=OPTIONAL_NUMERIC, links=files(SAMEAS_LINES),
)
def test_mmkg_fuzz(
    ft: FileSpec, fn: FileSpec | None, dt: FileSpec, dn: FileSpec | None, links: FileSpec
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        exp = Expect()
        sides = []
        for kg, tspec, nspec in (("FB", ft, fn), ("DB", dt, dn)):
            tpath, npath = root / kg / f"{kg}_EntityTriples.txt", root / kg / f"{kg}_NumericalTriples.txt"
            ents, triples = expect_relational(exp, tpath, tspec, write(tpath, tspec))
            nums = write(npath, nspec) if nspec is not None else []
            kept, _, outside = expect_numeric(exp, npath, nspec, nums, ents, mmkg=True)
            sides.append((ents, triples, kept, outside))
        lpath = root / "DB" / "DB_SameAsLink.txt"
        good = exp.syntax(lpath, links, write(lpath, links))
        pairs = [(line.fields[0], line.fields[2]) for _, line in good]
        left = {n: n for n in sides[0][0]}
        right = {n: n for n in sides[1][0]}
        want_links, notes = expected_links(pairs, left, right)

        def load(strict: bool = False) -> KGPair:
            return load_mmkg_pair(root, strict=strict, left="FB", right="DB")

        pair = load()
        exp.check_lenient(pair)
        for side, (ents, triples, kept, outside) in zip(pair.sides, sides, strict=True):
            assert side.entities.names == ents
            assert triple_names(side) == triples
            assert numeric_names(side) == kept
            key = f"numerical_dropped_entity_not_in_graph:{side.name}_NumericalTriples.txt"
            assert pair.report.notes.get(key, 0) == outside
        assert link_names(pair) == want_links
        assert {k: pair.report.notes[k] for k in notes} == notes
        exp.check_strict(lambda: load(strict=True))


# ================================================================================================ OpenEA

OEA_TRIPLES = [st.sampled_from(TAB_NAMES[:6]), st.sampled_from(RELS), st.sampled_from(TAB_NAMES[:6])]
OEA_TRIPLE_LINES = st.one_of(tab_good(OEA_TRIPLES), tab_good(OEA_TRIPLES), tab_bad(OEA_TRIPLES))
OEA_LINK_COLS = [st.sampled_from(TAB_NAMES), st.sampled_from(TAB_NAMES)]
OEA_LINK_LINES = st.one_of(tab_good(OEA_LINK_COLS), tab_good(OEA_LINK_COLS), tab_bad(OEA_LINK_COLS))
OPTIONAL_ATTRS = st.one_of(st.none(), files(numeric_lines(TAB_NAMES)))


@FUZZ
@given(
    r1=files(OEA_TRIPLE_LINES), a1=OPTIONAL_ATTRS,
    r2=files(OEA_TRIPLE_LINES), a2=OPTIONAL_ATTRS, links=files(OEA_LINK_LINES),
)
def test_openea_fuzz(
    r1: FileSpec, a1: FileSpec | None, r2: FileSpec, a2: FileSpec | None, links: FileSpec
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        exp = Expect()
        sides, non_numeric = [], 0
        for k, tspec, aspec in ((1, r1, a1), (2, r2, a2)):
            tpath, apath = root / f"rel_triples_{k}", root / f"attr_triples_{k}"
            ents, triples = expect_relational(exp, tpath, tspec, write(tpath, tspec))
            nums = write(apath, aspec) if aspec is not None else []
            kept, nn, outside = expect_numeric(exp, apath, aspec, nums, ents, mmkg=False)
            non_numeric += nn
            sides.append((ents, triples, kept, outside))
        lpath = root / "ent_links"
        pairs = [line.fields for _, line in exp.syntax(lpath, links, write(lpath, links))]
        want_links, notes = expected_links(pairs, {n: n for n in sides[0][0]}, {n: n for n in sides[1][0]})

        pair = load_openea(root)
        exp.check_lenient(pair)
        for side, (ents, triples, kept, outside) in zip(pair.sides, sides, strict=True):
            assert side.entities.names == ents
            assert triple_names(side) == triples
            assert numeric_names(side) == kept
            key = f"numerical_dropped_entity_not_in_graph:attr_triples_{side.name[-1]}"
            assert pair.report.notes.get(key, 0) == outside
        assert pair.report.notes.get("non_numeric_values_skipped", 0) == non_numeric
        assert link_names(pair) == want_links
        assert {k: pair.report.notes[k] for k in notes} == notes
        assert pair.given_splits == {}
        exp.check_strict(lambda: load_openea(root, strict=True))


# =============================================================================================== DBP15K

BAD_IDS = st.sampled_from(["x1", "-1", "+3", "1.0", "٣", "1_0", "1e3"])
URIS = ["http://zh.dbpedia.org/resource/中", "http://x/a", "http://x/b", "http://x/New York", "u1", "u2"]


def id_lines(cols: list[st.SearchStrategy[str]], id_cols: int | None = None) -> st.SearchStrategy[Line]:
    """Good-syntax id lines, malformed lines, and lines with a non-integer id (``bad-id``) in one of the
    first ``id_cols`` columns (default: all columns are ids)."""
    n = id_cols or len(cols)
    bad_id = st.tuples(tab_good(cols), st.integers(0, n - 1), BAD_IDS).map(
        lambda a: Line(enc("\t".join(a[0].fields[: a[1]] + (a[2],) + a[0].fields[a[1] + 1 :])), kind="bad-id")
    )
    return st.one_of(tab_good(cols), tab_good(cols), tab_good(cols), tab_bad(cols), bad_id)


def ids(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.integers(lo, hi).map(str)


ENT1 = id_lines([ids(0, 7), st.sampled_from(URIS)], id_cols=1)
ENT2 = id_lines([ids(4, 11), st.sampled_from(URIS)], id_cols=1)
TRI1 = id_lines([ids(0, 9), ids(0, 3), ids(0, 9)])
TRI2 = id_lines([ids(3, 13), ids(0, 3), ids(3, 13)])
LINKS = id_lines([ids(0, 9), ids(3, 13)])


def expect_ent_ids(exp: Expect, path: Path, spec: FileSpec, numbers: list[int]) -> dict[int, str]:
    """Global id -> URI, first definition wins; later repeats of an id or a URI are duplicate-id problems."""
    by_id: dict[int, str] = {}
    for no, line in exp.syntax(path, spec, numbers):
        gid, uri = int(line.fields[0]), line.fields[1]
        if gid in by_id or uri in by_id.values():
            exp.problem(path, no, "duplicate-id")
        else:
            by_id[gid] = uri
    return by_id


def expect_id_triples(exp: Expect, path: Path, spec: FileSpec, numbers: list[int], by_id: dict) -> list:
    triples = []
    for no, line in exp.syntax(path, spec, numbers):
        h, r, t = (int(f) for f in line.fields)
        if h in by_id and t in by_id:
            triples.append((by_id[h], f"rel:{r}", by_id[t]))
        else:
            exp.problem(path, no, "unknown-entity")
    return triples


@FUZZ
@given(e1=files(ENT1), t1=files(TRI1), e2=files(ENT2), t2=files(TRI2), links=files(LINKS))
def test_dbp15k_fuzz(e1: FileSpec, t1: FileSpec, e2: FileSpec, t2: FileSpec, links: FileSpec) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "zh_en"
        exp = Expect()
        sides = []
        for k, espec, tspec in ((1, e1, t1), (2, e2, t2)):
            epath, tpath = root / f"ent_ids_{k}", root / f"triples_{k}"
            by_id = expect_ent_ids(exp, epath, espec, write(epath, espec))
            sides.append((by_id, expect_id_triples(exp, tpath, tspec, write(tpath, tspec), by_id)))
        lpath = root / "ill_ent_ids"
        good = exp.syntax(lpath, links, write(lpath, links))
        pairs = [tuple(int(f) for f in line.fields) for _, line in good]
        want_links, notes = expected_links(pairs, sides[0][0], sides[1][0])

        pair = load_dbp15k(root)
        exp.check_lenient(pair)
        assert (pair.left.name, pair.right.name) == ("zh", "en")
        for side, (by_id, triples) in zip(pair.sides, sides, strict=True):
            assert side.entities.names == list(by_id.values())
            assert triple_names(side) == triples
        assert link_names(pair) == want_links
        assert {k: pair.report.notes[k] for k in notes} == notes
        exp.check_strict(lambda: load_dbp15k(root, strict=True))


# ------------------------------------------------------------------------------- whole files of noise
@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.binary(max_size=200), min_size=5, max_size=5), st.sampled_from(["mmkg", "openea", "dbp15k"])
)
def test_random_bytes_never_crash(blobs: list[bytes], fmt: str) -> None:
    """Whatever the bytes, a load either validates or raises DataError naming one of the files."""
    names = {
        "mmkg": ["FB/FB_EntityTriples.txt", "FB/FB_NumericalTriples.txt", "DB/DB_EntityTriples.txt",
                 "DB/DB_NumericalTriples.txt", "DB/DB_SameAsLink.txt"],
        "openea": ["rel_triples_1", "attr_triples_1", "rel_triples_2", "attr_triples_2", "ent_links"],
        "dbp15k": ["ent_ids_1", "triples_1", "ent_ids_2", "triples_2", "ref_ent_ids"],
    }[fmt]
    loader = {
        "mmkg": lambda root, strict: load_mmkg_pair(root, strict=strict, left="FB", right="DB"),
        "openea": lambda root, strict: load_openea(root, strict=strict),
        "dbp15k": lambda root, strict: load_dbp15k(root, strict=strict),
    }[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, blob in zip(names, blobs, strict=True):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(blob)
        loader(root, False).validate()
        try:
            loader(root, True).validate()
        except DataError as exc:
            assert any(str(root / n) in str(exc) for n in names)


# ============================================================================================ text reading


def test_textio_bom_crlf_blank_and_bad_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(BOM + b"a\tb\r\n\r\n  \nc\xff\td\ne\tf\r\ng\th\ti")
    report = LoadReport()
    rows = list(iter_rows(path, 2, report))
    assert rows == [(1, ["a", "b"]), (5, ["e", "f"])]
    assert report.counts == Counter({"encoding": 1, "columns": 1})
    assert [str(p).split(": ")[0] for p in report.problems] == [f"{path}:4", f"{path}:6"]


def test_textio_mmkg_words(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("<a> <r> <b> .\n/m/x\t/r/y   /m/z\n<a> <r> .\n<a> <r> <b>.\n", encoding="utf-8")
    report = LoadReport()
    assert list(iter_rows(path, 3, report, words=True)) == [
        (1, ["<a>", "<r>", "<b>"]), (2, ["/m/x", "/r/y", "/m/z"]), (4, ["<a>", "<r>", "<b>."])
    ]
    assert report.counts == Counter({"columns": 1})


def test_textio_missing_and_empty(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nope.txt"):
        list(iter_lines(tmp_path / "nope.txt", LoadReport()))
    assert list(iter_lines(tmp_path / "nope.txt", LoadReport(), optional=True)) == []
    empty = tmp_path / "empty.txt"
    empty.write_bytes(BOM + b"\r\n")
    report = LoadReport()
    assert list(iter_lines(empty, report)) == []
    assert str(report.problems[0]) == f"{empty}: empty-file: file is empty"
    report = LoadReport()
    assert list(iter_lines(empty, report, optional=True)) == [] and report.total_problems == 0
    with pytest.raises(DataError, match="empty-file"):
        list(iter_lines(empty, LoadReport(strict=True)))


def test_textio_keep_bad_keeps_alignment(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_bytes(b"a\n\xff\nc\n")
    assert list(iter_lines(path, LoadReport(), keep_bad=True)) == [(1, "a"), (2, None), (3, "c")]


# =============================================================================================== MMKG cases


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def tiny_mmkg(root: Path, links: str) -> Path:
    fb = root / "FB15K"
    write_text(fb / "FB15K_EntityTriples.txt", "/m/a /r/x /m/b .\n/m/b /r/y /m/c .\n/m/a /r/x /m/b .\n")
    write_text(fb / "FB15K_NumericalTriples.txt", '/m/a\t<h>\t1.5\n/m/zz\t<h>\t2\n/m/c\t<d>\t"2004-##-##"\n')
    write_text(root / "FB15K/FB15K_ImageIndex.txt", "/m/a\tFBIMG1\n/m/c\tFBIMG2\n/m/zz\tFBIMG3\n")
    write_text(root / "DB15K/DB15K_EntityTriples.txt", "<A> <p> <B> .\n<C> <p> <A> .\n<D> <q> <C> .\n")
    write_text(root / "DB15K/DB15K_SameAsLink.txt", links)
    return root


def test_mmkg_tiny_exact(tmp_path: Path) -> None:
    root = tiny_mmkg(tmp_path, "/m/a <SameAs> <A> .\n/m/b <SameAs> <B> .\n")
    pair = load_mmkg_pair(root)
    fb, db = pair.sides
    assert fb.entities.names == ["/m/a", "/m/b", "/m/c"] and fb.relations.names == ["/r/x", "/r/y"]
    assert fb.triples.tolist() == [[0, 0, 1], [1, 1, 2], [0, 0, 1]]  # duplicate line kept
    assert len(fb.triples) == 3 and fb.distinct_triples() == 2
    assert db.entities.names == ["<A>", "<B>", "<C>", "<D>"]
    assert numeric_names(fb) == [("/m/a", "<h>", 1.5), ("/m/c", "<d>", 2004.0)]
    assert pair.report.notes["numerical_dropped_entity_not_in_graph:FB15K_NumericalTriples.txt"] == 1
    assert pair.links.tolist() == [[0, 0], [1, 1]]
    assert pair.name == "FB15K-DB15K" and pair.report.total_problems == 0
    assert len(fb.images) == 0 and len(db.numerical) == 0


def test_mmkg_link_rules(tmp_path: Path) -> None:
    links = (
        "/m/a <SameAs> <A> .\n"  # fine
        "/m/a <SameAs> <A> .\n"  # exact duplicate: deduplicated
        "/m/zz <SameAs> <B> .\n"  # left end missing
        "/m/b <SameAs> <ZZ> .\n"  # right end missing
        "/m/b <SameAs> <C> .\n"  # /m/b -> two rights: both dropped
        "/m/b <SameAs> <D> .\n"
        "/m/c <SameAs> <B> .\n"  # fine: <B>'s other link has a missing left end
    )
    pair = load_mmkg_pair(tiny_mmkg(tmp_path, links))
    assert link_names(pair) == [("/m/a", "<A>"), ("/m/c", "<B>")]
    notes = pair.report.notes
    assert (notes["links_lines"], notes["links_duplicate_lines"]) == (7, 1)
    assert (notes["links_dropped_missing_entity"], notes["links_dropped_one_to_many"]) == (2, 2)
    assert notes["links_kept"] == 2 and pair.report.total_problems == 0


def test_mmkg_many_to_one_dropped(tmp_path: Path) -> None:
    links = "/m/a <SameAs> <A> .\n/m/b <SameAs> <A> .\n/m/c <SameAs> <C> .\n"
    pair = load_mmkg_pair(tiny_mmkg(tmp_path, links))
    assert link_names(pair) == [("/m/c", "<C>")]
    assert pair.report.notes["links_dropped_one_to_many"] == 2


def test_mmkg_links_from_left_folder_are_swapped(tmp_path: Path) -> None:
    root = tiny_mmkg(tmp_path, "/m/a <SameAs> <A> .\n")
    pair = load_mmkg_pair(root, left="DB15K", right="FB15K")
    assert link_names(pair) == [("<A>", "/m/a")]


def test_mmkg_missing_files(tmp_path: Path) -> None:
    root = tiny_mmkg(tmp_path, "/m/a <SameAs> <A> .\n")
    (root / "DB15K/DB15K_EntityTriples.txt").unlink()
    with pytest.raises(DataError, match="DB15K_EntityTriples.txt"):
        load_mmkg_pair(root)
    with pytest.raises(DataError, match="YAGO15K"):
        load_mmkg_pair(root, right="YAGO15K")


def test_mmkg_images_from_h5_and_override(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    root = tiny_mmkg(tmp_path, "/m/a <SameAs> <A> .\n")
    with h5py.File(root / "FB15K/FB15K_ImageData.h5", "w") as fh:
        fh["FBIMG1"] = np.arange(4, dtype=np.float64)
        fh["FBIMG2"] = np.ones((1, 4))
        fh["FBIMG3"] = np.ones(4)  # entity /m/zz is not in the graph: a note
        fh["NOIMG"] = np.ones(4)  # unknown id: a problem
    pair = load_mmkg_pair(root)
    fb = pair.left
    assert fb.images.entity.tolist() == [0, 2] and fb.images.features.dtype == np.float32
    assert fb.images.features[0].tolist() == [0, 1, 2, 3] and fb.images.width == 4
    assert pair.report.counts == Counter({"unknown-entity": 1})
    assert pair.report.notes["images_dropped_entity_not_in_graph:FB15K_ImageData.h5"] == 1
    npz = tmp_path / "db.npz"
    np.savez(npz, ids=np.array(["<A>", "<C>"]), features=np.eye(2, 3))
    pair = load_mmkg_pair(root, image_features={"DB15K": npz, "FB15K": None})
    assert pair.right.images.entity.tolist() == [0, 2] and pair.right.images.width == 3
    assert len(pair.left.images) == 4 - 2  # FB15K still uses its default file


# ============================================================================================ OpenEA cases


def tiny_openea(root: Path) -> Path:
    write_text(root / "rel_triples_1", "d:a\tr\td:b\nd:b\tr\td:c\n")
    write_text(root / "rel_triples_2", "y:a\ts\ty:b\ny:c\ts\ty:a\n")
    write_text(root / "attr_triples_1", 'd:a\tpop\t"12"^^xsd:integer\nd:a\tname\tAlpha\nd:q\tpop\t3\n')
    write_text(root / "attr_triples_2", "")
    write_text(root / "ent_links", "d:a\ty:a\nd:b\ty:b\nd:c\ty:c\n")
    splits = (
        ("721_5fold/1", "d:a\ty:a\n", "d:b\ty:b\n"),
        ("721_5fold/2", "d:b\ty:b\n", "d:a\ty:a\n"),
        ("split_x", "d:c\ty:c\n", "d:a\ty:a\n"),
    )
    for sub, train, test in splits:
        write_text(root / sub / "train_links", train)
        write_text(root / sub / "test_links", test)
    write_text(root / "not_a_split" / "train_links", "d:a\ty:a\n")
    return root


def test_openea_tiny_exact(tmp_path: Path) -> None:
    pair = load_openea(tiny_openea(tmp_path / "D_Y"))
    d, y = pair.sides
    assert d.entities.names == ["d:a", "d:b", "d:c"] and y.entities.names == ["y:a", "y:b", "y:c"]
    assert d.triples.tolist() == [[0, 0, 1], [1, 0, 2]]
    assert numeric_names(d) == [("d:a", "pop", 12.0)] and len(y.numerical) == 0
    notes = pair.report.notes
    assert notes["non_numeric_values_skipped"] == 1
    assert notes["numerical_dropped_entity_not_in_graph:attr_triples_1"] == 1
    assert pair.report.total_problems == 0  # the empty optional attr file is only a note
    assert pair.links.tolist() == [[0, 0], [1, 1], [2, 2]]
    assert list(pair.given_splits) == ["721_5fold/1", "721_5fold/2", "split_x"]
    fold = pair.given_splits["721_5fold/1"]
    assert fold.train.tolist() == [[0, 0]] and fold.test.tolist() == [[1, 1]] and len(fold.valid) == 0


def test_openea_split_with_unknown_entity_names_file(tmp_path: Path) -> None:
    root = tiny_openea(tmp_path / "D_Y")
    write_text(root / "split_x" / "test_links", "d:a\ty:nope\n")
    with pytest.raises(DataError, match=r"split_x/test_links:1"):
        load_openea(root)


def test_openea_missing_required(tmp_path: Path) -> None:
    root = tiny_openea(tmp_path / "D_Y")
    (root / "ent_links").unlink()
    with pytest.raises(DataError, match="ent_links"):
        load_openea(root)


def test_openea_strict_names_file_and_line(tmp_path: Path) -> None:
    root = tiny_openea(tmp_path / "D_Y")
    write_text(root / "rel_triples_2", "y:a\ts\ty:b\ny:c\ts\ty:a\ny:b\ts\n\ny:b\t\ty:a\n")
    with pytest.raises(DataError, match=rf"{root / 'rel_triples_2'}:3: columns"):
        load_openea(root, strict=True)
    pair = load_openea(root)
    assert pair.report.counts == Counter({"columns": 1, "empty-field": 1})
    assert str(pair.report.problems[1]).startswith(f"{root / 'rel_triples_2'}:5: empty-field")
    assert len(pair.right.triples) == 2 and len(pair.links) == 3


def test_openea_split_outside_graph_is_an_error(tmp_path: Path) -> None:
    """Given splits must match the graph; a lenient drop that removes a split entity is reported loudly."""
    root = tiny_openea(tmp_path / "D_Y")
    write_text(root / "rel_triples_2", "y:a\ts\ty:b\n")
    with pytest.raises(DataError, match=r"split_x/train_links:1: entity 'y:c'"):
        load_openea(root)


# =========================================================================================== DBP15K cases


def tiny_dbp(root: Path) -> Path:
    write_text(root / "ent_ids_1", "0\thttp://zh/a\n2\thttp://zh/b\n1\thttp://zh/c\n")
    write_text(root / "ent_ids_2", "10\thttp://en/a\n11\thttp://en/b\n")
    write_text(root / "triples_1", "0\t7\t2\n1\t7\t0\n2\t3\t1\n")
    write_text(root / "triples_2", "11\t9\t10\n")
    write_text(root / "ill_ent_ids", "0\t10\n2\t11\n")
    return root


def test_dbp15k_tiny_exact(tmp_path: Path) -> None:
    pair = load_dbp15k(tiny_dbp(tmp_path / "zh_en"))
    zh, en = pair.sides
    assert zh.entities.names == ["http://zh/a", "http://zh/b", "http://zh/c"]  # ent_ids file order
    assert zh.relations.names == ["rel:7", "rel:3"]
    assert zh.triples.tolist() == [[0, 0, 1], [2, 0, 0], [1, 1, 2]]
    assert en.triples.tolist() == [[1, 0, 0]]
    assert pair.links.tolist() == [[0, 0], [1, 1]]
    assert pair.report.notes["links_file"].endswith("ill_ent_ids") and pair.report.total_problems == 0
    assert zh.attribute_presence.shape == (0, 2)


def test_dbp15k_ref_ent_ids_and_training_attrs(tmp_path: Path) -> None:
    root = tiny_dbp(tmp_path / "zh_en")
    write_text(root / "ref_ent_ids", "1\t10\n")
    write_text(root / "training_attrs_1", "http://zh/a\tp1\tp2\tp1\nhttp://zh/zz\tp1\nhttp://zh/c\n\tp3\n")
    pair = load_dbp15k(root)
    assert pair.links.tolist() == [[2, 0]]  # ref_ent_ids is preferred
    zh = pair.left
    assert zh.attributes.names == ["p1", "p2"]
    assert zh.attribute_presence.tolist() == [[0, 0], [0, 1]]
    assert pair.report.notes["attrs_dropped_entity_not_in_graph:training_attrs_1"] == 1
    assert pair.report.counts == Counter({"empty-field": 1})


def test_dbp15k_problems(tmp_path: Path) -> None:
    root = tiny_dbp(tmp_path / "zh_en")
    write_text(root / "ent_ids_1", "0\thttp://zh/a\n0\thttp://zh/x\n5\thttp://zh/a\nq\thttp://zh/q\n2\thttp://zh/b\n")
    write_text(root / "triples_1", "0\t7\t2\n0\t7\t1\n")
    pair = load_dbp15k(root)
    assert pair.left.entities.names == ["http://zh/a", "http://zh/b"]
    assert pair.report.counts == Counter({"duplicate-id": 2, "bad-id": 1, "unknown-entity": 1})
    assert pair.links.tolist() == [[0, 0], [1, 1]]
    with pytest.raises(DataError, match=rf"{root / 'ent_ids_1'}:2: duplicate-id"):
        load_dbp15k(root, strict=True)


def test_dbp15k_missing_link_file(tmp_path: Path) -> None:
    root = tiny_dbp(tmp_path / "zh_en")
    (root / "ill_ent_ids").unlink()
    with pytest.raises(DataError, match="ill_ent_ids"):
        load_dbp15k(root)


# ========================================================================================== features cases


def vocab() -> Vocab:
    return Vocab(["e0", "e1", "e2"])


def test_features_npz(tmp_path: Path) -> None:
    path = tmp_path / "f.npz"
    feats = np.arange(12, dtype=np.float64).reshape(4, 3)
    feats[2, 1] = np.nan
    np.savez(path, ids=np.array(["IMG1", "e2", "e1", "ghost"]), features=feats)
    report = LoadReport()
    img = load_image_features(path, vocab(), {"IMG1": "e0"}, report)
    assert img.entity.tolist() == [0, 2] and img.features.dtype == np.float32
    assert img.features.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert report.counts == Counter({"non-finite": 1, "unknown-entity": 1})
    assert str(report.problems[0]).startswith(f"{path}:3: non-finite")


def test_features_npz_object_ids_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.npz"
    np.savez(path, ids=np.array(["e0", None], dtype=object), features=np.ones((2, 2)))
    with pytest.raises(DataError, match="f.npz"):
        load_image_features(path, vocab(), None, LoadReport())


def test_features_npy_with_ids(tmp_path: Path) -> None:
    path = tmp_path / "f.npy"
    np.save(path, np.ones((3, 2), dtype=np.float16))
    (tmp_path / "f.ids.txt").write_bytes(b"e1\n\xff\ne0\n")
    report = LoadReport()
    img = load_image_features(path, vocab(), None, report)
    assert img.entity.tolist() == [1, 0] and img.features.shape == (2, 2)
    assert report.counts == Counter({"encoding": 1})
    (tmp_path / "f.ids.txt").write_text("e1\ne0\n", encoding="utf-8")
    with pytest.raises(DataError, match="2 ids but"):
        load_image_features(path, vocab(), None, LoadReport())
    (tmp_path / "f.ids.txt").unlink()
    with pytest.raises(DataError, match="f.ids.txt"):
        load_image_features(path, vocab(), None, LoadReport())


def test_features_npy_must_be_2d(tmp_path: Path) -> None:
    path = tmp_path / "f.npy"
    np.save(path, np.ones(3))
    with pytest.raises(DataError, match="2-D"):
        load_image_features(path, vocab(), None, LoadReport())


def test_features_h5(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "X_ImageData.h5"
    with h5py.File(path, "w") as fh:
        fh["IMG0"] = np.ones(5)
        fh["e2"] = np.full((2, 5), 2.0)  # two images of one entity
    img = load_image_features(path, vocab(), {"IMG0": "e1"}, LoadReport())
    assert img.entity.tolist() == [1, 2, 2] and img.width == 5
    with h5py.File(path, "a") as fh:
        fh["IMG9"] = np.ones(6)
    with pytest.raises(DataError, match="width 6"):
        load_image_features(path, vocab(), {"IMG0": "e1", "IMG9": "e0"}, LoadReport())


def test_features_h5py_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes "import h5py" raise ImportError
    path = tmp_path / "X.h5"
    path.write_bytes(b"not really")
    with pytest.raises(DataError, match=r"pip install 'gaussea\[h5py\]'"):
        load_image_features(path, vocab(), None, LoadReport())


def test_features_pickle_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "f.pkl"
    path.write_bytes(pickle.dumps({"e0": [1.0, 2.0], 7: np.array([3.0, 4.0]), "e2": [np.inf, 0.0]}))
    with pytest.raises(DataError, match="--allow-pickle"):
        load_image_features(path, vocab(), None, LoadReport())
    report = LoadReport()
    img = load_image_features(path, vocab(), {"7": "e1"}, report, allow_pickle=True)
    assert img.entity.tolist() == [0, 1] and img.features.tolist() == [[1, 2], [3, 4]]
    assert report.counts == Counter({"non-finite": 1})
    path.write_bytes(pickle.dumps({"e0": [1.0, 2.0], "e1": [1.0]}))
    with pytest.raises(DataError, match="width"):
        load_image_features(path, vocab(), None, LoadReport(), allow_pickle=True)
    path.write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot unpickle"):
        load_image_features(path, vocab(), None, LoadReport(), allow_pickle=True)


def test_features_merge_width_mismatch(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, ids=np.array(["e0"]), features=np.ones((1, 2)))
    np.savez(b, ids=np.array(["e1"]), features=np.ones((1, 3)))
    parts = [load_image_features(p, vocab(), None, LoadReport()) for p in (a, b)]
    with pytest.raises(DataError, match="width"):
        merge_image_features(parts, "side X")
    merged = merge_image_features(parts[:1] * 2, "side X")
    assert merged.entity.tolist() == [0, 0] and merged.width == 2


def test_features_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("x")
    with pytest.raises(DataError, match="unknown image feature format"):
        load_image_features(path, vocab(), None, LoadReport())


def test_huge_ids_are_bad_ids_not_crashes(tmp_path: Path) -> None:
    root = tiny_dbp(tmp_path / "zh_en")
    write_text(root / "ill_ent_ids", "0\t10\n" + "9" * 5000 + "\t11\n")
    pair = load_dbp15k(root)
    assert pair.report.counts == Counter({"bad-id": 1}) and pair.links.tolist() == [[0, 0]]
