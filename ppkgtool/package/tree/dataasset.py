"""DataAsset/DataAsset.xml: which asset file belongs to which setting. One ``<Element Index>``
(from 2) per asset-carrying setting type, ``Metadata Key="Name"`` its setting name, and one
``Metadata Key="<k>_<hash>\\<file>" Value="/<Setting/Path>"`` per file (ppkg-format.md [C])."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ppkgtool import xmlsafe
from ppkgtool.package.tree.xmltext import MAX_PART_BYTES, XML_DECL_UPPER, document, escape_attr


@dataclass(frozen=True)
class AssetEntry:
    """One asset file: ``<k>_<hash>\\<file>`` -> ``/<Setting/Path>`` in element ``index``."""

    index: int
    asset_name: str          # the setting name, e.g. CommandFile, DeployDesktopImage
    key: str                 # "<k>_<hash>\<file>"
    setting_path: str        # "/ProvisioningCommands/PrimaryContext/Command/0/CommandFile"
    package_path: str        # "DataAsset/<index>/<k>_<hash>/<file>"


def render_data_asset(entries: Sequence[AssetEntry]) -> bytes:
    lines = ['<Elements Type="DataAsset">']
    by_index: dict[int, list[AssetEntry]] = {}
    for e in entries:
        by_index.setdefault(e.index, []).append(e)
    for index in sorted(by_index):
        items = by_index[index]
        lines.append(f'  <Element Index="{index}">')
        lines.append(f'    <Metadata Key="Name" Value="{escape_attr(items[0].asset_name)}" />')
        for e in items:
            lines.append(f'    <Metadata Key="{escape_attr(e.key)}" Value="{escape_attr(e.setting_path)}" />')
        lines.append("  </Element>")
    lines.append("</Elements>")
    return document(lines, bom=False, decl=XML_DECL_UPPER)


def parse_data_asset(data: bytes, *, where: str = "DataAsset.xml") -> tuple[tuple[str, str, str, str], ...]:
    """((element index, setting name, '<k>_<hash>\\<file>' key, setting path), ...)."""
    root = xmlsafe.parse(data, where=where, max_bytes=MAX_PART_BYTES)
    out = []
    for el in root:
        if not isinstance(el.tag, str) or el.tag.rsplit("}", 1)[-1] != "Element":
            continue
        index = el.get("Index", "")
        metas = [m for m in el if isinstance(m.tag, str) and m.tag.rsplit("}", 1)[-1] == "Metadata"]
        name = next((m.get("Value", "") for m in metas if m.get("Key") == "Name"), "")
        out.extend((index, name, m.get("Key"), m.get("Value", "")) for m in metas if m.get("Key") not in (None, "Name"))
    return tuple(out)
