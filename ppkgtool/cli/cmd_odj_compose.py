"""ppkgtool odj compose."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "compose", "compose an ODJ blob offline from domain facts", 4)
