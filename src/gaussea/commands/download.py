"""``gaussea download NAME``: fetch a benchmark's public files into a local cache, verified by sha256.

Why a downloader at all: the benchmarks are scattered over several research repositories (MMKG's files, an
id-form copy of DB15K, FB15k dictionaries, OpenEA and DBP15K copies), some only partially reachable, and a
result is only reproducible if everyone trains on byte-identical files. Each dataset has a *manifest*
(``gaussea/resources/manifests/NAME.json``) listing every file's relative path, size and sha256, taken from the
provenance notes of the copies the project verified, plus the public URL it came from (a raw GitHub URL pinned
to a commit). A file is accepted only when its size and sha256 match; anything else is deleted with a clear
error, so a cache never holds a silently wrong file.

Transfers are resumable: bytes go to ``FILE.part`` and are continued where they stopped (HTTP ``Range`` for
URLs, a seek for local mirrors); the file is renamed into place only once complete and verified (rename is
atomic on POSIX). A broken HTTP transfer (connection lost, body shorter than its ``Content-Length``, HTTP 5xx)
is resumed up to :data:`RETRIES` times with a doubling wait; after that the ``.part`` stays for the next run.
``--from`` takes a local directory laid out like the manifest paths (an offline mirror, e.g. a copy of the
project's ``shared/data``) or a URL base (``BASE/PATH`` is fetched for each file). Manifest entries
may carry ``"extract": "SUBDIR"``: such archives are unpacked with :func:`gaussea.archive.safe_extract` after
verification.

MMKG pairs (``fb15k-db15k``, ``fb15k-yago15k``) are not published in their loader layout any more (the large
``*_EntityTriples.txt`` files are unreachable), so after fetching the parts the downloader *assembles* the MMKG
layout from them (``mmkg-standin/``: DB15K triples rebuilt from the id-form copy, FB15K a stand-in from FB15k
valid/test + FB15k-237, YAGO15K partial) and verifies every assembled file against its sha256 in the manifest.

Cache location: ``--cache DIR``, else ``$GAUSSEA_HOME``, else ``$XDG_DATA_HOME/gaussea``, else
``~/.local/share/gaussea``; each dataset lives in ``CACHE/datasets/NAME/``.

Hand-written on purpose, not pooch (measured with ``bench/probes/pooch_vs_handwritten.py``, pooch 1.9; results
in ``bench/results/dependencies/pooch_probe.json``): pooch downloads into a fresh temporary file that it deletes
on failure and has no HTTP ``Range`` support, so ``retry_if_failed`` restarts from byte 0 (a 1 MiB file broken
half-way costs 1.5 MiB there, 1 MiB here) and an interrupted run keeps nothing; it fetches only http(s)/ftp/
sftp/DOI URLs, not the ``--from`` mirror folders; it checks the hash but not the size first. What pooch would
add (the hash check, the cache folder, retries) is a few lines each here, and it would need requests,
platformdirs and packaging as well. The MMKG assembly and the manifest format are this project's own.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gaussea.archive import safe_extract
from gaussea.errors import ChecksumError, DownloadError, DownloadInterrupted  # noqa: F401 - raised here, re-exported
from gaussea.ioutil import atomic_write_json, atomic_write_text, sha256_file

DATASETS: tuple[str, ...] = ("fb15k-db15k", "fb15k-yago15k", "dbp15k", "d_y_15k_v1")
CHUNK = 1 << 20
HTTP_TIMEOUT = 60.0
USER_AGENT = "gaussea-download/0.1"
STATE_FILE = "download.json"
RETRIES = 3  # further attempts after an HTTP transfer breaks off; each resumes from FILE.part
RETRY_WAIT_S = 1.0  # before the first retry; doubled before each further one


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative path inside the dataset folder (and inside a mirror)
    size: int
    sha256: str
    url: str | None = None  # public source (pinned); used when no --from is given
    extract: str | None = None  # archives: unpack into this subfolder after verification

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileEntry:
        path = str(d["path"])
        if path.startswith("/") or ".." in Path(path).parts:
            raise DownloadError(f"manifest path {path!r} must be relative and stay inside the dataset folder")
        return cls(path, int(d["size"]), str(d["sha256"]).lower(), d.get("url"), d.get("extract"))


@dataclass
class Manifest:
    name: str
    description: str
    files: list[FileEntry]
    data_dir: str = ""  # subfolder to pass as --data-dir
    run_dataset: str | None = None
    assemble: str | None = None
    assembled: list[FileEntry] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        return cls(d["name"], d.get("description", ""), [FileEntry.from_dict(f) for f in d["files"]],
                   d.get("data_dir", ""), d.get("run_dataset"), d.get("assemble"),
                   [FileEntry.from_dict(f) for f in d.get("assembled", [])])


def load_manifest(name_or_path: str | Path) -> Manifest:
    """The manifest of a known dataset (by name) or a manifest JSON file (by path)."""
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        res = resources.files("gaussea") / "resources" / "manifests" / f"{name_or_path}.json"
        if not res.is_file():
            raise DownloadError(f"unknown dataset {str(name_or_path)!r} to download; known: {', '.join(DATASETS)}")
        text = res.read_text(encoding="utf-8")
    return Manifest.from_dict(json.loads(text))


def default_cache() -> Path:
    """``$GAUSSEA_HOME``, else ``$XDG_DATA_HOME/gaussea``, else ``~/.local/share/gaussea``."""
    if os.environ.get("GAUSSEA_HOME"):
        return Path(os.environ["GAUSSEA_HOME"]).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "gaussea"


def dataset_dir(name: str, cache: str | Path | None = None) -> Path:
    return Path(cache).expanduser() if cache else default_cache() / "datasets" / name


def _is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https")


def _source_of(entry: FileEntry, source: str | Path | None) -> str:
    """Where ``entry`` comes from: the mirror folder / URL base joined with its path, or its public URL."""
    if source is None:
        if not entry.url:
            raise DownloadError(f"{entry.path}: no public URL in the manifest; pass --from DIR_OR_URL (a mirror)")
        return entry.url
    text = str(source)
    if text.startswith("file://"):
        text = urllib.parse.unquote(urllib.parse.urlparse(text).path)
    if _is_url(text):
        return text.rstrip("/") + "/" + urllib.parse.quote(entry.path)
    scheme = urllib.parse.urlparse(text).scheme
    if scheme and len(scheme) > 1:
        raise DownloadError(f"--from {text!r}: only local folders and http(s) URLs are supported")
    return str(Path(text) / entry.path)


def _verify(path: Path, entry: FileEntry) -> None:
    """Size then sha256; on mismatch the file is deleted and :class:`ChecksumError` raised."""
    size = path.stat().st_size
    if size != entry.size:
        path.unlink(missing_ok=True)
        raise ChecksumError(f"{entry.path}: size {size} != {entry.size} expected by the manifest; "
                            "the bad file was removed (fetch again, or check the mirror)")
    digest = sha256_file(path)
    if digest != entry.sha256:
        path.unlink(missing_ok=True)
        raise ChecksumError(f"{entry.path}: sha256 mismatch (expected {entry.sha256}, got {digest}); "
                            "the bad file was removed (fetch again, or check the mirror)")


def _copy_local(src: Path, part: Path, offset: int) -> None:
    if not src.is_file():
        raise DownloadError(f"{src}: not found in the mirror")
    with open(src, "rb") as fin, open(part, "ab") as fout:
        fin.seek(offset)
        shutil.copyfileobj(fin, fout, CHUNK)


def _fetch_url(url: str, part: Path, offset: int) -> None:
    """GET ``url`` into ``part``, asking for ``bytes=offset-`` when resuming; restarts if Range is ignored.

    A body shorter than its ``Content-Length`` is a broken transfer, not a finished one: ``http.client`` ends
    such a read quietly, and without this check the short file would fail verification and be deleted, losing
    exactly the bytes resuming exists to keep. Broken transfers raise :class:`DownloadInterrupted`.
    """
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    kept = "(the partial file is kept; run again to resume)"
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as resp:
            mode = "ab"
            if offset and resp.status == 206:
                start = _content_range_start(resp.headers.get("Content-Range", ""))
                if start != offset:
                    raise DownloadError(f"{url}: server resumed at byte {start}, asked for {offset}")
            elif offset:
                mode = "wb"  # 200: the server ignored Range and sends everything: start over
            with open(part, mode) as fout:
                start_size = fout.tell()
                shutil.copyfileobj(resp, fout, CHUNK)
                received = fout.tell() - start_size
            announced = resp.headers.get("Content-Length", "")
            if announced.isdigit() and received < int(announced):
                raise DownloadInterrupted(f"{url}: the connection closed after {received:,} of {int(announced):,} "
                                          f"bytes {kept}")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return  # nothing left to send: the .part is complete (verification decides)
        error = DownloadInterrupted if exc.code >= 500 or exc.code in (408, 429) else DownloadError
        raise error(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadInterrupted(f"{url}: {reason} {kept}") from None


def _transfer(origin: str, part: Path, size: int, retries: int, say: Callable[[str], None]) -> None:
    """Bring ``part`` to ``size`` bytes from ``origin``, resuming a broken HTTP transfer up to ``retries`` times.

    Retrying here rather than through pooch's ``retry_if_failed``: pooch starts every attempt from byte 0 in
    a fresh temporary file, while each retry here asks only for the missing bytes.
    """
    for attempt in range(retries + 1):
        offset = part.stat().st_size if part.exists() else 0
        if offset >= size:
            return
        if not _is_url(origin):
            _copy_local(Path(origin), part, offset)
            return
        try:
            _fetch_url(origin, part, offset)
            return
        except DownloadInterrupted as exc:
            if attempt == retries:
                raise
            wait = RETRY_WAIT_S * 2**attempt
            say(f"{'retry':8s} {exc} -- resuming in {wait:g} s ({attempt + 1} of {retries})")
            time.sleep(wait)


def _content_range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def fetch_file(entry: FileEntry, root: Path, source: str | Path | None = None, *, retries: int = RETRIES,
               log: Callable[[str], None] | None = None) -> str:
    """Make ``root / entry.path`` exist and verify; returns ``"cached"``, ``"fetched"`` or ``"resumed"``.

    ``"resumed"`` means a ``.part`` left by an earlier call was continued; retries within this call (see
    :func:`_transfer`) do not change the status.
    """
    dest = root / entry.path
    if dest.exists():
        if dest.stat().st_size == entry.size and sha256_file(dest) == entry.sha256:
            return "cached"
        dest.unlink()  # a wrong file in the cache: fetch it again
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if offset > entry.size:
        part.unlink()
        offset = 0
    _transfer(_source_of(entry, source), part, entry.size, retries, log or (lambda _msg: None))
    _verify(part, entry)
    os.replace(part, dest)
    return "resumed" if offset else "fetched"


def _extract(entry: FileEntry, root: Path) -> list[Path]:
    marker = root / (entry.path + ".extracted")
    if marker.exists():
        return [root / p for p in json.loads(marker.read_text(encoding="utf-8"))]
    target = root / (entry.extract or "")
    files = list(safe_extract(root / entry.path, target))
    atomic_write_json(marker, [str(Path(f).resolve().relative_to(root.resolve())) for f in files])
    return files


@dataclass
class DownloadResult:
    name: str
    root: Path
    data_dir: Path
    statuses: dict[str, str]
    run_dataset: str | None = None

    def run_hint(self) -> str:
        if not self.run_dataset:
            return ""
        return f"gaussea run --dataset {self.run_dataset} --data-dir {self.data_dir}"


def download(name: str, source: str | Path | None = None, cache: str | Path | None = None, *,
             retries: int = RETRIES, log: Callable[[str], None] | None = None) -> DownloadResult:
    """Fetch (or verify the cached copy of) every file of dataset ``name``; assemble its layout if needed.

    ``source``: a mirror folder or URL base (default: the public URLs in the manifest). ``cache``: the
    dataset folder itself (default ``default_cache()/datasets/NAME``). ``retries``: how often a broken HTTP
    transfer is resumed before :class:`DownloadInterrupted` is raised (its partial file kept). Raises
    :class:`DownloadError` / :class:`ChecksumError` with the file named.
    """
    manifest = load_manifest(name)
    root = dataset_dir(manifest.name, cache)
    root.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _msg: None)
    statuses: dict[str, str] = {}
    for entry in manifest.files:
        status = fetch_file(entry, root, source, retries=retries, log=say)
        statuses[entry.path] = status
        say(f"{status:8s} {entry.path} ({entry.size:,} bytes)")
        if entry.extract is not None:
            files = _extract(entry, root)
            say(f"{'unpacked':8s} {entry.path}: {len(files)} files -> {entry.extract or '.'}")
    if manifest.assemble == "mmkg":
        for path, status in assemble_mmkg(root, manifest.assembled).items():
            statuses[path] = status
            say(f"{status:8s} {path}")
    elif manifest.assemble:
        raise DownloadError(f"manifest {manifest.name}: unknown assemble step {manifest.assemble!r}")
    from gaussea.provenance import now_iso

    atomic_write_json(root / STATE_FILE, {"name": manifest.name, "source": str(source) if source else "public URLs",
                                          "date": now_iso(), "files": statuses})
    return DownloadResult(manifest.name, root, root / manifest.data_dir, statuses, manifest.run_dataset)


# --- MMKG layout assembly ---------------------------------------------------------------------------
DBPEDIA_RESOURCE = "http://dbpedia.org/resource/"
DBPEDIA_ONTOLOGY = "http://dbpedia.org/ontology/"
YAGO_RESOURCE = "http://yago-knowledge.org/resource/"


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _id_map(path: Path) -> dict[int, str]:
    """OpenKE ``*2id.txt``: a count line, then ``name<whitespace>id`` (names have no spaces)."""
    out = {}
    for line in _lines(path)[1:]:
        if line.strip():
            name, idx = line.rsplit(None, 1)
            out[int(idx)] = name
    return out


def _openke_triples(base: Path, files: tuple[str, ...]) -> list[str]:
    """``h r t .`` lines of OpenKE id files (``head tail rel`` order) mapped through the base's dictionaries."""
    ent, rel = _id_map(base / "entity2id.txt"), _id_map(base / "relation2id.txt")
    out = []
    for fname in files:
        for line in _lines(base / fname)[1:]:
            if line.strip():
                h, t, r = line.split()
                out.append(f"{ent[int(h)]} {rel[int(r)]} {ent[int(t)]} .\n")
    return out


