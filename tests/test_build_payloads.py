"""Payload options: ODJ blob, certificates, registry policy, client PFX; the .cat; output policy.

Checked with independent readers: wimlib-imagex (extraction), file(1), openssl asn1parse,
sha1sum/sha256sum, and the ODJ decoder on the extracted djoin save file.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from build_helpers import files_of, parms, wimlib_extract
from ppkgtool.odj.summary import summarize
from ppkgtool.cli import main
from ppkgtool.errors import OutputExistsError, WrongPasswordError
from ppkgtool.package.builder import BuildOptions, build_package
from ppkgtool.package.payloads import ClientPfx, PayloadOptions
from ppkgtool.regpol import PolicyValue, build_registry_pol, parse_registry_pol
from ppkgtool.wim import open_wim

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "customizations" / "customizations.xml"


def _cert(folder: Path, cn: str, *, ca: bool = True) -> tuple[Path, x509.Certificate, object]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True).sign(key, hashes.SHA256()))
    path = folder / f"{cn.replace(' ', '-')}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


@pytest.fixture
def payload_files(tmp_path, real_odj):
    root, root_cert, _ = _cert(tmp_path, "Corp Root")
    ca, ca_cert, _ = _cert(tmp_path, "Corp Issuing")
    pol = tmp_path / "Registry.pol"
    pol.write_bytes(build_registry_pol([
        PolicyValue.dword(r"Software\Policies\Microsoft\Windows\WindowsUpdate\AU", "NoAutoUpdate", 1),
        PolicyValue.string(r"Software\Policies\Example", "Banner", "100% managed"),
        PolicyValue(r"Software\Policies\Example", "**del.Legacy", 1, b"\x00\x00"),
    ]))
    return {"odj": real_odj / "windows-w2k19-provision-data.bin", "root": root, "root_cert": root_cert,
            "ca": ca, "ca_cert": ca_cert, "pol": pol}


def _build_mission(tmp_path, payload_files, **kw) -> tuple[Path, object]:
    out = tmp_path / "out" / "branch.ppkg"
    opts = BuildOptions(variables={"SITE": "Berlin"}, reproducible=True, payloads=PayloadOptions(
        odj=payload_files["odj"], root_certs=(payload_files["root"],), ca_certs=(payload_files["ca"],),
        policies=(payload_files["pol"],), policy_settings=(("Update/AllowAutoUpdate", "5"),)), **kw)
    return out, build_package(EXAMPLE, out, opts)


def test_mission_package_opens_everywhere(tmp_path, payload_files):
    out, res = _build_mission(tmp_path, payload_files)
    assert "provisioning package" in subprocess.run(["file", "-b", str(out)], capture_output=True, text=True).stdout
    tree = wimlib_extract(out, tmp_path / "x")
    files = files_of(tree, with_assets=True)
    # the ODJ save file travels as a command asset; the command joins offline and restarts
    save = [p for p in files if p.endswith("/odj-wurst2.txt")]
    assert len(save) == 1 and save[0].startswith("DataAsset/2/0_")
    from ppkgtool.odj import load_blob
    summary = summarize(load_blob(files[save[0]]))
    text = repr(summary)
    assert "w2k19dom.ber.redhat.com" in text and "wurst2" in text
    assert files[save[0]].startswith(b"\xff\xfe")           # djoin's UTF-16 save file form
    cmd_lines = [parms(v) for p, v in files.items() if p.endswith("CommandLine.provxml")]
    djoin = [x for group in cmd_lines for x in group if x[2].startswith("djoin ")]
    assert djoin[0][2] == "djoin /requestodj /loadfile odj-wurst2.txt /windowspath %SystemRoot% /localos"
    restart = [parms(v) for p, v in files.items() if p.endswith("Command_1_RestartRequired.provxml")]
    assert restart[0][0][2] == "true"
    # certificates: RootCATrustedCertificates/<store>/<SHA-1>/EncodedCertificate = base64 DER
    for store, cert in (("Root", payload_files["root_cert"]), ("CA", payload_files["ca_cert"])):
        der = cert.public_bytes(serialization.Encoding.DER)
        thumb = hashlib.sha1(der).hexdigest().upper()
        found = [x for p, v in files.items() if p.endswith(".provxml") for x in parms(v)
                 if x[0] == f"RootCATrustedCertificates/{store}/{thumb}"]
        assert found and base64.b64decode(found[0][2]) == der and found[0][1] == "EncodedCertificate"
    # the registry policy: original .pol carried for inspection, and the reg.exe script
    pol = [p for p in files if p.endswith("/Registry.pol")]
    assert parse_registry_pol(files[pol[0]]) == parse_registry_pol(payload_files["pol"].read_bytes())
    script = files[[p for p in files if p.endswith(".cmd")][0]].decode("utf-8")
    assert "\r\n" in script
    assert 'reg add "HKLM\\Software\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU" /v "NoAutoUpdate" ' \
           '/t REG_DWORD /d 1 /f' in script
    assert '/v "Banner" /t REG_SZ /d "100%% managed"' in script           # % doubled in a batch file
    assert 'reg delete "HKLM\\Software\\Policies\\Example" /v "Legacy" /f' in script
    # policy setting and variables
    pset = [parms(v) for p, v in files.items() if p.endswith("Policies_Update_AllowAutoUpdate.provxml")]
    assert pset == [[("Policy/Config/Update", "AllowAutoUpdate", "5", "integer", ())]]
    assert b"Example branch workstation (Berlin)" in files["Multivariant/0/customizations.xml"]
    # the embedded customizations.xml shows what the options added
    emb = files["Multivariant/0/customizations.xml"].decode("utf-8-sig")
    assert "OfflineDomainJoin_wurst2" in emb and "<RootCertificate CertificateName=" in emb
    assert res.private and (out.stat().st_mode & 0o777) == 0o600     # holds a machine password


def test_catalog_lists_exactly_the_package(tmp_path, payload_files, real_ppkg):
    out, res = _build_mission(tmp_path, payload_files)
    cat = out.with_suffix(".cat")
    asn = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", str(cat)], capture_output=True,
                         text=True, check=True).stdout
    sha1 = subprocess.run(["sha1sum", str(out)], capture_output=True, text=True).stdout.split()[0]
    sha256 = subprocess.run(["sha256sum", str(out)], capture_output=True, text=True).stdout.split()[0]
    digests = re.findall(r"OCTET STRING\s+\[HEX DUMP\]:([0-9A-F]+)", asn)
    assert sha1.upper() in digests and digests.count(sha256.upper()) == 2
    assert res.sha256 == sha256
    ref = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", str(real_ppkg / "wcd-itadmin-rank52.cat")],
                         capture_output=True, text=True, check=True).stdout

    def skeleton(text):   # structure without offsets, lengths and the per-file values
        out = []
        for line in text.splitlines():
            body = line.split(":", 1)[1] if ":" in line else line
            body = re.sub(r"d=\s*\d+\s+hl=\s*\d+\s+l=\s*\d+\s*", "", body)
            body = re.sub(r"\[HEX DUMP\]:[0-9A-F]+|:\d{12}Z", "", body)
            out.append(" ".join(body.split()))
        return out
    assert skeleton(asn) == skeleton(ref)


def test_reproducible_builds_are_byte_identical(tmp_path, payload_files):
    a, _ = _build_mission(tmp_path / "a", payload_files)
    b, _ = _build_mission(tmp_path / "b", payload_files)
    assert a.read_bytes() == b.read_bytes()
    assert a.with_suffix(".cat").read_bytes() == b.with_suffix(".cat").read_bytes()


def test_no_silent_overwrite_and_no_catalog(tmp_path, payload_files):
    out, _ = _build_mission(tmp_path, payload_files)
    before = out.read_bytes()
    with pytest.raises(OutputExistsError):
        _build_mission(tmp_path, payload_files)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["branch.cat", "branch.ppkg"]   # no temp left
    out2 = tmp_path / "nocat" / "p.ppkg"
    res = build_package(EXAMPLE, out2, BuildOptions(variables={"SITE": "x"}, catalog=False))
    assert sorted(p.name for p in out2.parent.iterdir()) == ["p.ppkg"]
    assert res.sha256 == hashlib.sha256(out2.read_bytes()).hexdigest()     # still reported by default
    # bulk's setting: no catalog and no hashes, so the package is not read back
    out3 = tmp_path / "nohash" / "p.ppkg"
    res = build_package(EXAMPLE, out3, BuildOptions(variables={"SITE": "x"}, catalog=False, hashes=False))
    assert res.sha1 == res.sha256 == "" and res.to_json()["sha256"] is None
    with open_wim(out3) as w:
        assert w.image(1).properties["NAME"]


def test_client_pfx_and_trusted_certificates(tmp_path):
    path, cert, key = _cert(tmp_path, "Device 7", ca=False)
    pfx = tmp_path / "device7.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(
        b"device7", key, cert, None, serialization.BestAvailableEncryption(b"s3cret")))
    tp, tp_cert, _ = _cert(tmp_path, "Provisioning Signer")
    people, people_cert, _ = _cert(tmp_path, "Peer")
    out = tmp_path / "pfx.ppkg"
    with pytest.raises(WrongPasswordError):
        build_package(EXAMPLE, out, BuildOptions(variables={"SITE": "x"}, payloads=PayloadOptions(
            client_pfx=(ClientPfx(pfx, "wrong"),))))
    assert not out.exists()
    res = build_package(EXAMPLE, out, BuildOptions(variables={"SITE": "x"}, payloads=PayloadOptions(
        client_pfx=(ClientPfx(pfx, "s3cret"),), trusted_provisioners=(tp,), trusted_people=(people,))))
    files = files_of(wimlib_extract(out, tmp_path / "x"))
    allp = [x for p, v in files.items() if p.endswith(".provxml") for x in parms(v)]
    blob = [x for x in allp if x[0] == "ClientCertificateInstall/PFXCertInstall/device7" and x[1] == "PFXCertBlob"]
    assert base64.b64decode(blob[0][2]) == pfx.read_bytes()
    assert ("ClientCertificateInstall/PFXCertInstall/device7", "PFXCertPassword", "s3cret", "string", ()) in allp
    thumb = hashlib.sha1(people_cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert any(x[0] == f"RootCATrustedCertificates/TrustedPeople/{thumb}" for x in allp)
    thumb = hashlib.sha1(tp_cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    # the settings store's target: ./Vendor/MSFT/Provisioning/TrustedProvisioners/~CertificateHash~
    assert any(x[0] == "Provisioning/TrustedProvisioners" and x[1] == thumb for x in allp)
    # secrets are redacted in the report unless asked for
    pw = [s for s in res.settings if s.path.endswith("CertificatePassword")][0]
    assert pw.to_json()["value"] == "<redacted>" and pw.to_json(show_secrets=True)["value"] == "s3cret"
    assert (out.stat().st_mode & 0o777) == 0o600


def test_cli_build_mission(tmp_path, payload_files, capsys):
    out = tmp_path / "cli.ppkg"
    rc = main(["build", str(EXAMPLE), "-o", str(out), "--var", "SITE=Oslo", "--odj", str(payload_files["odj"]),
               "--root-cert", str(payload_files["root"]), "--ca-cert", str(payload_files["ca"]),
               "--policy", str(payload_files["pol"]), "--policy-setting", "Experience/AllowCortana=0",
               "--owner-type", "SystemIntegrator", "--rank", "42", "--json"])
    assert rc == 0
    import json
    doc = json.loads(capsys.readouterr().out)
    assert doc["metadata"]["altitude"] == 3042 and doc["metadata"]["owner_type"] == "SystemIntegrator"
    assert doc["catalog"].endswith("cli.cat")
    kinds = [p["payload"] for p in doc["payloads"]]
    assert kinds == ["odj", "certificate:root", "certificate:ca", "registry-policy", "policy-setting"]
    # AllowCortana from --policy-setting replaces the customizations value (the option wins)
    cortana = [s for s in doc["settings"] if s["path"] == "Policies/Experience/AllowCortana"]
    assert len(cortana) == 1 and cortana[0]["value"] == "0" and cortana[0]["origin"] == "--policy-setting"


def test_signed_and_encrypted_build(tmp_path):
    from ppkgtool.security import encryption, signing
    path, cert, key = _cert(tmp_path, "Signer")
    keyfile = tmp_path / "signer.key"
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    try:
        signer = signing.load_signer(path, keyfile, allow_any_usage=True)
    except Exception as exc:  # the signer rules belong to the security layer
        pytest.fail(f"cannot load a test signer: {exc}")
    out = tmp_path / "s.ppkg"
    res = build_package(EXAMPLE, out, BuildOptions(variables={"SITE": "x"}, signer=signer,
                                                   encrypt_password="0123456789abcdef"))
    assert res.signed and res.encrypted
    assert not out.read_bytes().startswith(b"MSWIM")
    plain = encryption.decrypt_bytes(out.read_bytes(), "0123456789abcdef")
    assert plain.startswith(b"MSWIM\0\0\0")
    wim_len = len(plain.rstrip(b"\0"))
    assert hashlib.sha256(plain[:res_size(plain)]).hexdigest() == res.sha256
    from ppkgtool.security.catalog import parse_catalog
    catalog = parse_catalog(out.with_suffix(".cat").read_bytes())
    assert catalog.signed
    assert wim_len > 0
    # members: the plain package, its decrypted form (zero-padded to 160-byte units) and the
    # encrypted file, each with SHA-1 and SHA-256 computed here independently
    plain_pkg = plain[:res_size(plain)]
    padded = plain_pkg + bytes(-len(plain_pkg) % 160)
    assert padded == plain                       # what Windows' decryption yields
    for data in (plain_pkg, padded, out.read_bytes()):
        for algo in ("sha1", "sha256"):
            assert any(m.tag == hashlib.new(algo, data).digest() for m in catalog.members), algo


def res_size(plain: bytes) -> int:
    from ppkgtool.security.encryption import wim_end
    end = wim_end(plain[:208])
    return end if end else len(plain)


def test_done_when_odj_two_certificates_and_policy_inspect(tmp_path, payload_files, capsys):
    """Issue 6, Done when: a package built with --odj, two certificates and a policy file opens in
    wimlib-imagex, `file` calls it a provisioning package, and `ppkgtool inspect` shows the blob's
    domain and machine, the certificates and the policy values."""
    import json
    import shutil

    out = tmp_path / "done.ppkg"
    assert main(["build", str(EXAMPLE), "-o", str(out), "--var", "SITE=Oslo", "--odj", str(payload_files["odj"]),
                 "--root-cert", str(payload_files["root"]), "--ca-cert", str(payload_files["ca"]),
                 "--policy", str(payload_files["pol"])]) == 0
    capsys.readouterr()
    # wimlib-imagex (an independent WIM reader) extracts it; file(1) recognises it
    assert shutil.which("wimlib-imagex"), "wimlib-imagex (Debian wimtools) is required"
    dest = tmp_path / "extracted"
    dest.mkdir()
    subprocess.run(["wimlib-imagex", "extract", str(out), "1", "--dest-dir", str(dest), "--no-acls"],
                   check=True, capture_output=True)
    assert (dest / "Multivariant/0/customizations.xml").is_file()
    assert "provisioning package" in subprocess.run(["file", "-b", str(out)], capture_output=True,
                                                    text=True, check=True).stdout.lower()

    assert main(["inspect", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # the ODJ blob: domain and machine, from the real Windows blob (PROVENANCE.md)
    odj = [c["odj"] for c in doc["commands"] if c["odj"]]
    assert len(odj) == 1
    assert odj[0]["domain"] == "w2k19dom.ber.redhat.com" and odj[0]["machine_name"] == "wurst2"
    assert odj[0]["netbios_name"] == "W2K19DOM"
    assert "machine_password" not in odj[0]                     # a secret: only with --show-secrets
    # both certificates: kind, subject and SHA-1 thumbprint of the DER the test made
    certs = {c["kind"]: c for c in doc["certificates"]}
    for kind, cert in (("Root", payload_files["root_cert"]), ("CA", payload_files["ca_cert"])):
        thumb = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
        assert certs[kind]["thumbprint"] == thumb
        assert certs[kind]["subject"] == cert.subject.rfc4514_string()
        assert certs[kind]["problem"] is None
    assert len(doc["certificates"]) == 2
    # every policy value of the Registry.pol, with the command that applies it and its hive
    assert len(doc["policies"]) == 1
    pol = doc["policies"][0]
    assert pol["kind"] == "registry-pol" and pol["source"].endswith("/Registry.pol")
    assert pol["hive"] == "HKEY_LOCAL_MACHINE" and "RegistryPolicy_Registry" in pol["carrier"]
    expected = parse_registry_pol(payload_files["pol"].read_bytes())
    assert [(v["key"], v["value_name"], v["type"], v["data"]) for v in pol["values"]] == \
        [(v.key, v.value_name, v.type, v.data.hex()) for v in expected]
    shown = {v["value_name"]: v for v in pol["values"]}
    assert shown["NoAutoUpdate"]["value"] == 1 and shown["NoAutoUpdate"]["type_name"] == "REG_DWORD"
    assert shown["Banner"]["value"] == "100% managed" and shown["Banner"]["type_name"] == "REG_SZ"
    assert shown["**del.Legacy"]["action"] == "delete value Legacy"
    cmd = next(c for c in doc["commands"] if c["name"] == "RegistryPolicy_Registry")
    assert cmd["dependencies"] == [pol["source"]]
    assert doc["problems"] == []

    # the text report shows the same
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "machine wurst2; domain w2k19dom.ber.redhat.com" in text
    assert "CN=Corp Root" in text and "CN=Corp Issuing" in text
    assert "Software\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU\tNoAutoUpdate\tREG_DWORD\t1 (0x1)" in text
    assert "Software\\Policies\\Example\tBanner\tREG_SZ\t100% managed" in text
