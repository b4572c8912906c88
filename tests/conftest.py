"""Shared fixtures. Real-data tests read ``../shared/data`` beside the repository and skip when it is absent."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("GAUSSEA_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    """The real benchmark data folder; the test is skipped when it is not there."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path}")
    return path


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One torch thread for a whole module, restored after it (use with ``pytestmark``).

    Tiny matrices gain nothing from threads and each parallel region can stall on a busy machine; reference
    results must also be computed on as many threads as each rank uses, since MKL's roundings depend on it.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


DBP15K_FILES = ("ent_ids_1", "ent_ids_2", "triples_1", "triples_2", "ill_ent_ids")


def write_dbp15k(root: Path, n: int = 24, *, sup: int | None = None) -> Path:
    """A small folder in the DBP15K / JAPE id layout: ``n`` entities a side (left ids ``i``, right ids
    ``100 + i``), a relational chain on each side, and the links ``i <-> 100 + i`` as ``ill_ent_ids``, or with
    ``sup`` as ``sup_ent_ids`` (the first ``sup`` links) + ``ref_ent_ids`` (the rest)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ent_ids_1").write_text("".join(f"{i}\thttp://l/{i}\n" for i in range(n)))
    (root / "ent_ids_2").write_text("".join(f"{100 + i}\thttp://r/{i}\n" for i in range(n)))
    (root / "triples_1").write_text("".join(f"{i}\t{i % 2}\t{i + 1}\n" for i in range(n - 1)))
    (root / "triples_2").write_text("".join(f"{100 + i}\t{2 + i % 3}\t{101 + i}\n" for i in range(n - 1)))
    links = [f"{i}\t{100 + i}\n" for i in range(n)]
    if sup is None:
        (root / "ill_ent_ids").write_text("".join(links))
    else:
        (root / "sup_ent_ids").write_text("".join(links[:sup]))
        (root / "ref_ent_ids").write_text("".join(links[sup:]))
    return root


@pytest.fixture
def zh_en_copy(shared_data: Path, tmp_path: Path) -> Callable[..., Path]:
    """Make a copy of real DBP15K zh_en under tmp_path: its files symlinked, except those in ``replace``
    (written with the given text; ``None`` leaves the file out). The real files are never copied or changed."""
    def make(replace: dict[str, str | None], folder: str = "zh_en") -> Path:
        root = tmp_path / folder
        root.mkdir(parents=True)
        for name in DBP15K_FILES:
            if name not in replace:
                (root / name).symlink_to(shared_data / "dbp15k" / "zh_en" / name)
        for name, text in replace.items():
            if text is not None:
                (root / name).write_text(text, encoding="utf-8")
        return root

    return make


@pytest.fixture
def make_dbp15k() -> Callable[..., Path]:
    """:func:`write_dbp15k`, for tests (a fixture, so test modules need not import conftest)."""
    return write_dbp15k


def load_bench_script(name: str) -> ModuleType:
    """Import ``bench/<name>.py`` (bench/ is not a package); the scripts put bench/ on sys.path for their helpers,
    which is undone here so that no test sees another's imports."""
    saved = list(sys.path)
    try:
        path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"gaussea_bench_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path[:] = saved


@pytest.fixture
def bench_script() -> Callable[[str], ModuleType]:
    """:func:`load_bench_script`, for the tests of the bench/ scripts."""
    return load_bench_script
