"""Hand-made hostile packages (issue 17): resource bombs built on a real WCD package's tree."""

from __future__ import annotations

import os
from pathlib import Path

from ppkgtool.wim.imagexml import COMPUTED_PROPERTIES
from ppkgtool.wim.reader import open_wim
from ppkgtool.wim.writer import write_wim

PROV = "Multivariant/0/Prov"


def real_tree(package: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """(files by package path, image properties) of a real package."""
    with open_wim(package) as wim:
        img = wim.image(1)
        props = {k: v for k, v in img.properties.items()
                 if k.upper().split("/")[0] not in COMPUTED_PROPERTIES + ("INDEX", "WINDOWS")}
        return {f.path.lstrip("/"): img.read(f.path) for f in img.files()}, props


def shared_blob_package(package: Path, out: Path, entries: int = 400, *, blob_bytes: int = 16 * 1024 * 1024,
                        parms: int = 0) -> Path:
    """``entries`` provxml entries, all listed in RunTime.xml, that share one XML blob of about
    ``blob_bytes``: a real provxml padded with whitespace, or with ``parms`` extra parms."""
    files, props = real_tree(package)
    files = {p: v for p, v in files.items() if not p.lower().startswith(f"{PROV.lower()}/runtime/")}
    head = '<?xml version="1.0" encoding="utf-8"?><wap-provisioningdoc><characteristic type="Bomb">'
    tail = "</characteristic></wap-provisioningdoc>"
    items = [f'<parm name="P{i}" value="v{i}" datatype="string"/>' for i in range(parms)] or ["<!-- -->"] * 1600
    pad = max(0, blob_bytes - len(head) - len(tail) - sum(map(len, items))) // len(items)
    text = (head + (" " * pad).join(items) + tail).encode()     # whitespace between the elements
    shared = bytes(text)
    sets = []
    for i in range(entries):
        files[f"{PROV}/RunTime/{i}__Bomb.provxml"] = shared
        sets.append(f'<ConfigurationSet Type="provxml" SettingsGroup="g{i}" Data="$(_prov)\\RunTime\\{i}__Bomb.provxml" />')
    files[f"{PROV}/RunTime.xml"] = ('<?xml version="1.0" encoding="utf-8"?><ConfigurationSource Version="1.0">'
                                    + "".join(sets) + "</ConfigurationSource>").encode()
    with open(out, "wb") as fh:
        write_wim(fh, files, props)
    return out


def many_entries_package(out: Path, count: int = 999_000) -> Path:
    files = {f"Multivariant/0/d{i // 1000}/f{i}.txt": b"" for i in range(count)}
    with open(out, "wb") as fh:
        write_wim(fh, files, {"NAME": "many"})
    return out


def zeros_package(out: Path, size: int = 1024 ** 3) -> Path:
    sparse = out.with_suffix(".zeros")
    with open(sparse, "wb") as fh:
        fh.truncate(size)
    try:
        with open(out, "wb") as fh:
            write_wim(fh, {"Multivariant/0/zeros.bin": sparse, "Multivariant/0/small.txt": b"x"}, {"NAME": "zeros"})
    finally:
        os.unlink(sparse)
    return out
