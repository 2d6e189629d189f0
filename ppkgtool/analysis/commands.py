"""Commands, ODJ blobs and registry policies of a package, from its compiled parms and assets
(ProvisioningCommands/<context>/$(__PackageID)/<n>/…, DataAsset files) [C]."""

from __future__ import annotations

import re

from ppkgtool.analysis.image import Image, norm_path
from ppkgtool.analysis.model import POLICY_FILE, POLICY_ODJ, Command, PolicySource
from ppkgtool.errors import FormatError, PpkgError
from ppkgtool.odj.summary import summarize
from ppkgtool.package.customizations import segment_position

MAX_ODJ_BYTES = 256 * 1024            # an ODJ save file is a few kilobytes
MAX_POL_BYTES = 16 * 1024 * 1024      # a Registry.pol is kilobytes; GPOs rarely exceed a megabyte
MAX_SCRIPT_BYTES = 1024 * 1024


_CMD_RE = re.compile(r"^ProvisioningCommands/([^/]+)/[^/]+/(\d+)/([^/]+)$")
# Provisioning/Assets/{PackageID}//ProvisioningCommands/<ctx>/Command/<n>/CommandFile/<key> and
# …/Command/<n>/DependencyPackages/<d>/<key> (docs/formats/package-layout.md, "Assets" [C]/[I])
_CMD_ASSET_RE = re.compile(r"^Provisioning/Assets/[^/]+//?ProvisioningCommands/([^/]+)/Command/(\d+)/"
                           r"(CommandFile|DependencyPackages/\d+)/(.+)$")
_CUST_CMD_RE = re.compile(r"^ProvisioningCommands/([^/]+)/Command/(CommandConfig(?:\[[^\]]*\])*)/([^/]+)")


def read_commands(sets, settings, assets, img: Image, show_secrets: bool, problems: list[str],
              names: dict[tuple[str, int], str] | None = None,
              odj_policies: list[PolicySource] | None = None) -> tuple[Command, ...]:
    """Commands from the compiled parms (ProvisioningCommands/<ctx>/$(__PackageID)/<n>/…) [C], named
    from customizations.xml (CommandConfig Name, by position); from customizations.xml alone when
    nothing was compiled."""
    names = names or {}
    found: dict[tuple[str, int], dict] = {}

    def entry(ctx: str, idx: int) -> dict:
        return found.setdefault((ctx, idx), {"options": {}, "files": [], "dependencies": []})

    for cs in sets:
        for parm in cs.parms:
            m = _CMD_RE.match(parm.csp_path)
            if m:
                d = entry(m.group(1), int(m.group(2)))
                if m.group(3) == "CommandLine":
                    d["command_line"] = parm.value
                else:
                    d["options"][m.group(3)] = parm.value or ""
                continue
            m = _CMD_ASSET_RE.match(parm.csp_path)
            if m:
                d = entry(m.group(1), int(m.group(2)))
                is_file = m.group(3) == "CommandFile"
                if is_file:
                    d["command_file"] = parm.value
                setting_tail = f"/Command/{m.group(2)}/{m.group(3)}"
                hits = [ap for ap, sp in assets.items()
                        if ap.endswith("/" + norm_path(m.group(4))) and sp.rstrip("/").endswith(setting_tail)]
                if not hits and is_file:
                    hits = [ap for ap in assets if ap.rsplit("/", 1)[-1] == parm.value]
                d["files" if is_file else "dependencies"].extend(hits)
    if not found:   # nothing compiled: the commands as customizations.xml lists them
        for s in settings:
            m = _CUST_CMD_RE.match(s.path)
            if not m or s.condition is not None:
                continue
            d = entry(m.group(1), segment_position(m.group(2)))
            field_name = m.group(3)
            if field_name == "CommandLine":
                d["command_line"] = s.value
            elif field_name == "CommandFile":
                d["command_file"] = s.value
            elif field_name != "DependencyPackages":
                d["options"][field_name] = s.value or ""
    out = []
    for (ctx, idx), d in sorted(found.items()):
        files = tuple(dict.fromkeys(d["files"]))
        odj, odj_part_lists = _odj_summary(d.get("command_line"), files, img, show_secrets, problems)
        cmd = Command(context=ctx, index=idx, name=names.get((ctx, idx)), command_line=d.get("command_line"),
                      command_file=d.get("command_file"), files=files,
                      options=tuple(sorted(d["options"].items())), odj=odj,
                      dependencies=tuple(dict.fromkeys(d["dependencies"])))
        out.append(cmd)
        if odj_policies is not None and odj is not None:
            for list_source, hive, values in odj_part_lists:
                odj_policies.append(PolicySource(source=odj["file"], kind=POLICY_ODJ, values=values, hive=hive,
                                                 carrier=cmd.label, list_source=list_source))
    return tuple(out)


