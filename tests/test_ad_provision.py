"""odj provisioning against the real Samba AD DC (no mocks): accounts, blobs, kinit, failures, rollback."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ldap3
import pytest

from ppkgtool.ad import Credentials, DcTarget, DirectorySession, ProvisionRequest
from ppkgtool.ad import errors as E
from ppkgtool.ad.connection import open_connection
from ppkgtool.errors import ConnectionInsecureError, DirectoryError, PpkgError
from ppkgtool.odj import decode_provision_data, load_blob
from ad_helpers import RUN, admin, directory, new_name, target
from samba_dc import kinit

pytestmark = pytest.mark.dc

def kinit_ok(dc, name: str, password: str, tmp_path: Path) -> bool:
    r = kinit(dc, f"{name.upper()}$@{dc.realm}", password, str(tmp_path / f"cc-{secrets.token_hex(4)}"))
    return r.returncode == 0


def read_account(dc, dn: str) -> dict:
    """All attributes of an account, read over LDAP by an independent connection."""
    conn = directory(dc)
    try:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["*"])
        entry = conn.response[0]
        return {k.lower(): sorted(v if isinstance(v, list) else [v], key=str)
                for k, v in entry["raw_attributes"].items()}
    finally:
        conn.unbind()


def test_provision_blob_kinit_and_ndrdump(samba_dc, session, made, tmp_path):
    name = new_name()
    made.append(name)
    r = session.provision(ProvisionRequest(machine=name))
    assert r.created and not r.reused and r.dn == f"CN={name},CN=Computers,{samba_dc.base_dn}"
    pd = decode_provision_data(r.blob)
    assert pd.machine_name == name and pd.machine_password == r.password
    assert len(r.password) == 120
    assert pd.rid == r.rid and pd.machine_sid == r.sid and r.sid.endswith(f"-{r.rid}")
    jp4 = [p.content for p in pd.parts if p.type_name == "JOIN_PROVIDER4"][0]
    assert jp4.object_guid == r.object_guid
    info = pd.win7.dns_domain_info
    assert (info.netbios_name, info.dns_domain, info.dns_forest) == (samba_dc.domain, samba_dc.dns_domain,
                                                                     samba_dc.dns_domain)
    assert pd.win7.dc_info.dc_address == "\\\\" + samba_dc.address
    assert kinit_ok(samba_dc, name, r.password, tmp_path)
    # an independent decoder: Samba's ndrdump
    (tmp_path / "blob.bin").write_bytes(r.blob)
    out = subprocess.run(["ndrdump", "ODJ", "ODJ_PROVISION_DATA_serialized_ptr", "struct", str(tmp_path / "blob.bin")],
                         capture_output=True, text=True, timeout=60)
    assert "pull returned Success" in out.stdout, out.stdout[-2000:] + out.stderr
    assert f"lpMachineName            : '{name}'" in out.stdout
    assert f"Rid                      : 0x{r.rid:08x} ({r.rid})" in out.stdout


def test_attributes_and_facts_equal_net_offlinejoin(samba_dc, session, made, tmp_path):
    from netjoin import net_offlinejoin_provision

    ours, theirs = new_name("O"), new_name("N")
    made += [ours, theirs]
    r = session.provision(ProvisionRequest(machine=ours))
    savefile = net_offlinejoin_provision(samba_dc, tmp_path, theirs)
    their_dn = session.computer_exists(theirs)
    assert their_dn == f"CN={theirs},CN=Computers,{samba_dc.base_dn}"

    volatile = {"whencreated", "whenchanged", "usncreated", "usnchanged", "objectguid", "objectsid", "name", "cn",
                "distinguishedname", "samaccountname", "pwdlastset", "lastlogon", "lastlogontimestamp",
                "logoncount", "badpwdcount", "badpasswordtime", "dscorepropagationdata", "lastlogoff"}

    def normalised(dn, name):
        out = {}
        for k, vals in read_account(samba_dc, dn).items():
            if k in volatile:
                continue
            out[k] = sorted(v.replace(name.encode(), b"NAME").replace(name.lower().encode(), b"name") for v in vals)
        return out

    a, b = normalised(r.dn, ours), normalised(their_dn, theirs)
    assert a == b
    assert a["useraccountcontrol"] == [b"4096"] and a["msds-supportedencryptiontypes"] == [b"28"]
    assert a["dnshostname"] == [b"name.test.lab"]

    # the domain and DC facts in both blobs agree too
    theirs_pd = load_blob(savefile.read_bytes())
    ours_pd = decode_provision_data(r.blob)
    assert ours_pd.win7.dns_domain_info == theirs_pd.win7.dns_domain_info
    assert ours_pd.win7.dc_info == theirs_pd.win7.dc_info
    assert [p.type_name for p in theirs_pd.parts] == [p.type_name for p in ours_pd.parts][:2]


def test_existing_account_without_reuse_is_2224(samba_dc, session, made, tmp_path):
    name = new_name()
    made.append(name)
    first = session.provision(ProvisionRequest(machine=name))
    with pytest.raises(DirectoryError) as ei:
        session.provision(ProvisionRequest(machine=name))
    assert ei.value.code == E.NERR_UserExists == 2224
    assert "--reuse" in ei.value.one_line()
    assert kinit_ok(samba_dc, name, first.password, tmp_path)  # untouched


def test_reuse_resets_password(samba_dc, session, made, tmp_path):
    name = new_name()
    made.append(name)
    first = session.provision(ProvisionRequest(machine=name))
    second = session.provision(ProvisionRequest(machine=name, reuse=True))
    assert second.reused and not second.created and second.rid == first.rid and second.dn == first.dn
    assert second.password != first.password
    assert not kinit_ok(samba_dc, name, first.password, tmp_path)
    assert kinit_ok(samba_dc, name, second.password, tmp_path)
    pd = decode_provision_data(second.blob)
    assert pd.win7.options & 0x2  # NETSETUP_PROVISION_REUSE_ACCOUNT


def test_default_password(samba_dc, session, made, tmp_path):
    name = new_name()
    made.append(name)
    r = session.provision(ProvisionRequest(machine=name, default_password=True))
    assert r.password == name.lower()
    assert decode_provision_data(r.blob).win7.options & 0x4
    assert kinit_ok(samba_dc, name, name.lower(), tmp_path)


def test_pregenerated_password(samba_dc, session, made, tmp_path):
    name = new_name()
    made.append(name)
    pw = "Pre-generated-" + secrets.token_urlsafe(20)
    r = session.provision(ProvisionRequest(machine=name, password=pw))
    assert r.password == pw and decode_provision_data(r.blob).machine_password == pw
    assert kinit_ok(samba_dc, name, pw, tmp_path)


@pytest.fixture
def test_ou(samba_dc):
    conn = directory(samba_dc)
    dn = f"OU=ppk{RUN}{secrets.token_hex(3)},{samba_dc.base_dn}"
    assert conn.add(dn, "organizationalUnit"), conn.result
    yield dn
    conn.delete(dn, controls=[("1.2.840.113556.1.4.805", True, None)])
    conn.unbind()


def test_machine_ou(samba_dc, session, made, test_ou, tmp_path):
    name = new_name()
    made.append(name)
    r = session.provision(ProvisionRequest(machine=name, machine_ou=test_ou))
    assert r.dn == f"CN={name},{test_ou}"
    assert session.computer_exists(name) == r.dn
    assert kinit_ok(samba_dc, name, r.password, tmp_path)


def test_missing_ou_fails_and_leaves_nothing(samba_dc, session):
    name = new_name()
    with pytest.raises(DirectoryError) as ei:
        session.provision(ProvisionRequest(machine=name, machine_ou=f"OU=nope{RUN},{samba_dc.base_dn}"))
    assert ei.value.code == E.ERROR_DS_NO_SUCH_OBJECT and "does not exist" in ei.value.one_line()
    assert session.computer_exists(name) is None


@pytest.mark.parametrize("case", ["wrong-password", "unreachable", "untrusted-cert", "wrong-name"])
def test_connection_failures(samba_dc, session, case):
    t, creds = target(samba_dc), admin(samba_dc)
    if case == "wrong-password":
        creds, code = Credentials(samba_dc.admin_user, "not-the-password"), E.ERROR_LOGON_FAILURE
    elif case == "unreachable":
        t, code = DcTarget(name=samba_dc.dc_name, address="127.0.0.2", ca_file=samba_dc.ca_file, timeout=5), \
            E.ERROR_NO_SUCH_DOMAIN
    elif case == "untrusted-cert":
        t, code = DcTarget(name=samba_dc.dc_name, address=samba_dc.address), E.SEC_E_UNTRUSTED_ROOT
    else:
        t, code = DcTarget(name="dc9.test.lab", address=samba_dc.address, ca_file=samba_dc.ca_file), \
            E.SEC_E_WRONG_PRINCIPAL
    with pytest.raises(DirectoryError) as ei:
        DirectorySession.connect(t, creds, domain=samba_dc.dns_domain)
    assert ei.value.code == code
    line = ei.value.one_line()
    assert "\n" not in line and samba_dc.admin_password not in line


def test_wrong_domain_is_1355(samba_dc):
    with pytest.raises(DirectoryError) as ei:
        DirectorySession.connect(target(samba_dc), admin(samba_dc), domain="other.example")
    assert ei.value.code == E.ERROR_NO_SUCH_DOMAIN and "serves test.lab" in ei.value.one_line()


def test_clear_text_bind_is_refused(samba_dc):
    with pytest.raises(ConnectionInsecureError) as ei:
        open_connection(target(samba_dc, tls=False), admin(samba_dc))
    assert ei.value.code == 2718


def test_starttls_and_insecure(samba_dc, made, tmp_path):
    for t in (target(samba_dc, starttls=True), DcTarget(name=samba_dc.dc_name, address=samba_dc.address,
                                                        insecure=True)):
        name = new_name()
        with DirectorySession.connect(t, admin(samba_dc), domain=samba_dc.dns_domain) as s:
            made.append(name)
            r = s.provision(ProvisionRequest(machine=name))
        assert kinit_ok(samba_dc, name, r.password, tmp_path)


def test_failure_after_creation_removes_the_account(samba_dc, session):
    name = new_name()

    def deliver(result):
        assert session.computer_exists(name) == result.dn  # it exists while delivering
        raise OSError("disk full")

    with pytest.raises(PpkgError) as ei:
        session.provision(ProvisionRequest(machine=name), deliver=deliver)
    assert "has been removed" in ei.value.one_line()
    assert session.computer_exists(name) is None


def test_failure_after_reuse_says_password_was_reset(samba_dc, session, made):
    name = new_name()
    made.append(name)
    session.provision(ProvisionRequest(machine=name))

    def deliver(result):
        raise DirectoryError("cannot write", code=5)

    with pytest.raises(DirectoryError) as ei:
        session.provision(ProvisionRequest(machine=name, reuse=True), deliver=deliver)
    assert "was already reset" in ei.value.one_line()
    assert session.computer_exists(name)


def test_samr_method(samba_dc, session, made, tmp_path):
    name, ref = new_name("S"), new_name("L")
    made += [name, ref]
    with DirectorySession.connect(target(samba_dc), admin(samba_dc), "samr", domain=samba_dc.dns_domain) as s:
        r = s.provision(ProvisionRequest(machine=name))
        assert kinit_ok(samba_dc, name, r.password, tmp_path)
        with pytest.raises(DirectoryError) as ei:
            s.provision(ProvisionRequest(machine=name))
        assert ei.value.code == 2224
        r2 = s.provision(ProvisionRequest(machine=name, reuse=True))
        assert not kinit_ok(samba_dc, name, r.password, tmp_path)
        assert kinit_ok(samba_dc, name, r2.password, tmp_path)
    rl = session.provision(ProvisionRequest(machine=ref))
    keep = {"objectclass", "useraccountcontrol", "dnshostname", "serviceprincipalname",
            "msds-supportedencryptiontypes", "samaccounttype", "primarygroupid"}

    def norm(dn, n):
        return {k: sorted(v.replace(n.encode(), b"N").replace(n.lower().encode(), b"n") for v in vals)
                for k, vals in read_account(samba_dc, dn).items() if k in keep}
    assert norm(r.dn, name) == norm(rl.dn, ref)


def test_concurrent_provisioning(samba_dc, made, tmp_path):
    names = [new_name("C") for _ in range(12)]
    made += names
    with DirectorySession.connect(target(samba_dc), admin(samba_dc), pool_size=4, domain=samba_dc.dns_domain) as s:
        with ThreadPoolExecutor(6) as ex:
            results = list(ex.map(lambda n: s.provision(ProvisionRequest(machine=n)), names))
        assert len({r.rid for r in results}) == len(names)
        assert all(s.computer_exists(n) for n in names)
    assert kinit_ok(samba_dc, names[-1], results[-1].password, tmp_path)


def test_facts_from_the_directory(samba_dc, session):
    f = session.domain_facts()
    assert f.dns_domain == samba_dc.dns_domain and f.netbios_name == samba_dc.domain
    assert f.dc_name == samba_dc.dc_name and f.dc_address == samba_dc.address
    assert f.dc_flags & 0x100 and f.dc_flags & 0xE0000000 == 0xE0000000
    assert f.dc_site == f.client_site == "Default-First-Site-Name"
    conn = directory(samba_dc)
    conn.search(samba_dc.base_dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
    assert f.domain_guid == uuid.UUID(bytes_le=conn.response[0]["raw_attributes"]["objectGUID"][0])
    conn.unbind()
