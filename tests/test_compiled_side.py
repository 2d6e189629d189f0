"""Packages read the way Windows applies them (issue 16): the compiled provxml is the truth,
customizations.xml the annotation.

Real packages are edited with the standard library and repacked with wimlib-imagex (an
independent writer); the checks run the ppkgtool commands.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from build_helpers import files_of, parms, wimlib_extract
from test_inspect_support import customizations_xml, policies, run_cli, run_json, write_package

REAL = "wcd-gui-commands-msi"


PROPERTIES = ("DESCRIPTION", "NOTES", "AUTHOR", "VERSION", "ALTITUDE", "RESETCLEAR", "PACKAGEID")


def _capture(tree: Path, out: Path, like: Path) -> Path:
    """Repack with wimlib-imagex and give the image the original's package properties."""
    from ppkgtool.wim import open_wim
    with open_wim(like) as wim:
        props = wim.image(1).properties
    subprocess.run(["wimlib-imagex", "capture", str(tree), str(out), props.get("NAME") or "pkg",
                    "--compress=XPRESS", "--no-acls"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    args = [f"--image-property={k}={props[k]}" for k in PROPERTIES if props.get(k) is not None]
    subprocess.run(["wimlib-imagex", "info", str(out), "1", *args], check=True, stdout=subprocess.DEVNULL)
    return out


def _edited(real_ppkg: Path, tmp: Path) -> tuple[Path, Path]:
    """The real package with OOBE/Desktop/HideOobe compiled as false (customizations.xml still says True)."""
    tree = wimlib_extract(real_ppkg / f"{REAL}.ppkg", tmp / "tree")
    (hide,) = [p for p in (tree / "Multivariant/0/Prov/RunTime").glob("*HideOobe.provxml")]
    data = hide.read_bytes()
    assert b'value="true"' in data
    hide.write_bytes(data.replace(b'value="true"', b'value="false"'))
    return _capture(tree, tmp / "edited.ppkg", real_ppkg / f"{REAL}.ppkg"), tree


def test_edited_provxml_is_what_inspect_and_resolve_report(real_ppkg, tmp_path):
    pkg, _tree = _edited(real_ppkg, tmp_path)
    doc = run_json("inspect", pkg)
    hide = [s for s in doc["settings"] if s["path"] == "OOBE/Desktop/HideOobe"]
    assert [s["value"] for s in hide] == ["False"]          # the compiled value, in WCD's form
    assert doc["source"]["state"] == "differs"
    assert doc["source"]["compiled_only"] == ["MCSF/OOBE/Desktop/HideOobe = 'false'"]
    assert doc["source"]["source_only"] == ["MCSF/OOBE/Desktop/HideOobe = 'true'"]
    (w,) = [w for w in doc["warnings"] if w["code"] == "source-compiled-mismatch"]
    assert w["severity"] == "high" and "HideOobe" in w["message"]
    # resolve uses the compiled value too
    res = run_json("resolve", pkg)
    (r,) = [s for s in res["settings"] if s["path"] == "OOBE/Desktop/HideOobe"]
    assert r["value"] == "False"
    # the untouched package matches its source
    clean = run_json("inspect", real_ppkg / f"{REAL}.ppkg")
    assert clean["source"]["state"] == "matches"
    assert not [w for w in clean["warnings"] if w["code"] == "source-compiled-mismatch"]


def test_without_customizations_everything_comes_from_the_compiled_side(real_ppkg, tmp_path):
    tree = wimlib_extract(real_ppkg / f"{REAL}.ppkg", tmp_path / "tree")
    original = files_of(tree)
    (tree / "Multivariant/0/customizations.xml").unlink()
    pkg = _capture(tree, tmp_path / "nocust.ppkg", real_ppkg / f"{REAL}.ppkg")
    doc = run_json("inspect", pkg, "--show-secrets")
    assert doc["source"] is None
    named = [c for c in doc["compiled"] if c["setting"]]
    assert len(named) == len(doc["compiled"]) == 16
    # every compiled setting is listed, by its keyed path, with the compiled value in WCD's form
    embedded = run_json("inspect", real_ppkg / f"{REAL}.ppkg", "--show-secrets")
    assert [(s["path"], s["value"]) for s in doc["settings"]] == [(s["path"], s["value"]) for s in embedded["settings"]]
    assert len(doc["settings"]) == 16
    # export reconstructs a customizations.xml that build turns back into the same compiled content
    code, _out, err = run_cli("export", pkg, "-o", tmp_path / "rebuilt.xml")
    assert code == 0, err
    assets = tmp_path / "assets"
    assets.mkdir()
    for f in (tree / "DataAsset").rglob("*"):
        if f.is_file() and f.name != "DataAsset.xml":
            shutil.copy(f, assets / f.name)
    code, _out, err = run_cli("build", tmp_path / "rebuilt.xml", "-o", tmp_path / "rebuilt.ppkg", "--asset-dir", assets)
    assert code == 0, err
    rebuilt = files_of(wimlib_extract(tmp_path / "rebuilt.ppkg", tmp_path / "x"))

    def compiled(files):
        return sorted((re.sub(r"^.*/\d+__", "", p), x[:4]) for p, v in files.items() if p.endswith(".provxml")
                      for x in parms(v))
    assert compiled(rebuilt) == compiled(original)


def test_one_node_two_paths_conflict_and_precedence_decides(tmp_path):
    """DeviceManagement/MemoryDump/AllowCrashDump and Policies/MemoryDump/AllowCrashDump are one CSP node
    (./Vendor/MSFT/Policy/Config/MemoryDump/AllowCrashDump): resolve sees one setting and the higher
    package wins."""
    dm = "<DeviceManagement><MemoryDump><AllowCrashDump>Allowed</AllowCrashDump></MemoryDump></DeviceManagement>"
    low = write_package(tmp_path / "oem.ppkg", customizations_xml(name="oem", owner="OEM", rank=1, common=dm))
    high = write_package(tmp_path / "it.ppkg", customizations_xml(
        name="it", owner="ITAdmin", rank=1, common=policies({"MemoryDump/AllowCrashDump": "Not allowed"})))
    a = run_json("inspect", low)["compiled"]
    b = run_json("inspect", high)["compiled"]
    assert [(c["characteristic"], c["parm"]) for c in a] == [(c["characteristic"], c["parm"]) for c in b] == [
        ("Policy/Config/MemoryDump", "AllowCrashDump")]
    res = run_json("resolve", low, high)
    (r,) = [s for s in res["settings"] if s["node"] == "Device:Policy/Config/MemoryDump/AllowCrashDump"]
    assert r["package"].endswith("it.ppkg") and r["path"] == "Policies/MemoryDump/AllowCrashDump"
    assert r["settings"] == ["Policies/MemoryDump/AllowCrashDump", "DeviceManagement/MemoryDump/AllowCrashDump"]
    (o,) = r["overridden"]
    assert o["package"].endswith("oem.ppkg") and o["path"] == "DeviceManagement/MemoryDump/AllowCrashDump"
    assert res["conflicts"] == 1


def test_every_certificate_kind_shows_in_inspect_after_build_and_build_trust(tmp_path):
    """The certificate kinds build compiles (the settings store's forms) are the ones inspect reads."""
    import datetime as dt
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    def cert(cn):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = dt.datetime.now(dt.timezone.utc)
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
        p = tmp_path / f"{cn}.pem"
        p.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return p, c, key

    kinds = {}
    for opt, cn in (("--root-cert", "Root"), ("--ca-cert", "Issuing"), ("--trusted-people", "Peer"),
                    ("--trusted-provisioner", "Signer")):
        path, c, _ = cert(cn)
        kinds[opt] = (path, hashlib.sha1(c.public_bytes(serialization.Encoding.DER)).hexdigest().upper())
    _p, dev, dev_key = cert("Device")
    pfx = tmp_path / "device.pfx"
    pfx.write_bytes(pkcs12.serialize_key_and_certificates(b"device", dev_key, dev, None,
                                                          serialization.BestAvailableEncryption(b"pw")))
    (tmp_path / "pfx.pass").write_text("pw\n")
    cust = tmp_path / "c.xml"
    cust.write_bytes(customizations_xml(name="certs", owner="ITAdmin", rank=1,
                                        common="<OOBE><Desktop><HideOobe>True</HideOobe></Desktop></OOBE>"))
    args = [a for opt, (p, _t) in kinds.items() for a in (opt, p)]
    code, _o, err = run_cli("build", cust, "-o", tmp_path / "certs.ppkg", *args, "--client-pfx", pfx,
                            "--pfx-password-file", tmp_path / "pfx.pass")
    assert code == 0, err
    doc = run_json("inspect", tmp_path / "certs.ppkg")
    got = {(c["kind"], c["thumbprint"]) for c in doc["certificates"]}
    want = {("Root", kinds["--root-cert"][1]), ("CA", kinds["--ca-cert"][1]),
            ("TrustedPeople", kinds["--trusted-people"][1]),
            ("TrustedProvisioner", kinds["--trusted-provisioner"][1]),
            ("Client", hashlib.sha1(dev.public_bytes(serialization.Encoding.DER)).hexdigest().upper())}
    assert want <= got, (want - got, doc["certificates"])
    named = {c["setting"] for c in doc["compiled"]}
    assert {"Certificates/RootCertificates/RootCertificate/CertificatePath",
            "Certificates/CACertificates/CACerificate/CertificatePath",
            "Certificates/TrustedPeopleCertificates/Certificate/TrustedCertificate",
            "Certificates/TrustedProvisioners/Certificate/TrustedProvisioner",
            "Certificates/ClientCertificates/ClientCertificate/CertificatePath"} <= named
    # build-trust: the one certificate, as a trusted provisioner
    code, _o, err = run_cli("build-trust", "--cert", kinds["--trusted-provisioner"][0], "-o", tmp_path / "t.ppkg")
    assert code == 0, err
    trust = run_json("inspect", tmp_path / "t.ppkg")
    assert [(c["kind"], c["thumbprint"]) for c in trust["certificates"]] == [
        ("TrustedProvisioner", kinds["--trusted-provisioner"][1])]


def test_diff_compares_compiled_content_and_says_when_only_the_source_differs(real_ppkg, tmp_path):
    """diff on the package Windows applies: the edited provxml is a settings change; a package whose
    customizations.xml alone was edited is 'only the source differs'."""
    edited, _ = _edited(real_ppkg, tmp_path / "e")
    doc = run_json("diff", real_ppkg / f"{REAL}.ppkg", edited)
    assert [(c["path"], c["a"], c["b"]) for c in doc["settings"]["changed"]] == [
        ("OOBE/Desktop/HideOobe", "True", "False")]
    assert doc["only_source_differs"] is False
    tree = wimlib_extract(real_ppkg / f"{REAL}.ppkg", tmp_path / "s")
    cust = tree / "Multivariant/0/customizations.xml"
    cust.write_bytes(cust.read_bytes().replace(b"<HideOobe>True</HideOobe>", b"<HideOobe>False</HideOobe>"))
    src_only = _capture(tree, tmp_path / "src-only.ppkg", real_ppkg / f"{REAL}.ppkg")
    doc = run_json("diff", real_ppkg / f"{REAL}.ppkg", src_only)
    assert doc["settings"]["changed"] == [] and doc["only_source_differs"] is True
    assert [(c["path"], c["a"], c["b"]) for c in doc["source"]["changed"]] == [
        ("OOBE/Desktop/HideOobe", "True", "False")]
    code, out, _err = run_cli("diff", real_ppkg / f"{REAL}.ppkg", src_only)
    assert "only the embedded customizations.xml differs" in out + _err


def test_secret_bearing_outputs_are_private_and_not_printed(real_ppkg, tmp_path):
    """export, extract, deploy and pack: a written file that holds a password or an ODJ blob is 0600,
    and nothing secret reaches stdout without --show-secrets (issue 17, secret-output rule)."""
    import json
    import os
    import stat
    pkg = real_ppkg / "icd-cli-oobe.ppkg"        # a local account password and one in a reg.exe command line
    import sys
    secrets = ("Letmein#2024",)

    def export(*args):
        r = subprocess.run([sys.executable, "-m", "ppkgtool", "export", str(pkg), *map(str, args)],
                           capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr
    code, out, err = export()
    assert code == 0 and not any(s in out + err for s in secrets) and "REDACTED" in out
    code, out, err = export("--json")
    assert code == 0 and not any(s in out for s in secrets)
    code, out, _ = export("--show-secrets")
    assert all(s in out for s in secrets)
    code, _o, err = run_cli("export", pkg, "-o", tmp_path / "c.xml")
    assert code == 0, err
    assert stat.S_IMODE(os.stat(tmp_path / "c.xml").st_mode) == 0o600
    assert all(s in (tmp_path / "c.xml").read_text(encoding="utf-8-sig") for s in secrets)
    # extract: the files with secrets are 0600, the others 0644
    code, out, err = run_cli("extract", pkg, tmp_path / "x", "--json")
    assert code == 0, err
    for f in json.loads(out)["files"]:
        mode = stat.S_IMODE(os.stat(f["written_to"]).st_mode)
        data = Path(f["written_to"]).read_bytes()
        holds = any(s.encode() in data for s in secrets) or b"Password" in data and f["path"].endswith(
            "Accounts_Users_admin.provxml")
        assert mode == (0o600 if f["private"] else 0o644), f
        if holds:
            assert f["private"], f["path"]
    # pack of that folder keeps the package private
    code, _o, err = run_cli("pack", tmp_path / "x", "-o", tmp_path / "repacked.ppkg")
    assert code == 0, err
    assert stat.S_IMODE(os.stat(tmp_path / "repacked.ppkg").st_mode) == 0o600
    # deploy of a 0600 package keeps 0600
    usb = tmp_path / "usb"
    usb.mkdir()
    code, _o, err = run_cli("deploy", tmp_path / "repacked.ppkg", "--usb", usb)
    assert code == 0, err
    (copied,) = list(usb.glob("*.ppkg"))
    assert stat.S_IMODE(os.stat(copied).st_mode) == 0o600


def test_lone_surrogates_and_control_characters_are_printed_escaped(tmp_path):
    """Untrusted text: JSON stays one valid document, text output escapes ESC and lone surrogates,
    and a Registry.pol key the reg.exe script cannot carry is a typed error (exit 3)."""
    import json
    import struct
    from ppkgtool.cli.output import json_text, safe_text
    assert safe_text("a\x1b[31mb\udc80") == "a\\x1b[31mb\\udc80"
    assert json.loads(json_text({"k": "x\udc80"}))["k"] == "x\udc80"

    def s(t):
        return t.encode("utf-16-le", "surrogatepass") + b"\0\0"
    pol = tmp_path / "bad.pol"
    pol.write_bytes(b"PReg" + struct.pack("<I", 1) + b"[\0" + s("Software\\P\udc80") + b";\0" + s("V") + b";\0"
                    + struct.pack("<I", 1) + b";\0" + struct.pack("<I", 4) + b";\0" + "ab".encode("utf-16-le") + b"]\0")
    cust = tmp_path / "c.xml"
    cust.write_bytes(customizations_xml(name="p", owner="ITAdmin", rank=1,
                                        common="<OOBE><Desktop><HideOobe>True</HideOobe></Desktop></OOBE>"))
    code, _out, err = run_cli("build", cust, "-o", tmp_path / "p.ppkg", "--policy", pol)
    assert code == 3 and "unpaired UTF-16 surrogate" in err and not (tmp_path / "p.ppkg").exists()
