"""``catalog learn``: derive catalogue entries from a package built by Microsoft's tools.

Such a package carries its customizations.xml beside the provxml compiled from it. Each provxml
file is one settings group named after the group's path (``<n>__<Group_Path>.provxml``); its
parms name the setting they came from (``SettingsPath``, WCD 2024+) or share its name. Pairing
them proves, per setting: customizations path pattern, characteristic path, parm name, datatype,
value translation, SettingsGroup id (RunTime.xml) and scope (User_RunTime.xml). Evidence that
contradicts the catalogue is reported as a Conflict, never merged silently.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from ppkgtool.errors import FormatError
from ppkgtool.package import layout
from ppkgtool.package.catalogue import (AssetSpec, Catalogue, Conflict, Entry, Output, render_template)
from ppkgtool.package.compiler import output_value
from ppkgtool.package.customizations import parse_customizations, safe_parse_xml
from ppkgtool.package.export import (_get, _group_of, _leaf_segments, normalize_files, parse_provxml,
                                     provxml_files)

INDEX_VARS = ("n", "d", "i", "j", "k")


@dataclass
class LearnResult:
    entries: list[Entry] = field(default_factory=list)        # new knowledge (not explained by the catalogue)
    confirmed: list[str] = field(default_factory=list)        # patterns the package confirms
    conflicts: list[Conflict] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)        # parms or settings that could not be paired
    observations: int = 0

    def to_json(self) -> dict:
        return {"new": [e.to_json() for e in self.entries], "confirmed": self.confirmed,
                "conflicts": [c.describe() for c in self.conflicts], "unmatched": self.unmatched,
                "observations": self.observations}


@dataclass
class _Leaf:
    segs: list                  # [(name, attrs, pos)]
    value: str
    parms: list = field(default_factory=list)
    file: str | None = None
    tokens: tuple | None = None   # the group-path variant that matched (token kinds)


def _renamed_captures(learned: Entry, existing: Entry, caps: dict) -> dict:
    """Captures under the existing entry's variable names (CommandConfig[#n] vs [#iCommand])."""
    out = dict(caps)
    for a, b in zip(learned.segments, existing.segments):
        for x, y in ((a.var, b.var), (a.attr, b.attr), (a.index, b.index)):
            if x and y and x in caps:
                out[y] = caps[x]
    return out


def _runtime_map(files: Mapping[str, bytes]) -> dict[str, tuple[str, str]]:
    """provxml package path -> (SettingsGroup id without _k suffix, scope)."""
    from ppkgtool.package.tree.runtime import parse_runtime
    out = {}
    for rt, scope in ((layout.RUNTIME_XML, "Device"), (layout.USER_RUNTIME_XML, "User")):
        hit = _get(files, rt)
        if hit is None:
            continue
        for cs in parse_runtime(hit[1], where=hit[0]):
            data = cs.get("Data")
            if data:
                found = _get(files, data.replace("$(_prov)", "Multivariant/0/Prov").replace("\\", "/"))
                if found:
                    out[found[0]] = (re.sub(r"_\d+$", "", cs.get("SettingsGroup") or ""), scope)
    return out


def _asset_names(files: Mapping[str, bytes]) -> dict[str, str]:
    """DataAsset key ('<k>_<hash>\\<file>') -> element Name (e.g. CommandFile)."""
    hit = _get(files, layout.DATA_ASSET_XML)
    out: dict[str, str] = {}
    if hit is None:
        return out
    root = safe_parse_xml(hit[1], source_name=hit[0])
    for el in root:
        if not isinstance(el.tag, str):
            continue
        name = None
        keys = []
        for md in el:
            if isinstance(md.tag, str):
                if md.get("Key") == "Name":
                    name = md.get("Value")
                else:
                    keys.append(md.get("Key"))
        for k in keys:
            out[k] = name or ""
    return out


def _variants(segs) -> list[tuple[list[str], list[str]]]:
    """Group-path token variants: (tokens, kinds); kinds: 'name', 'attr', 'index'."""
    choices = []
    for depth, (name, attrs, pos) in enumerate(segs):
        opts = []
        if attrs:
            for k, v in attrs.items():
                opts.append((v, f"attr:{k}"))
        else:
            opts.append((name, "name"))
            if depth < len(segs) - 1:
                opts.append((str(pos), "index"))
        choices.append(opts)
    out = []
    for combo in itertools.product(*choices):
        out.append(([t for t, _ in combo], [k for _, k in combo]))
    return out


