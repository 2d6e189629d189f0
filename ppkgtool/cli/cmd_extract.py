"""ppkgtool extract."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "extract", "extract every file of a package into a folder, safely", 3)
