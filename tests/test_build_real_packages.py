"""Building each real package's own customizations.xml reproduces what Microsoft's tools compiled.

The packages were built by icd.exe and Windows Configuration Designer (fixtures/PROVENANCE.md);
they are read with wimlib-imagex, an independent WIM reader.
"""

from __future__ import annotations

import subprocess

import pytest

from build_helpers import (REAL_PACKAGES, files_of, provxml_by_group, runtime_entries, strip_number,
                           wimlib_extract)
from ppkgtool.package.builder import BuildOptions, build_package
from ppkgtool.package.compiler import compile_package
from ppkgtool.package.customizations import parse_customizations
from ppkgtool.package.catalogue import load_catalogue
from ppkgtool.package.store import load_model


@pytest.fixture(scope="module")
def extracted(real_ppkg, tmp_path_factory):
    root = tmp_path_factory.mktemp("real")
    out = {}
    for name in REAL_PACKAGES:
        out[name] = wimlib_extract(real_ppkg / f"{name}.ppkg", root / name)
    # the assets the packages carry, by file name (what --asset-dir would hold)
    assets = root / "assets"
    assets.mkdir()
    for name in REAL_PACKAGES:
        for f in (out[name] / "DataAsset").rglob("*") if (out[name] / "DataAsset").exists() else []:
            if f.is_file() and f.name != "DataAsset.xml":
                (assets / f.name).write_bytes(f.read_bytes())
    out["assets"] = assets
    return out


# wcd-itadmin-rank52 was built by WCD 10.0.21382 (its NOTES): the Windows 11 21H2 store has its
# settings as they were then (AllowOptionToShowNetwork: a per-user boolean, later a device integer)
STORE_BUILD = {"wcd-itadmin-rank52": "win11-21h2-2021-10"}


def _compile(extracted, name, **kw):
    src = extracted[name] / "Multivariant/0/customizations.xml"
    cust = parse_customizations(src.read_bytes(), source_name=f"{name}:customizations.xml")
    cat = load_catalogue(model=load_model(build=STORE_BUILD.get(name)))
    return compile_package(cust, asset_dir=extracted["assets"], catalogue=cat, **kw)


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_same_provxml_runtime_and_assets(extracted, name, record_property, capsys):
    ref_files = files_of(extracted[name])
    tree = _compile(extracted, name)
    ref = provxml_by_group(ref_files)
    ours = provxml_by_group({p: v for p, v in tree.files.items() if isinstance(v, bytes)})
    matching = sum(1 for k in ref if ours.get(k) == ref[k])
    ref_settings = sum(len(v) for v in ref.values())
    our_settings = sum(len(v) for k, v in ours.items() if ours.get(k) == ref.get(k))
    with capsys.disabled():
        print(f"\n{name}: {matching}/{len(ref)} provxml files and {our_settings}/{ref_settings} compiled parms "
              f"match (characteristic path, parm name, value, datatype)")
    record_property("matching_provxml", f"{matching}/{len(ref)}")
    assert set(ours) == set(ref)
    for key in ref:
        assert ours[key] == ref[key], key
    # RunTime.xml / User_RunTime.xml: the same SettingsGroup ids pointing at the same files
    for rt in ("Multivariant/0/Prov/RunTime.xml", "Multivariant/0/Prov/User_RunTime.xml"):
        if rt in ref_files:
            assert sorted(runtime_entries(tree.files[rt])) == sorted(runtime_entries(ref_files[rt]))
        else:
            assert rt not in tree.files
    assert tree.files["Multivariant/0/MasterDatastore.xml"] == ref_files["Multivariant/0/MasterDatastore.xml"]
    # DataAsset: the same layout, names and hashes
    ref_assets = sorted(p.relative_to(extracted[name]).as_posix()
                        for p in (extracted[name] / "DataAsset").rglob("*") if p.is_file()) \
        if (extracted[name] / "DataAsset").exists() else []
    assert sorted(p for p in tree.files if p.startswith("DataAsset/")) == ref_assets
    if ref_assets:
        assert tree.files["DataAsset/DataAsset.xml"] == ref_files["DataAsset/DataAsset.xml"]


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_embedded_documents_are_byte_identical(extracted, name):
    """customizations.xml, AnswerFile.xml and the fixed index files come out byte for byte."""
    ref = files_of(extracted[name])
    tree = _compile(extracted, name)
    for path in ("Multivariant/0/customizations.xml", "CommonSettings/1/AnswerFile.xml",
                 "CommonSettings/CommonSettings.xml", "Multivariant/Multivariant.xml"):
        assert tree.files[path] == ref[path], path


