"""Probe: does pooch give the guarantees of gaussea's own download and extraction code?

Issue 23 asks to move downloads and archive extraction to pooch unless a measured reason says otherwise. This
probe is that measurement. It throws the hostile archives of ``tests/reliability/test_untrusted_files.py`` at
three extractors (gaussea's :func:`~gaussea.archive.safe_extract`; pooch's ``Unzip`` / ``Untar`` as they run on
this interpreter; and ``Untar`` as it runs on Python >= 3.12, where pooch passes ``filter="data"``), and
serves one file from a loopback server whose first response breaks off half-way, fetched once by
``pooch.create(..., retry_if_failed=2)`` and once by :func:`gaussea.commands.download.download`. It prints
one JSON document: per archive case and extractor the outcome, and per downloader the requests made and the
bytes served.

    PYTHONPATH=src:. python bench/probes/pooch_vs_handwritten.py > bench/results/dependencies/pooch_probe.json

Needs pooch importable (``pip install pooch`` in a scratch venv, or ``pip install --target DIR pooch`` and
DIR on PYTHONPATH) and the dev extra (hypothesis: the hostile cases live in the test module).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pooch
import pooch.processors

from gaussea.archive import safe_extract
from gaussea.commands.download import download
from tests.reliability._support import tree
from tests.reliability.test_untrusted_files import (
    FORMATS,
    GOOD,
    HOSTILE,
    TAR_ONLY,
    Member,
    outside_changes,
    sandbox,
)

ABSOLUTE_DECOY = Path("/tmp/gaussea-evil-absolute.txt")  # the "absolute" case's member name
Extractor = Callable[[Path, Path], object]


def pooch_extract(archive: Path, target: Path) -> object:
    """pooch's processor for the archive's format, unpacking into ``target`` as ``pooch.retrieve`` would."""
    cls = pooch.Unzip if archive.suffix == ".zip" else pooch.Untar
    return cls(extract_dir=str(target))(str(archive), "download", None)


def pooch_extract_py312(archive: Path, target: Path) -> object:
    """``pooch_extract`` with pooch believing it runs on Python 3.12 (it then passes ``filter="data"``)."""
    real = pooch.processors.sys
    pooch.processors.sys = types.SimpleNamespace(version_info=(3, 12, 0))  # type: ignore[assignment]
    try:
        return pooch_extract(archive, target)
    finally:
        pooch.processors.sys = real


EXTRACTORS: dict[str, Extractor] = {
    "gaussea.safe_extract": safe_extract,
    f"pooch {pooch.__version__} on Python {platform.python_version()}": pooch_extract,
    f"pooch {pooch.__version__} on Python >= 3.12 (tar filter='data')": pooch_extract_py312,
}


def _escaping_links(target: Path) -> list[str]:
    root = target.resolve()
    out = []
    for path in target.rglob("*") if target.exists() else []:
        real = Path(os.path.realpath(path))
        if path.is_symlink() and not (real == root or root in real.parents):
            out.append(path.relative_to(target).as_posix())
    return out


def outcome(extract: Extractor, fmt: str, members: list[Member]) -> str:
    """What one extractor does with one archive, as one of five outcomes (the worst that applies)."""
    ABSOLUTE_DECOY.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        box, target = sandbox(Path(tmp))
        archive = FORMATS[fmt](Path(tmp) / "case", members)
        before = tree(box)
        try:
            extract(archive, target)
            error = ""
        except Exception as exc:  # noqa: BLE001 - any refusal counts; its kind is reported
            error = type(exc).__name__
        if outside_changes(box, before) or ABSOLUTE_DECOY.exists():
            ABSOLUTE_DECOY.unlink(missing_ok=True)
            return "WROTE OUTSIDE the target"
        if _escaping_links(target):
            return "extracted a link leading outside the target"
        if error:
            written = target.exists() and tree(target) != {}
            return f"refused ({error}) " + ("after writing part of it" if written else "before writing anything")
        return "extracted inside the target (hostile names rewritten or dropped)"


def good_archive_exact(extract: Extractor, fmt: str) -> bool:
    """Does the GOOD archive come out exactly (files, and links as links)?"""
    with tempfile.TemporaryDirectory() as tmp:
        _, target = sandbox(Path(tmp))
        try:
            extract(FORMATS[fmt](Path(tmp) / "good", GOOD), target)
        except Exception:  # noqa: BLE001
            return False
        return (target / "data/link_to_a").is_symlink() and (target / "data/sub/b.txt").read_text() == "beta"


def extraction_table() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for fmt in ("zip", "tar.gz"):
        table[f"{fmt}: good archive extracted exactly"] = {
            name: str(good_archive_exact(fn, fmt)) for name, fn in EXTRACTORS.items()}
        for case, members in {**HOSTILE, **TAR_ONLY}.items():
            if fmt == "zip" and case in TAR_ONLY:
                continue
            table[f"{fmt}: {case}"] = {name: outcome(fn, fmt, members) for name, fn in EXTRACTORS.items()}
    return table


# --- a transfer that breaks off half-way -------------------------------------------------------------------
PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _BreaksOnce(BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the first response announces the full length and stops half-way."""

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        log = self.server.log  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = PAYLOAD[start:]
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = body[: len(body) // 2] if not log else body
        log.append({"range": rng, "bytes_sent": len(sent)})
        self.wfile.write(sent)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def breaking_server() -> Iterator[tuple[str, list[dict]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BreaksOnce)
    server.log = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", server.log  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _attempt(fetch: Callable[[], object]) -> str:
    try:
        fetch()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not handled
        return f"{type(exc).__name__}: {str(exc)[:160]}"


def transfer_table() -> dict[str, dict]:
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    out = {}
    with tempfile.TemporaryDirectory() as tmp, breaking_server() as (base, log):
        fetcher = pooch.create(path=Path(tmp) / "pooch", base_url=base, registry={"f.bin": f"sha256:{sha}"},
                               retry_if_failed=2)
        result = _attempt(lambda: fetcher.fetch("f.bin"))
        out["pooch.create(retry_if_failed=2).fetch"] = {"result": result, "requests": list(log),
                                                         "bytes_served": sum(r["bytes_sent"] for r in log)}
    with tempfile.TemporaryDirectory() as tmp, breaking_server() as (base, log):
        manifest = Path(tmp) / "m.json"
        manifest.write_text(json.dumps({"name": "probe", "files": [
            {"path": "f.bin", "size": len(PAYLOAD), "sha256": sha}]}))
        results = [_attempt(lambda: download(str(manifest), base, Path(tmp) / "cache")) for _ in range(2)]
        out["gaussea download (called twice at most)"] = {
            "result": results[0] if results[0] == "ok" else results, "requests": list(log),
            "bytes_served": sum(r["bytes_sent"] for r in log)}
    out["payload_bytes"] = len(PAYLOAD)  # type: ignore[assignment]
    return out


def summary(table: dict[str, dict[str, str]]) -> dict[str, dict[str, int]]:
    """Per extractor: how many hostile cases ended in each outcome (reason in parentheses dropped)."""
    counts: dict[str, dict[str, int]] = {name: {} for name in EXTRACTORS}
    for case, row in table.items():
        if "good archive" in case:
            continue
        for name, result in row.items():
            key = result.split(" (")[0] + (" " + result.split(") ")[1] if ") " in result else "")
            counts[name][key] = counts[name].get(key, 0) + 1
    return counts


def main() -> None:
    pooch.get_logger().setLevel("WARNING")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)
    extraction = extraction_table()
    report = {"python": sys.version.split()[0], "pooch": pooch.__version__, "summary": summary(extraction),
              "extraction": extraction, "interrupted_transfer": transfer_table()}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
