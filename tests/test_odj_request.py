"""ppkgtool odj request: the unattend route and the (experimental) registry route, on an image tree whose
SYSTEM hive was written by hivex; results read back with hivexget, reged -x and regipy."""

from __future__ import annotations

import base64
import errno
import os
import json
import struct
from pathlib import Path

import pytest
from lxml import etree

from ppkgtool.cli import main
from ppkgtool.deploy.unattend import account_data_values, merge_account_data
from ppkgtool.odj.codec import decode_provision_data, encode_part_content
from ppkgtool.odj.textforms import to_savefile
from test_regf_support import (EXISTING_SYSTEM_VALUES, hivexget_values, make_system_hive, normalize, reged_export,
                               regipy_values, require_tools)

NS = "{urn:schemas-microsoft-com:unattend}"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def blob(real_odj) -> bytes:
    return (real_odj / "windows-w2k19-provision-data.bin").read_bytes()


@pytest.fixture
def image(tmp_path) -> Path:
    require_tools()
    windows = tmp_path / "img" / "Windows"
    cfg = windows / "System32" / "config"
    cfg.mkdir(parents=True)
    make_system_hive(cfg / "SYSTEM")
    return windows


EXISTING_UNATTEND = b"""<?xml version="1.0" encoding="utf-8"?>
<!-- built by the imaging team -->
<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="x86" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <OOBE><HideEULAPage>true</HideEULAPage><ProtectYourPC>3</ProtectYourPC></OOBE>
      <TimeZone>W. Europe Standard Time</TimeZone>
    </component>
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <UserAccounts><LocalAccounts><LocalAccount wcm:action="add"><Name>tech</Name><Group>Administrators</Group></LocalAccount></LocalAccounts></UserAccounts>
    </component>
  </settings>
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <ComputerName>*</ComputerName>
      <RegisteredOrganization>Example &amp; Co</RegisteredOrganization>
    </component>
    <component name="Microsoft-Windows-UnattendedJoin" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <Identification>
        <TimeoutPeriodInMinutes>15</TimeoutPeriodInMinutes>
        <Provisioning><AccountData>T0xEQkxPQg==</AccountData></Provisioning>
      </Identification>
    </component>
  </settings>
</unattend>
"""


def _canon_without_join(xml: bytes) -> list[bytes]:
    """Every settings pass in canonical form, without the UnattendedJoin AccountData we own."""
    root = etree.fromstring(xml)
    for acct in root.iter(f"{NS}AccountData"):
        acct.getparent().remove(acct)
    for prov in list(root.iter(f"{NS}Provisioning")):
        if len(prov) == 0:
            prov.getparent().remove(prov)
    for comp in list(root.iter(f"{NS}component")):
        if comp.get("name") == "Microsoft-Windows-UnattendedJoin":
            ident = comp.find(f"{NS}Identification")
            if ident is not None and len(ident) == 0:
                comp.remove(ident)
            if len(comp) == 0:
                comp.getparent().remove(comp)
    out = []
    for s in root.findall(f"{NS}settings"):
        for el in s.iter():
            el.tail = None
            if el.text is not None and not el.text.strip():
                el.text = None
        if len(s):
            out.append(etree.tostring(s, method="c14n"))
    return out


def test_request_without_existing_unattend(image, blob, real_odj, capsys):
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.b64.txt"),
                           "--windows-path", str(image), "--json")
    assert rc == 0, err
    doc = json.loads(out)
    path = image / "Panther" / "unattend.xml"
    assert doc["unattend"]["path"] == str(path) and doc["unattend"]["created"] is True
    assert doc["machine_name"] == "wurst2" and doc["domain"] == "w2k19dom.ber.redhat.com"
    values = account_data_values(path.read_bytes())
    assert list(values) == ["amd64"]
    assert base64.b64decode(values["amd64"]) == blob                        # decodes to the blob, exactly
    assert decode_provision_data(base64.b64decode(values["amd64"])).machine_name == "wurst2"
    assert path.stat().st_mode & 0o777 == 0o600                              # it holds a password
    assert "wurst2" not in out.replace('"machine_name": "wurst2"', "")       # no secret on stdout
    # the same request again: nothing to change
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(image), "--json")
    assert rc == 0 and json.loads(out)["unattend"]["changed"] is False


