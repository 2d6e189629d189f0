"""customizations.xml: safe parsing with line numbers, PackageConfig -> PackageMetadata, variables.

The format is Windows Configuration Designer's ``WindowsCustomizations`` document
(ppkg-format.md, "customizations.xml" [C])::

    <WindowsCustomizations>
      <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">…</PackageConfig>
      <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning">
        <Customizations><Common>…</Common>[<Targets>…</Targets><Variant>…</Variant>…]</Customizations>
      </Settings>
    </WindowsCustomizations>

Parsing never resolves entities, loads DTDs or touches the network, and refuses any DOCTYPE.
Every setting keeps the line it came from so that errors name file, line and setting path.

Two modes, one reader: ``parse_customizations(data, source_name=…)`` is strict (the builder: every
structural problem is a CustomizationsError naming file and line); ``lenient=True`` reads what a
package carries (inspect, export): an invalid PackageConfig, unknown elements, targets without an
Id and variants naming unknown targets are noted in ``Customizations.problems`` and skipped, not
fatal. XML that is not well-formed or holds a DOCTYPE is refused in both modes.

Setting paths: ``leaf_segments`` walks a settings tree as ``(name, keys, position)`` segments and
``instance_path`` renders them in the one keyed-path form the project uses everywhere
(builder, catalogue, export, inspect, resolve, diff)::

    Accounts/Users/User[@UserName=admin]/Password       an element keyed by an attribute
    ProvisioningCommands/PrimaryContext/Command/CommandConfig[1]/CommandLine
                                                        the 2nd unkeyed sibling (0-based, as compiled)

The ``Name`` attribute is WCD's display name, not a key: Microsoft's tools drop it from
AnswerFile.xml and compile list items by position [C: the three real packages].
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator, Mapping

from lxml import etree

from ppkgtool.errors import CustomizationsError, InvalidInputError
from ppkgtool.package.metadata import (PACKAGE_CONFIG_NS, OwnerType, PackageMetadata, check_package_id,
                                       check_rank, check_version)

PROVISIONING_NS = "urn:schemas-microsoft-com:windows-provisioning"
MAX_CUSTOMIZATIONS_BYTES = 32 * 1024 * 1024   # WCD files are kilobytes; refuse absurd input
MAX_DEPTH = 64

# $(NAME): user variables (ICD /Variables). Names starting with "_" are engine macros that the
# provisioning engine expands on the device ($(__PackageID), $(__ICCID), $(_prov)): never touched.
_VARIABLE_RE = re.compile(r"\$\(([A-Za-z0-9_.\-]+)\)")
_VARIABLE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")


# --- safe XML ---------------------------------------------------------------------------------

def safe_parse_xml(data: bytes, *, source_name: str, max_bytes: int = MAX_CUSTOMIZATIONS_BYTES) -> etree._Element:
    """Parse untrusted XML through the project's one hardened parser (ppkgtool.xmlsafe)."""
    from ppkgtool import xmlsafe
    return xmlsafe.parse(data, where=source_name, max_bytes=max_bytes, error=CustomizationsError, max_elements=None)




