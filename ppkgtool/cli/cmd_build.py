"""ppkgtool build."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "build", "build a .ppkg from a customizations.xml", 6)
