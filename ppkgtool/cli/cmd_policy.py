"""ppkgtool policy: write a machine Registry.pol from a list, and show one (docs/commands/policy.md)."""

from __future__ import annotations

EXAMPLES = """examples:
  ppkgtool policy write policies.txt -o Machine/Registry.pol
  ppkgtool policy show Machine/Registry.pol --json > policies.json
  ppkgtool policy write policies.json -o Registry.pol --overwrite
  ppkgtool build customizations.xml -o pc.ppkg --policy Machine/Registry.pol

policies.txt holds one value per line, KEY;NAME;TYPE;VALUE (# comments):
  Software\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU;NoAutoRebootWithLoggedOnUsers;REG_DWORD;1
  HKLM\\Software\\Policies\\Example\\Branch;Region;REG_SZ;EMEA
  Software\\Policies\\Example\\Branch;Old;DELETE
TYPE: REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_QWORD (decimal or 0x), REG_MULTI_SZ (a|b|c), REG_BINARY
(hex), or the actions DELETE and DELETEALLVALUES. A JSON list as 'policy show --json' prints it is
read as well."""


def register(sub) -> None:
    from ppkgtool.cli import Parser, add_common, command_parser

    p = command_parser(sub, "policy", "write a Registry.pol from a text or JSON list, or show one",
                       description="Registry.pol files (the Group Policy registry format LGPO and gpedit write) "
                                   "for 'build --policy': written from a plain list, shown value by value.")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.set_defaults(_group_parser=p)
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", parser_class=Parser)
    w = command_parser(psub, "write", "write a Registry.pol from a text or JSON list")
    w.epilog = EXAMPLES + "\n\n" + (w.epilog or "")
    w.add_argument("source", metavar="LIST", help="KEY;NAME;TYPE;VALUE lines, or a JSON list ('-' for stdin)")
    w.add_argument("-o", "--output", required=True, metavar="Registry.pol", help="the file to write")
    w.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_common(w)
    w.set_defaults(func=run_write)
    s = command_parser(psub, "show", "show the values of a Registry.pol")
    s.add_argument("pol", metavar="Registry.pol")
    s.add_argument("--text", action="store_true", help="print the list 'policy write' reads back")
    add_common(s)
    s.set_defaults(func=run_show)


#: the largest list read (a Registry.pol is at most regpol.MAX_POL)
MAX_LIST = 16 * 1024 * 1024


def run_write(args) -> int:
    from ppkgtool.cli.fileargs import read_bounded
    from ppkgtool.cli.output import Reporter
    from ppkgtool import write_bytes_atomic
    from ppkgtool import build_registry_pol, parse_policy_list

    rep = Reporter(json_mode=args.json)
    values = parse_policy_list(read_bounded(args.source, MAX_LIST, stdin=True), source_name=args.source)
    write_bytes_atomic(args.output, build_registry_pol(values), overwrite=args.overwrite)
    if args.json:
        rep.json({"output": str(args.output), "values": [v.to_json() for v in values]})
    else:
        rep.line(f"{args.output}: {len(values)} values")
    return 0


def run_show(args) -> int:
    from ppkgtool.cli.fileargs import read_bounded
    from ppkgtool.cli.output import Reporter
    from ppkgtool import MAX_POL, parse_registry_pol, policy_list_text

    rep = Reporter(json_mode=args.json)
    values = parse_registry_pol(read_bounded(args.pol, MAX_POL, name=args.pol))
    if args.json:
        rep.json([dict(v.to_json(), data=v.data.hex()) for v in values])   # data: 'policy write' exact
    elif args.text:
        rep.stdout.write(policy_list_text(values))
    else:
        rep.table(["key", "value", "type", "data"],
                  [(v.key, v.value_name or "(Default)", v.type_name, v.shown_value() + (f" [{v.action}]" if v.action else ""))
                   for v in values],
                  title=f"{args.pol}: {len(values)} values")
    return 0
