"""`ppkgtool odj provision` end to end against the real Samba DC: outputs, exit codes, root CAs, GPOs."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ppkgtool.odj import decode_provision_data, load_blob
from ppkgtool.regpol import REG_DWORD, PolicyValue, build_registry_pol, parse_registry_pol
from ad_helpers import directory, new_name
from samba_dc import client_env, kinit

pytestmark = pytest.mark.dc
ROOT = Path(__file__).resolve().parent.parent


def run_cli(dc, *args, env_extra=None, stdin=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "ppkgtool", "odj", "provision", "--domain", dc.dns_domain, "--dc", dc.dc_name,
           "--dc-address", dc.address, "--user", dc.admin_user, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
                          stdin=subprocess.DEVNULL if stdin is None else stdin)


def base_args(dc, *more):
    return ["--ca-file", dc.ca_file, "--password-file", dc.admin_password_file(), *more]


def test_savefile_json_and_kinit(samba_dc, made, tmp_path):
    name = new_name("V")
    made.append(name)
    save = tmp_path / "odj.txt"
    p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--savefile", str(save), "--json"))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["machine"] == name and doc["created"] and doc["sam_account_name"] == f"{name}$"
    assert doc["parts"] == ["JOIN_PROVIDER", "JOIN_PROVIDER3", "JOIN_PROVIDER4"]
    raw = save.read_bytes()
    assert raw[:2] == b"\xff\xfe" and raw[-2:] == b"\x00\x00"
    assert stat.S_IMODE(save.stat().st_mode) == 0o600
    pd = load_blob(raw)
    assert pd.machine_password not in p.stdout + p.stderr     # no secret in the summary
    assert pd.rid == doc["rid"]
    r = kinit(samba_dc, f"{name}$", pd.machine_password, str(tmp_path / "cc"))
    assert r.returncode == 0, r.stderr
    # djoin's save file is read by Samba too
    b64 = tmp_path / "b64.txt"
    b64.write_text(raw[2:-2].decode("utf-16-le"))
    out = subprocess.run(["ndrdump", "ODJ", "ODJ_PROVISION_DATA_serialized_ptr", "struct", "--base64-input",
                          str(b64)], capture_output=True, text=True, timeout=60)
    assert "pull returned Success" in out.stdout


def test_password_forms(samba_dc, made, tmp_path):
    """The default is djoin's form (120 UTF-16 units); --password-form compact gives 64 printable
    ASCII characters. Both get a Kerberos ticket, and the second provision still says 2224 with the
    existing account's DN (the add is tried first, the lookup only explains a failure)."""
    forms = {}
    for form in ("windows", "compact"):
        name = new_name("F")
        made.append(name)
        save = tmp_path / f"{form}.txt"
        extra = () if form == "windows" else ("--password-form", "compact")
        p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--savefile", str(save), *extra))
        assert p.returncode == 0, p.stderr
        pw = load_blob(save.read_bytes()).machine_password
        forms[form] = pw
        r = kinit(samba_dc, f"{name}$", pw, str(tmp_path / f"cc-{form}"))
        assert r.returncode == 0, r.stderr
    assert len(forms["windows"]) == 120 and not forms["windows"].isascii()
    assert len(forms["compact"]) == 64 and forms["compact"].isascii() and forms["compact"].isprintable()
    again = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--savefile", str(tmp_path / "again.txt")))
    assert again.returncode == 5 and "(error 2224)" in again.stderr and f"CN={name}," in again.stderr


def test_printblob_and_unattend(samba_dc, made, tmp_path):
    name = new_name("W")
    made.append(name)
    unattend = tmp_path / "unattend.xml"
    p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--printblob", "--show-secrets", "--unattend", str(unattend)))
    assert p.returncode == 0, p.stderr
    blob = base64.b64decode(p.stdout.strip())
    pd = decode_provision_data(blob)
    assert pd.machine_name == name
    assert stat.S_IMODE(unattend.stat().st_mode) == 0o600
    assert load_blob(unattend.read_bytes()).machine_password == pd.machine_password
    assert b"AccountData" in unattend.read_bytes()


def test_existing_output_is_refused_before_any_account(samba_dc, session, tmp_path):
    name = new_name("X")
    save = tmp_path / "exists.txt"
    save.write_text("keep me")
    p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--savefile", str(save)))
    assert p.returncode == 3 and "already exists" in p.stderr
    assert save.read_text() == "keep me"
    assert session.computer_exists(name) is None


def test_second_provision_is_2224_and_reuse_works(samba_dc, made, tmp_path):
    name = new_name("R")
    made.append(name)
    assert run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--savefile", str(tmp_path / "1"))).returncode == 0
    p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--savefile", str(tmp_path / "2")))
    assert p.returncode == 5 and "(error 2224)" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "2").exists()
    p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--savefile", str(tmp_path / "2"), "--reuse"))
    assert p.returncode == 0, p.stderr
    old, new = load_blob((tmp_path / "1").read_bytes()), load_blob((tmp_path / "2").read_bytes())
    assert kinit(samba_dc, f"{name}$", old.machine_password, str(tmp_path / "c1")).returncode != 0
    assert kinit(samba_dc, f"{name}$", new.machine_password, str(tmp_path / "c2")).returncode == 0


