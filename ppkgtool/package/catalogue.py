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
import threading
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


def bucket_of(pattern: str) -> tuple[int, str | None]:
    """The lookup bucket of a pattern: (number of segments, first element name or None for {Var})."""
    segs = pattern.split("/")
    first = segs[0].split("[", 1)[0]
    return len(segs), (None if first.startswith("{") else first)


class Catalogue:
    """Entries by pattern, with a lookup for element paths.

    The entries of a settings model are made lazily, one lookup bucket (segment count, first
    element) at a time, from a per-model :class:`ModelEntries`: a build that uses 40 settings makes
    the entries of its few areas, not 1,200.
    """

    def __init__(self, entries: Iterable[Entry] = (), *, model=None, source: "ModelEntries | None" = None):
        self._entries: dict[str, Entry] = {}
        self._index: dict[tuple, list[Entry]] = {}
        self._source = source
        self._loaded: set[tuple] = set()
        self.conflicts: list[Conflict] = []
        self.model = model          # the SettingsModel the entries came from (settings.py), if any
        for e in entries:
            self.add(e)

    def _load(self, key: tuple) -> None:
        if self._source is None or key in self._loaded:
            return
        self._loaded.add(key)
        for e in self._source.bucket(key):
            if e.path not in self._entries:
                self._put(e)

    def _load_all(self) -> None:
        if self._source is not None:
            for key in self._source.keys():
                self._load(key)

    def _put(self, entry: Entry) -> None:
        old = self._entries.get(entry.path)
        key = bucket_of(entry.path)
        bucket = self._index.setdefault(key, [])
        if old is not None:
            bucket[:] = [e for e in bucket if e.path != entry.path]
        bucket.append(entry)
        self._entries[entry.path] = entry

    def __len__(self) -> int:
        self._load_all()
        return len(self._entries)

    def __iter__(self):
        self._load_all()
        return iter(list(self._entries.values()))

    def get(self, pattern: str) -> Entry | None:
        self._load(bucket_of(pattern))
        return self._entries.get(pattern)

    def get_like(self, pattern: str) -> Entry | None:
        """The entry of the same shape as ``pattern`` (variable names aside, see ``shape``)."""
        hit = self.get(pattern)
        if hit is not None:
            return hit
        want = shape(pattern)
        return next((e for e in self._index.get(bucket_of(pattern), []) if shape(e.path) == want), None)

    def add(self, entry: Entry, *, replace: bool = False) -> list[Conflict]:
        """Add an entry; an existing one with the same pattern must agree (else a Conflict).

        Agreeing entries merge their evidence. ``replace`` lets a user file override builtin data;
        the disagreement is still recorded in ``conflicts``.
        """
        self._load(bucket_of(entry.path))
        old = self._entries.get(entry.path)
        if old is None:
            self._put(entry)
            return []
        found = compare_entries(old, entry)
        self.conflicts.extend(found)
        if found and replace:
            self._put(entry)
        elif not found:
            evidence = tuple(dict.fromkeys(old.evidence + entry.evidence))
            sg = old.settings_group or entry.settings_group
            conf = min(old.confidence, entry.confidence)   # "C" < "I" < "U"
            self._put(_replace(old, evidence=evidence, settings_group=sg, confidence=conf))
        return found

    def match(self, path: Sequence[tuple[str, Mapping[str, str], int]]) -> Match | None:
        """``path``: (element name, attributes, position among same-named siblings) from below Common."""
        best: tuple[tuple[int, int], Entry, dict] | None = None
        first = path[0][0] if path else None
        keys = ((len(path), first), (len(path), None))
        for key in keys:
            self._load(key)
        for key in keys:
            for e in self._index.get(key, ()):
                if not e.outputs and e.asset is None:
                    continue          # a facts-only entry (learned SettingsGroup id) compiles nothing
                caps = _match(e.segments, path)
                if caps is None:
                    continue
                if best is None or e.specificity > best[0]:
                    best = (e.specificity, e, caps)
        return Match(best[1], best[2]) if best else None

    def to_json(self) -> dict:
        self._load_all()
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