def _yago(name: str) -> str:
    return f"<{YAGO_RESOURCE}{name[1:-1]}>" if name.startswith("<") and name.endswith(">") else name


def _build_mmkg_file(root: Path, rel: str) -> str:
    """The content of one MMKG-layout file, from the downloaded parts (recipes of the parts' provenance)."""
    name = Path(rel).name
    copies = {"FB15K_NumericalTriples.txt": "mmkg/FB15K/FB15K_NumericalTriples.txt",
              "FB15K_ImageIndex.txt": "mmkg/FB15K/FB15K_ImageIndex.txt",
              "DB15K_ImageIndex.txt": "mmkg/DB15K/DB15K_ImageIndex.txt",
              "DB15K_SameAsLink.txt": "mmkg/DB15K/DB15K_SameAsLink.txt",
              "YAGO15K_ImageIndex.txt": "mmkg/YAGO15K/YAGO15K_ImageIndex.txt",
              "YAGO15K_SameAsLink.txt": "mmkg/YAGO15K/YAGO15K_SameAsLink.txt"}
    if name in copies:
        return (root / copies[name]).read_text(encoding="utf-8")
    if name == "DB15K_EntityTriples.txt":  # the MMRNS split concatenated: the MMKG multiset (99,028 lines)
        return "".join(_openke_triples(root / "db15k", ("train2id.txt", "valid2id.txt", "test2id.txt")))
    if name == "DB15K_NumericalTriples.txt":  # local names back to URIs (CSV-quoted names unquoted)
        out = []
        for line in _lines(root / "db15k" / "DB15k_Numeric_triples_processed.txt"):
            ent, attr, value = line.split("\t")
            out.append(f"<{DBPEDIA_RESOURCE}{ent.strip(chr(34))}>\t<{DBPEDIA_ONTOLOGY}{attr}>\t{value}\n")
        return "".join(out)
    if name == "FB15K_EntityTriples.txt":  # stand-in: FB15k valid + test + FB15k-237 (all), distinct, sorted
        triples = set(_openke_triples(root / "fb15k", ("valid2id.txt", "test2id.txt")))
        triples.update(_openke_triples(root / "fb15k" / "FB15K237", ("train2id.txt", "valid2id.txt", "test2id.txt")))
        return "".join(sorted(triples))
    if name == "YAGO15K_EntityTriples.txt":  # partial: temporal yago15k test/valid + BoxTE train facts, distinct
        triples = set()
        for part in ("mmkg/TemporalKGs_yago15k/yago15k_test.txt", "mmkg/TemporalKGs_yago15k/yago15k_valid.txt",
                     "yago15k/boxte_train_unfolded_dynamic.txt"):
            for line in _lines(root / part):
                cells = line.split("\t")
                if len(cells) >= 3:
                    triples.add(f"{_yago(cells[0])} {cells[1]} {_yago(cells[2])} .\n")
        return "".join(sorted(triples))
    if name == "YAGO15K_NumericalTriples.txt":
        out = []
        for line in _lines(root / "mmkg" / "YAGO15K" / "YAGO15K_NumericalTriples_2018-04-05.txt"):
            ent, attr, value = line.split("\t")
            out.append(f"{_yago(ent)}\t{attr}\t{value}\n")
        return "".join(out)
    raise DownloadError(f"no recipe to assemble {rel}")


