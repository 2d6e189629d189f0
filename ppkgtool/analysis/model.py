"""The package view shared by inspect, rank, resolve and diff.

A ``PackageView`` is one image of a .ppkg seen as settings, compiled configuration sets, files,
commands, certificates and registry policy values, with its metadata (ppkg-format.md). This module
also parses the package's XML parts (customizations.xml, MasterDatastore.xml, RunTime.xml, *.provxml,
DataAsset.xml); each parser takes bytes, refuses DOCTYPEs and oversized input, and raises FormatError
naming the part. customizations.xml and provxml go through the builder's own readers
(ppkgtool.package.customizations in lenient mode, ppkgtool.package.tree), so
build and inspect read one format one way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from ppkgtool.errors import FormatError
from ppkgtool.package.metadata import Notes, OwnerType

from ppkgtool.analysis.heuristics import REDACTED, redact_command_line, secret_kind

MAX_XML_BYTES = 32 * 1024 * 1024
MAX_ELEMENTS = 200_000
PROVISIONING_NS = "urn:schemas-microsoft-com:windows-provisioning"

SCOPE_DEVICE, SCOPE_USER = "Device", "User"

# Settings of one package that never collide with another package's: commands and assets are
# stored under the package's own ID ($(__PackageID), Provisioning/Assets/{PackageID}) [C].
PER_PACKAGE_PREFIXES = ("ProvisioningCommands/",)


# --- XML -----------------------------------------------------------------------------------------

def parse_xml(data: bytes, where: str) -> etree._Element:
    """Parse an untrusted XML part of a package through the project's one hardened parser
    (ppkgtool.xmlsafe): size-limited, no DOCTYPE, no entities, no network, bounded element count."""
    from ppkgtool import xmlsafe
    return xmlsafe.parse(data, where=where, max_bytes=MAX_XML_BYTES, max_elements=MAX_ELEMENTS)


def local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(el) -> list:
    return [c for c in el if isinstance(c.tag, str)]


# --- small models --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """A multivariant target (customizations.xml Targets/Target, or a RunTime.xml ProfileSet [I]).

    ``states`` is a tuple of TargetStates, each a tuple of (condition name, value); the target is
    true when any state has all its conditions true (Microsoft's multivariant documentation).
    """

    target_id: str
    states: tuple[tuple[tuple[str, str], ...], ...] = ()

    def __post_init__(self):
        if not isinstance(self.target_id, str) or not self.target_id:
            raise TypeError("target_id must be a non-empty string")

    def describe(self) -> str:
        if not self.states:
            return self.target_id
        parts = [" and ".join(f"{n}={v}" for n, v in s) for s in self.states]
        return f"{self.target_id} ({' or '.join(parts)})"

    def to_json(self) -> dict:
        return {"target": self.target_id,
                "states": [[{"name": n, "value": v} for n, v in s] for s in self.states]}


@dataclass(frozen=True)
class Setting:
    """One setting with its value, in customizations form when the package carries its source.

    ``path`` is the customizations path without Common ("Policies/Experience/AllowCortana"); items
    keyed by an attribute read "Accounts/Users/User[@UserName=admin]/Password", repeated unkeyed items
    carry their position ("CommandConfig[1]"): ppkgtool.package.customizations.instance_path. ``origin`` names the
    part it was read from. ``secret`` is the secret kind, or None.
    """

    path: str
    value: str | None
    scope: str = SCOPE_DEVICE
    condition: Condition | None = None
    secret: str | None = None
    origin: str = "customizations.xml"
    node: str | None = None     # the CSP node it compiled to (scope, characteristic/parm), from the compiled side

    def __post_init__(self):
        if not isinstance(self.path, str) or not self.path:
            raise TypeError("path must be a non-empty string")
        if self.value is not None and not isinstance(self.value, str):
            raise TypeError("value must be a string or None")
        if self.scope not in (SCOPE_DEVICE, SCOPE_USER):
            raise ValueError(f"scope must be Device or User, not {self.scope!r}")
        if self.condition is not None and not isinstance(self.condition, Condition):
            raise TypeError("condition must be a Condition or None")

    @property
    def per_package(self) -> bool:
        return self.path.startswith(PER_PACKAGE_PREFIXES)

    def shown_value(self, show_secrets: bool) -> str | None:
        if self.secret and not show_secrets and self.value:
            return REDACTED
        if not show_secrets and self.path.endswith("/CommandLine"):
            return redact_command_line(self.value)
        return self.value

    def to_json(self, show_secrets: bool = False) -> dict:
        return {"path": self.path, "value": self.shown_value(show_secrets), "scope": self.scope,
                "condition": self.condition.describe() if self.condition else None,
                "secret": self.secret, "origin": self.origin, "node": self.node}


@dataclass(frozen=True)
class CspParm:
    """One ``parm`` of a provxml: CSP path (characteristic types + name), value, datatype."""

    csp_path: str
    name: str
    value: str | None
    datatype: str | None
    settings_path: str | None
    scope: str = SCOPE_DEVICE
    characteristic: tuple[str, ...] = ()     # the characteristic types as written (one may hold '/')

    @property
    def secret(self) -> str | None:
        return secret_kind(self.csp_path) or (secret_kind(self.settings_path) if self.settings_path else None)

    def to_json(self, show_secrets: bool = False) -> dict:
        value = REDACTED if self.secret and self.value and not show_secrets else self.value
        if not show_secrets and self.name == "CommandLine":
            value = redact_command_line(value)
        return {"csp_path": self.csp_path, "name": self.name, "value": value, "datatype": self.datatype,
                "settings_path": self.settings_path, "scope": self.scope}


@dataclass(frozen=True)
class SourceCheck:
    """Does the package's customizations.xml compile to what the package applies? (inspect.check_source)"""

    state: str                                   # matches | differs | not-checked
    message: str
    compiled_only: tuple[str, ...] = ()          # nodes the package applies that its source does not give
    source_only: tuple[str, ...] = ()            # nodes its source gives that the package does not apply

    def to_json(self) -> dict:
        return {"state": self.state, "message": self.message, "compiled_only": list(self.compiled_only),
                "source_only": list(self.source_only)}


@dataclass(frozen=True)
class CompiledEntry:
    """One parm of one provxml as Windows applies it, named by the settings model (issue 16).

    ``setting``/``label``: the setting path and value label the model gives the node (None when no
    builtin or chosen store knows it); ``keys``: its list keys (``UserName=admin``).
    """

    scope: str
    characteristic: tuple[str, ...]
    parm: str
    value: str | None
    datatype: str | None
    condition: Condition | None
    provxml: str | None
    setting: str | None = None
    label: str | None = None
    keys: tuple[tuple[str, str], ...] = ()
    secret: str | None = None
    settings_path: str | None = None          # the parm's own SettingsPath attribute (WCD 2024+)
    instance: str | None = None               # the keyed setting path (…/User[@UserName=admin]/Password)
    setting_value: str | None = None          # the value in customizations form (the label where there is one)
    companion: bool = False                   # a constant companion parm (Provisioning/ForceSettingReload)

    @property
    def node(self) -> str:
        """The CSP node: characteristic path and parm (what resolve keys conflicts by)."""
        return "/".join(self.characteristic + (self.parm,))

    def to_json(self, show_secrets: bool = False) -> dict:
        value = REDACTED if self.secret and self.value and not show_secrets else self.value
        if not show_secrets and self.parm == "CommandLine":
            value = redact_command_line(value)
        return {"scope": self.scope, "characteristic": "/".join(self.characteristic), "parm": self.parm,
                "value": value, "datatype": self.datatype,
                "condition": self.condition.describe() if self.condition else None, "provxml": self.provxml,
                "setting": self.setting, "label": None if self.secret and not show_secrets else self.label,
                "keys": dict(self.keys), "settings_path": self.settings_path}


@dataclass(frozen=True)
class ConfigurationSet:
    """One ConfigurationSet of RunTime.xml / User_RunTime.xml: one compiled setting (one provxml)."""

    source: str                 # ConfigurationSource name: RunTime, User_RunTime
    settings_group: str
    data: str                   # the Data attribute as written ($(_prov)\RunTime\0__X.provxml)
    file: str | None            # the image path it points to
    type: str = "provxml"
    scope: str = SCOPE_DEVICE
    condition: Condition | None = None
    parms: tuple[CspParm, ...] = ()
    problem: str | None = None

    def to_json(self, show_secrets: bool = False) -> dict:
        return {"source": self.source, "settings_group": self.settings_group, "data": self.data,
                "file": self.file, "type": self.type, "scope": self.scope,
                "condition": self.condition.describe() if self.condition else None,
                "parms": [p.to_json(show_secrets) for p in self.parms], "problem": self.problem}


@dataclass(frozen=True)
class EmbeddedFile:
    """A file in the image. ``role``: asset (DataAsset), part (package XML), other."""

    path: str
    size: int
    sha256: str | None
    role: str = "other"
    kind: str = "data"          # executable, script, data
    setting: str | None = None  # for assets: the setting path DataAsset.xml names
    problem: str | None = None

    def to_json(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256, "role": self.role,
                "kind": self.kind, "setting": self.setting, "problem": self.problem}


@dataclass(frozen=True)
class Command:
    """A provisioning command (ProvisioningCommands/<Context>/$(__PackageID)/<n>, ppkg-format.md)."""

    context: str
    index: int
    name: str | None = None
    command_line: str | None = None
    command_file: str | None = None
    files: tuple[str, ...] = ()     # image paths of its assets (the CommandFile)
    options: tuple[tuple[str, str], ...] = ()   # ContinueInstall, RestartRequired, ReturnCode*, ...
    odj: dict | None = None         # summary of an ODJ blob the command carries
    dependencies: tuple[str, ...] = ()   # image paths of its DependencyPackages assets

    @property
    def label(self) -> str:
        return f"command {self.context}/{self.index}" + (f" ({self.name})" if self.name else "")

    def to_json(self, show_secrets: bool = False) -> dict:
        line = self.command_line if show_secrets else redact_command_line(self.command_line)
        return {"context": self.context, "index": self.index, "name": self.name,
                "command_line": line, "command_file": self.command_file,
                "files": list(self.files), "dependencies": list(self.dependencies),
                "options": dict(self.options), "odj": self.odj}


POLICY_FILE, POLICY_ODJ = "registry-pol", "odj-policy-provider"


def policy_value_secret(value) -> str | None:
    """The secret kind of a registry policy value (e.g. Winlogon DefaultPassword), or None.
    Deletion and other special entries (``**del.X``) carry no data worth hiding."""
    if value.action is not None:
        return None
    return secret_kind(value.value_name)


@dataclass(frozen=True)
class PolicySource:
    """Registry policy values a package carries: a Registry.pol asset (the builder's ``--policy``:
    a ``RegistryPolicy_*`` command's Dependency) or the POLICY_PROVIDER part of an ODJ blob a command
    carries (docs/formats/registry-pol.md, docs/formats/odj.md). ``values`` are
    ppkgtool.regpol.PolicyValue objects in file order."""

    source: str                      # image path of the .pol or of the ODJ file
    kind: str = POLICY_FILE          # registry-pol | odj-policy-provider
    values: tuple = ()
    hive: str | None = None          # HKEY_LOCAL_MACHINE, ... when known
    carrier: str | None = None       # the command that applies it ("command PrimaryContext/2 (…)")
    list_source: str | None = None   # ODJ: pSource of the element list (the policy file Windows recorded)
    problem: str | None = None

    def __post_init__(self):
        from ppkgtool.regpol import PolicyValue
        if not isinstance(self.source, str) or not self.source:
            raise TypeError("PolicySource.source must be a non-empty string")
        if self.kind not in (POLICY_FILE, POLICY_ODJ):
            raise ValueError(f"PolicySource.kind must be {POLICY_FILE} or {POLICY_ODJ}, not {self.kind!r}")
        if not isinstance(self.values, tuple) or not all(isinstance(v, PolicyValue) for v in self.values):
            raise TypeError("PolicySource.values must be a tuple of PolicyValue")

    def secret_values(self) -> set[str]:
        out = set()
        for v in self.values:
            if policy_value_secret(v) and isinstance(v.value, str) and v.value:
                out.add(v.value)
        return out

    def to_json(self, show_secrets: bool = False) -> dict:
        values = []
        for v in self.values:
            d = v.to_json()
            d["data"] = v.data.hex()
            d["secret"] = policy_value_secret(v)
            if d["secret"] and not show_secrets:
                d["value"] = d["data"] = REDACTED
            values.append(d)
        return {"source": self.source, "kind": self.kind, "hive": self.hive, "carrier": self.carrier,
                "list_source": self.list_source, "values": values, "problem": self.problem}


@dataclass(frozen=True)
class Certificate:
    kind: str                 # Root, CA, Client, TrustedPeople, TrustedProvisioner
    name: str | None
    subject: str | None = None
    issuer: str | None = None
    thumbprint: str | None = None   # SHA-1, upper-case hex (what Windows shows)
    not_after: str | None = None
    source: str | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()     # what cryptography said about an odd but readable certificate

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "subject": self.subject, "issuer": self.issuer,
                "thumbprint": self.thumbprint, "not_after": self.not_after, "source": self.source,
                "problem": self.problem, "notes": list(self.notes)}


