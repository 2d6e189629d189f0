"""The project's one hardened XML parser: every XML part of a package, answer files, the WIM image
XML, event-log exports and ODJ unattend text go through ``parse``.

Untrusted bytes: bounded size, no DOCTYPE, no entity declarations or references, no network, no
DTD loading or validation, a bounded element count; failures are the caller's typed error class
(a FormatError subclass) naming the place and the line.
"""

from __future__ import annotations

from typing import Callable

from lxml import etree

from ppkgtool.errors import FormatError

MAX_ELEMENTS = 200_000


def parser(*, huge: bool = False, strip_comments: bool = False) -> etree.XMLParser:
    """The parser options every caller uses (``huge``: event-log exports of many MB)."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=huge, remove_blank_text=False, collect_ids=False,
                           remove_comments=strip_comments, remove_pis=strip_comments)


def _line_of(data: bytes, needle: bytes) -> int:
    pos = data.upper().find(needle.upper())
    return data.count(b"\n", 0, pos) + 1 if pos >= 0 else 1


def parse(data: bytes, *, where: str, max_bytes: int, error: Callable[..., FormatError] = FormatError,
          max_elements: int | None = MAX_ELEMENTS, huge: bool = False, strip_comments: bool = False,
          line_sep: str = ":", **error_kw) -> etree._Element:
    """Parse untrusted XML bytes; the root element, or ``error(message, where=…)`` raised."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("XML data must be bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise error(f"is {len(data)} bytes, larger than the {max_bytes}-byte limit", where=where, **error_kw)
    flat = data.replace(b"\x00", b"")       # UTF-16 text: the markup without its NULs
    if b"<!DOCTYPE" in flat[:8192].upper() or b"<!ENTITY" in flat.upper():
        raise error("a DOCTYPE or entity declaration is not allowed in this file",
                    where=f"{where}{line_sep}{_line_of(data, b'<!')}", hint="remove the <!DOCTYPE …> / <!ENTITY …> "
                    "declaration", **error_kw)
    try:
        root = etree.fromstring(data, parser(huge=huge, strip_comments=strip_comments))
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None) or (exc.position[0] if getattr(exc, "position", None) else "?")
        msg = str(exc.msg if hasattr(exc, "msg") else exc)
        raise error(f"not well-formed XML: {msg}", where=f"{where}{line_sep}{line}", **error_kw) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise error("a DOCTYPE is not allowed in this file", where=where, **error_kw)
    count = 0
    for node in root.iter():
        count += 1
        if isinstance(node, etree._Entity):
            raise error("entity references are not allowed", where=f"{where}{line_sep}{node.sourceline}", **error_kw)
        if max_elements is not None and count > max_elements:
            raise error(f"more than {max_elements} XML elements", where=where, **error_kw)
    return root


__all__ = ["MAX_ELEMENTS", "parse", "parser"]
