"""One live process per run directory: ``running.lock`` holds ``host pid`` of the process that runs it.

Two processes writing one run directory would overwrite each other's checkpoint, log and metrics, and both
report success. Every :func:`gaussea.runner.run` therefore takes the lock first (so every ``gaussea run`` and
every ``gaussea reproduce`` cell), and a second run pointed at the same directory stops with one line naming
the holder (:class:`RunDirectoryBusy`).

A lock left by a killed process is taken over: its pid is checked on this host (``kill(pid, 0)``), and a dead
holder's lock is renamed aside, checked once more and replaced. A lock written from another host is respected
(whether that process lives cannot be told from here); the message says which file to delete when that run is
known to be gone.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from gaussea.errors import RunDirectoryBusy  # noqa: F401 - raised here, re-exported
from gaussea.ioutil import OutputWriteError
from gaussea.run_files import RunDirectory

LOCK_NAME = RunDirectory.LOCK
_READ_RETRIES = 5  # a lock whose holder has created but not yet written it reads empty for a moment
_READ_PAUSE_S = 0.02


def this_process() -> str:
    """What a lock taken by this process holds: ``host pid``."""
    return f"{socket.gethostname()} {os.getpid()}"


def acquire_run_lock(run_dir: Path) -> Path:
    """Take ``run_dir/running.lock`` (creating ``run_dir``), or raise :class:`RunDirectoryBusy` naming the live
    process that holds it. Release it with :func:`release_run_lock`."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputWriteError(run_dir, exc) from exc
    lock = run_dir / LOCK_NAME
    for _ in range(3):
        holder = _create(lock)
        if holder is None:
            return lock
        if not _is_stale(holder):
            raise RunDirectoryBusy(lock, holder)
        _take_over(lock, holder)
    raise RunDirectoryBusy(lock, _read(lock) or "")


def claim_run(run_dir: Path) -> Path | None:
    """:func:`acquire_run_lock`, with ``None`` for a directory another live process holds."""
    try:
        return acquire_run_lock(run_dir)
    except RunDirectoryBusy:
        return None


def release_run_lock(lock: Path) -> None:
    """Remove the lock if this process still holds it (a lock another process took is left to it)."""
    if _read(lock) == this_process():
        lock.unlink(missing_ok=True)


def _create(lock: Path) -> str | None:
    """Create the lock holding this process's tag: ``None`` when created, else the holder's tag as read."""
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return _read(lock, retries=_READ_RETRIES) or ""
    except OSError as exc:
        raise OutputWriteError(lock, exc) from exc
    try:
        os.write(fd, this_process().encode())
    finally:
        os.close(fd)
    return None


def _read(lock: Path, retries: int = 1) -> str | None:
    """The lock's ``host pid`` (``None`` if there is no lock; ``""`` if it stays empty or unreadable)."""
    for attempt in range(retries):
        try:
            text = lock.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            text = ""
        if text or attempt == retries - 1:
            return text
        time.sleep(_READ_PAUSE_S)
    return ""


def _is_stale(holder: str) -> bool:
    """A lock of this host whose process is gone. Empty or foreign locks are never judged stale."""
    host, _, pid = holder.partition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not _alive(int(pid))


def _take_over(lock: Path, seen: str) -> None:
    """Remove the stale lock that read ``seen``. It is renamed aside first and read again: if another process
    replaced it in between (it took the stale lock over first), its fresh lock is put back, not deleted."""
    aside = lock.with_name(f".{lock.name}.{os.getpid()}.stale")
    try:
        os.replace(lock, aside)
    except FileNotFoundError:
        return
    if _read(aside) != seen:
        try:
            os.link(aside, lock)
        except FileExistsError:
            pass
    aside.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    return True
