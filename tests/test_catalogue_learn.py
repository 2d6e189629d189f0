"""The settings catalogue (data) and `catalog learn` from packages built by Microsoft's tools."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from build_helpers import REAL_PACKAGES, files_of, strip_number, wimlib_extract
from ppkgtool.cli import main
from ppkgtool.errors import CustomizationsError
from ppkgtool.package.catalogue import Catalogue, CatalogueError, load_catalogue, parse_catalogue
from ppkgtool.package.store import load_model
from ppkgtool.package.compiler import compile_bytes
from ppkgtool.package.learn import learn_from_package, learn_packages


@pytest.fixture(scope="module")
def extracted(real_ppkg, tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    return {n: wimlib_extract(real_ppkg / f"{n}.ppkg", root / n) for n in REAL_PACKAGES}


def test_builtin_catalogue_is_consistent():
    cat = load_catalogue()
    assert len(cat) >= 70 and not cat.conflicts
    for e in cat:
        if e.confidence == "C":
            assert e.evidence, f"{e.path}: a confirmed entry names the package that proves it"
    # every setting of the three real packages has an exact (non-generic) entry with its SettingsGroup id
    for name in REAL_PACKAGES:
        assert any(name in e.evidence[0] for e in cat if e.evidence)


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_learning_confirms_the_builtin_catalogue(extracted, name):
    # rank52 was built by WCD 10.0.21382: its settings are those of the Windows 11 21H2 store
    model = load_model(build="win11-21h2-2021-10" if name == "wcd-itadmin-rank52" else None)
    res = learn_from_package(files_of(extracted[name]), package_name=f"{name}.ppkg",
                             catalogue=load_catalogue(model=model))
    assert res.conflicts == [] and res.unmatched == [] and res.entries == []
    assert len(res.confirmed) == res.observations > 0


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_learning_from_scratch_reproduces_the_package(extracted, name):
    """An empty catalogue + what one package teaches = that package's compiled settings."""
    files = files_of(extracted[name])
    res = learn_from_package(files, package_name=f"{name}.ppkg", catalogue=Catalogue())
    assert res.conflicts == [] and res.unmatched == []
    learned = Catalogue(res.entries)
    # the learned file round-trips through JSON
    learned = Catalogue(parse_catalogue(learned.dumps().encode(), origin="learned.json"))
    assets = {}
    for f in (extracted[name] / "DataAsset").rglob("*") if (extracted[name] / "DataAsset").exists() else []:
        if f.is_file() and f.name != "DataAsset.xml":
            assets[f.name] = f.read_bytes()
    spa = name != "wcd-itadmin-rank52"
    tree = compile_bytes(files["Multivariant/0/customizations.xml"], source_name=name, catalogue=learned,
                         assets=assets, settings_path_attribute=spa)
    ref = {strip_number(p): v for p, v in files.items() if p.endswith(".provxml")}
    ours = {strip_number(p): v for p, v in tree.files.items() if p.endswith(".provxml")}
    assert ours == ref


def _renamed_package(extracted, tmp_path) -> Path:
    """rank52 with SMISettings/HideBootLogo renamed to a setting no catalogue knows (HideBootLogoX),
    in customizations.xml and the compiled provxml alike: a stand-in for a WCD-built package with a
    setting outside the builtin catalogue."""
    src = extracted["wcd-itadmin-rank52"]
    dst = tmp_path / "renamed"
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    cust = dst / "Multivariant/0/customizations.xml"
    cust.write_bytes(cust.read_bytes().replace(b"HideBootLogo>", b"HideBootLogoX>"))
    old = dst / "Multivariant/0/Prov/RunTime/42__SMISettings_HideBootLogo.provxml"
    new = old.with_name("42__SMISettings_HideBootLogoX.provxml")
    new.write_bytes(old.read_bytes().replace(b'name="HideBootLogo"', b'name="HideBootLogoX"'))
    old.unlink()
    rt = dst / "Multivariant/0/Prov/RunTime.xml"
    rt.write_bytes(rt.read_bytes().replace(b"SMISettings_HideBootLogo.provxml", b"SMISettings_HideBootLogoX.provxml"))
    out = tmp_path / "renamed.ppkg"
    subprocess.run(["wimlib-imagex", "capture", str(dst), str(out), "renamed", "--compress=XPRESS"], check=True,
                   stdout=subprocess.DEVNULL)
    return out


