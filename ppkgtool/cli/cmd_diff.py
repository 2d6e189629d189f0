"""ppkgtool diff."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "diff", "compare two packages", 8)
