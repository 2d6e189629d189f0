"""ppkgtool deploy."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "deploy", "place a package where Windows picks it up (USB root, image)", 9)
