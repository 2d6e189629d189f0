"""ppkgtool inspect."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "inspect", "show what a package holds and does", 8)
