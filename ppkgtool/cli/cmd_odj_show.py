"""ppkgtool odj show."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "show", "decode and show an ODJ blob in any form", 4)
