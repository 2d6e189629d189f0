"""ppkgtool odj provision: djoin /provision on any OS (docs/commands/odj-provision.md)."""

from __future__ import annotations

import contextlib
import os

from ppkgtool.cli.dcopts import add_dc_options, connect_from_args
from ppkgtool.errors import UsageError

EXAMPLES = """examples:
  ppkgtool odj provision --domain example.com --machine PC01 --dc dc1.example.com \\
      --user admin@EXAMPLE.COM --password-file ~/.adpass --savefile PC01.txt
  ppkgtool odj provision --domain test.lab --machine KIOSK7 --dc dc1.test.lab --dc-address 10.0.0.5 \\
      --ca-file corp-ca.pem --user admin@TEST.LAB --machine-ou "OU=Kiosks,DC=test,DC=lab" \\
      --rootcacerts --policynames "Kiosk Lockdown" --unattend unattend.xml --json
"""


def _split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(p.strip() for p in value.split(";") if p.strip())


def add_account_options(parser, *, bulk: bool = False) -> None:
    """djoin's account, site, certificate and policy options (shared with ``bulk``).

    With ``bulk=True`` the per-machine options (--default-password, --netbios) are left out: bulk
    generates and saves every password itself and takes names from its CSV.
    """
    from ppkgtool import MACHINE_PASSWORD_FORMS

    a = parser.add_argument_group("account")
    a.add_argument("--machine-ou", "--machineou", metavar="DN",
                   help="create the account in this OU (default: the domain's Computers container)")
    a.add_argument("--reuse", action="store_true",
                   help="reuse an existing account: reset its password (without it, an existing account is error 2224)")
    if not bulk:
        a.add_argument("--default-password", "--defpwd", dest="default_password", action="store_true",
                       help="use the machine name in lower case as the password instead of a random one")
        a.add_argument("--netbios", metavar="NAME", help="NetBIOS name when --machine is a longer DNS host name")
    a.add_argument("--password-form", choices=MACHINE_PASSWORD_FORMS, default="compact" if bulk else "windows",
                   help="the generated machine password: 'windows' = 120 random UTF-16 characters as djoin makes; "
                        "'compact' = 64 random ASCII characters (about 414 bits), which a DC turns into Kerberos "
                        "keys in about 40%% less time (default: %(default)s)")
    a.add_argument("--psite", metavar="SITE", help="persistent site for the computer (JOIN_PROVIDER2)")
    a.add_argument("--dsite", metavar="SITE", help="default site for the computer (JOIN_PROVIDER2)")
    a.add_argument("--primarydns", metavar="DOMAIN", help="the computer's primary DNS domain (JOIN_PROVIDER2)")
    x = parser.add_argument_group("certificates and policies in the blob")
    x.add_argument("--rootcacerts", action="store_true",
                   help="include the root CA certificates published in AD (CERT_PROVIDER)")
    x.add_argument("--certtemplate", metavar="NAME", help="certificate template to enroll (checked to exist)")
    x.add_argument("--policynames", metavar="'A;B'",
                   help="GPO display names whose Machine\\Registry.pol go into the blob (POLICY_PROVIDER)")
    x.add_argument("--policypaths", metavar="'P;Q'", help="local Registry.pol files to include")


