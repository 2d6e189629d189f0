"""Start-up of the commands (issue 19): a process loads what its command needs and no more, since
with outputs of 0.3 s start-up is a large share of a command's time. Each case runs a fresh
interpreter and lists the modules loaded once the command has finished."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "customizations" / "customizations.xml"

_PROBE = """
import contextlib, io, json, sys
from ppkgtool.cli import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        rc = main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
print(json.dumps({"rc": rc, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def loaded(*argv) -> dict:
    r = subprocess.run([sys.executable, "-c", _PROBE, *map(str, argv)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_version_builds_no_command_parser():
    from ppkgtool import __version__
    doc = loaded("--version")
    assert doc["rc"] == 0 and doc["out"].strip() == f"ppkgtool {__version__}"
    assert not [m for m in doc["modules"] if m.startswith("ppkgtool.cli.cmd_")]


def test_help_still_lists_every_command():
    from ppkgtool.cli import COMMANDS
    doc = loaded("--help")
    assert doc["rc"] == 0
    for name, _module in COMMANDS:
        assert name in doc["out"]


def test_encrypt_decrypt_and_build_load_only_their_libraries(tmp_path, real_ppkg):
    """encrypt loads no x509 (no catalog to carry), no transport envelope code and no ODJ
    modules; build without --odj loads no ODJ modules; decrypt no x509."""
    small = real_ppkg / "icd-cli-oobe.ppkg"
    pw = tmp_path / "pw"
    pw.write_text("Bench-Password16")
    enc = tmp_path / "e.ppkg"
    doc = loaded("encrypt", small, "-o", enc, "--password-file", pw, "--no-catalog")
    assert doc["rc"] == 0 and enc.is_file()
    mods = set(doc["modules"])
    assert "cryptography.x509" not in mods and "ppkgtool.security.verify" not in mods
    assert not {m for m in mods if m.startswith("ppkgtool.odj")}
    assert "socket" not in mods
    doc = loaded("decrypt", enc, "-o", tmp_path / "d.ppkg", "--password-file", pw)
    assert doc["rc"] == 0 and "cryptography.x509" not in doc["modules"]

    doc = loaded("build", EXAMPLE, "-o", tmp_path / "b.ppkg", "--var", "SITE=Berlin", "--no-catalog")
    assert doc["rc"] == 0, doc["out"]
    assert not {m for m in doc["modules"] if m.startswith("ppkgtool.odj")}
