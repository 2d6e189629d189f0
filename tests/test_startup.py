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


def test_build_and_pack_without_a_terminal_load_no_progress_bar_nor_wim_reader(tmp_path):
    """Piped (no terminal), build and pack draw no bar, so rich.progress (~25 ms) is not
    imported; writing a package needs neither the WIM reader nor the extractor (ppkgtool.wim's
    names are imported when used); a build makes only the setting definitions it uses."""
    doc = loaded("build", EXAMPLE, "-o", tmp_path / "b.ppkg", "--var", "SITE=Berlin")
    assert doc["rc"] == 0, doc["out"]
    mods = set(doc["modules"])
    assert "rich.progress" not in mods
    assert "ppkgtool.wim.writer" in mods
    assert not {"ppkgtool.wim.reader", "ppkgtool.wim.extract"} & mods
    tree = tmp_path / "tree"
    (tree / "Multivariant" / "0").mkdir(parents=True)
    (tree / "Multivariant" / "0" / "MasterDatastore.xml").write_bytes(b"<ConfigurationSourceList/>")
    doc = loaded("pack", tree, "-o", tmp_path / "p.ppkg")
    assert doc["rc"] == 0, doc["out"]
    assert "rich.progress" not in doc["modules"]


def test_setting_definitions_are_made_when_used():
    from ppkgtool.package.store import builtin_models, load_model
    default, models = builtin_models()
    model = load_model()
    paths = model.paths()
    assert len(paths) == len(model) > 1000
    made = sum(1 for p in paths if model._defs[p] is not None)
    d = model.get(paths[0].lower())          # any case, made now
    assert d is not None and d.path == paths[0] and model._defs[paths[0]] is d
    assert sum(1 for p in paths if model._defs[p] is not None) <= made + 1
    # the builds share one definition per table entry
    others = [m for name, m in models.items() if name != default and paths[0] in m]
    assert all(m.get(paths[0]) is d for m in others)
    assert [x.path for x in model] == paths            # iterating makes them all, in order
