"""ppkgtool explain-log: what a Provisioning-Diagnostics-Provider/Admin log says happened."""

from __future__ import annotations

from ppkgtool.errors import EXIT_OK


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser

    p = command_parser(sub, "explain-log", "explain an exported provisioning event log (EVTX or wevtutil XML)",
                       description="Read an export of Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin "
                                   "(an .evtx file, or the XML of 'wevtutil qe "
                                   "Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin /f:xml') and tell, "
                                   "per package and setting, what applied, failed (event 12, at which CSP node "
                                   "and with which HRESULT), was ignored (13: not on this OS build) or was "
                                   "skipped (23).")
    p.add_argument("export", metavar="EXPORT", help="the .evtx or .xml export")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import explain_file
    from ppkgtool.cli.output import Reporter

    rep = Reporter(json_mode=args.json)
    result = explain_file(args.export)
    doc = result.to_json()
    if args.json:
        rep.json(doc)
        return EXIT_OK
    s = doc["summary"]
    rep.fields([("export", f"{args.export} ({doc['format']}, {doc['events']} provisioning events)"),
                ("packages", s["packages"]), ("failed packages", s["failed_packages"]),
                ("skipped packages", s["skipped_packages"]), ("failed settings", s["failed_settings"]),
                ("ignored settings", s["ignored_settings"])])
    for p in doc["packages"]:
        head = f"package {p['name'] or '?'} {p['id'] or ''}: {p['status']}"
        if p["hresult"]:
            head += f" ({p['hresult']})"
        rep.heading(head)
        if p["settings"]:
            rep.table(["status", "category", "CSP node / setting", "HRESULT", "time"],
                      [(x["status"], x["category"] or "", x["node"] or "", x["hresult"] or "", x["time"] or "")
                       for x in p["settings"]])
    if doc["settings_outside_packages"]:
        rep.heading("settings outside any package")
        rep.table(["status", "category", "CSP node / setting", "HRESULT"],
                  [(x["status"], x["category"] or "", x["node"] or "", x["hresult"] or "")
                   for x in doc["settings_outside_packages"]])
    if not doc["packages"] and not doc["settings_outside_packages"]:
        rep.line("no provisioning package events in this export")
    return EXIT_OK
