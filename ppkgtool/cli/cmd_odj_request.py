"""ppkgtool odj request."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "request", "inject an ODJ blob into an offline Windows image", 9)
