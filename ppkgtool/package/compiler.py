"""Settings -> provxml documents, SettingsGroup ids, scope, value translations, the file tree.

``compile_package`` walks the settings of a parsed customizations.xml in document order, matches
each against the catalogue (catalogue.py), translates its value, groups the parms into one
provxml per settings group (ppkg-format.md, "File tree inside the image" [C]) and lays out the
whole image (layout.py). It reads asset files but writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ppkgtool.errors import CustomizationsError
from ppkgtool.package import layout
from ppkgtool.package.catalogue import (BOOLEAN_WORDS, POLICY_WORDS, Catalogue, Entry, load_catalogue,
                                        render_template)
from ppkgtool.package.customizations import (Customizations, SettingNode, Target, instance_path, leaf_paths,
                                             segment_of)
from ppkgtool.package.metadata import PackageMetadata
from ppkgtool.package.settings import SettingsError
from ppkgtool.text import quoted

MAX_CERT_BYTES = 1024 * 1024
_INT_RE = re.compile(r"-?\d+")
RUNTIME_LAYOUTS = ("wcd", "icd-2015")

# Multivariant conditions (Microsoft's multivariant docs list these condition names) -> the
# ProfileSet attribute they become [I: attribute spelling from ppkg-format.md, Multivariant].
CONDITION_ATTRIBUTES = {
    "mcc": "Mcc", "mnc": "Mnc", "imsi": "IMSI", "iccid": "ICCID", "spn": "SPN", "plmn": "PLMN", "gid1": "GID1",
    "uiname": "uiname", "uiorder": "uiorder", "profileid": "ProfileID", "processorname": "ProcessorName",
    "processortype": "ProcessorType", "processorvendor": "ProcessorVendor", "region": "Region", "lang": "Lang", "socidentifier": "SocIdentifier",
    "oemid": "OEMID", "manufacturer": "Manufacturer", "model": "Model", "sku": "SKU",
}
_PROFILE_ATTR_ORDER = ["Mcc", "Mnc", "IMSI", "ICCID", "SPN", "PLMN", "GID1", "ProcessorName", "ProcessorType",
                       "Region", "Lang", "SocIdentifier", "OEMID", "Manufacturer", "Model", "SKU",
                       "ProfileID", "uiname", "uiorder"]


@dataclass(frozen=True)
class CompiledSetting:
    """One customizations setting and what it became."""

    path: str                 # key-less settings path, e.g. Accounts/Users/User/Password
    instance: str             # with keys, e.g. Accounts/Users/User[@UserName=admin]/Password
    value: str                # the customizations value
    scope: str                # Device | User
    group: str                # group instance, e.g. Accounts/Users/admin
    settings_group: str       # SettingsGroup id (with _k suffix for repeats)
    provxml: str              # package path of its provxml
    parms: tuple[tuple[tuple[str, ...], str, str, str], ...]   # (characteristic path, name, value, datatype)
    line: int | None
    origin: str | None
    secret: bool
    asset: str | None = None  # package path of the carried file
    variant: int | None = None
    confidence: str = "C"

    def to_json(self, *, show_secrets: bool = False) -> dict:
        hide = self.secret and not show_secrets
        return {"path": self.path, "instance": self.instance, "value": "<redacted>" if hide else self.value,
                "scope": self.scope, "group": self.group, "settings_group": self.settings_group,
                "provxml": self.provxml, "line": self.line, "origin": self.origin, "asset": self.asset,
                "variant": self.variant, "confidence": self.confidence,
                "parms": [{"characteristic": "/".join(c), "name": n, "value": "<redacted>" if hide else v,
                           "datatype": d} for c, n, v, d in self.parms]}


@dataclass
class PackageTree:
    """The image's files (package path -> bytes or a local file), its metadata and settings."""

    files: dict[str, bytes | Path]
    metadata: PackageMetadata
    settings: list[CompiledSetting]
    assets: list[layout.AssetEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    settings_store: dict | None = None   # the settings model that compiled it (ModelSource.to_json())


@dataclass
class _Group:
    key: tuple
    entry: Entry
    captures: dict
    name: str
    scope: str
    variant: int | None
    doc: layout.ProvDoc
    items: list = field(default_factory=list)   # (SettingNode, instance, settings_path, parms, asset ref)
    asset: tuple | None = None   # (AssetSpec rendered path, file name, source)


class SettingsGroupNumbering:
    """The one rule for the ``SettingsGroup`` id of each RunTime.xml / User_RunTime.xml line.

    Every ConfigurationSet line of a settings group takes the next id of its group's uuid: the
    first line the bare uuid, the second ``<uuid>_0``, the third ``<uuid>_1``, … One counter per
    uuid for the whole package (RunTime and User_RunTime) and for every form that writes lines: a
    common group writes one line; a ``<Variant>`` group one line per state of each referenced
    target (TargetRefs order, then TargetState order); a ``<Profile>`` group one line, listed in
    each target's ProfileSet. Lines are counted in the order ``compile_package`` writes them, the
    order that also numbers the provxml files: common device groups, common user groups, then each
    Variant/Profile in document order, group by group (all lines of one group before the next [I]).

    Sources: [C] repeats across groups (real-ppkg/icd-cli-oobe.ppkg: CommandLine ``…608``,
    ``…608_0`` … ``…608_4`` on six consecutive files; wcd-gui-commands-msi.ppkg: Command 0 and
    Command 1 write each of six command uuids bare, then ``_0``); [C] the relative numbering of a
    Variant's lines (corpus/ppkg/*EnergyEstimationEngine*: its two target states carry
    consecutive suffixes in TargetState order). [U] where the count starts when a package
    continues a count kept outside it: that ICD 10.0.17088 package starts at ``_4`` on file
    ``3__``, three provxml files and five earlier lines of its uuid that it does not contain
    (docs/formats/package-layout.md, Multivariant).
    """

    def __init__(self) -> None:
        self._count: dict[str, int] = {}

    def next(self, base: str) -> str:
        count = self._count.get(base, -1)
        self._count[base] = count + 1
        return base if count < 0 else f"{base}_{count}"


class AssetResolver:
    """Finds the file a setting refers to (often an absolute Windows path such as D:\\app.msi).

    Order: files given explicitly (payload options), then by file name inside ``asset_dir``
    (exact, then case-insensitive), then the reference as a local path (relative to ``base_dir``).
    """

    def __init__(self, asset_dir: os.PathLike | None = None, provided: Mapping[str, bytes | os.PathLike] | None = None,
                 base_dir: os.PathLike | None = None):
        self.asset_dir = Path(asset_dir) if asset_dir else None
        self.provided = dict(provided or {})
        self.base_dir = Path(base_dir) if base_dir else None
        if self.asset_dir is not None and not self.asset_dir.is_dir():
            raise CustomizationsError(f"--asset-dir {self.asset_dir} is not a directory")
        self._folded: dict[str, Path] | None = None     # lower-case name -> file in asset_dir (listed once)

    def _by_folded_name(self, name: str) -> Path | None:
        if self._folded is None:
            assert self.asset_dir is not None
            folded: dict[str, Path] = {}
            for q in sorted(self.asset_dir.iterdir()):
                folded.setdefault(q.name.lower(), q)
            self._folded = folded
        q = self._folded.get(name.lower())
        return q if q is not None and q.is_file() else None

    def resolve(self, ref: str, *, where: str, setting: str) -> tuple[str, bytes | Path]:
        try:
            name = layout.safe_asset_file_name(ref)
        except ValueError:
            raise CustomizationsError(f"setting {setting}: {quoted(ref)} does not name a file", where=where) from None
        if name in self.provided:
            src = self.provided[name]
            return name, src if isinstance(src, (bytes, bytearray)) else Path(src)
        if self.asset_dir is not None:
            p = self.asset_dir / name
            if p.is_file():
                return name, p
            q = self._by_folded_name(name)
            if q is not None:
                return name, q
        local = ref.replace("\\", "/") if not re.match(r"^[A-Za-z]:[\\/]", ref) else None
        if local:
            p = Path(local)
            if not p.is_absolute() and self.base_dir is not None:
                p = self.base_dir / p
            if p.is_file():
                return name, p
        hint = f"put {name} in the folder given with --asset-dir" if self.asset_dir is None else \
            f"no file named {name} in {self.asset_dir}"
        raise CustomizationsError(f"setting {setting}: asset file {quoted(ref)} not found", where=where, hint=hint)


def compile_package(customizations: Customizations, *, catalogue: Catalogue | None = None,
                    asset_dir: os.PathLike | None = None, assets: Mapping[str, bytes | os.PathLike] | None = None,
                    base_dir: os.PathLike | None = None, settings_path_attribute: bool = True,
                    runtime_layout: str = "wcd") -> PackageTree:
    """Compile a parsed customizations.xml into the package's file tree (nothing is written).

    ``runtime_layout``: ``wcd`` (every WCD/ICD since Windows 10 1607 [C]: a provxml per settings
    group, ``<n>__<Group>.provxml``, uuid SettingsGroups) or ``icd-2015`` (the Windows 10 1507/1511
    ICD: one provxml per top-level area, ``<Area>_<k>.provxml``, ``SettingsGroup="<Area>"`` [I: two
    2015 packages, both with Power settings only]).
    """
    if runtime_layout not in RUNTIME_LAYOUTS:
        raise CustomizationsError(f"unknown runtime layout {runtime_layout!r}", hint="use " + " or ".join(RUNTIME_LAYOUTS))
    legacy = runtime_layout == "icd-2015"
    cat = catalogue if catalogue is not None else load_catalogue()
    resolver = AssetResolver(asset_dir, assets, base_dir)
    src = customizations.source_name
    meta = customizations.metadata
    groups: dict[tuple, _Group] = {}
    seen_instances: dict[tuple, SettingNode] = {}
    warnings: list[str] = []

    def walk(node: SettingNode, variant: int | None):
        for path in leaf_paths(node):
            # the catalogue matches every attribute, the display Name included; the instance path does not
            elements = [(n.name, dict(n.attributes), pos) for n, pos in path]
            leaf_node = path[-1][0]
            instance = instance_path(segment_of(n, pos) for n, pos in path)
            where = leaf_node.where(src)
            m = cat.match(elements)
            if m is None:
                raise unknown_setting_error(cat, [n.name for n, _pos in path], instance, where)
            # the same catalogue setting with the same keys twice (positions do not make a new setting
            # unless the pattern indexes them, like CommandConfig[#n])
            dup_key = (variant, m.entry.path, tuple(sorted(m.captures.items())))
            if dup_key in seen_instances:
                first = seen_instances[dup_key]
                raise CustomizationsError(f"setting {instance} is set twice (first at line {first.line})", where=where)
            seen_instances[dup_key] = leaf_node
            caps = m.captures
            if m.entry.definition is not None:
                try:
                    caps = m.entry.definition.compile_keys(caps)
                except SettingsError as exc:
                    raise CustomizationsError(exc.message, where=where, hint=exc.hint) from None
            _compile_leaf(m.entry, caps, leaf_node, instance, where, variant)

    def _compile_leaf(entry: Entry, caps: dict, leaf: SettingNode, instance: str, where: str, variant):
        value = leaf.text or ""
        if value == "":
            raise CustomizationsError(f"setting {instance} has no value", where=where)
        group_name = render_template(entry.group, caps) if not legacy else entry.settings_path(caps).split("/")[0]
        key = (variant, entry.scope, group_name)
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(key, entry, caps, group_name, entry.scope, variant, layout.ProvDoc())
        elif not legacy and g.entry.settings_group_id(g.captures) != entry.settings_group_id(caps):
            raise CustomizationsError(f"setting {instance}: catalogue puts it in group {group_name} with a different "
                                      f"SettingsGroup id", where=where)
        spath = entry.settings_path(caps)
        sp_attr = spath if settings_path_attribute else None
        root_attrs = (("scope", "User"),) if entry.scope == "User" else ()
        if entry.asset is not None:
            if g.asset is not None:
                raise CustomizationsError(f"setting {instance}: two files for one asset setting", where=where)
            name, source = resolver.resolve(value, where=where, setting=instance)
            g.asset = (render_template(entry.asset.path, caps), name, source, sp_attr, root_attrs)
            g.items.append((leaf, instance, spath, [], value, entry))
            return
        vars_ = dict(caps)
        vars_["PackageID"] = "{" + str(meta.package_id) + "}"
        parms = []
        for out in entry.outputs:
            if out.constant is not None:
                v, dt = out.constant, out.datatype
            elif out.transform == "cert-der-base64":
                _name, source = resolver.resolve(value, where=where, setting=instance)
                der = _load_certificate_der(source, where=where, setting=instance)
                vars_["cert_sha1"] = hashlib.sha1(der).hexdigest().upper()
                v, dt = base64.b64encode(der).decode("ascii"), "string"
            elif out.transform == "pfx-base64":
                _name, source = resolver.resolve(value, where=where, setting=instance)
                data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
                v, dt = base64.b64encode(bytes(data)).decode("ascii"), "string"
            else:
                v, dt = output_value(entry, out, value, where=where, setting=instance)
            characteristic = tuple(render_template(c, vars_) for c in out.characteristic)
            parm_name = render_template(out.parm, vars_)
            g.doc.add(characteristic, layout.Parm(parm_name, v, dt, sp_attr, out.extra), root_attributes=root_attrs)
            parms.append((characteristic, parm_name, v, dt))
        g.items.append((leaf, instance, spath, parms, value, entry))

    if customizations.common is not None:
        walk(customizations.common, None)
    for i, variant in enumerate(customizations.variants):
        if variant.settings is not None:
            walk(variant.settings, i)

    # numbering: common device groups, common user groups, then each variant's (ppkg-format.md [C]:
    # User_RunTime numbers continue after the RunTime ones)
    ordered: list[_Group] = []
    for variant in [None, *range(len(customizations.variants))]:
        for scope in ("Device", "User"):
            ordered += [g for g in groups.values() if g.variant == variant and g.scope == scope]

    files: dict[str, bytes | Path] = {}
    settings: list[CompiledSetting] = []
    asset_entries: list[layout.AssetEntry] = []
    asset_index: dict[str, int] = {}
    sets: dict[tuple, list[layout.ConfigurationSet]] = {}
    targets = {t.id: t for t in customizations.targets}

    next_sg = SettingsGroupNumbering().next

    per_area: dict[str, int] = {}
    for n, g in enumerate(ordered):
        base = g.entry.settings_group_id(g.captures) if not legacy else g.name
        variant = customizations.variants[g.variant] if g.variant is not None else None
        sg = next_sg(base) if variant is None or variant.kind != "Variant" else None
        sub = "User_RunTime" if g.scope == "User" else "RunTime"
        if legacy:
            k = per_area.get(g.name, 0)
            per_area[g.name] = k + 1
            fname = layout.legacy_provxml_file_name(g.name, k)
        else:
            fname = layout.provxml_file_name(n, g.name)
        package_path = f"{layout.USER_RUNTIME_DIR if g.scope == 'User' else layout.RUNTIME_DIR}/{fname}"
        asset_path = None
        if g.asset is not None:
            setting_path, name, source, sp_attr, root_attrs = g.asset
            k = len(asset_entries)
            aname = g.entry.asset.name
            if aname not in asset_index:
                asset_index[aname] = layout.DATA_ASSET_FIRST_INDEX + len(asset_index)
            idx = asset_index[aname]
            hname = layout.asset_hash_name(k, layout.sha256_of(source))
            key = f"{hname}\\{name}"
            asset_path = f"DataAsset/{idx}/{hname}/{name}"
            asset_entries.append(layout.AssetEntry(idx, aname, key, setting_path, asset_path))
            files[asset_path] = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source)
            ch = ("Provisioning", "Assets", "{" + str(meta.package_id) + "}", setting_path)
            g.doc.add(ch, layout.Parm(key, name, "string", sp_attr), root_attributes=root_attrs)
            leaf, instance, spath, _parms, value, ent = g.items[0]
            g.items[0] = (leaf, instance, spath, [(ch, key, name, "string")], value, ent)
        files[package_path] = g.doc.render()
        data_ref = f"$(_prov)\\{sub}\\{fname}"
        if variant is not None and variant.kind == "Variant":
            # a Variant's groups: one ConfigurationSet per target state, its conditions as attributes
            for tid in variant.target_ids:
                for state in targets[tid].states or ((),):
                    conds = variant_conditions(state, tid, src)
                    line_sg = next_sg(base)
                    sg = sg or line_sg
                    sets.setdefault((None, g.scope), []).append(layout.ConfigurationSet(line_sg, data_ref, conds))
        else:
            sets.setdefault((g.variant, g.scope), []).append(layout.ConfigurationSet(sg, data_ref))
        for leaf, instance, spath, parms, value, ent in g.items:
            settings.append(CompiledSetting(
                path=spath, instance=instance, value=value, scope=g.scope, group=g.name, settings_group=sg,
                provxml=package_path, parms=tuple(parms), line=leaf.line, origin=leaf.origin,
                secret=ent.secret, asset=asset_path, variant=g.variant, confidence=ent.confidence))

    profile_sets: dict[str, list[layout.ProfileSet]] = {"Device": [], "User": []}
    for i, variant in enumerate(customizations.variants):
        if variant.kind != "Profile":
            continue
        for tid in variant.target_ids:
            attrs = profile_attributes(targets[tid], src)
            for scope in ("Device", "User"):
                if sets.get((i, scope)):
                    profile_sets[scope].append(layout.ProfileSet(attrs, tuple(sets[(i, scope)])))

    has_user = bool(sets.get((None, "User")) or profile_sets["User"])
    files[layout.COMMON_SETTINGS_XML] = layout.render_elements_index("CommonSettings", 1)
    files[layout.ANSWER_FILE_XML] = layout.render_answer_file(customizations.settings_element) \
        if customizations.settings_element is not None else layout.render_elements_index("CommonSettings", 1)
    files[layout.MULTIVARIANT_XML] = layout.render_elements_index("Multivariant", 0)
    files[layout.CUSTOMIZATIONS_XML] = layout.render_customizations(customizations.root)
    files[layout.MASTER_DATASTORE_XML] = layout.render_master_datastore(user_runtime=has_user)
    files[layout.RUNTIME_XML] = layout.render_runtime(sets.get((None, "Device"), []), profile_sets["Device"])
    if has_user:
        files[layout.USER_RUNTIME_XML] = layout.render_runtime(sets.get((None, "User"), []), profile_sets["User"])
    if asset_entries:
        files[layout.DATA_ASSET_XML] = layout.render_data_asset(asset_entries)
    for s in settings:
        if s.confidence != "C":
            warnings.append(f"{s.instance}: compiled form is {'inferred' if s.confidence == 'I' else 'unknown'} "
                            f"[{s.confidence}], not yet seen in a package built by Microsoft's tools")
    return PackageTree(files=files, metadata=meta, settings=settings, assets=asset_entries,
                       warnings=list(dict.fromkeys(warnings)),
                       settings_store=cat.model.source.to_json() if cat.model is not None else None)


