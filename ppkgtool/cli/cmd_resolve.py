"""ppkgtool resolve."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "resolve", "show the effective value of every setting across packages", 8)
