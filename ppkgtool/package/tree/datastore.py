"""Multivariant/<n>/MasterDatastore.xml: the configuration sources of a variant (RunTime, and
User_RunTime for per-user settings) and where their lists are (ppkg-format.md, "File tree" [C])."""

from __future__ import annotations

from ppkgtool import xmlsafe
from ppkgtool.package.tree.xmltext import MAX_PART_BYTES, XML_DECL, document


def render_master_datastore(*, user_runtime: bool) -> bytes:
    """MasterDatastore.xml: RunTime -> $(_prov)\\RunTime.xml [, User_RunTime] (ppkg-format.md [C])."""
    lines = ['<ConfigurationSourceList Version="1.0">']
    sources = ["RunTime"] + (["User_RunTime"] if user_runtime else [])
    for s in sources:
        lines += [f'  <ConfigurationSource Name="{s}" Path="$(_prov)\\{s}.xml">', "    <EventList>",
                  f'      <Event Name="{s}" />', "    </EventList>", "  </ConfigurationSource>"]
    lines.append("</ConfigurationSourceList>")
    return document(lines, bom=True, decl=XML_DECL)


def parse_master_datastore(data: bytes, *, where: str = "MasterDatastore.xml") -> tuple[tuple[str, str], ...]:
    """((source name, path as written), ...), e.g. ("RunTime", "$(_prov)\\RunTime.xml")."""
    root = xmlsafe.parse(data, where=where, max_bytes=MAX_PART_BYTES)
    out = []
    for el in root.iter():
        if isinstance(el.tag, str) and _local(el.tag) == "ConfigurationSource" and el.get("Path"):
            out.append((el.get("Name") or "", el.get("Path")))
    return tuple(out)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
