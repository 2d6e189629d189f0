#!/usr/bin/env python3
"""Generate ppkgtool/data/settings-model.json from Windows Configuration Designer settings stores.

    python scripts/gen_settings_model.py ../shared/fixtures/wcd-store/*.dat

Each store (``Microsoft-Desktop-Provisioning.dat``, icd.exe's ``/StoreFile:``) becomes one builtin
build named after its file (oldest first; the last one given is the default). Only facts are
written — paths, types, values and labels, ranges, defaults, targets, list keys, atomic roots,
file extensions — never Microsoft's description texts, and the store itself is never copied.
The sha256 of every store is recorded so a build can be traced to the file it came from.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ppkgtool.package.store import dumps_models, read_store  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "ppkgtool" / "data" / "settings-model.json"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="+", type=Path, help="store files, oldest first (the last is the default)")
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    models, provenance = {}, {}
    for p in args.stores:
        data = p.read_bytes()
        name = p.stem
        models[name] = read_store(data, source_name=name, build=name)
        provenance[name] = {"file": p.name, "sha256": hashlib.sha256(data).hexdigest(),
                            "settings": len(models[name])}
        print(f"{name}: {len(models[name])} settings", file=sys.stderr)
    args.output.write_text(dumps_models(models, provenance=provenance), encoding="utf-8")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
