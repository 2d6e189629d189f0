"""RunTime.xml / User_RunTime.xml: one ``ConfigurationSet`` line per compiled provxml, with the
SettingsGroup it belongs to and, for multivariant packages, its conditions — as attributes of the
line (a Variant's target state) or of an enclosing ``ProfileSet`` (the COSA form)
(ppkg-format.md, "File tree", "Multivariant" [C])."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ppkgtool import xmlsafe
from ppkgtool.package.tree.xmltext import MAX_PART_BYTES, XML_DECL, document, escape_attr

LINE_ATTRIBUTES = ("Type", "SettingsGroup", "Data")


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
    return document(lines, bom=True, decl=XML_DECL)


@dataclass(frozen=True)
class RuntimeEntry:
    """A ConfigurationSet as read: its attributes in order, and its ProfileSet's when nested in one."""

    attributes: tuple[tuple[str, str], ...]
    profile: tuple[tuple[str, str], ...] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        return dict(self.attributes).get(name, default)

    @property
    def conditions(self) -> tuple[tuple[str, str], ...]:
        """The line's own condition attributes (a Variant's target state)."""
        return tuple((k, v) for k, v in self.attributes if k not in LINE_ATTRIBUTES)


def parse_runtime(data: bytes, *, where: str) -> list[RuntimeEntry]:
    """Every ConfigurationSet of a RunTime.xml, in document order (FormatError on a bad root)."""
    from ppkgtool.errors import FormatError
    root = xmlsafe.parse(data, where=where, max_bytes=MAX_PART_BYTES)
    if _local(root.tag) != "ConfigurationSource":
        raise FormatError(f"root element is <{_local(root.tag)}>, not <ConfigurationSource>", where=where)
    out = []
    for el in root.iter():
        if not isinstance(el.tag, str) or _local(el.tag) != "ConfigurationSet":
            continue
        profile = None
        parent = el.getparent()
        while parent is not None and parent is not root:
            if _local(parent.tag) == "ProfileSet":
                profile = tuple(parent.attrib.items())
                break
            parent = parent.getparent()
        out.append(RuntimeEntry(tuple(el.attrib.items()), profile))
    return out


def resolve_prov_path(text: str, prov_dir: str) -> str | None:
    """'$(_prov)\\RunTime\\0__X.provxml' -> an image path under ``prov_dir``; None if it is unsafe."""
    t = (text or "").strip().replace("\\", "/")
    if t.startswith("$(_prov)"):
        t = prov_dir.rstrip("/") + "/" + t[len("$(_prov)"):].lstrip("/")
    parts = [p for p in t.split("/") if p]
    if not parts or any(p in (".", "..") or ":" in p for p in parts):
        return None
    return "/".join(parts)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
