"""The small items of issue 18 ("What a new user hits"), each reproduced as a user meets it:
the ``ppkgtool`` console script on real fixture packages, its stdout, stderr and exit code."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from certs import make_pki

PPKGTOOL = str(Path(sys.executable).with_name("ppkgtool"))
PY_WARNING = re.compile(r"\w+Warning: |\.py:\d+: ")


def cli(*argv, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([PPKGTOOL, *map(str, argv)], capture_output=True, text=True, timeout=300, cwd=cwd)


def root_cert_xml(cert_path: str, name: str = "CorpRoot") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{{11111111-2222-3333-4444-555555555555}}</ID><Name>CertTest</Name><Version>1.0</Version>
    <OwnerType>ITAdmin</OwnerType><Rank>0</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning"><Customizations><Common>
    <Certificates><RootCertificates><RootCertificate CertificateName="{name}" Name="{name}">
      <CertificatePath>{cert_path}</CertificatePath>
    </RootCertificate></RootCertificates></Certificates>
  </Common></Customizations></Settings>
</WindowsCustomizations>
"""


@pytest.fixture
def root_pkg(tmp_path):
    """A package whose customizations.xml installs root.cer as CertificateName CorpRoot."""
    pki = make_pki(tmp_path / "pki")
    shutil.copy(pki.root_pem, tmp_path / "root.cer")
    (tmp_path / "c.xml").write_text(root_cert_xml(r"C:\certs\root.cer"))
    r = cli("build", tmp_path / "c.xml", "-o", tmp_path / "c.ppkg", "--asset-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    return tmp_path / "c.ppkg"


# item 1: "inspect of an encrypted package without its password prints 'ALTITUDE None',
# 'OwnerType None' and exits 0 — it should say plainly that the package is encrypted and what is
# unknown without the password (and how to give it), in text and --json, with no 'None' values"
def test_inspect_encrypted_without_password_says_so(tmp_path, real_ppkg):
    pw = tmp_path / "pw"
    pw.write_text("Secret-Pass-1234\n")
    enc = tmp_path / "enc.ppkg"
    r = cli("encrypt", real_ppkg / "icd-cli-oobe.ppkg", "-o", enc, "--password-file", pw)
    assert r.returncode == 0, r.stderr
    text = cli("inspect", enc)
    assert text.returncode == 0, text.stderr
    assert "None" not in text.stdout
    assert "encrypted  yes: its contents are unknown without the password" in text.stdout
    assert "owner type" in text.stdout and "ALTITUDE" in text.stdout        # listed as unknown
    assert "--password-file FILE or --password-env NAME" in text.stdout
    doc = json.loads(cli("inspect", enc, "--json").stdout)
    assert doc["encrypted"] is True and doc["readable"] is False
    assert {"owner_type", "rank", "altitude", "settings"} <= set(doc["unknown_without_password"])
    assert "owner_type" not in doc and "altitude" not in doc and "settings" not in doc
    assert "--password-file" in doc["hint"] and "--password-env" in doc["hint"]
    assert [w["code"] for w in doc["warnings"] if w["severity"] != "info"] == []
    # with the password everything is there
    doc = json.loads(cli("inspect", enc, "--json", "--password-file", pw).stdout)
    assert doc["readable"] is True and doc["owner_type"] == "OEM" and doc["altitude"] == 2000


# item 2: '"target SKUs Invalid" is unexplained in inspect output'
@pytest.mark.parametrize("package,value,meaning", [
    ("icd-cli-oobe.ppkg", "Invalid", "no target edition recorded: built from the command line"),
    ("wcd-gui-commands-msi.ppkg", "WindowsCommon,Desktop", "all Windows editions"),
    ("wcd-itadmin-rank52.ppkg", "Desktop", "Windows desktop editions"),
])
def test_target_skus_are_explained(real_ppkg, package, value, meaning):
    doc = json.loads(cli("inspect", real_ppkg / package, "--json").stdout)
    assert doc["target_skus"] == value and meaning in doc["target_skus_meaning"]
    text = cli("inspect", real_ppkg / package).stdout
    line = next(ln for ln in text.splitlines() if ln.startswith("target SKUs"))
    assert value in line and meaning in line


# item 3: 'The certificate "name" column shows the thumbprint, not CertificateName'
def test_certificate_name_is_certificate_name(root_pkg):
    doc = json.loads(cli("inspect", root_pkg, "--json").stdout)
    (cert,) = doc["certificates"]
    assert cert["name"] == "CorpRoot" and re.fullmatch(r"[0-9A-F]{40}", cert["thumbprint"])
    rows = [ln.split("\t") for ln in cli("inspect", root_pkg).stdout.splitlines() if ln.startswith("Root\t")]
    assert rows and rows[0][1] == "CorpRoot" and rows[0][3] == cert["thumbprint"]


def test_trusted_provisioner_has_no_name_but_its_thumbprint(tmp_path, real_ppkg):
    pki = make_pki(tmp_path / "pki")
    out = tmp_path / "tp.ppkg"
    r = cli("build", real_ppkg.parent / "corpus" / "wcd-projects" / "bypass_win11_oobe__c4a8af5f" / "customizations.xml",
            "-o", out, "--trusted-provisioner", pki.root_pem, "--root-cert", pki.root_pem)
    assert r.returncode == 0, r.stderr
    certs = json.loads(cli("inspect", out, "--json").stdout)["certificates"]
    kinds = {c["kind"]: c for c in certs}
    assert kinds["TrustedProvisioner"]["name"] is None and kinds["TrustedProvisioner"]["thumbprint"]
    assert kinds["Root"]["name"] and kinds["Root"]["name"] != kinds["Root"]["thumbprint"]


# item 4: '`inspect DIR` (a directory) says "no such package file"'
def test_inspect_of_a_folder_says_folder(tmp_path):
    r = cli("inspect", tmp_path)
    assert r.returncode == 3 and "is a folder, not a package file" in r.stderr
    assert "no such" not in r.stderr


# item 5: '`build -o existingdir` suggests `--overwrite`, which then refuses'
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_build_into_a_folder_gets_a_file_path_hint(root_pkg, overwrite):
    folder = root_pkg.parent / "outdir"
    folder.mkdir()
    r = cli("build", root_pkg.parent / "c.xml", "-o", folder, "--asset-dir", root_pkg.parent, *overwrite)
    assert r.returncode == 3
    assert "outdir is a folder, not a regular file" in r.stderr and "give the path of the file to write" in r.stderr
    assert "pass --overwrite" not in r.stderr
    assert folder.is_dir() and not any(folder.iterdir())


# item 6: 'Asset-not-found messages double the backslashes (a Windows path like C:\x shown as
# C:\\x because of repr())'
def test_asset_not_found_shows_the_path_once(tmp_path):
    (tmp_path / "c.xml").write_text(root_cert_xml(r"C:\certs\root.cer"))
    r = cli("build", tmp_path / "c.xml", "-o", tmp_path / "x.ppkg")
    assert r.returncode == 3
    assert r"asset file 'C:\certs\root.cer' not found" in r.stderr and "\\\\" not in r.stderr
    doc = json.loads(cli("build", tmp_path / "c.xml", "-o", tmp_path / "x.ppkg", "--json").stdout)
    assert r"'C:\certs\root.cer'" in doc["error"]["message"]


# item 7: 'An unused `--var NAME=VALUE` in `build` is not warned about'
def test_unused_variable_is_warned_about(root_pkg):
    d = root_pkg.parent
    r = cli("build", d / "c.xml", "-o", d / "v.ppkg", "--asset-dir", d, "--var", "SITE=Berlin")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "SITE" in ln]
    assert lines == [f"warning: variable SITE (--var/--var-file) is not used: {d / 'c.xml'} has no $(SITE)"]
    r = cli("build", d / "c.xml", "-o", d / "w.ppkg", "--asset-dir", d, "--var", "SITE=Berlin", "--json")
    assert r.returncode == 0
    assert any("variable SITE" in w for w in json.loads(r.stdout)["warnings"])


