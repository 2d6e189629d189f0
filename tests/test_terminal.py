"""Terminal output through a real pseudo-terminal (issue 18, item 1): setting keys such as
``[@UserName=admin]`` are text, not rich markup, and rows stay distinguishable at 80 and 120
columns (long paths are folded, never cut to identical ``…`` prefixes)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

PPKGTOOL = str(Path(sys.executable).with_name("ppkgtool"))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_in_pty(argv: list[str], columns: int, cwd: Path | None = None) -> tuple[int, str]:
    """``ppkgtool argv`` with stdout and stderr on a pseudo-terminal ``columns`` wide; (exit code, the
    screen text without escape sequences)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "TERM")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen([PPKGTOOL, *argv], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:   # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=60)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return code, _ANSI.sub("", text)


def _table_lines(screen: str) -> list[str]:
    """The lines rich drew (tables); plain warning lines on stderr are wrapped by the terminal."""
    return [ln for ln in screen.splitlines() if ln[:1] in "│┃┏┡├└━"]


def _rows(screen: str) -> list[list[str]]:
    """Rows of the tables on ``screen`` (rich box tables): each row a list of its cells, the folded
    lines of a cell joined."""
    rows: list[list[str]] = []
    current: list[str] | None = None
    for ln in screen.splitlines():
        if ln.startswith("│") or ln.startswith("┃"):
            parts = [p.strip() for p in ln.strip("│┃").split("│")]
            if current is None:
                current = parts
            else:
                current = [a + b for a, b in zip(current, parts)]
        elif current is not None:
            rows.append(current)
            current = None
    if current is not None:
        rows.append(current)
    return rows


@pytest.mark.parametrize("columns", [80, 120])
def test_resolve_keys_visible_and_rows_distinct(real_ppkg, columns):
    code, screen = run_in_pty(["resolve", str(real_ppkg / "icd-cli-oobe.ppkg"),
                               str(real_ppkg / "wcd-gui-commands-msi.ppkg")], columns)
    assert code == 0, screen
    assert max(len(ln) for ln in _table_lines(screen)) <= columns
    rows = _rows(screen)
    settings = [r[0] for r in rows if r and r[0].startswith(("Accounts/", "ProvisioningCommands/"))]
    assert "Accounts/Users/User[@UserName=admin]/Password" in settings, settings
    assert "Accounts/Users/User[@UserName=admin]/UserGroup" in settings
    per_package = [(r[0], r[1]) for r in rows if len(r) == 3 and r[1].startswith("ProvisioningCommands/")]
    assert len(per_package) >= 14, per_package
    assert len(set(per_package)) == len(per_package), per_package   # every command row is its own
    assert "…" not in screen


@pytest.mark.parametrize("columns", [80, 120])
def test_inspect_keys_visible(real_ppkg, columns):
    code, screen = run_in_pty(["inspect", str(real_ppkg / "icd-cli-oobe.ppkg")], columns)
    assert code == 0, screen
    flat = "".join(c for r in _rows(screen) for c in r)
    assert "[@UserName=admin]" in flat
    assert max(len(ln) for ln in _table_lines(screen)) <= columns