def unknown_setting_error(cat: Catalogue, names: Sequence[str], instance: str, where: str) -> CustomizationsError:
    """The error for a setting the model cannot compile: unknown (with the closest paths), known in
    another builtin store, or known without a compile target."""
    path = "/".join(names)
    model = cat.model
    if model is None:
        return CustomizationsError(f"unknown setting {instance}", where=where,
                                   hint="no settings catalogue entry matches it")
    d = model.get(path)
    if d is not None:
        why = "names no CSP or registry target for it" if d.target is None else \
            f"gives it a form ppkgtool cannot compile (file serialization {d.serialization})"
        return CustomizationsError(f"setting {instance}: the settings store ({model.source.name}) {why}",
                                   where=where, hint="teach its compiled form with ppkgtool catalog learn and "
                                                     "--catalogue")
    from ppkgtool.package.store import models_with
    elsewhere = [b for b in models_with(path) if f"builtin {b}" != model.source.name]
    if elsewhere:
        return CustomizationsError(f"setting {instance} is not in the settings store {model.source.name}",
                                   where=where, hint="it is in the builtin store(s) " + ", ".join(elsewhere)
                                   + "; choose one with --store-build or give that Windows' store with --store-file")
    return CustomizationsError(f"unknown setting {instance} (not in the settings store {model.source.name})",
                               where=where, hint=model.suggestion(path))