def test_request_merges_into_existing_unattend_keeping_settings(image, blob, tmp_path, capsys):
    panther = image / "Panther"
    panther.mkdir()
    (panther / "Unattend.xml").write_bytes(EXISTING_UNATTEND)
    savefile = tmp_path / "blob.txt"
    savefile.write_bytes(to_savefile(blob))                                  # djoin /savefile form
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(savefile), "--windows-path", str(image),
                           "--json")
    assert rc == 0, err
    doc = json.loads(out)["unattend"]
    assert doc["path"] == str(panther / "Unattend.xml")                      # the existing file's own name
    assert doc["architectures"] == ["x86", "amd64"]
    assert doc["components_added"] == 1 and doc["account_data_replaced"] == 1
    assert Path(doc["backup"]).read_bytes() == EXISTING_UNATTEND
    merged = (panther / "Unattend.xml").read_bytes()
    values = account_data_values(merged)
    assert set(values) == {"x86", "amd64"}
    assert all(base64.b64decode(v) == blob for v in values.values())
    # every other setting survives: passes compared in canonical form, without our AccountData
    assert _canon_without_join(merged) == _canon_without_join(EXISTING_UNATTEND)
    root = etree.fromstring(merged)
    joins = [c for c in root.iter(f"{NS}component") if c.get("name") == "Microsoft-Windows-UnattendedJoin"]
    assert {c.get("processorArchitecture") for c in joins} == {"x86", "amd64"}
    assert all(c.get("publicKeyToken") == "31bf3856ad364e35" and c.get("versionScope") == "nonSxS" for c in joins)
    assert root.find(f".//{NS}TimeoutPeriodInMinutes").text == "15"
    assert b"<!-- built by the imaging team -->" in merged
    assert b'wcm:action="add"' in merged


def test_sysprep_answer_file_is_carried_into_panther(image, blob):
    sysprep = image / "System32" / "Sysprep"
    sysprep.mkdir(parents=True)
    (sysprep / "unattend.xml").write_bytes(EXISTING_UNATTEND)
    from ppkgtool.deploy.unattend import choose_answer_file
    choice = choose_answer_file(image)
    assert choice.target == image / "Panther" / "unattend.xml" and choice.base == sysprep / "unattend.xml"


def test_online_join_elements_are_kept_but_flagged():
    xml = EXISTING_UNATTEND.replace(b"<TimeoutPeriodInMinutes>", b"<JoinDomain>corp</JoinDomain><TimeoutPeriodInMinutes>")
    result = merge_account_data(xml, base64.b64encode(b"x" * 30).decode())
    assert b"<JoinDomain>corp</JoinDomain>" in result.document
    assert any("JoinDomain" in w for w in result.warnings)


def test_doctype_and_foreign_roots_are_refused():
    from ppkgtool.deploy.unattend import UnattendError
    with pytest.raises(UnattendError):
        merge_account_data(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><unattend xmlns="urn:schemas-'
                           b'microsoft-com:unattend">&e;</unattend>', "QUJD")
    with pytest.raises(UnattendError):
        merge_account_data(b"<other/>", "QUJD")


@pytest.mark.parametrize("content,code", [
    (b"", 2709),
    (b"   \r\n", 2709),
    (b"this is not base64 at all!", 2710),
    (base64.b64encode(b"\x01\x10\x08\x00\xcc\xcc\xcc\xcc" + bytes(8)), 2710),
])
def test_bad_blobs_are_refused_before_anything_is_written(image, tmp_path, capsys, content, code):
    f = tmp_path / "bad.txt"
    f.write_bytes(content)
    before = (image / "System32" / "config" / "SYSTEM").read_bytes()
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(f), "--windows-path", str(image))
    assert rc == 3 and f"(error {code})" in err
    assert not (image / "Panther").exists()
    assert (image / "System32" / "config" / "SYSTEM").read_bytes() == before


def test_unsupported_blob_version_is_2719(image, blob, tmp_path, capsys):
    # ODJ_PROVISION_DATA.ulVersion sits after the 16-byte headers and the 4-byte referent id
    bad = bytearray(blob)
    assert struct.unpack_from("<I", bad, 20)[0] == 1
    struct.pack_into("<I", bad, 20, 2)
    f = tmp_path / "v2.bin"
    f.write_bytes(bytes(bad))
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(f), "--windows-path", str(image))
    assert rc == 3 and "(error 2719)" in err


def test_windows_path_must_be_a_windows_folder(tmp_path, real_odj, capsys):
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(tmp_path))
    assert rc == 3 and "System32/config/SYSTEM" in err


# --- the registry route -------------------------------------------------------------------------------

