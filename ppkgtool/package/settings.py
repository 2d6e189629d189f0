"""The settings model: every setting Windows Configuration Designer offers, and how each compiles.

A model is read from WCD's settings store (``Microsoft-Desktop-Provisioning.dat``, see
``ppkgtool.package.store``) or from the builtin data generated from four such stores
(``ppkgtool/data/settings-model.json``, made by ``scripts/gen_settings_model.py``). It holds facts
only: paths, types, allowed values with their labels, ranges, defaults, scope and the CSP node or
registry value each setting compiles to (PROVENANCE.md, "wcd-store"; ppkg-format.md, "The settings
store" [C]). Microsoft's description texts are never read into it.

The compile rules live here, in one place, next to their inverse (``decompile``):

- CSP target ``./Vendor/MSFT/<A>/<B>/…/<Parm>`` → characteristic chain A/B/… and parm <Parm>;
  ``~Key~`` is the list item's key value (keyed list) or position (list without key);
  ``$(__PackageID)`` stays a template the compiler fills; ``<Node>!scope=User`` (or Csp ``Context=1``)
  makes the setting per-user (User_RunTime, ``scope="User"`` on the root characteristic) [C];
- registry target → ``MCSF/<setting path without its leaf, list items as their keys>`` with the leaf
  name as parm (the form real packages show for every registry-applied setting) [C];
- Type → datatype: 1 boolean, 2 integer, 3 string [C]; 4 binary → base64 string [I];
- AtomicRoot → the settings that share one provxml; without it a setting has its own [C].

What only real packages show (SettingsGroup uuids, ForceSettingReload companions, exec attributes,
certificate serialisations) is layered on top from ``ppkgtool/data/catalogue.json`` (catalogue.py).
"""

from __future__ import annotations

import base64
import binascii
import difflib
import enum
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping, Sequence

from ppkgtool.errors import InvalidInputError

CSP_PREFIXES = ("./Vendor/MSFT/", "./Device/Vendor/MSFT/", "./User/Vendor/MSFT/", "./vendor/MSFT/")
MCSF = "MCSF"
SCOPE_SUFFIX_RE = re.compile(r"!scope=(User|Device)$", re.IGNORECASE)
LIST_PLACEHOLDER_RE = re.compile(r"~([A-Za-z0-9_.\-]+)~")
HASH_PLACEHOLDER = "@CertificateHash@"
_INT_RE = re.compile(r"[-+]?\d+")
_HEX_RE = re.compile(r"0[xX][0-9A-Fa-f]+")
BOOLEAN_LABELS = {"true": "true", "false": "false"}
# Setting leaf names whose values are secrets (redacted in reports, package written 0600). The
# store has no such flag, so this is the project's rule, data in one place [I].
SECRET_NAME_RE = re.compile(r"(password|passphrase|passcode|psk|sharedkey|securitykey|secret|token|bprt|productkey|"
                            r"pin$|^key$|networkkey|presharedkey)", re.IGNORECASE)


class SettingsError(InvalidInputError):
    """A settings model could not be read, or a setting or value is not in it."""


class SettingType(enum.IntEnum):
    """The store's ``Type`` codes (PROVENANCE.md, wcd-store) [C]."""

    BOOLEAN = 1
    INTEGER = 2
    STRING = 3
    BINARY = 4
    FILE = 5
    GROUP = 6
    LIST = 7           # a list whose items are numbered by position
    KEYED_LIST = 8     # a list whose items are named by the attribute in ``Key``

    @property
    def is_leaf(self) -> bool:
        return self in (SettingType.BOOLEAN, SettingType.INTEGER, SettingType.STRING, SettingType.BINARY,
                        SettingType.FILE)

    @property
    def datatype(self) -> str:
        return {SettingType.BOOLEAN: "boolean", SettingType.INTEGER: "integer"}.get(self, "string")


