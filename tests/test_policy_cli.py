"""ppkgtool policy (issue 18, item 10): a Registry.pol written from a text or JSON list, shown, and
round-tripped byte for byte through 'show --json' for real GPO files."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess

import pytest

from ppkgtool.cli import main
from ppkgtool.regpol import parse_registry_pol

LIST = """# machine policies for the branch
HKLM\\Software\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU;NoAutoRebootWithLoggedOnUsers;REG_DWORD;1
Software\\Policies\\Example\\Branch;Region;REG_SZ;EMEA;West
Software\\Policies\\Example\\Branch;Servers;REG_MULTI_SZ;a|b
Software\\Policies\\Example\\Branch;Big;QWORD;0x100000000
Software\\Policies\\Example\\Branch;Blob;REG_BINARY;01 02 ff
Software\\Policies\\Example\\Branch;Old;DELETE
Software\\Policies\\Example\\Legacy;;DELETEALLVALUES
"""


def _u16(s: str) -> bytes:
    return (s + "\x00").encode("utf-16-le")


def test_write_from_text_is_the_documented_layout(tmp_path, capsys):
    (tmp_path / "p.txt").write_text(LIST)
    out = tmp_path / "Registry.pol"
    assert main(["policy", "write", str(tmp_path / "p.txt"), "-o", str(out)]) == 0
    data = out.read_bytes()
    # [C: Registry Policy File Format]: PReg, version 1, [key;value;type;size;data]
    assert data[:8] == b"PReg\x01\x00\x00\x00"
    first = ("[".encode("utf-16-le") + _u16("Software\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU")
             + ";".encode("utf-16-le") + _u16("NoAutoRebootWithLoggedOnUsers") + ";".encode("utf-16-le")
             + struct.pack("<I", 4) + ";".encode("utf-16-le") + struct.pack("<I", 4) + ";".encode("utf-16-le")
             + struct.pack("<I", 1) + "]".encode("utf-16-le"))
    assert data[8:8 + len(first)] == first
    values = parse_registry_pol(data)
    assert [(v.value_name, v.value) for v in values] == [
        ("NoAutoRebootWithLoggedOnUsers", 1), ("Region", "EMEA;West"), ("Servers", ["a", "b"]),
        ("Big", 0x100000000), ("Blob", b"\x01\x02\xff"), ("**del.Old", " "), ("**delvals.", " ")]
    assert values[5].action == "delete value Old"
    if shutil.which("ndrdump") is None and os.environ.get("CI"):
        pytest.fail("ndrdump (samba-testsuite) is required in CI")
    if shutil.which("ndrdump"):   # Samba's preg.idl reads it as well
        proc = subprocess.run(["ndrdump", "preg", "preg_file", "struct", "--validate", str(out)],
                              capture_output=True, text=True, timeout=60)
        dump = proc.stdout + proc.stderr
        assert proc.returncode == 0 and "dump OK" in dump and "WARNING" not in dump
        assert "num_entries              : 0x00000007 (7)" in dump
        assert "valuename                : 'NoAutoRebootWithLoggedOnUsers'" in dump
    capsys.readouterr()
    assert main(["policy", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "NoAutoRebootWithLoggedOnUsers" in shown and "EMEA;West" in shown and "delete value Old" in shown
    assert main(["policy", "show", str(out), "--text"]) == 0
    again = tmp_path / "again.txt"
    again.write_text(capsys.readouterr().out)
    assert main(["policy", "write", str(again), "-o", str(tmp_path / "again.pol")]) == 0
    assert (tmp_path / "again.pol").read_bytes() == data


def test_bad_lines_name_the_line(tmp_path, capsys):
    (tmp_path / "p.txt").write_text("Software\\X;A;REG_DWORD;1\nSoftware\\X;B;REG_DWORD;lots\n")
    assert main(["policy", "write", str(tmp_path / "p.txt"), "-o", str(tmp_path / "x.pol"), "--json"]) == 3
    out, err = capsys.readouterr()
    assert "p.txt:2" in err and "REG_DWORD" in err
    assert json.loads(out)["error"]["where"].endswith("p.txt:2")
    assert not (tmp_path / "x.pol").exists()
    (tmp_path / "q.txt").write_text("Software\\X;A;REG_WORD;1\n")
    assert main(["policy", "write", str(tmp_path / "q.txt"), "-o", str(tmp_path / "x.pol")]) == 3
    assert "unknown type 'REG_WORD'" in capsys.readouterr().err


def test_real_gpo_files_round_trip_through_json(tmp_path, capsys, shared_fixtures):
    files = sorted((shared_fixtures / "corpus" / "regpol").glob("*.pol"))
    done = 0
    for pol in files:
        try:
            parse_registry_pol(pol.read_bytes())
        except Exception:
            continue   # the deliberately damaged copies
        capsys.readouterr()
        assert main(["policy", "show", str(pol), "--json"]) == 0, pol
        listing = tmp_path / f"{done}.json"
        listing.write_text(capsys.readouterr().out)
        out = tmp_path / f"{done}.pol"
        assert main(["policy", "write", str(listing), "-o", str(out)]) == 0
        assert out.read_bytes() == pol.read_bytes(), pol
        done += 1
    assert done >= 10


def test_the_written_file_builds_into_a_package(tmp_path, capsys):
    (tmp_path / "p.txt").write_text(LIST)
    pol = tmp_path / "Registry.pol"
    assert main(["policy", "write", str(tmp_path / "p.txt"), "-o", str(pol)]) == 0
    from test_cli_errors import PLAIN_XML
    (tmp_path / "c.xml").write_text(PLAIN_XML)
    assert main(["build", str(tmp_path / "c.xml"), "-o", str(tmp_path / "p.ppkg"), "--policy", str(pol)]) == 0
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "p.ppkg"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "NoAutoRebootWithLoggedOnUsers" in json.dumps(doc)
