"""Untrusted files: archives that try to write outside their folder, and runs that must stay in theirs.

:func:`gaussea.archive.safe_extract` is what ``gaussea download`` unpacks third-party archives with. Each
hostile case below is a known extraction attack (zip-slip, absolute names, symlink and hard-link escapes,
symlink chains that only escape when followed, writes through a link, a target folder that already holds a
link, special files); the property test throws random member lists at it. The check is always the same:
list the whole sandbox before and after, and nothing outside the target folder may have changed.

Pickled image features and code-running checkpoints are covered in test_feature_files.py and
test_crash_resume.py.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gaussea.archive import ArchiveError, UnsafeArchiveError, safe_extract
from gaussea.data.report import DataError
from gaussea.runner import run

from ._support import (
    run_gaussea,
    small_config,
    small_run_args,
    torch_threads_restored,  # noqa: F401 - autouse fixture
    tree,
)

ARCHIVE_FUZZ_EXAMPLES = 120

# A member: (name, kind, payload) with kind "file" (payload = content), "dir", "symlink" (payload = link
# target), "hardlink" (payload = archive path of the linked file), "fifo", "chr".
Member = tuple[str, str, str]


def make_tar(path: Path, members: list[Member], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def make_zip(path: Path, members: list[Member]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, kind, payload in members:
            info = zipfile.ZipInfo(name + ("/" if kind == "dir" and not name.endswith("/") else ""))
            info.create_system = 3
            mode = {"file": stat.S_IFREG | 0o644, "dir": stat.S_IFDIR | 0o755, "symlink": stat.S_IFLNK | 0o777,
                    "fifo": stat.S_IFIFO | 0o644, "chr": stat.S_IFCHR | 0o644}[kind]
            info.external_attr = mode << 16
            zf.writestr(info, "" if kind == "dir" else payload)
    return path


FORMATS = {
    "zip": lambda p, m: make_zip(p.with_suffix(".zip"), m),
    "tar": lambda p, m: make_tar(p.with_suffix(".tar"), m),
    "tar.gz": lambda p, m: make_tar(p.with_suffix(".tar.gz"), m, "w:gz"),
    "tar.xz": lambda p, m: make_tar(p.with_suffix(".tar.xz"), m, "w:xz"),
}


def sandbox(tmp: Path) -> tuple[Path, Path]:
    """``tmp/box`` with a decoy file beside the (not yet existing) target ``tmp/box/target``."""
    box = tmp / "box"
    (box / "outside").mkdir(parents=True)
    (box / "outside" / "secret.txt").write_text("do not touch", encoding="utf-8")
    return box, box / "target"


def outside_changes(box: Path, before: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """Paths outside ``box/target`` that appeared, vanished or changed."""
    after = tree(box)
    keys = set(before) | set(after)
    return {k: (before.get(k), after.get(k)) for k in sorted(keys)
            if not (k == "target" or k.startswith("target/")) and before.get(k) != after.get(k)}


# ------------------------------------------------------------------------------------------ good archives

GOOD: list[Member] = [
    ("data/", "dir", ""),
    ("data/a.txt", "file", "alpha"),
    ("data/sub/b.txt", "file", "beta"),
    ("./c.txt", "file", "gamma"),
    ("data/link_to_a", "symlink", "a.txt"),
    ("data/sub/up", "symlink", "../a.txt"),
    ("data/sub/dirlink", "symlink", ".."),
]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_good_archive_extracts_exactly(tmp_path: Path, fmt: str) -> None:
    box, target = sandbox(tmp_path)
    members = GOOD + ([("data/hard_a", "hardlink", "data/a.txt")] if fmt.startswith("tar") else [])
    archive = FORMATS[fmt](tmp_path / "good", members)
    before = tree(box)
    out = safe_extract(archive, target)
    root = target.resolve()
    assert all(p == root or root in p.parents for p in out)
    assert (target / "data/a.txt").read_text() == "alpha" and (target / "c.txt").read_text() == "gamma"
    assert (target / "data/sub/b.txt").read_text() == "beta"
    assert os.readlink(target / "data/link_to_a") == "a.txt"
    assert (target / "data/sub/up").read_text() == "alpha"
    assert (target / "data/sub/dirlink/a.txt").read_text() == "alpha"
    names = sorted(p.relative_to(root).as_posix() for p in out)
    expected = ["c.txt", "data/a.txt", "data/link_to_a", "data/sub/b.txt", "data/sub/dirlink", "data/sub/up"]
    if fmt.startswith("tar"):
        expected = sorted([*expected, "data/hard_a"])
        assert (target / "data/hard_a").read_text() == "alpha" and not (target / "data/hard_a").is_symlink()
    assert names == expected
    assert outside_changes(box, before) == {}
    assert safe_extract(archive, target) == out  # extracting again replaces, same result


# ----------------------------------------------------------------------------------------- hostile cases

HOSTILE: dict[str, list[Member]] = {
    "dotdot": [("ok.txt", "file", "x"), ("../outside/evil.txt", "file", "pwned")],
    "nested-dotdot": [("a/b/../../../outside/evil.txt", "file", "pwned")],
    "absolute": [("/tmp/gaussea-evil-absolute.txt", "file", "pwned")],
    "backslash-dotdot": [("..\\outside\\evil.txt", "file", "pwned")],
    "drive-letter": [("C:\\evil.txt", "file", "pwned")],
    "symlink-absolute": [("link", "symlink", "/etc")],
    "symlink-dotdot": [("link", "symlink", "../outside")],
    "symlink-deep-dotdot": [("a/b/link", "symlink", "../../../outside/secret.txt")],
    "symlink-then-write-through": [("link", "symlink", "sub"), ("sub/", "dir", ""), ("link/x.txt", "file", "x")],
    "symlink-to-outside-then-write": [("link", "symlink", "../outside"), ("link/evil.txt", "file", "pwned")],
    "symlink-chain": [("d/", "dir", ""), ("d/s", "symlink", ".."), ("t", "symlink", "d/s/..")],
    "symlink-chain-late": [("t", "symlink", "b/.."), ("b", "symlink", ".")],
    "symlink-loop": [("a", "symlink", "b/x"), ("b", "symlink", "a/y")],
    "symlink-replaces-dir": [("d/", "dir", ""), ("d/f.txt", "file", "x"), ("d", "symlink", "../outside")],
    "fifo": [("pipe", "fifo", "")],
    "device": [("dev", "chr", "")],
}
TAR_ONLY: dict[str, list[Member]] = {
    "hardlink-absolute": [("h", "hardlink", "/etc/passwd")],
    "hardlink-dotdot": [("h", "hardlink", "../outside/secret.txt")],
    "hardlink-not-a-member": [("h", "hardlink", "nothing-here.txt")],
    "hardlink-forward": [("h", "hardlink", "later.txt"), ("later.txt", "file", "x")],
}


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
@pytest.mark.parametrize("case", sorted(HOSTILE) + sorted(TAR_ONLY))
def test_hostile_archive_refused_before_writing_anything(tmp_path: Path, fmt: str, case: str) -> None:
    if case in TAR_ONLY and fmt == "zip":
        pytest.skip("zip has no hard links")
    members = HOSTILE.get(case) or TAR_ONLY[case]
    box, target = sandbox(tmp_path)
    archive = FORMATS[fmt](tmp_path / case, members)
    before = tree(box)
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, target)
    message = str(info.value)
    assert str(archive) in message and "refusing" in message
    assert outside_changes(box, before) == {}
    assert not target.exists()  # refused while checking, before anything was written
    assert not Path("/tmp/gaussea-evil-absolute.txt").exists()
    assert isinstance(info.value, DataError)  # the CLI turns it into one line and exit status 2


def test_symlink_already_in_target_cannot_redirect_writes(tmp_path: Path) -> None:
    box, target = sandbox(tmp_path)
    target.mkdir()
    (target / "data").symlink_to(box / "outside")
    archive = make_tar(tmp_path / "a.tar", [("data/evil.txt", "file", "pwned")])
    before = tree(box)
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(archive, target)
    assert outside_changes(box, before) == {}


def test_existing_link_at_member_path_is_replaced_not_followed(tmp_path: Path) -> None:
    box, target = sandbox(tmp_path)
    target.mkdir()
    (target / "f.txt").symlink_to(box / "outside" / "secret.txt")
    safe_extract(make_zip(tmp_path / "a.zip", [("f.txt", "file", "new")]), target)
    assert (box / "outside" / "secret.txt").read_text() == "do not touch"
    assert (target / "f.txt").read_text() == "new" and not (target / "f.txt").is_symlink()


def test_modes_from_the_archive_are_not_applied(tmp_path: Path) -> None:
    path = tmp_path / "m.tar"
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("suid")
        info.mode, info.size = 0o4777, 1
        tf.addfile(info, io.BytesIO(b"x"))
    safe_extract(path, tmp_path / "t")
    mode = (tmp_path / "t" / "suid").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_IWOTH)


@pytest.mark.parametrize("content", [b"", b"not an archive at all", b"PK\x03\x04broken", b"\x1f\x8b\x08broken"])
def test_unreadable_archives_are_archive_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match="x.zip"):
        safe_extract(path, tmp_path / "t")
    with pytest.raises(ArchiveError, match="not found"):
        safe_extract(tmp_path / "missing.tar.gz", tmp_path / "t")


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_truncated_archive_fails_cleanly(tmp_path: Path, fmt: str) -> None:
    """Damage found half-way: ArchiveError, and the files written so far are removed again."""
    members = [(f"f{i}.txt", "file", os.urandom(3000).hex()) for i in range(6)]
    archive = FORMATS[fmt](tmp_path / "big", members)
    data = archive.read_bytes()
    failures = 0
    for cut in range(len(data) // 10, len(data), len(data) // 10):
        archive.write_bytes(data[:cut])
        target = tmp_path / f"t{cut}"
        try:
            out = safe_extract(archive, target)
        except ArchiveError:
            failures += 1
            assert not target.exists() or tree(target) == {}
        else:  # a tar cut at a block boundary can be a valid shorter archive; then it is exact
            assert [p.name for p in out] == [f"f{i}.txt" for i in range(len(out))]
    assert failures >= 5


# ------------------------------------------------------------------------------------------ property test

NAME_PARTS = ["a", "b", "..", ".", "", "outside", "secret.txt", "\\..", "/"]
LINK_TARGETS = ["a", "b", "..", "../..", "/", "/etc", "a/..", "b/../..", "../outside", ".", "a/b"]


@st.composite
def member_lists(draw: st.DrawFn) -> list[Member]:
    out: list[Member] = []
    for _ in range(draw(st.integers(1, 6))):
        name = "/".join(draw(st.lists(st.sampled_from(NAME_PARTS), min_size=1, max_size=4)))
        kind = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink"]))
        payload = {"file": "data", "dir": "", "symlink": draw(st.sampled_from(LINK_TARGETS)),
                   "hardlink": draw(st.sampled_from(LINK_TARGETS + [m[0] for m in out] or ["a"]))}[kind]
        out.append((name or "x", kind, payload))
    return out


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile's writer warns; duplicates are part of the test
@settings(max_examples=ARCHIVE_FUZZ_EXAMPLES, deadline=None)
@given(member_lists(), st.sampled_from(["zip", "tar"]))
def test_random_archives_never_write_outside(members: list[Member], fmt: str) -> None:
    if fmt == "zip":
        members = [m for m in members if m[1] != "hardlink"]
    with tempfile.TemporaryDirectory() as tmp:
        box, target = sandbox(Path(tmp))
        try:
            archive = FORMATS[fmt](Path(tmp) / "fuzz", members)
        except (ValueError, OSError):  # the writer refused the member list itself
            return
        before = tree(box)
        try:
            out = safe_extract(archive, target)
        except ArchiveError:
            pass
        else:
            root = target.resolve()
            for p in out:
                assert root in p.parents
                assert Path(os.path.realpath(p)) == root or root in Path(os.path.realpath(p)).parents
        assert outside_changes(box, before) == {}


# ------------------------------------------------------------------------------- run outputs stay inside


def test_run_writes_only_inside_the_resolved_run_dir(tmp_path: Path) -> None:
    """A real ``gaussea run --out work/a/../run`` with HOME, TMPDIR and caches pointed into the sandbox:
    afterwards every new file in the sandbox is inside ``work/run``."""
    work, home = tmp_path / "work", tmp_path / "home"
    for d in (work, home, tmp_path / "tmp", tmp_path / "cache"):
        d.mkdir()
    before = tree(tmp_path)
    out = "a/../run"
    proc = run_gaussea(small_run_args(out, stage1=1, stage2=1), cwd=work, HOME=str(home),
                       TMPDIR=str(tmp_path / "tmp"), XDG_CACHE_HOME=str(tmp_path / "cache"),
                       MPLCONFIGDIR=str(tmp_path / "cache" / "mpl"))
    assert proc.returncode == 0, proc.stderr
    run_dir = (work / out).resolve()
    assert (run_dir / "metrics.json").is_file()
    after = tree(tmp_path)
    new_files = {k: v for k, v in after.items() if k not in before and not v == "dir"}
    outside = {k for k in new_files if not (tmp_path / k).resolve().is_relative_to(run_dir)}
    assert outside == set(), f"files written outside {run_dir}: {sorted(outside)}"


def test_dotdot_out_creates_no_folder_outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(small_config(stage1=1, stage2=0), "a/../run")
    assert sorted(os.listdir(tmp_path)) == ["run"]
