"""ppkgtool encrypt."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "encrypt", "encrypt a package the way Windows decrypts it", 7)
