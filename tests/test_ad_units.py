"""Directory-side parsers and rules that need no DC: LDAP ping responses, SIDs, names, error mapping."""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import given, settings, strategies as st

from ppkgtool.ad import account as A
from ppkgtool.ad import errors as E
from ppkgtool.ad.connection import Credentials, DcTarget, nt_hash
from ppkgtool.ad.directory import (LOGON_SAM_LOGON_RESPONSE_EX, nc_to_dns, parse_netlogon_response, parse_sid,
                                   wellknown_dn)
from ppkgtool.ad.gpo import split_unc
from ppkgtool.ad.provision import ProvisionRequest
from ppkgtool.errors import FormatError, InvalidInputError, UsageError

# A real NETLOGON_SAM_LOGON_RESPONSE_EX: the rootDSE Netlogon attribute a Samba 4.17 DC returned
# for (&(DnsDomain=test.lab)(NtVer=\06\00\00\00)).
SAMBA_PING = (b"\x17\x00\x00\x00\xfd\x13\x00\x00\xda\xe7\xa1\xbb\x00&\x95O\xbb=y\x17}\x07\xe3\x06\x04test\x03lab"
              b"\x00\xc0\x18\x03dc1\xc0\x18\x04TEST\x00\x03DC1\x00\x00\x17Default-First-Site-Name\x00\xc06"
              b"\x05\x00\x00\x00\xff\xff\xff\xff")


def test_samba_ping_decodes():
    r = parse_netlogon_response(SAMBA_PING)
    assert r.opcode == LOGON_SAM_LOGON_RESPONSE_EX
    assert r.flags == 0x13FD and r.writable
    assert r.domain_guid == uuid.UUID("bba1e7da-2600-4f95-bb3d-79177d07e306")
    assert (r.dns_forest, r.dns_domain, r.dns_host) == ("test.lab", "test.lab", "dc1.test.lab")
    assert (r.netbios_domain, r.netbios_computer, r.user_name) == ("TEST", "DC1", "")
    assert r.dc_site == r.client_site == "Default-First-Site-Name"
    assert r.nt_version == 5


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.split(".") if name else []:
        b = label.encode()
        out += bytes([len(b)]) + b
    return out + b"\x00"


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
_name = st.lists(_label, min_size=0, max_size=4).map(".".join)


@settings(max_examples=200, deadline=2000)
@given(flags=st.integers(0, 2 ** 32 - 1), guid=st.uuids(), names=st.lists(_name, min_size=8, max_size=8))
def test_ping_roundtrip_uncompressed(flags, guid, names):
    data = struct.pack("<HHI", 23, 0, flags) + guid.bytes_le + b"".join(_encode_name(n) for n in names)
    data += struct.pack("<IHH", 5, 0xFFFF, 0xFFFF)
    r = parse_netlogon_response(data)
    assert r.flags == flags and r.domain_guid == guid
    assert [r.dns_forest, r.dns_domain, r.dns_host, r.netbios_domain, r.netbios_computer, r.user_name,
            r.dc_site, r.client_site] == names


@settings(max_examples=300, deadline=2000)
@given(st.binary(max_size=300))
def test_ping_parser_never_crashes(data):
    try:
        parse_netlogon_response(data)
    except FormatError:
        pass


@settings(max_examples=300, deadline=2000)
@given(st.integers(24, len(SAMBA_PING) - 1), st.integers(0, 255))
def test_ping_mutations(pos, value):
    data = bytearray(SAMBA_PING)
    data[pos] = value
    try:
        parse_netlogon_response(bytes(data))
    except FormatError:
        pass


def test_ping_pointer_loop_is_refused():
    data = struct.pack("<HHI", 23, 0, 0) + bytes(16) + b"\xc0\x18" + bytes(20)
    with pytest.raises(FormatError, match="pointer"):
        parse_netlogon_response(data)


def test_ping_wrong_opcode():
    with pytest.raises(FormatError, match="opcode"):
        parse_netlogon_response(b"\x13\x00" + SAMBA_PING[2:])


def test_sid_parsing():
    raw = bytes([1, 4, 0, 0, 0, 0, 0, 5]) + struct.pack("<4I", 21, 1, 2, 1105)
    assert parse_sid(raw) == "S-1-5-21-1-2-1105"
    with pytest.raises(FormatError):
        parse_sid(raw[:-1])
    with pytest.raises(FormatError):
        parse_sid(b"\x02" + raw[1:])


def test_wellknown_and_nc():
    vals = [b"B:32:A9D1CA15768811D1ADED00C04FD8D5CD:CN=Users,DC=x,DC=y",
            b"B:32:AA312825768811D1ADED00C04FD8D5CD:OU=Machines,DC=x,DC=y"]
    assert wellknown_dn(vals, "aa312825768811d1aded00c04fd8d5cd") == "OU=Machines,DC=x,DC=y"
    assert wellknown_dn(vals[:1], "AA312825768811D1ADED00C04FD8D5CD") is None
    assert nc_to_dns("DC=corp,DC=example,DC=com") == "corp.example.com"


@pytest.mark.parametrize("name", ["PC01", "a", "KIOSK-0042", "pc01$", "ABCDEFGHIJKLMNO"])
def test_machine_names_ok(name):
    host, nb = A.check_machine_name(name)
    assert nb == host.upper() and not host.endswith("$")


