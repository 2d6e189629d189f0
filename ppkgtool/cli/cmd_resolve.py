"""ppkgtool resolve: the effective configuration of several packages, per setting."""

from __future__ import annotations

from ppkgtool.errors import EXIT_OK


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool.cli.cmd_inspect import add_package_options

    p = command_parser(sub, "resolve", "the effective configuration of several packages, per setting",
                       description="For every setting the packages set: the winning value, the package it "
                                   "comes from, and the values it overrode (which package, why). Multivariant "
                                   "settings are resolved per condition. --html writes a self-contained report.")
    p.add_argument("packages", nargs="+", metavar="PKG", help=".ppkg files, in the order they are installed")
    add_package_options(p)
    p.add_argument("--html", metavar="REPORT.html", help="also write a self-contained HTML report")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import resolve
    from ppkgtool.cli.cmd_inspect import load_views
    from ppkgtool.cli.output import Reporter
    from ppkgtool import check_writable, write_bytes_atomic

    rep = Reporter(json_mode=args.json)
    if args.html:
        check_writable(args.html, overwrite=args.overwrite)
    resolution = resolve(load_views(args, args.packages, require_readable=True))
    if args.html:
        from ppkgtool import render_report
        page = render_report(resolution, show_secrets=args.show_secrets)
        write_bytes_atomic(args.html, page.encode("utf-8"), overwrite=args.overwrite, private=args.show_secrets)
    doc = resolution.to_json(show_secrets=args.show_secrets)
    if args.json:
        if args.html:
            doc["html"] = str(args.html)
        rep.json(doc)
        return EXIT_OK
    rep.table(["#", "package", "owner type", "rank", "ALTITUDE"],
              [(p["position"], p["path"], p["owner_type"] or "?", p["rank"], p["altitude"]) for p in doc["packages"]],
              title="Packages, highest precedence first")
    rows = []
    for s in doc["settings"]:
        over = "; ".join(f"{o['value']!s} from {o['package']}" + (f" as {o['path']}" if o["path"] != s["path"] else "")
                         + f" ({o['reason']})" for o in s["overridden"])
        setting = s["path"] + (f" (one node with {', '.join(s['settings'][1:])})" if len(s["settings"]) > 1 else "")
        rows.append((setting, s["condition"] or "", s["value"], s["package"], over))
    rep.table(["setting", "condition", "value", "from", "overridden"], rows, title="Effective settings")
    if doc["per_package"]:
        rep.table(["package", "setting", "value"], [(s["package"], s["path"], s["value"]) for s in doc["per_package"]],
                  title="Per-package settings (commands: none overrides another)")
    for p in doc["packages"]:
        for flag in p["flags"]:
            rep.warn(f"{p['path']}: {flag}")
    if args.html:
        rep.line(f"report written to {args.html}")
    return EXIT_OK