@dataclass(frozen=True)
class ListLevel:
    """A list on a setting's path: the item element at ``position`` in the path is one list entry."""

    position: int            # index in the setting's path of the item element (the list's child)
    list_name: str           # the list element's name (``~list_name~`` placeholders refer to it)
    key: str | None          # keyed list: the item attribute that names the entry; None: by position
    # the list's allowed keys (store ``<List>\Validation\<compiled key>`` with ``Display`` = the name
    # WCD writes, e.g. SchemeAlias "Balanced" -> 381b4222-…); empty: any key
    keys: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> list:
        out = [self.position, self.list_name, self.key]
        if self.keys:
            out.append([list(k) for k in self.keys])
        return out

    def compile_key(self, value: str, setting: str) -> str:
        """A key as written in customizations.xml -> the compiled key (the name itself without a table)."""
        if not self.keys:
            return value
        low = value.strip().lower()
        for compiled, label in self.keys:
            if low in (label.lower(), compiled.lower()):
                return compiled
        raise SettingsError(f"setting {setting}: {self.key} {value!r} is not one of the list's keys",
                            hint="allowed: " + ", ".join(label for _c, label in self.keys))

    def decompile_key(self, compiled: str) -> str:
        for c, label in self.keys:
            if c.lower() == compiled.lower():
                return label
        return compiled


@dataclass(frozen=True)
class Target:
    """Where the setting is applied: a CSP node or a registry value (``Apply\\Csp``/``Apply\\Registry``)."""

    kind: str                # "csp" | "registry"
    path: str
    context_user: bool = False   # Csp ``Context`` = 1

    def to_json(self) -> list:
        return [self.kind, self.path, 1 if self.context_user else 0]