def learn_from_package(files: Mapping[str, bytes], *, package_name: str,
                       catalogue: Catalogue | None = None) -> LearnResult:
    files = normalize_files(files)
    emb = _get(files, layout.CUSTOMIZATIONS_XML)
    if emb is None:
        raise FormatError("the package has no Multivariant/0/customizations.xml: it cannot teach mappings",
                          where=package_name)
    cust = parse_customizations(emb[1], source_name=f"{package_name}:{emb[0]}")
    pid = "{" + str(cust.metadata.package_id) + "}"
    leaves = [_Leaf(list(segs), leaf.text or "") for segs, leaf in _leaf_segments(cust.common)] if cust.common else []
    runtime = _runtime_map(files)
    asset_names = _asset_names(files)
    result = LearnResult()

    for path, data in provxml_files(files):
        group = _group_of(path)
        parms = parse_provxml(data, source_file=path)
        members: list[tuple[_Leaf, list[str], list[str]]] = []
        for lf in leaves:
            for tokens, kinds in _variants(lf.segs):
                for cut in range(1, len(tokens) + 1):
                    if layout.provxml_file_name(0, "/".join(tokens[:cut]))[3:-8] == group:
                        members.append((lf, tokens[:cut], kinds))
                        break
                else:
                    continue
                break
        for parm in parms:
            target = None
            if parm.characteristic[:2] == ("Provisioning", "Assets"):
                cands = [m for m in members if layout.safe_asset_file_name(m[0].value) == parm.value]
            elif parm.settings_path:
                cands = [m for m in members if "/".join(s[0] for s in m[0].segs) == parm.settings_path]
            else:
                cands = [m for m in members if m[0].segs[-1][0] == parm.name] or \
                        (members if len({id(m[0]) for m in members}) == 1 else [])
            if len(cands) > 1:
                named = [m for m in cands if m[0].segs[-1][0] == parm.name]
                keyed = [m for m in cands if all(tok in parm.characteristic for tok, k in zip(m[1], m[2])
                                                 if k != "name")]
                cands = keyed or named or cands
            if cands:
                target = cands[0]
            if target is None:
                result.unmatched.append(f"{path}: parm {'/'.join(parm.characteristic)}/{parm.name}")
                continue
            lf, tokens, kinds = target
            lf.parms.append(parm)
            lf.file = path
            lf.tokens = (tuple(tokens), tuple(kinds))

    for lf in leaves:
        if not lf.parms:
            result.unmatched.append(f"{emb[0]}: setting {'/'.join(s[0] for s in lf.segs)} has no compiled parm")
            continue
        result.observations += 1
        entry, caps = _entry_for(lf, runtime.get(lf.file, ("", "Device")), pid, asset_names, package_name)
        existing = catalogue.get_like(entry.path) if catalogue is not None else None
        if existing is not None:
            caps = _renamed_captures(entry, existing, caps)
            problems = explain(existing, lf, caps, pid)
            sg, scope = runtime.get(lf.file, ("", "Device"))
            if existing.settings_group and sg and existing.settings_group != sg:
                problems.append(("settings_group", existing.settings_group, sg))
            if existing.scope != scope:
                problems.append(("scope", existing.scope, scope))
            if problems:
                result.conflicts.extend(Conflict(entry.path, f, a, b, existing.origin, package_name)
                                        for f, a, b in problems)
            else:
                result.confirmed.append(entry.path)
            continue
        _merge_learned(result, entry)
    return result


def _merge_learned(result: LearnResult, entry: Entry) -> None:
    for i, old in enumerate(result.entries):
        if old.path != entry.path:
            continue
        merged, conflicts = merge_learned(old, entry)
        result.conflicts.extend(conflicts)
        result.entries[i] = merged
        return
    result.entries.append(entry)


def merge_learned(a: Entry, b: Entry) -> tuple[Entry, list[Conflict]]:
    """Merge two learned entries for the same pattern: unite value translations; report contradictions."""
    conflicts = []
    for fld in ("group", "scope", "asset"):
        if getattr(a, fld) != getattr(b, fld):
            conflicts.append(Conflict(a.path, fld, getattr(a, fld), getattr(b, fld), a.origin, b.origin))
    if a.settings_group and b.settings_group and a.settings_group != b.settings_group:
        conflicts.append(Conflict(a.path, "settings_group", a.settings_group, b.settings_group, a.origin, b.origin))
    outs = []
    if len(a.outputs) != len(b.outputs):
        conflicts.append(Conflict(a.path, "outputs", len(a.outputs), len(b.outputs), a.origin, b.origin))
        return a, conflicts
    for oa, ob in zip(a.outputs, b.outputs):
        same_shape = (oa.characteristic, oa.parm, oa.constant, oa.extra) == (ob.characteristic, ob.parm, ob.constant, ob.extra)
        if not same_shape:
            conflicts.append(Conflict(a.path, "outputs", oa.to_json(), ob.to_json(), a.origin, b.origin))
            outs.append(oa)
            continue
        values = dict(oa.values)
        for k, v in ob.values:
            if k in values and values[k] != v:
                conflicts.append(Conflict(a.path, f"value {k!r}", values[k], v, a.origin, b.origin))
            values.setdefault(k, v)
        dt = oa.datatype if oa.datatype == ob.datatype else "auto"
        outs.append(replace(oa, values=tuple(values.items()), datatype=dt))
    evidence = tuple(dict.fromkeys(a.evidence + b.evidence))
    return replace(a, outputs=tuple(outs), evidence=evidence,
                   settings_group=a.settings_group or b.settings_group), conflicts


