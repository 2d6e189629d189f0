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
    from ppkgtool import diff_packages
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
        for section, keyname in (("settings", "path"), ("files", "path"), ("commands", "command"),
                                 ("certificates", "certificate"), ("policies", "policy"), ("source", "path")):
            sec = image[section]
            rows = [("+", x[keyname], "", _fmt(x.get("b"))) for x in sec["added"]]
            rows += [("-", x[keyname], _fmt(x.get("a")), "") for x in sec["removed"]]
            rows += [("~", x[keyname], _fmt(x.get("a")), _fmt(x.get("b"))) for x in sec["changed"]]
            if rows:
                title = "customizations.xml (the source, not applied)" if section == "source" else section.capitalize()
                rep.table(["", SINGULAR[section], "A", "B"], rows, title=title)
    return EXIT_OK


SINGULAR = {"settings": "setting", "files": "file", "commands": "command", "certificates": "certificate",
            "policies": "policy", "source": "setting"}


def _fmt(v) -> str:
    """A value as readable text: nested mappings as k=v, lists joined, never a Python repr."""
    if v is None:
        return ""
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(w)}" if not isinstance(w, dict) else f"{k}: ({_fmt(w)})"
                         for k, w in v.items() if w not in (None, [], {}, ""))
    if isinstance(v, (list, tuple)):
        return "; ".join(_fmt(w) for w in v)
    return str(v)