@dataclass(frozen=True)
class SettingDefinition:
    """One leaf setting of the store (type 1–5), with what its validation and compile rules need."""

    path: str                                    # element names, e.g. Accounts/Users/User/Password
    type: SettingType
    lists: tuple[ListLevel, ...] = ()
    values: tuple[tuple[str, str], ...] = ()     # (compiled value, label) in store order
    minimum: str | None = None
    maximum: str | None = None
    default: str | None = None
    target: Target | None = None
    atomic_root: str | None = None               # e.g. Accounts/Users/User (no leading slash)
    extensions: tuple[str, ...] = ()             # file settings: allowed extensions
    file_path: str | None = None                 # file settings: where Windows puts the file
    serialization: int | None = None             # file settings with a CSP target: how the file is encoded
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    required: bool = False
    private: bool = False                        # Visibility/Private: hidden in WCD's UI
    display_name: str | None = None
    apply_passes: int | None = None
    apply_after: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def scope(self) -> str:
        t = self.target
        if t is not None and t.kind == "csp" and (t.context_user or "!scope=user" in t.path.lower()):
            return "User"
        return "Device"

    @property
    def secret(self) -> bool:
        return bool(SECRET_NAME_RE.search(self.name)) and self.type in (SettingType.STRING, SettingType.BINARY)

    @property
    def datatype(self) -> str:
        return self.type.datatype

    def pattern_text(self) -> str:
        """The catalogue pattern (catalogue.py): keyed list items as ``Item[@Key]``, others as ``Item[#name]``."""
        parts = self.path.split("/")
        for lv in self.lists:
            parts[lv.position] += f"[@{lv.key}]" if lv.key else f"[#{_index_var(lv)}]"
        return "/".join(parts)

    def group_template(self) -> str:
        """The provxml group (file name) template: the atomic root (or the setting), items as their keys."""
        root = self.atomic_root or self.path
        n = root.count("/") + 1
        return "/".join(_instance_parts(self, n))

    def instance(self, captures: Mapping[str, str]) -> str:
        """The keyed path for these list captures (``Accounts/Users/User[@UserName=admin]/Password``,
        ``…/CommandConfig[1]/CommandLine``), in the one form customizations.instance_path writes."""
        from ppkgtool.package.customizations import instance_path
        segs = [(name, {}, 0) for name in self.path.split("/")]
        for lv in self.lists:
            var = lv.key or _index_var(lv)
            if var not in captures:
                continue
            name = segs[lv.position][0]
            if lv.key:
                segs[lv.position] = (name, {lv.key: captures[var]}, 0)
            elif str(captures[var]).isdigit():
                segs[lv.position] = (name, {}, int(captures[var]))
        return instance_path(segs)

    def compile_keys(self, captures: Mapping[str, str]) -> dict[str, str]:
        """Captured list keys (as written) -> their compiled form, by each list's key table."""
        out = dict(captures)
        for lv in self.lists:
            if lv.key and lv.key in out:
                out[lv.key] = lv.compile_key(out[lv.key], self.path)
        return out

    def decompile_keys(self, captures: Mapping[str, str]) -> dict[str, str]:
        """Compiled list keys -> the names WCD writes (the inverse of ``compile_keys``)."""
        out = dict(captures)
        for lv in self.lists:
            if lv.key and lv.key in out:
                out[lv.key] = lv.decompile_key(out[lv.key])
        return out

    def label_of(self, compiled: str) -> str | None:
        for v, label in self.values:
            if v == compiled:
                return label
        return None

    # --- values --------------------------------------------------------------------------------

    def allowed_text(self) -> str:
        if self.values:
            return ", ".join(f"{label} ({v})" if label != v else v for v, label in self.values)
        if self.type is SettingType.BOOLEAN:
            return "True, False"
        if self.minimum is not None or self.maximum is not None:
            return f"a whole number from {self.minimum if self.minimum is not None else '…'} to " \
                   f"{self.maximum if self.maximum is not None else '…'}"
        return {SettingType.INTEGER: "a whole number", SettingType.BINARY: "base64 or hex bytes",
                SettingType.FILE: "a file" + (f" ({', '.join(self.extensions)})" if self.extensions else "")
                }.get(self.type, "text")

    def compile_value(self, value: str) -> str:
        """A customizations.xml value → the compiled value, or SettingsError naming what is allowed."""
        v = value.strip()
        low = v.lower()
        if self.values:
            for compiled, label in self.values:
                if low == label.lower() or low == compiled.lower():
                    return compiled
            if self.type is SettingType.INTEGER and _is_int(v):
                num = str(_to_int(v))
                for compiled, _label in self.values:
                    if _is_int(compiled) and str(_to_int(compiled)) == num:
                        return compiled
            raise self._bad(value, "is not one of the allowed values", suggest=[lbl for _c, lbl in self.values])
        if self.type is SettingType.BOOLEAN:
            if low in BOOLEAN_LABELS:
                return BOOLEAN_LABELS[low]
            if low in ("1", "0"):      # WCD's Default keys spell booleans as 1/0 [C]
                return "true" if low == "1" else "false"
            raise self._bad(value, "is not True or False")
        if self.type is SettingType.INTEGER:
            if not _is_int(v):
                raise self._bad(value, "is not a whole number")
            n = _to_int(v)
            if self.minimum is not None and _is_int(self.minimum) and n < _to_int(self.minimum):
                raise self._bad(value, f"is below the minimum {self.minimum}")
            if self.maximum is not None and _is_int(self.maximum) and n > _to_int(self.maximum):
                raise self._bad(value, f"is above the maximum {self.maximum}")
            return str(n)
        if self.type is SettingType.BINARY:
            return _binary_value(v, self)
        if self.max_length is not None and len(value) > self.max_length:
            raise self._bad(value, f"is longer than {self.max_length} characters")
        if self.min_length is not None and len(value) < self.min_length:
            raise self._bad(value, f"is shorter than {self.min_length} characters")
        from ppkgtool.package.sanity import value_problem   # what Windows takes beyond the store's free text
        problem = value_problem(self.path, value)
        if problem is not None:
            why, suggest = problem
            raise SettingsError(f"setting {self.path}: {value!r} {why}",
                                hint=("did you mean " + " or ".join(repr(x) for x in suggest) + "?") if suggest else None)
        return value

    def decompile_value(self, compiled: str) -> str:
        """A compiled value → the customizations.xml form WCD writes (the label where there is one)."""
        label = self.label_of(compiled)
        if label is not None:
            return label
        if self.type is SettingType.BOOLEAN:
            return {"true": "True", "false": "False"}.get(compiled.lower(), compiled)
        return compiled

    def _bad(self, value: str, why: str, suggest: Sequence[str] = ()) -> SettingsError:
        hint = f"allowed: {self.allowed_text()}"
        close = difflib.get_close_matches(value.strip(), list(suggest), n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {close[0]!r}? " + hint
        return SettingsError(f"setting {self.path}: {value!r} {why}", hint=hint)

    def to_json(self) -> dict:
        d: dict = {"path": self.path, "type": int(self.type)}
        for k in ("minimum", "maximum", "default", "atomic_root", "file_path", "serialization", "pattern",
                  "min_length", "max_length", "display_name", "apply_passes", "apply_after"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.lists:
            d["lists"] = [lv.to_json() for lv in self.lists]
        if self.values:
            d["values"] = [list(x) for x in self.values]
        if self.target:
            d["target"] = self.target.to_json()
        if self.extensions:
            d["extensions"] = list(self.extensions)
        if self.required:
            d["required"] = 1
        if self.private:
            d["private"] = 1
        return d

    @classmethod
    def from_json(cls, d: Mapping) -> "SettingDefinition":
        try:
            t = d.get("target")
            return cls(path=str(d["path"]), type=SettingType(int(d["type"])),
                       lists=tuple(ListLevel(int(lv[0]), str(lv[1]), lv[2],
                                             tuple((str(c), str(lbl)) for c, lbl in (lv[3] if len(lv) > 3 else ())))
                                   for lv in d.get("lists", ())),
                       values=tuple((str(v), str(lbl)) for v, lbl in d.get("values", ())),
                       minimum=d.get("minimum"), maximum=d.get("maximum"), default=d.get("default"),
                       target=Target(str(t[0]), str(t[1]), bool(t[2])) if t else None,
                       atomic_root=d.get("atomic_root"), extensions=tuple(d.get("extensions", ())),
                       file_path=d.get("file_path"), serialization=d.get("serialization"),
                       pattern=d.get("pattern"), min_length=d.get("min_length"), max_length=d.get("max_length"),
                       required=bool(d.get("required")), private=bool(d.get("private")),
                       display_name=d.get("display_name"), apply_passes=d.get("apply_passes"),
                       apply_after=d.get("apply_after"))
        except (KeyError, TypeError, ValueError) as exc:
            raise SettingsError(f"bad setting definition {d.get('path') if isinstance(d, Mapping) else d!r}: "
                                f"{exc}") from None


def _index_var(lv: ListLevel) -> str:
    return "i" + re.sub(r"[^A-Za-z0-9_]", "_", lv.list_name)


def _is_int(v: str) -> bool:
    return bool(_INT_RE.fullmatch(v) or _HEX_RE.fullmatch(v))


def _to_int(v: str) -> int:
    return int(v, 16) if _HEX_RE.fullmatch(v) else int(v)


def _binary_value(v: str, d: SettingDefinition) -> str:
    compact = re.sub(r"\s+", "", v)
    if re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", compact):
        return base64.b64encode(bytes.fromhex(compact)).decode("ascii")
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise d._bad(v, "is neither hex nor base64 bytes") from None
    return compact


def _instance_parts(d: SettingDefinition, n: int) -> list[str]:
    """The first ``n`` path elements, list items replaced by ``{Key}`` / ``{i<List>}`` templates."""
    parts = d.path.split("/")[:n]
    for lv in d.lists:
        if lv.position < n:
            parts[lv.position] = "{" + (lv.key or _index_var(lv)) + "}"
    return parts


# --- compile rules -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledForm:
    """Where a definition's value goes: characteristic templates, parm template, scope."""

    characteristic: tuple[str, ...]
    parm: str
    scope: str
    datatype: str
    cert_hash: bool = False      # a @CertificateHash@ placeholder: the SHA-1 thumbprint of the file


def compiled_form(d: SettingDefinition) -> CompiledForm | None:
    """The compile rule for one definition (None: the store gives it no target)."""
    t = d.target
    if t is None:
        return None
    if t.kind == "registry":
        parts = _instance_parts(d, d.path.count("/") + 1)
        return CompiledForm((MCSF, *parts[:-1]), parts[-1], "Device", d.datatype)
    path = t.path
    if "/" not in path:
        return None               # e.g. 'Dummy': a file carried for another setting, no node of its own
    for prefix in CSP_PREFIXES:
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    scope = d.scope
    segs = []
    for raw in path.split("/"):
        seg = SCOPE_SUFFIX_RE.sub("", raw)
        seg = LIST_PLACEHOLDER_RE.sub(lambda m: "{" + _placeholder_var(d, m.group(1)) + "}", seg)
        segs.append(seg)
    if not segs or not all(segs):
        raise SettingsError(f"setting {d.path}: CSP target {t.path!r} has an empty node")
    cert = HASH_PLACEHOLDER in path
    segs = [s.replace(HASH_PLACEHOLDER, "{cert_sha1}") for s in segs]
    if len(segs) == 1:
        raise SettingsError(f"setting {d.path}: CSP target {t.path!r} names no node below the CSP")
    return CompiledForm(tuple(segs[:-1]), segs[-1], scope, d.datatype, cert)


def _placeholder_var(d: SettingDefinition, name: str) -> str:
    for lv in d.lists:
        if lv.list_name == name or lv.key == name:
            return lv.key or _index_var(lv)
    # a placeholder naming the item element itself (~User~ under Users) or its key attribute
    parts = d.path.split("/")
    for lv in d.lists:
        if parts[lv.position] == name:
            return lv.key or _index_var(lv)
    raise SettingsError(f"setting {d.path}: target placeholder ~{name}~ names no list on the setting's path")


# --- the model -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSource:
    """Which store a model came from (shown by ``build`` and ``settings``)."""

    name: str                  # e.g. "builtin win11-2024-02" or the store file's path
    sha256: str = ""
    build: str = ""            # the store's build label when known

    def to_json(self) -> dict:
        return {"name": self.name, "sha256": self.sha256 or None, "build": self.build or None}


class SettingsModel:
    """Every leaf setting of one store, with the tree's group/list nodes for lookups and suggestions."""

    def __init__(self, definitions: Iterable[SettingDefinition], source: ModelSource,
                 nodes: Mapping[str, int] | None = None, *,
                 lazy: Iterable[tuple[str, Callable[[], SettingDefinition]]] = ()):
        """``lazy``: (path, function making its definition) pairs, made when first asked for (a
        build uses a few of the store's ~1600 settings: store.loads_models)."""
        self.source = source
        self._defs: dict[str, SettingDefinition | None] = {}
        self._make: dict[str, Callable[[], SettingDefinition]] = {}
        self._lower: dict[str, str] = {}
        for d in definitions:
            self._defs[d.path] = d
            self._lower[d.path.lower()] = d.path
        for path, make in lazy:
            self._defs[path] = None
            self._make[path] = make
            self._lower[path.lower()] = path
        self.nodes: dict[str, int] = dict(nodes or {})   # group/list paths -> Type (6, 7, 8)

    def _definition(self, path: str) -> SettingDefinition:
        d = self._defs[path]
        if d is None:
            d = self._defs[path] = self._make[path]()
        return d

    def paths(self) -> list[str]:
        """Every setting's key-less path, without making the definitions."""
        return list(self._defs)

    def __len__(self) -> int:
        return len(self._defs)

    def __iter__(self) -> Iterator[SettingDefinition]:
        return iter([self._definition(p) for p in self._defs])

    def __contains__(self, path: str) -> bool:
        return path in self._defs

    def get(self, path: str) -> SettingDefinition | None:
        """By key-less path (``Accounts/Users/User/Password``); exact case first, then any case."""
        if path not in self._defs:
            p = self._lower.get(path.lower())
            if p is None:
                return None
            path = p
        return self._definition(path)

    def require(self, path: str) -> SettingDefinition:
        d = self.get(path)
        if d is None:
            raise SettingsError(f"unknown setting {path} in {self.source.name}", hint=self.suggestion(path))
        return d

    def suggest(self, path: str, n: int = 3) -> list[str]:
        """The closest known setting paths: same parent first, then the whole model."""
        parent, _, leaf = path.rpartition("/")
        siblings = [p for p in self._defs if p.rpartition("/")[0].lower() == parent.lower()]
        out = []
        if siblings:
            names = {p.rpartition("/")[2]: p for p in siblings}
            out = [names[x] for x in difflib.get_close_matches(leaf, list(names), n=n, cutoff=0.6)]
        if len(out) < n:
            for p in difflib.get_close_matches(path, list(self._defs), n=n, cutoff=0.75):
                if p not in out:
                    out.append(p)
        return out[:n]

    def suggestion(self, path: str) -> str | None:
        close = self.suggest(path)
        return ("did you mean " + " or ".join(close) + "?") if close else None

    def search(self, word: str) -> list[SettingDefinition]:
        w = word.lower()
        out = []
        for d in self:
            hay = [d.path, d.display_name or "", d.target.path if d.target else ""] + [lbl for _v, lbl in d.values]
            if any(w in h.lower() for h in hay):
                out.append(d)
        return out

    def to_json(self) -> dict:
        return {"source": self.source.to_json(), "nodes": self.nodes,
                "settings": [d.to_json() for d in self]}


# --- decompile -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decompiled:
    """A compiled parm named by the model: setting path, instance keys, and the WCD value form."""

    setting: str                     # key-less path, e.g. Accounts/Users/User/Password
    keys: tuple[tuple[str, str], ...]   # list key/position captures, e.g. (("UserName", "admin"),)
    value: str                       # label or customizations form
    label: str | None                # the store's label when the value has one
    secret: bool
    also: tuple[str, ...] = ()       # other settings that compile to the same node (one CSP node, two paths)
    instance: str = ""               # the keyed path (customizations.instance_path), e.g. …/User[@UserName=admin]/Password


class Decompiler:
    """Compiled (scope, characteristic path, parm, value) → setting; the inverse of ``compiled_form``."""

    def __init__(self, model: SettingsModel):
        self.model = model
        self._by_shape: dict[tuple, list[tuple[SettingDefinition, CompiledForm]]] = {}
        # file settings carried as DataAsset: Provisioning/Assets/<PackageID>/"/<instance path>" [C]
        self._assets: dict[int, list[tuple[SettingDefinition, tuple[str, ...]]]] = {}
        for d in model:
            if d.type is SettingType.FILE and d.target is None:
                parts = tuple(_instance_parts(d, d.path.count("/") + 1))
                self._assets.setdefault(len(parts), []).append((d, parts))
            try:
                form = compiled_form(d)
            except SettingsError:
                continue
            if form is None:
                continue
            key = (form.scope, len(form.characteristic), _literal(form.parm))
            self._by_shape.setdefault(key, []).append((d, form))

    def decompile_asset(self, asset_path: str, file_name: str) -> Decompiled | None:
        """The file setting a DataAsset characteristic names (``/ProvisioningCommands/…/0/CommandFile``)."""
        parts = tuple(p for p in asset_path.strip("/").split("/"))
        for d, templates in self._assets.get(len(parts), ()):
            caps = match_templates(templates, parts)
            if caps is not None:
                caps = d.decompile_keys(caps)
                return Decompiled(d.path, tuple(sorted(caps.items())), file_name, None, False,
                                  instance=d.instance(caps))
        return None

    def decompile(self, scope: str, characteristic: Sequence[str], parm: str, value: str,
                  package_id: str | None = None, prefer: Iterable[str] = ()) -> Decompiled | None:
        """The setting of a compiled parm. Two settings that compile to one node (``also``) are told
        apart by ``prefer``: paths known from elsewhere (the parm's SettingsPath, customizations.xml)."""
        cands = self._by_shape.get((scope, len(characteristic), parm), []) + \
            self._by_shape.get((scope, len(characteristic), None), [])
        found = []
        for d, form in cands:
            caps = match_templates(form.characteristic + (form.parm,), tuple(characteristic) + (parm,))
            if caps is None:
                continue
            literal = sum(1 for t in (*form.characteristic, form.parm) if "{" not in t)
            found.append((-literal, d.path, d, caps))
        if not found:
            return None
        preferred = set(prefer)
        found.sort(key=lambda x: (x[0], x[1] not in preferred, x[1]))
        _lit, _p, d, caps = found[0]
        caps.pop("cert_sha1", None)
        caps = d.decompile_keys(caps)
        return Decompiled(d.path, tuple(sorted(caps.items())), d.decompile_value(value), d.label_of(value), d.secret,
                          tuple(x[1] for x in found[1:] if x[0] == found[0][0]), instance=d.instance(caps))


def _literal(t: str) -> str | None:
    return None if _TEMPLATE_SPLIT_RE.search(t) else t


_TEMPLATE_SPLIT_RE = re.compile(r"(\{[A-Za-z][A-Za-z0-9_]*\})")


def match_templates(templates: Sequence[str], actual: Sequence[str]) -> dict | None:
    """Captures of ``{Var}`` templates against compiled names (CSP node names compare without case),
    or None; a variable seen twice must capture the same text. The one matcher of compiled paths
    (decompile here, export.reverse_parm)."""
    if len(templates) != len(actual):
        return None
    caps: dict[str, str] = {}
    for t, a in zip(templates, actual):
        if not _TEMPLATE_SPLIT_RE.search(t):
            if t.lower() != a.lower():
                return None
            continue
        pieces = _TEMPLATE_SPLIT_RE.split(t)
        rx = "".join(f"(?P<{p[1:-1]}>.+?)" if _TEMPLATE_SPLIT_RE.fullmatch(p) else re.escape(p) for p in pieces)
        m = re.fullmatch(rx, a, re.IGNORECASE | re.DOTALL)
        if m is None:
            return None
        for k, v in m.groupdict().items():
            if caps.get(k, v) != v:
                return None
            caps[k] = v
    return caps


__all__ = ["BOOLEAN_LABELS", "CompiledForm", "Decompiled", "Decompiler", "ListLevel", "ModelSource",
           "SettingDefinition", "SettingType", "SettingsError", "SettingsModel", "Target", "compiled_form"]