def output_value(entry: Entry, out, value: str, *, where: str, setting: str) -> tuple[str, str]:
    """The one value rule: a setting's value -> (compiled value, datatype), by the settings model's
    definition when the entry has one, else by a user catalogue entry's own value table."""
    d = entry.definition
    if d is None:
        return translate_value(value, out, where=where, setting=setting)
    try:
        return d.compile_value(value), out.datatype
    except SettingsError as exc:
        raise CustomizationsError(exc.message.replace(f"setting {d.path}", f"setting {setting}", 1),
                                  where=where, hint=exc.hint) from None


def translate_value(value: str, out, *, where: str, setting: str) -> tuple[str, str]:
    """A customizations value -> (compiled value, datatype) by the output's rules."""
    v = value.strip()
    mapped = {k.lower(): val for k, val in out.values}
    low = v.lower()
    if low in mapped:
        dt = out.datatype if out.datatype != "auto" else _auto_type(mapped[low])
        return mapped[low], dt
    if out.values_only:
        allowed = ", ".join(k for k, _ in out.values)
        raise CustomizationsError(f"setting {setting}: {value!r} is not a valid value", where=where,
                                  hint=f"use one of: {allowed}")
    if out.policy_words and low in POLICY_WORDS:
        return POLICY_WORDS[low], "integer"
    dt = out.datatype
    if dt == "auto":
        if low in BOOLEAN_WORDS:
            return BOOLEAN_WORDS[low], "boolean"
        if _INT_RE.fullmatch(v):
            return str(int(v)), "integer"
        return value, "string"
    if dt == "integer":
        if not _INT_RE.fullmatch(v):
            raise CustomizationsError(f"setting {setting}: {value!r} is not a whole number", where=where)
        return str(int(v)), "integer"
    if dt == "boolean":
        if low not in BOOLEAN_WORDS:
            raise CustomizationsError(f"setting {setting}: {value!r} is not True or False", where=where)
        return BOOLEAN_WORDS[low], "boolean"
    return value, "string"


