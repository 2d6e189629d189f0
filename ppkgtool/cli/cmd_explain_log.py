"""ppkgtool explain-log."""

from ppkgtool.cli._stub import register_stub


def register(sub) -> None:
    register_stub(sub, "explain-log", "explain an exported Provisioning-Diagnostics-Provider/Admin log", 8)
