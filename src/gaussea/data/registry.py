"""Datasets by name: which format module loads them and where their files sit under ``--data-dir``.

A new dataset or format is one new :class:`DatasetSpec` in :func:`default_registry`; loaders are referenced
as ``"module:function"`` strings and imported only when used, so listing datasets stays instant and optional
dependencies (h5py) are needed only by the datasets that use them.

Every loader has the signature ``load(folder: Path, *, strict: bool = False, **options) -> KGPair``, where
``folder`` is the dataset's own folder (``--data-dir`` joined with ``subdir`` when that exists, else
``--data-dir`` itself, so both ``--data-dir ../shared/data/dbp15k`` and ``--data-dir
../shared/data/dbp15k/zh_en`` work for ``dbp15k-zh_en``).

Because any folder in the right layout loads, a named dataset would happily load another pair of the same
layout under its own name (``dbp15k-zh_en`` reading a ``ja_en`` folder), and the run would carry the wrong
name. So every load records the folder it read (resolved, ``pair.meta["data_dir"]``), and a dataset that
knows its own shape (its folder name, its entity counts per side) checks the folder against it: a mismatch is
kept as one line in ``pair.meta["dataset_warning"]``, which ``gaussea run`` and ``gaussea stats`` print. It
is a warning, not an error: a trimmed or corrected copy is a legitimate thing to train on, as long as the
run says so. The generic datasets (``dbp15k``, ``openea``) load any folder under the folder's own name.

Hand-written on purpose, not class-resolver: a dataset here is a record (loader, subfolder, options, entity
counts) that drives folder resolution and the identity check above, not a class to instantiate; a resolver
would hold the name lookup (a few lines) and none of the rest. See docs/architecture.md.
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
    # Entities per side of the published dataset, when the dataset is one fixed pair; checked on every load.
    entities: tuple[int, int] | None = None

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
        pair.meta["data_dir"] = str(folder.resolve()) if folder is not None else None
        warning = self.identity_warning(spec, folder, pair)
        if warning:
            pair.meta["dataset_warning"] = warning
        pair.validate()
        return pair

    def identity_warning(self, spec: DatasetSpec, folder: Path | None, pair: KGPair) -> str | None:
        """One line when ``folder`` is clearly not dataset ``spec``: its entity counts differ, or no name of it
        (as given, resolved, or the pair's own) contains the dataset's folder name (``zh_en`` is found in
        ``dbp15k_zh_en`` and in JAPE's ``zh_en/0_3``)."""
        if folder is None or not (spec.entities or spec.subdir):
            return None
        generic = next((s.name for s in self._specs.values()
                        if s.format == spec.format and not s.subdir and not s.options and s.entities is None), None)
        hint = f"; --dataset {generic} loads it under its own name" if generic else ""
        counts = (pair.left.num_entities, pair.right.num_entities)
        if spec.entities and counts != spec.entities:
            return (f"{folder} does not look like dataset {spec.name}: its graphs have {counts[0]:,} / "
                    f"{counts[1]:,} entities, {spec.name} has {spec.entities[0]:,} / {spec.entities[1]:,}{hint}")
        names = (folder.name, folder.resolve().name, pair.name)
        if spec.subdir and not any(spec.subdir.casefold() in n.casefold() for n in names):
            return (f"{folder} does not look like dataset {spec.name}: the folder is named {folder.name!r}, "
                    f"not {spec.subdir!r}{hint}")
        return None


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
        DatasetSpec("dbp15k-zh_en", "dbp15k", "DBP15K zh-en, JAPE id layout", dbp, subdir="zh_en",
                    entities=(19_388, 19_572)),
        DatasetSpec("dbp15k-ja_en", "dbp15k", "DBP15K ja-en, JAPE id layout", dbp, subdir="ja_en",
                    entities=(19_814, 19_780)),
        DatasetSpec("dbp15k-fr_en", "dbp15k", "DBP15K fr-en, JAPE id layout", dbp, subdir="fr_en",
                    entities=(19_661, 19_993)),
        DatasetSpec("dbp15k", "dbp15k", "any folder in the DBP15K / JAPE id layout", dbp),
        # Every OpenEA 15K V1 pair has 15,000 / 15,000 entities: the folder name tells them apart.
        DatasetSpec("d_y_15k_v1", "openea", "OpenEA D-Y-15K-V1", oea, subdir="D_Y_15K_V1", entities=(15_000, 15_000)),
        DatasetSpec("openea", "openea", "any folder in the OpenEA layout", oea),
    ]
    return DatasetRegistry(specs)


def load_dataset(name: str, data_dir: str | Path | None = None, *, strict: bool = False, **options) -> KGPair:
    """Load a registered dataset by name (the API twin of ``gaussea stats``' loading step)."""
    return default_registry().load(name, data_dir, strict=strict, **options)
