"""ppkgtool inspect: show what a package holds and does, with the warnings users need."""

from __future__ import annotations

import argparse
from pathlib import Path

from ppkgtool.errors import EXIT_OK, EXIT_SECURITY, InvalidInputError, PpkgError
from ppkgtool import add_secret_options, has_secret_option, source_from_args

SEVERITY_ORDER = {"high": 3, "medium": 2, "info": 1}
_LABELS = {"id": "ID", "altitude": "ALTITUDE", "target_skus": "target SKUs", "declared": "declared OwnerType/Rank",
           "notes": "NOTES", "properties": "image properties", "compiled": "compiled provxml parms"}
_POLICY_KINDS = {"registry-pol": "Registry.pol file", "odj-policy-provider": "ODJ POLICY_PROVIDER part"}


# --- helpers shared by inspect, rank, resolve and diff ------------------------------------------

def add_package_options(parser: argparse.ArgumentParser, *, secrets: bool = True) -> None:
    add_secret_options(parser, prefix="password", what="package password (for encrypted packages)")
    parser.add_argument("--trusted-provisioner", "--trusted", dest="trusted", action="append", default=[],
                        metavar="CERT", help="a trusted provisioner certificate (PEM or DER) for judging signatures, "
                                             "as verify takes it; repeatable")
    if secrets:
        parser.add_argument("--show-secrets", action="store_true",
                            help="show passwords, PFX passwords, product keys and ODJ machine passwords "
                                 "(redacted by default)")


def trusted_from_args(args) -> list[bytes]:
    out = []
    for p in getattr(args, "trusted", []) or []:
        try:
            out.append(Path(p).read_bytes())
        except OSError as exc:
            raise InvalidInputError(f"cannot read the trusted certificate {p}: {exc.strerror}") from None
    return out


def load_views(args, paths, *, require_readable: bool):
    """Every image of every package on the command line, in the order given."""
    from ppkgtool import load_package

    password = source_from_args(args, prefix="password", what="package password").read() \
        if has_secret_option(args, prefix="password") else None
    trusted = trusted_from_args(args)
    views = []
    for p in paths:
        try:
            views.extend(load_package(p, password=password, show_secrets=getattr(args, "show_secrets", False),
                                      trusted_certs=trusted, require_readable=require_readable))
        except PpkgError as exc:   # several files on the command line: say which one
            from ppkgtool.cli.errors import name_the_file
            raise name_the_file(exc, p) from exc.__cause__
    return views


# --- inspect -------------------------------------------------------------------------------------

def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser

    p = command_parser(sub, "inspect", "show what a package holds and does",
                       description="Show a package's metadata (owner type, rank, ALTITUDE), signature and "
                                   "encryption state, every setting, command, embedded file (size, SHA-256), "
                                   "certificate, ODJ blob (machine, domain), registry policy value (Registry.pol "
                                   "assets and ODJ POLICY_PROVIDER parts) and multivariant condition, and warnings "
                                   "(plain-text credentials, owner-type claims, executables, risky commands). "
                                   "Secrets are redacted unless --show-secrets.")
    p.add_argument("package", metavar="PKG", help="the .ppkg file")
    add_package_options(p)
    p.add_argument("--fail-on", choices=("high", "medium", "info"), metavar="SEVERITY",
                   help="exit 4 when a warning of this severity or higher is found (high, medium, info)")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import inspect_document
    from ppkgtool.cli.output import Reporter

    rep = Reporter(json_mode=args.json)
    views = load_views(args, [args.package], require_readable=False)
    doc = inspect_document(views, show_secrets=args.show_secrets)
    if args.json:
        rep.json(doc)
    else:
        for image_doc in (doc["images"] or [doc]):
            _print_image(rep, image_doc, args.show_secrets)
    if args.fail_on:
        limit = SEVERITY_ORDER[args.fail_on]
        worst = max((SEVERITY_ORDER.get(w["severity"], 0) for w in doc["warnings"]), default=0)
        if worst >= limit:
            return EXIT_SECURITY
    return EXIT_OK


def _print_locked(rep, d: dict) -> None:
    """An encrypted package read without its password: what is known and what is not."""
    rep.heading(d["path"])
    rep.fields([("file", d["path"]), ("size", f"{d['size']} bytes"),
                ("encrypted", "yes: its contents are unknown without the password"),
                ("unknown", ", ".join(_LABELS.get(k, k.replace("_", " ")) for k in d["unknown_without_password"])),
                ("password", d["hint"]), ("signature", _signature_text(d["signature"]))])
    _print_warnings(rep, d)


def _signature_text(sig: dict) -> str:
    return (f"{sig['state']}" + (f", catalog {sig['catalog']}" if sig["catalog"] else "")
            + (f", signer {sig['signer']}" if sig["signer"] else "")
            + (f", trusted: {'yes' if sig['trusted'] else 'no'}" if sig["trusted"] is not None else ""))


def _print_warnings(rep, d: dict) -> None:
    if d["warnings"]:
        rep.table(["severity", "warning", "where"],
                  [(w["severity"], w["message"], w["where"] or "") for w in
                   sorted(d["warnings"], key=lambda w: -SEVERITY_ORDER.get(w["severity"], 0))], title="Warnings")


