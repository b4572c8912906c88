"""Every error gaussea raises on purpose, in one place.

Each is a subclass of a built-in error the command line already turns into one line and exit status 2
(``ValueError``, ``OSError``, ``RuntimeError``), so a caller can catch either the precise class or the built-in
one. The modules that raise them import them from here (and re-export them, so older imports keep working).
This module imports nothing heavy: the command line imports it before torch.
"""

from __future__ import annotations

import socket
from pathlib import Path


class DataError(ValueError):
    """Bad input data. The message always names the file (and line, when there is one)."""


class ArchiveError(DataError):
    """An archive cannot be read (missing, not an archive, damaged)."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would be written outside the target folder, or is of a kind never extracted."""


class DownloadError(ValueError):
    """A file could not be fetched or failed verification (a ValueError: the CLI prints one line, exit 2)."""


class DownloadInterrupted(DownloadError):
    """A transfer broke off (connection lost or refused, truncated body, HTTP 5xx); its partial file is kept.

    Its own class because it is the one download error worth retrying: the next attempt resumes the partial
    file, where a checksum mismatch or an HTTP 404 would only fail again.
    """


class ChecksumError(DownloadError):
    """A fetched file's size or sha256 differs from the manifest; the bad file has been removed."""


class MissingDependencyError(ValueError):
    """An optional dependency is needed for the requested feature.

    A ``ValueError`` so that the CLI prints it as a one-line error (exit status 2) instead of a traceback.
    """


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, tampered with or unreadable."""


class OutputWriteError(OSError):
    """Writing (or removing) an output file failed: ``filename`` is the file, ``strerror`` the cause."""

    def __init__(self, path: str | Path, cause: OSError, action: str = "write") -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.action = action

    def __str__(self) -> str:
        return f"cannot {self.action} {self.filename}: {self.strerror}"


class RunDirectoryBusy(FileExistsError):
    """Another live process holds the run directory's lock (a ``FileExistsError``: exit status 2 in the CLI)."""

    def __init__(self, lock: Path, holder: str) -> None:
        host, _, pid = holder.partition(" ")
        who = f"process {pid}" if host == socket.gethostname() else f"process {pid or '?'} on host {host or '?'}"
        hint = "" if host == socket.gethostname() else f"; delete {lock.name} if that run is gone"
        super().__init__(f"{lock.parent} is in use by another run ({who}, {lock.name}{hint}); wait for it to "
                         "finish or choose another output directory")
        self.lock, self.holder = lock, holder


__all__ = ["ArchiveError", "CheckpointError", "ChecksumError", "DataError", "DownloadError", "DownloadInterrupted",
           "MissingDependencyError", "OutputWriteError", "RunDirectoryBusy", "UnsafeArchiveError"]
