"""export: the package's own customizations.xml, or one rebuilt from provxml through the catalogue."""

from __future__ import annotations

import pytest

from build_helpers import REAL_PACKAGES, files_of, provxml_by_group, wimlib_extract
from ppkgtool.cli import main
from ppkgtool.package.compiler import compile_bytes
from ppkgtool.package.customizations import parse_customizations
from ppkgtool.package.export import export_customizations, settings_from_package


@pytest.fixture(scope="module")
def extracted(real_ppkg, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {n: wimlib_extract(real_ppkg / f"{n}.ppkg", root / n) for n in REAL_PACKAGES}


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_export_embedded_is_byte_exact(real_ppkg, tmp_path, name, extracted):
    out = tmp_path / "c.xml"
    assert main(["export", str(real_ppkg / f"{name}.ppkg"), "-o", str(out)]) == 0
    assert out.read_bytes() == (extracted[name] / "Multivariant/0/customizations.xml").read_bytes()


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_reconstruction_compiles_back_to_the_same_provxml(extracted, name):
    files = files_of(extracted[name])
    meta = parse_customizations(files["Multivariant/0/customizations.xml"], source_name=name).metadata
    embedded = settings_from_package(files)
    del files["Multivariant/0/customizations.xml"]
    rebuilt = settings_from_package(files)
    assert all(s.known for s in rebuilt)
    assert sorted((s.path, s.scope) for s in rebuilt) == sorted((s.path, s.scope) for s in embedded)
    xml, how = export_customizations(files, meta)
    assert how == "reconstructed"
    assets = {f.name: f.read_bytes() for f in (extracted[name] / "DataAsset").rglob("*")
              if f.is_file() and f.name != "DataAsset.xml"} if (extracted[name] / "DataAsset").exists() else {}
    tree = compile_bytes(xml, source_name="rebuilt.xml", assets=assets)
    assert provxml_by_group({p: v for p, v in tree.files.items() if isinstance(v, bytes)}) == provxml_by_group(files)


def test_export_settings_json(real_ppkg, capsys):
    import json
    assert main(["export", str(real_ppkg / "icd-cli-oobe.ppkg"), "--settings", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    paths = {s["path"]: s for s in doc["settings"]}
    assert paths["Policies/Experience/AllowCortana"]["value"] == "No"
    assert paths["Accounts/Users/User/Password"]["value"] == "<redacted>"
    assert main(["export", str(real_ppkg / "icd-cli-oobe.ppkg"), "--settings", "--reconstruct", "--json"]) == 0
    rec = {s["path"]: s for s in json.loads(capsys.readouterr().out)["settings"]}
    assert rec["Policies/Experience/AllowCortana"]["value"] == "0"      # the compiled form, same meaning
    assert rec["Accounts/Users/User/UserGroup"]["value"] == "Administrators"
