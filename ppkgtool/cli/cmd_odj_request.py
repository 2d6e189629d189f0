"""ppkgtool odj request: hand an ODJ blob to an offline Windows image (docs/commands/deploy-request.md).

Like ``djoin /requestodj /loadfile F /windowspath W``. Default route: the documented one, an
unattend answer file with Microsoft-Windows-UnattendedJoin AccountData (specialize pass).
``--registry``: the experimental route, offline join values written into the image's SYSTEM hive.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from ppkgtool.cli.output import Reporter

MAX_BLOB_FILE = 64 * 1024 * 1024


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser

    p = command_parser(
        sub, "request", "inject an ODJ blob into an offline Windows image",
        description="Validate an offline domain join blob and hand it to an offline Windows image so the join "
                    "completes at first boot. Default: write or merge Windows/Panther/unattend.xml with "
                    "Microsoft-Windows-UnattendedJoin Identification/Provisioning/AccountData (specialize), "
                    "keeping every other setting. --registry (EXPERIMENTAL): write the offline join values into "
                    "the image's SYSTEM hive instead, as djoin /requestodj does; that layout comes from a single "
                    "secondary source (see docs/commands/deploy-request.md).")
    p.add_argument("--loadfile", metavar="BLOB", required=True,
                   help="the blob: djoin save file, base64 text, binary, or an unattend.xml carrying it")
    p.add_argument("--windows-path", metavar="ROOT/Windows", required=True,
                   help="the Windows folder of the mounted or applied image (as djoin /windowspath)")
    route = p.add_mutually_exclusive_group()
    route.add_argument("--registry", action="store_true",
                       help="EXPERIMENTAL: write the offline join values into Windows/System32/config/SYSTEM "
                            "(the original is backed up beside it) instead of the answer file")
    route.add_argument("--unattend-only", action="store_true",
                       help="only the answer file (the default; accepted for explicitness)")
    p.add_argument("--pass", dest="unattend_pass", choices=("specialize", "offlineServicing"),
                   default="specialize", help="unattend pass for AccountData (default: specialize)")
    p.add_argument("--arch", action="append", choices=("amd64", "x86", "arm64"),
                   help="processor architecture of the component (repeatable; default: those the answer "
                        "file uses, else the image's from System32/ntoskrnl.exe, else amd64)")
    p.add_argument("--no-backup", action="store_true",
                   help="do not keep a copy of the file being changed (*.ppkgtool-<time>.bak)")
    add_common(p)
    p.set_defaults(func=run)


def _load(path: str):
    from ppkgtool.errors import InvalidInputError
    from ppkgtool import decode_provision_data
    from ppkgtool import blob_bytes

    p = Path(path)
    try:
        if p.stat().st_size > MAX_BLOB_FILE:
            raise InvalidInputError(f"{p}: larger than {MAX_BLOB_FILE} bytes; not an ODJ blob")
        data = p.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {p}: {exc.strerror}") from None
    blob, form = blob_bytes(data)
    return blob, form, decode_provision_data(blob)


def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _unattend_route(args, image, blob: bytes, out: Reporter) -> dict:
    from ppkgtool import choose_answer_file, image_architecture, merge_account_data
    from ppkgtool import write_bytes_atomic
    from ppkgtool import to_base64

    choice = choose_answer_file(image.windows)
    existing = choice.base.read_bytes() if choice.base is not None else None
    default_arch = image_architecture(image.windows) or "amd64"
    result = merge_account_data(existing, to_base64(blob), pass_=args.unattend_pass,
                                architectures=args.arch, default_architecture=default_arch,
                                where=str(choice.base or choice.target))
    warnings = list(result.warnings)
    for other in choice.shadowed:
        if other != choice.target and other != choice.base:
            warnings.append(f"{other} is also an answer file; Setup reads {choice.target} first and ignores it")
    unattend_file = _registry_unattend_file(image)
    if unattend_file:
        warnings.append(f"the image's registry names another answer file (HKLM\\SYSTEM\\Setup UnattendFile = "
                        f"{unattend_file}); Setup reads that one first")
    warnings.append(f"{choice.target.name} now carries the machine password inside the blob: remove it from the "
                    "image after the first boot (for example in SetupComplete.cmd)")
    write_needed = result.changed or choice.base != choice.target
    backup = None
    if write_needed:
        if choice.target.exists() and not args.no_backup:
            backup = choice.target.with_name(f"{choice.target.name}.ppkgtool-{_stamp()}.bak")
            write_bytes_atomic(backup, choice.target.read_bytes(), private=True)
        write_bytes_atomic(choice.target, result.document, overwrite=True, private=True)
    for w in warnings:
        out.warn(w)
    return {"path": str(choice.target), "merged_from": None if choice.base is None else str(choice.base),
            "created": choice.base is None, "changed": write_needed, "backup": None if backup is None else str(backup),
            "pass": result.pass_, "architectures": list(result.architectures),
            "components_added": result.created_components,
            "account_data_replaced": result.replaced_account_data, "warnings": warnings}


def _registry_unattend_file(image) -> str | None:
    """HKLM\\SYSTEM\\Setup!UnattendFile of the image, if set (read only; any problem -> None)."""
    from ppkgtool.errors import PpkgError
    from ppkgtool import Hive
    try:
        hive = Hive(image.system_hive.read_bytes(), allow_dirty=True)
        v = hive.get_value("Setup", "UnattendFile")
    except (OSError, PpkgError):
        return None
    return v.data if v is not None and isinstance(v.data, str) and v.data else None


def _registry_route(args, image, pd, out: Reporter) -> dict:
    from ppkgtool import inject_into_system_hive

    out.warn("--registry is EXPERIMENTAL: the offline join layout comes from one secondary source, not from "
             "Microsoft documentation; the unattend route (the default) is the documented one")
    result = inject_into_system_hive(image.system_hive, pd, backup=not args.no_backup)
    if result.skipped:
        out.warn("the blob has no data for: " + ", ".join(result.skipped))
    return result.to_json()


def run(args) -> int:
    from ppkgtool import find_windows_dir

    blob, form, pd = _load(args.loadfile)
    image = find_windows_dir(args.windows_path)
    out = Reporter(json_mode=args.json)
    w7 = pd.win7
    doc = {"windows_path": str(image.windows), "blob_form": form,
           "machine_name": w7.machine_name, "domain": w7.dns_domain_info.dns_domain or w7.domain,
           "route": "registry" if args.registry else "unattend"}
    if args.registry:
        doc["registry"] = _registry_route(args, image, pd, out)
    else:
        doc["unattend"] = _unattend_route(args, image, blob, out)
    if args.json:
        out.json(doc)
        return 0
    rows = [("machine", doc["machine_name"]), ("domain", doc["domain"]), ("route", doc["route"])]
    if args.registry:
        r = doc["registry"]
        rows += [("hive", r["hive"]), ("control set", r["control_set"]),
                 ("values", f"{len(r['values'])} written" if r["changed"] else "already present, nothing changed"),
                 ("backup", r["backup"] or "-")]
    else:
        u = doc["unattend"]
        rows += [("answer file", u["path"]), ("merged from", u["merged_from"] or "- (new file)"),
                 ("pass", u["pass"]), ("architectures", ", ".join(u["architectures"])),
                 ("result", "written" if u["changed"] else "already present, nothing changed"),
                 ("backup", u["backup"] or "-")]
    out.fields(rows)
    return 0
