"""ppkgtool odj facts: read a domain's facts from a DC into the file 'odj compose --facts' takes
(docs/commands/odj-show-compose.md)."""

from __future__ import annotations

EXAMPLES = """examples:
  ppkgtool odj facts --dc dc1.corp.example.com --ca-file corp-ca.pem \\
      --user reader@CORP.EXAMPLE.COM --password-file ~/.adpass -o corp-facts.json
  ppkgtool odj compose --facts corp-facts.json --machine BRANCH01 --rid 1105 --generate-password \\
      --savefile BRANCH01.odj

Only reads (rootDSE, an LDAP ping, the domain head and the NetBIOS name): no account is created.
The file holds no secret."""


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool.cli.dcopts import add_dc_options

    p = command_parser(sub, "facts", "read a domain's facts from a DC into a facts file for 'odj compose'",
                       description="Read the facts an ODJ blob carries about a domain (DNS and NetBIOS names, "
                                   "forest, SID, GUID, DC name, address, flags and sites) from a DC, as 'odj "
                                   "provision' does, and write them as the JSON file 'odj compose --facts' reads.")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.add_argument("--domain", metavar="DOMAIN", help="check that the DC serves this domain (DNS or NetBIOS name)")
    add_dc_options(p, method=False)
    p.add_argument("-o", "--output", metavar="FACTS.json", help="write the facts here (default: stdout only)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool.cli.dcopts import connect_from_args
    from ppkgtool.cli.output import Reporter, json_text
    from ppkgtool import check_writable, write_bytes_atomic

    rep = Reporter(json_mode=args.json)
    if args.output:
        check_writable(args.output, overwrite=args.overwrite)
    with connect_from_args(args, domain=args.domain, pool_size=1, warn=rep.warn) as session:
        facts = session.domain_facts().to_json()
    if args.output:
        write_bytes_atomic(args.output, (json_text(facts) + "\n").encode("utf-8"), overwrite=args.overwrite)
    if args.json or not args.output:
        rep.json(facts)
    else:
        rep.fields([(k.replace("_", " "), v) for k, v in facts.items()] + [("written to", args.output)])
    return 0