MMKG_README = """# MMKG layout assembled by `gaussea download`

Built from the verified public parts in this folder's siblings (see gaussea/commands/download.py for the
recipes). FB15K relational triples are a STAND-IN (FB15k valid + test + FB15k-237; 381,186 of 592,213),
YAGO15K relational triples are PARTIAL, and no VGG16 image features exist: results are not comparable with
published FB15K-DB15K / FB15K-YAGO15K numbers. Every file here matches the sha256 in the manifest.
"""


def assemble_mmkg(root: Path, outputs: list[FileEntry]) -> dict[str, str]:
    """Write every MMKG-layout file of ``outputs`` (skipping verified ones) and check its sha256."""
    statuses = {}
    for entry in outputs:
        dest = root / entry.path
        if dest.exists() and dest.stat().st_size == entry.size and sha256_file(dest) == entry.sha256:
            statuses[entry.path] = "cached"
            continue
        data = _build_mmkg_file(root, entry.path).encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != entry.size or digest != entry.sha256:
            raise ChecksumError(f"{entry.path}: assembled file does not match the manifest (sha256 {digest}, "
                                f"expected {entry.sha256}); nothing was written")
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(dest, data.decode("utf-8"))
        statuses[entry.path] = "built"
    if outputs:
        atomic_write_text(root / Path(outputs[0].path).parts[0] / "README.md", MMKG_README)
    return statuses


