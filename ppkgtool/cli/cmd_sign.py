"""ppkgtool sign."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "sign", "sign a package (write a signed security catalog .cat)", 7)
