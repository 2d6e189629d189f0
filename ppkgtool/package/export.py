"""Settings of a built package, as customizations paths; and ``export`` (Export-ProvisioningPackage
-AnswerFileOnly): the package's own customizations.xml, or one reconstructed from its provxml.

The reverse mapping provxml -> customizations path runs the catalogue backwards: a parm's
characteristic path and name are matched against each entry's output templates; the captured
keys rebuild the customizations element path; value translations are inverted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from lxml import etree

from ppkgtool.errors import FormatError
from ppkgtool.package import layout
from ppkgtool.package.catalogue import Catalogue, Entry, load_catalogue
from ppkgtool.package.customizations import (PROVISIONING_NS, instance_path, leaf_segments, local_name,
                                             parse_customizations)
from ppkgtool.package.metadata import PACKAGE_CONFIG_NS, PackageMetadata



@dataclass(frozen=True)
class SettingValue:
    """One setting as a customizations path (``Policies/Experience/AllowCortana``)."""

    path: str                  # key-less settings path
    value: str
    scope: str = "Device"      # Device | User
    source_file: str = ""      # the package file it was read from
    instance: str = ""         # with keys: Accounts/Users/User[@UserName=admin]/Password (instance_path)
    secret: bool = False
    known: bool = True         # the catalogue knows this setting
    segments: tuple = field(default=(), compare=False, repr=False)   # ((name, attrs, index), ...)
    targets: tuple[str, ...] = ()   # multivariant: the Variant's target ids; () for Common settings

    def to_json(self, *, show_secrets: bool = False) -> dict:
        return {"path": self.path, "instance": self.instance,
                "value": "<redacted>" if self.secret and not show_secrets else self.value,
                "scope": self.scope, "source_file": self.source_file, "known": self.known,
                "targets": list(self.targets)}


from ppkgtool.package.tree.provxml import ProvParm  # noqa: E402 - the one parm class


def normalize_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Package paths as ``Multivariant/0/...`` (no leading slash, forward slashes)."""
    return {p.replace("\\", "/").lstrip("/"): v for p, v in files.items()}


def _get(files: Mapping[str, bytes], path: str) -> tuple[str, bytes] | None:
    low = path.lower()
    for k, v in files.items():
        if k.lower() == low:
            return k, v
    return None





_PARSED: dict[int, tuple[bytes, str, list[ProvParm]]] = {}   # id(data) -> (data, first file, parms)
_PARSED_MAX = 64


def parse_provxml(data: bytes, *, source_file: str) -> list[ProvParm]:
    """Every parm of a provxml (ppkgtool.package.tree.provxml), absent value/datatype as ""/string.

    Entries of a package that share one blob share one bytes object (cli export reads each blob
    once): it is parsed once, however many entries name it (ppkgtool.limits)."""
    from dataclasses import replace

    from ppkgtool.package.tree.provxml import parse_provxml as parse
    hit = _PARSED.get(id(data))
    if hit is None or hit[0] is not data:
        parms = [replace(p, value=p.value or "", datatype=p.datatype or "string") for p in parse(data, where=source_file)]
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.pop(next(iter(_PARSED)))
        hit = _PARSED[id(data)] = (data, source_file, parms)
    if hit[1] == source_file:
        return list(hit[2])
    return [replace(p, source_file=source_file) for p in hit[2]]


def provxml_files(files: Mapping[str, bytes]) -> list[tuple[str, bytes]]:
    """The package's provxml files in RunTime.xml / User_RunTime.xml order (then any others)."""
    from ppkgtool.package.tree.runtime import parse_runtime
    files = normalize_files(files)
    ordered: list[str] = []
    for rt in (layout.RUNTIME_XML, layout.USER_RUNTIME_XML):
        hit = _get(files, rt)
        if hit is None:
            continue
        try:
            entries = parse_runtime(hit[1], where=hit[0])
        except FormatError:
            continue
        for cs in entries:
            data = cs.get("Data")
            if data:
                found = _get(files, data.replace("$(_prov)", "Multivariant/0/Prov").replace("\\", "/"))
                if found and found[0] not in ordered:
                    ordered.append(found[0])
    rest = sorted(k for k in files if k.lower().endswith(".provxml") and k not in ordered)
    return [(k, files[k]) for k in ordered + rest]


