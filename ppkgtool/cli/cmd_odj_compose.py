"""ppkgtool odj compose: build an ODJ blob from known facts, no DC (docs/commands/odj-show-compose.md)."""

from __future__ import annotations

import json
import os
import uuid

from ppkgtool import summarize
from ppkgtool.errors import InvalidInputError, UsageError

EXAMPLES = """examples:
  ppkgtool odj compose --domain test.lab --netbios TEST --domain-sid S-1-5-21-1-2-3 \\
      --domain-guid 1b2c3d4e-0000-4000-8000-000000000001 --dc-name dc1.test.lab --dc-address 10.0.0.5 \\
      --machine PC01 --rid 1105 --savefile PC01.txt
  ppkgtool odj compose --facts customizations/domain-facts.json --machine KIOSK7 \\
      --password-file kiosk7.pass --unattend unattend.xml --pass offlineServicing
  ppkgtool odj compose --facts facts.json --machine PC02 --default-password --printblob --show-secrets

facts file (JSON object, as 'odj facts' writes it from a DC; an 'odj show --json' document is
read as well, for its domain facts; command-line options override it):
  {"dns_domain": "test.lab", "netbios_name": "TEST", "dns_forest": "test.lab",
   "domain_sid": "S-1-5-21-...", "domain_guid": "...", "dc_name": "dc1.test.lab",
   "dc_address": "10.0.0.5", "dc_flags": "0xe003f3fd", "dc_site": "Default-First-Site-Name",
   "client_site": "Default-First-Site-Name"}
"""

# facts file key → argparse dest (aliases accepted: the CLI option spellings)
FACT_KEYS = {
    "dns_domain": "domain", "domain": "domain", "netbios_name": "netbios", "netbios": "netbios",
    "dns_forest": "forest", "forest": "forest", "domain_sid": "domain_sid", "domain_guid": "domain_guid",
    "dc_name": "dc_name", "dc_address": "dc_address", "dc_address_type": "dc_address_type",
    "dc_flags": "dc_flags", "dc_site": "dc_site", "client_site": "client_site",
    "machine_name": "machine", "machine": "machine", "rid": "rid", "object_guid": "object_guid",
    "options": "options",
}
MAX_FACTS = 1024 * 1024
#: what compose takes from an 'odj show --json' document given as --facts
SHOW_DOMAIN_KEYS = ("dns_domain", "netbios_name", "dns_forest", "domain_sid", "domain_guid", "dc_name", "dc_address",
                    "dc_address_type", "dc_flags", "dc_site", "client_site")


def _int(text: str) -> int:
    return int(str(text), 0)


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool import add_secret_options

    p = command_parser(sub, "compose", "compose an ODJ blob offline from domain facts",
                       description="Build an offline domain join blob without contacting a DC, from facts you "
                                   "know (like Samba's 'net offlinejoin composeodj'). The computer account must "
                                   "exist in AD with the same password, or the join fails on first boot.")
    p.epilog = EXAMPLES + "\n" + (p.epilog or "")
    d = p.add_argument_group("domain facts (or --facts FILE.json)")
    d.add_argument("--facts", metavar="FILE.json", help="read the domain facts from a JSON file")
    d.add_argument("--domain", metavar="DNS", help="DNS domain name (lpDomain, DnsDomainName)")
    d.add_argument("--netbios", metavar="NAME", help="NetBIOS domain name")
    d.add_argument("--forest", metavar="DNS", help="forest root DNS name (default: --domain)")
    d.add_argument("--domain-sid", metavar="SID", help="domain SID, S-1-5-21-...")
    d.add_argument("--domain-guid", metavar="GUID", help="domain objectGUID")
    d.add_argument("--dc-name", metavar="FQDN", help="DC DNS name (without backslashes)")
    d.add_argument("--dc-address", metavar="IP", help="DC IP address")
    d.add_argument("--dc-address-type", type=_int, metavar="N", help="1 = IP address (default), 2 = NetBIOS")
    d.add_argument("--dc-flags", type=_int, metavar="FLAGS",
                   help="DS_* flags of the DC (default 0xe003f3fd, a writable Windows Server 2019 PDC)")
    d.add_argument("--dc-site", metavar="SITE", help="the DC's site (default Default-First-Site-Name)")
    d.add_argument("--client-site", metavar="SITE", help="the client's site (default Default-First-Site-Name)")
    m = p.add_argument_group("machine")
    m.add_argument("--machine", metavar="NAME", help="computer name (NetBIOS, 1-15 characters)")
    m.add_argument("--rid", type=_int, metavar="N", help="the account's RID (adds a JOIN_PROVIDER3 part)")
    m.add_argument("--object-guid", metavar="GUID", help="the account's objectGUID (with --join-provider4)")
    m.add_argument("--join-provider4", action="store_true",
                   help="add a JOIN_PROVIDER4 part (RID, SID and objectGUID; Windows 2023+)")
    m.add_argument("--options", type=_int, metavar="N", help="NETSETUP_PROVISION_* options to record (default 0)")
    add_secret_options(m, prefix="password", what="machine password")
    m.add_argument("--default-password", "--defpwd", dest="default_password", action="store_true",
                   help="password = machine name in lower case (sets USE_DEFAULT_PASSWORD)")
    m.add_argument("--generate-password", action="store_true",
                   help="a random 120-character Windows-like password (the default without a password source)")
    x = p.add_argument_group("optional parts")
    x.add_argument("--psite", metavar="SITE", help="persistent site (JOIN_PROVIDER2 with OP_JP2_FLAG_PERSISTENTSITE)")
    x.add_argument("--dsite", metavar="SITE", help="default site (JOIN_PROVIDER2)")
    x.add_argument("--primarydns", metavar="DOMAIN", help="primary DNS domain (JOIN_PROVIDER2)")
    x.add_argument("--root-ca-file", action="append", metavar="FILE", default=[],
                   help="root CA certificate(s) (PEM/DER/SST) for LocalMachine\\Root (CERT_PROVIDER); repeatable")
    x.add_argument("--policypaths", metavar="'P;Q'", help="Registry.pol files to include (POLICY_PROVIDER)")
    o = p.add_argument_group("output (at least one)")
    o.add_argument("--savefile", metavar="FILE", help="write the blob as djoin does (UTF-16 base64, mode 0600)")
    o.add_argument("--printblob", action="store_true",
                   help="print the blob as base64 on stdout (it carries the machine password: needs --show-secrets)")
    o.add_argument("--show-secrets", action="store_true", help="allow --printblob to print the blob")
    o.add_argument("--unattend", metavar="FILE", help="write an unattend.xml with the blob (mode 0600)")
    o.add_argument("--pass", dest="unattend_pass", choices=("specialize", "offlineServicing"), default="specialize",
                   help="unattend pass for --unattend (default specialize)")
    o.add_argument("--arch", choices=("amd64", "x86", "arm64"), default="amd64",
                   help="processorArchitecture of the unattend component (default amd64)")
    o.add_argument("--binary", metavar="FILE", help="write the binary ODJ_PROVISION_DATA (mode 0600)")
    o.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_common(p)
    p.set_defaults(func=run)


