"""The public Python API (issue 20, docs/api.md): its names, its examples run for real and checked by
independent readers (wimlib-imagex, openssl), its errors, its types (mypy --strict), and the CLI
built on it alone."""

from __future__ import annotations

import ast
import csv
import dataclasses
import io
import os
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import ppkgtool
from certs import make_pki
from conftest import shared_fixtures_dir

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "api.md"
CLI = ROOT / "ppkgtool" / "cli"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


# --- the names -------------------------------------------------------------------------------------

def test_help_shows_the_public_names():
    env = dict(os.environ, PAGER="cat", TERM="dumb")
    out = subprocess.run([sys.executable, "-c", "import ppkgtool; help(ppkgtool)"], capture_output=True,
                         text=True, env=env, check=True, cwd=ROOT).stdout
    for name in ("PackageBuilder", "open_package", "resolve", "verify", "compose_odj", "provision_odj",
                 "save_odj", "decode_odj", "deploy_package", "encrypt", "PpkgError"):
        assert name in out, name
    assert "docs/api.md" in out


def test_every_public_name_resolves_to_its_one_home():
    """__all__, the lazy map and the TYPE_CHECKING imports (what mypy sees) name the same objects."""
    tree = ast.parse((ROOT / "ppkgtool" / "__init__.py").read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom)
                for a in imp.names:
                    assert a.asname == a.name        # an explicit re-export
                    typed[a.name] = imp.module
    assert typed == ppkgtool._HOME
    assert set(ppkgtool.__all__) == set(typed) | {"__version__"}
    import importlib
    for name, module in typed.items():
        assert getattr(ppkgtool, name) is getattr(importlib.import_module(module), name), name
    with pytest.raises(AttributeError):
        ppkgtool.no_such_name  # noqa: B018


def test_import_is_cheap():
    """import ppkgtool loads none of the library (names load on first use)."""
    code = "import sys, ppkgtool; print(sorted(m for m in sys.modules if m.startswith('ppkgtool')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['ppkgtool', 'ppkgtool.version']"


