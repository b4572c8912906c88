"""The run directory from the moment a run claims it to the moment it lets go: locked, and clean after a failure.

:class:`RunDirectoryClaim` is what :func:`gaussea.runner.run` holds around a run:

- **Locked** for the whole run (:mod:`gaussea.runlock`): a second run pointed at the same directory stops at
  once, naming the process that holds it.
- **``--overwrite`` moves the previous run aside** (its files, :data:`RUN_OUTPUTS`, into ``.previous-run/``;
  nothing else in the folder is touched) and deletes it only when the new run starts training. A new run that
  fails before that (a misspelt dataset, a missing file, a bad device) puts the previous run back as it was.
- **A run that fails before its first epoch leaves nothing behind**: a directory the run created is removed
  (with the parent folders it created, when they are empty), and in a directory that existed, only the entries
  the run added are removed; what was there is left alone. Once training has started
  (:meth:`RunDirectoryClaim.training_started`), a failure keeps everything, so that ``--resume`` can continue.

A SIGKILL cannot be cleaned up after: a run killed while starting can leave its first files (and, under
``--overwrite``, the previous run in ``.previous-run/``, which the next ``--overwrite`` deletes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gaussea.ioutil import OutputWriteError
from gaussea.run_files import RunDirectory
from gaussea.runlock import acquire_run_lock, release_run_lock

PREVIOUS_RUN_DIR = ".previous-run"
# Every entry gaussea writes into a run directory (``gaussea report`` writes ``report/`` by default): what
# --overwrite replaces.
RUN_OUTPUTS = RunDirectory.outputs()


class RunDirectoryClaim:
    """One run's hold on its directory: :meth:`acquire`, then :meth:`training_started` once the first epoch is
    about to run, then :meth:`release` (``failed=True`` when the run raised)."""

    def __init__(self, run_dir: Path, *, overwrite: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.overwrite = overwrite
        self._lock: Path | None = None
        self._created: Path | None = None  # the topmost folder this run created, if it created the run directory
        self._present: set[str] = set()  # entries there once the previous run (if any) was moved aside
        self._training = False
        self._moved_aside = False

    @property
    def previous_run(self) -> Path:
        return self.run_dir / PREVIOUS_RUN_DIR

    def acquire(self) -> None:
        """Lock the directory (creating it) and, under ``overwrite``, move the previous run's files aside."""
        self._created = _topmost_missing(self.run_dir)
        self._lock = acquire_run_lock(self.run_dir)
        try:
            self._present = self._entries()
            if self.overwrite:
                self._move_previous_run_aside()
                self._present = self._entries()
        except BaseException:
            self.release(failed=True)
            raise

    def training_started(self) -> None:
        """From here on the run is resumable: failures keep its files, and an overwritten run is deleted."""
        self._training = True
        if self._lock is not None:
            shutil.rmtree(self.previous_run, ignore_errors=True)

    def release(self, failed: bool = False) -> None:
        """Let go of the directory; after a failure before training, first undo what this run did to it."""
        if self._lock is None:
            return
        try:
            if failed and not self._training:
                self._undo()
        except OSError:
            pass
        finally:
            release_run_lock(self._lock)
            self._lock = None
        if failed and not self._training and self._created is not None:
            _remove_empty_folders(self.run_dir, self._created)

    def _move_previous_run_aside(self) -> None:
        shutil.rmtree(self.previous_run, ignore_errors=True)  # left by a run killed while starting
        found = [name for name in RUN_OUTPUTS if os.path.lexists(self.run_dir / name)]
        if not found:
            return
        try:
            self.previous_run.mkdir()
            self._moved_aside = True
            for name in found:
                os.replace(self.run_dir / name, self.previous_run / name)
        except OSError as exc:
            raise OutputWriteError(self.previous_run, exc) from exc

    def _entries(self) -> set[str]:
        return {p.name for p in self.run_dir.iterdir()}

    def _undo(self) -> None:
        """Remove what this run added and put an overwritten run back (best effort: a failure here must not
        hide the run's own error)."""
        if not self.run_dir.is_dir():
            return
        for entry in list(self.run_dir.iterdir()):
            if entry.name not in self._present and entry != self.previous_run:
                _remove(entry)
        if self._moved_aside:
            for entry in list(self.previous_run.iterdir()):
                os.replace(entry, self.run_dir / entry.name)
            self.previous_run.rmdir()


def _remove(entry: Path) -> None:
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    except OSError:
        pass


def _topmost_missing(path: Path) -> Path | None:
    """The highest folder of ``path`` (itself included) that does not exist yet, or None."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _remove_empty_folders(run_dir: Path, topmost: Path) -> None:
    """``run_dir`` and its parents up to ``topmost``, each only if empty (another process may have used them)."""
    for folder in (run_dir, *run_dir.parents):
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == topmost:
            return