@pytest.mark.parametrize("name,settings_path", [("icd-cli-oobe", True), ("wcd-gui-commands-msi", True),
                                                ("wcd-itadmin-rank52", False)])
def test_provxml_bytes_identical(extracted, name, settings_path):
    """With the SettingsPath attribute as that WCD version wrote it, every provxml is byte-identical
    (BOM, CRLF, indentation, escaping) apart from the file number."""
    ref = {strip_number(p): v for p, v in files_of(extracted[name]).items() if p.endswith(".provxml")}
    tree = _compile(extracted, name, settings_path_attribute=settings_path)
    ours = {strip_number(p): v for p, v in tree.files.items() if p.endswith(".provxml")}
    assert ours == ref


def test_runtime_order_follows_the_document(extracted):
    """Numbering is document order, device settings first, then User_RunTime (rank52 shows both)."""
    tree = _compile(extracted, "wcd-itadmin-rank52")
    ref = files_of(extracted["wcd-itadmin-rank52"])
    assert tree.files["Multivariant/0/Prov/RunTime.xml"] == ref["Multivariant/0/Prov/RunTime.xml"]
    assert tree.files["Multivariant/0/Prov/User_RunTime.xml"] == ref["Multivariant/0/Prov/User_RunTime.xml"]


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_built_package_reads_back_in_wimlib(extracted, name, tmp_path):
    out = tmp_path / f"{name}.ppkg"
    res = build_package(extracted[name] / "Multivariant/0/customizations.xml", out,
                        BuildOptions(asset_dir=extracted["assets"], reproducible=True,
                                     store_build=STORE_BUILD.get(name)))
    assert res.settings_count > 0
    info = subprocess.run(["wiminfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Image Count:    1" in info and "XPRESS" in info
    back = wimlib_extract(out, tmp_path / "x")
    built = files_of(back, with_assets=True)
    tree = _compile(extracted, name)
    assert set(built) == set(tree.files)
    for p, v in tree.files.items():
        assert built[p] == (v if isinstance(v, bytes) else v.read_bytes()), p
    magic = subprocess.run(["file", "-b", str(out)], capture_output=True, text=True, check=True).stdout
    assert "provisioning package" in magic.lower()


def test_image_properties(extracted, tmp_path):
    out = tmp_path / "r52.ppkg"
    build_package(extracted["wcd-itadmin-rank52"] / "Multivariant/0/customizations.xml", out,
                  BuildOptions(asset_dir=extracted["assets"], store_build=STORE_BUILD["wcd-itadmin-rank52"]))
    from ppkgtool.wim import open_wim
    with open_wim(out) as wim:
        props = wim.image(1).properties
    assert props["NAME"] == "Windows Mini Workstation"
    assert props["ALTITUDE"] == "5052"
    assert props["VERSION"] == "1.1"
    assert props["RESETCLEAR"] == "0"
    assert props["PACKAGEID"] == "{0df3a956-c277-4739-b187-a65c8f56e31d}"
    assert "PackageID=0df3a956-c277-4739-b187-a65c8f56e31d;" in props["NOTES"]
    assert "EncryptPackage=False;SignPackage=False;" in props["NOTES"]