@pytest.mark.parametrize("name", ["", "1234", "-PC", "PC-", "PC 01", "PC.01", "ABCDEFGHIJKLMNOP", "PC_01", "P\\C"])
def test_machine_names_refused(name):
    with pytest.raises(A.InvalidMachineNameError) as ei:
        A.check_machine_name(name)
    assert ei.value.code == E.ERROR_INVALID_COMPUTERNAME


def test_long_host_with_netbios():
    host, nb = A.check_machine_name("build-agent-linux-0042", netbios="BUILD0042")
    assert (host, nb) == ("build-agent-linux-0042", "BUILD0042")
    spec = A.ComputerSpec(host, nb, "example.com")
    assert spec.sam_account_name == "BUILD0042$"
    assert spec.dns_host_name == "build-agent-linux-0042.example.com"
    assert "HOST/BUILD0042" in spec.spns and "HOST/build-agent-linux-0042.example.com" in spec.spns


def test_spec_attributes_are_windows_recipe():
    spec = A.ComputerSpec("PC01", "PC01", "Example.COM")
    attrs = spec.attributes("pw")
    assert attrs["sAMAccountName"] == "PC01$"
    assert attrs["userAccountControl"] == "4096"
    assert attrs["dNSHostName"] == "pc01.example.com"
    assert sorted(attrs["servicePrincipalName"]) == sorted(
        ["HOST/PC01", "HOST/PC01.Example.COM", "RestrictedKrbHost/PC01", "RestrictedKrbHost/PC01.Example.COM"])
    assert attrs["msDS-SupportedEncryptionTypes"] == "28"
    assert attrs["unicodePwd"] == '"pw"'.encode("utf-16-le")
    assert spec.dn("CN=Computers,DC=x") == "CN=PC01,CN=Computers,DC=x"


@pytest.mark.parametrize("dn", ["OU=Kiosks,DC=test,DC=lab", "OU=A\\,B,OU=x,DC=test,DC=lab"])
def test_ou_ok(dn):
    assert A.check_ou(dn) == dn


@pytest.mark.parametrize("dn", ["", "Kiosks", "OU=Kiosks", "OU=Kiosks,,DC=x"])
def test_ou_refused(dn):
    with pytest.raises(InvalidInputError) as ei:
        A.check_ou(dn)
    assert ei.value.code == E.ERROR_INVALID_PARAMETER


@pytest.mark.parametrize("rc,msg,code", [
    (68, "", E.NERR_UserExists),
    (53, "0000216D: SvcErr: DSID-031A1236, problem 5003 (WILL_NOT_PERFORM), data 0", 8557),
    (50, "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0", 0x2098),
    (50, "", E.ERROR_ACCESS_DENIED),
    (32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)", 0x208D),
    (32, "", E.ERROR_DS_NO_SUCH_OBJECT),
    (49, "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e", E.ERROR_LOGON_FAILURE),
    (8, "", E.NERR_ConnectionInsecure),
    (10, "0000202B: RefErr: DSID-0310082F, data 0, 1 access points", E.ERROR_INVALID_DOMAIN_ROLE),
])
def test_ldap_error_mapping(rc, msg, code):
    assert E.win32_from_ldap(rc, msg) == code


def test_ldap_failure_types():
    err = E.ldap_failure("bind", {"result": 8, "description": "strongerAuthRequired", "message": ""})
    assert err.code == 2718 and type(err).__name__ == "ConnectionInsecureError" and err.exit_code == 5


def test_nt_hash_without_hashlib_md4():
    # MS-NLMP 4.2.2.1.2: NTOWFv1("Password")
    assert nt_hash("Password").hex() == "a4f49c406510bdcab6824ee7c30fd852"


def test_credentials():
    c = Credentials("Administrator@TEST.LAB", "secret")
    assert c.method == "simple" and c.split() == ("Administrator", "TEST.LAB")
    assert "secret" not in repr(c)
    n = Credentials("TEST\\Administrator", "x")
    assert n.method == "ntlm" and n.split() == ("Administrator", "TEST")


def test_target_rules():
    assert DcTarget("dc1.test.lab").ldap_port == 636
    assert DcTarget("dc1.test.lab", starttls=True).ldap_port == 389
    with pytest.raises(UsageError):
        DcTarget("dc1.test.lab", ca_file="x.pem", insecure=True)
    with pytest.raises(UsageError):
        DcTarget("ldap://dc1")


def test_request_rules():
    with pytest.raises(UsageError):
        ProvisionRequest(machine="PC01", psite="a", dsite="b")
    with pytest.raises(UsageError):
        ProvisionRequest(machine="PC01", default_password=True, password="x")
    with pytest.raises(A.InvalidMachineNameError):
        ProvisionRequest(machine="this-name-is-far-too-long")
    with pytest.raises(InvalidInputError):
        ProvisionRequest(machine="PC01", machine_ou="not a dn")
    assert "pw" not in repr(ProvisionRequest(machine="PC01", password="pw"))


def test_unc_split():
    assert split_unc(r"\\test.lab\SysVol\test.lab\Policies\{31B2F340-016D-11D2-945F-00C04FB984F9}") == (
        "SysVol", r"test.lab\Policies\{31B2F340-016D-11D2-945F-00C04FB984F9}")
    for bad in [r"\\h\s\..\x", r"\\h\s", "c:\\x\\y", r"\\h\s\a\.\b"]:
        with pytest.raises(InvalidInputError):
            split_unc(bad)
