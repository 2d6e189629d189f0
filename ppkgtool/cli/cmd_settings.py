"""ppkgtool settings: look settings up in WCD's settings store (docs/commands/settings.md)."""

from __future__ import annotations


from ppkgtool.errors import EXIT_OK

EXAMPLES = """examples:
  ppkgtool settings search bluetooth
  ppkgtool settings show Policies/Update/AllowAutoUpdate --json
  ppkgtool settings show 'Accounts/Users/User[@UserName=admin]/Password'
  ppkgtool settings show OOBE/Desktop/HideOobe --store-file Microsoft-Desktop-Provisioning.dat
  ppkgtool settings builds

The store is read from --store-file, else $PPKGTOOL_STORE_FILE, else the builtin build
--store-build (default $PPKGTOOL_STORE_BUILD, else the newest builtin)."""

DEFAULT_LIMIT = 50
def register(sub) -> None:
    from ppkgtool.cli import Parser, add_common, command_parser
    from ppkgtool.cli.storeargs import add_store_options

    p = command_parser(sub, "settings", "look settings up in WCD's settings store",
                       description="Search and show the settings Windows Configuration Designer offers, as "
                                   "its settings store (Microsoft-Desktop-Provisioning.dat) defines them: type, "
                                   "allowed values, range, default, scope and the CSP node or registry value "
                                   "each compiles to.")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.set_defaults(_group_parser=p)
    ssub = p.add_subparsers(dest="settings_command", metavar="SUBCOMMAND", parser_class=Parser)

    s = command_parser(ssub, "search", "settings whose path, name, target or value labels contain WORD")
    s.add_argument("word", metavar="WORD", help="text to look for (any case)")
    s.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"show at most N settings (default {DEFAULT_LIMIT}; 0: all)")
    add_store_options(s)
    add_common(s)
    s.set_defaults(func=run_search)

    sh = command_parser(ssub, "show", "everything the store says about one setting")
    sh.add_argument("path", metavar="PATH",
                    help="setting path as in customizations.xml, any case, e.g. Policies/Update/AllowAutoUpdate; "
                         "list keys like User[@UserName=x] are ignored")
    add_store_options(sh)
    add_common(sh)
    sh.set_defaults(func=run_show)

    b = command_parser(ssub, "builds", "the builtin settings stores and the default")
    add_common(b)
    b.set_defaults(func=run_builds)


def model_from_args(args):
    from ppkgtool import load_model

    return load_model(args.store_file, build=args.store_build)


def _type_name(d) -> str:
    return d.type.name.lower()


def _target_text(d) -> str:
    if d.target is None:
        return ""
    return f"{d.target.kind} {d.target.path}"


def _compiled(d):
    from ppkgtool import SettingsError, compiled_form

    try:
        form = compiled_form(d)
    except SettingsError as exc:
        return None, exc.one_line()
    return form, None


def show_document(d, model) -> dict:
    form, problem = _compiled(d)
    t = d.target
    return {
        "path": d.path, "name": d.name, "display_name": d.display_name,
        "type": _type_name(d), "type_code": int(d.type), "datatype": d.datatype,
        "values": [{"value": v, "label": label} for v, label in d.values],
        "minimum": d.minimum, "maximum": d.maximum, "default": d.default,
        "min_length": d.min_length, "max_length": d.max_length, "pattern": d.pattern,
        "scope": d.scope,
        "target": {"kind": t.kind, "path": t.path, "context_user": t.context_user} if t else None,
        "compiled": ({"characteristic": list(form.characteristic), "parm": form.parm, "scope": form.scope,
                      "datatype": form.datatype, "cert_hash": form.cert_hash} if form else None),
        "compile_problem": problem,
        "lists": [{"position": lv.position, "list": lv.list_name, "key": lv.key,
                   "keys": [{"key": c, "label": label} for c, label in lv.keys]} for lv in d.lists],
        "catalogue_pattern": d.pattern_text(),
        "extensions": list(d.extensions), "file_path": d.file_path, "serialization": d.serialization,
        "atomic_root": d.atomic_root, "group": d.group_template(),
        "required": d.required, "private": d.private, "secret": d.secret,
        "apply_passes": d.apply_passes, "apply_after": d.apply_after,
        "store": model.source.to_json(),
    }


