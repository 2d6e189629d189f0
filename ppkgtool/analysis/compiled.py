"""The compiled side of a package, as Windows applies it (issue 16): every ConfigurationSet of
every configuration source with its parms and condition, each parm named by the settings model,
and the settings that result (customizations.xml is only the annotation)."""

from __future__ import annotations

import dataclasses
import re

from ppkgtool.analysis import heuristics as H
from ppkgtool.analysis.image import Image
from ppkgtool.analysis.model import (SCOPE_DEVICE, SCOPE_USER, CompiledEntry, ConfigurationSet, Setting,
                                     csp_to_settings_path, parse_configuration_source, parse_master_datastore,
                                     parse_provxml, resolve_prov_path)
from ppkgtool.errors import FormatError


def read_configuration_sets(img: "Image", problems: list[str]) -> list[ConfigurationSet]:
    """Every ConfigurationSet of every Multivariant/<n> source (MasterDatastore.xml -> RunTime.xml /
    User_RunTime.xml -> provxml), with its parms and condition; broken parts become ``problems``."""
    sets: list[ConfigurationSet] = []
    total_parms = 0
    mv_dirs = sorted({p.split("/")[1] for p in img.entries if re.fullmatch(r"(?i)Multivariant/\d+/.+", p)},
                     key=lambda s: int(s) if s.isdigit() else 0)
    if not mv_dirs:
        problems.append("no Multivariant/<n>/ folder: the package holds no compiled settings")
    for mv in mv_dirs:
        base = f"Multivariant/{mv}"
        prov = f"{base}/Prov"
        sources: tuple[tuple[str, str], ...] = ()
        md = img.find(f"{base}/MasterDatastore.xml")
        if md is None:
            problems.append(f"{base}/MasterDatastore.xml is missing: looking for Prov/RunTime.xml directly")
        else:
            try:
                sources = img.parsed(md, parse_master_datastore)
            except FormatError as exc:
                problems.append(exc.one_line())
        if not sources:
            sources = tuple((n, f"$(_prov)\\{n}.xml") for n in ("RunTime", "User_RunTime")
                            if img.find(f"{prov}/{n}.xml"))
            if not sources:
                problems.append(f"{prov}/RunTime.xml is missing: no compiled settings in {base}")
        for name, spath in sources:
            rp = resolve_prov_path(spath, prov)
            found = img.find(rp) if rp else None
            if found is None:
                problems.append(f"{rp or spath}: configuration source {name!r} is missing")
                continue
            try:
                entries = img.parsed(found, parse_configuration_source)
            except FormatError as exc:
                problems.append(exc.one_line())
                continue
            default_scope = SCOPE_USER if name.lower().startswith("user") else SCOPE_DEVICE
            for attrs, cond in entries:
                data = attrs.get("Data", "")
                fp = resolve_prov_path(data, prov)
                fpath = img.find(fp) if fp else None
                parms, problem = (), None
                if fpath is None:
                    problem = f"{data}: file named by {found} is missing" if fp else f"{data}: unsafe path"
                elif attrs.get("Type", "provxml").lower() == "provxml":
                    try:
                        parms = img.parsed(fpath, parse_provxml, default_scope)
                    except FormatError as exc:
                        problem = exc.one_line()
                    total_parms += len(parms)
                    img.budget.check_settings(total_parms, fpath)
                if problem:
                    problems.append(problem)
                scope = SCOPE_USER if any(pp.scope == SCOPE_USER for pp in parms) else default_scope
                sets.append(ConfigurationSet(source=name, settings_group=attrs.get("SettingsGroup", ""),
                                             data=data, file=fpath or fp, type=attrs.get("Type", ""),
                                             scope=scope, condition=cond, parms=parms, problem=problem))

    return sets


def _named_conditions(sets: list[ConfigurationSet], targets) -> list[ConfigurationSet]:
    """Compiled conditions named by the source's targets: a ProfileSet by its ProfileID, a Variant's
    ConfigurationSet by the target state it carries (customizations.xml is the annotation)."""
    if not targets:
        return sets

    def norm(state) -> frozenset:
        return frozenset((n.lower(), v) for n, v in state)

    out = []
    for cs in sets:
        cond = cs.condition
        if cond is not None:
            attrs = dict(x for st in cond.states for x in st)
            hit = next((t for t in targets if attrs.get("ProfileID") == t.target_id), None)
            if hit is None:
                mine = {norm(st) for st in cond.states}
                hit = next((t for t in targets if mine and mine <= {norm(st) for st in t.states}), None)
            if hit is not None:
                cs = dataclasses.replace(cs, condition=hit)
        out.append(cs)
    return out