def test_cli_modules_import_only_public_names():
    """Every CLI module imports from ppkgtool only names in ppkgtool.__all__, the documented error
    hierarchy (ppkgtool.errors) and its own CLI helpers (ppkgtool.cli.*)."""
    public = set(ppkgtool.__all__)
    bad = []
    for f in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                bad += [f"{f.name}: import {a.name}" for a in node.names if a.name.startswith("ppkgtool")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ppkgtool") or \
                    isinstance(node, ast.ImportFrom) and node.level:
                module = node.module or ""
                if node.level or module == "ppkgtool.cli" or module.startswith("ppkgtool.cli."):
                    continue
                if module == "ppkgtool.errors":
                    continue
                if module == "ppkgtool":
                    bad += [f"{f.name}: from ppkgtool import {a.name}" for a in node.names if a.name not in public]
                else:
                    bad.append(f"{f.name}: from {module} import {', '.join(a.name for a in node.names)}")
    assert bad == []


def test_the_import_check_catches_a_private_import(tmp_path):
    """The check above is not vacuous: the CLI does import from ppkgtool, and a private import is seen."""
    sources = "".join(f.read_text(encoding="utf-8") for f in CLI.glob("*.py"))
    assert sources.count("from ppkgtool import ") > 20
    node = ast.parse("from ppkgtool.package.builder import build_package").body[0]
    assert isinstance(node, ast.ImportFrom) and node.module not in ("ppkgtool", "ppkgtool.errors")


def test_mypy_strict_on_the_public_surface():
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", os.devnull],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found in 2 source files" in proc.stdout


# --- the docs' examples, run and checked ----------------------------------------------------------

@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    pki = make_pki(tmp_path / "pki")
    for name in ("signer.pem", "signer.key", "chain.pem"):
        shutil.copy(pki.folder / name, tmp_path / name)
    shutil.copy(pki.folder / "root.pem", tmp_path / "corp-root.cer")
    shutil.copy(ROOT / "customizations" / "domain-facts.json", tmp_path / "domain-facts.json")
    shutil.copy(ROOT / "customizations" / "customizations.xml", tmp_path / "customizations.xml")
    (tmp_path / "packages").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(code: str, namespace: dict) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        exec(compile(code, str(DOC), "exec"), namespace)
    return buf.getvalue()


def test_docs_examples_run_and_their_outputs_are_right(workdir):
    examples = _examples()
    assert len(examples) == 5
    ns: dict = {}

    # 1. the per-device package: ODJ blob + root certificate, signed
    out = _run(examples[0], ns)
    pkg = workdir / "PC01.ppkg"
    assert f"wrote {pkg.name}" in out or "wrote PC01.ppkg" in out
    assert "signature: trusted" in out
    assert "joins PC01 to corp.example.test" in out
    assert re.search(r"certificate Root .*CN=Test Root rsa [0-9A-F]{40}", out), out
    # independent readers: wimlib-imagex opens the package and lists the blob and certificate files,
    # openssl reads the catalog's signature and finds our signer
    info = subprocess.run(["wimlib-imagex", "info", str(pkg)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Image Count:\s+1\n", info), info
    listing = subprocess.run(["wimlib-imagex", "dir", str(pkg), "1"], capture_output=True, text=True,
                             check=True).stdout
    assert "odj-PC01.txt" in listing and "Certificates_RootCertificates" in listing
    certs = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(workdir / "PC01.cat"), "-print_certs",
                            "-noout"], capture_output=True, text=True, check=True).stdout
    assert "Test Provisioner rsa" in certs
    assert (pkg.stat().st_mode & 0o777) == 0o600             # it carries the machine password
    assert ((workdir / "PC01.txt").stat().st_mode & 0o777) == 0o600
    assert ppkgtool.decode_odj(workdir / "PC01.txt") is not None
    # the same package through the command line reads the same
    doc = ppkgtool.open_package(pkg, trusted=[workdir / "signer.pem"]).to_json()
    from ppkgtool.cli import main
    cli_out = io.StringIO()
    with redirect_stdout(cli_out):
        rc = main(["inspect", str(pkg), "--trusted", str(workdir / "signer.pem"), "--json"])
    assert rc == 0
    import json
    assert json.loads(cli_out.getvalue()) == json.loads(json.dumps(doc))

    # 2. a bad setting is refused when set, with the command's error
    out = _run(examples[1], ns)
    assert "refused:" in out and "unknown setting OOBE/Desktop/HideOobx" in out and "exit 3" in out

    # 3. per-device packages from a customizations.xml template
    _run(examples[2], ns)
    for machine in ("PC02", "PC03"):
        p = workdir / "packages" / f"{machine}.ppkg"
        subprocess.run(["wimlib-imagex", "info", str(p)], check=True, capture_output=True)
        d = ppkgtool.open_package(p).to_json()
        assert d["name"] == "Example branch workstation (Berlin)"
        assert [c["odj"]["machine_name"] for c in d["commands"] if c["odj"]] == [machine]

    # 4. a folder of packages into a CSV (plus a real Microsoft-built package and a broken file)
    fixtures = shared_fixtures_dir()
    if fixtures is not None:
        shutil.copy(fixtures / "real-ppkg" / "wcd-itadmin-rank52.ppkg", workdir / "packages")
    (workdir / "packages" / "broken.ppkg").write_bytes(b"not a package at all")
    out = _run(examples[3], ns)
    rows = list(csv.reader(io.StringIO((workdir / "packages.csv").read_text(encoding="utf-8"))))
    assert rows[0][0] == "file"
    by_file = {r[0]: r for r in rows[1:]}
    assert by_file["PC02.ppkg"][6] == "PC02" and by_file["PC03.ppkg"][6] == "PC03"
    assert by_file["PC02.ppkg"][2] == "ITAdmin" and by_file["PC02.ppkg"][3] == "10"
    assert by_file["broken.ppkg"][7]                       # the problem, on its row
    if fixtures is not None:
        assert by_file["wcd-itadmin-rank52.ppkg"][2:4] == ["ITAdmin", "52"]
    assert "PC02.ppkg" in out

    # 5. resolving two packages: the higher rank wins
    out = _run(examples[4], ns)
    lines = out.splitlines()
    assert lines[0].startswith("1 Site") and lines[1].startswith("2 Baseline")
    assert "OOBE/Desktop/HideOobe = True from site.ppkg over ['False']" in out


# --- builder rules ------------------------------------------------------------------------------------

def _cli_error(capsys, *argv) -> tuple[int, str]:
    from ppkgtool.cli import main
    rc = main(list(argv))
    return rc, capsys.readouterr().err


def test_builder_errors_are_the_commands(tmp_path, capsys):
    xml = (ROOT / "customizations" / "customizations.xml").read_text(encoding="utf-8-sig")
    bad = tmp_path / "bad.xml"
    bad.write_text(xml.replace("<HideOobe>True</HideOobe>", "<HideOobe>maybe</HideOobe>"), encoding="utf-8")
    rc, err = _cli_error(capsys, "build", str(bad), "-o", str(tmp_path / "x.ppkg"), "--var", "SITE=x")
    b = ppkgtool.PackageBuilder("x")
    with pytest.raises(ppkgtool.CustomizationsError) as exc:
        b.set("OOBE/Desktop/HideOobe", "maybe")
    assert rc == exc.value.exit_code == 3
    tail = "setting OOBE/Desktop/HideOobe: 'maybe' is not True or False"
    assert tail in err and tail in exc.value.one_line()

    rc, err = _cli_error(capsys, "build", str(ROOT / "customizations" / "customizations.xml"), "-o",
                         str(tmp_path / "y.ppkg"), "--var", "SITE=x", "--rank", "100")
    with pytest.raises(ppkgtool.InvalidInputError) as exc2:
        ppkgtool.PackageBuilder("x", rank=100)
    assert rc == exc2.value.exit_code == 3
    assert exc2.value.one_line() in err
    with pytest.raises(ppkgtool.InvalidInputError):
        ppkgtool.PackageBuilder("x", owner_type="Vendor")
    with pytest.raises(ppkgtool.InvalidInputError):
        b.set("OOBE//", "x")


def test_builder_payloads_commands_files_and_metadata(tmp_path):
    b = ppkgtool.PackageBuilder("Tools", owner_type="OEM", rank=3, version="2.1")
    b.add_file("setup.cmd", b"@echo off\r\necho hello\r\n")
    b.add_command("Hello", "cmd.exe /c setup.cmd", file="setup.cmd")
    b.add_policy("Experience/AllowCortana", 0)
    b.set_metadata(rank=4, description="tools for the line")
    with pytest.raises(ppkgtool.InvalidInputError):
        b.add_command("Missing", "x.exe", file="x.exe")
    with pytest.raises(ppkgtool.InvalidInputError):
        b.add_certificate(tmp_path / "missing.cer")
    (tmp_path / "junk.cer").write_bytes(b"junk")
    with pytest.raises(ppkgtool.InvalidInputError):
        b.add_certificate(tmp_path / "junk.cer")
    with pytest.raises(ppkgtool.OdjError):
        b.add_odj(b"not a blob")
    result = b.write(tmp_path / "tools.ppkg", reproducible=True)
    with pytest.raises(ppkgtool.OutputExistsError):
        b.write(tmp_path / "tools.ppkg")
    assert result.catalog_path == tmp_path / "tools.cat"
    listing = subprocess.run(["wimlib-imagex", "dir", str(tmp_path / "tools.ppkg"), "1"], capture_output=True,
                             text=True, check=True).stdout
    assert "setup.cmd" in listing
    doc = ppkgtool.open_package(tmp_path / "tools.ppkg").to_json()
    assert (doc["owner_type"], doc["rank"], doc["version"]) == ("OEM", 4, "2.1")
    assert [c["command_line"] for c in doc["commands"]] == ["cmd.exe /c setup.cmd"]
    assert any(s["path"] == "Policies/Experience/AllowCortana" for s in doc["settings"])
    # a copy is independent of its template
    c = b.copy()
    c.set("OOBE/Desktop/HideOobe", True)
    assert len(list(c.customizations().leaves())) == len(list(b.customizations().leaves())) + 1


def test_encrypted_package_through_the_api(tmp_path):
    b = ppkgtool.PackageBuilder("Secret")
    b.set("OOBE/Desktop/HideOobe", True)
    password = ppkgtool.generate_password()
    b.write(tmp_path / "s.ppkg", password=password)
    closed = ppkgtool.open_package(tmp_path / "s.ppkg")
    assert closed.encrypted and not closed.readable
    with pytest.raises(ppkgtool.EncryptedPackageError):
        ppkgtool.resolve([closed])
    opened = ppkgtool.open_package(tmp_path / "s.ppkg", password=password)
    assert opened.readable and opened.name == "Secret"
    assert opened.to_json()["settings"][0]["path"] == "OOBE/Desktop/HideOobe"
    ppkgtool.decrypt(tmp_path / "s.ppkg", tmp_path / "plain.ppkg", password)
    subprocess.run(["wimlib-imagex", "info", str(tmp_path / "plain.ppkg")], check=True, capture_output=True)
    with pytest.raises(ppkgtool.WrongPasswordError):
        ppkgtool.decrypt(tmp_path / "s.ppkg", tmp_path / "again.ppkg", "wrong-password-1")
    ppkgtool.encrypt(tmp_path / "plain.ppkg", tmp_path / "again.ppkg", password)
    assert ppkgtool.open_package(tmp_path / "again.ppkg", password=password).name == "Secret"


def test_errors_come_from_the_hierarchy(tmp_path):
    facts = {"dns_domain": "corp.example", "netbios_name": "CORP", "dns_forest": "corp.example",
             "domain_guid": "6d5f3c2a-8b1e-4c7d-9a0f-2e4b6c8d0a1f", "domain_sid": "S-1-5-21-1-2-3",
             "dc_name": "dc1.corp.example", "dc_address": "192.0.2.10"}
    calls = [
        lambda: ppkgtool.open_package(tmp_path / "missing.ppkg"),
        lambda: ppkgtool.decode_odj(b"junk"),
        lambda: ppkgtool.verify(tmp_path / "missing.ppkg"),
        lambda: ppkgtool.compose_odj(dict(facts, dc_address="not-an-ip"), "PC01", "pw"),
        lambda: ppkgtool.compose_odj(facts, "BAD NAME*", "pw"),
        lambda: ppkgtool.compose_odj(dict(facts, nonsense=1), "PC01", "pw"),
        lambda: ppkgtool.deploy_package(tmp_path / "x.ppkg"),
        lambda: ppkgtool.encrypt(tmp_path / "missing.ppkg", tmp_path / "o.ppkg", "0123456789abcdef"),
        lambda: ppkgtool.save_odj(ppkgtool.compose_odj(facts, "PC01", "pw"), tmp_path / "f", form="nope"),
        lambda: ppkgtool.PackageBuilder.from_customizations(tmp_path / "missing.xml"),
        lambda: ppkgtool.PackageBuilder.from_customizations(b"<WindowsCustomizations/>"),
    ]
    for call in calls:
        with pytest.raises(ppkgtool.PpkgError) as exc:
            call()
        assert exc.value.exit_code in (2, 3), exc.value
    blob = ppkgtool.compose_odj(facts, "PC01", "pw")
    assert ppkgtool.decode_odj(blob) is not None
    for form in ppkgtool.ODJ_FORMS:
        path = ppkgtool.save_odj(blob, tmp_path / f"pc01.{form}", form=form)
        assert (path.stat().st_mode & 0o777) == 0o600
        assert ppkgtool.decode_odj(path.read_bytes()) == ppkgtool.decode_odj(blob)
    with pytest.raises(ppkgtool.OutputExistsError):
        ppkgtool.save_odj(blob, tmp_path / "pc01.savefile")


def test_results_are_immutable(tmp_path):
    b = ppkgtool.PackageBuilder("Frozen")
    result = b.write(tmp_path / "f.ppkg")
    pkg = ppkgtool.open_package(tmp_path / "f.ppkg")
    verdict = ppkgtool.verify(tmp_path / "f.ppkg")
    assert verdict.verdict == "unsigned"
    ranked = ppkgtool.rank([pkg])
    for obj, field in ((result, "package_path"), (pkg, "path"), (verdict, "verdict"), (ranked[0], "position"),
                       (ppkgtool.resolve([pkg]), "settings")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)


def test_deploy_through_the_api(tmp_path):
    ppkgtool.PackageBuilder("Usb").write(tmp_path / "u.ppkg")
    media = tmp_path / "media"
    media.mkdir()
    placement = ppkgtool.deploy_package(tmp_path / "u.ppkg", usb=media, catalog=tmp_path / "u.cat")
    assert (media / "u.ppkg").read_bytes() == (tmp_path / "u.ppkg").read_bytes()
    assert (media / "u.cat").is_file()
    with pytest.raises(dataclasses.FrozenInstanceError):
        placement.warnings = ()  # type: ignore[misc]


# --- against the real DC --------------------------------------------------------------------------

@pytest.mark.dc
def test_provision_odj_then_package_against_the_dc(samba_dc, tmp_path):
    """provision_odj makes a real account (kinit with its password works), its blob goes into a
    package whose inspect shows the machine, and the account is removed again."""
    import secrets as _secrets

    from ad_helpers import admin, new_name, target
    from samba_dc import kinit
    name = new_name("API")
    result = ppkgtool.provision_odj(target(samba_dc), admin(samba_dc), name)
    try:
        assert result.created and result.blob
        cc = str(tmp_path / f"cc-{_secrets.token_hex(4)}")
        assert kinit(samba_dc, f"{name.upper()}$@{samba_dc.realm}", result.password, cc).returncode == 0
        b = ppkgtool.PackageBuilder(name)
        b.add_odj(result.blob)
        b.write(tmp_path / f"{name}.ppkg")
        doc = ppkgtool.open_package(tmp_path / f"{name}.ppkg").to_json()
        assert [c["odj"]["machine_name"] for c in doc["commands"] if c["odj"]] == [name]
        with pytest.raises(ppkgtool.DirectoryError) as exc:   # exists, no reuse: NERR 2224
            ppkgtool.provision_odj(target(samba_dc), admin(samba_dc), name)
        assert exc.value.exit_code == 5
    finally:
        with ppkgtool.DirectorySession.connect(target(samba_dc), admin(samba_dc)) as session:
            session.delete_computer(name)
