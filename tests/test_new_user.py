"""What a new user hits (issue 18): each item reproduced as a user meets it, through the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from certs import make_pki
from ppkgtool.bulk.journal import Journal, option_drift
from ppkgtool.cli import main
from ppkgtool.security.catalog import parse_catalog

CN_XML = """<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{8f3c2a6e-1d4b-4e7a-9c5f-0b2d4e6f8a12}</ID><Name>cn</Name><Version>1.0</Version>
    <OwnerType>ITAdmin</OwnerType><Rank>1</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning"><Customizations><Common>
    <Accounts><ComputerAccount><ComputerName>$(CN)</ComputerName></ComputerAccount></Accounts>
    <Policies><TimeLanguageSettings><ConfigureTimeZone>$(TZ)</ConfigureTimeZone></TimeLanguageSettings></Policies>
  </Common></Customizations></Settings>
</WindowsCustomizations>
"""
FACTS = Path(__file__).resolve().parent.parent / "customizations" / "domain-facts.json"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# item 3: encrypt of a signed package, and verify's verdict
def test_encrypt_carries_a_signed_catalog_and_remakes_an_unsigned_one(tmp_path, capsys, monkeypatch):
    pki = make_pki(tmp_path / "pki")
    (tmp_path / "c.xml").write_text(CN_XML)
    monkeypatch.setenv("PW", "abcdefgh12345678")
    base = ["build", tmp_path / "c.xml", "--var", "CN=PC01", "--var", "TZ=W. Europe Standard Time"]
    assert run(capsys, *base, "-o", tmp_path / "signed.ppkg", "--sign-cert", pki.folder / "signer.pem",
               "--sign-key", pki.folder / "signer.key", "--sign-chain", pki.chain_pem)[0] == 0
    code, out, err = run(capsys, "encrypt", tmp_path / "signed.ppkg", "-o", tmp_path / "e.ppkg",
                         "--password-env", "PW", "--json")
    assert code == 0 and json.loads(out)["catalog_how"] == "carried" and "needs the package password" in err
    assert (tmp_path / "e.cat").read_bytes() == (tmp_path / "signed.cat").read_bytes()
    code, out, _ = run(capsys, "verify", tmp_path / "e.ppkg", "--trusted-provisioner", pki.root_pem, "--json")
    assert code == 4 and json.loads(out)["verdict"] == "needs-password"      # not "tampered"
    code, out, _ = run(capsys, "verify", tmp_path / "e.ppkg", "--trusted-provisioner", pki.root_pem,
                       "--password-env", "PW", "--json")
    assert code == 0 and json.loads(out)["verdict"] == "trusted"

    assert run(capsys, *base, "-o", tmp_path / "plain.ppkg")[0] == 0
    code, out, _ = run(capsys, "encrypt", tmp_path / "plain.ppkg", "-o", tmp_path / "pe.ppkg", "--password-env", "PW",
                       "--json")
    assert code == 0 and json.loads(out)["catalog_how"] == "remade"
    assert len(parse_catalog((tmp_path / "pe.cat").read_bytes()).members) >= 4   # plain (+padded) + encrypted
    code, out, _ = run(capsys, "verify", tmp_path / "pe.ppkg", "--json")
    assert json.loads(out)["verdict"] == "unsigned"                              # listed, without the password

    (tmp_path / "other.ppkg").write_bytes((tmp_path / "plain.ppkg").read_bytes())
    (tmp_path / "other.cat").write_bytes((tmp_path / "signed.cat").read_bytes())   # lists another package
    code, _, err = run(capsys, "encrypt", tmp_path / "other.ppkg", "-o", tmp_path / "oe.ppkg", "--password-env", "PW")
    assert code == 3 and "does not list this package" in err and not (tmp_path / "oe.ppkg").exists()


# item 4: sanity checks from the settings model
@pytest.mark.parametrize("cn,tz,fragment", [
    ("BRANCH-WORKSTATION-BERLIN", "W. Europe Standard Time", "at most 15"),
    ("PC01-%RAND:12%", "W. Europe Standard Time", "at most 15"),
    ("PC01", "Berlin/Europe", "not a Windows time zone"),
    ("PC01", "Europe/Berlin", "did you mean 'W. Europe Standard Time'"),
])
def test_bad_computer_names_and_time_zones_are_refused(tmp_path, capsys, cn, tz, fragment):
    (tmp_path / "c.xml").write_text(CN_XML)
    code, _, err = run(capsys, "build", tmp_path / "c.xml", "-o", tmp_path / "x.ppkg", "--var", f"CN={cn}",
                       "--var", f"TZ={tz}")
    assert code == 3 and fragment in err and "c.xml:" in err
    assert not (tmp_path / "x.ppkg").exists()


def test_computer_name_differing_from_the_odj_machine_is_warned(tmp_path, capsys):
    (tmp_path / "c.xml").write_text(CN_XML)
    assert run(capsys, "odj", "compose", "--facts", FACTS, "--machine", "NUPC01", "--generate-password",
               "--savefile", tmp_path / "nupc.odj")[0] == 0
    common = ["build", tmp_path / "c.xml", "--var", "TZ=w. europe standard time", "--odj", tmp_path / "nupc.odj"]
    code, _, err = run(capsys, *common, "--var", "CN=BR-%SERIAL%", "-o", tmp_path / "a.ppkg")
    assert code == 0 and "'BR-%SERIAL%' differs from 'NUPC01'" in err
    code, _, err = run(capsys, *common, "--var", "CN=NUPC01", "-o", tmp_path / "b.ppkg")
    assert code == 0 and "differs" not in err


def test_bulk_preflight_warns_of_the_mismatch_and_reports_a_template_error_once(tmp_path):
    from ppkgtool.bulk.adapters import TemplateBuilder
    from ppkgtool.bulk.devices import parse_devices
    from ppkgtool.package.builder import BuildOptions
    (tmp_path / "c.xml").write_text(CN_XML)
    devices = parse_devices(b"name,var:CN,var:TZ\nNUPC01,NUPC01,UTC\nNUPC02,BR-%SERIAL%,UTC\n", source_name="d.csv")
    b = TemplateBuilder(tmp_path / "c.xml", BuildOptions())
    try:
        warnings = b.preflight(devices)
    finally:
        b.close()
    assert len(warnings) == 1 and warnings[0].startswith("NUPC02 (line 3)") and "'BR-%SERIAL%'" in warnings[0]
    bad = parse_devices(b"name,var:CN\nPC01,PC01\nPC02,PC02\nPC03,PC03\n", source_name="d.csv")   # no TZ
    b = TemplateBuilder(tmp_path / "c.xml", BuildOptions())
    try:
        with pytest.raises(Exception) as exc:
            b.preflight(bad)
    finally:
        b.close()
    text = exc.value.one_line()
    assert "3 device(s) do not build (every device)" in text and text.count("unknown variable $(TZ)") == 1


# item 5: the hint names the options of the secret that is missing
def test_sign_without_a_pfx_password_names_the_pfx_options(tmp_path, capsys, real_ppkg, monkeypatch):
    pki = make_pki(tmp_path / "pki")
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    code, _, err = run(capsys, "sign", real_ppkg / "icd-cli-oobe.ppkg", "--cert", pki.pfx, "-o", tmp_path / "x.cat")
    assert code == 3 and "--pfx-password-file PATH or --pfx-password-env NAME" in err
    assert "use --password-file" not in err


# item 6: a re-run with different options is warned about
def test_journal_option_drift(tmp_path):
    path = tmp_path / "journal.jsonl"
    assert option_drift(path, {"domain": "test.lab"}) == []
    j = Journal(path)
    j.record_run({"domain": "test.lab", "sign_cert": "signer.pfx", "template": "ab"})
    j.record("PC01", "planned")
    j.close()
    assert option_drift(path, {"domain": "test.lab", "sign_cert": "signer.pfx", "template": "ab"}) == []
    drift = option_drift(path, {"domain": "test.lab", "template": "ab"})
    assert drift == ["sign_cert: signer.pfx before, not given now"]
    assert Journal(path).get("PC01") == "planned"       # run records do not disturb the device states


# item 7: multi-package commands say which file is bad
@pytest.mark.parametrize("command", ["rank", "resolve", "diff"])
def test_multi_package_commands_name_the_bad_file(tmp_path, capsys, real_ppkg, command):
    rand = tmp_path / "rand.ppkg"
    rand.write_bytes(os.urandom(4096))
    code, out, err = run(capsys, command, rand, real_ppkg / "icd-cli-oobe.ppkg", "--json")
    assert code == 3 and f"{rand}: " in err and "not a WIM" in err
    assert str(rand) in json.loads(out)["error"]["where"]


# item 10: a folder given as a package
def test_inspect_of_a_folder_says_so(tmp_path, capsys):
    code, _, err = run(capsys, "inspect", tmp_path)
    assert code == 3 and "is a folder, not a package file" in err
