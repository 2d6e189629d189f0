"""ppkgtool odj provision."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "provision", "create the computer account in AD and emit its ODJ blob", 5)