def test_learn_extends_coverage_without_code(extracted, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PPKGTOOL_STORE_BUILD", "win11-21h2-2021-10")   # rank52's WCD (10.0.21382)
    pkg = _renamed_package(extracted, tmp_path)
    cust = tmp_path / "renamed" / "Multivariant/0/customizations.xml"
    with pytest.raises(CustomizationsError, match="unknown setting SMISettings/HideBootLogoX"):
        compile_bytes(cust.read_bytes(), source_name="c.xml", assets=_assets(tmp_path / "renamed"))
    learned = tmp_path / "mine.json"
    assert main(["catalog", "learn", str(pkg), "-o", str(learned), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["path"] for e in doc["new"]] == ["SMISettings/HideBootLogoX"]
    assert doc["new"][0]["settings_group"] == "51c3ffea-2a31-56a1-804c-ad9af42d52ec"
    assert doc["new"][0]["evidence"] == ["renamed.ppkg"]
    assets_dir = tmp_path / "assets"
    assets_dir.mkdir()
    for n, data in _assets(tmp_path / "renamed").items():
        (assets_dir / n).write_bytes(data)
    out = tmp_path / "rebuilt.ppkg"
    assert main(["build", str(cust), "-o", str(out), "--catalogue", str(learned), "--asset-dir", str(assets_dir)]) == 0
    built = files_of(wimlib_extract(out, tmp_path / "x"))
    hit = [v for p, v in built.items() if p.endswith("SMISettings_HideBootLogoX.provxml")]
    assert b'name="HideBootLogoX" value="false" datatype="boolean"' in hit[0]
    # learning it again adds nothing and reports nothing
    capsys.readouterr()
    assert main(["catalog", "learn", str(pkg), "-o", str(learned), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["new"] == []


def _assets(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in (folder / "DataAsset").rglob("*") if f.is_file() and f.suffix == ".png"}


def test_conflicting_evidence_is_reported(extracted, tmp_path, capsys):
    """A package whose compiled value contradicts the catalogue is a conflict, not a silent merge."""
    src = extracted["icd-cli-oobe"]
    dst = tmp_path / "tampered"
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    px = dst / "Multivariant/0/Prov/RunTime/2__OOBE_Desktop_HideOobe.provxml"
    px.write_bytes(px.read_bytes().replace(b'value="true" datatype="boolean"', b'value="1" datatype="integer"'))
    res = learn_from_package(files_of(dst), package_name="tampered.ppkg", catalogue=load_catalogue())
    assert [c.path for c in res.conflicts] == ["OOBE/Desktop/HideOobe"]
    assert "tampered.ppkg" in res.conflicts[0].describe()
    # two packages that disagree with each other (no catalogue entry): also a conflict
    a = learn_from_package(files_of(src), package_name="a", catalogue=Catalogue())
    both = learn_packages([("a.ppkg", files_of(src)), ("b.ppkg", files_of(dst))], Catalogue())
    assert any(c.path == "OOBE/Desktop/HideOobe" for c in both.conflicts)
    assert len(a.entries) > 0
    out = tmp_path / "t.ppkg"
    subprocess.run(["wimlib-imagex", "capture", str(dst), str(out), "t", "--compress=XPRESS"], check=True,
                   stdout=subprocess.DEVNULL)
    assert main(["catalog", "learn", str(out)]) == 3
    assert "conflict: OOBE/Desktop/HideOobe" in capsys.readouterr().err


def test_user_catalogue_validation(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "ppkgtool-catalogue/1", "entries": [
        {"path": "Foo/Bar", "group": "Foo/{Missing}", "outputs": [{"characteristic": ["X"], "parm": "Y"}]}]}))
    with pytest.raises(CatalogueError, match="Missing"):
        load_catalogue([bad])
    bad.write_text(json.dumps({"format": "ppkgtool-catalogue/1", "entries": [
        {"path": "Foo/Bar", "group": "Foo", "outputs": [{"characteristic": ["X"], "parm": "Y", "datatype": "float"}]}]}))
    with pytest.raises(CatalogueError, match="datatype"):
        load_catalogue([bad])
    override = tmp_path / "o.json"
    override.write_text(json.dumps({"format": "ppkgtool-catalogue/1", "entries": [
        {"path": "OOBE/Desktop/HideOobe", "group": "OOBE/Desktop/HideOobe",
         "outputs": [{"characteristic": ["MCSF", "OOBE", "Desktop"], "parm": "HideOobe", "datatype": "integer"}]}]}))
    cat = load_catalogue([override])
    assert [c.field for c in cat.conflicts] == ["outputs"]       # reported to the user, who chose to override


def test_generic_policy_rule_and_project_uuid():
    from ppkgtool.package.catalogue import PROJECT_NAMESPACE
    import uuid
    body = b"""<?xml version="1.0"?><WindowsCustomizations><PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0"><ID>{11111111-2222-4333-8444-555555555555}</ID><Name>t</Name></PackageConfig>
<Settings xmlns="urn:schemas-microsoft-com:windows-provisioning"><Customizations><Common><Policies>
<Update><DeferQualityUpdatesPeriodInDays>7</DeferQualityUpdatesPeriodInDays><AllowMUUpdateService>Yes</AllowMUUpdateService></Update>
<Browser><HomePages>https://intranet</HomePages></Browser><Bluetooth><AllowDiscoverableMode>No</AllowDiscoverableMode></Bluetooth>
</Policies></Common></Customizations></Settings></WindowsCustomizations>"""
    tree = compile_bytes(body, source_name="p.xml")
    got = {s.path: s.parms[0][2:] for s in tree.settings}
    assert got == {"Policies/Update/DeferQualityUpdatesPeriodInDays": ("7", "integer"),
                   "Policies/Update/AllowMUUpdateService": ("1", "integer"),
                   "Policies/Browser/HomePages": ("https://intranet", "string"),
                   "Policies/Bluetooth/AllowDiscoverableMode": ("0", "integer")}
    s = tree.settings[0]
    assert s.settings_group == str(uuid.uuid5(PROJECT_NAMESPACE, "Policies/Update/DeferQualityUpdatesPeriodInDays"))
    # every Policies setting compiles by the store's CSP target; no generic word rule remains
    assert s.parms[0][0] == ("Policy", "Config", "Update") and s.confidence == "C"