def _match_templates(templates: Sequence[str], concrete: Sequence[str]) -> dict | None:
    from ppkgtool.package.settings import match_templates
    return match_templates(templates, concrete)


def _segments_for(entry: Entry, caps: Mapping[str, str]) -> tuple | None:
    segs = []
    for s in entry.segments:
        if s.var:
            if s.var not in caps:
                return None
            segs.append((caps[s.var], {}, 0))
        elif s.attr:
            if s.attr not in caps:
                return None
            segs.append((s.name, {s.attr: caps[s.attr]}, 0))
        elif s.index:
            if s.index not in caps or not caps[s.index].isdigit():
                return None
            segs.append((s.name, {}, int(caps[s.index])))
        else:
            segs.append((s.name, {}, 0))
    return tuple(segs)


_leaf_segments = leaf_segments     # (kept for ppkgtool.package.learn)


def _group_of(source_file: str) -> str | None:
    m = re.match(r"^\d+__(.+)\.provxml$", source_file.rsplit("/", 1)[-1], re.I)
    return m.group(1) if m else None


def reverse_parm(parm: ProvParm, catalogue: Catalogue) -> tuple[Entry, dict, str | None] | None:
    """(entry, captures, customizations value) for one compiled parm, or None.

    The value is None when the parm is a constant companion of a setting (e.g.
    Provisioning/ForceSettingReload). Entries whose group matches the provxml file name win.
    """
    group = _group_of(parm.source_file)

    def rank(e: Entry, caps) -> tuple:
        try:
            from ppkgtool.package.catalogue import render_template
            g = layout.provxml_file_name(0, render_template(e.group, caps))[3:-len(".provxml")]
        except KeyError:
            g = None
        return (g is not None and g == group,) + e.specificity

    best = None
    for e in catalogue:
        if e.scope != parm.scope:
            continue
        if e.asset is not None:
            ch = parm.characteristic
            if len(ch) == 4 and ch[:2] == ("Provisioning", "Assets"):
                caps = _match_templates([e.asset.path], [ch[3]])
                if caps is not None and _segments_for(e, caps) is not None:
                    cand = (rank(e, caps), e, caps, parm.value)
                    best = cand if best is None or cand[0] > best[0] else best
            continue
        for out in e.outputs:
            caps = _match_templates(list(out.characteristic) + [out.parm], list(parm.characteristic) + [parm.name])
            if caps is None:
                continue
            if _segments_for(e, caps) is None:
                # a key the compiled form does not carry (a root certificate's CertificateName: its
                # node is the thumbprint) is in the provxml's group name (ppkg-format.md [C])
                caps = {**_group_captures(e.group, group), **caps}
            if out.constant is not None:
                if parm.value == out.constant:
                    cand = (rank(e, caps), e, caps, None)
                    best = cand if best is None or cand[0] > best[0] else best
                continue
            if _segments_for(e, caps) is None:
                continue
            value = transform_file_name(out.transform, caps) if out.transform else _reverse_value(parm.value, out, e)
            if value is None:
                continue
            cand = (rank(e, caps), e, caps, value)
            if best is None or cand[0] > best[0]:
                best = cand
    return (best[1], best[2], best[3]) if best else None


