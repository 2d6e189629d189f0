"""ppkgtool rank."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "rank", "order packages by precedence, with the reason for each step", 8)
