"""The file tree inside a .ppkg image, byte for byte as Microsoft's tools write it.

ppkg-format.md, "File tree inside the image" [C]::

    CommonSettings/CommonSettings.xml        no BOM
    CommonSettings/1/AnswerFile.xml          BOM
    Multivariant/Multivariant.xml            no BOM
    Multivariant/0/customizations.xml        BOM
    Multivariant/0/MasterDatastore.xml       BOM
    Multivariant/0/Prov/RunTime.xml          BOM   (+ User_RunTime.xml for scope="User" settings)
    Multivariant/0/Prov/RunTime/<n>__<Group>.provxml         BOM, one per settings group
    Multivariant/0/Prov/User_RunTime/<n>__<Group>.provxml    BOM, n continues after the device ones
    DataAsset/DataAsset.xml                  no BOM
    DataAsset/<index>/<k>_<base64 SHA-256, '/' -> '.'>/<file>

All text files use CRLF line ends, two-space indentation and no final line end; the writer below
mimics .NET's XmlWriter (which WCD uses): ``" />"`` for empty elements, quotes escaped in
attributes but not in text.
"""

from __future__ import annotations

import base64
import hashlib
import os

from pathlib import Path
from typing import Iterable

from lxml import etree

# The formats of the tree, each in its own module that reads and writes it (ppkgtool.package.tree);
# this module names the paths and files and writes customizations.xml / AnswerFile.xml.
from ppkgtool.package.tree.dataasset import AssetEntry, render_data_asset  # noqa: F401
from ppkgtool.package.tree.datastore import render_master_datastore  # noqa: F401
from ppkgtool.package.tree.index import render_elements_index  # noqa: F401
from ppkgtool.package.tree.provxml import Parm, ProvDoc  # noqa: F401
from ppkgtool.package.tree.runtime import ConfigurationSet, ProfileSet, render_runtime  # noqa: F401
from ppkgtool.package.tree.xmltext import BOM, CRLF, XML_DECL, document, escape_attr, escape_text  # noqa: F401

COMMON_SETTINGS_XML = "CommonSettings/CommonSettings.xml"
ANSWER_FILE_XML = "CommonSettings/1/AnswerFile.xml"
MULTIVARIANT_XML = "Multivariant/Multivariant.xml"
CUSTOMIZATIONS_XML = "Multivariant/0/customizations.xml"
MASTER_DATASTORE_XML = "Multivariant/0/MasterDatastore.xml"
RUNTIME_XML = "Multivariant/0/Prov/RunTime.xml"
USER_RUNTIME_XML = "Multivariant/0/Prov/User_RunTime.xml"
RUNTIME_DIR = "Multivariant/0/Prov/RunTime"
USER_RUNTIME_DIR = "Multivariant/0/Prov/User_RunTime"
DATA_ASSET_XML = "DataAsset/DataAsset.xml"
DATA_ASSET_FIRST_INDEX = 2   # 0 = Multivariant, 1 = CommonSettings (ppkg-format.md [C])

_FILE_NAME_BAD = set('\\/:*?"<>|\0')


# --- generic element writer (customizations.xml, AnswerFile.xml) -------------------------------

def serialize_element(el, *, drop_attributes: Iterable[str] = (), bom: bool = True) -> bytes:
    """Serialise an lxml element as WCD does (indent 2, CRLF, BOM, no final newline)."""
    drop = set(drop_attributes)
    lines: list[str] = []
    _write(el, 0, lines, drop, parent_ns=None)
    return document(lines, bom=bom, decl=XML_DECL)


def _qname(el_or_name: str, nsmap: dict) -> str:
    q = etree.QName(el_or_name)
    if q.namespace:
        for prefix, uri in nsmap.items():
            if uri == q.namespace and prefix:
                return f"{prefix}:{q.localname}"
    return q.localname