def _print_image(rep, d: dict, show_secrets: bool) -> None:
    if not d["readable"]:
        _print_locked(rep, d)
        return
    title = d["name"] or d["path"]
    if d["image_count"] > 1:
        title += f" (image {d['image']} of {d['image_count']})"
    rep.heading(title)
    rep.fields([
        ("file", d["path"]), ("name", d["name"]), ("id", d["id"]), ("version", d["version"]),
        ("owner type", d["owner_type"]), ("rank", d["rank"]), ("ALTITUDE", _altitude_text(d)),
        ("declared", _declared_text(d["declared"])),
        ("builder", d["builder_version"] if d["notes"] else "(the image has no NOTES property)"),
        ("target SKUs", f"{d['target_skus']} ({d['target_skus_meaning']})" if d["target_skus_meaning"]
         else d["target_skus"]),
        ("NOTES flags", _notes_flags(d["notes"])),
        ("encrypted", "yes" if d["encrypted"] else "no"),
        ("signature", _signature_text(d["signature"])),
        ("description", d["description"]),
    ])
    if d["settings"]:
        rep.table(["setting", "value", "scope", "condition"],
                  [(s["path"], _short(s["value"]), s["scope"], s["condition"] or "") for s in d["settings"]],
                  title=f"Settings ({len(d['settings'])}; {len(d['configuration_sets'])} compiled configuration sets)")
    if d["commands"]:
        rep.table(["#", "name", "command line", "file", "options"],
                  [(f"{c['context']}/{c['index']}", c["name"] or "", c["command_line"] or "",
                    c["command_file"] or "", ", ".join(f"{k}={v}" for k, v in c["options"].items()))
                   for c in d["commands"]], title="Provisioning commands")
        for c in d["commands"]:
            if c["odj"]:
                rep.line(f"ODJ blob in command {c['context']}/{c['index']}: {_odj_text(c['odj'])}")
    if d["files"]:
        rep.table(["file", "size", "sha256", "kind", "setting"],
                  [(f["path"], f["size"], f["sha256"], f["kind"] if f["role"] != "part" else "package part",
                    f["setting"] or "") for f in d["files"]], title=f"Files ({len(d['files'])})")
    if d["certificates"]:
        rep.table(["kind", "name", "subject", "thumbprint", "expires"],
                  [(c["kind"], c["name"] or "", c["subject"] or c["problem"] or "", c["thumbprint"] or "",
                    c["not_after"] or "") for c in d["certificates"]], title="Certificates")
    if d["policies"]:
        rows = []
        for pol in d["policies"]:
            where = pol["source"].rsplit("/", 1)[-1] + (f" ({pol['list_source']})" if pol["list_source"] else "")
            if pol["problem"]:
                rows.append((where, pol["hive"] or "", f"unreadable: {pol['problem']}", "", ""))
            for v in pol["values"]:
                rows.append((where, v["key"], v["value_name"] or "(Default)", v["type_name"],
                             _short(_policy_data(v))))
        rep.table(["source", "key", "value name", "type", "data"], rows,
                  title="Registry policy values (" + "; ".join(
                      f"{p['source'].rsplit('/', 1)[-1]}: " + _POLICY_KINDS.get(p["kind"], p["kind"])
                      + (f", {p['hive']}" if p["hive"] else "") + (f", applied by {p['carrier']}" if p["carrier"] else "")
                      for p in d["policies"]) + ")")
    if d["conditions"]:
        rep.table(["target", "states"], [(c["target"], " | ".join(
            " and ".join(f"{x['name']}={x['value']}" for x in st) for st in c["states"])) for c in d["conditions"]],
                  title="Multivariant conditions")
    _print_warnings(rep, d)
    if not show_secrets:
        rep.line("(secrets are shown as <redacted>; use --show-secrets to see them)")


def _altitude_text(d: dict) -> str:
    if d["altitude"] is None:
        raw = d["properties"].get("ALTITUDE")
        return f"{raw!s} (not a valid ALTITUDE)" if raw is not None else "none in the image"
    split = d["altitude_split"]["text"] if d["altitude_split"] else "does not split into owner type + rank"
    return f"{d['altitude']} ({split})"


def _declared_text(declared: dict) -> str:
    if declared["owner_type"] is None and declared["rank"] is None:
        return "no PackageConfig OwnerType/Rank (no customizations.xml in the package)"
    return (f"OwnerType {declared['owner_type'] or '(none)'}, Rank {declared['rank'] or '(none)'} "
            "(customizations.xml)")


def _odj_text(odj: dict) -> str:
    parts = [f"machine {odj.get('machine_name')}", f"domain {odj.get('domain')}"]
    if odj.get("netbios_name"):
        parts[-1] += f" (NetBIOS {odj['netbios_name']})"
    if odj.get("dc_name"):
        parts.append(f"DC {odj['dc_name']}" + (f" at {odj['dc_address']}" if odj.get("dc_address") else ""))
    if odj.get("machine_sid"):
        parts.append(f"SID {odj['machine_sid']}")
    types = [p.get("type") for p in odj.get("parts") or []]
    if types:
        parts.append("parts " + ", ".join(str(t) for t in types))
    if odj.get("machine_password"):
        parts.append(f"machine password {odj['machine_password']}")
    return f"{odj.get('file', '')}: " + "; ".join(parts)


def _policy_data(v: dict) -> str:
    value = v["value"]
    if isinstance(value, list):
        value = "; ".join(str(x) for x in value)
    text = str(value)
    if isinstance(v["value"], int) and not isinstance(v["value"], bool):
        text = f"{value} ({value:#x})"
    return text + (f" [{v['action']}]" if v.get("action") else "")


def _notes_flags(notes: dict | None) -> str:
    if not notes:
        return ""
    return (f"EncryptPackage={notes['encrypt_package']}, SignPackage={notes['sign_package']}, "
            f"Source={notes['source']}, PackageID={notes['package_id']}")


def _short(value, limit: int = 120) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
