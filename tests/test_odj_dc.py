"""Blobs made by Samba's `net offlinejoin provision` against the real test DC decode, re-encode
byte for byte, and their machine password obtains a Kerberos ticket with MIT kinit."""

from __future__ import annotations

import secrets

import pytest

from netjoin import delete_computer, net_offlinejoin_provision
from ppkgtool.cli import main
from ppkgtool.odj.summary import summarize
from ppkgtool.odj import decode_provision_data, encode_provision_data, load_blob
from ppkgtool.odj.textforms import blob_bytes
from samba_dc import kinit

pytestmark = pytest.mark.dc


@pytest.fixture
def machine(samba_dc):
    name = "ODJT" + secrets.token_hex(4).upper()
    yield name
    delete_computer(samba_dc, name)


def test_net_offlinejoin_blob_decodes_and_its_password_gets_a_ticket(samba_dc, machine, tmp_path):
    save = net_offlinejoin_provision(samba_dc, tmp_path, machine)
    raw = save.read_bytes()
    blob, form = blob_bytes(raw)
    assert form == "savefile"
    pd = load_blob(raw)
    assert encode_provision_data(pd) == blob          # Samba's referent ids are reused: byte-exact
    s = summarize(pd)
    assert s["machine_name"].upper() == machine
    assert s["dns_domain"] == samba_dc.dns_domain and s["netbios_name"] == samba_dc.domain
    assert s["dc_name"].lower() == "\\\\" + samba_dc.dc_name
    assert s["domain_sid"].startswith("S-1-5-21-")
    assert s["rid"] is not None and s["machine_sid"] == f"{s['domain_sid']}-{s['rid']}"
    assert [p["type"] for p in s["parts"]] == ["JOIN_PROVIDER", "JOIN_PROVIDER3"]
    assert len(pd.machine_password) == 120
    ok = kinit(samba_dc, f"{machine}$@{samba_dc.realm}", pd.machine_password, str(tmp_path / "cc"))
    assert ok.returncode == 0, ok.stderr
    bad = kinit(samba_dc, f"{machine}$@{samba_dc.realm}", pd.machine_password[:-1] + "x", str(tmp_path / "cc2"))
    assert bad.returncode != 0


def test_net_offlinejoin_default_password_blob(samba_dc, machine, tmp_path, capsys):
    save = net_offlinejoin_provision(samba_dc, tmp_path, machine, defpwd=True)
    pd = decode_provision_data(blob_bytes(save.read_bytes())[0])
    # Windows uses the name in lower case; Samba 4.17 uses it as given (upper case here)
    assert pd.machine_password.lower() == machine.lower()
    assert summarize(pd)["default_password"] is True
    assert pd.win7.options & 0x4
    ok = kinit(samba_dc, f"{machine}$@{samba_dc.realm}", pd.machine_password, str(tmp_path / "cc"))
    assert ok.returncode == 0, ok.stderr
    # the CLI shows it, password redacted by default
    assert main(["odj", "show", str(save), "--json"]) == 0
    out = capsys.readouterr().out
    assert machine in out.upper() and "machine_password" not in out
