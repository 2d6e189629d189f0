"""ppkgtool bulk."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "bulk", "provision and package many devices from a CSV", 10)
