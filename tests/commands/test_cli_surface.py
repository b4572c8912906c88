"""The command line's surface: help that is complete and fast, listings that line up, no empty or repeated output,
and docs/commands.md quoting what the code prints today."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gaussea.cli import build_parser
from gaussea.cli_docs import render
from gaussea.commands.explain import format_summary, variance_summary
from gaussea.presets import cmd_presets, preset_names

REPO = Path(__file__).resolve().parents[2]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_help_does_not_import_torch() -> None:
    """``gaussea --help`` and building the parser stay light: torch alone takes over a second to import."""
    code = ("import sys, contextlib, io\n"
            "from gaussea.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit as exc:\n"
            "        assert exc.code == 0\n"
            "assert 'reproduce' in out.getvalue()\n"
            "heavy = sorted(m for m in ('torch', 'matplotlib', 'scipy') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_every_subcommand_and_option_has_help_text() -> None:
    parser = build_parser()
    commands = _subcommands()
    assert len(commands) >= 10
    missing = {name: [a.dest for a in sub._actions if not a.help and not isinstance(a, argparse._HelpAction)]
               for name, sub in commands.items()}
    assert not any(missing.values()), {k: v for k, v in missing.items() if v}
    helps = {a.dest: a.help for a in parser._actions[-1]._choices_actions}  # type: ignore[attr-defined]
    assert set(helps) == set(commands) and all(helps.values())
    # The description once named four of the ten commands as if they were all: name all of them or none.
    words = set(re.findall(r"[\w-]+", parser.description or ""))
    named = [name for name in commands if name in words]
    assert named in ([], list(commands)), named


def test_presets_listing_aligns_long_names(capsys: object) -> None:
    cmd_presets(argparse.Namespace(show=None, full=False, json=False))
    lines = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    assert [line.split()[0] for line in lines] == preset_names()
    starts = {len(line) - len(line[len(line.split()[0]):].lstrip()) for line in lines}
    assert len(starts) == 1, f"descriptions start at columns {sorted(starts)}"
    assert starts.pop() > max(len(n) for n in preset_names())


def test_explain_on_a_relational_only_run_prints_no_empty_block(tmp_path: Path) -> None:
    """Without pictures or numbers no entity has two modalities: one line says so instead of a 0-entity table."""
    (tmp_path / "config.json").write_text(json.dumps({"data": {"dataset": "d_y_15k_v1"},
                                                      "model": {"modalities": ["r"]}}))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "variances.npz", **{f"{side}_{space}": 0.5 + rng.random(20)
                                            for side in ("left", "right") for space in ("common", "relational")})
    text = format_summary(variance_summary(tmp_path))
    assert "among 0 entities" not in text and "tie" not in text
    assert "trusted modality: not applicable" in text
    assert text.splitlines()[-1].startswith("trusted modality: not applicable")


def test_commands_doc_quotes_what_the_code_prints() -> None:
    """docs/commands.md's help texts and listings are generated (python -m gaussea.cli_docs docs/commands.md)."""
    path = REPO / "docs" / "commands.md"
    committed = path.read_text(encoding="utf-8")
    for command in ("gaussea --help", "gaussea presets", "gaussea presets --show d_y_15k_v1"):
        assert f"<!-- generated: {command} -->" in committed
    assert render(committed) == committed, "stale: run `python -m gaussea.cli_docs docs/commands.md`"


def test_resuming_a_non_default_run_does_not_promise_the_default_result(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    """``gaussea run --resume --out DIR`` runs DIR's saved configuration, so the default run's expectation line
    is printed only when that configuration is the default one (the command line alone looks like a default run)."""
    from gaussea.cli import main

    out = str(tmp_path / "small")
    assert main(["run", "--out", out, "--stage1-epochs", "1", "--set", "data.options.num_entities=150",
                 "--threads", "1", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["run", "--out", out, "--resume", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "H@1" in printed and "expected for this default run" not in printed