def _entry_for(lf: _Leaf, rt: tuple[str, str], pid: str, asset_names: Mapping[str, str], package: str
               ) -> tuple[Entry, dict]:
    tokens, kinds = lf.tokens
    segs_txt = []
    caps: dict[str, str] = {}
    key_values: dict[str, str] = {}
    index_no = 0
    for depth, (name, attrs, pos) in enumerate(lf.segs):
        kind = kinds[depth] if depth < len(kinds) else "name"
        if kind.startswith("attr:"):
            attr = kind[5:]
            segs_txt.append(f"{name}[@{attr}]")
            caps[attr] = attrs[attr]
            key_values[attrs[attr]] = "{" + attr + "}"
        elif kind == "index" and depth < len(tokens):
            var = INDEX_VARS[min(index_no, len(INDEX_VARS) - 1)]
            index_no += 1
            segs_txt.append(f"{name}[#{var}]")
            caps[var] = str(pos)
            key_values[str(pos)] = "{" + var + "}"
        else:
            segs_txt.append(name)
    group = "/".join(key_values.get(t, t) if k != "name" else t for t, k in zip(tokens, kinds))

    def templ(text: str) -> str:
        if text == pid:
            return "{PackageID}"
        return key_values.get(text, text)

    outputs = []
    asset = None
    for i, parm in enumerate(lf.parms):
        if parm.characteristic[:2] == ("Provisioning", "Assets"):
            asset_path = parm.characteristic[3]
            for v, t in key_values.items():
                asset_path = re.sub(rf"(?<=/){re.escape(v)}(?=/|$)", t, asset_path)
            asset = AssetSpec(asset_names.get(parm.name, lf.segs[-1][0]), asset_path)
            continue
        ch = tuple(templ(c) for c in parm.characteristic)
        name = templ(parm.name)
        values: tuple = ()
        constant = None
        if i == 0 or parm.value == lf.value:
            if parm.value != lf.value:
                values = ((lf.value, parm.value),)
        else:
            constant = parm.value
        outputs.append(Output(characteristic=ch, parm=name, datatype=parm.datatype, values=values,
                              constant=constant, extra=parm.extra))
    sg, scope = rt
    entry = Entry(path="/".join(segs_txt), group=group, settings_group=sg or None, scope=scope,
                  outputs=tuple(outputs), asset=asset, evidence=(package,), confidence="C", origin=package)
    return entry, caps


def explain(entry: Entry, lf: _Leaf, caps: Mapping[str, str], pid: str) -> list[tuple[str, object, object]]:
    """Differences between what ``entry`` compiles ``lf`` to and what the package holds."""
    problems: list[tuple[str, object, object]] = []
    observed = [(p.characteristic, p.name, p.value, p.datatype) for p in lf.parms
                if p.characteristic[:2] != ("Provisioning", "Assets")]
    vars_ = dict(caps)
    vars_["PackageID"] = pid
    expected = []
    for out in entry.outputs:
        if out.transform:
            return []      # file-derived values cannot be recomputed without the file
        try:
            if out.constant is not None:
                v, dt = out.constant, out.datatype
            else:
                v, dt = output_value(entry, out, lf.value, where="learn", setting=entry.path)
            expected.append((tuple(render_template(c, vars_) for c in out.characteristic),
                             render_template(out.parm, vars_), v, dt))
        except Exception as exc:  # a value the entry refuses
            problems.append(("value", getattr(exc, "message", str(exc)), lf.value))
            return problems
    if sorted(expected) != sorted(observed):
        problems.append(("outputs", expected, observed))
    tokens, kinds = lf.tokens
    try:
        group = render_template(entry.group, caps)
    except KeyError:
        group = entry.group
    if layout.provxml_file_name(0, group) != layout.provxml_file_name(0, "/".join(tokens)):
        problems.append(("group", group, "/".join(tokens)))
    return problems


def learn_packages(packages: Sequence[tuple[str, Mapping[str, bytes]]], catalogue: Catalogue) -> LearnResult:
    """Learn from several packages; later packages are checked against what earlier ones taught."""
    total = LearnResult()
    for name, files in packages:
        r = learn_from_package(files, package_name=name, catalogue=catalogue)
        total.confirmed += r.confirmed
        total.conflicts += r.conflicts
        total.unmatched += r.unmatched
        total.observations += r.observations
        for e in r.entries:
            _merge_learned(total, e)
    # settings groups and scope also come from RunTime: check learned ids against the catalogue's
    for e in total.entries:
        for other in catalogue:
            if other.path == e.path and other.settings_group and e.settings_group and \
                    other.settings_group != e.settings_group:
                total.conflicts.append(Conflict(e.path, "settings_group", other.settings_group, e.settings_group,
                                                other.origin, e.origin))
    return total
