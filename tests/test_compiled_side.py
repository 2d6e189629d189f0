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