# --- command ------------------------------------------------------------------------------------------
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser(
        "download", help="fetch a benchmark's public files into the local cache (sha256-verified, resumable)",
        description="Fetch every file of a dataset's manifest (size + sha256 checked; interrupted transfers "
                    "resume from FILE.part), then print the --data-dir to use with `gaussea run`.")
    s.add_argument("name", choices=DATASETS, help="the benchmark to fetch")
    s.add_argument("--from", dest="source", metavar="DIR_OR_URL",
                   help="a local mirror folder or a URL base holding the manifest paths (default: public URLs)")
    s.add_argument("--cache", help="dataset folder (default: $GAUSSEA_HOME/datasets/NAME, "
                                   "$GAUSSEA_HOME defaulting to ~/.local/share/gaussea)")
    s.add_argument("--list", action="store_true", help="print the manifest (paths, sizes, sha256) and exit")
    s.set_defaults(func=cmd_download)


def cmd_download(args: argparse.Namespace) -> int:
    if args.list:
        m = load_manifest(args.name)
        print(f"{m.name}: {m.description}")
        for f in m.files:
            print(f"{f.size:>12,}  {f.sha256}  {f.path}")
        for f in m.assembled:
            print(f"{f.size:>12,}  {f.sha256}  {f.path}  (assembled)")
        return 0
    result = download(args.name, args.source, args.cache, log=print)
    print(f"{result.name}: {len(result.statuses)} files verified in {result.root}")
    hint = result.run_hint()
    if hint:
        print(f"use: {hint}")
    sys.stdout.flush()
    return 0