# item 9: "The cryptography library's warnings about odd certificates in real driver catalogs reach
# stderr as Python warnings"
ODD_CATALOG = "MSM8994-8992__msm8992-8994_Drivers_Null_qcnull.cat"   # negative serial, 73-char name attribute


def test_odd_catalog_certificates_are_report_lines(tmp_path, shared_fixtures, real_ppkg):
    cat = shared_fixtures / "corpus" / "cat" / ODD_CATALOG
    r = cli("verify", real_ppkg / "icd-cli-oobe.ppkg", "--catalog", cat)
    assert r.returncode == 4
    assert not PY_WARNING.search(r.stderr), r.stderr
    assert "warning: catalog certificate 3 (CN=Windows On Lumia Development Hardware Driver 2020): its serial " \
           "number is negative or zero" in r.stderr
    doc = json.loads(cli("verify", real_ppkg / "icd-cli-oobe.ppkg", "--catalog", cat, "--json").stdout)
    assert any("73 characters long" in n for n in doc["notes"])
    # inspect of a package with that catalog beside it: the same lines as info warnings
    shutil.copy(real_ppkg / "icd-cli-oobe.ppkg", tmp_path / "p.ppkg")
    shutil.copy(cat, tmp_path / "p.cat")
    r = cli("inspect", tmp_path / "p.ppkg", "--json")
    assert not PY_WARNING.search(r.stderr), r.stderr
    notes = [w for w in json.loads(r.stdout)["warnings"] if w["code"] == "catalog-note"]
    assert len(notes) == 3 and all(w["severity"] == "info" for w in notes)


# item 11 (item 8 remainder): "`odj compose --facts` accepts `odj show --json` output"
def test_compose_from_odj_show_json_of_the_windows_blob(tmp_path, real_odj):
    show = cli("odj", "show", real_odj / "windows-w2k19-provision-data.bin", "--json")
    assert show.returncode == 0
    facts = tmp_path / "show.json"
    facts.write_text(show.stdout)
    pw = tmp_path / "pw"
    pw.write_text("Machine-Pass-123\n")
    out = tmp_path / "new.odj"
    r = cli("odj", "compose", "--facts", facts, "--machine", "NEWPC", "--rid", "1234", "--password-file", pw,
            "--binary", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads(cli("odj", "show", out, "--json").stdout)
    old = json.loads(show.stdout)
    for key in ("domain", "netbios_name", "domain_guid", "domain_sid", "dc_name", "dc_address"):
        assert doc[key] == old[key], key
    assert doc["machine_name"] == "NEWPC"          # the blob's own machine is never carried over
    ndrdump = shutil.which("ndrdump")
    if ndrdump:                                    # the independent reader, where Samba's test tools are
        p = subprocess.run([ndrdump, "ODJ", "ODJ_PROVISION_DATA_serialized_ptr", "struct", str(out)],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "NEWPC" in p.stdout and "w2k19dom.ber.redhat.com" in p.stdout
