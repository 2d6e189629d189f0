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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from lxml import etree

BOM = b"\xef\xbb\xbf"
CRLF = "\r\n"
XML_DECL = '<?xml version="1.0" encoding="utf-8"?>'
XML_DECL_STANDALONE = '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
XML_DECL_UPPER = '<?xml version="1.0" encoding="UTF-8"?>'

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


# --- escaping as .NET's XmlWriter does ----------------------------------------------------------

def escape_attr(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\r", "&#xD;").replace("\n", "&#xA;").replace("\t", "&#x9;"))


def escape_text(value: str) -> str:
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", CRLF)


def _document(lines: Sequence[str], *, bom: bool, decl: str) -> bytes:
    text = CRLF.join([decl, *lines])
    data = text.encode("utf-8")
    return BOM + data if bom else data


# --- generic element writer (customizations.xml, AnswerFile.xml) -------------------------------

def serialize_element(el, *, drop_attributes: Iterable[str] = (), bom: bool = True) -> bytes:
    """Serialise an lxml element as WCD does (indent 2, CRLF, BOM, no final newline)."""
    drop = set(drop_attributes)
    lines: list[str] = []
    _write(el, 0, lines, drop, parent_ns=None)
    return _document(lines, bom=bom, decl=XML_DECL)


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


# --- fixed files --------------------------------------------------------------------------------

def render_elements_index(kind: str, index: int) -> bytes:
    """CommonSettings.xml / Multivariant.xml (no BOM, upper-case UTF-8 in the declaration)."""
    return _document([f'<Elements Type="{kind}">', f'  <Element Index="{index}">', "  </Element>", "</Elements>"],
                     bom=False, decl=XML_DECL_UPPER)


def render_master_datastore(*, user_runtime: bool) -> bytes:
    """MasterDatastore.xml: RunTime -> $(_prov)\\RunTime.xml [, User_RunTime] (ppkg-format.md [C])."""
    lines = ['<ConfigurationSourceList Version="1.0">']
    sources = ["RunTime"] + (["User_RunTime"] if user_runtime else [])
    for s in sources:
        lines += [f'  <ConfigurationSource Name="{s}" Path="$(_prov)\\{s}.xml">', "    <EventList>",
                  f'      <Event Name="{s}" />', "    </EventList>", "  </ConfigurationSource>"]
    lines.append("</ConfigurationSourceList>")
    return _document(lines, bom=True, decl=XML_DECL)


# --- RunTime.xml ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConfigurationSet:
    """One ``<ConfigurationSet Type="provxml" SettingsGroup=… Data=…/>`` line (ppkg-format.md [C])."""

    settings_group: str          # uuid, with _k suffix for repeats
    data: str                    # $(_prov)\RunTime\<n>__<Group>.provxml
    conditions: tuple[tuple[str, str], ...] = ()   # a Variant's target state, as attributes [C]


@dataclass(frozen=True)
class ProfileSet:
    """Multivariant conditions wrapping configuration sets [I]: attribute pairs in order."""

    attributes: tuple[tuple[str, str], ...]
    sets: tuple[ConfigurationSet, ...]


def render_runtime(sets: Sequence[ConfigurationSet], profile_sets: Sequence[ProfileSet] = ()) -> bytes:
    lines = ['<ConfigurationSource Version="1.0">']
    for s in sets:
        conds = "".join(f' {k}="{escape_attr(v)}"' for k, v in s.conditions)
        lines.append(f'  <ConfigurationSet Type="provxml" SettingsGroup="{escape_attr(s.settings_group)}" '
                     f'Data="{escape_attr(s.data)}"{conds} />')
    for p in profile_sets:
        attrs = "".join(f' {k}="{escape_attr(v)}"' for k, v in p.attributes)
        lines.append(f"  <ProfileSet{attrs}>")
        for s in p.sets:
            lines.append(f'    <ConfigurationSet Type="provxml" SettingsGroup="{escape_attr(s.settings_group)}" '
                         f'Data="{escape_attr(s.data)}" />')
        lines.append("  </ProfileSet>")
    lines.append("</ConfigurationSource>")
    return _document(lines, bom=True, decl=XML_DECL)


# --- provxml --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parm:
    """``<parm [SettingsPath=…] name=… value=… datatype=… [extra…] />``."""

    name: str
    value: str
    datatype: str
    settings_path: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self):
        if self.datatype not in ("string", "integer", "boolean"):
            raise ValueError(f"bad provxml datatype {self.datatype!r}")


class ProvDoc:
    """A wap-provisioningdoc built by adding parms under characteristic paths (first-seen order)."""

    def __init__(self):
        self._root: list = []   # items: [type, attrs(list), children(list)] or Parm

    def add(self, characteristic: Sequence[str], parm: Parm, *, root_attributes: Sequence[tuple[str, str]] = ()):
        level = self._root
        for depth, ctype in enumerate(characteristic):
            for item in level:
                if isinstance(item, list) and item[0] == ctype:
                    node = item
                    break
            else:
                node = [ctype, list(root_attributes) if depth == 0 else [], []]
                level.append(node)
            level = node[2]
        level.append(parm)

    def render(self) -> bytes:
        lines = ["<wap-provisioningdoc>"]
        self._render(self._root, 1, lines)
        lines.append("</wap-provisioningdoc>")
        return _document(lines, bom=True, decl=XML_DECL_STANDALONE)

    def _render(self, items, depth, lines):
        pad = "  " * depth
        for item in items:
            if isinstance(item, Parm):
                attrs = []
                if item.settings_path is not None:
                    attrs.append(("SettingsPath", item.settings_path))
                attrs += [("name", item.name), ("value", item.value), ("datatype", item.datatype), *item.extra]
                lines.append(f"{pad}<parm" + "".join(f' {k}="{escape_attr(v)}"' for k, v in attrs) + " />")
            else:
                ctype, attrs, children = item
                a = "".join(f' {k}="{escape_attr(v)}"' for k, v in [("type", ctype), *attrs])
                lines.append(f"{pad}<characteristic{a}>")
                self._render(children, depth + 1, lines)
                lines.append(f"{pad}</characteristic>")


# --- DataAsset -------------------------------------------------------------------------------------

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
    return _document(lines, bom=False, decl=XML_DECL_UPPER)


def asset_hash_name(k: int, digest_sha256: bytes) -> str:
    """``<k>_<base64(SHA-256)>`` with '/' replaced by '.' (ppkg-format.md [C])."""
    return f"{k}_{base64.b64encode(digest_sha256).decode('ascii').replace('/', '.')}"


def sha256_of(source: bytes | os.PathLike) -> bytes:
    """SHA-256 of bytes or of a file (a file's digest is cached by its identity: ppkgtool.digests)."""
    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha256(source).digest()
    from ppkgtool.digests import file_digests
    return file_digests(source, ("sha256",))[0]


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