def expected_registry(pd) -> dict[tuple[str, str], tuple[int, object]]:
    """What the doc lists, computed from the decoded blob (types per odj-format.md)."""
    w7 = pd.win7
    dns, dc = w7.dns_domain_info, w7.dc_info
    cs = "ControlSet001"
    oj, op = f"{cs}\\Control\\Lsa\\OfflineJoin", f"{cs}\\Control\\Lsa\\OfflineProvisioning"
    jd, tcp = f"{cs}\\Services\\Netlogon\\JoinDomain", f"{cs}\\Services\\Tcpip\\Parameters"
    exp = {
        (oj, "JoinAction"): (4, 1), (oj, "MachineName"): (1, w7.machine_name),
        (oj, "CurrentValue"): (1, w7.machine_password), (oj, "DNSDIName"): (1, dns.netbios_name),
        (oj, "DNSDIDomName"): (1, dns.dns_domain), (oj, "DNSDIForestName"): (1, dns.dns_forest),
        (oj, "DNSDIGuid"): (3, dns.domain_guid.bytes_le), (oj, "DNSDISid"): (1, dns.domain_sid),
        (oj, "JoinOptions"): (4, 0), (oj, "ProvisionOptions"): (4, w7.options),
        (op, "NumParts"): (4, len(pd.parts)),
        (jd, "DomainControllerName"): (1, dc.dc_name), (jd, "DomainControllerAddress"): (1, dc.dc_address),
        (jd, "DomainControllerAddressType"): (4, dc.dc_address_type), (jd, "DomainGuid"): (3, dc.domain_guid.bytes_le),
        (jd, "DomainName"): (1, dc.domain_name), (jd, "DnsForestName"): (1, dc.forest_name),
        (jd, "Flags"): (4, dc.flags), (jd, "DcSiteName"): (1, dc.dc_site), (jd, "ClientSiteName"): (1, dc.client_site),
        (tcp, "Hostname"): (1, w7.machine_name), (tcp, "NV Hostname"): (1, w7.machine_name),
        (tcp, "Domain"): (1, dns.dns_domain), (tcp, "NV Domain"): (1, dns.dns_domain),
        ("Setup\\DJOIN", "ODJComputerNameSet"): (4, 1),
    }
    for i, part in enumerate(pd.parts, start=1):
        exp[(f"{op}\\{i}", "Flags")] = (4, part.flags)
        exp[(f"{op}\\{i}", "Type")] = (1, str(part.part_type))
        exp[(f"{op}\\{i}", "Data")] = (3, encode_part_content(part.content))
    return exp


def test_registry_route_values_agree_across_three_readers(image, blob, real_odj, tmp_path, capsys):
    hive = image / "System32" / "config" / "SYSTEM"
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(image), "--registry", "--json")
    assert rc == 0, err
    assert "EXPERIMENTAL" in err
    doc = json.loads(out)["registry"]
    assert doc["changed"] is True and doc["control_set"] == "ControlSet001"
    assert Path(doc["backup"]).is_file() and doc["backup"] != str(hive)
    assert "wurst2" not in json.dumps(doc["values"])          # names and types only, no data
    assert not (image / "Panther").exists()                   # registry route only

    pd = decode_provision_data(blob)
    expected = expected_registry(pd)
    assert expected[("ControlSet001\\Control\\Lsa\\OfflineJoin", "DNSDIDomName")] == (1, "w2k19dom.ber.redhat.com")
    assert expected[("ControlSet001\\Control\\Lsa\\OfflineProvisioning", "NumParts")] == (4, 2)
    exported = reged_export(hive, tmp_path)
    keys = {k for k, _ in expected}
    for key in keys:
        by_hivex = {n: normalize(v) for n, v in hivexget_values(hive, key).items()}
        by_reged = {n: normalize(v) for n, v in exported[key].items()}
        by_regipy = regipy_values(hive, key)
        for (k, name), (vtype, data) in expected.items():
            if k != key:
                continue
            assert by_hivex[name] == (vtype, data), (key, name)
            assert by_reged[name] == (vtype, data), (key, name)
            rtype, rdata = by_regipy[name]
            assert rtype == {1: "REG_SZ", 3: "REG_BINARY", 4: "REG_DWORD"}[vtype]
            if vtype == 3 and isinstance(rdata, str):
                rdata = bytes.fromhex(rdata)
            assert rdata == data, (key, name)
    # the decoy control set is untouched; everything hivex wrote before is still there
    assert "ControlSet002\\Control\\Lsa\\OfflineJoin" not in exported
    for (key, name), (kind, data) in EXISTING_SYSTEM_VALUES.items():
        if (key, name) in expected or (key == "ControlSet001\\Services\\Netlogon" and name == "Start") or \
                (key.endswith("ComputerName\\ComputerName")):
            continue
        got = exported[key][name]
        if kind == "dword":
            assert got == ("dword", data)
        elif kind == "string":
            assert got == ("sz", data)
        else:
            assert normalize(got)[0] in (2, 7)
    assert exported["ControlSet001\\Services\\Netlogon"]["Start"] == ("dword", 2)
    assert exported["ControlSet001\\Control\\ComputerName\\ComputerName"]["ComputerName"] == ("sz", "WURST2")
    # idempotent: a second run changes nothing
    before = hive.read_bytes()
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(image), "--registry", "--json")
    assert rc == 0 and json.loads(out)["registry"]["changed"] is False and hive.read_bytes() == before