@pytest.mark.parametrize("case,code,exit_code,text", [
    ("wrong-password", 1326, 5, "rejected the user name or password"),
    ("unreachable", 1355, 5, "cannot reach the DC"),
    ("bad-ou", 8240, 5, "does not exist"),
    ("bad-ou-syntax", 87, 3, "not a distinguished name"),
    ("untrusted-cert", 0x80090325, 5, "cannot verify the certificate"),
    ("no-password-source", None, 3, "no password"),
    ("bad-name", 1210, 3, "invalid machine name"),
])
def test_failures_have_codes_and_leave_nothing(samba_dc, session, tmp_path, case, code, exit_code, text):
    name = new_name("F")
    save = tmp_path / "f.txt"
    args = ["--machine", name]
    if case == "wrong-password":
        bad = tmp_path / "bad.pass"
        bad.write_text("wrong\n")
        args += ["--ca-file", samba_dc.ca_file, "--password-file", str(bad)]
    elif case == "unreachable":
        args += base_args(samba_dc, "--ldap-port", "1", "--timeout", "5")
    elif case == "bad-ou":
        args += base_args(samba_dc, "--machine-ou", f"OU=Missing{name},{samba_dc.base_dn}")
    elif case == "bad-ou-syntax":
        args += base_args(samba_dc, "--machine-ou", "Missing")
    elif case == "untrusted-cert":
        args += ["--password-file", samba_dc.admin_password_file()]
    elif case == "no-password-source":
        args += ["--ca-file", samba_dc.ca_file]
    elif case == "bad-name":
        args = ["--machine", "bad_name!"] + base_args(samba_dc)
    p = run_cli(samba_dc, *args, "--savefile", str(save))
    assert p.returncode == exit_code, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], p.stderr
    if code is not None:
        assert (f"(error 0x{code:08X})" if code > 0xFFFF else f"(error {code})") in lines[0]
    assert "Traceback" not in p.stderr and samba_dc.admin_password not in p.stderr
    assert not save.exists()
    assert session.computer_exists(name) is None


def test_insecure_warns(samba_dc, made, tmp_path):
    name = new_name("I")
    made.append(name)
    p = run_cli(samba_dc, "--machine", name, "--insecure", "--password-file", samba_dc.admin_password_file(),
                "--savefile", str(tmp_path / "s"))
    assert p.returncode == 0, p.stderr
    assert "warning: --insecure" in p.stderr


def test_password_from_env(samba_dc, made, tmp_path):
    name = new_name("E")
    made.append(name)
    p = run_cli(samba_dc, "--machine", name, "--ca-file", samba_dc.ca_file, "--password-env", "PPK_ADMIN_PW",
                "--printblob", "--show-secrets", env_extra={"PPK_ADMIN_PW": samba_dc.admin_password})
    assert p.returncode == 0, p.stderr


# -- root CAs, templates and policies ----------------------------------------------------------

@pytest.fixture
def published_ca(samba_dc, tmp_path):
    """A test root CA published as AD CS does (certutil -dspublish RootCA)."""
    from certs import make_cert, new_key
    key = new_key("rsa")
    cert = make_cert(f"ppkgtool test root {secrets.token_hex(3)}", key, ca=True)
    der = cert.public_bytes(Encoding.DER)
    conn = directory(samba_dc)
    dn = (f"CN=ppk{secrets.token_hex(4)},CN=Certification Authorities,CN=Public Key Services,CN=Services,"
          f"CN=Configuration,{samba_dc.base_dn}")
    ok = conn.add(dn, ["top", "certificationAuthority"], {
        "cACertificate": der, "authorityRevocationList": b"\x00", "certificateRevocationList": b"\x00"})
    assert ok, conn.result
    yield der
    conn.delete(dn)
    conn.unbind()


@pytest.fixture
def cert_template(samba_dc):
    conn = directory(samba_dc)
    name = f"PpkTemplate{secrets.token_hex(3)}"
    dn = f"CN={name},CN=Certificate Templates,CN=Public Key Services,CN=Services,CN=Configuration,{samba_dc.base_dn}"
    assert conn.add(dn, ["top", "pKICertificateTemplate"], {"displayName": f"{name} display"}), conn.result
    yield name
    conn.delete(dn)
    conn.unbind()