def _write(el, depth: int, lines: list[str], drop: set[str], parent_ns: dict | None) -> None:
    pad = "  " * depth
    if isinstance(el, etree._Comment):
        lines.append(f"{pad}<!--{el.text or ''}-->")
        return
    if not isinstance(el.tag, str):   # processing instructions, entities: not written
        return
    nsmap = dict(el.nsmap)
    parent_ns = parent_ns or {}
    decls = []
    for prefix, uri in nsmap.items():
        if parent_ns.get(prefix) != uri:
            decls.append(("xmlns" if prefix is None else f"xmlns:{prefix}", uri))
    name = _qname(el.tag, nsmap)
    attrs = [(k, v) for k, v in decls]
    for k, v in el.attrib.items():
        local = etree.QName(k).localname
        if local in drop and not etree.QName(k).namespace:
            continue
        attrs.append((_qname(k, nsmap), v))
    attr_text = "".join(f' {k}="{escape_attr(v)}"' for k, v in attrs)
    children = [c for c in el if isinstance(c.tag, str) or isinstance(c, etree._Comment)]
    if not children:
        text = el.text
        if text is None:
            if attrs and not el.text:
                lines.append(f"{pad}<{name}{attr_text} />")
            else:
                lines.append(f"{pad}<{name}{attr_text}></{name}>")
        else:
            lines.append(f"{pad}<{name}{attr_text}>{escape_text(text)}</{name}>")
        return
    lines.append(f"{pad}<{name}{attr_text}>")
    for c in children:
        _write(c, depth + 1, lines, drop, nsmap)
    lines.append(f"{pad}</{name}>")


def render_customizations(root) -> bytes:
    """Multivariant/0/customizations.xml: the whole WindowsCustomizations document (BOM, CRLF)."""
    return serialize_element(root)


def render_answer_file(settings_el) -> bytes:
    """CommonSettings/1/AnswerFile.xml: the ``Settings`` part; WCD drops the display ``Name``
    attributes (seen on ``User`` and ``CommandConfig`` in two real packages [C])."""
    return serialize_element(settings_el, drop_attributes=("Name",))


def asset_hash_name(k: int, digest_sha256: bytes) -> str:
    """``<k>_<base64(SHA-256)>`` with '/' replaced by '.' (ppkg-format.md [C])."""
    return f"{k}_{base64.b64encode(digest_sha256).decode('ascii').replace('/', '.')}"


def sha256_of(source: bytes | os.PathLike) -> bytes:
    """SHA-256 of bytes or of a file (a file's digest is cached by its identity: ppkgtool.digests).

    A file's SHA-1 is computed in the same read, on the other core: the WIM writer needs it for
    the file's resource and finds it there (no second hashing pass over a large asset)."""
    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha256(source).digest()
    from ppkgtool.digests import ASSET_ALGORITHMS, file_digests
    return file_digests(source, ASSET_ALGORITHMS)[ASSET_ALGORITHMS.index("sha256")]


def provxml_file_name(number: int, group: str) -> str:
    """``<n>__<Group with / -> _>.provxml`` (ppkg-format.md [C])."""
    safe = "".join("_" if (c in _FILE_NAME_BAD or c == "/") else c for c in group)
    return f"{number}__{safe}.provxml"


def legacy_provxml_file_name(area: str, k: int) -> str:
    """``<Area>_<k>.provxml`` of the 2015 ICD layout [I] (compiler.compile_package, runtime_layout)."""
    safe = "".join("_" if (c in _FILE_NAME_BAD or c == "/") else c for c in area)
    return f"{safe}_{k}.provxml"


def safe_asset_file_name(name: str) -> str:
    """The file name part of an asset: no separators, no traversal."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", "..") or any(c in _FILE_NAME_BAD for c in base):
        raise ValueError(f"{name!r} is not a usable asset file name")
    return base


def files_in(tree_files: dict) -> list[tuple[str, int]]:
    """(path, size) of a file mapping, sorted (for reports)."""
    out = []
    for p, src in sorted(tree_files.items()):
        size = len(src) if isinstance(src, (bytes, bytearray)) else Path(src).stat().st_size
        out.append((p, size))
    return out