def _auto_type(v: str) -> str:
    if v in ("true", "false"):
        return "boolean"
    return "integer" if _INT_RE.fullmatch(v) else "string"


def _load_certificate_der(source, *, where: str, setting: str) -> bytes:
    from cryptography import x509
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    data = bytes(data)
    if len(data) > MAX_CERT_BYTES:
        raise CustomizationsError(f"setting {setting}: certificate file is too large", where=where)
    try:
        if b"-----BEGIN" in data:
            cert = x509.load_pem_x509_certificate(data)
        else:
            cert = x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CustomizationsError(f"setting {setting}: not an X.509 certificate (PEM or DER): {exc}",
                                  where=where) from None
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.DER)


def variant_conditions(state, tid: str, source_name: str) -> tuple[tuple[str, str], ...]:
    """One TargetState's conditions -> ConfigurationSet attributes, in document order (ppkg-format.md,
    Multivariant [C]: Microsoft's packages write them as given, e.g. ProcessorVendor, ProcessorName)."""
    out: dict[str, str] = {}
    for c in state:
        where = f"{source_name}:{c.line}" if c.line else source_name
        attr = CONDITION_ATTRIBUTES.get(c.name.lower())
        if attr is None:
            raise CustomizationsError(f"target {tid}: unknown condition {c.name!r}", where=where,
                                      hint="known: " + ", ".join(sorted(set(CONDITION_ATTRIBUTES.values()))))
        _check_condition(attr, c.value, where, tid)
        if attr in out:
            raise CustomizationsError(f"target {tid}: condition {c.name} given twice in one state", where=where)
        out[attr] = c.value
    return tuple(out.items())