def run_show(args) -> int:
    from ppkgtool.cli.storeargs import store_text
    from ppkgtool.cli.output import Reporter
    from ppkgtool import keyless_path

    rep = Reporter(json_mode=args.json)
    model = model_from_args(args)
    d = model.require(keyless_path(args.path))
    doc = show_document(d, model)
    if args.json:
        rep.json(doc)
        return EXIT_OK
    c = doc["compiled"]
    rng = ""
    if d.minimum is not None or d.maximum is not None:
        rng = f"{d.minimum if d.minimum is not None else '…'} to {d.maximum if d.maximum is not None else '…'}"
    lengths = ""
    if d.min_length is not None or d.max_length is not None:
        lengths = f"{d.min_length if d.min_length is not None else 0} to " \
                  f"{d.max_length if d.max_length is not None else '…'} characters"
    pairs = [("path", d.path), ("display name", d.display_name), ("type", f"{doc['type']} ({doc['type_code']})"),
             ("datatype", d.datatype), ("allowed", d.allowed_text()), ("range", rng), ("length", lengths),
             ("pattern", d.pattern), ("default", d.default), ("scope", d.scope),
             ("target", _target_text(d) or "(none)"),
             ("compiled", ("/".join(c["characteristic"]) + f" parm {c['parm']}") if c
              else (doc["compile_problem"] or "(no target)")),
             ("lists", ", ".join((f"{lv.list_name} keyed by {lv.key}" + (
                 " (" + ", ".join(label for _c, label in lv.keys) + ")" if lv.keys else ""))
                 if lv.key else f"{lv.list_name} by position" for lv in d.lists)),
             ("catalogue pattern", doc["catalogue_pattern"] if d.lists else ""),
             ("extensions", ", ".join(d.extensions)), ("file path", d.file_path),
             ("atomic group", doc["group"]), ("required", "yes" if d.required else ""),
             ("secret", "yes (redacted in reports)" if d.secret else ""),
             ("store", store_text(doc["store"]))]
    rep.fields([(k, v) for k, v in pairs if v not in (None, "")])
    if d.values:
        rep.table(["value", "label"], [(v, label) for v, label in d.values], title="Allowed values")
    return EXIT_OK


def run_search(args) -> int:
    from ppkgtool.cli.output import Reporter
    from ppkgtool.errors import UsageError

    if args.limit < 0:
        raise UsageError("--limit must be 0 or more")
    rep = Reporter(json_mode=args.json)
    model = model_from_args(args)
    found = model.search(args.word)
    shown = found if args.limit == 0 else found[:args.limit]
    if args.json:
        rep.json({"word": args.word, "count": len(found), "shown": len(shown),
                  "settings": [{"path": d.path, "display_name": d.display_name, "type": _type_name(d),
                                "datatype": d.datatype, "scope": d.scope,
                                "target": ({"kind": d.target.kind, "path": d.target.path} if d.target else None)}
                               for d in shown],
                  "store": model.source.to_json()})
        return EXIT_OK
    rep.table(["setting", "type", "scope", "target"],
              [(d.path, _type_name(d), d.scope, _target_text(d)) for d in shown],
              title=f"{len(found)} settings matching {args.word!r} in {model.source.name}")
    if len(shown) < len(found):
        rep.line(f"({len(found) - len(shown)} more; --limit 0 shows all)")
    return EXIT_OK


def run_builds(args) -> int:
    import os

    from ppkgtool.cli.output import Reporter
    from ppkgtool import BUILD_ENV, STORE_ENV, builtin_models

    rep = Reporter(json_mode=args.json)
    default, models = builtin_models()
    builds = [{"name": name, "settings": len(m), "sha256": m.source.sha256 or None, "default": name == default}
              for name, m in models.items()]
    env = {STORE_ENV: os.environ.get(STORE_ENV) or None, BUILD_ENV: os.environ.get(BUILD_ENV) or None}
    if args.json:
        rep.json({"builds": builds, "default": default, "environment": env})
        return EXIT_OK
    rep.table(["build", "settings", "default", "sha256"],
              [(b["name"], b["settings"], "yes" if b["default"] else "", b["sha256"] or "") for b in builds],
              title="Builtin settings stores")
    for k, v in env.items():
        if v:
            rep.line(f"{k}={v} is set")
    return EXIT_OK
