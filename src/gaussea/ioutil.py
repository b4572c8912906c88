"""Atomic file output and checksums: nothing half-written is ever left where a reader would find it.

Every file gaussea writes goes through :func:`atomic_write_bytes`: the content is written to a temporary file
in the same directory, flushed and fsynced, then renamed over the target (rename is atomic on POSIX).

The temporary file is created like any ordinary file (mode 0666 filtered by the process umask, or by the
folder's default ACL), so the output a collaborator on a shared server reads has the permissions ``touch``
would give it: a umask of 022 gives 0644, 002 gives 0664. (``tempfile.mkstemp`` creates 0600, which the rename
would carry over to every result file.)

A write that the operating system refuses (disk full, quota, permissions, a read-only file system) raises
:class:`OutputWriteError` naming the file and the cause; the command line turns it into one line and exit
status 2. The file that was there before is untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

from gaussea.errors import OutputWriteError  # noqa: F401 - raised here, re-exported

NEW_FILE_MODE = 0o666  # before the umask, as open() creates files
_TEMP_NAME_TRIES = 100


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same folder + fsync + rename).

    Raises :class:`OutputWriteError` (naming ``path``) when the operating system refuses any step.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temp(path)
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise OutputWriteError(path, exc) from exc
        raise


def _create_temp(path: Path) -> tuple[int, str]:
    """A new file ``.NAME.XXXXXXXX.tmp`` next to ``path``, opened for writing, with the umask's permissions."""
    for _ in range(_TEMP_NAME_TRIES):
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp"))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), NEW_FILE_MODE), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a write may take fewer bytes than it is given)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: object) -> object:
    """Make numpy scalars and paths JSON-serialisable."""
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
