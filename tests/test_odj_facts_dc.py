"""`ppkgtool odj facts` against the real Samba DC (issue 18, item 8): the facts file it writes is
what `odj compose --facts` takes, and a blob composed offline from it carries the same domain facts
as the one `odj provision` made for the same account; `odj show --json` output is accepted too."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ad_helpers import new_name
from ppkgtool.odj import load_blob
from samba_dc import kinit

pytestmark = pytest.mark.dc
ROOT = Path(__file__).resolve().parent.parent
DOMAIN_KEYS = ("dns_domain", "netbios_name", "dns_forest", "domain_sid", "domain_guid", "dc_name", "dc_address",
               "dc_address_type", "dc_flags", "dc_site", "client_site")


def ppkgtool(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ppkgtool", *args], capture_output=True, text=True, timeout=180,
                          cwd=ROOT, env=env or dict(os.environ), stdin=subprocess.DEVNULL)


def dc_args(dc):
    return ["--dc", dc.dc_name, "--dc-address", dc.address, "--ca-file", dc.ca_file, "--user", dc.admin_user,
            "--password-file", dc.admin_password_file()]


def test_facts_from_the_dc_compose_the_same_blob_facts(samba_dc, made, tmp_path):
    facts = tmp_path / "facts.json"
    p = ppkgtool("odj", "facts", "--domain", samba_dc.dns_domain, *dc_args(samba_dc), "-o", str(facts), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(facts.read_text())
    assert json.loads(p.stdout) == doc
    assert doc["dns_domain"].lower() == samba_dc.dns_domain.lower()
    assert doc["domain_sid"].startswith("S-1-5-21-") and doc["dc_address"] == samba_dc.address
    assert "password" not in facts.read_text().lower()

    # the same account: provisioned on the DC, then composed offline from the facts file
    name = new_name("F")
    made.append(name)
    save = tmp_path / "provisioned.odj"
    p = ppkgtool("odj", "provision", "--domain", samba_dc.dns_domain, "--machine", name, *dc_args(samba_dc),
                 "--savefile", str(save), "--json")
    assert p.returncode == 0, p.stderr
    provisioned = load_blob(save.read_bytes())
    pw = tmp_path / "machine.pass"
    pw.write_text(provisioned.machine_password)
    pw.chmod(0o600)
    composed_file = tmp_path / "composed.odj"
    p = ppkgtool("odj", "compose", "--facts", str(facts), "--machine", name, "--rid", str(provisioned.rid),
                 "--password-file", str(pw), "--savefile", str(composed_file))
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(composed_file.stat().st_mode) == 0o600
    shown = {}
    for f in (save, composed_file):
        p = ppkgtool("odj", "show", str(f), "--json")
        assert p.returncode == 0, p.stderr
        shown[f.name] = json.loads(p.stdout)
    for k in DOMAIN_KEYS + ("machine_name", "rid"):
        assert shown["composed.odj"][k] == shown["provisioned.odj"][k], k
    # and it joins: the DC accepts the composed blob's password for the account
    composed = load_blob(composed_file.read_bytes())
    r = kinit(samba_dc, f"{name}$", composed.machine_password, str(tmp_path / "cc"))
    assert r.returncode == 0, r.stderr

    # `odj show --json` of the provisioned blob serves as a facts file as well (its domain facts only)
    show_json = tmp_path / "show.json"
    show_json.write_text(json.dumps(shown["provisioned.odj"]))
    again = tmp_path / "again.odj"
    p = ppkgtool("odj", "compose", "--facts", str(show_json), "--machine", "OTHER01", "--generate-password",
                 "--savefile", str(again), "--json")
    assert p.returncode == 0, p.stderr
    other = json.loads(p.stdout)
    for k in ("dns_domain", "netbios_name", "domain_sid", "domain_guid", "dc_flags", "dc_site"):
        assert other[k] == shown["provisioned.odj"][k], k
    assert other["machine_name"] == "OTHER01" and other["rid"] is None   # not the other account's RID


def test_facts_refuses_the_wrong_domain(samba_dc, tmp_path):
    p = ppkgtool("odj", "facts", "--domain", "not-this.example", *dc_args(samba_dc), "-o", str(tmp_path / "f.json"),
                 "--json")
    assert p.returncode == 5, p.stderr
    assert json.loads(p.stdout)["error"]["code"] == 5
    assert not (tmp_path / "f.json").exists()
