"""Issue 18 item 10 through the CLI in-process: the smaller things a new user hit, and diff's matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ppkgtool.cli import main

CUSTOMIZATIONS = Path(__file__).resolve().parent.parent / "customizations" / "customizations.xml"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def encrypted(tmp_path, capsys):
    pw = tmp_path / "pw"
    pw.write_text("Abcdefgh12345678")
    pkg = tmp_path / "e.ppkg"
    code, _o, err = run(capsys, "build", CUSTOMIZATIONS, "-o", pkg, "--var", "SITE=X", "--encrypt",
                        "--encrypt-password-file", pw)
    assert code == 0, err
    return pkg


# "inspect of an encrypted package without its password prints 'ALTITUDE None', 'OwnerType None' (exit 0)"
def test_inspect_of_an_encrypted_package_without_password_says_what_is_unknown(encrypted, capsys):
    code, out, _err = run(capsys, "inspect", encrypted)
    assert code == 0
    assert "None" not in out
    assert "encrypted" in out and "unknown" in out and "--password-file" in out
    code, out, _err = run(capsys, "inspect", encrypted, "--json")
    doc = json.loads(out)
    assert doc["encrypted"] is True and doc["readable"] is False
    assert {"owner_type", "rank", "altitude", "settings"} <= set(doc["unknown_without_password"])
    assert "--password-file" in doc["hint"]
    assert "owner_type" not in doc or doc["owner_type"] is not None


# "'target SKUs Invalid' unexplained"
def test_target_skus_invalid_is_explained(real_ppkg, capsys):
    code, out, _err = run(capsys, "inspect", real_ppkg / "icd-cli-oobe.ppkg")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("target SKUs"))
    assert "Invalid" in line and "no target edition recorded" in line


# "build -o existingdir suggests --overwrite, which then refuses"
@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_build_into_a_folder_gives_the_same_right_hint(tmp_path, capsys, extra):
    d = tmp_path / "d"
    d.mkdir()
    code, _out, err = run(capsys, "build", CUSTOMIZATIONS, "-o", d, "--var", "SITE=X", *extra)
    assert code == 3
    assert "is a folder, not a regular file" in err and "--overwrite never replaces a folder" in err
    assert "use --overwrite" not in err
    assert list(d.iterdir()) == []


# "an unused --var is not warned about"
def test_an_unused_variable_is_warned_about(tmp_path, capsys):
    code, _out, err = run(capsys, "build", CUSTOMIZATIONS, "-o", tmp_path / "u.ppkg", "--var", "SITE=X",
                          "--var", "UNUSED=1")
    assert code == 0
    warned = [ln for ln in err.splitlines() if "UNUSED" in ln]
    assert len(warned) == 1 and "is not used" in warned[0]
    code, _out, err = run(capsys, "build", CUSTOMIZATIONS, "-o", tmp_path / "v.ppkg", "--var", "SITE=X")
    assert code == 0 and "is not used" not in err


# "asset-not-found messages double the backslashes"
def test_asset_not_found_message_shows_a_windows_path_once(tmp_path, capsys):
    xml = CUSTOMIZATIONS.read_text(encoding="utf-8-sig").replace(
        "<CommandLine>", "<CommandFile>D:\\apps\\setup.cmd</CommandFile><CommandLine>", 1)
    src = tmp_path / "c.xml"
    src.write_text(xml, encoding="utf-8")
    code, _out, err = run(capsys, "build", src, "-o", tmp_path / "x.ppkg", "--var", "SITE=X")
    assert code == 3, err
    assert "D:\\apps\\setup.cmd" in err and "D:\\\\apps" not in err


# "diff header 'policie', commands printed as a Python dict and matched by position instead of Name,
#  the same certificate reported as 'changed'"
def test_diff_matches_commands_by_name_and_names_things_right(tmp_path, capsys):
    from cryptography.hazmat.primitives import serialization
    from certs import make_cert, new_key
    from ppkgtool.regpol import PolicyValue, build_registry_pol
    cert = make_cert("Diff Root", new_key("ecdsa"), ca=True)
    root = tmp_path / "root.cer"
    root.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    pol = tmp_path / "Registry.pol"
    pol.write_bytes(build_registry_pol([PolicyValue.dword(r"Software\Policies\X", "Y", 1)]))
    a, b = tmp_path / "a.ppkg", tmp_path / "b.ppkg"
    # B has one command more, placed before site_marker: matching by position would pair the wrong ones
    assert run(capsys, "build", CUSTOMIZATIONS, "-o", a, "--var", "SITE=A", "--root-cert", root)[0] == 0
    assert run(capsys, "build", CUSTOMIZATIONS, "-o", b, "--var", "SITE=B", "--root-cert", root,
               "--policy", pol)[0] == 0
    code, out, _err = run(capsys, "diff", a, b)
    assert "policie\t" not in out and "\tpolicy\t" in out
    assert "{" not in out and "'" not in out.replace("\\'", "")
    code, out, _err = run(capsys, "diff", a, b, "--json")
    image = json.loads(out)   # one image each: the sections are at the top
    cmds = image["commands"]
    assert [c["command"] for c in cmds["changed"]] == ["PrimaryContext/site_marker"]
    assert [c["command"] for c in cmds["added"]] == ["PrimaryContext/RegistryPolicy_Registry"]
    assert cmds["removed"] == []
    certs = image["certificates"]
    assert certs["changed"] == [] and certs["added"] == [] and certs["removed"] == []
