"""The provxml files Windows applies: a ``wap-provisioningdoc`` of nested ``<characteristic
type=…>`` ending in ``<parm name= value= datatype= [SettingsPath=]>``; ``scope="User"`` on a
characteristic applies below it (ppkg-format.md, "File tree" [C]; docs/formats/package-layout.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

from ppkgtool import xmlsafe
from ppkgtool.package.tree.xmltext import MAX_PART_BYTES, XML_DECL_STANDALONE, document, escape_attr

PARM_ATTRIBUTES = ("name", "value", "datatype", "SettingsPath")


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
        return document(lines, bom=True, decl=XML_DECL_STANDALONE)

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


@dataclass(frozen=True)
class ProvParm:
    """One parm as read: characteristic types from the root, attributes, scope, file."""

    characteristic: tuple[str, ...]
    name: str
    value: str | None
    datatype: str | None
    settings_path: str | None
    scope: str                                   # Device | User
    extra: tuple[tuple[str, str], ...]           # other attributes (exec="1" …)
    source_file: str


def iter_parms(root) -> Iterator[tuple[tuple[str, ...], str, object]]:
    """(characteristic types, scope, parm element) for every parm of a parsed document, in order."""
    def rec(el, path: tuple[str, ...], scope: str):
        for c in el:
            if not isinstance(c.tag, str):
                continue
            n = c.tag.rsplit("}", 1)[-1]
            if n == "characteristic":
                sc = c.get("scope") or scope
                yield from rec(c, path + (c.get("type") or "",), "User" if sc.lower() == "user" else scope)
            elif n == "parm":
                yield path, scope, c
    yield from rec(root, (), "Device")


def parse_provxml(data: bytes, *, where: str, default_scope: str = "Device") -> list[ProvParm]:
    """Every parm of a provxml file (FormatError when it is not a wap-provisioningdoc)."""
    from ppkgtool.errors import FormatError
    root = xmlsafe.parse(data, where=where, max_bytes=MAX_PART_BYTES)
    if root.tag.rsplit("}", 1)[-1] != "wap-provisioningdoc":
        raise FormatError(f"root element is <{root.tag.rsplit('}', 1)[-1]}>, not <wap-provisioningdoc>", where=where)
    out = []
    for path, scope, c in iter_parms(root):
        extra = tuple((k, v) for k, v in c.attrib.items() if k not in PARM_ATTRIBUTES)
        out.append(ProvParm(path, c.get("name") or "", c.get("value"), c.get("datatype"), c.get("SettingsPath"),
                            "User" if scope == "User" else default_scope, extra, where))
    return out
