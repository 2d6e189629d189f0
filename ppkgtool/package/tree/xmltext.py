"""Text as .NET's XmlWriter (which WCD uses) writes it: CRLF line ends, two-space indentation, no
final line end, ``" />"`` for empty elements, quotes escaped in attributes but not in text, and a
UTF-8 BOM on the files that carry one (ppkg-format.md, "File tree inside the image" [C]). Shared by
every writer of the package tree."""

from __future__ import annotations

from typing import Sequence

BOM = b"\xef\xbb\xbf"
CRLF = "\r\n"
XML_DECL = '<?xml version="1.0" encoding="utf-8"?>'
XML_DECL_STANDALONE = '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
XML_DECL_UPPER = '<?xml version="1.0" encoding="UTF-8"?>'
MAX_PART_BYTES = 64 * 1024 * 1024     # a compiled XML part; real ones are kilobytes


def escape_attr(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\r", "&#xD;").replace("\n", "&#xA;").replace("\t", "&#x9;"))


def escape_text(value: str) -> str:
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", CRLF)


def document(lines: Sequence[str], *, bom: bool, decl: str) -> bytes:
    text = CRLF.join([decl, *lines])
    data = text.encode("utf-8")
    return BOM + data if bom else data