@pytest.mark.parametrize("where", ["bin-header", "cell", "checksum", "dirty"])
def test_corrupted_hive_is_left_untouched_with_2717(image, real_odj, capsys, where):
    hive = image / "System32" / "config" / "SYSTEM"
    data = bytearray(hive.read_bytes())
    if where == "bin-header":
        data[4096:4100] = b"XXXX"
    elif where == "cell":                        # the root key node's signature
        root = struct.unpack_from("<I", data, 36)[0]
        data[4096 + root + 4:4096 + root + 6] = b"zz"
    elif where == "checksum":
        data[48] ^= 0xFF
    else:
        struct.pack_into("<I", data, 4, struct.unpack_from("<I", data, 4)[0] + 1)
        csum = 0
        for (v,) in struct.iter_unpack("<I", bytes(data[:508])):
            csum ^= v
        struct.pack_into("<I", data, 508, csum)
    hive.write_bytes(bytes(data))
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(image), "--registry")
    assert rc == 3 and "(error 2717)" in err
    assert hive.read_bytes() == bytes(data)
    assert sorted(p.name for p in hive.parent.iterdir()) == ["SYSTEM"]      # no backup, no temp file


# --- issue 17: the hive keeps its mode and owner; links refused; no backup left by a failure ------

def test_registry_route_keeps_the_hive_mode(image, real_odj, capsys):
    hive = image / "System32" / "config" / "SYSTEM"
    os.chmod(hive, 0o444)
    before = os.stat(hive)
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(image), "--registry", "--json")
    assert rc == 0, err
    after = os.stat(hive)
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (0o444, before.st_uid, before.st_gid)
    backup = Path(json.loads(out)["registry"]["backup"])
    assert backup.stat().st_mode & 0o777 == 0o600


def test_registry_route_refuses_a_symlinked_hive(image, real_odj, tmp_path, capsys):
    hive = image / "System32" / "config" / "SYSTEM"
    real = tmp_path / "real-SYSTEM"
    hive.rename(real)
    hive.symlink_to(real)
    data = real.read_bytes()
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(image), "--registry")
    assert rc == 3 and "symbolic link" in err and "(error 2717)" in err
    assert hive.is_symlink() and real.read_bytes() == data
    assert sorted(p.name for p in hive.parent.iterdir()) == ["SYSTEM"]


def test_registry_route_failure_leaves_no_backup(image, real_odj, capsys, monkeypatch):
    from ppkgtool import fsutil
    hive = image / "System32" / "config" / "SYSTEM"
    data = hive.read_bytes()
    real_commit = fsutil._commit_one

    def failing(st):
        if st.path.name == "SYSTEM":
            raise OSError(errno.EIO, "injected failure")
        return real_commit(st)
    monkeypatch.setattr(fsutil, "_commit_one", failing)
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(real_odj / "windows-w2k19-provision-data.bin"),
                           "--windows-path", str(image), "--registry")
    assert rc == 3 and "(error 2717)" in err, err
    assert hive.read_bytes() == data
    assert sorted(p.name for p in hive.parent.iterdir()) == ["SYSTEM"]       # no .bak, no temporary


def test_existing_unattend_with_wow64_components(image, blob, tmp_path, capsys):
    panther = image / "Panther"
    panther.mkdir()
    doc = EXISTING_UNATTEND.replace(b'processorArchitecture="x86"', b'processorArchitecture="wow64"')
    (panther / "Unattend.xml").write_bytes(doc)
    f = tmp_path / "blob.bin"
    f.write_bytes(blob)
    rc, out, err = run_cli(capsys, "odj", "request", "--loadfile", str(f), "--windows-path", str(image), "--json")
    assert rc == 0, err
    assert json.loads(out)["unattend"]["architectures"] == ["amd64"]      # wow64 names no machine to join
