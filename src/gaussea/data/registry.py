"""Datasets by name: which format module loads them and where their files sit under ``--data-dir``.

A new dataset or format is one new :class:`DatasetSpec` in :func:`default_registry`; loaders are referenced
as ``"module:function"`` strings and imported only when used, so listing datasets stays instant and optional
dependencies (h5py) are needed only by the datasets that use them.

Every loader has the signature ``load(folder: Path, *, strict: bool = False, **options) -> KGPair``, where
``folder`` is the dataset's own folder (``--data-dir`` joined with ``subdir`` when that exists, else
``--data-dir`` itself, so both ``--data-dir ../shared/data/dbp15k`` and ``--data-dir
../shared/data/dbp15k/zh_en`` work for ``dbp15k-zh_en``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gaussea.data.kgpair import KGPair
from gaussea.data.report import DataError


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    format: str
    description: str
    loader: str  # "module:function"
    subdir: str = ""
    needs_data_dir: bool = True
    options: dict = field(default_factory=dict)

    def load_function(self) -> Callable[..., KGPair]:
        module, func = self.loader.split(":")
        return getattr(importlib.import_module(module), func)


class DatasetRegistry:
    """A name -> :class:`DatasetSpec` table with loading that resolves folders and reports clearly."""

    def __init__(self, specs: list[DatasetSpec] | None = None) -> None:
        self._specs: dict[str, DatasetSpec] = {}
        for spec in specs or []:
            self.register(spec)

    def register(self, spec: DatasetSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"dataset {spec.name!r} registered twice")
        self._specs[spec.name] = spec

    def names(self) -> list[str]:
        return list(self._specs)

    def specs(self) -> list[DatasetSpec]:
        return list(self._specs.values())

    def get(self, name: str) -> DatasetSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise DataError(f"unknown dataset {name!r}; known: {', '.join(self._specs)}") from None

    def resolve_folder(self, spec: DatasetSpec, data_dir: str | Path | None) -> Path | None:
        if not spec.needs_data_dir:
            return Path(data_dir) if data_dir else None
        if data_dir is None:
            raise DataError(f"dataset {spec.name!r} needs --data-dir (the folder holding its files)")
        base = Path(data_dir)
        if not base.is_dir():
            raise DataError(f"{base}: data directory does not exist")
        if spec.subdir and (base / spec.subdir).is_dir():
            return base / spec.subdir
        return base

    def load(self, name: str, data_dir: str | Path | None = None, *, strict: bool = False, **options) -> KGPair:
        spec = self.get(name)
        folder = self.resolve_folder(spec, data_dir)
        kwargs = {**spec.options, **options}
        pair = spec.load_function()(folder, strict=strict, **kwargs)
        pair.meta.setdefault("dataset", name)
        pair.meta.setdefault("format", spec.format)
        pair.validate()
        return pair


def default_registry() -> DatasetRegistry:
    """The datasets gaussea knows out of the box."""
    mmkg = "gaussea.data.mmkg:load_mmkg_pair"
    dbp = "gaussea.data.dbp15k:load_dbp15k"
    oea = "gaussea.data.openea:load_openea"
    specs = [
        DatasetSpec("synthetic", "synthetic", "embedded multi-modal benchmark generated from a seed (default)",
                    "gaussea.data.synthetic:load_synthetic", needs_data_dir=False),
        DatasetSpec("fb15k-db15k", "mmkg", "MMKG FB15K-DB15K (data-dir holds FB15K/ and DB15K/)", mmkg,
                    options={"left": "FB15K", "right": "DB15K"}),
        DatasetSpec("fb15k-yago15k", "mmkg", "MMKG FB15K-YAGO15K (data-dir holds FB15K/ and YAGO15K/)", mmkg,
                    options={"left": "FB15K", "right": "YAGO15K"}),
        DatasetSpec("dbp15k-zh_en", "dbp15k", "DBP15K zh-en, JAPE id layout", dbp, subdir="zh_en"),
        DatasetSpec("dbp15k-ja_en", "dbp15k", "DBP15K ja-en, JAPE id layout", dbp, subdir="ja_en"),
        DatasetSpec("dbp15k-fr_en", "dbp15k", "DBP15K fr-en, JAPE id layout", dbp, subdir="fr_en"),
        DatasetSpec("dbp15k", "dbp15k", "any folder in the DBP15K / JAPE id layout", dbp),
        DatasetSpec("d_y_15k_v1", "openea", "OpenEA D-Y-15K-V1", oea, subdir="D_Y_15K_V1"),
        DatasetSpec("openea", "openea", "any folder in the OpenEA layout", oea),
    ]
    return DatasetRegistry(specs)


def load_dataset(name: str, data_dir: str | Path | None = None, *, strict: bool = False, **options) -> KGPair:
    """Load a registered dataset by name (the API twin of ``gaussea stats``' loading step)."""
    return default_registry().load(name, data_dir, strict=strict, **options)
