"""CommonSettings/CommonSettings.xml and Multivariant/Multivariant.xml: ``<Elements Type="…">``
with one ``<Element Index="…">`` (ppkg-format.md, "File tree inside the image" [C])."""

from __future__ import annotations

from ppkgtool import xmlsafe
from ppkgtool.package.tree.xmltext import MAX_PART_BYTES, XML_DECL_UPPER, document


def render_elements_index(kind: str, index: int) -> bytes:
    """CommonSettings.xml / Multivariant.xml (no BOM, upper-case UTF-8 in the declaration)."""
    return document([f'<Elements Type="{kind}">', f'  <Element Index="{index}">', "  </Element>", "</Elements>"],
                     bom=False, decl=XML_DECL_UPPER)


def parse_elements_index(data: bytes, *, where: str) -> tuple[str, tuple[str, ...]]:
    """(Type, element indexes) of an index file."""
    root = xmlsafe.parse(data, where=where, max_bytes=MAX_PART_BYTES)
    return root.get("Type") or "", tuple(el.get("Index") or "" for el in root if el.tag == "Element")
