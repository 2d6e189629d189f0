"""ppkgtool diff: what changed between two packages."""

from __future__ import annotations

from ppkgtool.errors import EXIT_OK


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool.cli.cmd_inspect import add_package_options

    p = command_parser(sub, "diff", "compare two packages: metadata, settings, files, commands",
                       description="Metadata, settings, files (by SHA-256), commands and certificates added, "
                                   "removed or changed from A to B. Exit code 0 whether or not they differ; "
                                   "the JSON field 'identical' says which.")
    p.add_argument("a", metavar="A.ppkg")
    p.add_argument("b", metavar="B.ppkg")
    add_package_options(p)
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import DIFF_SECTIONS, diff_packages
    from ppkgtool.cli.cmd_inspect import load_views
    from ppkgtool.cli.output import Reporter

    rep = Reporter(json_mode=args.json)
    a = load_views(args, [args.a], require_readable=True)
    b = load_views(args, [args.b], require_readable=True)
    doc = diff_packages(a, b, show_secrets=args.show_secrets)
    if args.json:
        rep.json(doc)
        return EXIT_OK
    if doc["identical"]:
        rep.line("the packages hold the same metadata, settings, files and commands")
        return EXIT_OK
    for image in (doc["images"] or [dict(doc, image=1)]):
        if doc["images"]:
            rep.heading(f"image {image['image']}" + (f" (only in {image['only_in']})" if image["only_in"] else ""))
        if image["metadata"]:
            rep.table(["field", "A", "B"], [(m["field"], m["a"], m["b"]) for m in image["metadata"]], title="Metadata")
        if image.get("only_source_differs"):
            rep.warn("the settings Windows applies are the same; only the embedded customizations.xml differs")
        for section, label, keyname in DIFF_SECTIONS:
            sec = image[section]
            show = _command_rows if section == "commands" else _rows
            rows = show(sec, keyname)
            if rows:
                title = "customizations.xml (the source, not applied)" if section == "source" else section.capitalize()
                rep.table(["", label, "A", "B"], rows, title=title)
    return EXIT_OK


def _rows(sec: dict, keyname: str) -> list[tuple]:
    rows = [("+", x[keyname], "", _fmt(x.get("b"))) for x in sec["added"]]
    rows += [("-", x[keyname], _fmt(x.get("a")), "") for x in sec["removed"]]
    rows += [("~", x[keyname], _fmt(x.get("a")), _fmt(x.get("b"))) for x in sec["changed"]]
    return rows


_COMMAND_LABELS = {"name": "name", "command_line": "command line", "command_file": "file", "options": "options",
                   "dependencies": "dependencies", "odj": "offline domain join"}


def _command_rows(sec: dict, keyname: str) -> list[tuple]:
    """A command per row and field ("command line: cmd /c …"): an added or removed command shows
    what it runs, a changed one only the fields that differ."""
    rows = []

    def cell(d: dict, field: str) -> str:
        return f"{_COMMAND_LABELS[field]}: {_fmt(d.get(field))}"

    for mark, side, entries in (("+", "b", sec["added"]), ("-", "a", sec["removed"])):
        for x in entries:
            fields = [f for f in _COMMAND_LABELS if f != "name" and x[side].get(f) not in (None, "", [], {})]
            for f in fields or ["command_line"]:
                c = cell(x[side], f)
                rows.append((mark, x[keyname], "" if side == "b" else c, c if side == "b" else ""))
    for x in sec["changed"]:
        for f in x.get("fields") or list(_COMMAND_LABELS):
            rows.append(("~", x[keyname], cell(x["a"], f), cell(x["b"], f)))
    return rows


def _fmt(v) -> str:
    """A value as readable text: ``k=v, …`` for a mapping (nested ones ``k=v k2=v2``), lists joined."""
    if v is None:
        return ""
    if isinstance(v, dict):
        return ", ".join(f"{k}={_flat(w)}" for k, w in v.items() if w not in (None, [], {}, ""))
    return _flat(v)


def _flat(v) -> str:
    if isinstance(v, dict):
        return " ".join(f"{k}={_flat(w)}" for k, w in v.items() if w not in (None, [], {}, ""))
    if isinstance(v, (list, tuple)):
        return " ".join(_flat(w) for w in v)
    return "" if v is None else str(v)