@dataclass(frozen=True)
class Warning_:
    code: str
    severity: str
    message: str
    where: str | None = None

    def to_json(self) -> dict:
        return {"code": self.code, "severity": self.severity, "message": self.message, "where": self.where}


@dataclass(frozen=True)
class Signature:
    """Signature state: a detached catalog beside the package (ppkg-format.md, "Signing")."""

    catalog: str | None = None
    state: str = "unsigned"        # unsigned, signed, untrusted, tampered, catalog-unsigned, unknown
    signer: str | None = None
    trusted: bool | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()     # verify's notes (odd catalog certificates, unchecked attributes)

    def to_json(self) -> dict:
        return {"catalog": self.catalog, "state": self.state, "signer": self.signer,
                "trusted": self.trusted, "reason": self.reason, "notes": list(self.notes)}


@dataclass(frozen=True)
class PackageConfig:
    """PackageConfig of customizations.xml as written (every field optional: it is untrusted)."""

    id: str | None = None
    name: str | None = None
    version: str | None = None
    owner_type: str | None = None
    rank: str | None = None
    notes: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class PackageView:
    """One image of one package file, as inspect/rank/resolve/diff see it."""

    path: str
    image_index: int = 1
    image_count: int = 1
    properties: tuple[tuple[str, str], ...] = ()
    config: PackageConfig | None = None
    encrypted: bool = False
    signature: Signature = field(default_factory=Signature)
    settings: tuple[Setting, ...] = ()
    configuration_sets: tuple[ConfigurationSet, ...] = ()
    files: tuple[EmbeddedFile, ...] = ()
    commands: tuple[Command, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    targets: tuple[Condition, ...] = ()
    problems: tuple[str, ...] = ()       # one per broken or missing part
    size: int | None = None
    policies: tuple[PolicySource, ...] = ()
    compiled: tuple[CompiledEntry, ...] = ()     # every parm of every provxml, named (inspect --json "compiled")
    source_settings: tuple[Setting, ...] = ()    # what customizations.xml says (the annotation)
    source_check: SourceCheck | None = None

    def __post_init__(self):
        if not isinstance(self.path, str):
            raise TypeError("path must be a string")
        if not isinstance(self.image_index, int) or self.image_index < 1:
            raise ValueError("image_index must be >= 1")
        for name, typ in (("settings", Setting), ("configuration_sets", ConfigurationSet),
                          ("files", EmbeddedFile), ("commands", Command), ("certificates", Certificate),
                          ("policies", PolicySource)):
            if not all(isinstance(x, typ) for x in getattr(self, name)):
                raise TypeError(f"{name} must hold {typ.__name__} values")

    # -- metadata ---------------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        """An encrypted package read without its password: only its size and catalog are known
        (ppkg-format.md "Encryption": the whole WIM is encrypted, nothing of it is readable)."""
        return self.encrypted and not self.properties and not self.files

    def prop(self, name: str) -> str | None:
        for k, v in self.properties:
            if k == name:
                return v
        return None

    @property
    def label(self) -> str:
        """The package's name in reports: its file path, plus '#image' for merged packages."""
        return self.path if self.image_count <= 1 else f"{self.path}#{self.image_index}"

    @property
    def name(self) -> str | None:
        return self.prop("NAME") or (self.config.name if self.config else None)

    @property
    def package_id(self) -> str | None:
        pid = self.prop("PACKAGEID") or (self.config.id if self.config else None)
        if not pid:
            return None
        try:
            return "{" + str(uuid.UUID(pid.strip().strip("{}"))) + "}"
        except ValueError:
            return pid

    @property
    def version(self) -> str | None:
        return self.prop("VERSION") or (self.config.version if self.config else None)

    @property
    def notes(self) -> Notes | None:
        text = self.prop("NOTES")
        return Notes.parse(text) if text is not None else None

    @property
    def altitude(self) -> int | None:
        """The image ALTITUDE as Windows reads it: a decimal number of at most 7 characters."""
        from ppkgtool.package.metadata import parse_altitude
        return parse_altitude(self.prop("ALTITUDE"))

    @property
    def declared(self) -> tuple[OwnerType | None, int | None]:
        """OwnerType and Rank as customizations.xml states them (None when absent or invalid)."""
        if not self.config:
            return None, None
        owner = None
        for member in OwnerType:
            if self.config.owner_type and member.name.lower() == self.config.owner_type.strip().lower():
                owner = member
        rank = None
        if self.config.rank is not None and self.config.rank.strip().isdigit():
            r = int(self.config.rank.strip())
            rank = r if 0 <= r <= 99 else None
        return owner, rank

    @property
    def owner_rank(self) -> tuple[OwnerType | None, int | None]:
        """Owner type and rank as Windows sees them: from ALTITUDE, else from customizations.xml."""
        alt = self.altitude
        if alt is not None:
            split = OwnerType.from_altitude(alt)
            return split if split else (None, None)
        owner, rank = self.declared
        return owner, (rank if rank is not None else (0 if owner else None))

    @property
    def effective_altitude(self) -> int | None:
        """ALTITUDE, or owner base + rank from customizations.xml when the image has none."""
        if self.altitude is not None:
            return self.altitude
        owner, rank = self.declared
        return owner.base + (rank or 0) if owner else None

    def altitude_mismatch(self) -> str | None:
        """Why ALTITUDE and customizations.xml OwnerType/Rank disagree, or None."""
        owner, rank = self.declared
        alt = self.altitude
        if owner is None or alt is None:
            return None
        expected = owner.base + (rank or 0)
        if expected != alt:
            split = OwnerType.from_altitude(alt)
            said = f"{split[0].name}/{split[1]}" if split else "no owner type"
            return (f"ALTITUDE {alt} ({said}) disagrees with customizations.xml "
                    f"OwnerType {owner.name} Rank {rank or 0} (= {expected}); Windows uses ALTITUDE")
        return None


def secret_values(views) -> set[str]:
    """Every secret value the views hold (to scrub them from free text such as command lines)."""
    found: set[str] = set()
    for v in views:
        for s in v.settings:
            if s.secret and s.value:
                found.add(s.value)
        for cs in v.configuration_sets:
            for p in cs.parms:
                if p.secret and p.value:
                    found.add(p.value)
        for pol in v.policies:
            found |= pol.secret_values()
    return {x for x in found if len(x) >= 3}


def scrub(obj, secrets: set[str]):
    """Replace every occurrence of a secret value in every string of a JSON-like document."""
    if not secrets:
        return obj
    ordered = sorted(secrets, key=len, reverse=True)
    if isinstance(obj, str):
        for s in ordered:
            if s in obj:
                obj = obj.replace(s, REDACTED)
        return obj
    if isinstance(obj, dict):
        return {k: scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, secrets) for v in obj]
    return obj


