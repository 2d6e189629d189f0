"""Registration helper for commands whose implementation has not landed yet.

A stub never pretends to work: it says so and exits 1.
"""

from __future__ import annotations

from ppkgtool.errors import NotImplementedCommand


def register_stub(sub, name: str, help: str, issue: int):
    from ppkgtool.cli import command_parser

    p = command_parser(sub, name, f"{help} [not implemented yet]")

    def run(args) -> int:
        raise NotImplementedCommand(f"'{name}' is not implemented yet (tracked in issue {issue})")

    p.set_defaults(func=run)
    return p
