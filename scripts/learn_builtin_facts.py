#!/usr/bin/env python3
"""Learn the SettingsGroup ids real packages carry into ppkgtool/data/catalogue.json.

    python scripts/learn_builtin_facts.py ../shared/fixtures/real-ppkg/*.ppkg ../shared/fixtures/corpus/ppkg/*.ppkg

The settings store does not hold the SettingsGroup uuid of RunTime.xml (PROVENANCE.md; its UUIDv5
namespace is unknown [U]); packages built by WCD/ICD show it. For every package this compiles the
package's own customizations.xml with the builtin settings model (the newest builtin store that
accepts it), pairs each compiled provxml with the package's by group file name, and records the
package's id for every setting of that group (a facts-only catalogue entry, with the package as
evidence). An id that contradicts one already recorded is reported and not written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree  # noqa: E402

from ppkgtool.errors import PpkgError  # noqa: E402
from ppkgtool.package.catalogue import load_catalogue, shape  # noqa: E402
from ppkgtool.package.compiler import compile_package  # noqa: E402
from ppkgtool.package.customizations import parse_customizations  # noqa: E402
from ppkgtool.package.store import builtin_models  # noqa: E402
from ppkgtool.wim import open_wim  # noqa: E402

CATALOGUE = Path(__file__).resolve().parents[1] / "ppkgtool" / "data" / "catalogue.json"


def package_files(path: Path) -> dict[str, bytes]:
    out = {}
    with open_wim(path) as wim:
        img = wim.image(1)
        for entry in img.files():
            if entry.path.lower().endswith((".xml", ".provxml")) or "/DataAsset/" in entry.path:
                out[entry.path.lstrip("/")] = img.read(entry.path)
    return out


def runtime_ids(files: dict[str, bytes]) -> dict[str, str]:
    ids = {}
    for rt in ("Multivariant/0/Prov/RunTime.xml", "Multivariant/0/Prov/User_RunTime.xml"):
        if rt not in files:
            continue
        root = etree.fromstring(files[rt], etree.XMLParser(resolve_entities=False, no_network=True))
        for cs in root.iter("ConfigurationSet"):
            name = re.sub(r"^\d+__", "", cs.get("Data", "").rsplit("\\", 1)[-1])
            sg = re.sub(r"_\d+$", "", cs.get("SettingsGroup", ""))
            ids.setdefault(name, sg)
    return ids


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("packages", nargs="+", type=Path)
    args = ap.parse_args(argv)
    doc = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    by_shape = {shape(e["path"]): e for e in doc["entries"]}
    default, models = builtin_models()
    order = [default] + [b for b in reversed(list(models)) if b != default]
    added = changed = 0
    for pkg in args.packages:
        files = package_files(pkg)
        ids = runtime_ids(files)
        with tempfile.TemporaryDirectory() as tmp:
            for p, data in files.items():
                if p.startswith("DataAsset/") and not p.endswith("DataAsset.xml"):
                    (Path(tmp) / p.rsplit("/", 1)[-1]).write_bytes(data)
            tree = model = None
            for build in order:
                model = models[build]
                try:
                    cust = parse_customizations(files["Multivariant/0/customizations.xml"], source_name=pkg.name)
                    tree = compile_package(cust, catalogue=load_catalogue(model=model), asset_dir=tmp)
                    break
                except PpkgError as exc:
                    last = exc
            if tree is None:
                print(f"{pkg.name}: not compiled ({last})", file=sys.stderr)
                continue
        for s in tree.settings:
            fname = re.sub(r"^\d+__", "", s.provxml.rsplit("/", 1)[-1])
            uuid = ids.get(fname)
            d = model.get(s.path)
            if uuid is None or not re.fullmatch(r"[0-9a-f-]{36}", uuid):
                continue
            # a setting no store has (learned from a newer WCD) has no keys: its path is its pattern
            pattern = d.pattern_text() if d is not None else s.path
            if d is None and shape(pattern) not in by_shape:
                continue
            e = by_shape.get(shape(pattern))
            if e is None:
                e = {"path": pattern, "group": d.group_template() if d else s.group, "settings_group": uuid, "confidence": "C",
                     "evidence": [pkg.name]}
                doc["entries"].append(e)
                by_shape[shape(pattern)] = e
                added += 1
            elif e.get("settings_group") is None:
                e["settings_group"] = uuid
                e.setdefault("evidence", []).append(pkg.name)
                changed += 1
            elif e["settings_group"] != uuid:
                print(f"{pkg.name}: {pattern}: id {uuid} contradicts {e['settings_group']}", file=sys.stderr)
            elif pkg.name not in e.setdefault("evidence", []):
                e["evidence"].append(pkg.name)
    CATALOGUE.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{added} new facts, {changed} ids filled in", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