def _load_facts(path: str) -> dict:
    from ppkgtool.cli.fileargs import read_bounded

    raw = read_bounded(path, MAX_FACTS, name=f"the facts file {path}")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"the facts file {path} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"the facts file {path} must hold a JSON object")
    if "form" in doc and ("parts" in doc or "blobs" in doc):
        # an 'odj show --json' document: its domain facts only (machine, RID and options belong to
        # the blob's own account, never to the one being composed)
        doc = {k: v for k, v in doc.items() if k in SHOW_DOMAIN_KEYS}
    out = {}
    for key, value in doc.items():
        norm = key.replace("-", "_")
        if norm.startswith("_") or norm in ("comment", "description"):
            continue
        if norm not in FACT_KEYS:
            raise InvalidInputError(f"the facts file {path}: unknown key {key!r}",
                                    hint=f"known keys: {', '.join(sorted(k for k in FACT_KEYS if '_' in k))}")
        if value is not None:
            out[FACT_KEYS[norm]] = value
    return out


def _merge(args) -> dict:
    facts = _load_facts(args.facts) if args.facts else {}
    for dest in set(FACT_KEYS.values()):
        v = getattr(args, dest, None)
        if v is not None:
            facts[dest] = v
    return facts


def _guid(value, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value).strip("{}"))
    except ValueError:
        raise InvalidInputError(f"{what} {value!r} is not a GUID") from None


def _u32(value, what: str) -> int:
    try:
        n = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value), 0)
    except ValueError:
        raise InvalidInputError(f"{what} {value!r} is not a number") from None
    if not 0 <= n < 2 ** 32:
        raise InvalidInputError(f"{what} {value!r} is out of range")
    return n


