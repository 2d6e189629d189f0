"""The WIM XML data: UTF-16LE (with BOM) ``<WIM><TOTALBYTES/><IMAGE INDEX="n">...</IMAGE></WIM>``.

Element names and order as WIMGAPI writes them for a .ppkg (``wiminfo --xml`` on the fixtures;
wimlib src/xml.c): the caller's properties (NAME, DESCRIPTION, NOTES, AUTHOR, VERSION, ALTITUDE,
RESETCLEAR, PACKAGEID), then DIRCOUNT, FILECOUNT, TOTALBYTES, HARDLINKBYTES, CREATIONTIME,
LASTMODIFICATIONTIME (FILETIME as HIGHPART/LOWPART hex), WIMBOOT [C]. The top-level TOTALBYTES
is the offset of the XML data, i.e. the file size without the XML [C].
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lxml import etree

from ppkgtool.errors import WimError

MAX_XML_BYTES = 16 * 1024 * 1024

#: Properties the writer computes; a caller may not set them.
COMPUTED_PROPERTIES = ("DIRCOUNT", "FILECOUNT", "TOTALBYTES", "HARDLINKBYTES", "CREATIONTIME",
                       "LASTMODIFICATIONTIME", "WIMBOOT")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class ImageInfo:
    index: int
    properties: dict   # flat name -> text; nested elements as "PARENT/CHILD"

    def __post_init__(self):
        if not isinstance(self.index, int) or not isinstance(self.properties, dict):
            raise TypeError("ImageInfo(index: int, properties: dict)")


@dataclass(frozen=True)
class WimXml:
    text: str
    total_bytes: int | None
    images: tuple[ImageInfo, ...]


def _parser() -> etree.XMLParser:
    from ppkgtool import xmlsafe
    return xmlsafe.parser()


def decode_xml_bytes(data: bytes) -> str:
    if len(data) > MAX_XML_BYTES:
        raise WimError(f"XML data of {len(data)} bytes exceeds {MAX_XML_BYTES}", where="XML data")
    if len(data) % 2:
        raise WimError("XML data has an odd number of bytes (not UTF-16)", where="XML data")
    body = data[2:] if data[:2] == b"\xff\xfe" else data
    try:
        return body.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise WimError(f"XML data is not UTF-16LE ({exc.reason} at byte {exc.start})", where="XML data") from None


def _flatten(elem, prefix: str, out: dict) -> None:
    for child in elem:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        key = prefix + child.tag
        if len(child):
            _flatten(child, key + "/", out)
        elif key not in out:
            out[key] = child.text or ""


def parse_wim_xml(data: bytes) -> WimXml:
    text = decode_xml_bytes(data)
    stripped = text.rstrip("\0")
    if re.search(r"<!(DOCTYPE|ENTITY)", stripped, re.IGNORECASE):
        raise WimError("XML data contains a DOCTYPE or ENTITY declaration (refused)", where="XML data")
    try:
        root = etree.fromstring(stripped.encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:
        raise WimError(f"XML data does not parse: {exc}", where=f"XML data line {exc.lineno}") from None
    if root.tag != "WIM":
        raise WimError(f"XML root element is <{root.tag}>, not <WIM>", where="XML data")
    total = None
    tb = root.find("TOTALBYTES")
    if tb is not None and (tb.text or "").strip().isdigit():
        total = int(tb.text.strip())
    images = []
    for pos, img in enumerate(root.findall("IMAGE"), 1):
        raw_index = img.get("INDEX", str(pos))
        try:
            index = int(raw_index)
        except ValueError:
            raise WimError(f"IMAGE INDEX {raw_index!r} is not a number", where=f"XML /WIM/IMAGE[{pos}]") from None
        props: dict[str, str] = {}
        _flatten(img, "", props)
        images.append(ImageInfo(index, props))
    return WimXml(stripped, total, tuple(images))


def filetime_parts(ft: int) -> tuple[str, str]:
    return f"0x{(ft >> 32) & 0xFFFFFFFF:08X}", f"0x{ft & 0xFFFFFFFF:08X}"


def parse_filetime(props: dict, name: str) -> int | None:
    hi, lo = props.get(f"{name}/HIGHPART"), props.get(f"{name}/LOWPART")
    try:
        return (int(hi, 0) << 32) | int(lo, 0) if hi and lo else None
    except ValueError:
        return None


def _escape(value: str, where: str) -> str:
    if not isinstance(value, str):
        raise WimError(f"property {where} must be text, not {type(value).__name__}")
    if _BAD_CHARS.search(value):
        raise WimError(f"property {where} contains a character XML cannot carry")
    if "&" in value or "<" in value or ">" in value:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


@functools.lru_cache(maxsize=256)      # the property names are a small fixed vocabulary
def _check_property_name(key: str) -> None:
    if not _NAME_RE.match(key):
        raise WimError(f"image property name {key!r} is not a valid XML element name")
    if key.upper() in COMPUTED_PROPERTIES or key.upper() == "INDEX":
        raise WimError(f"image property {key} is computed by the writer and cannot be set")


@functools.lru_cache(maxsize=1024)     # packages of a bulk run repeat most properties
def _property_element(key: str, value: str) -> str:
    _check_property_name(key)
    return f"<{key}>{_escape(value, key)}</{key}>"


def build_image_xml(index: int, properties: dict[str, str], *, dir_count: int, file_count: int,
                    total_bytes: int, hard_link_bytes: int, creation_time: int,
                    modification_time: int, wimboot: bool = False) -> str:
    parts = [f'<IMAGE INDEX="{index}">']
    for key, value in properties.items():
        if not isinstance(key, str):
            raise WimError(f"image property name {key!r} is not a valid XML element name")
        if not isinstance(value, str):
            _escape(value, key)             # raises, naming the property and the type
        parts.append(_property_element(str(key), str(value)))
    ch, cl = filetime_parts(creation_time)
    mh, ml = filetime_parts(modification_time)
    parts.append(f"<DIRCOUNT>{dir_count}</DIRCOUNT><FILECOUNT>{file_count}</FILECOUNT>"
                 f"<TOTALBYTES>{total_bytes}</TOTALBYTES><HARDLINKBYTES>{hard_link_bytes}</HARDLINKBYTES>"
                 f"<CREATIONTIME><HIGHPART>{ch}</HIGHPART><LOWPART>{cl}</LOWPART></CREATIONTIME>"
                 f"<LASTMODIFICATIONTIME><HIGHPART>{mh}</HIGHPART><LOWPART>{ml}</LOWPART></LASTMODIFICATIONTIME>"
                 f"<WIMBOOT>{1 if wimboot else 0}</WIMBOOT></IMAGE>")
    return "".join(parts)


def build_wim_xml(total_bytes: int, image_xml: list[str]) -> bytes:
    """BOM + UTF-16LE, no declaration, no whitespace, nothing after </WIM> [C]."""
    text = f"<WIM><TOTALBYTES>{total_bytes}</TOTALBYTES>{''.join(image_xml)}</WIM>"
    return b"\xff\xfe" + text.encode("utf-16-le")
