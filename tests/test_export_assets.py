"""export --with-assets DIR, then build DIR/customizations.xml: the same compiled package (issue 18).

Every real package the rebuild test reproduces (tests/test_build_corpus.py; NOT_REPRODUCED lists the
one it cannot) goes through the two commands; the result and the original are extracted with
wimlib-imagex (an independent reader) and compared with test_build_corpus's comparison: every
provxml parm (scope, characteristic path, parm name, value, datatype) and every RunTime.xml /
User_RunTime.xml entry, plus every DataAsset payload by file name and SHA-256. A package built by an
older WCD is built against the settings model that reproduces it (--store-build / --store-file, as
its author's WCD), in the runtime layout export names.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from build_helpers import files_of, wimlib_extract
from test_build_corpus import NOT_REPRODUCED, _compiled
from test_inspect_support import customizations_xml, policies, run_cli, write_package
from ppkgtool.package.store import builtin_builds


def _content(package: Path, dest: Path) -> tuple[list, list]:
    """(compiled entries as test_build_corpus compares them, DataAsset payloads by name and SHA-256)."""
    files = files_of(wimlib_extract(package, dest), with_assets=True)
    assets = sorted((p.rsplit("/", 1)[-1], hashlib.sha256(v).hexdigest()) for p, v in files.items()
                    if p.startswith("DataAsset/") and p != "DataAsset/DataAsset.xml")
    return _compiled({p: v for p, v in files.items() if p.endswith((".xml", ".provxml"))}), assets


def _packages(shared: Path) -> list[Path]:
    return sorted([*(shared / "real-ppkg").glob("*.ppkg"), *(shared / "corpus" / "ppkg").glob("*.ppkg")])


def _models(shared: Path) -> list[list[str]]:
    """The settings models to try, the default first (as test_build_corpus tries them)."""
    return [[]] + [["--store-build", b] for b in builtin_builds()] + \
        [["--store-file", str(p)] for p in sorted((shared / "wcd-store").glob("*.dat"))]


def _export(package: Path, dest: Path, *extra) -> dict:
    code, out, err = run_cli("export", package, "--with-assets", dest, "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def _round_trip(package: Path, work: Path, models, *, reconstruct: bool) -> tuple[str, str]:
    """(result, detail): export + build with the first model that reproduces the package."""
    want = _content(package, work / "orig")
    last = "no model tried"
    for i, model in enumerate(models):
        d = work / f"m{i}"
        doc = _export(package, d / "exported", *(["--reconstruct", *model] if reconstruct else []))
        out = d / "out.ppkg"
        code, _out, err = run_cli("build", d / "exported" / "customizations.xml", "-o", out, "--no-catalog",
                                  "--runtime-layout", doc["runtime_layout"], *model)
        if code != 0:
            last = f"refused by {model or 'the default model'}: {err.strip().splitlines()[-1][:160]}"
            continue
        got = _content(out, d / "rebuilt")
        if got == want:
            return "ok", " ".join(model) or "default"
        last = (f"{model or 'default'}: missing {sorted(set(want[0]) - set(got[0]))[:2]}, extra "
                f"{sorted(set(got[0]) - set(want[0]))[:2]}, assets equal {got[1] == want[1]}")
    return "differs", last


@pytest.mark.parametrize("reconstruct", [False, True], ids=["embedded", "reconstructed"])
def test_export_with_assets_then_build_reproduces_every_real_package(shared_fixtures, tmp_path, capsys, reconstruct):
    models = _models(shared_fixtures)
    done, failures = [], []
    packages = [p for p in _packages(shared_fixtures) if p.stem not in NOT_REPRODUCED]
    for n, package in enumerate(packages):
        result, detail = _round_trip(package, tmp_path / str(n), models, reconstruct=reconstruct)
        (done if result == "ok" else failures).append(f"{package.stem}: {detail}")
    with capsys.disabled():
        print(f"\nexport --with-assets{' --reconstruct' if reconstruct else ''} + build: {len(done)}/{len(packages)} "
              f"real packages give the same compiled content and asset payloads")
    assert not failures, "\n".join(failures)
    assert len(done) >= 33


def test_exported_assets_are_the_package_files_and_references_point_at_them(real_ppkg, tmp_path):
    pkg = real_ppkg / "wcd-gui-commands-msi.ppkg"
    doc = _export(pkg, tmp_path / "x")
    names = {a["file"]: a for a in doc["assets"]}
    assert set(names) == {"Cortex_XDR_9_0_0_16757_x64.msi", "GlobalProtect64-6.2.8-c263.msi"}
    tree = wimlib_extract(pkg, tmp_path / "orig")
    for name, a in names.items():
        [orig] = list((tree / "DataAsset").rglob(name))
        assert (tmp_path / "x" / name).read_bytes() == orig.read_bytes()
        assert a["from"] == orig.relative_to(tree).as_posix() and a["size"] == orig.stat().st_size
        assert a["private"] is False
    xml = (tmp_path / "x" / "customizations.xml").read_text("utf-8-sig")
    assert "<CommandFile>Cortex_XDR_9_0_0_16757_x64.msi</CommandFile>" in xml and "D:\\" not in xml
    # the package's local-account password: the customizations.xml is written 0600
    assert stat.S_IMODE(os.stat(tmp_path / "x" / "customizations.xml").st_mode) == 0o600
    assert doc["how"] == "embedded" and doc["private"] is True and doc["runtime_layout"] == "wcd"
    assert doc["build"] == f"ppkgtool build {tmp_path / 'x' / 'customizations.xml'} -o PKG.ppkg"


def test_existing_files_are_never_replaced_without_overwrite(real_ppkg, tmp_path):
    pkg = real_ppkg / "wcd-itadmin-rank52.ppkg"
    dest = tmp_path / "x"
    dest.mkdir()
    (dest / "lockscreen.png").write_bytes(b"mine")
    code, out, err = run_cli("export", pkg, "--with-assets", dest)
    assert code == 3 and "lockscreen.png already exists" in err and "--overwrite" in err
    assert sorted(p.name for p in dest.iterdir()) == ["lockscreen.png"]      # nothing else was written
    assert (dest / "lockscreen.png").read_bytes() == b"mine"
    code, out, err = run_cli("export", pkg, "--with-assets", dest, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in dest.iterdir()) == ["customizations.xml", "lockscreen.png", "wallpaper.png"]
    assert (dest / "lockscreen.png").read_bytes() != b"mine"
    a_file = tmp_path / "file"
    a_file.write_bytes(b"")
    code, _out, err = run_cli("export", pkg, "--with-assets", a_file)
    assert code == 3 and "is not a folder" in err
    code, _out, err = run_cli("export", pkg, "--with-assets", tmp_path / "y", "--settings")
    assert code == 2


def test_an_asset_key_that_leaves_its_folder_is_refused(tmp_path):
    cust = customizations_xml(name="t", owner="ITAdmin", rank=1, common=(
        "<ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"c\"><CommandFile>C:\\setup.cmd"
        "</CommandFile><CommandLine>cmd /c setup.cmd</CommandLine></CommandConfig></Command></PrimaryContext>"
        "</ProvisioningCommands>"))
    good = write_package(tmp_path / "good.ppkg", cust, assets={"setup.cmd": b"echo hi\r\n"})
    assert run_cli("export", good, "--with-assets", tmp_path / "ok")[0] == 0
    assert (tmp_path / "ok" / "setup.cmd").read_bytes() == b"echo hi\r\n"
    da = files_of(wimlib_extract(good, tmp_path / "g"))["DataAsset/DataAsset.xml"]
    for evil in (b"..\\..\\..\\evil.cmd", b"x\\..\\evil.cmd", b"CON"):
        key = da.split(b'Key="', 2)[2].split(b'"', 1)[0]
        bad = write_package(tmp_path / "bad.ppkg", cust, assets={"setup.cmd": b"echo hi\r\n"},
                            replace={"DataAsset/DataAsset.xml": da.replace(key, evil)})
        dest = tmp_path / "out"
        code, _out, err = run_cli("export", bad, "--with-assets", dest)
        assert code == 3, err
        assert "DataAsset.xml" in err and "asset key" in err
        assert not dest.exists() and not (tmp_path / "evil.cmd").exists()


def test_two_files_of_one_name_are_kept_apart(tmp_path):
    for folder, text in (("one", b"echo one\r\n"), ("two", b"echo two\r\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "setup.cmd").write_bytes(text)
    cmds = "".join(f"<CommandConfig Name=\"{f}\"><CommandFile>{f}\\setup.cmd</CommandFile>"
                   f"<CommandLine>cmd /c setup.cmd</CommandLine></CommandConfig>" for f in ("one", "two"))
    xml = tmp_path / "c.xml"
    xml.write_bytes(customizations_xml(name="t", owner="ITAdmin", rank=1, common=(
        f"<ProvisioningCommands><PrimaryContext><Command>{cmds}</Command></PrimaryContext></ProvisioningCommands>")))
    assert run_cli("build", xml, "-o", tmp_path / "a.ppkg", "--no-catalog")[0] == 0
    doc = _export(tmp_path / "a.ppkg", tmp_path / "x")
    assert [a["file"] for a in doc["assets"]] == ["setup.cmd", "2/setup.cmd"]
    assert (tmp_path / "x" / "2" / "setup.cmd").read_bytes() == b"echo two\r\n"
    assert run_cli("build", tmp_path / "x" / "customizations.xml", "-o", tmp_path / "b.ppkg", "--no-catalog")[0] == 0
    assert _content(tmp_path / "a.ppkg", tmp_path / "ea") == _content(tmp_path / "b.ppkg", tmp_path / "eb")


# --- item 10: "--reconstruct drops the root certificate" -----------------------------------------

def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def certificate_package(tmp_path, real_odj, shared_fixtures):
    """A package with every certificate kind, a client PFX, an ODJ blob and a Registry.pol, built
    by the build command from files openssl made."""
    for cn in ("CorpRoot", "CorpIssuing", "Client"):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 str(tmp_path / f"{cn}.key"), "-out", str(tmp_path / f"{cn}.pem"), "-days", "30", "-subj", f"/CN={cn}")
    (tmp_path / "pfx.pass").write_text("Pfx-Secret-1\n")
    _openssl("pkcs12", "-export", "-inkey", str(tmp_path / "Client.key"), "-in", str(tmp_path / "Client.pem"),
             "-out", str(tmp_path / "Client.pfx"), "-passout", "pass:Pfx-Secret-1")
    xml = tmp_path / "c.xml"
    xml.write_bytes(customizations_xml(name="certs", owner="ITAdmin", rank=1,
                                       common=policies({"Experience/AllowCortana": "No"})))
    pkg = tmp_path / "certs.ppkg"
    code, _out, err = run_cli(
        "build", xml, "-o", pkg, "--no-catalog", "--root-cert", tmp_path / "CorpRoot.pem", "--ca-cert",
        tmp_path / "CorpIssuing.pem", "--trusted-people", tmp_path / "CorpIssuing.pem", "--trusted-provisioner",
        tmp_path / "CorpRoot.pem", "--client-pfx", tmp_path / "Client.pfx", "--pfx-password-file",
        tmp_path / "pfx.pass", "--odj", real_odj / "windows-w2k19-provision-data.bin", "--policy",
        shared_fixtures / "corpus" / "regpol" / "lgpo__GroupPolicy_Machine_Registry__0f2aad3f.pol")
    assert code == 0, err
    return pkg


def _thumb(path: Path, *inform: str) -> str:
    return _openssl("x509", *inform, "-in", str(path), "-noout", "-fingerprint", "-sha1").split("=", 1)[1].strip() \
        .replace(":", "")


@pytest.mark.parametrize("reconstruct", [False, True], ids=["embedded", "reconstructed"])
def test_certificates_odj_and_policy_round_trip(certificate_package, tmp_path, reconstruct):
    dest = tmp_path / "x"
    code, out, err = run_cli("export", certificate_package, "--with-assets", dest, "--json",
                             *(["--reconstruct"] if reconstruct else []))
    assert code == 0, err
    doc = json.loads(out)
    # reported without content: no PFX bytes, no password, no machine password
    assert "Pfx-Secret-1" not in out + err and "MII" not in out and "wurst2\"" not in out
    files = {a["file"]: a for a in doc["assets"]}
    kinds = {s.split("/")[1] for a in doc["assets"] for s in a["settings"] if s.startswith("Certificates/")}
    assert kinds == {"RootCertificates", "CACertificates", "TrustedPeopleCertificates", "TrustedProvisioners",
                     "ClientCertificates"}
    root = next(f for f, a in files.items() if a["settings"][0].startswith("Certificates/RootCertificates/"))
    assert _thumb(dest / root, "-inform", "DER") == _thumb(tmp_path / "CorpRoot.pem")
    issuing = next(f for f, a in files.items() if a["settings"][0].startswith("Certificates/CACertificates/"))
    assert _thumb(dest / issuing, "-inform", "DER") == _thumb(tmp_path / "CorpIssuing.pem")
    pfx = next(f for f, a in files.items() if a["settings"][0].startswith("Certificates/ClientCertificates/"))
    assert (dest / pfx).read_bytes() == (tmp_path / "Client.pfx").read_bytes()
    odj = next(f for f in files if f.startswith("odj-"))
    for secret in (pfx, odj, "customizations.xml"):
        assert stat.S_IMODE(os.stat(dest / secret).st_mode) == 0o600, secret
    assert files[pfx]["private"] and files[odj]["private"] and not files[root]["private"]
    # one file for one certificate, however many settings name it (the root is also a trusted provisioner)
    assert [s.split("/")[1] for s in files[root]["settings"]] == ["RootCertificates", "TrustedProvisioners"]
    assert any(f.endswith(".pol") for f in files) and any(f.endswith(".cmd") for f in files)
    if reconstruct:
        assert "not in the catalogue" not in err          # was: the root, CA and TrustedPeople certificates
        assert doc["how"] == "reconstructed"
    rebuilt = tmp_path / "rebuilt.ppkg"
    code, _out, err = run_cli("build", dest / "customizations.xml", "-o", rebuilt, "--no-catalog")
    assert code == 0, err
    assert _content(rebuilt, tmp_path / "b") == _content(certificate_package, tmp_path / "a")