def profile_attributes(target: Target, source_name: str) -> tuple[tuple[str, str], ...]:
    """Target conditions -> ProfileSet attributes, validated [I] (ppkg-format.md, Multivariant)."""
    attrs: dict[str, str] = {}
    for c in target.conditions:
        where = f"{source_name}:{c.line}" if c.line else source_name
        attr = CONDITION_ATTRIBUTES.get(c.name.lower())
        if attr is None:
            raise CustomizationsError(f"target {target.id}: unknown condition {c.name!r}", where=where,
                                      hint="known: " + ", ".join(sorted(set(CONDITION_ATTRIBUTES.values()))))
        _check_condition(attr, c.value, where, target.id)
        if attr in attrs:
            raise CustomizationsError(f"target {target.id}: condition {c.name} given twice", where=where)
        attrs[attr] = c.value
    attrs.setdefault("ProfileID", target.id)
    return tuple((k, attrs[k]) for k in _PROFILE_ATTR_ORDER if k in attrs)


def _check_condition(attr: str, value: str, where: str, tid: str) -> None:
    def bad(why):
        raise CustomizationsError(f"target {tid}: condition {attr}={value!r}: {why}", where=where)
    if attr == "Mcc" and not re.fullmatch(r"\d{3}", value):
        bad("a mobile country code is 3 digits")
    if attr == "Mnc" and not re.fullmatch(r"\d{2,3}", value):
        bad("a mobile network code is 2 or 3 digits")
    if attr in ("IMSI", "ICCID"):
        m = re.fullmatch(r"range:(\d+),(\d+)", value)
        if m:
            if int(m[1]) > int(m[2]):
                bad("the range's start is after its end")
        elif attr == "ICCID" and value.startswith("pattern:"):
            if not re.fullmatch(r"pattern:[0-9A-Fa-f*?]+", value):
                bad("a pattern is digits with * and ? wildcards")
        elif not re.fullmatch(r"\d{5,20}", value):
            bad("use digits or range:FIRST,LAST" + (" or pattern:…" if attr == "ICCID" else ""))
    if attr == "uiorder" and not re.fullmatch(r"\d+", value):
        bad("uiorder is a whole number")


def compile_bytes(data: bytes, *, source_name: str, variables: Mapping[str, str] | None = None,
                  **kwargs) -> PackageTree:
    """Parse and compile in one call (tests, bulk templates)."""
    from ppkgtool.package.customizations import parse_customizations
    return compile_package(parse_customizations(data, source_name=source_name, variables=variables), **kwargs)
