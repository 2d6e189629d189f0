"""Text forms of an ODJ blob (docs/formats/odj.md "Text forms"):

- plain base64 (``djoin /printblob``, pProvisionTextData, unattend AccountData);
- the ``djoin /savefile`` file: BOM FF FE, UTF-16LE base64, then a UTF-16 NUL;
- an unattend.xml Microsoft-Windows-UnattendedJoin component
  (Identification/Provisioning/AccountData in specialize, OfflineIdentification/... in offlineServicing).

``load_blob`` recognises all of them (and the binary stream) and decodes the result.
"""

from __future__ import annotations

import base64
import binascii
import re

from lxml import etree

from ppkgtool.errors import OdjError

UNATTEND_NS = "urn:schemas-microsoft-com:unattend"
WCM_NS = "http://schemas.microsoft.com/WMIConfig/2002/State"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PASSES = {"specialize": "Identification", "offlineServicing": "OfflineIdentification"}
ARCHITECTURES = ("amd64", "x86", "arm64")
MAX_TEXT = 64 * 1024 * 1024
NERR_NoOfflineJoinInfo = 2709
NERR_BadOfflineJoinInfo = 2710
STREAM_MAGIC = b"\x01\x10\x08\x00"


def to_base64(blob: bytes) -> str:
    """The plain base64 form (one line, no newline)."""
    return base64.b64encode(bytes(blob)).decode("ascii")


def to_savefile(blob: bytes) -> bytes:
    """What ``djoin /provision /savefile`` writes: FF FE, UTF-16LE base64, 00 00."""
    return b"\xff\xfe" + to_base64(blob).encode("utf-16-le") + b"\x00\x00"