def compiled_entries(sets, *, model=None, source_paths=()) -> tuple[CompiledEntry, ...]:
    """Every parm of every configuration set, named by the settings model (store.name_compiled).
    A node two settings compile to is named by the parm's SettingsPath, else by the one
    customizations.xml sets (``source_paths``, key-less)."""
    if not any(cs.parms for cs in sets):
        return ()          # nothing to name: the settings model is not even imported (extract, pack)
    from ppkgtool.package.catalogue import learned_name
    from ppkgtool.package.store import name_compiled
    out = []
    for cs in sets:
        for p in cs.parms:
            prefer = ((p.settings_path,) if p.settings_path else ()) + tuple(source_paths)
            hit = name_compiled(p.scope, p.characteristic, p.name, p.value or "", first=model, prefer=prefer) \
                if p.value is not None else None
            secret = p.secret or ("secret setting" if hit is not None and hit.secret else None)
            learned = learned_name(p.characteristic, p.name, p.value) if hit is None else None
            setting = hit.setting if hit else (learned[0] if learned else None)
            label = hit.label if hit else (learned[1] if learned else None)
            out.append(CompiledEntry(scope=p.scope, characteristic=p.characteristic, parm=p.name, value=p.value,
                                     datatype=p.datatype, condition=cs.condition, provxml=cs.file or cs.data,
                                     setting=setting, label=label,
                                     keys=hit.keys if hit else (), secret=secret, settings_path=p.settings_path,
                                     instance=hit.instance if hit else None,
                                     setting_value=hit.value if hit else None,
                                     companion=hit is None and learned is not None and p.characteristic[:2] == (
                                         "Provisioning", "ForceSettingReload")))
    return tuple(out)


def settings_from_compiled(compiled) -> tuple[Setting, ...]:
    """The settings Windows applies, from the compiled side: one per named compiled parm (keyed path
    and customizations-form value), a CSP-like path for a node no model knows; companions skipped."""
    out = []
    for c in compiled:
        if c.companion:
            continue
        path = c.instance or c.setting or csp_to_settings_path(c.node)
        value = c.setting_value if c.instance else c.value
        secret = c.secret or H.secret_kind(path)
        out.append(Setting(path=path, value=value, scope=c.scope, condition=c.condition, secret=secret,
                           origin=c.provxml or "provxml", node=f"{c.scope}:{c.node}"))
    return tuple(out)




MAX_SNIFF_BYTES = 256 * 1024        # an ODJ save file is a few kilobytes
SECRET_FILE_EXTENSIONS = (".pfx", ".p12", ".key", ".pvk")


def secret_paths(img: Image) -> set[str]:
    """The files of a package image that hold a secret (issue 17's one rule for written files):
    provxml with a secret parm (named by the settings model, or a command line that carries a
    password), customizations.xml and AnswerFile.xml when any setting is secret, ODJ blobs (they
    carry the machine password) and private-key files among the assets."""
    from ppkgtool.analysis.heuristics import redact_command_line
    out: set[str] = set()
    sets = read_configuration_sets(img, [])
    for c in compiled_entries(sets):
        if (c.secret and c.value) or (c.parm == "CommandLine" and c.value and redact_command_line(c.value) != c.value):
            if c.provxml:
                out.add(c.provxml)
    if out:
        out |= {p for p in img.entries if p.lower().endswith(("/customizations.xml", "/answerfile.xml"))}
    for p in img.entries:
        low = p.lower()
        if not low.startswith("dataasset/") or low.endswith("dataasset.xml"):
            continue
        if low.endswith(SECRET_FILE_EXTENSIONS) or (img.sizes.get(p, 0) <= MAX_SNIFF_BYTES and _is_odj(img.read(p))):
            out.add(p)
    return out


def _is_odj(data: bytes) -> bool:
    from ppkgtool.odj import load_blob
    try:
        load_blob(data)
        return True
    except Exception:  # noqa: BLE001 - any failure: not a blob
        return False
