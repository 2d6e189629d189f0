"""ppkgtool catalog: the settings catalogue (customizations path -> provxml mappings)."""

from __future__ import annotations

import importlib

SUBCOMMANDS = [("learn", "cmd_catalog_learn")]


def register(sub) -> None:
    from ppkgtool.cli import command_parser, Parser

    p = command_parser(sub, "catalog", "the settings catalogue: learn mappings from packages built by Microsoft tools")
    p.set_defaults(_group_parser=p)
    csub = p.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", parser_class=Parser)
    for _name, module in SUBCOMMANDS:
        importlib.import_module(f"ppkgtool.cli.{module}").register(csub)
