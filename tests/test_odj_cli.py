"""`ppkgtool odj show` and `ppkgtool odj compose` as users run them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys


from ppkgtool.odj.summary import summarize
from ppkgtool.cli import main
from ppkgtool.odj import load_blob
from ppkgtool.regpol import build_registry_pol
from test_odj_support import DOMAIN_GUID, make_ca, policy_values

FACTS = {"dns_domain": "test.lab", "netbios_name": "TEST", "dns_forest": "test.lab",
         "domain_sid": "S-1-5-21-1000000001-2000000002-3000000003", "domain_guid": str(DOMAIN_GUID),
         "dc_name": "dc1.test.lab", "dc_address": "127.0.0.1", "dc_flags": "0xe00013fd",
         "dc_site": "Default-First-Site-Name", "client_site": "Branch"}
REQUIRED_KEYS = ("version", "machine_name", "domain", "netbios_name", "dns_domain", "dns_forest", "domain_guid",
                 "domain_sid", "dc_name", "dc_address", "dc_address_type", "dc_flags", "dc_site", "client_site",
                 "options", "rid", "parts")


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_json_of_the_windows_blob(capsys, real_odj):
    code, out, _ = run_cli(capsys, "odj", "show", str(real_odj / "windows-w2k19-provision-data.b64.txt"), "--json")
    assert code == 0
    doc = json.loads(out)
    for k in REQUIRED_KEYS:
        assert k in doc, k
    assert doc["form"] == "base64" and doc["rid"] == 1605 and doc["dc_flags"] == 0xE003F3FD
    assert doc["parts"][1] == {"type": "JOIN_PROVIDER3", "guid": "fc0ccf25-7ffa-474a-8611-69ffe269645f",
                               "flags": 0, "essential": False, "rid": 1605,
                               "sid": "S-1-5-21-306967272-1096148586-1957995587-1605"}
    assert "machine_password" not in doc
    code, out, _ = run_cli(capsys, "odj", "show", str(real_odj / "windows-w2k19-provision-data.bin"), "--json",
                           "--show-secrets")
    assert json.loads(out)["machine_password"] == "wurst2"


def test_show_text_redacts(capsys, real_odj):
    code, out, _ = run_cli(capsys, "odj", "show", str(real_odj / "windows-w2k19-provision-data.bin"))
    assert code == 0
    assert "<redacted" in out and "JOIN_PROVIDER3" in out and "S-1-5-21-306967272-1096148586-1957995587" in out
    assert "USE_DEFAULT_PASSWORD" in out and "DS_WRITABLE_FLAG" in out


def test_show_errors_have_exit_codes(capsys, tmp_path, real_odj):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    code, out, err = run_cli(capsys, "odj", "show", str(empty))
    assert code == 3 and "2709" in err and out == ""
    bad = tmp_path / "bad.bin"
    bad.write_bytes((real_odj / "windows-w2k19-provision-data.bin").read_bytes()[:300])
    code, _, err = run_cli(capsys, "odj", "show", str(bad))
    assert code == 3 and "2710" in err and "offset 0x" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "odj", "show", str(tmp_path / "missing"))
    assert code == 3 and "cannot read" in err


def test_compose_savefile_json_and_show_round_trip(capsys, tmp_path):
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"_comment": "example facts", **FACTS}))
    pwfile = tmp_path / "pw"
    pwfile.write_text("Machine-Pa55w0rd\u00e9\n")
    save = tmp_path / "PC01.txt"
    code, out, err = run_cli(capsys, "odj", "compose", "--facts", str(facts), "--machine", "PC01", "--rid", "1105",
                             "--password-file", str(pwfile), "--savefile", str(save), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["password"] == "given" and "machine_password" not in doc and "Pa55w0rd" not in out
    assert doc["client_site"] == "Branch" and doc["dc_flags"] == 0xE00013FD and doc["rid"] == 1105
    assert stat.S_IMODE(os.stat(save).st_mode) == 0o600
    raw = save.read_bytes()
    assert raw[:2] == b"\xff\xfe" and raw[-2:] == b"\x00\x00"
    pd = load_blob(raw)
    assert pd.machine_password == "Machine-Pa55w0rd\u00e9" and pd.rid == 1105
    assert pd.win7.dc_info.dc_name == r"\\dc1.test.lab"
    # no overwrite without --overwrite
    code, _, err = run_cli(capsys, "odj", "compose", "--facts", str(facts), "--machine", "PC01",
                           "--savefile", str(save))
    assert code == 3 and "exists" in err
    code, out, _ = run_cli(capsys, "odj", "show", str(save), "--json", "--show-secrets")
    assert json.loads(out)["machine_password"] == "Machine-Pa55w0rd\u00e9"


def test_compose_options_generated_password_unattend_and_parts(capsys, tmp_path):
    ca_der, _k, _c = make_ca()
    ca = tmp_path / "ca.der"
    ca.write_bytes(ca_der)
    pol = tmp_path / "Registry.pol"
    pol.write_bytes(build_registry_pol(policy_values()))
    unattend = tmp_path / "unattend.xml"
    args = ["odj", "compose", "--domain", "test.lab", "--netbios", "TEST", "--domain-sid", FACTS["domain_sid"],
            "--domain-guid", str(DOMAIN_GUID), "--dc-name", "dc1.test.lab", "--dc-address", "10.1.2.3",
            "--machine", "KIOSK7", "--rid", "2001", "--object-guid", "0a0b0c0d-1111-4222-8333-944455556666",
            "--join-provider4", "--psite", "Branch", "--root-ca-file", str(ca), "--policypaths", str(pol),
            "--unattend", str(unattend), "--pass", "offlineServicing", "--printblob", "--show-secrets"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    blob_text = out.strip()
    pd = load_blob(blob_text.encode())
    assert load_blob(unattend.read_bytes()) == pd
    assert b"OfflineIdentification" in unattend.read_bytes()
    assert stat.S_IMODE(os.stat(unattend).st_mode) == 0o600
    assert len(pd.machine_password) == 120
    s = summarize(pd)
    assert [p["type"] for p in s["parts"]] == ["JOIN_PROVIDER", "JOIN_PROVIDER3", "JOIN_PROVIDER2",
                                               "JOIN_PROVIDER4", "CERT_PROVIDER", "POLICY_PROVIDER"]
    assert s["parts"][2]["persistent_site"] is True and s["parts"][2]["site_name"] == "Branch"
    assert "ROOT_CA_CERTS" in s["option_names"]
    assert len(s["parts"][5]["element_lists"][0]["values"]) == len(policy_values())
    code, out, _ = run_cli(capsys, "odj", "show", str(unattend))
    assert "ppkgtool Test Root CA" in out and "EnableSmartScreen" in out


def test_compose_default_password_and_usage_errors(capsys, tmp_path):
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps(FACTS))
    out_file = tmp_path / "b.bin"
    code, _, err = run_cli(capsys, "odj", "compose", "--facts", str(facts), "--machine", "Pc09",
                           "--default-password", "--binary", str(out_file))
    assert code == 0, err
    pd = load_blob(out_file.read_bytes())
    assert pd.machine_password == "pc09" and pd.win7.options == 4
    code, _, err = run_cli(capsys, "odj", "compose", "--facts", str(facts), "--machine", "PC09")
    assert code == 2 and "--savefile" in err
    code, _, err = run_cli(capsys, "odj", "compose", "--machine", "PC09", "--printblob")
    assert code == 2 and "--domain" in err
    code, _, err = run_cli(capsys, "odj", "compose", "--facts", str(facts), "--machine", "PC09",
                           "--domain-sid", "S-1-x", "--printblob")
    assert code == 3 and "SID" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dns_domian": "x"}))
    code, _, err = run_cli(capsys, "odj", "compose", "--facts", str(bad), "--machine", "PC09", "--printblob")
    assert code == 3 and "dns_domian" in err


def test_console_script_runs(real_odj):
    proc = subprocess.run([sys.executable, "-m", "ppkgtool", "odj", "show", "--json",
                           str(real_odj / "windows-w2k19-provision-data.b64.txt")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["machine_name"] == "wurst2"


def test_compose_and_provision_share_one_rule(tmp_path):
    """odj compose and odj provision (and bulk, through ProvisionRequest) turn a request into the
    same options, JOIN_PROVIDER2 part, default password and machine-name verdicts (odj.request)."""
    import pytest as _pytest

    from ppkgtool.ad.provision import ProvisionRequest
    from ppkgtool.bulk.devices import check_machine_name as bulk_rule
    from ppkgtool.odj import MachineFacts
    from ppkgtool.odj.request import InvalidMachineNameError, JoinRequest

    for kw in ({}, {"default_password": True}, {"psite": "Branch"}, {"dsite": "HQ", "primarydns": "corp.test"},
               {"rootcacerts": True}, {"netbios": "KIOSK07", "machine": "kiosk-07-build-agent-linux"}):
        machine = kw.pop("machine", "KIOSK7")
        req = ProvisionRequest(machine=machine, **kw)
        join = JoinRequest(machine=machine, netbios=kw.get("netbios"), default_password=kw.get("default_password", False),
                           root_ca_certs=kw.get("rootcacerts", False), psite=kw.get("psite"), dsite=kw.get("dsite"),
                           primarydns=kw.get("primarydns"))
        assert req.join == join
        assert (req.join.options, req.join.join_provider2(), req.join.default_password_text,
                req.join.blob_machine_name) == (join.options, join.join_provider2(), join.default_password_text,
                                                join.blob_machine_name)
    # one machine-name rule everywhere
    for name, ok in (("PC01", True), ("PC_01", False), ("-PC", False), ("1234", False), ("A" * 15, True),
                     ("A" * 16, False), ("PC-01", True)):
        verdicts = []
        for check in (lambda n: JoinRequest(machine=n), lambda n: ProvisionRequest(machine=n),
                      lambda n: MachineFacts(n, "pw")):
            try:
                check(name)
                verdicts.append(True)
            except (InvalidMachineNameError, ValueError):
                verdicts.append(False)
        verdicts.append(bulk_rule(name) is None)
        assert verdicts == [ok] * 4, (name, verdicts)
    with _pytest.raises(InvalidMachineNameError):
        JoinRequest(machine="PC_01")