def request_defaults_from_args(args) -> dict:
    """ProvisionRequest fields from the account options, except ``machine``, ``password`` and
    ``reuse`` (a caller passes those per machine): ``ProvisionRequest(machine=..., **defaults)``."""
    return {"machine_ou": args.machine_ou, "default_password": getattr(args, "default_password", False),
            "rootcacerts": args.rootcacerts, "certtemplate": args.certtemplate,
            "policynames": _split_list(args.policynames), "policypaths": _split_list(args.policypaths),
            "netbios": getattr(args, "netbios", None), "psite": args.psite, "dsite": args.dsite,
            "primarydns": args.primarydns, "password_form": args.password_form}


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser

    p = command_parser(sub, "provision", "create the computer account in AD and emit its ODJ blob",
                       description="Create (or with --reuse, reset) a computer account on a writable DC and "
                                   "write its offline domain join blob, like djoin /provision. The DC "
                                   "connection is always TLS-protected.")
    p.epilog = EXAMPLES + "\n" + (p.epilog or "")
    p.add_argument("--domain", required=True, metavar="DOMAIN", help="the domain to join (DNS or NetBIOS name)")
    p.add_argument("--machine", required=True, metavar="NAME", help="the computer's name (NetBIOS, 1-15 characters)")
    add_dc_options(p)
    add_account_options(p)
    o = p.add_argument_group("output (at least one)")
    o.add_argument("--savefile", metavar="FILE", help="write the blob as djoin does (UTF-16 base64, mode 0600)")
    o.add_argument("--printblob", action="store_true",
                   help="print the blob as base64 on stdout (it carries the machine password: needs --show-secrets)")
    o.add_argument("--show-secrets", action="store_true", help="allow --printblob to print the blob")
    o.add_argument("--unattend", metavar="FILE", help="write an unattend.xml with the blob (AccountData, mode 0600)")
    o.add_argument("--overwrite", action="store_true", help="replace existing output files")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import ProvisionRequest
    from ppkgtool.cli.output import Reporter
    from ppkgtool import check_writable, write_bytes_atomic
    from ppkgtool import to_base64, to_savefile, unattend_document

    rep = Reporter(json_mode=args.json)
    if not (args.savefile or args.printblob or args.unattend):
        raise UsageError("say where the blob goes: --savefile FILE, --printblob or --unattend FILE")
    outputs = [f for f in (args.savefile, args.unattend) if f]
    if args.savefile and args.unattend and os.path.abspath(args.savefile) == os.path.abspath(args.unattend):
        raise UsageError("--savefile and --unattend name the same file")
    for f in outputs:  # fail before any account is created
        check_writable(f, overwrite=args.overwrite)
    from ppkgtool.cli.cmd_odj_compose import require_show_secrets
    require_show_secrets(args)
    req = ProvisionRequest(machine=args.machine, reuse=args.reuse, **request_defaults_from_args(args))

    written: list[str] = []

    def deliver(result) -> None:
        try:
            if args.savefile:
                write_bytes_atomic(args.savefile, to_savefile(result.blob), overwrite=args.overwrite, private=True)
                written.append(args.savefile)
            if args.unattend:
                write_bytes_atomic(args.unattend, unattend_document(result.blob), overwrite=args.overwrite,
                                   private=True)
                written.append(args.unattend)
        except BaseException:
            for f in written:  # all or nothing: the account is about to be removed
                with contextlib.suppress(OSError):
                    os.unlink(f)
            raise

    with connect_from_args(args, domain=args.domain, pool_size=1, warn=rep.warn) as session:
        result = session.provision(req, deliver=deliver)
        facts = session.domain_facts()

    if args.json:
        doc = {"domain": facts.dns_domain, "netbios_domain": facts.netbios_name, "dc": facts.dc_name,
               **result.summary(), "savefile": args.savefile, "unattend": args.unattend,
               "password": "default" if args.default_password else "random",
               "password_form": None if args.default_password else args.password_form}
        if args.printblob:
            doc["blob_base64"] = to_base64(result.blob)
        rep.json(doc)
        return 0
    if args.printblob:
        rep.stdout.write(to_base64(result.blob) + "\n")
        if not written:
            return 0
        rep.stdout = rep.stderr  # keep stdout to the blob alone
    verb = "reused (password reset)" if result.reused else "created"
    rep.fields([("Computer", f"{result.sam_account_name} {verb}"), ("Account", result.dn),
                ("SID", result.sid), ("Object GUID", str(result.object_guid)),
                ("Domain", f"{facts.dns_domain} ({facts.netbios_name})"), ("DC", facts.dc_name),
                ("Parts", ", ".join(result.parts))] +
               [("Saved to", f) for f in written])
    return 0
