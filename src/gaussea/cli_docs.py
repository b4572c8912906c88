"""Regenerate the command outputs quoted in the docs from the code, so that a listing cannot go stale.

A generated block in a Markdown file looks like this (``gaussea presets`` as the example)::

    <!-- generated: gaussea presets -->
    ```console
    $ gaussea presets
    ...its output...
    ```
    <!-- end generated -->

Only what lies between the two markers is rewritten: the command named in the opening marker is run in this
process (``gaussea.cli.main`` with stdout captured, help formatted :data:`HELP_WIDTH` columns wide whatever the
terminal) and its output replaces the block. Quote this way only commands that are fast and read no data: help
texts, preset listings, manifests. Outputs of training runs stay hand-pasted. A test checks that the committed
``docs/commands.md`` equals its regenerated self.

    python -m gaussea.cli_docs docs/commands.md          # rewrite the blocks in place
    python -m gaussea.cli_docs --check docs/commands.md  # exit 1 when a block is stale
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

HELP_WIDTH = 100
BLOCK = re.compile(r"(?P<open><!-- generated: (?P<command>[^\n]*?) -->\n)(?P<body>.*?)"
                   r"(?P<close><!-- end generated -->)", re.DOTALL)


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    """argparse wraps help at ``$COLUMNS`` (``shutil.get_terminal_size``): fix it while a block is rendered."""
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before


def command_output(command: str) -> str:
    """What ``command`` (a ``gaussea ...`` line) prints to stdout; a nonzero exit is a ``RuntimeError``."""
    from gaussea.cli import main

    argv = shlex.split(command)
    if not argv or argv[0] != "gaussea":
        raise ValueError(f"generated block: {command!r} is not a gaussea command")
    out, err = io.StringIO(), io.StringIO()
    with _columns(HELP_WIDTH), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv[1:])
        except SystemExit as exc:  # --help exits through argparse
            status = exc.code if isinstance(exc.code, int) else 1
    if status:
        raise RuntimeError(f"generated block: `{command}` exited {status}: {err.getvalue().strip()}")
    return out.getvalue()


def render_block(command: str) -> str:
    text = command_output(command)
    if not text.endswith("\n"):
        text += "\n"
    return f"```console\n$ {command}\n{text}```\n"


def render(markdown: str) -> str:
    """``markdown`` with every generated block replaced by its command's current output."""
    return BLOCK.sub(lambda m: m["open"] + render_block(m["command"]) + m["close"], markdown)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gaussea.cli_docs", description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="Markdown files with generated blocks")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is stale")
    args = ap.parse_args(argv)
    stale = []
    for path in args.files:
        old = path.read_text(encoding="utf-8")
        new = render(old)
        if new != old:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'stale (regenerate with python -m gaussea.cli_docs)' if args.check else 'regenerated'}",
              file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