# --- part parsers --------------------------------------------------------------------------------

def _text(el) -> str | None:
    if el is None:
        return None
    return (el.text or "").strip()


@dataclass(frozen=True)
class CustomizationsRead:
    """What inspect takes from a package's customizations.xml (lenient: never fails on structure)."""

    config: PackageConfig | None
    settings: tuple[Setting, ...]
    targets: tuple[Condition, ...]
    command_names: tuple[tuple[tuple[str, int], str], ...] = ()   # ((context, position), CommandConfig Name)
    problems: tuple[str, ...] = ()


def read_customizations(data: bytes, where: str = "customizations.xml") -> CustomizationsRead:
    """customizations.xml through the project's one reader (ppkgtool.package.customizations, lenient
    mode; ppkg-format.md, "customizations.xml"). Setting paths are ``instance_path`` forms
    (``Accounts/Users/User[@UserName=admin]/Password``). Malformed XML or a DOCTYPE raise FormatError;
    structural problems (invalid PackageConfig, unknown elements) are listed in ``problems``."""
    from ppkgtool.package.customizations import instance_path, leaf_segments, parse_customizations as read

    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("read_customizations takes bytes")
    if len(data) > MAX_XML_BYTES:
        raise FormatError(f"XML part is {len(data)} bytes, more than the {MAX_XML_BYTES} allowed", where=where)
    cust = read(bytes(data), source_name=where, lenient=True)
    config = None
    if cust.root is not None and any(local(el.tag) == "PackageConfig" for el in cust.root):
        vals = dict(cust.package_config)
        config = PackageConfig(id=vals.get("ID"), name=vals.get("Name"), version=vals.get("Version"),
                               owner_type=vals.get("OwnerType"), rank=vals.get("Rank"), notes=vals.get("Notes"),
                               description=vals.get("Description"))
    targets: dict[str, Condition] = {}
    for t in cust.targets:
        targets[t.id] = Condition(t.id, tuple(tuple((c.name, c.value) for c in st) for st in t.states))

    def leaves(node, condition: Condition | None) -> list[Setting]:
        out = []
        for segs, leaf in leaf_segments(node):
            path = instance_path(segs)
            scope = SCOPE_USER if (leaf.attr("scope") or "").lower() == "user" else SCOPE_DEVICE
            out.append(Setting(path=path, value=leaf.text or "", scope=scope, condition=condition,
                               secret=secret_kind(path), origin=where))
        return out

    settings: list[Setting] = leaves(cust.common, None) if cust.common is not None else []
    for v in cust.variants:
        if v.settings is None:
            continue
        for tid in v.target_ids or ("(no target)",):
            settings.extend(leaves(v.settings, targets.get(tid) or Condition(tid)))
    return CustomizationsRead(config=config, settings=tuple(settings), targets=tuple(targets.values()),
                              command_names=_command_names(cust.common), problems=cust.problems)


