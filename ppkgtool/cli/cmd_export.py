"""ppkgtool export."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "export", "export a package's customizations.xml", 6)
