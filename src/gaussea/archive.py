"""Unpacking downloaded archives without letting them write outside the folder they are unpacked into.

Dataset archives come from third parties. ``zipfile.extractall`` and ``tarfile.extractall`` (without a
filter) trust member names: ``../../.bashrc``, ``/etc/cron.d/x``, a symlink ``data -> /home/you`` followed by
a member ``data/.ssh/authorized_keys``, or a hard link to ``/etc/passwd`` all write where the archive says.
:func:`safe_extract` refuses every such member with an :class:`UnsafeArchiveError` naming the archive and the
member, and does so while *checking* the member list, before anything is written: a refused archive leaves
the target folder as it was.

The rules, for ``.zip`` and ``.tar`` (optionally gzip/bzip2/xz-compressed, detected from the content):

* member names must be relative, without ``..`` components, NUL bytes or drive letters; a backslash counts
  as a separator for this check (a Windows-made archive may use it);
* only regular files, directories, symbolic links and (tar) hard links are extracted; devices, FIFOs and
  other special members are refused;
* a symbolic link must be relative and must resolve inside the target, following the archive's other links
  the way the file system would (so a chain ``d/s -> ..``, ``t -> d/s/..`` is caught, which a purely lexical
  check misses); no member may be written *through* a link of the archive, and links are created last;
* a hard link must name an earlier regular-file member of the archive; it is materialised as a copy;
* modes from the archive are not applied (no setuid/setgid/world-writable bits): files get the umask's
  defaults;
* at write time every destination's real parent folder is checked again (a symlink already present in the
  target folder cannot redirect a write), and files are opened with ``O_NOFOLLOW``.

A damaged archive (truncated, bad CRC, not an archive at all) raises :class:`ArchiveError`; files written
before the damage was found are removed again. Both errors are :class:`~gaussea.data.report.DataError`
subclasses, so the command line reports them as one line with exit status 2.

Not addressed here: decompression bombs (an archive that expands to far more than its size). Callers that
download from unknown sources should also check sizes against a manifest, as ``gaussea download`` does.

Hand-written on purpose, not pooch's ``Unzip`` / ``Untar`` (measured with ``bench/probes/pooch_vs_handwritten.py``
on the 36 hostile archives of ``tests/reliability/test_untrusted_files.py``, pooch 1.9, Python 3.11; results in
``bench/results/dependencies/pooch_probe.json``): pooch passes ``tarfile``'s ``filter="data"`` only on Python
>= 3.12, so on the 3.10 and 3.11 this package supports it wrote outside the target in 3 cases and left a link
leading outside in 5 more. Even with the filter it refused only 17 of 36, 6 of them after writing part of the
archive, and still extracted a symlink chain leading outside (``t -> b/..``, ``b -> .``); zip members with
``..`` or absolute names are silently renamed into the target instead of refused, and zip symlinks come out as
small text files. This module refuses all 36 before writing anything; only the standard library is used.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gaussea.errors import ArchiveError, DataError, UnsafeArchiveError  # noqa: F401 - re-exported

MAX_LINK_HOPS = 40  # as the Linux kernel's limit on symlinks followed in one path resolution
COPY_CHUNK = 1 << 20
_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError, ValueError, NotImplementedError,
    RuntimeError,  # zipfile: encrypted member without a password
)
try:  # lzma and bz2 are optional parts of a Python build
    import lzma

    _READ_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover - depends on the interpreter build
    pass


@dataclass(frozen=True)
class _Member:
    """One archive member in a format-neutral form; ``parts`` is the normalised relative path."""

    name: str  # as stored in the archive (for messages)
    parts: tuple[str, ...]
    kind: str  # "file" | "dir" | "symlink" | "hardlink"
    link: str = ""  # symlink target (relative to the link's folder) or hardlink target (archive path)
    open: Callable[[], BinaryIO] | None = None  # file content


def _split(name: str) -> list[str]:
    return name.replace("\\", "/").split("/")


def _check_name(archive: Path, name: str) -> tuple[str, ...]:
    """Normalised path components of a member name, or :class:`UnsafeArchiveError`."""
    def refuse(why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{archive}: member {name[:200]!r} {why}; refusing to extract the archive")

    if not name or "\x00" in name:
        raise refuse("has an empty name or a NUL byte")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or (len(unified) >= 2 and unified[1] == ":"):
        raise refuse("is an absolute path")
    parts = _split(name)
    if ".." in parts:
        raise refuse("contains '..' (it would escape the target folder)")
    return tuple(p for p in parts if p not in ("", "."))


def _zip_members(archive: Path, zf: zipfile.ZipFile) -> list[_Member]:
    members = []
    for info in zf.infolist():
        parts = _check_name(archive, info.filename)
        mode = info.external_attr >> 16
        if info.create_system == 3 and mode and stat.S_ISLNK(mode):
            target = zf.read(info).decode("utf-8", errors="surrogateescape")
            members.append(_Member(info.filename, parts, "symlink", target))
        elif info.is_dir() or (info.create_system == 3 and mode and stat.S_ISDIR(mode)):
            members.append(_Member(info.filename, parts, "dir"))
        elif info.create_system == 3 and mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
            raise UnsafeArchiveError(f"{archive}: member {info.filename[:200]!r} is a special file "
                                     f"(mode {oct(stat.S_IFMT(mode))}); refusing to extract the archive")
        else:
            members.append(_Member(info.filename, parts, "file", open=_zip_opener(zf, info)))
    return members


def _zip_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], BinaryIO]:
    return lambda: zf.open(info)  # type: ignore[return-value]


def _tar_members(archive: Path, tf: tarfile.TarFile) -> list[_Member]:
    members = []
    for info in tf.getmembers():
        parts = _check_name(archive, info.name)
        if info.isreg():
            members.append(_Member(info.name, parts, "file", open=_tar_opener(tf, info)))
        elif info.isdir():
            members.append(_Member(info.name, parts, "dir"))
        elif info.issym():
            members.append(_Member(info.name, parts, "symlink", info.linkname))
        elif info.islnk():
            members.append(_Member(info.name, parts, "hardlink", info.linkname))
        else:
            raise UnsafeArchiveError(f"{archive}: member {info.name[:200]!r} is a device, FIFO or other special "
                                     "file; refusing to extract the archive")
    return members


def _tar_opener(tf: tarfile.TarFile, info: tarfile.TarInfo) -> Callable[[], BinaryIO]:
    def open_member() -> BinaryIO:
        fh = tf.extractfile(info)
        if fh is None:  # pragma: no cover - isreg() members always have data
            raise ArchiveError(f"member {info.name!r} has no data")
        return fh  # type: ignore[return-value]

    return open_member


def _resolve(start: tuple[str, ...], target: str, links: dict[tuple[str, ...], str]) -> tuple[str, ...] | None:
    """Resolve ``target`` from folder ``start`` following the archive's ``links``; None if it leaves the root.

    Works like the kernel's path walk: a component that is a link is replaced by the link's target,
    interpreted relative to the folder holding the link; ``..`` pops a component and fails at the root.
    """
    if target.replace("\\", "/").startswith("/"):
        return None
    stack = list(start)
    queue = _split(target)
    hops = 0
    while queue:
        part = queue.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return None
            stack.pop()
            continue
        stack.append(part)
        link = links.get(tuple(stack))
        if link is not None:
            hops += 1
            if hops > MAX_LINK_HOPS or link.replace("\\", "/").startswith("/"):
                return None
            stack.pop()
            queue = _split(link) + queue
    return tuple(stack)


def _validate(archive: Path, members: list[_Member]) -> None:
    """Refuse the whole archive if any member is unsafe (see the module docstring); writes nothing."""
    links = {m.parts: m.link for m in members if m.kind == "symlink"}
    seen_files: set[tuple[str, ...]] = set()
    for m in members:
        def refuse(why: str, m: _Member = m) -> UnsafeArchiveError:
            return UnsafeArchiveError(f"{archive}: member {m.name[:200]!r} {why}; refusing to extract the archive")

        if not m.parts and m.kind != "dir":
            raise refuse("has no name inside the archive")
        for i in range(1, len(m.parts)):
            if m.parts[:i] in links:
                raise refuse(f"would be written through the archive's symlink {'/'.join(m.parts[:i])!r}")
        if m.kind != "symlink" and m.parts in links:
            raise refuse("has the same path as a symlink of the archive")
        if m.kind == "symlink":
            if not m.link or "\x00" in m.link:
                raise refuse("is a symlink with an empty target")
            if _resolve(m.parts[:-1], m.link, links) is None:
                raise refuse(f"is a symlink to {m.link[:200]!r}, which leads outside the target folder (or loops)")
        elif m.kind == "hardlink":
            try:
                target = _check_name(archive, m.link)
            except UnsafeArchiveError:
                raise refuse(f"is a hard link to {m.link[:200]!r}, outside the target folder") from None
            if target not in seen_files:
                raise refuse(f"is a hard link to {m.link[:200]!r}, which is not an earlier file of the archive")
        elif m.kind == "file":
            seen_files.add(m.parts)


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


class _Writer:
    """Creates files, folders and links under ``root``, re-checking real paths, and can undo its files."""

    def __init__(self, archive: Path, root: Path) -> None:
        self.archive, self.root = archive, root
        self.created_files: list[Path] = []
        self.created_dirs: list[Path] = []

    def _check_parent(self, dest: Path, name: str) -> None:
        real = Path(os.path.realpath(dest.parent))
        if not _inside(self.root, real):
            raise UnsafeArchiveError(f"{self.archive}: member {name[:200]!r} would be written to {real}, outside "
                                     f"{self.root} (through a symlink already in the target folder)")

    def mkdirs(self, dest: Path, name: str) -> None:
        missing = []
        p = dest
        while not p.exists() and p != self.root:
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            self._check_parent(d, name)
            d.mkdir()
            self.created_dirs.append(d)
        if not dest.is_dir():
            raise ArchiveError(f"{self.archive}: member {name[:200]!r}: {dest} exists and is not a folder")
        if not _inside(self.root, Path(os.path.realpath(dest))):
            raise UnsafeArchiveError(f"{self.archive}: member {name[:200]!r}: {dest} leads outside {self.root} "
                                     "(a symlink already in the target folder)")

    def _replaceable(self, dest: Path, name: str) -> None:
        self.mkdirs(dest.parent, name)
        self._check_parent(dest, name)
        if dest.is_symlink() or dest.is_file():
            dest.unlink()  # never write through an existing link; overwrite an existing file
        elif dest.exists():
            raise ArchiveError(f"{self.archive}: member {name[:200]!r}: {dest} exists and is not a file")

    def write(self, dest: Path, name: str, source: BinaryIO) -> None:
        self._replaceable(dest, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(dest, flags, 0o644)
        self.created_files.append(dest)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK)

    def copy(self, dest: Path, name: str, original: Path) -> None:
        with open(original, "rb") as src:
            self.write(dest, name, src)

    def symlink(self, dest: Path, name: str, target: str) -> None:
        self._replaceable(dest, name)
        os.symlink(target, dest)
        self.created_files.append(dest)

    def undo(self) -> None:
        for path in reversed(self.created_files):
            try:
                path.unlink()
            except OSError:
                pass
        for d in reversed(self.created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass


def _read_members(archive: Path, stack: ExitStack) -> list[_Member]:
    """The member list of a zip or tar archive, kept open on ``stack`` so member data can be read later."""
    if not archive.is_file():
        raise ArchiveError(f"{archive}: archive not found")
    try:
        if zipfile.is_zipfile(archive):
            return _zip_members(archive, stack.enter_context(zipfile.ZipFile(archive)))
        if tarfile.is_tarfile(archive):
            return _tar_members(archive, stack.enter_context(tarfile.open(archive, "r:*")))
    except DataError:
        raise
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{archive}: damaged or unreadable archive ({type(exc).__name__}: {exc})") from None
    raise ArchiveError(f"{archive}: not a .zip or .tar(.gz/.bz2/.xz) archive")


def safe_extract(archive: str | Path, target: str | Path) -> list[Path]:
    """Extract ``archive`` (.zip or .tar, optionally compressed) into ``target``; refuse anything unsafe.

    Returns the paths of the extracted files and links (not folders), in archive order (links last), under
    the resolved ``target``. Raises :class:`UnsafeArchiveError` before writing anything when a member would
    escape ``target`` (see the module docstring), and :class:`ArchiveError` when the archive is missing or
    damaged or a file cannot be written (files written before the failure are removed). ``target`` is created
    if needed; existing files at member paths are replaced.
    """
    archive = Path(archive)
    with ExitStack() as stack:
        members = _read_members(archive, stack)
        _validate(archive, members)
        Path(target).mkdir(parents=True, exist_ok=True)
        root = Path(target).resolve()
        writer = _Writer(archive, root)
        try:
            return _extract(archive, root, members, writer)
        except DataError:
            writer.undo()
            raise
        except _READ_ERRORS as exc:
            writer.undo()
            raise ArchiveError(f"{archive}: extraction failed ({type(exc).__name__}: {exc}); "
                               "the files written so far were removed") from None


def _extract(archive: Path, root: Path, members: list[_Member], writer: _Writer) -> list[Path]:
    out: list[Path] = []
    for m in members:
        dest = root.joinpath(*m.parts)
        if m.kind == "dir":
            writer.mkdirs(dest, m.name)
        elif m.kind == "file":
            assert m.open is not None
            with m.open() as src:
                writer.write(dest, m.name, src)
            out.append(dest)
        elif m.kind == "hardlink":
            writer.copy(dest, m.name, root.joinpath(*_check_name(archive, m.link)))
            out.append(dest)
    links = [m for m in members if m.kind == "symlink"]
    for m in links:  # links last: nothing is ever written through them
        dest = root.joinpath(*m.parts)
        writer.symlink(dest, m.name, m.link.replace("\\", "/"))
        out.append(dest)
    for m in links:  # defence in depth, once every link exists: _validate has already checked this
        real = Path(os.path.realpath(root.joinpath(*m.parts)))
        if not _inside(root, real):
            raise UnsafeArchiveError(f"{archive}: symlink {m.name[:200]!r} resolves to {real}, outside {root}")
    return out


__all__ = ["ArchiveError", "UnsafeArchiveError", "safe_extract"]