def local_name(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


# --- variables --------------------------------------------------------------------------------

def parse_variable_assignments(items: Iterable[str], *, where: str = "--var") -> dict[str, str]:
    """``NAME=VALUE`` strings (also ICD's ``a=1;b=2`` form) -> dict. Later ones win."""
    out: dict[str, str] = {}
    for raw in items:
        for part in _split_icd_variables(raw):
            if "=" not in part:
                raise InvalidInputError(f"{where}: {part!r} is not NAME=VALUE")
            name, value = part.split("=", 1)
            name = name.strip()
            if not _VARIABLE_NAME_RE.fullmatch(name):
                raise InvalidInputError(f"{where}: {name!r} is not a valid variable name",
                                        hint="names start with a letter; names starting with '_' are engine macros")
            out[name] = value
    return out


def _split_icd_variables(raw: str) -> list[str]:
    # "a=1;b=2" (ICD /Variables) but a single NAME=VALUE may itself contain ';' after the '='
    if ";" in raw and re.fullmatch(r"(\s*[A-Za-z][A-Za-z0-9_.\-]*=[^;]*;?)+", raw):
        return [p for p in raw.split(";") if p.strip()]
    return [raw]


def read_variable_file(data: bytes, *, source_name: str) -> dict[str, str]:
    """A variables file: one ``NAME=VALUE`` per line; blank lines and ``#`` comments ignored."""
    text = data.decode("utf-8-sig")
    out: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        out.update(parse_variable_assignments([s], where=f"{source_name}:{lineno}"))
    return out


def unused_variables(variables: Mapping[str, str], used: Iterable[str], *, source_name: str) -> list[str]:
    """One warning per variable given (``--var``, ``--var-file``) that the document never uses: a
    misspelt name would otherwise go unnoticed (ICD says nothing either)."""
    return [f"variable {name} (--var/--var-file) is not used: {source_name} has no $({name})"
            for name in sorted(set(variables) - set(used))]


def substitute_variables(data: bytes, variables: Mapping[str, str], *, source_name: str) -> tuple[bytes, set[str]]:
    """Replace ``$(NAME)`` with the XML-escaped value of NAME; return (bytes, names used).

    Engine macros (names starting with ``_``) are left for the device. An unknown variable is an
    error naming file and line.
    """
    if b"$(" not in data:
        return data, set()
    bom = data.startswith(b"\xef\xbb\xbf")
    try:
        text = data[3:].decode("utf-8") if bom else data.decode("utf-8")
    except UnicodeDecodeError:
        return data, set()  # non-UTF-8 documents (UTF-16) are parsed as they are; lxml decodes them
    used: set[str] = set()

    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name.startswith("_"):
            return m.group(0)
        if name not in variables:
            line = text.count("\n", 0, m.start()) + 1
            raise CustomizationsError(f"unknown variable $({name})", where=f"{source_name}:{line}",
                                      hint=f"pass --var {name}=VALUE or --var-file FILE")
        used.add(name)
        value = variables[name]
        return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;").replace("\r", "&#xD;").replace("\n", "&#xA;"))

    out = _VARIABLE_RE.sub(repl, text).encode("utf-8")
    return (b"\xef\xbb\xbf" + out if bom else out), used


# --- model ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SettingNode:
    """One element of the settings tree (below ``Common`` or a ``Variant/Settings``)."""

    name: str
    attributes: tuple[tuple[str, str], ...]
    text: str | None
    line: int | None
    children: tuple["SettingNode", ...] = ()
    origin: str | None = None     # e.g. "--odj" for settings a command-line option added

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError("SettingNode.name must be a non-empty str")

    def attr(self, name: str) -> str | None:
        for k, v in self.attributes:
            if k == name:
                return v
        return None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def where(self, source_name: str) -> str:
        if self.origin:
            return f"{source_name} (added by {self.origin})"
        return f"{source_name}:{self.line}" if self.line else source_name


@dataclass(frozen=True)
class Condition:
    name: str
    value: str
    line: int | None


@dataclass(frozen=True)
class Target:
    """``Targets/Target[@Id]/TargetState/Condition[@Name,@Value]`` (ppkg-format.md, Multivariant [C]).

    ``conditions`` lists every Condition of every TargetState; ``states`` keeps them grouped by
    TargetState (a target is true when any one state has all its conditions true).
    """

    id: str
    conditions: tuple[Condition, ...]
    line: int | None
    states: tuple[tuple[Condition, ...], ...] = ()


@dataclass(frozen=True)
class Variant:
    """``Variant/TargetRefs/TargetRef[@Id]`` + ``Variant/Settings`` (ppkg-format.md, Multivariant [C]).

    ``kind`` is ``Variant`` (compiles to ConfigurationSet lines carrying the target's conditions) or
    ``Profile`` (the COSA form: ProfileSet lines, ppkg-format.md [C]).
    """

    target_ids: tuple[str, ...]
    settings: SettingNode | None
    line: int | None
    kind: str = "Variant"


@dataclass(frozen=True)
class Customizations:
    """A parsed customizations.xml. ``root`` is a private lxml copy used to re-serialise it.

    ``metadata`` is None only in lenient mode, when PackageConfig is missing or invalid;
    ``package_config`` holds its fields as written ((element name, text), document order);
    ``problems`` lists what lenient mode skipped (always empty in strict mode).
    """

    source_name: str
    metadata: PackageMetadata | None
    common: SettingNode | None
    targets: tuple[Target, ...] = ()
    variants: tuple[Variant, ...] = ()
    root: object = field(default=None, repr=False, compare=False)
    variables_used: frozenset[str] = frozenset()
    package_config: tuple[tuple[str, str], ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def settings_element(self):
        """The lxml ``Settings`` element (for AnswerFile.xml)."""
        return _find_child(self.root, "Settings")

    def leaves(self) -> Iterator[tuple[tuple[SettingNode, ...], SettingNode]]:
        """(ancestors below Common, leaf) in document order."""
        if self.common is not None:
            yield from iter_leaves(self.common)

    def with_metadata(self, metadata: PackageMetadata) -> "Customizations":
        """Same settings, new PackageConfig (``--owner-type``/``--rank`` overrides); the XML follows."""
        root = copy.deepcopy(self.root)
        _write_package_config(root, metadata)
        return replace(self, metadata=metadata, root=root)

    def with_additions(self, additions: Iterable["Addition"]) -> "Customizations":
        """Merge setting fragments (from payload options) into ``Common``; rebuild the model."""
        root = copy.deepcopy(self.root)
        common = _ensure_common(root)
        origins: dict[int, tuple[object, str]] = {}   # id -> (element kept alive, origin)
        for add in additions:
            _merge(common, add.element, add.origin, origins)
        node = _build_node(common, origins, None, 0) if common is not None else None
        return replace(self, common=node, root=root)


@dataclass(frozen=True)
class Addition:
    """A settings fragment rooted at a child of ``Common`` (e.g. ``ProvisioningCommands``)."""

    element: object   # lxml element in the provisioning namespace
    origin: str


def iter_leaves(node: SettingNode, ancestors: tuple[SettingNode, ...] = ()):
    for child in node.children:
        if child.is_leaf:
            yield ancestors, child
        else:
            yield from iter_leaves(child, ancestors + (child,))


# A path segment: (element name, key attributes, position among same-named siblings, 0-based).
Segment = tuple[str, dict, int]
DISPLAY_NAME_ATTRIBUTE = "Name"   # WCD's display name: dropped from AnswerFile.xml, never a key [C]


def segment_of(node: SettingNode, position: int) -> Segment:
    """The segment of ``node``: every attribute but the display ``Name`` is a key."""
    return node.name, {k: v for k, v in node.attributes if k != DISPLAY_NAME_ATTRIBUTE}, position


def leaf_paths(node: SettingNode) -> Iterator[list[tuple[SettingNode, int]]]:
    """For every leaf below ``node``, in document order: the elements from below ``node`` down to
    the leaf, each with its position among same-named siblings (0-based)."""
    def rec(n: SettingNode, anc: list):
        counts: dict[str, int] = {}
        for c in n.children:
            pos = counts.get(c.name, 0)
            counts[c.name] = pos + 1
            if c.is_leaf:
                yield anc + [(c, pos)]
            else:
                yield from rec(c, anc + [(c, pos)])
    yield from rec(node, [])


def leaf_segments(node: SettingNode) -> Iterator[tuple[list[Segment], SettingNode]]:
    """(segments from below ``node`` down to the leaf, leaf) for every leaf, in document order."""
    for path in leaf_paths(node):
        yield [segment_of(n, pos) for n, pos in path], path[-1][0]


def instance_path(segments) -> str:
    """The keyed settings path of ``segments``: ``Accounts/Users/User[@UserName=admin]/Password``;
    an unkeyed repeated element carries its 0-based position (``CommandConfig[1]``)."""
    out = []
    for name, keys, pos in segments:
        if keys:
            out.append(name + "".join(f"[@{k}={v}]" for k, v in keys.items()))
        else:
            out.append(name if pos == 0 else f"{name}[{pos}]")
    return "/".join(out)


_KEYS_RE = re.compile(r"\[[^\]]*\]")


def keyless_path(path: str) -> str:
    """``Accounts/Users/User[@UserName=admin]/Password`` -> ``Accounts/Users/User/Password`` (the
    setting a keyed path, or a catalogue pattern, is an instance of)."""
    return _KEYS_RE.sub("", path).strip().strip("/")


def segment_keys(segment_text: str) -> dict[str, str]:
    """The keys of one rendered segment: ``User[@UserName=admin]`` -> {'UserName': 'admin'}."""
    return dict(re.findall(r"\[@([^=\]]+)=([^\]]*)\]", segment_text))


def segment_position(segment_text: str) -> int:
    """The position of one rendered segment: ``CommandConfig[1]`` -> 1, ``CommandConfig`` -> 0."""
    m = re.search(r"\[(\d+)\]$", segment_text)
    return int(m.group(1)) if m else 0


class _Issues:
    """Strict mode raises CustomizationsError; lenient mode notes the problem and goes on."""

    def __init__(self, source_name: str, lenient: bool):
        self.source_name = source_name
        self.lenient = lenient
        self.problems: list[str] = []

    def __call__(self, message: str, line, hint: str | None = None) -> None:
        where = f"{self.source_name}:{line}" if line else self.source_name
        if not self.lenient:
            raise CustomizationsError(message, where=where, hint=hint)
        self.problems.append(f"{where}: {message}")


def parse_customizations(data: bytes, *, source_name: str, variables: Mapping[str, str] | None = None,
                         lenient: bool = False) -> Customizations:
    """Parse a customizations.xml (bytes). ``variables`` are substituted for ``$(NAME)`` first.

    ``lenient=True`` (inspect, export) reads what it can and lists the rest in ``problems``;
    XML that is not well-formed, holds a DOCTYPE or is not a WindowsCustomizations document is
    refused in both modes.
    """
    issue = _Issues(source_name, lenient)
    used: set[str] = set()
    if variables is not None:
        data, used = substitute_variables(bytes(data), variables, source_name=source_name)
    root = safe_parse_xml(bytes(data), source_name=source_name)
    if local_name(root) != "WindowsCustomizations":
        raise CustomizationsError(f"root element is <{local_name(root)}>, expected <WindowsCustomizations>",
                                  where=f"{source_name}:{root.sourceline}")
    metadata, config_fields = _read_package_config(root, source_name, issue)
    settings = _find_child(root, "Settings")
    cust = None
    common_els = []
    targets: list[Target] = []
    variants: list[Variant] = []
    if settings is not None:
        if settings.nsmap.get(None) != PROVISIONING_NS and etree.QName(settings).namespace != PROVISIONING_NS:
            issue(f"<Settings> must be in the namespace {PROVISIONING_NS}", settings.sourceline)
        cust = _find_child(settings, "Customizations")
        if cust is None:
            issue("<Settings> has no <Customizations>", settings.sourceline)
    if cust is None and lenient:   # a misplaced Customizations element is still read
        cust = next((el for el in root.iter() if local_name(el) == "Customizations"), None)
    if cust is not None:
        for child in _element_children(cust):
            name = local_name(child)
            if name == "Common":
                if common_els:
                    issue("more than one <Common>", child.sourceline)
                common_els.append(child)
            elif name == "Targets":
                targets.extend(_read_targets(child, issue))
            elif name in ("Variant", "Profile"):
                variants.append(_read_variant(child, issue))
            else:
                issue(f"unexpected <{name}> in <Customizations>", child.sourceline,
                      hint="expected Common, Targets, Variant or Profile")
    ids = [t.id for t in targets]
    for t in targets:
        if ids.count(t.id) > 1 and t is next(x for x in targets if x.id == t.id):
            issue(f"target {t.id!r} is defined twice", t.line)
    for v in variants:
        for tid in v.target_ids:
            if tid not in ids:
                issue(f"{v.kind} refers to unknown target {tid!r}", v.line)
    common = _merged_node(common_els) if common_els else None
    return Customizations(source_name, metadata, common, tuple(targets), tuple(variants), root, frozenset(used),
                          package_config=config_fields, problems=tuple(issue.problems))


# --- helpers ----------------------------------------------------------------------------------

def _element_children(el) -> list:
    return [c for c in el if isinstance(c.tag, str)]


def _find_child(el, name: str):
    if el is None:
        return None
    for c in _element_children(el):
        if local_name(c) == name:
            return c
    return None


def _text(el) -> str:
    return "".join(el.itertext()) if el is not None else ""


def _build_node(el, origins: dict, origin: str | None, depth: int) -> SettingNode:
    if depth > MAX_DEPTH:
        raise CustomizationsError("settings are nested too deeply", where=str(el.sourceline))
    hit = origins.get(id(el))
    if hit is not None and hit[0] is el:
        origin = hit[1]
    kids = tuple(_build_node(c, origins, origin, depth + 1) for c in _element_children(el))
    # a leaf's value is its text; comments and processing instructions inside it are not part of it
    text = None if kids else ((el.text or "") + "".join(c.tail or "" for c in el)).strip()
    attrs = tuple((etree.QName(k).localname, v) for k, v in el.attrib.items())
    return SettingNode(local_name(el), attrs, text, None if origin else el.sourceline, kids, origin)


def _merged_node(elements) -> SettingNode:
    """One settings node for one element, or for several same-named ones (lenient mode) merged."""
    return _merge_nodes([_build_node(el, {}, None, 0) for el in elements])


def _merge_nodes(nodes: list[SettingNode]) -> SettingNode:
    if len(nodes) == 1:
        return nodes[0]
    first = nodes[0]
    return SettingNode(first.name, first.attributes, None if any(n.children for n in nodes) else first.text,
                       first.line, tuple(c for n in nodes for c in n.children), first.origin)


def _read_package_config(root, source_name: str, issue: _Issues
                         ) -> tuple[PackageMetadata | None, tuple[tuple[str, str], ...]]:
    """(PackageMetadata, the fields as written). Lenient mode gives None for a missing or invalid one."""
    pc = _find_child(root, "PackageConfig")
    if pc is None:
        issue("no <PackageConfig>", root.sourceline,
              hint="add PackageConfig with ID, Name, Version, OwnerType and Rank")
        return None, ()
    fields: dict[str, tuple[str, int]] = {}
    for c in _element_children(pc):
        fields[local_name(c)] = (_text(c).strip(), c.sourceline)
    written = tuple((k, v[0]) for k, v in fields.items())

    class _Invalid(Exception):
        pass

    def fail(message: str, line) -> None:
        issue(message, line)
        raise _Invalid   # lenient: no metadata, but the fields as written are kept

    def get(name: str, default: str | None = None) -> tuple[str, int]:
        if name in fields:
            return fields[name]
        if default is None:
            fail(f"PackageConfig has no <{name}>", pc.sourceline)
        return default, pc.sourceline

    def check(name, fn, value, line):
        try:
            return fn(value)
        except InvalidInputError as exc:
            fail(f"PackageConfig/{name}: {exc.one_line()}", line)

    try:
        pid, l_id = get("ID")
        name, l_name = get("Name")
        version, l_ver = get("Version", "1.0")
        owner, l_owner = get("OwnerType", "OEM")
        rank, l_rank = get("Rank", "0")
        package_id = check("ID", check_package_id, pid, l_id)
        version = check("Version", check_version, version, l_ver)
        owner_type = check("OwnerType", OwnerType.parse, owner, l_owner)
        rank = check("Rank", check_rank, rank, l_rank)
        if not name:
            fail("PackageConfig/Name is empty", l_name)
    except _Invalid:
        return None, written
    return PackageMetadata(package_id=package_id, name=name, version=version, owner_type=owner_type, rank=rank,
                           description=fields.get("Description", ("", 0))[0],
                           notes_text=fields.get("Notes", ("", 0))[0]), written


def _write_package_config(root, metadata: PackageMetadata) -> None:
    pc = _find_child(root, "PackageConfig")
    ns = PACKAGE_CONFIG_NS
    values = {"ID": "{" + str(metadata.package_id) + "}", "Name": metadata.name, "Version": metadata.version,
              "OwnerType": metadata.owner_type.name, "Rank": str(metadata.rank)}
    for key, value in values.items():
        el = _find_child(pc, key)
        if el is None:
            el = etree.SubElement(pc, f"{{{ns}}}{key}")
        el.text = value


def _read_targets(el, issue: _Issues) -> list[Target]:
    out = []
    for t in _element_children(el):
        if local_name(t) != "Target":
            issue(f"unexpected <{local_name(t)}> in <Targets>", t.sourceline)
            continue
        tid = t.get("Id") or (t.get("ID") if issue.lenient else None)
        if not tid:
            issue("Target has no Id attribute", t.sourceline)
            continue
        conds = []
        states = []
        for state in _element_children(t):
            if local_name(state) != "TargetState":
                issue(f"unexpected <{local_name(state)}> in <Target>", state.sourceline)
                continue
            group = []
            for c in _element_children(state):
                if local_name(c) != "Condition" or c.get("Name") is None or c.get("Value") is None:
                    issue("expected <Condition Name=… Value=…/>", c.sourceline)
                    if local_name(c) != "Condition":
                        continue
                group.append(Condition(c.get("Name") or "", c.get("Value") or "", c.sourceline))
            conds.extend(group)
            states.append(tuple(group))
        out.append(Target(tid, tuple(conds), t.sourceline, tuple(states)))
    return out


def _read_variant(el, issue: _Issues) -> Variant:
    kind = local_name(el)
    refs: list[str] = []
    nodes: list[SettingNode] = []
    for c in _element_children(el):
        name = local_name(c)
        if name == "TargetRefs":
            for r in _element_children(c):
                if local_name(r) != "TargetRef" or not r.get("Id"):
                    issue("expected <TargetRef Id=…/>", r.sourceline)
                    continue
                refs.append(r.get("Id"))
        elif name == "Settings":
            nodes.append(_build_node(c, {}, None, 0))
        elif name == "Replace" and kind == "Profile":
            continue     # COSA <Replace Name=…>: a name substitution WCD applies at authoring time [U]
        else:
            issue(f"unexpected <{name}> in <{kind}>", c.sourceline)
    if not refs:
        issue(f"{kind} has no TargetRefs", el.sourceline)
    if not issue.lenient:   # strict: the last Settings element (as before); lenient: all of them
        nodes = nodes[-1:]
    settings = _merge_nodes(nodes) if nodes else None
    return Variant(tuple(refs), settings, el.sourceline, kind)


def _ensure_common(root):
    settings = _find_child(root, "Settings")
    if settings is None:
        settings = etree.SubElement(root, f"{{{PROVISIONING_NS}}}Settings", nsmap={None: PROVISIONING_NS})
    cust = _find_child(settings, "Customizations")
    if cust is None:
        cust = etree.SubElement(settings, f"{{{PROVISIONING_NS}}}Customizations")
    common = _find_child(cust, "Common")
    if common is None:
        common = etree.Element(f"{{{PROVISIONING_NS}}}Common")
        cust.insert(0, common)
    return common


def _merge(parent, fragment, origin: str, origins: dict) -> None:
    """Merge ``fragment`` (a would-be child of ``parent``) into it.

    Containers with the same name and attributes are merged; a leaf that already exists gets the
    new value (the command-line option wins); everything else is appended.
    """
    frag_kids = _element_children(fragment)
    for existing in _element_children(parent):
        if local_name(existing) == local_name(fragment) and dict(existing.attrib) == dict(fragment.attrib):
            if frag_kids and _element_children(existing):
                for k in frag_kids:
                    _merge(existing, k, origin, origins)
                return
            if not frag_kids and not _element_children(existing) and _is_keyed_leaf(fragment):
                existing.text = fragment.text
                origins[id(existing)] = (existing, origin)
                return
    new = copy.deepcopy(fragment)
    parent.append(new)
    for el in new.iter():
        origins[id(el)] = (el, origin)


def _is_keyed_leaf(el) -> bool:
    # a plain leaf (a setting value); list items such as CommandConfig always append
    return local_name(el) not in ("CommandConfig", "Dependency")
