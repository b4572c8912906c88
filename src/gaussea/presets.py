"""Named configuration presets: the paper's settings and one per dataset, as TOML files shipped with gaussea.

Why presets: the paper's values are scattered over its sections (variance init, clamp range, two stages, CSLS,
seed share) and a reproduction should not depend on someone retyping them. A preset is a partial config with the
same sections as :meth:`gaussea.config.RunConfig.to_dict` (``data``, ``model``, ``train``, ``eval``, plus the
top-level ``model_name``), applied *before* a ``--config`` file and command-line flags, so anything can still be
overridden; in particular ``--dataset`` wins over a dataset preset's ``data.dataset`` (the run is then named
after the dataset given, and a folder that is clearly not that dataset is flagged by
:meth:`gaussea.data.registry.DatasetRegistry.identity_warning`). A preset may name another in ``extends``
(dataset presets extend ``paper``); ``description`` is shown by ``gaussea presets``. Files live in
``gaussea/resources/presets/*.toml``; a path to any ``.toml`` file works as a name too, so users can keep their
own presets (which may extend the built-in ones).
"""

from __future__ import annotations

import argparse
import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

PRESET_PACKAGE = "gaussea"
PRESET_DIR = ("resources", "presets")
META_KEYS = frozenset({"description", "extends"})
SECTIONS = ("data", "model", "train", "eval")
MAX_EXTENDS_DEPTH = 8


def _preset_root() -> Any:
    root = resources.files(PRESET_PACKAGE)
    for part in PRESET_DIR:
        root = root / part
    return root


def preset_names() -> list[str]:
    """Names of the built-in presets, sorted."""
    return sorted(p.name[:-5] for p in _preset_root().iterdir() if p.name.endswith(".toml"))


def _toml_loads(text: str) -> dict[str, Any]:
    """``tomllib.loads`` (Python >= 3.11), falling back to the ``tomli`` backport on 3.10."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            from gaussea.errors import MissingDependencyError

            raise MissingDependencyError("reading TOML presets on Python 3.10 needs tomli: pip install tomli") from None
    return tomllib.loads(text)


def _read(name: str) -> dict[str, Any]:
    path = Path(name)
    if name.endswith(".toml") and path.is_file():
        text = path.read_text(encoding="utf-8")
        where = str(path)
    else:
        res = _preset_root() / f"{name}.toml"
        if not res.is_file():
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(preset_names())} (or a path to a .toml file)")
        text = res.read_text(encoding="utf-8")
        where = f"preset {name}"
    try:
        return _toml_loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        if "tomli" in str(exc):
            raise
        raise ValueError(f"{where}: invalid TOML ({exc})") from None


def merge_sections(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Update ``base`` in place with ``overlay``: tables (dicts) are merged key by key at every depth, other
    values replaced.

    At every depth so that a preset's ``[model.options]`` adds to those of the preset it extends (and a
    ``--config`` file's to the preset's) rather than replacing them. ``gaussea run --config`` applies the same
    rule, so a preset and a config file compose.
    """
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_sections(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def preset_description(name: str) -> str:
    return str(_read(name).get("description", ""))


def load_preset(name: str) -> dict[str, Any]:
    """The resolved preset ``name``: a dict of config sections (``extends`` applied, meta keys removed).

    Raises ValueError for an unknown name, a cycle or too deep a chain of ``extends``, or invalid TOML.
    """
    chain: list[dict[str, Any]] = []
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        if current in seen:
            raise ValueError(f"preset {name!r}: 'extends' cycle {' -> '.join([*seen, current])}")
        if len(seen) >= MAX_EXTENDS_DEPTH:
            raise ValueError(f"preset {name!r}: 'extends' chain longer than {MAX_EXTENDS_DEPTH}")
        seen.append(current)
        data = _read(current)
        chain.append(data)
        parent = data.get("extends")
        if parent is not None and not isinstance(parent, str):
            raise ValueError(f"preset {current!r}: 'extends' must be a preset name")
        current = parent
    out: dict[str, Any] = {}
    for data in reversed(chain):
        merge_sections(out, {k: v for k, v in data.items() if k not in META_KEYS})
    unknown = sorted(k for k in out if k not in (*SECTIONS, "model_name"))
    if unknown:
        raise ValueError(f"preset {name!r}: unknown top-level key(s) {unknown}; valid: {[*SECTIONS, 'model_name']}")
    return out


def apply_preset(cfg_dict: dict[str, Any], name: str) -> dict[str, Any]:
    """Apply preset ``name`` to a full config dict (``RunConfig().to_dict()``) in place; returns it.

    This is the whole ``gaussea run --preset`` hook: call it on the defaults before the config file and flags.
    """
    return merge_sections(cfg_dict, load_preset(name))


def preset_config(name: str) -> Any:
    """The :class:`~gaussea.config.RunConfig` of a preset (defaults + preset), validated."""
    from gaussea.config import RunConfig

    return RunConfig.from_dict(apply_preset(RunConfig().to_dict(), name))


# --- command ---------------------------------------------------------------------------------------------
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    s = subparsers.add_parser("presets", help="list configuration presets (gaussea run --preset NAME)",
                              description="List the built-in presets, or show one resolved (with --show).")
    s.add_argument("--show", metavar="NAME", help="print the resolved preset (sections it sets)")
    s.add_argument("--full", action="store_true", help="with --show: the complete config (defaults + preset)")
    s.add_argument("--json", action="store_true", help="print JSON (the list, or with --show the preset)")
    s.set_defaults(func=cmd_presets)


def cmd_presets(args: argparse.Namespace) -> int:
    if args.show:
        data = preset_config(args.show).to_dict() if args.full else load_preset(args.show)
        if args.json or args.full:
            print(json.dumps(data, indent=2))
        else:
            print(_to_toml(data), end="")
        return 0
    rows = [(n, preset_description(n)) for n in preset_names()]
    if args.json:
        print(json.dumps(dict(rows), indent=2))
        return 0
    width = max((len(name) for name, _ in rows), default=0)
    for name, desc in rows:  # descriptions in one column, however long the longest name
        print(f"{name:{width}s}  {desc}")
    return 0


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


def _to_toml(data: dict[str, Any]) -> str:
    """Minimal TOML writer for preset dicts (scalars, lists, one level of tables): for display only."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, values in data.items():
        if isinstance(values, dict):
            lines += ["", f"[{section}]", *[f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]]
    return "\n".join(lines).lstrip("\n") + "\n"