def _command_names(common) -> tuple[tuple[tuple[str, int], str], ...]:
    """ProvisioningCommands/<Context>/Command/CommandConfig[n] -> its display Name (WCD's list label)."""
    out = []
    for area in (common.children if common is not None else ()):
        if area.name != "ProvisioningCommands":
            continue
        for ctx in area.children:
            for command in ctx.children:
                configs = [c for c in command.children if c.name == "CommandConfig"]
                for pos, cc in enumerate(configs):
                    if cc.attr("Name"):
                        out.append(((ctx.name, pos), cc.attr("Name")))
    return tuple(out)


def parse_customizations(data: bytes, where: str = "customizations.xml"):
    """customizations.xml → (PackageConfig, settings, targets) (ppkg-format.md, "customizations.xml")."""
    read = read_customizations(data, where)
    return read.config, read.settings, read.targets


def parse_master_datastore(data: bytes, where: str = "MasterDatastore.xml") -> tuple[tuple[str, str], ...]:
    """MasterDatastore.xml → ((source name, path as written), ...): ppkgtool.package.tree.datastore."""
    from ppkgtool.package.tree.datastore import parse_master_datastore as parse
    return parse(data, where=where)


def resolve_prov_path(text: str, prov_dir: str) -> str | None:
    """Map '$(_prov)\\RunTime\\0__X.provxml' to an image path under ``prov_dir`` (tree.runtime)."""
    from ppkgtool.package.tree.runtime import resolve_prov_path as resolve
    return resolve(text, prov_dir)