class ModelEntries:
    """The catalogue entries of one settings model with the learned facts layered on, made on demand.

    From a learned entry of the same shape: its SettingsGroup id, its constant companion outputs
    (``Provisioning/ForceSettingReload``), extra parm attributes (``exec="1"``) and its secret flag.
    Learned ``newer_than_store`` entries replace or add to the builtin default model only.
    Immutable once made; shared by every Catalogue of the model (``load_catalogue``).
    """

    def __init__(self, model, learned: Iterable[Entry] = ()):
        from ppkgtool.package.store import is_builtin_default
        self.model = model
        self.newest = is_builtin_default(model)
        learned = list(learned)
        self.learned = learned
        self._newer = {shape(e.path): e for e in learned if e.newer_than_store} if self.newest else {}
        self._by_shape: dict[tuple, Entry] = {shape(e.path): e for e in learned if not e.newer_than_store}
        self._defs: dict[tuple, list] = {}
        for path in model.paths():           # the definitions are made per bucket, as it is asked for
            self._defs.setdefault(bucket_of(path), []).append(path)
        for e in self._newer.values():
            self._defs.setdefault(bucket_of(e.path), [])
        self._made: dict[tuple, tuple[Entry, ...]] = {}
        self._lock = threading.Lock()

    def keys(self) -> list[tuple]:
        return list(self._defs)

    def bucket(self, key: tuple) -> tuple[Entry, ...]:
        with self._lock:
            made = self._made.get(key)
            if made is None:
                out = [e for e in self._newer.values() if bucket_of(e.path) == key]
                for path in self._defs.get(key, ()):
                    e = self._entry(self.model.get(path))
                    if e is not None:
                        out.append(e)
                made = self._made[key] = tuple(out)
            return made

    def _entry(self, d) -> Entry | None:
        from ppkgtool.package.settings import SettingType, compiled_form
        pattern = d.pattern_text()
        key = shape(pattern)
        if key in self._newer:
            return None
        form = compiled_form(d)
        le = self._by_shape.get(key)
        asset = None
        outputs: list[Output] = []
        confidence = "C"
        if form is None:
            if d.type is not SettingType.FILE:
                return None       # the store names no target: compile_package says so
            asset = AssetSpec(d.name, "/" + _full_instance(d))
        else:
            transform = None
            if d.type is SettingType.FILE:
                transform = SERIALIZATION_TRANSFORMS.get(d.serialization or 0)
                if transform is None:
                    return None   # an unknown file serialisation: refused by compile_package
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
        return Entry(path=pattern, group=d.group_template(), settings_group=le.settings_group if le else None,
                     scope=form.scope if form else "Device", outputs=tuple(outputs), asset=asset,
                     secret=d.secret or bool(le and le.secret), confidence=confidence,
                     evidence=(le.evidence if le else ()) + (f"settings store {self.model.source.name}",),
                     origin=self.model.source.name, definition=d)

    def all(self) -> list[Entry]:
        return [e for key in self.keys() for e in self.bucket(key)]


def model_entries(model, learned: Iterable[Entry] = ()) -> tuple[list[Entry], list[Entry]]:
    """Every entry of a model (see ModelEntries) and the learned entries it has no definition for."""
    me = ModelEntries(model, learned)
    entries = me.all()
    known = {shape(e.path) for e in entries}
    return entries, [e for e in me.learned if shape(e.path) not in known]


def _full_instance(d) -> str:
    from ppkgtool.package.settings import _instance_parts
    return "/".join(_instance_parts(d, d.path.count("/") + 1))


_LEARNED_NODES: dict[tuple, tuple[str, dict]] | None = None


def learned_name(characteristic, parm: str, value: str | None) -> tuple[str, str | None] | None:
    """(setting, label) the learned layer gives a compiled node no store knows: a constant companion
    (``Provisioning/ForceSettingReload/ComputerName`` belongs to ``Accounts/ComputerAccount/ComputerName``)
    or a setting learned from a newer WCD (``newer_than_store``)."""
    from ppkgtool.package.customizations import keyless_path
    global _LEARNED_NODES
    if _LEARNED_NODES is None:
        table: dict[tuple, tuple[str, dict]] = {}
        for e in builtin_entries():
            for o in e.outputs:
                if _TEMPLATE_VAR_RE.search("".join(o.characteristic) + o.parm):
                    continue
                if o.constant is not None or e.newer_than_store:
                    labels = {} if o.constant is not None else {v: k for k, v in o.values}
                    table.setdefault((tuple(o.characteristic), o.parm), (keyless_path(e.path), labels))
        _LEARNED_NODES = table
    hit = _LEARNED_NODES.get((tuple(characteristic), parm))
    if hit is None:
        return None
    return hit[0], hit[1].get(value or "")


_MODEL_ENTRIES: dict[int, ModelEntries] = {}
_MODEL_LOCK = threading.Lock()


def load_catalogue(extra: Sequence[os.PathLike] = (), *, model=None) -> Catalogue:
    """The settings model's entries (builtin default store unless ``model``), the learned facts on
    top, then user files (``build --catalogue``).

    A user entry replaces the model's entry of the same pattern; the disagreement is kept in
    ``Catalogue.conflicts`` for the caller to report.
    """
    if model is None:
        from ppkgtool.package.store import load_model
        model = load_model()
    with _MODEL_LOCK:
        source = _MODEL_ENTRIES.get(id(model))
        if source is None or source.model is not model:
            # models are immutable and live for the process
            source = _MODEL_ENTRIES[id(model)] = ModelEntries(model, builtin_entries())
    cat = Catalogue(model=model, source=source)
    for path in extra:
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise CatalogueError(f"cannot read catalogue {p}: {exc.strerror}") from None
        for e in parse_catalogue(data, origin=str(p)):
            cat.add(e, replace=True)
    return cat
