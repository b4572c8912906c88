"""gaussea.errors holds every error raised on purpose; the modules that raise them still export the same classes,
and each is the built-in error the command line turns into one line and exit status 2."""

from __future__ import annotations

import importlib

import pytest

from gaussea import errors

HOMES = {
    "DataError": "gaussea.data.report", "ArchiveError": "gaussea.archive", "UnsafeArchiveError": "gaussea.archive",
    "DownloadError": "gaussea.commands.download", "ChecksumError": "gaussea.commands.download",
    "DownloadInterrupted": "gaussea.commands.download",
    "MissingDependencyError": "gaussea.alignment", "CheckpointError": "gaussea.checkpoint",
    "OutputWriteError": "gaussea.ioutil", "RunDirectoryBusy": "gaussea.runlock",
}
BUILTIN = {"DataError": ValueError, "ArchiveError": ValueError, "UnsafeArchiveError": ValueError,
           "DownloadError": ValueError, "ChecksumError": ValueError,
           "DownloadInterrupted": ValueError, "MissingDependencyError": ValueError,
           "CheckpointError": RuntimeError, "OutputWriteError": OSError, "RunDirectoryBusy": OSError}


@pytest.mark.parametrize("name", sorted(HOMES))
def test_one_class_per_error_and_the_builtin_the_cli_reports(name: str) -> None:
    cls = getattr(errors, name)
    assert getattr(importlib.import_module(HOMES[name]), name) is cls
    assert issubclass(cls, BUILTIN[name])
    assert set(errors.__all__) == set(HOMES)


def test_output_write_error_names_the_file_and_cause() -> None:
    err = errors.OutputWriteError("/x/metrics.json", OSError(28, "No space left on device"))
    assert str(err) == "cannot write /x/metrics.json: No space left on device"
