"""The in-memory data model: two knowledge graphs and the reference links between them.

Everything downstream (splits, models, evaluation) works on integer ids; names only come back at the edges
(loading, writing alignments). Each side keeps its own id space: entity ``3`` of the left graph and entity
``3`` of the right graph are unrelated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from gaussea.data.report import LoadReport


class Vocab:
    """A bijection between names (strings) and dense ids ``0..n-1``, in insertion order."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        for name in names:
            self.add(name)

    def add(self, name: str) -> int:
        """Return the id of ``name``, adding it if it is new."""
        idx = self._index.get(name)
        if idx is None:
            idx = len(self._names)
            self._index[name] = idx
            self._names.append(name)
        return idx

    def get(self, name: str) -> int | None:
        return self._index.get(name)

    def __getitem__(self, name: str) -> int:
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def name(self, idx: int) -> str:
        return self._names[idx]

    @property
    def names(self) -> list[str]:
        return list(self._names)


def _empty_int(shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, dtype=np.int64)


@dataclass
class NumericalTriples:
    """``(entity, attribute, value)`` facts as three aligned arrays; values are float64 as parsed."""

    entity: np.ndarray = field(default_factory=lambda: _empty_int((0,)))
    attribute: np.ndarray = field(default_factory=lambda: _empty_int((0,)))
    value: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.float64))

    def __len__(self) -> int:
        return int(self.entity.shape[0])


@dataclass
class ImageFeatures:
    """Image feature rows (float32, any width) and the entity each row belongs to.

    An entity may own several rows (several images) or none. ``width`` is kept explicitly so an empty
    feature set still knows its dimensionality.
    """

    entity: np.ndarray = field(default_factory=lambda: _empty_int((0,)))
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))

    def __len__(self) -> int:
        return int(self.entity.shape[0])

    @property
    def width(self) -> int:
        return int(self.features.shape[1])


@dataclass
class KGSide:
    """One knowledge graph: vocabularies plus relational, numerical and visual facts (ids only)."""

    name: str
    entities: Vocab
    relations: Vocab
    triples: np.ndarray  # (n, 3) int64: head, relation, tail
    attributes: Vocab = field(default_factory=Vocab)
    numerical: NumericalTriples = field(default_factory=NumericalTriples)
    images: ImageFeatures = field(default_factory=ImageFeatures)
    # (k, 2) int64 (entity, attribute) facts without a usable numeric value, e.g. DBP15K's
    # ``training_attrs`` name lists. Used by attribute-aware baselines (GCN-Align), not by the Gaussian model.
    attribute_presence: np.ndarray = field(default_factory=lambda: _empty_int((0, 2)))
    # The files this side was read from, by role ("entities", "triples", "numerical", "images"; several image
    # files are joined by ", "). Empty for generated data. Checks and messages name the file at fault with it.
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def num_entities(self) -> int:
        return len(self.entities)

    @property
    def num_relations(self) -> int:
        return len(self.relations)

    def distinct_triples(self) -> int:
        if len(self.triples) == 0:
            return 0
        return int(np.unique(self.triples, axis=0).shape[0])

    def entities_with_numbers(self) -> int:
        return int(np.unique(self.numerical.entity).size)

    def entities_with_images(self) -> int:
        return int(np.unique(self.images.entity).size)

    def validate(self) -> None:
        """Check internal consistency (ids in range, shapes); raise ``ValueError`` if broken."""
        n, r = self.num_entities, self.num_relations
        t = self.triples
        if t.ndim != 2 or t.shape[1] != 3:
            raise ValueError(f"{self.name}: triples must have shape (n, 3), got {t.shape}")
        if len(t) and (t[:, [0, 2]].min() < 0 or t[:, [0, 2]].max() >= n or t[:, 1].min() < 0 or t[:, 1].max() >= r):
            raise ValueError(f"{self.name}: triple ids out of range")
        num = self.numerical
        if len(num) and (num.entity.max() >= n or num.attribute.max() >= len(self.attributes)):
            raise ValueError(f"{self.name}: numerical ids out of range")
        img = self.images
        if img.features.shape[0] != img.entity.shape[0]:
            raise ValueError(f"{self.name}: image features and owners differ in length")
        if len(img) and img.entity.max() >= n:
            raise ValueError(f"{self.name}: image owner ids out of range")


@dataclass
class Split:
    """Link arrays (``(m, 2)`` int64, left id / right id) for training, validation and test."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    description: dict = field(default_factory=dict)
    # The file each part was read from ("train", "valid", "test"); empty for a split drawn from the links. Not
    # part of the description (that is saved with a run and must not carry this machine's paths twice).
    files: dict[str, str] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


@dataclass
class KGPair:
    """Two graphs and their reference links (``links[:, 0]`` left ids, ``links[:, 1]`` right ids).

    ``meta`` carries provenance that must travel with every run, e.g. the synthetic generator's parameters
    or its ground-truth corruption masks. ``report`` is the load report (problems skipped, links dropped).
    ``given_splits`` holds splits shipped with the dataset (OpenEA folds, DBP15K's ``sup_ent_ids`` /
    ``ref_ent_ids``), by name (e.g. ``"721_5fold/1"``). ``default_split`` names the one a run uses when it is
    told no split: set only where the dataset ships exactly one split meant for everyone (JAPE's ``sup`` /
    ``ref``), since published figures on such a dataset are on that split. ``link_sources`` are the files the
    links were read from (empty for generated data).
    """

    name: str
    left: KGSide
    right: KGSide
    links: np.ndarray  # (m, 2) int64
    report: LoadReport = field(default_factory=LoadReport)
    meta: dict = field(default_factory=dict)
    given_splits: dict[str, Split] = field(default_factory=dict)
    default_split: str | None = None
    link_sources: tuple[str, ...] = ()

    @property
    def sides(self) -> tuple[KGSide, KGSide]:
        return self.left, self.right

    def validate(self) -> None:
        self.left.validate()
        self.right.validate()
        if self.links.ndim != 2 or self.links.shape[1] != 2:
            raise ValueError(f"{self.name}: links must have shape (m, 2), got {self.links.shape}")
        if len(self.links):
            if self.links[:, 0].max() >= self.left.num_entities or self.links[:, 1].max() >= self.right.num_entities:
                raise ValueError(f"{self.name}: link ids out of range")

    def stats(self) -> dict:
        """The figures ``gaussea stats`` prints, per side and for the links."""
        out: dict = {"name": self.name, "sides": []}
        for side in self.sides:
            out["sides"].append(
                {
                    "name": side.name,
                    "entities": side.num_entities,
                    "relations": side.num_relations,
                    "relational_triples": int(len(side.triples)),
                    "distinct_relational_triples": side.distinct_triples(),
                    "attributes": len(side.attributes),
                    "numerical_triples": len(side.numerical),
                    "entities_with_numbers": side.entities_with_numbers(),
                    "entities_with_images": side.entities_with_images(),
                    "image_feature_width": side.images.width,
                    "files": dict(side.sources),
                }
            )
        out["links_usable"] = int(len(self.links))
        out["link_files"] = list(self.link_sources)
        out["given_splits"] = {name: split.sizes() for name, split in self.given_splits.items()}
        out["default_split"] = self.default_split
        out["report"] = self.report.to_dict()
        return out
