"""ppkgtool rank: packages in precedence order, with the reason for each step."""

from __future__ import annotations

from ppkgtool.errors import EXIT_OK


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool.cli.cmd_inspect import add_package_options

    p = command_parser(sub, "rank", "order packages by precedence and say why",
                       description="Order packages as Windows layers them: owner type first (ITAdmin > "
                                   "MobileOperator > SystemIntegrator > OEM > SiliconVendor > Microsoft), then "
                                   "the higher rank (0-99) within an owner type, i.e. the higher ALTITUDE wins. "
                                   "Exact ties are flagged; the package given later wins them (an assumption, "
                                   "see docs/precedence.md). Packages whose ALTITUDE disagrees with their "
                                   "customizations.xml OwnerType/Rank are flagged.")
    p.add_argument("packages", nargs="+", metavar="PKG", help=".ppkg files, in the order they are installed")
    add_package_options(p, secrets=False)
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import rank as rank_packages
    from ppkgtool.cli.cmd_inspect import load_views
    from ppkgtool.cli.output import Reporter

    rep = Reporter(json_mode=args.json)
    ranking = rank_packages(load_views(args, args.packages, require_readable=False))
    if args.json:
        rep.json([r.to_json() for r in ranking])
        return EXIT_OK
    rep.table(["#", "package", "name", "owner type", "rank", "ALTITUDE", "why"],
              [(r.position, r.view.label, r.view.name or "", r.owner_type.name if r.owner_type else "?",
                "" if r.rank is None else r.rank, "" if r.altitude is None else r.altitude, r.reason)
               for r in ranking], title="Packages, highest precedence first")
    for r in ranking:
        for flag in r.flags:
            rep.warn(f"{r.view.label}: {flag}")
    return EXIT_OK
