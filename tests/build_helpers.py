"""Helpers shared by the build/catalogue/export tests: extract real packages with wimlib-imagex
(an independent reader) and compare compiled provxml by content."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from lxml import etree

REAL_PACKAGES = ["icd-cli-oobe", "wcd-gui-commands-msi", "wcd-itadmin-rank52"]


def wimlib_extract(package: Path, dest: Path) -> Path:
    if shutil.which("wimlib-imagex") is None:
        raise RuntimeError("wimlib-imagex (Debian wimtools) is required for these tests")
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["wimlib-imagex", "extract", str(package), "1", f"--dest-dir={dest}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return dest


def files_of(tree: Path, *, with_assets: bool = False) -> dict[str, bytes]:
    out = {}
    for f in tree.rglob("*"):
        if f.is_file() and (with_assets or f.suffix.lower() in (".xml", ".provxml")):
            out[f.relative_to(tree).as_posix()] = f.read_bytes()
    return out


def parms(data: bytes) -> list[tuple]:
    """(characteristic path with scope, parm name, value, datatype, extra) of a provxml, in order."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    out = []

    def rec(el, path):
        for c in el:
            if c.tag == "characteristic":
                rec(c, path + [c.get("type") + (f"[scope={c.get('scope')}]" if c.get("scope") else "")])
            elif c.tag == "parm":
                extra = tuple(sorted((k, v) for k, v in c.attrib.items()
                                     if k not in ("name", "value", "datatype", "SettingsPath")))
                out.append(("/".join(path), c.get("name"), c.get("value"), c.get("datatype"), extra))
    rec(root, [])
    return out


def strip_number(name: str) -> str:
    return re.sub(r"^\d+__", "", name.rsplit("/", 1)[-1])


def provxml_by_group(files: dict[str, bytes]) -> dict[tuple[str, str], list[tuple]]:
    """(RunTime | User_RunTime, group file name without its number) -> parms."""
    out = {}
    for path, data in files.items():
        if path.endswith(".provxml"):
            folder = path.rsplit("/", 2)[-2]
            out[(folder, strip_number(path))] = parms(data)
    return out


def runtime_entries(data: bytes) -> list[tuple[str, str]]:
    """(SettingsGroup, Data without the file number) of RunTime.xml / User_RunTime.xml."""
    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    return [(cs.get("SettingsGroup"), re.sub(r"\\\d+__", r"\\", cs.get("Data")))
            for cs in root.iter("ConfigurationSet")]