def unattend_component(blob: bytes, pass_: str = "specialize", arch: str = "amd64") -> etree._Element:
    """``<component name="Microsoft-Windows-UnattendedJoin">`` carrying the blob as AccountData."""
    if pass_ not in PASSES:
        raise ValueError(f"unattend pass must be one of {', '.join(PASSES)}, not {pass_!r}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"processor architecture must be one of {', '.join(ARCHITECTURES)}, not {arch!r}")
    q = lambda tag: f"{{{UNATTEND_NS}}}{tag}"  # noqa: E731
    comp = etree.Element(q("component"), nsmap={None: UNATTEND_NS, "wcm": WCM_NS, "xsi": XSI_NS})
    comp.set("name", "Microsoft-Windows-UnattendedJoin")
    comp.set("processorArchitecture", arch)
    comp.set("publicKeyToken", "31bf3856ad364e35")
    comp.set("language", "neutral")
    comp.set("versionScope", "nonSxS")
    ident = etree.SubElement(comp, q(PASSES[pass_]))
    prov = etree.SubElement(ident, q("Provisioning"))
    etree.SubElement(prov, q("AccountData")).text = to_base64(blob)
    return comp


def unattend_document(blob: bytes, pass_: str = "specialize", arch: str = "amd64") -> bytes:
    """A whole unattend.xml (UTF-8) with one settings pass holding the UnattendedJoin component."""
    root = etree.Element(f"{{{UNATTEND_NS}}}unattend", nsmap={None: UNATTEND_NS})
    settings = etree.SubElement(root, f"{{{UNATTEND_NS}}}settings")
    settings.set("pass", pass_)
    settings.append(unattend_component(blob, pass_, arch))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


# -- reading ---------------------------------------------------------------------------------------

def _safe_parser() -> etree.XMLParser:
    from ppkgtool import xmlsafe
    return xmlsafe.parser(strip_comments=True)


def account_data_from_unattend(xml: bytes) -> str:
    """The AccountData text of the first UnattendedJoin Provisioning element."""
    if re.search(rb"<!DOCTYPE", xml, re.IGNORECASE):
        raise OdjError("unattend XML with a DOCTYPE is refused", code=NERR_BadOfflineJoinInfo)
    try:
        root = etree.fromstring(xml, _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise OdjError(f"unattend XML does not parse: {exc.msg}", where=f"line {exc.lineno}",
                       code=NERR_BadOfflineJoinInfo) from None
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise OdjError("unattend XML with a DOCTYPE is refused", where="line 1", code=NERR_BadOfflineJoinInfo)
    found = [el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "AccountData"
             and el.getparent() is not None and etree.QName(el.getparent()).localname == "Provisioning"]
    if not found:
        raise OdjError("no Provisioning/AccountData element in the unattend XML", code=NERR_NoOfflineJoinInfo)
    text = "".join(found[0].itertext()).strip()
    if not text:
        raise OdjError("the AccountData element is empty", where=f"line {found[0].sourceline}",
                       code=NERR_NoOfflineJoinInfo)
    return text


def _decode_base64(text: str, what: str) -> bytes:
    compact = re.sub(r"[\s\x00]+", "", text)
    if not compact:
        raise OdjError(f"the {what} is empty", code=NERR_NoOfflineJoinInfo)
    bad = re.search(r"[^A-Za-z0-9+/=]", compact)
    if bad:
        raise OdjError(f"the {what} is not base64: character {bad.group()!r} at position {bad.start()}",
                       code=NERR_BadOfflineJoinInfo)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OdjError(f"the {what} is not valid base64: {exc}", code=NERR_BadOfflineJoinInfo) from None


def _as_text(data: bytes) -> str:
    """Text of a savefile/base64/XML input: UTF-16 with or without BOM, or UTF-8."""
    if data[:2] == b"\xff\xfe":
        return data[2:].decode("utf-16-le", "replace")
    if data[:2] == b"\xfe\xff":
        return data[2:].decode("utf-16-be", "replace")
    if data[:3] == b"\xef\xbb\xbf":
        return data[3:].decode("utf-8", "replace")
    head = data[:256]
    if len(head) >= 2 and head[1::2].count(0) > len(head) // 4 and head[0] != 0:
        return data.decode("utf-16-le", "replace")      # UTF-16LE without BOM
    if len(head) >= 2 and head[0::2].count(0) > len(head) // 4:
        return data.decode("utf-16-be", "replace")
    return data.decode("utf-8", "replace")


def detect_form(data: bytes) -> str:
    """'binary', 'savefile' (UTF-16), 'base64' or 'unattend'."""
    if data[:4] == STREAM_MAGIC:
        return "binary"
    text = _as_text(data).lstrip("\ufeff \t\r\n\x00")
    if text.startswith("<"):
        return "unattend"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and data[1] == 0):
        return "savefile"
    return "base64"


def blob_bytes(data: bytes) -> tuple[bytes, str]:
    """(binary ODJ_PROVISION_DATA, detected form) from any supported form."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"load_blob needs bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_TEXT:
        raise OdjError(f"input of {len(data)} bytes exceeds the {MAX_TEXT}-byte limit", code=NERR_BadOfflineJoinInfo)
    if not data.strip(b" \t\r\n\x00"):
        raise OdjError("no offline join information: the input is empty", code=NERR_NoOfflineJoinInfo)
    form = detect_form(data)
    if form == "binary":
        return data, form
    if form == "unattend":
        raw = data
        if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and (data[0] == 0 or data[1] == 0)):
            raw = _as_text(data).encode("utf-8")
            raw = re.sub(rb"^\s*<\?xml[^>]*\?>", b"", raw)
        return _decode_base64(account_data_from_unattend(raw), "AccountData"), form
    what = "djoin save file" if form == "savefile" else "base64 text"
    return _decode_base64(_as_text(data), what), form


def load_blob(data: bytes):
    """Decode an ODJ blob in any form: binary, base64 text, djoin save file (UTF-16 with or
    without BOM, stray NULs, whitespace, CRLF) or unattend.xml. Empty input → OdjError 2709."""
    from ppkgtool.odj.codec import decode_provision_data
    blob, _form = blob_bytes(data)
    return decode_provision_data(blob)