def _group_captures(template: str, group: str | None) -> dict:
    """The keys a provxml group name (``Certificates_RootCertificates_CorpRoot``) holds for the
    entry's group template (``Certificates/RootCertificates/{CertificateName}``); {} if it does not fit."""
    if not group:
        return {}
    parts = re.split(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", template)
    rx, names = "", []
    for i, part in enumerate(parts):
        if i % 2:
            if part in names:
                return {}
            names.append(part)
            rx += f"(?P<{part}>.+)"
        else:
            rx += re.escape(layout.provxml_file_name(0, part)[3:-len(".provxml")])
    m = re.fullmatch(rx, group)
    return {k: v for k, v in m.groupdict().items()} if m else {}


def transform_file_name(transform: str, caps: Mapping[str, str]) -> str:
    """The file a reconstructed certificate setting names (its content is in the provxml, not a
    file of the package): ``<CertificateName>.cer`` / ``.pfx``, else the SHA-1 thumbprint."""
    base = caps.get("CertificateName") or caps.get("CertificateHash") or caps.get("cert_sha1") or "certificate"
    try:
        base = layout.safe_asset_file_name(base)
    except ValueError:
        base = caps.get("cert_sha1") or "certificate"
    return f"{base}.pfx" if transform == "pfx-base64" else f"{base}.cer"


def _reverse_value(value: str, out, entry=None) -> str | None:
    if out.transform:
        return value
    if entry is not None and entry.definition is not None:
        d = entry.definition     # the settings model's inverse (settings.py): labels where the store has them
        try:
            d.compile_value(d.decompile_value(value))
        except Exception:     # noqa: BLE001 - a compiled value this setting does not allow
            return None
        return d.decompile_value(value)
    for k, v in out.values:
        if v == value:
            return k
    if out.values_only:
        return None
    if value in ("true", "false") and out.datatype in ("boolean", "auto"):
        return value.capitalize()
    return value


def settings_from_package(files: Mapping[str, bytes], *, catalogue: Catalogue | None = None,
                          prefer_embedded: bool = True, lenient: bool = False) -> list[SettingValue]:
    """Settings of a package by customizations path: from its customizations.xml when it has one,
    else reconstructed from its provxml through the catalogue (unknown parms keep their CSP path).

    Settings of a multivariant ``Variant`` carry its target ids (``targets``). ``lenient`` reads
    the embedded customizations.xml as inspect does (ppkgtool.package.customizations, lenient mode).
    """
    files = normalize_files(files)
    cat = catalogue if catalogue is not None else load_catalogue()
    emb = _get(files, layout.CUSTOMIZATIONS_XML)
    if emb is not None and prefer_embedded:
        return settings_from_customizations(parse_customizations(emb[1], source_name=emb[0], lenient=lenient),
                                            catalogue=cat, source_file=emb[0])
    return settings_from_provxml(files, catalogue=cat)


def settings_from_customizations(cust, *, catalogue: Catalogue | None = None,
                                 source_file: str = "") -> list[SettingValue]:
    """Every leaf of a parsed customizations.xml (Common, then each Variant) as a SettingValue."""
    cat = catalogue if catalogue is not None else load_catalogue()
    out = []
    roots = [(cust.common, ())] + [(v.settings, v.target_ids) for v in cust.variants if v.settings]
    for node, targets in roots:
        if node is None:
            continue
        for segs, leaf in leaf_segments(node):
            m = cat.match(segs)
            path = m.entry.settings_path(m.captures) if m else "/".join(s[0] for s in segs)
            out.append(SettingValue(path=path, value=leaf.text or "", scope=m.entry.scope if m else "Device",
                                    source_file=source_file or cust.source_name, instance=instance_path(segs),
                                    secret=bool(m and m.entry.secret), known=m is not None, segments=tuple(segs),
                                    targets=tuple(targets)))
    return out


def settings_from_provxml(files: Mapping[str, bytes], *, catalogue: Catalogue | None = None) -> list[SettingValue]:
    cat = catalogue if catalogue is not None else load_catalogue()
    from ppkgtool.limits import current as current_budget
    budget = current_budget()
    out: list[SettingValue] = []
    seen: set[str] = set()
    total = 0
    parsed = []
    for path, data in provxml_files(files):           # the whole budget before any reversing
        parms = parse_provxml(data, source_file=path)
        total += len(parms)
        budget.check_settings(total, path)
        parsed.append((path, parms))
    reversed_: dict[tuple, object] = {}                # a shared provxml's parms are reversed once
    for path, parms in parsed:
        for parm in parms:
            key = (parm.characteristic, parm.name, parm.value, parm.datatype, parm.scope, parm.settings_path,
                   parm.extra, _group_of(parm.source_file))
            if key not in reversed_:
                reversed_[key] = reverse_parm(parm, cat)
            hit = reversed_[key]
            if hit is None:
                csp = "/".join(parm.characteristic + (parm.name,))
                out.append(SettingValue(path=parm.settings_path or csp, value=parm.value, scope=parm.scope,
                                        source_file=path, instance=csp, known=False))
                continue
            entry, caps, value = hit
            if value is None:
                continue          # a constant companion parm (Provisioning/ForceSettingReload …)
            if entry.definition is not None:
                caps = entry.definition.decompile_keys(caps)
            segs = _segments_for(entry, caps)
            inst = instance_path(segs)
            if inst in seen:
                continue          # a second parm of the same setting (e.g. ForceSettingReload)
            seen.add(inst)
            out.append(SettingValue(path=entry.settings_path(caps), value=value, scope=entry.scope, source_file=path,
                                    instance=inst, secret=entry.secret, known=True, segments=segs))
    return out


def reconstruct_customizations(settings: Sequence[SettingValue], metadata: PackageMetadata) -> bytes:
    """A customizations.xml holding ``settings`` (known ones) under Common."""
    root = etree.Element("WindowsCustomizations")
    pc = etree.SubElement(root, f"{{{PACKAGE_CONFIG_NS}}}PackageConfig", nsmap={None: PACKAGE_CONFIG_NS})
    for k, v in (("ID", "{" + str(metadata.package_id) + "}"), ("Name", metadata.name), ("Version", metadata.version),
                 ("OwnerType", metadata.owner_type.name), ("Rank", str(metadata.rank)), ("Notes", ""),
                 ("Description", metadata.description)):
        etree.SubElement(pc, f"{{{PACKAGE_CONFIG_NS}}}{k}").text = v
    q = lambda t: f"{{{PROVISIONING_NS}}}{t}"  # noqa: E731
    settings_el = etree.SubElement(root, q("Settings"), nsmap={None: PROVISIONING_NS})
    common = etree.SubElement(etree.SubElement(settings_el, q("Customizations")), q("Common"))
    for s in settings:
        if not s.known or not s.segments:
            continue
        parent = common
        for depth, (name, attrs, idx) in enumerate(s.segments):
            last = depth == len(s.segments) - 1
            same = [c for c in parent if isinstance(c.tag, str) and local_name(c) == name
                    and all(c.get(k) == v for k, v in attrs.items())]
            if not last and attrs and same:
                parent = same[0]
                continue
            if not last and not attrs and len(same) > idx:
                parent = same[idx]
                continue
            el = etree.SubElement(parent, q(name))
            for k, v in attrs.items():
                el.set(k, v)
            if last:
                el.text = s.value
            parent = el
    return layout.render_customizations(root)


def export_customizations(files: Mapping[str, bytes], metadata: PackageMetadata | None = None, *,
                          catalogue: Catalogue | None = None) -> tuple[bytes, str]:
    """(customizations.xml bytes, how): the embedded one ("embedded") or a reconstruction ("reconstructed")."""
    files = normalize_files(files)
    emb = _get(files, layout.CUSTOMIZATIONS_XML)
    if emb is not None:
        parse_customizations(emb[1], source_name=emb[0])     # refuse unsafe XML even when copying
        return emb[1], "embedded"
    if metadata is None:
        raise FormatError("the package has no customizations.xml and no metadata to rebuild one from")
    settings = settings_from_provxml(files, catalogue=catalogue)
    return reconstruct_customizations(settings, metadata), "reconstructed"


# --- secrets in exported text ------------------------------------------------------------------

REDACTED_TEXT = "REDACTED"


def secret_values_of(files: Mapping[str, bytes], *, catalogue: Catalogue | None = None,
                     settings: Sequence[SettingValue] | None = None) -> dict[str, str]:
    """{secret text: its redacted form} for the package's settings: values the settings model and
    the catalogue call ``secret`` (passwords, keys, tokens) and command lines that carry one (the
    rules inspect applies: analysis.heuristics.redact_command_line)."""
    from ppkgtool.analysis.heuristics import redact_command_line
    cat = catalogue if catalogue is not None else load_catalogue()
    found = list(settings or ())
    files = normalize_files(files)
    for read in (lambda: settings_from_package(files, catalogue=cat), lambda: settings_from_provxml(files, catalogue=cat)):
        try:
            found += read()
        except FormatError:
            pass
    out: dict[str, str] = {}
    for s in found:
        if not s.value:
            continue
        if s.secret:
            out[s.value] = REDACTED_TEXT
        elif (s.instance or s.path).endswith("CommandLine"):
            red = redact_command_line(s.value)
            if red != s.value:
                out[s.value] = red
    return out


def redact_customizations(data: bytes, secrets: Mapping[str, str]) -> bytes:
    """The document with every secret element text replaced by its redacted form (escaped as written)."""
    from xml.sax.saxutils import escape
    text = data.decode("utf-8-sig")
    for v in sorted(secrets, key=len, reverse=True):
        text = text.replace(f">{escape(v)}<", f">{escape(secrets[v])}<")
    return (b"\xef\xbb\xbf" if data.startswith(b"\xef\xbb\xbf") else b"") + text.encode("utf-8")


# --- export --with-assets: the customizations.xml and every file it names -------------------------

LEGACY_PROVXML_RE = re.compile(r"^[^_/]+_\d+\.provxml$", re.I)     # layout.legacy_provxml_file_name


@dataclass(frozen=True)
class AssetFile:
    """A file the exported customizations.xml names: copied from the package's DataAsset folder
    (``package_path``, ppkg-format.md "File tree inside the image": DataAsset/<n>/<k>_<hash>/<file>) or
    decoded from the provxml parm that carries it (``data``: a certificate's DER or a PFX, ppkg-format.md
    "Settings that carry the mission's payloads")."""

    name: str                      # relative to the export folder: app.msi, or 2/app.msi beside another app.msi
    settings: tuple[str, ...]      # the settings that name it (instance paths)
    secret: bool = False           # an ODJ blob, a PFX or a private key: written 0600, content never shown
    package_path: str | None = None
    data: bytes | None = None
    size: int = 0

    def to_json(self) -> dict:
        return {"file": self.name, "settings": list(self.settings), "from": self.package_path or "provxml",
                "size": self.size, "private": self.secret}


@dataclass(frozen=True)
class ExportedAnswerFile:
    """What ``export`` writes: the customizations.xml and (``with_assets``) the files it names,
    its asset references rewritten to those files' paths relative to the customizations.xml
    (``build`` resolves a relative reference against the folder of the customizations.xml)."""

    customizations: bytes
    how: str                               # embedded | reconstructed
    assets: tuple[AssetFile, ...] = ()
    settings: tuple[SettingValue, ...] = ()    # the reconstructed settings (unknown ones are left out)
    runtime_layout: str = "wcd"            # the layout build must be given to compile the package back
    problems: tuple[str, ...] = ()         # asset settings whose file the package does not carry


def runtime_layout_of(files: Mapping[str, bytes]) -> str:
    """``icd-2015`` for a package compiled in the 2015 ICD layout (``<Area>_<k>.provxml``,
    compiler.compile_package), else ``wcd``."""
    names = [p.rsplit("/", 1)[-1] for p, _d in provxml_files(files)]
    return "icd-2015" if names and all(LEGACY_PROVXML_RE.match(n) for n in names) else "wcd"


def export_answer_file(files: Mapping[str, bytes], metadata: PackageMetadata | None = None, *,
                       catalogue: Catalogue | None = None, reconstruct: bool = False, with_assets: bool = False,
                       asset_sizes: Mapping[str, int] | None = None,
                       secret_paths: frozenset[str] | set[str] = frozenset()) -> ExportedAnswerFile:
    """The package's customizations.xml (``reconstruct``: rebuilt from its provxml) and, with
    ``with_assets``, every file it names: DataAsset files (``asset_sizes``: the package's files by
    path and size) and certificates/PFX from their provxml parms. ``secret_paths``: the package
    files that hold a secret (analysis.compiled.secret_paths, the rule extract applies)."""
    files = normalize_files(files)
    cat = catalogue if catalogue is not None else load_catalogue()
    settings: list[SettingValue] = []
    if reconstruct:
        if metadata is None:
            raise FormatError("the package has no metadata to rebuild a customizations.xml from")
        settings = settings_from_provxml(files, catalogue=cat)
        data, how = reconstruct_customizations(settings, metadata), "reconstructed"
    else:
        data, how = export_customizations(files, metadata, catalogue=cat)
        if how == "reconstructed":
            settings = settings_from_provxml(files, catalogue=cat)
    layout_name = runtime_layout_of(files)
    if not with_assets:
        return ExportedAnswerFile(data, how, (), tuple(settings), layout_name)
    data, assets, problems = _attach_assets(data, files, cat, dict(asset_sizes or {}), set(secret_paths))
    return ExportedAnswerFile(data, how, tuple(assets), tuple(settings), layout_name, tuple(problems))


def _children(el) -> list:
    return [c for c in el if isinstance(c.tag, str)]


def _setting_leaves(root):
    """(segments with every attribute, leaf element) below Common and each Variant/Profile Settings,
    in document order: the walk compile_package makes over the parsed settings tree."""
    cust_el = next((c for c in _children(next((c for c in _children(root) if local_name(c) == "Settings"), root))
                    if local_name(c) == "Customizations"), None)
    if cust_el is None:
        return
    tops = []
    for c in _children(cust_el):
        if local_name(c) == "Common":
            tops.append(c)
        elif local_name(c) in ("Variant", "Profile"):
            tops += [s for s in _children(c) if local_name(s) == "Settings"]

    def rec(el, path):
        counts: dict[str, int] = {}
        for c in _children(el):
            name = local_name(c)
            pos = counts.get(name, 0)
            counts[name] = pos + 1
            seg = (name, {etree.QName(k).localname: v for k, v in c.attrib.items()}, pos)
            if _children(c):
                yield from rec(c, path + [seg])
            else:
                yield path + [seg], c
    for top in tops:
        yield from rec(top, [])


def _leaf_text(el) -> str:
    return ((el.text or "") + "".join(c.tail or "" for c in el)).strip()


def _set_leaf_text(el, text: str) -> None:
    for c in el:
        c.tail = None
    el.text = text


def _pem(der: bytes) -> bytes:
    import base64
    b64 = base64.b64encode(der).decode("ascii")
    return ("-----BEGIN CERTIFICATE-----\n" + "".join(b64[i:i + 64] + "\n" for i in range(0, len(b64), 64))
            + "-----END CERTIFICATE-----\n").encode("ascii")


def _attach_assets(data: bytes, files: Mapping[str, bytes], cat: Catalogue, sizes: dict[str, int],
                   secret_paths: set[str]) -> tuple[bytes, list[AssetFile], list[str]]:
    """The customizations.xml with each file reference pointing at the exported file, the files,
    and the problems (a setting whose file the package does not carry keeps its reference)."""
    import base64
    import binascii

    from ppkgtool.errors import UnsafePathError
    from ppkgtool.package.catalogue import render_template
    from ppkgtool.package.customizations import DISPLAY_NAME_ATTRIBUTE, safe_parse_xml
    from ppkgtool.package.settings import SettingsError
    from ppkgtool.wim.safepath import check_component

    root = safe_parse_xml(data, source_name=layout.CUSTOMIZATIONS_XML)
    by_setting = _data_asset_files(files, sizes)
    parms = [p for path, blob in provxml_files(files) for p in parse_provxml(blob, source_file=path)]
    lower_sizes = {k.lower(): k for k in sizes}
    assets: list[AssetFile] = []
    by_source: dict[object, AssetFile] = {}
    taken = {layout.CUSTOMIZATIONS_XML.rsplit("/", 1)[-1].lower()}
    problems: list[str] = []

    def place(name: str, setting: str, where: str) -> str:
        check_component(name, where=f"the file name of setting {setting} ({where})")
        if "$(" in name:
            raise UnsafePathError(f"asset file name {name!r} of setting {setting} ({where}) holds '$(', which build "
                                  "would read as a variable")
        rel, k = name, 1
        while rel.lower() in taken:
            k += 1
            rel = f"{k}/{name}"
        taken.add(rel.lower())
        return rel

    for segs, el in _setting_leaves(root):
        m = cat.match(segs)
        if m is None:
            continue
        entry = m.entry
        transform = next((o for o in entry.outputs if o.transform), None)
        if entry.asset is None and transform is None:
            continue
        keys = [(n, {k: v for k, v in a.items() if k != DISPLAY_NAME_ATTRIBUTE}, pos) for n, a, pos in segs]
        setting = instance_path(keys)
        where = f"{layout.CUSTOMIZATIONS_XML}:{el.sourceline}"
        caps = m.captures
        if entry.definition is not None:
            try:
                caps = entry.definition.compile_keys(caps)
            except SettingsError:
                continue       # build refuses it with the settings model's message
        value = _leaf_text(el)
        if entry.asset is not None:
            setting_path = render_template(entry.asset.path, caps)
            hit = by_setting.get(setting_path.strip("/").lower())
            if hit is None:
                problems.append(f"{setting}: the package carries no file for it (DataAsset.xml lists none for "
                                f"{setting_path}); its reference {value!r} is kept")
                continue
            path = lower_sizes.get(hit.lower(), hit)
            source: object = path
            name = path.rsplit("/", 1)[-1]
            content = None
            secret = path in secret_paths
            size = sizes.get(path, 0)
        else:
            found = _transform_parm(entry, transform, caps, parms)
            if found is None:
                problems.append(f"{setting}: no {'/'.join(transform.characteristic)}/{transform.parm} parm carries "
                                f"its {'PFX' if transform.transform == 'pfx-base64' else 'certificate'}; its "
                                f"reference {value!r} is kept")
                continue
            try:
                content = base64.b64decode(found.value, validate=True)
            except (binascii.Error, ValueError):
                problems.append(f"{setting}: the parm in {found.source_file} is not base64; its reference "
                                f"{value!r} is kept")
                continue
            try:
                name = layout.safe_asset_file_name(value)
            except ValueError:
                name = transform_file_name(transform.transform, caps)
            if transform.transform == "cert-der-base64" and name.lower().endswith(".pem"):
                content = _pem(content)
            source = ("provxml", content)
            secret = transform.transform == "pfx-base64"
            size = len(content)
        asset = by_source.get(source)
        if asset is None:
            asset = AssetFile(name=place(name, setting, where), settings=(setting,), secret=secret,
                              package_path=source if isinstance(source, str) else None, data=content, size=size)
            assets.append(asset)
        else:                       # one file named by several settings (a root that is also a provisioner)
            from dataclasses import replace
            assets[assets.index(asset)] = asset = replace(asset, settings=asset.settings + (setting,))
        by_source[source] = asset
        _set_leaf_text(el, asset.name)
    return layout.render_customizations(root), assets, problems


def _data_asset_files(files: Mapping[str, bytes], sizes: Mapping[str, int]) -> dict[str, str]:
    """{setting path without its leading '/', lower case: package path of its file} from
    DataAsset/DataAsset.xml; a key that is not ``<k>_<hash>\\<file>`` of plain names is refused."""
    from ppkgtool.errors import UnsafePathError
    from ppkgtool.package.tree.dataasset import parse_data_asset
    from ppkgtool.wim.safepath import check_component

    hit = _get(files, layout.DATA_ASSET_XML)
    if hit is None:
        return {}
    out: dict[str, str] = {}
    for index, _name, key, setting_path in parse_data_asset(hit[1], where=hit[0]):
        parts = key.replace("\\", "/").split("/")
        if not index.isdigit() or len(parts) != 2:
            raise UnsafePathError(f"{hit[0]}: asset key {key!r} (element {index!r}) is not <k>_<hash>\\<file>")
        for part in parts:
            check_component(part, where=f"{hit[0]} asset key {key!r}")
        out.setdefault(setting_path.strip("/").lower(), f"DataAsset/{int(index)}/{parts[0]}/{parts[1]}")
    return out


def _transform_parm(entry: Entry, out, caps: Mapping[str, str], parms: Sequence[ProvParm]) -> ProvParm | None:
    """The compiled parm that carries a certificate setting's file (its node may hold the thumbprint,
    unknown from the customizations.xml: the group's provxml tells two certificates apart)."""
    from ppkgtool.package.catalogue import render_template
    templates = list(out.characteristic) + [out.parm]
    cands = []
    for p in parms:
        if p.scope != entry.scope:
            continue
        got = _match_templates(templates, list(p.characteristic) + [p.name])
        if got is not None and all(caps[k] == v for k, v in got.items() if k in caps):
            cands.append(p)
    if len(cands) > 1:
        try:
            suffix = layout.provxml_file_name(0, render_template(entry.group, caps))[1:].lower()
        except KeyError:
            suffix = None
        mine = [p for p in cands if suffix and p.source_file.lower().endswith(suffix)]
        cands = mine or cands
    values = {p.value for p in cands}
    return cands[0] if len(values) == 1 else None
