"""Extra ``gaussea`` subcommands, one module each.

Each module listed in :data:`COMMAND_MODULES` defines ``add_parser(subparsers) -> None``, which adds its
subcommand and sets ``func`` (taking the parsed ``argparse.Namespace``, returning an exit status). Modules are
imported when the parser is built, so keep their top-level imports light (import torch inside ``func``).
"""

COMMAND_MODULES: tuple[str, ...] = (
    "gaussea.commands.align",
    "gaussea.commands.explain",
    "gaussea.commands.report",
    "gaussea.presets",
    "gaussea.commands.download",
    "gaussea.commands.reproduce",
)
