"""ppkgtool build-trust."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "build-trust", "build a companion package that trusts a signer", 7)
