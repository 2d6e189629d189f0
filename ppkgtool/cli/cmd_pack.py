"""ppkgtool pack."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "pack", "pack a folder laid out as a package into a .ppkg", 3)
