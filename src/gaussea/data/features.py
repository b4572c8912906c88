"""Image feature files for one graph: MMKG ``.h5``, ``.npz``, ``.npy`` + ids, and (opt-in) pickles.

Every format boils down to pairs ``(id, vector)``. An id is either an image id, mapped to its entity through
the MMKG ImageIndex (``entity<TAB>IMAGE_ID``), or directly an entity name. Rows are checked one by one:

* an id that is neither a known image id nor an entity name -> problem ``"unknown-entity"`` (row skipped);
* an image id whose entity is not in this graph (e.g. FB15K entities absent from the relational triples) ->
  a note, not a problem: the image is fine, the graph is just smaller;
* a vector with NaN / inf -> problem ``"non-finite"`` (row skipped);
* vectors of different widths -> :class:`DataError` (there is no sensible way to keep both).

Pickles can run arbitrary code when loaded, so ``.pkl`` files are refused unless the user opts in
(``allow_pickle=True``, ``--allow-pickle`` on the command line). Output is float32.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from gaussea.data.kgpair import ImageFeatures, Vocab
from gaussea.data.report import DataError, LoadReport
from gaussea.data.textio import iter_lines

H5_SUFFIXES = (".h5", ".hdf5")
PICKLE_SUFFIXES = (".pkl", ".pickle")
IDS_SUFFIX = ".ids.txt"


def ids_file_for(npy_path: Path) -> Path:
    """The id list that goes with ``X.npy``: ``X.ids.txt`` beside it."""
    return npy_path.with_name(npy_path.stem + IDS_SUFFIX)


def _check_matrix(arr: np.ndarray, path: Path, what: str) -> np.ndarray:
    if arr.ndim != 2:
        raise DataError(f"{path}: {what} must be a 2-D array (rows x width), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} must be numeric, got dtype {arr.dtype}")
    return arr


def _as_id_strings(ids: np.ndarray, path: Path) -> list[str]:
    if ids.ndim != 1:
        raise DataError(f"{path}: 'ids' must be a 1-D array, got shape {ids.shape}")
    if ids.dtype.kind == "U":
        return [str(x) for x in ids]
    if ids.dtype.kind == "S":
        try:
            return [x.decode("utf-8") for x in ids]
        except UnicodeDecodeError:
            raise DataError(f"{path}: 'ids' contains bytes that are not UTF-8") from None
    if ids.dtype.kind in "iu":
        return [str(int(x)) for x in ids]
    raise DataError(f"{path}: 'ids' must be an array of strings, got dtype {ids.dtype}")


def _read_npz(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"ids", "features"} - set(data.files)
            if missing:
                raise DataError(f"{path}: missing array(s) {sorted(missing)} (need 'ids' and 'features')")
            ids = _as_id_strings(data["ids"], path)
            feats = _check_matrix(data["features"], path, "'features'")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged zip can raise nearly anything (BadZipFile, ...)
        raise DataError(f"{path}: cannot read as .npz with 'ids' and 'features' ({type(exc).__name__}: "
                        f"{_first_line(exc)})") from None
    if len(ids) != feats.shape[0]:
        raise DataError(f"{path}: {len(ids)} ids but {feats.shape[0]} feature rows")
    yield from zip(ids, feats, strict=True)


def _read_npy(path: Path, report: LoadReport) -> Iterator[tuple[str, np.ndarray]]:
    try:
        feats = np.load(path, allow_pickle=False)
        if not isinstance(feats, np.ndarray):  # np.load picks the format from the content, not the suffix
            raise DataError(f"{path}: holds an .npz archive, not a single .npy array")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged header can raise nearly anything (TokenError, ...)
        raise DataError(f"{path}: cannot read as .npy ({type(exc).__name__}: {_first_line(exc)})") from None
    _check_matrix(feats, path, "the array")
    ids_path = ids_file_for(path)
    if not ids_path.exists():
        raise DataError(f"{ids_path}: id list missing (one id per row of {path.name})")
    # keep_bad keeps undecodable lines as None so row k still pairs with the k-th id
    lines = iter_lines(ids_path, report, keep_bad=True)
    ids = [line.strip() if line is not None else None for _, line in lines]
    if len(ids) != feats.shape[0]:
        raise DataError(f"{ids_path}: {len(ids)} ids but {path} has {feats.shape[0]} rows")
    for ident, row in zip(ids, feats, strict=True):
        if ident is not None:  # undecodable id line: already reported by iter_lines
            yield ident, row


def _read_h5(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    try:
        import h5py
    except ImportError:
        raise DataError(
            f"{path}: reading .h5 image features needs h5py: pip install 'gaussea[h5py]'"
        ) from None
    try:
        with h5py.File(path, "r") as fh:
            for key in fh:
                item = fh[key]
                if not isinstance(item, h5py.Dataset):
                    raise DataError(f"{path}: entry {key!r} is a group, expected one dataset per image id")
                arr = np.asarray(item[()])
                for row in _rows_of(arr, path, key):
                    yield key, row
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged HDF5 file can raise nearly anything (KeyError, ...)
        raise DataError(f"{path}: cannot read as HDF5 ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else "no details"


def _rows_of(arr: np.ndarray, path: Path, key: str) -> list[np.ndarray]:
    """One vector (``(d,)`` or ``(1, d)``) or several rows ``(k, d)`` stored under one id."""
    if arr.ndim == 1:
        return [arr]
    if arr.ndim == 2:
        return list(arr)
    raise DataError(f"{path}: entry {key!r} has shape {arr.shape}, expected a vector or a matrix of rows")


def _refuse_pickle(path: Path) -> None:
    raise DataError(
        f"{path}: pickle files can execute code when loaded and are refused by default; "
        "pass --allow-pickle (allow_pickle=True) if you trust this file"
    )


def _read_pickle(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Rows of a pickled ``dict`` id -> vector (EVA/MCLEA style; int keys become strings)."""
    try:
        with open(path, "rb") as fh:
            obj = pickle.load(fh)  # only reached after the explicit opt-in
    except Exception as exc:  # a corrupt pickle can raise nearly anything
        raise DataError(f"{path}: cannot unpickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict id -> vector, got {type(obj).__name__}")
    for key, value in obj.items():
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{path}: value for id {key!r} is not a numeric vector") from None
        for row in _rows_of(arr, path, str(key)):
            yield str(key), row


