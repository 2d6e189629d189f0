"""ppkgtool decrypt."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "decrypt", "decrypt an encrypted package", 7)
