"""ppkgtool odj show: decode an ODJ blob in any form (docs/commands/odj-show-compose.md)."""

from __future__ import annotations

from ppkgtool import summarize
from ppkgtool.cli.fileargs import read_bounded

EXAMPLES = """examples:
  ppkgtool odj show PC01.txt                 # djoin /savefile output
  ppkgtool odj show blob.b64 --json          # djoin /printblob text, as JSON
  ppkgtool odj show unattend.xml             # the AccountData of an unattend.xml
  ppkgtool odj show PC01.txt --show-secrets  # include the machine password
"""

MAX_INPUT = 64 * 1024 * 1024


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser

    p = command_parser(sub, "show", "decode and show an ODJ blob in any form",
                       description="Decode an offline domain join blob - binary, base64 (djoin /printblob), djoin "
                                   "save file (UTF-16) or unattend.xml, detected automatically - and show the "
                                   "domain, machine, DC, SIDs, RID, options and every part. The machine password "
                                   "is redacted unless --show-secrets is given.")
    p.epilog = EXAMPLES + "\n" + (p.epilog or "")
    p.add_argument("file", metavar="FILE", help="the blob file ('-' reads stdin)")
    p.add_argument("--show-secrets", action="store_true",
                   help="also print the machine password (and PFX contents as base64)")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool.cli.output import Reporter
    from ppkgtool import blob_bytes, decode_provision_data

    rep = Reporter(json_mode=args.json)
    raw = read_bounded(args.file, MAX_INPUT, stdin=True, too_large=": not an ODJ blob")
    blob, form = blob_bytes(raw)
    pd = decode_provision_data(blob)
    doc = summarize(pd, show_secrets=args.show_secrets)
    if args.json:
        rep.json({"file": args.file, "form": form, "size": len(blob), **doc})
        return 0
    render(rep, doc, form=form, size=len(blob), show_secrets=args.show_secrets)
    return 0


def render(rep, doc: dict, *, form: str, size: int, show_secrets: bool) -> None:
    rep.heading("Offline domain join blob")
    pw = doc.get("machine_password") if show_secrets else "<redacted: use --show-secrets>"
    rep.fields([
        ("Form", f"{form} ({size} bytes binary)"), ("Version", doc.get("version")),
        ("Machine", doc.get("machine_name")), ("Password", pw),
        ("Default password", "yes" if doc.get("default_password") else "no"),
        ("Domain (lpDomain)", doc.get("domain")), ("NetBIOS domain", doc.get("netbios_name")),
        ("DNS domain", doc.get("dns_domain")), ("Forest", doc.get("dns_forest")),
        ("Domain GUID", doc.get("domain_guid")), ("Domain SID", doc.get("domain_sid")),
        ("Machine SID", doc.get("machine_sid")), ("RID", doc.get("rid")),
        ("DC", doc.get("dc_name")), ("DC address", f"{doc.get('dc_address')} (type {doc.get('dc_address_type')})"),
        ("DC flags", f"{doc.get('dc_flags', 0):#010x} {' '.join(doc.get('dc_flag_names', []))}"),
        ("DC site", doc.get("dc_site")), ("Client site", doc.get("client_site")),
        ("Options", f"{doc.get('options', 0):#x} {' '.join(doc.get('option_names', []))}".rstrip()),
    ])
    rep.table(["#", "part", "flags", "content"],
              [(i, p["type"], f"{p['flags']}{' essential' if p['essential'] else ''}", _part_line(p))
               for i, p in enumerate(doc.get("parts", []))], title="Parts")
    for p in doc.get("parts", []):
        for s in p.get("sst_stores", []):
            rep.table(["subject", "thumbprint (SHA-1)", "not after"],
                      [(c["subject"], c["thumbprint"], c["not_after"]) for c in s.get("certificates", [])],
                      title=f"Certificates for {s.get('store_location_name') or s['store_location']}\\{s['store_name']}")
        for lst in p.get("element_lists", []):
            rep.table(["key", "value", "type", "data"],
                      [(v["key"], v["value_name"] or "(Default)", v["type_name"],
                        v["action"] or _short(v["value"])) for v in lst["values"]],
                      title=f"Policy values from {lst['source']} ({lst.get('root_key') or lst['root_key_id']})")


def _short(v) -> str:
    text = "; ".join(v) if isinstance(v, list) else str(v)
    return text if len(text) <= 80 else text[:77] + "..."


def _part_line(p: dict) -> str:
    t = p["type"]
    if t == "JOIN_PROVIDER":
        same = "same as the Win7 blob" if p.get("same_as_win7_blob") else "differs from the Win7 blob"
        return f"{p.get('machine_name')} in {p.get('domain')} ({same})"
    if t in ("JOIN_PROVIDER3", "JOIN_PROVIDER4"):
        extra = f" objectGUID {p['object_guid']}" if "object_guid" in p else ""
        return f"RID {p['rid']} SID {p['sid']}{extra}"
    if t == "JOIN_PROVIDER2":
        return (f"NetBIOS {p['netbios_name']} site {p['site_name']} DNS {p['primary_dns_domain']}"
                f"{' (persistent site)' if p['persistent_site'] else ''}")
    if t == "CERT_PROVIDER":
        n = sum(len(s.get("certificates", [])) for s in p.get("sst_stores", []))
        return f"{len(p.get('pfx_stores', []))} PFX store(s), {len(p.get('sst_stores', []))} SST store(s), {n} certificate(s)"
    if t == "POLICY_PROVIDER":
        n = sum(len(lst["values"]) for lst in p.get("element_lists", []))
        return f"{len(p.get('element_lists', []))} policy file(s), {n} value(s)"
    return f"unknown part type, {p.get('size')} bytes kept as they are"
