"""ppkgtool catalog learn."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "learn", "learn setting mappings from packages built by Microsoft tools", 6)