def _odj_summary(command_line: str | None, files: tuple[str, ...], img: Image, show_secrets: bool,
                 problems: list[str]) -> tuple[dict | None, list]:
    """Decode an ODJ blob a command carries (djoin /requestodj /loadfile <file>) [I: the carrier].

    Returns (summary, [(list source, root key, PolicyValues)]) — the latter for each element list of
    the blob's POLICY_PROVIDER parts (docs/formats/odj.md)."""
    if not files:
        return None, []
    is_djoin = bool(command_line and re.search(r"(?i)\bdjoin(\.exe)?\b", command_line))
    for fp in files:
        if img.sizes.get(fp, 0) > MAX_ODJ_BYTES:
            continue
        if not is_djoin and not fp.lower().endswith((".txt", ".odj", ".djoin", ".bin", ".blob")):
            continue
        try:
            from ppkgtool.odj import PolicyPart, load_blob
            from ppkgtool.odj.summary import ROOT_KEYS
        except ImportError:
            return None, []
        try:
            data = img.read(fp, MAX_ODJ_BYTES)
            blob = load_blob(data)
            summary = summarize(blob, show_secrets=show_secrets)
            summary = {"file": fp, **summary} if isinstance(summary, dict) else {"file": fp, "summary": summary}
        except PpkgError as exc:
            if is_djoin:
                problems.append(f"{fp}: the djoin command's file is not a valid ODJ blob: {exc.one_line()}")
            continue
        lists = []
        for part in blob.parts:
            if not isinstance(part.content, PolicyPart):
                continue
            for lst in part.content.element_lists:
                values = []
                for element in lst.elements:
                    try:
                        values.append(element.to_policy_value())
                    except PpkgError as exc:
                        problems.append(f"{fp}: POLICY_PROVIDER element not readable: {exc.one_line()}")
                lists.append((lst.source, ROOT_KEYS.get(lst.root_key_id, f"{lst.root_key_id:#x}"), tuple(values)))
        return summary, lists
    return None, []


# --- registry policy -----------------------------------------------------------------------------

_REG_HIVE_RE = re.compile(r'(?im)^\s*reg(?:\.exe)?\s+(?:add|delete)\s+"?(HK[A-Z_]+)\\')
_HIVES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKU": "HKEY_USERS",
          "HKCR": "HKEY_CLASSES_ROOT"}


def registry_policies(files, heads: dict[str, bytes], commands, img: Image,
                       problems: list[str]) -> tuple[PolicySource, ...]:
    """Every Registry.pol among the package's assets (by name or 'PReg' signature), parsed with
    ppkgtool.regpol. The command that carries it (as CommandFile or Dependency) is named; when that
    command's script applies the values with reg.exe, the hive it writes to is shown [I]."""
    from ppkgtool.regpol import parse_registry_pol

    out = []
    for f in files:
        if f.role != "asset":
            continue
        if not f.path.lower().endswith(".pol") and not heads.get(f.path, b"").startswith(b"PReg"):
            continue
        carrier = next((c for c in commands if f.path in c.files or f.path in c.dependencies), None)
        hive = _script_hive(carrier, img) if carrier is not None else None
        label = carrier.label if carrier is not None else None
        try:
            values = tuple(parse_registry_pol(img.read(f.path, MAX_POL_BYTES)))
        except FormatError as exc:
            problems.append(f"{f.path}: not a readable Registry.pol: {exc.one_line()}")
            out.append(PolicySource(source=f.path, kind=POLICY_FILE, hive=hive, carrier=label,
                                    problem=exc.one_line()))
            continue
        out.append(PolicySource(source=f.path, kind=POLICY_FILE, values=values, hive=hive, carrier=label))
    return tuple(out)


def _script_hive(command: Command, img: Image) -> str | None:
    """The hive a command's batch script writes with reg.exe (ppkgtool's --policy script), if one."""
    for fp in command.files:
        if not fp.lower().endswith((".cmd", ".bat")) or img.sizes.get(fp, 0) > MAX_SCRIPT_BYTES:
            continue
        try:
            text = img.read(fp, MAX_SCRIPT_BYTES).decode("utf-8", "replace")
        except FormatError:
            continue
        hives = {_HIVES.get(h.upper(), h.upper()) for h in _REG_HIVE_RE.findall(text)}
        if len(hives) == 1:
            return hives.pop()
    return None