def build_from_args(args):
    """(ProvisionData, password source) from the parsed options; raises PpkgError subclasses."""
    from ppkgtool import (DomainFacts, MachineFacts, CertPart, SstStore, compose_provision_data,
                              generate_machine_password)
    from ppkgtool import load_certificates
    from ppkgtool import PolicyPart
    from ppkgtool import has_secret_option, source_from_args

    f = _merge(args)
    missing = [opt for opt, dest in (("--domain", "domain"), ("--netbios", "netbios"),
                                     ("--domain-sid", "domain_sid"), ("--domain-guid", "domain_guid"),
                                     ("--dc-name", "dc_name"), ("--dc-address", "dc_address"),
                                     ("--machine", "machine")) if not f.get(dest)]
    if missing:
        raise UsageError(f"missing {', '.join(missing)} (give them as options or in --facts FILE.json)")
    sources = sum(bool(x) for x in (has_secret_option(args), args.default_password, args.generate_password))
    if sources > 1:
        raise UsageError("choose one of --password-file/--password-env, --default-password, --generate-password")
    from ppkgtool import JoinRequest
    machine = str(f["machine"])
    join = JoinRequest(machine=machine, default_password=args.default_password,
                       root_ca_certs=bool(args.root_ca_file), psite=args.psite, dsite=args.dsite,
                       primarydns=args.primarydns)
    # the facts file may carry extra option bits (as odj show reports them); djoin's switches add theirs
    options = _u32(f.get("options", 0), "options") | join.options
    if args.default_password:
        password, how = join.default_password_text, "default"
    elif has_secret_option(args):
        password, how = source_from_args(args, prefix="password", what="machine password").read(), "given"
    else:
        password, how = generate_machine_password(), "generated"
    try:
        domain = DomainFacts(
            dns_domain=str(f["domain"]), netbios_name=str(f["netbios"]), dns_forest=str(f.get("forest") or f["domain"]),
            domain_guid=_guid(f["domain_guid"], "domain GUID"), domain_sid=str(f["domain_sid"]),
            dc_name=str(f["dc_name"]), dc_address=str(f["dc_address"]),
            **({"dc_address_type": _u32(f["dc_address_type"], "DC address type")} if "dc_address_type" in f else {}),
            **({"dc_flags": _u32(f["dc_flags"], "DC flags")} if "dc_flags" in f else {}),
            **({"dc_site": str(f["dc_site"])} if f.get("dc_site") else {}),
            **({"client_site": str(f["client_site"])} if f.get("client_site") else {}))
        rid = _u32(f["rid"], "RID") if f.get("rid") is not None else None
        object_guid = _guid(f["object_guid"], "object GUID") if f.get("object_guid") else None
        mach = MachineFacts(join.blob_machine_name, password, rid=rid, object_guid=object_guid, options=options)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(str(exc)) from None
    jp2 = join.join_provider2()
    cert = None
    if args.root_ca_file:
        ders: list[bytes] = []
        for path in args.root_ca_file:
            try:
                with open(path, "rb") as fh:
                    ders += load_certificates(fh.read(MAX_FACTS * 16))
            except OSError as exc:
                raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
        cert = CertPart(sst_stores=(SstStore.from_certificates(ders),))
    policy = None
    if args.policypaths:
        files = []
        for path in (q.strip() for q in args.policypaths.split(";") if q.strip()):
            try:
                with open(path, "rb") as fh:
                    files.append((path, fh.read(64 * 1024 * 1024)))
            except OSError as exc:
                raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
        policy = PolicyPart.from_registry_pol(files)
    if args.join_provider4 and (mach.rid is None or mach.object_guid is None):
        raise UsageError("--join-provider4 needs --rid and --object-guid")
    pd = compose_provision_data(domain, mach, join_provider2=jp2, join_provider4=args.join_provider4,
                                cert_part=cert, policy_part=policy)
    return pd, how


def require_show_secrets(args) -> None:
    """--printblob puts the machine password on stdout: only when the user asks (docs/security.md)."""
    if getattr(args, "printblob", False) and not getattr(args, "show_secrets", False):
        raise UsageError("--printblob prints the blob, which carries the machine password in clear",
                         hint="add --show-secrets to print it, or write it 0600 with --savefile FILE")


def run(args) -> int:
    from ppkgtool.cli.output import Reporter
    from ppkgtool import check_writable, write_bytes_atomic
    from ppkgtool import encode_provision_data, to_base64, to_savefile, unattend_document

    rep = Reporter(json_mode=args.json)
    files = [(f, kind) for f, kind in ((args.savefile, "savefile"), (args.unattend, "unattend"),
                                       (args.binary, "binary")) if f]
    if not files and not args.printblob:
        raise UsageError("say where the blob goes: --savefile FILE, --printblob, --unattend FILE or --binary FILE")
    if len({os.path.abspath(f) for f, _ in files}) != len(files):
        raise UsageError("two outputs name the same file")
    for f, _ in files:
        check_writable(f, overwrite=args.overwrite)
    pd, how = build_from_args(args)
    require_show_secrets(args)
    blob = encode_provision_data(pd)
    for f, kind in files:
        data = {"savefile": lambda: to_savefile(blob), "binary": lambda: blob,
                "unattend": lambda: unattend_document(blob, args.unattend_pass, args.arch)}[kind]()
        write_bytes_atomic(f, data, overwrite=args.overwrite, private=True)
    summary = summarize(pd, show_secrets=False)
    if args.json:
        doc = {**summary, "password": how, "savefile": args.savefile, "unattend": args.unattend,
               "binary": args.binary, "size": len(blob)}
        if args.printblob:
            doc["blob_base64"] = to_base64(blob)
        rep.json(doc)
        return 0
    if args.printblob:
        rep.stdout.write(to_base64(blob) + "\n")
        if not files:
            return 0
        rep.stdout = rep.stderr
    rep.fields([("Machine", summary["machine_name"]), ("Domain", f"{summary['dns_domain']} ({summary['netbios_name']})"),
                ("DC", f"{summary['dc_name']} at {summary['dc_address']}"), ("RID", summary["rid"]),
                ("Password", how), ("Parts", ", ".join(p["type"] for p in summary["parts"]))] +
               [("Saved to", f) for f, _ in files])
    return 0