@pytest.fixture
def gpo_with_policy(samba_dc, tmp_path):
    """A GPO created with samba-tool, with a Machine\\Registry.pol written into its SYSVOL folder."""
    from netjoin import client_config
    display = f"ppkgtool test {secrets.token_hex(3)}"
    conf = client_config(samba_dc, tmp_path)
    env = client_env(samba_dc)
    p = subprocess.run(["samba-tool", "gpo", "create", display, "-H", f"ldap://{samba_dc.dc_name}", "-s", str(conf),
                        "-U", f"{samba_dc.admin_user.split('@')[0]}%{samba_dc.admin_password}"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    guid = "{" + p.stdout.split("{", 1)[1].split("}", 1)[0] + "}"
    values = [PolicyValue.dword(r"Software\Policies\Ppkgtool\Test", "Enabled", 1),
              PolicyValue.string(r"Software\Policies\Ppkgtool\Test", "Motto", "offline join works")]
    folder = Path(samba_dc.directory) / "state" / "sysvol" / samba_dc.dns_domain / "Policies" / guid / "Machine"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Registry.pol").write_bytes(build_registry_pol(values))
    yield display, values
    subprocess.run(["samba-tool", "gpo", "del", guid, "-H", f"ldap://{samba_dc.dc_name}", "-s", str(conf),
                    "-U", f"{samba_dc.admin_user.split('@')[0]}%{samba_dc.admin_password}"],
                   capture_output=True, text=True, timeout=120, env=env)


def test_rootcacerts_template_and_policies(samba_dc, made, tmp_path, published_ca, cert_template, gpo_with_policy):
    display, gpo_values = gpo_with_policy
    local_values = [PolicyValue(r"Software\Policies\Local", "Flag", REG_DWORD, (7).to_bytes(4, "little")),
                    PolicyValue.string(r"Software\Policies\Local", "Name", "local")]
    local = tmp_path / "local.pol"
    local.write_bytes(build_registry_pol(local_values))
    name = new_name("P")
    made.append(name)
    save = tmp_path / "p.txt"
    p = run_cli(samba_dc, "--machine", name, *base_args(
        samba_dc, "--rootcacerts", "--certtemplate", cert_template, "--policynames", display,
        "--policypaths", str(local), "--psite", "Branch-1", "--netbios", name, "--primarydns", "corp.test.lab",
        "--savefile", str(save), "--json"))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["parts"] == ["JOIN_PROVIDER", "JOIN_PROVIDER3", "JOIN_PROVIDER2", "JOIN_PROVIDER4",
                                             "CERT_PROVIDER", "POLICY_PROVIDER"]
    pd = load_blob(save.read_bytes())
    parts = {p.type_name: p.content for p in pd.parts}
    cert = parts["CERT_PROVIDER"]
    ders = [c.der for s in cert.sst_stores for c in s.certificates()]
    assert published_ca in ders
    assert [s.template_name for s in cert.pfx_stores] == [cert_template]
    pol = parts["POLICY_PROVIDER"]
    assert [lst.source.endswith("\\Machine\\Registry.pol") for lst in pol.element_lists] == [True, False]
    assert pol.element_lists[1].source == str(local)
    got = [e.to_policy_value() for lst in pol.element_lists for e in lst.elements]
    assert got == gpo_values + local_values
    jp2 = parts["JOIN_PROVIDER2"]
    assert (jp2.flags, jp2.site_name, jp2.netbios_name, jp2.primary_dns_domain) == (1, "Branch-1", name,
                                                                                   "corp.test.lab")
    assert pd.win7.options & 0x10 and pd.win7.options & 0x20   # ROOT_CA_CERTS | PERSISTENTSITE
    # the same Registry.pol bytes are what SYSVOL serves
    assert parse_registry_pol(build_registry_pol(gpo_values)) == gpo_values
    # ndrdump reads the CERT/POLICY-bearing blob
    (tmp_path / "b.bin").write_bytes(__import__("ppkgtool.odj", fromlist=["x"]).encode_provision_data(pd))
    out = subprocess.run(["ndrdump", "ODJ", "ODJ_PROVISION_DATA_serialized_ptr", "struct", str(tmp_path / "b.bin")],
                         capture_output=True, text=True, timeout=60)
    assert "pull returned Success" in out.stdout


@pytest.mark.parametrize("flag,value,text", [
    ("--certtemplate", "NoSuchTemplate", "no certificate template"),
    ("--policynames", "No Such GPO", "no group policy object"),
    ("--policypaths", "/nonexistent/Registry.pol", "cannot read the policy file"),
])
def test_missing_extras_fail_before_the_account(samba_dc, session, tmp_path, flag, value, text):
    name = new_name("M")
    p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, flag, value, "--savefile", str(tmp_path / "m")))
    assert p.returncode in (3, 5) and text in p.stderr, p.stderr
    assert session.computer_exists(name) is None


def test_bad_policy_file_fails_before_the_account(samba_dc, session, tmp_path):
    bad = tmp_path / "bad.pol"
    bad.write_bytes(b"PReg\x01\x00\x00\x00[garbage")
    name = new_name("B")
    p = run_cli(samba_dc, "--machine", name, *base_args(samba_dc, "--policypaths", str(bad), "--printblob", "--show-secrets"))
    assert p.returncode == 3, p.stderr
    assert session.computer_exists(name) is None
