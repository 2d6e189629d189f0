"""inspect --json "compiled": every parm of every provxml, named by the settings model (issue 16).

The expectation is an independent walk: each real package extracted with wimlib-imagex, RunTime.xml
/ User_RunTime.xml and the provxml they name read with the standard library's ElementTree (not the
project's lxml parsers). Where WCD wrote a SettingsPath attribute (WCD 2024+), the setting the
model names must be that path.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


from build_helpers import wimlib_extract

SOURCES = (("RunTime.xml", "Device"), ("User_RunTime.xml", "User"))


def _packages(shared):
    return sorted(list((shared / "real-ppkg").glob("*.ppkg")) + list((shared / "corpus" / "ppkg").glob("*.ppkg")))


def _walk(root: Path) -> list[tuple]:
    """(scope, characteristic, parm, value, datatype, conditions, provxml) from the extracted tree."""
    out = []
    prov = root / "Multivariant" / "0" / "Prov"
    for name, default_scope in SOURCES:
        rt = prov / name
        if not rt.exists():
            continue
        tree = ET.parse(rt)
        parents = {c: p for p in tree.iter() for c in p}
        for cs in tree.iter("ConfigurationSet"):
            conds = {k: v for k, v in cs.attrib.items() if k not in ("Type", "SettingsGroup", "Data")}
            parent = parents.get(cs)
            if parent is not None and parent.tag == "ProfileSet":
                conds = dict(parent.attrib)
            rel = cs.get("Data").replace("$(_prov)\\", "").replace("\\", "/")
            path = prov / rel
            doc = ET.parse(path).getroot()

            def rec(el, chain, scope):
                for c in el:
                    if c.tag == "characteristic":
                        rec(c, chain + (c.get("type"),), "User" if c.get("scope", "").lower() == "user" else scope)
                    elif c.tag == "parm":
                        out.append((scope, "/".join(chain), c.get("name"), c.get("value"), c.get("datatype"),
                                    tuple(sorted(conds.items())), path.relative_to(root).as_posix(),
                                    c.get("SettingsPath")))
            rec(doc, (), default_scope)
    return out


def _inspect(pkg: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "ppkgtool", "inspect", str(pkg), "--json", "--show-secrets"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_compiled_entries_equal_an_independent_walk(shared_fixtures, tmp_path, capsys):
    total = named = checked_paths = 0
    for pkg in _packages(shared_fixtures):
        want = _walk(wimlib_extract(pkg, tmp_path / pkg.stem))
        doc = _inspect(pkg)
        got = doc["compiled"]
        assert len(got) == len(want), pkg.name
        for g, w in zip(sorted(got, key=_key), sorted(want, key=lambda w: (w[6], w[0], w[1], w[2], w[3] or ""))):
            assert (g["scope"], g["characteristic"], g["parm"], g["value"], g["datatype"], g["provxml"]) == w[:5] + (
                w[6],), (pkg.name, g, w)
            # the condition names every attribute of the state (Variant) or ProfileSet
            if w[5]:
                assert g["condition"] and all(v in g["condition"] for _k, v in w[5]), (pkg.name, g["condition"], w[5])
            else:
                assert g["condition"] is None
            total += 1
            if g["setting"]:
                named += 1
            if w[7]:        # WCD's own SettingsPath attribute
                checked_paths += 1
                assert g["setting"] == w[7], (pkg.name, g, w[7])
            assert g["setting"], (pkg.name, g)
    with capsys.disabled():
        print(f"\ncompiled entries: {total} across {len(_packages(shared_fixtures))} packages, {named} named by the "
              f"settings model; {checked_paths} checked against WCD's SettingsPath attribute")


def _key(g):
    return (g["provxml"], g["scope"], g["characteristic"], g["parm"], g["value"] or "")


def test_secret_values_are_redacted_unless_asked(real_ppkg):
    r = subprocess.run([sys.executable, "-m", "ppkgtool", "inspect", str(real_ppkg / "icd-cli-oobe.ppkg"), "--json"],
                       capture_output=True, text=True, check=True)
    doc = json.loads(r.stdout)
    pw = [c for c in doc["compiled"] if c["setting"] == "Accounts/Users/User/Password"]
    assert pw and all(c["value"] == "<redacted>" for c in pw)
    assert all(c["keys"] == {"UserName": "admin"} for c in pw)
    shown = _inspect(real_ppkg / "icd-cli-oobe.ppkg")
    assert any(c["value"] not in ("<redacted>", None) for c in shown["compiled"]
               if c["setting"] == "Accounts/Users/User/Password")