def _iter_pairs(path: Path, report: LoadReport, allow_pickle: bool) -> Iterator[tuple[str, np.ndarray]]:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES and not allow_pickle:
        _refuse_pickle(path)
    if not path.is_file():
        raise DataError(f"{path}: image feature file not found")
    if suffix in PICKLE_SUFFIXES:
        return _read_pickle(path)
    if suffix in H5_SUFFIXES:
        return _read_h5(path)
    if suffix == ".npz":
        return _read_npz(path)
    if suffix == ".npy":
        return _read_npy(path, report)
    raise DataError(f"{path}: unknown image feature format (use .h5, .npz, .npy + .ids.txt, or .pkl)")


def load_image_features(
    path: str | Path,
    entity_vocab: Vocab,
    image_index: dict[str, str] | None,
    report: LoadReport,
    *,
    allow_pickle: bool = False,
) -> ImageFeatures:
    """Read one feature file and attach each row to an entity of ``entity_vocab`` (see module docstring)."""
    path = Path(path)
    index = image_index or {}
    owners: list[int] = []
    rows: list[np.ndarray] = []
    width: int | None = None
    outside = 0
    for rowno, (ident, vector) in enumerate(_iter_pairs(path, report, allow_pickle), start=1):
        vec = _as_vector(vector, path, rowno, ident)
        if width is None:
            width = vec.shape[0]
        elif vec.shape[0] != width:
            raise DataError(
                f"{path}: row {rowno} (id {ident[:80]!r}) has width {vec.shape[0]}, earlier rows {width}"
            )
        name = index.get(ident, ident)
        owner = entity_vocab.get(name)
        if owner is None:
            if ident in index:
                outside += 1
            else:
                report.problem(
                    path, rowno, "unknown-entity", f"id {ident[:80]!r} is neither an image id nor an entity"
                )
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.all(np.isfinite(vec.astype(np.float32)))  # features are stored as float32
        if not finite:
            report.problem(path, rowno, "non-finite",
                           f"feature row for {ident[:80]!r} contains NaN, inf or a value beyond float32 range")
            continue
        owners.append(owner)
        rows.append(vec)
    if outside:
        report.note(f"images_dropped_entity_not_in_graph:{path.name}", outside)
    return _build(owners, rows, width or 0)


def _as_vector(vector: np.ndarray, path: Path, rowno: int, ident: str) -> np.ndarray:
    arr = np.asarray(vector)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: row {rowno} (id {ident[:80]!r}) is not a real vector (dtype {arr.dtype})")
    return arr.reshape(-1)


def _build(owners: list[int], rows: list[np.ndarray], width: int) -> ImageFeatures:
    if not rows:
        return ImageFeatures(np.zeros((0,), dtype=np.int64), np.zeros((0, width), dtype=np.float32))
    return ImageFeatures(np.asarray(owners, dtype=np.int64), np.stack(rows).astype(np.float32))


def merge_image_features(parts: Iterable[ImageFeatures], where: str) -> ImageFeatures:
    """Concatenate feature sets of one graph (several files); widths must agree."""
    parts = [p for p in parts]
    if not parts:
        return ImageFeatures()
    widths = {p.width for p in parts if len(p)}
    if len(widths) > 1:
        raise DataError(f"{where}: image feature files disagree in width ({sorted(widths)})")
    width = widths.pop() if widths else parts[0].width
    nonempty = [p for p in parts if len(p)]
    if not nonempty:
        return ImageFeatures(np.zeros((0,), dtype=np.int64), np.zeros((0, width), dtype=np.float32))
    return ImageFeatures(
        np.concatenate([p.entity for p in nonempty]), np.concatenate([p.features for p in nonempty], axis=0)
    )
