"""The settings catalogue: data that maps customizations.xml paths to compiled provxml.

The data lives in ``ppkgtool/data/catalogue.json`` (docs/catalogue.md describes every field); users
add to it with ``ppkgtool catalog learn`` and ``build --catalogue FILE``. This module loads, merges
and validates it, and matches a setting's element path against it.

Path patterns (``/``-separated segments):

- ``Name``            a literal element
- ``Name[@Attr]``     an element keyed by an attribute; ``{Attr}`` in templates is its value
- ``Name[#n]``        a repeated element; ``{n}`` is its 0-based position among same-named siblings
- ``{Var}``           any element name; ``{Var}`` in templates is that name (generic entries)

The most specific entry wins (most literal segments); two entries with the same pattern that
disagree are a conflict, reported, never silently merged.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ppkgtool.errors import InvalidInputError

CATALOGUE_FORMAT = "ppkgtool-catalogue/1"
# Namespace of the UUIDv5 SettingsGroup ids this project makes for settings whose Microsoft id is
# unknown (ppkg-format.md: Microsoft's namespace is [U]). uuid5(NAMESPACE_URL, "https://ppkgtool/settings-group").
PROJECT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ppkgtool/settings-group")
DATATYPES = ("string", "integer", "boolean", "auto")
SCOPES = ("Device", "User")
TRANSFORMS = ("cert-der-base64", "pfx-base64")
MAX_CATALOGUE_BYTES = 8 * 1024 * 1024

_SEGMENT_RE = re.compile(r"^(?:\{(?P<var>[A-Za-z][A-Za-z0-9_]*)\}|(?P<name>[A-Za-z0-9_.\-]+)"
                         r"(?:\[(?:@(?P<attr>[A-Za-z0-9_\-]+)|#(?P<index>[A-Za-z][A-Za-z0-9_]*))\])?)$")
_TEMPLATE_VAR_RE = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")

# Value words of the generic Policy CSP rule, seen in real packages (Yes -> 1, Not allowed -> 0 …).
POLICY_WORDS = {"yes": "1", "no": "0", "allowed": "1", "not allowed": "0", "disallowed": "0",
                "enabled": "1", "disabled": "0"}
BOOLEAN_WORDS = {"true": "true", "false": "false"}


class CatalogueError(InvalidInputError):
    """The catalogue data is malformed or contradicts itself."""


@dataclass(frozen=True)
class Segment:
    name: str | None          # literal element name, None for {Var}
    var: str | None = None    # {Var}: captures the element name
    attr: str | None = None   # Name[@Attr]: captures the attribute's value
    index: str | None = None  # Name[#n]: captures the position

    @property
    def literal(self) -> bool:
        return self.name is not None

    def text(self) -> str:
        if self.var:
            return "{" + self.var + "}"
        if self.attr:
            return f"{self.name}[@{self.attr}]"
        if self.index:
            return f"{self.name}[#{self.index}]"
        return self.name or ""


def parse_pattern(pattern: str) -> tuple[Segment, ...]:
    segs = []
    for raw in pattern.split("/"):
        m = _SEGMENT_RE.match(raw)
        if not m:
            raise CatalogueError(f"bad path pattern segment {raw!r} in {pattern!r}")
        segs.append(Segment(m["name"], m["var"], m["attr"], m["index"]))
    return tuple(segs)


@dataclass(frozen=True)
class Output:
    """One compiled ``parm`` (ppkg-format.md, provxml [C])."""

    characteristic: tuple[str, ...]       # templates
    parm: str                             # template
    datatype: str                         # string | integer | boolean | auto
    values: tuple[tuple[str, str], ...] = ()   # customizations value -> compiled value (case-insensitive)
    values_only: bool = False             # only the mapped words are valid
    constant: str | None = None           # a fixed value (Provisioning/ForceSettingReload = 1)
    transform: str | None = None          # cert-der-base64 | pfx-base64 (the value is a file)
    policy_words: bool = False            # the generic Policy CSP value words apply
    extra: tuple[tuple[str, str], ...] = ()   # extra parm attributes, e.g. exec="1"

    def __post_init__(self):
        if self.datatype not in DATATYPES:
            raise CatalogueError(f"unknown datatype {self.datatype!r}")
        if self.transform is not None and self.transform not in TRANSFORMS:
            raise CatalogueError(f"unknown transform {self.transform!r}")
        if not self.characteristic:
            raise CatalogueError("an output needs a characteristic path")

    def to_json(self) -> dict:
        d: dict = {"characteristic": list(self.characteristic), "parm": self.parm, "datatype": self.datatype}
        if self.values:
            d["values"] = dict(self.values)
        if self.values_only:
            d["values_only"] = True
        if self.constant is not None:
            d["constant"] = self.constant
        if self.transform:
            d["transform"] = self.transform
        if self.policy_words:
            d["policy_words"] = True
        if self.extra:
            d["extra"] = dict(self.extra)
        return d


@dataclass(frozen=True)
class AssetSpec:
    """A setting whose value is a file carried in DataAsset (ppkg-format.md, DataAsset [C])."""

    name: str          # DataAsset element Name, e.g. CommandFile
    path: str          # template of the asset's setting path, e.g. /ProvisioningCommands/PrimaryContext/Command/{n}/CommandFile


@dataclass(frozen=True)
class Entry:
    path: str                     # customizations path pattern
    group: str                    # provxml group template (file name = <n>__<group, / -> _>)
    settings_group: str | None    # Microsoft's uuid, or None (then a project UUIDv5 is made)
    scope: str = "Device"
    outputs: tuple[Output, ...] = ()
    asset: AssetSpec | None = None
    secret: bool = False          # value is a secret (password, key): redacted in reports
    evidence: tuple[str, ...] = ()
    confidence: str = "C"         # C confirmed on real packages, I inferred, U unknown
    note: str = ""
    origin: str = "builtin"       # builtin or the file it came from
    # learned from packages built by a WCD newer than every builtin store (the builder version that
    # showed it): used by the builtin default model only, in place of (or beside) the store's entry
    newer_than_store: str = ""
    segments: tuple[Segment, ...] = field(default=(), compare=False, repr=False)
    # the settings-model definition (settings.py) whose value rules apply; None for user entries
    definition: object | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise CatalogueError(f"{self.path}: unknown scope {self.scope!r}")
        if self.confidence not in ("C", "I", "U"):
            raise CatalogueError(f"{self.path}: confidence must be C, I or U")
        if self.settings_group is not None:
            try:
                uuid.UUID(self.settings_group)
            except ValueError:
                raise CatalogueError(f"{self.path}: settings_group {self.settings_group!r} is not a UUID") from None
        if not self.outputs and self.asset is None and self.settings_group is None:
            raise CatalogueError(f"{self.path}: an entry needs outputs, an asset or a settings_group")
        segs = parse_pattern(self.path)
        object.__setattr__(self, "segments", segs)
        known = {s.var or s.attr or s.index for s in segs if (s.var or s.attr or s.index)}
        known |= {"PackageID", "cert_sha1", "value"}
        templates = [self.group] + ([self.asset.path] if self.asset else [])
        for o in self.outputs:
            templates += list(o.characteristic) + [o.parm]
        for t in templates:
            for v in _TEMPLATE_VAR_RE.findall(t):
                if v not in known:
                    raise CatalogueError(f"{self.path}: template {t!r} uses {{{v}}}, which the path does not capture")

    @property
    def name_vars(self) -> tuple[str, ...]:
        return tuple(s.var for s in self.segments if s.var)

    @property
    def specificity(self) -> tuple[int, int]:
        return (sum(1 for s in self.segments if s.literal), len(self.segments))

    def settings_path(self, captures: Mapping[str, str]) -> str:
        """The key-less setting path WCD writes as ``SettingsPath`` (e.g. Accounts/Users/User/Password)."""
        parts = [captures[s.var] if s.var else s.name for s in self.segments]
        return "/".join(parts)

    def settings_group_id(self, captures: Mapping[str, str]) -> str:
        if self.settings_group:
            return self.settings_group
        group = render_template(self.group, {k: captures[k] for k in self.name_vars}, keep_unknown=True)
        return str(uuid.uuid5(PROJECT_NAMESPACE, group))

    def to_json(self) -> dict:
        d: dict = {"path": self.path, "group": self.group}
        if self.settings_group:
            d["settings_group"] = self.settings_group
        d["scope"] = self.scope
        if self.outputs:
            d["outputs"] = [o.to_json() for o in self.outputs]
        if self.asset:
            d["asset"] = {"name": self.asset.name, "path": self.asset.path}
        if self.secret:
            d["secret"] = True
        d["confidence"] = self.confidence
        if self.evidence:
            d["evidence"] = list(self.evidence)
        if self.note:
            d["note"] = self.note
        if self.newer_than_store:
            d["newer_than_store"] = self.newer_than_store
        return d


def render_template(template: str, values: Mapping[str, str], *, keep_unknown: bool = False) -> str:
    def repl(m):
        k = m.group(1)
        if k in values:
            return values[k]
        if keep_unknown:
            return m.group(0)
        raise KeyError(k)
    return _TEMPLATE_VAR_RE.sub(repl, template)


@dataclass(frozen=True)
class Match:
    entry: Entry
    captures: dict


@dataclass(frozen=True)
class Conflict:
    """Two sources disagree about the same setting pattern."""

    path: str
    field: str
    first: object
    second: object
    first_origin: str
    second_origin: str

    def describe(self) -> str:
        return (f"{self.path}: {self.field} is {self.first!r} in {self.first_origin} "
                f"but {self.second!r} in {self.second_origin}")


class Catalogue:
    """Entries by pattern, with a lookup for element paths."""

    def __init__(self, entries: Iterable[Entry] = (), *, model=None):
        self._entries: dict[str, Entry] = {}
        self._index: dict[tuple, list[Entry]] | None = None
        self.conflicts: list[Conflict] = []
        self.model = model          # the SettingsModel the entries came from (settings.py), if any
        for e in entries:
            self.add(e)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._entries.values())

    def get(self, pattern: str) -> Entry | None:
        return self._entries.get(pattern)

    def get_like(self, pattern: str) -> Entry | None:
        """The entry of the same shape as ``pattern`` (variable names aside, see ``shape``)."""
        hit = self._entries.get(pattern)
        if hit is not None:
            return hit
        want = shape(pattern)
        return next((e for e in self._entries.values() if shape(e.path) == want), None)

    def add(self, entry: Entry, *, replace: bool = False) -> list[Conflict]:
        """Add an entry; an existing one with the same pattern must agree (else a Conflict).

        Agreeing entries merge their evidence. ``replace`` lets a user file override builtin data;
        the disagreement is still recorded in ``conflicts``.
        """
        self._index = None
        old = self._entries.get(entry.path)
        if old is None:
            self._entries[entry.path] = entry
            return []
        found = compare_entries(old, entry)
        self.conflicts.extend(found)
        if found and replace:
            self._entries[entry.path] = entry
        elif not found:
            evidence = tuple(dict.fromkeys(old.evidence + entry.evidence))
            sg = old.settings_group or entry.settings_group
            conf = min(old.confidence, entry.confidence)   # "C" < "I" < "U"
            self._entries[entry.path] = _replace(old, evidence=evidence, settings_group=sg, confidence=conf)
        return found

    def match(self, path: Sequence[tuple[str, Mapping[str, str], int]]) -> Match | None:
        """``path``: (element name, attributes, position among same-named siblings) from below Common."""
        best: tuple[tuple[int, int], Entry, dict] | None = None
        if self._index is None:
            index: dict[tuple, list[Entry]] = {}
            for e in self._entries.values():
                first = e.segments[0].name if e.segments and e.segments[0].literal else None
                index.setdefault((len(e.segments), first), []).append(e)
            self._index = index
        first = path[0][0] if path else None
        cands = self._index.get((len(path), first), []) + self._index.get((len(path), None), [])
        for e in cands:
            if not e.outputs and e.asset is None:
                continue          # a facts-only entry (learned SettingsGroup id) compiles nothing
            caps = _match(e.segments, path)
            if caps is None:
                continue
            if best is None or e.specificity > best[0]:
                best = (e.specificity, e, caps)
        return Match(best[1], best[2]) if best else None

    def to_json(self) -> dict:
        return {"format": CATALOGUE_FORMAT, "entries": [e.to_json() for e in self._entries.values()]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n"


def _replace(entry: Entry, **changes) -> Entry:
    from dataclasses import replace
    return replace(entry, **changes)


def _match(segments: Sequence[Segment], path) -> dict | None:
    caps: dict[str, str] = {}
    for seg, (name, attrs, pos) in zip(segments, path):
        if seg.var:
            caps[seg.var] = name
            continue
        if seg.name != name:
            return None
        if seg.attr:
            value = attrs.get(seg.attr)
            if value is None:
                return None
            caps[seg.attr] = value
        elif seg.index:
            caps[seg.index] = str(pos)
    return caps


def compare_entries(a: Entry, b: Entry) -> list[Conflict]:
    out = []
    for fld in ("group", "scope", "outputs", "asset"):
        va, vb = getattr(a, fld), getattr(b, fld)
        if va != vb:
            out.append(Conflict(a.path, fld, _plain(va), _plain(vb), a.origin, b.origin))
    if a.settings_group and b.settings_group and a.settings_group != b.settings_group:
        out.append(Conflict(a.path, "settings_group", a.settings_group, b.settings_group, a.origin, b.origin))
    return out


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "to_json"):
        return v.to_json()
    if isinstance(v, AssetSpec):
        return {"name": v.name, "path": v.path}
    return v


# --- loading ----------------------------------------------------------------------------------

def entry_from_json(d: Mapping, *, origin: str, where: str) -> Entry:
    if not isinstance(d, Mapping):
        raise CatalogueError(f"{where}: an entry must be an object")
    allowed = {"path", "group", "settings_group", "scope", "outputs", "asset", "secret", "evidence",
               "confidence", "note", "newer_than_store"}
    unknown = set(d) - allowed
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {sorted(unknown)}")
    try:
        outputs = tuple(_output_from_json(o, where) for o in d.get("outputs", ()))
        asset = None
        if d.get("asset") is not None:
            a = d["asset"]
            asset = AssetSpec(str(a["name"]), str(a["path"]))
        return Entry(path=_str(d, "path", where), group=_str(d, "group", where),
                     settings_group=d.get("settings_group"), scope=d.get("scope", "Device"), outputs=outputs,
                     asset=asset, secret=bool(d.get("secret", False)), evidence=tuple(d.get("evidence", ())),
                     confidence=d.get("confidence", "C"), note=str(d.get("note", "")), origin=origin,
                     newer_than_store=str(d.get("newer_than_store", "")))
    except CatalogueError as exc:
        raise CatalogueError(f"{where}: {exc.message}") from None
    except (KeyError, TypeError) as exc:
        raise CatalogueError(f"{where}: missing or bad field {exc}") from None


def _str(d, key, where) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise CatalogueError(f"{where}: {key!r} must be a non-empty string")
    return v


def _output_from_json(o: Mapping, where: str) -> Output:
    allowed = {"characteristic", "parm", "datatype", "values", "values_only", "constant", "transform",
               "policy_words", "extra"}
    unknown = set(o) - allowed
    if unknown:
        raise CatalogueError(f"unknown output field(s) {sorted(unknown)}")
    ch = o["characteristic"]
    if isinstance(ch, str) or not all(isinstance(x, str) and x for x in ch):
        raise CatalogueError("characteristic must be a list of non-empty strings")
    return Output(characteristic=tuple(ch), parm=str(o["parm"]), datatype=o.get("datatype", "string"),
                  values=tuple((str(k), str(v)) for k, v in (o.get("values") or {}).items()),
                  values_only=bool(o.get("values_only", False)),
                  constant=None if o.get("constant") is None else str(o["constant"]),
                  transform=o.get("transform"), policy_words=bool(o.get("policy_words", False)),
                  extra=tuple((str(k), str(v)) for k, v in (o.get("extra") or {}).items()))


def parse_catalogue(data: bytes, *, origin: str) -> list[Entry]:
    if len(data) > MAX_CATALOGUE_BYTES:
        raise CatalogueError(f"{origin}: catalogue file is larger than {MAX_CATALOGUE_BYTES} bytes")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CatalogueError(f"{origin}: not a JSON catalogue: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != CATALOGUE_FORMAT:
        raise CatalogueError(f"{origin}: not a {CATALOGUE_FORMAT} document")
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise CatalogueError(f"{origin}: 'entries' must be a list")
    return [entry_from_json(e, origin=origin, where=f"{origin}: entry {i}") for i, e in enumerate(entries)]


def builtin_entries() -> list[Entry]:
    """The learned layer: facts real packages show that the settings store does not say."""
    data = resources.files("ppkgtool").joinpath("data/catalogue.json").read_bytes()
    return parse_catalogue(data, origin="builtin catalogue")


# Serialization codes of file settings with a CSP target (store value ``Serialization``) -> how the
# file becomes the parm value [I: 3 = certificate, 2 = PFX from the certificate settings that use
# them; the compiled forms follow the CSP docs]. Other codes are refused, never guessed.
SERIALIZATION_TRANSFORMS = {2: "pfx-base64", 3: "cert-der-base64", 6: "cert-der-base64"}


def shape(pattern: str) -> tuple:
    """A pattern without its variable names (CommandConfig[#n] and CommandConfig[#iCommand] agree)."""
    return tuple((s.name, s.attr, bool(s.index), bool(s.var)) for s in parse_pattern(pattern))


def model_entries(model, learned: Iterable[Entry] = ()) -> tuple[list[Entry], list[Entry]]:
    """Catalogue entries for every definition of a settings model, with the learned facts layered on.

    From a learned entry of the same shape: its SettingsGroup id, its constant companion outputs
    (``Provisioning/ForceSettingReload``), extra parm attributes (``exec="1"``) and its secret flag.
    Returns (entries, learned entries the model has no definition for).
    """
    from ppkgtool.package.settings import SettingType, compiled_form
    from ppkgtool.package.store import is_builtin_default
    newest = is_builtin_default(model)
    learned = list(learned)
    newer = {shape(e.path): e for e in learned if e.newer_than_store} if newest else {}
    by_shape: dict[tuple, Entry] = {shape(e.path): e for e in learned if not e.newer_than_store}
    used: set[tuple] = set(newer)
    out: list[Entry] = list(newer.values())
    for d in model:
        if shape(d.pattern_text()) in newer:
            continue
        form = compiled_form(d)
        pattern = d.pattern_text()
        key = shape(pattern)
        le = by_shape.get(key)
        if le is not None:
            used.add(key)
        asset = None
        outputs: list[Output] = []
        confidence = "C"
        if form is None:
            if d.type is not SettingType.FILE:
                continue          # the store names no target: compile_package says so
            asset = AssetSpec(d.name, "/" + _full_instance(d))
        else:
            transform = None
            if d.type is SettingType.FILE:
                transform = SERIALIZATION_TRANSFORMS.get(d.serialization or 0)
                if transform is None:
                    continue      # an unknown file serialisation: refused by compile_package
                confidence = "I"
            extra = ()
            if le is not None:
                for lo in le.outputs:
                    if lo.constant is None and lo.parm == form.parm and lo.extra:
                        extra = lo.extra
            outputs.append(Output(characteristic=form.characteristic, parm=form.parm, datatype=form.datatype,
                                  transform=transform, extra=extra))
        if le is not None:
            outputs += [o for o in le.outputs if o.constant is not None and not _TEMPLATE_VAR_RE.search(
                "".join(o.characteristic) + o.parm)]
        out.append(Entry(path=pattern, group=d.group_template(), settings_group=le.settings_group if le else None,
                         scope=form.scope if form else "Device", outputs=tuple(outputs), asset=asset,
                         secret=d.secret or bool(le and le.secret), confidence=confidence,
                         evidence=(le.evidence if le else ()) + (f"settings store {model.source.name}",),
                         origin=model.source.name, definition=d))
    unused = [e for e in learned if shape(e.path) not in used and shape(e.path) not in by_shape or
              (e.newer_than_store and not newest)]
    return out, unused


def _full_instance(d) -> str:
    from ppkgtool.package.settings import _instance_parts
    return "/".join(_instance_parts(d, d.path.count("/") + 1))


_MODEL_ENTRIES: dict[int, tuple] = {}


def load_catalogue(extra: Sequence[os.PathLike] = (), *, model=None) -> Catalogue:
    """The settings model's entries (builtin default store unless ``model``), the learned facts on
    top, then user files (``build --catalogue``).

    A user entry replaces the model's entry of the same pattern; the disagreement is kept in
    ``Catalogue.conflicts`` for the caller to report.
    """
    if model is None:
        from ppkgtool.package.store import load_model
        model = load_model()
    entries = _MODEL_ENTRIES.get(id(model))
    if entries is None or entries[0] is not model:
        entries = (model, model_entries(model, builtin_entries())[0])
        _MODEL_ENTRIES[id(model)] = entries     # models are immutable and live for the process
    entries = entries[1]
    cat = Catalogue(model=model)
    for e in entries:
        cat.add(e)
    for path in extra:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise CatalogueError(f"cannot read catalogue {p}: {exc.strerror}") from None
        for e in parse_catalogue(data, origin=str(p)):
            cat.add(e, replace=True)
    return cat
