"""ppkgtool verify."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "verify", "verify a package's catalog signature and trust", 7)
