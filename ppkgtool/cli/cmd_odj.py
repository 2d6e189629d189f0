"""ppkgtool odj: offline domain join blobs (provision, compose, show, request, facts).

Each subcommand lives in its own module ``cmd_odj_<verb>.py`` with ``register(subparsers)``.
"""

from __future__ import annotations

import importlib

SUBCOMMANDS = [("provision", "cmd_odj_provision"), ("compose", "cmd_odj_compose"),
               ("show", "cmd_odj_show"), ("request", "cmd_odj_request"), ("facts", "cmd_odj_facts")]


def register(sub) -> None:
    from ppkgtool.cli import command_parser, Parser

    p = command_parser(sub, "odj", "offline domain join: provision accounts, compose, show and inject blobs")
    p.set_defaults(_group_parser=p)
    odj_sub = p.add_subparsers(dest="odj_command", metavar="SUBCOMMAND", parser_class=Parser)
    for _name, module in SUBCOMMANDS:
        importlib.import_module(f"ppkgtool.cli.{module}").register(odj_sub)
