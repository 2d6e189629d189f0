"""Issue 17: the crashers found by fuzzing, as tests - each is a typed error (exit 3) naming the place,
or handled, never "internal error"; untrusted names are shown escaped and flagged."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import real_tree
from test_wim_helpers import dir_entry, file_entry, hostile_wim
from ppkgtool.wim.writer import write_wim

REPO = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "ppkgtool", *map(str, args)], capture_output=True, text=True,
                       timeout=300, cwd=cwd)
    assert "internal error" not in r.stderr, r.stderr
    return r


@pytest.fixture(scope="module")
def rank52(real_ppkg):
    return real_tree(real_ppkg / "wcd-itadmin-rank52.ppkg")


def test_explain_log_bad_utf16_and_superscript_digits(tmp_path):
    (tmp_path / "odd.xml").write_bytes(b"\xff\xfe\x41")
    r = cli("explain-log", tmp_path / "odd.xml")
    assert r.returncode == 3 and "odd.xml" in r.stderr
    (tmp_path / "sup.xml").write_bytes(
        '<Events><Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<EventRecordID>²</EventRecordID><EventID>¹</EventID><Level>³</Level></System></Event></Events>'.encode())
    r = cli("explain-log", tmp_path / "sup.xml", "--json")
    assert r.returncode == 0, r.stderr
    json.loads(r.stdout)


@pytest.mark.parametrize("altitude", ["x", "²", "-5", "99999999"])
def test_image_xml_altitude_that_is_not_a_number(rank52, tmp_path, altitude):
    files, props = rank52
    props = dict(props, ALTITUDE=altitude)
    pkg = tmp_path / "alt.ppkg"
    with open(pkg, "wb") as fh:
        write_wim(fh, files, props)
    for args in (("export", pkg), ("export", pkg, "--reconstruct"), ("inspect", pkg, "--json"),
                 ("rank", pkg, pkg, "--json")):
        r = cli(*args)
        assert r.returncode == 0, (args, r.stderr)
    assert json.loads(cli("inspect", pkg, "--json").stdout)["altitude"] in (None, 5052)


def test_reconstruct_with_a_space_in_a_characteristic_type(rank52, tmp_path):
    files, props = rank52
    files = dict(files)
    for k in [k for k in files if k.endswith(".provxml")]:
        files[k] = files[k].replace(b'<characteristic type="', b'<characteristic type="Odd Type ', 1)
    pkg = tmp_path / "space.ppkg"
    with open(pkg, "wb") as fh:
        write_wim(fh, files, props)
    r = cli("export", pkg, "--reconstruct")
    assert r.returncode == 0 and "not in the catalogue" in r.stderr, r.stderr
    assert cli("inspect", pkg).returncode == 0


def test_lone_surrogate_in_an_odj_blob_inside_a_package(tmp_path):
    r = cli("odj", "compose", "--facts", REPO / "customizations" / "domain-facts.json", "--machine", "PC01",
            "--rid", "1105", "--generate-password", "--binary", tmp_path / "pc01.bin")
    assert r.returncode == 0, r.stderr
    blob = (tmp_path / "pc01.bin").read_bytes()
    i = blob.find("PC01".encode("utf-16-le"))
    bad = blob[:i] + b"\x00\xd8" + blob[i + 2:]                  # 'P' -> an unpaired high surrogate
    (tmp_path / "bad.bin").write_bytes(bad)
    for args in (("odj", "show", tmp_path / "bad.bin"), ("odj", "show", tmp_path / "bad.bin", "--json")):
        r = cli(*args)
        assert r.returncode in (0, 3), r.stderr
        if "--json" in args and r.returncode == 0:
            assert json.loads(r.stdout)["machine_name"] == "\ud800C01"
        elif r.returncode == 0:
            assert "\\ud800C01" in r.stdout
    (tmp_path / "c.xml").write_bytes((REPO / "customizations" / "customizations.xml").read_bytes())
    r = cli("build", tmp_path / "c.xml", "-o", tmp_path / "p.ppkg", "--odj", tmp_path / "bad.bin", "--var", "SITE=x")
    assert r.returncode in (0, 3), r.stderr
    if r.returncode == 3:
        assert not (tmp_path / "p.ppkg").exists()
        return
    for args in (("inspect", tmp_path / "p.ppkg"), ("inspect", tmp_path / "p.ppkg", "--json"),
                 ("diff", tmp_path / "p.ppkg", tmp_path / "p.ppkg", "--json")):
        r = cli(*args)
        assert r.returncode == 0, (args, r.stderr)
        if "--json" in args:
            json.loads(r.stdout)                                  # one complete document


def test_unsafe_and_control_character_names_are_flagged_and_escaped(tmp_path):
    root = dir_entry("", dir_entry("Multivariant", dir_entry("0", file_entry("..", b"x"),
                                                             file_entry("a\x1b[31mb.txt", b"y"))))
    pkg = tmp_path / "names.ppkg"
    pkg.write_bytes(hostile_wim(root, [b"x", b"y"]))
    r = cli("inspect", pkg)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout and "a\\x1b[31mb.txt" in r.stdout
    assert "'..'" in r.stdout and "extract refuses this package" in r.stdout
    doc = json.loads(cli("inspect", pkg, "--json").stdout)
    assert any("extract refuses" in str(w) for w in doc.get("warnings", []) + doc.get("problems", []))
    r = cli("extract", pkg, tmp_path / "out")
    assert r.returncode == 3 and not (tmp_path / "out").exists()