def parse_configuration_source(data: bytes, where: str) -> list[tuple[dict, Condition | None]]:
    """RunTime.xml → [(ConfigurationSet attributes, condition)] (ppkgtool.package.tree.runtime).

    A ConfigurationSet inside a ``ProfileSet`` has its attributes as condition (COSA form); a
    Variant's line carries its target state's conditions itself (ppkg-format.md, Multivariant [C]).
    """
    from ppkgtool.package.tree.runtime import parse_runtime
    out = []
    for entry in parse_runtime(data, where=where):
        cond = None
        if entry.profile is not None:
            attrs = entry.profile
            d = dict(attrs)
            pid = d.get("ProfileID") or d.get("uiname") or ";".join(f"{k}={v}" for k, v in attrs)
            cond = Condition(pid or "ProfileSet", (attrs,) if attrs else ())
        elif entry.conditions:
            cond = Condition(";".join(f"{k}={v}" for k, v in entry.conditions), (entry.conditions,))
        out.append((dict(entry.attributes), cond))
    return out


def parse_provxml(data: bytes, where: str, default_scope: str = SCOPE_DEVICE) -> tuple[CspParm, ...]:
    """A provxml → its parms with their CSP paths (ppkgtool.package.tree.provxml). Absent
    value/datatype stay None."""
    from ppkgtool.package.tree.provxml import parse_provxml as parse
    return tuple(CspParm(csp_path="/".join(p.characteristic + (p.name,)), name=p.name, value=p.value,
                         datatype=p.datatype, settings_path=p.settings_path,
                         scope=SCOPE_USER if p.scope == "User" else default_scope, characteristic=p.characteristic)
                 for p in parse(data, where=where, default_scope=default_scope))


def parse_data_asset(data: bytes, where: str = "DataAsset.xml") -> tuple[tuple[str, str, str, str], ...]:
    """DataAsset.xml → ((element index, setting name, key, setting path), ...): tree.dataasset."""
    from ppkgtool.package.tree.dataasset import parse_data_asset as parse
    return parse(data, where=where)


def csp_to_settings_path(csp_path: str) -> str:
    """Best customizations-like path for a compiled parm without a SettingsPath [I]:
    ``Policy/Config/<Area>/<Name>`` compiles from ``Policies/<Area>/<Name>`` [C]; others stay as they are."""
    parts = csp_path.split("/")
    if len(parts) >= 4 and parts[0] == "Policy" and parts[1] in ("Config", "ConfigOperations"):
        return "Policies/" + "/".join(parts[2:])
    if parts and parts[0] == "MCSF":
        return "/".join(parts[1:]) or csp_path
    return csp_path
