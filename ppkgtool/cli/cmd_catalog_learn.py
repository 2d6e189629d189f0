"""ppkgtool catalog learn: grow the settings catalogue from packages built by Microsoft's tools."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = """examples:
  ppkgtool catalog learn wcd-built.ppkg -o my-catalogue.json
  ppkgtool catalog learn *.ppkg -o my-catalogue.json --json
  ppkgtool build customizations.xml -o out.ppkg --catalogue my-catalogue.json

Each package must carry its customizations.xml (WCD and icd.exe embed it). Every mapping the
pair proves is recorded with the package as evidence; an existing -o file is extended. Evidence
that contradicts the catalogue is reported (exit 3) and never merged."""


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool import add_secret_options

    p = command_parser(sub, "learn", "learn setting mappings from packages built by Microsoft tools",
                       description="Pair each package's customizations.xml with its compiled provxml and record "
                                   "the mappings they prove (path, characteristic, parm, datatype, value "
                                   "translation, SettingsGroup id, scope).")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.add_argument("packages", nargs="+", metavar="PKG", help="packages built by WCD or icd.exe")
    p.add_argument("-o", "--output", metavar="CATALOGUE.json",
                   help="write the learned entries here (extended if it exists)")
    p.add_argument("--catalogue", action="append", default=[], metavar="FILE",
                   help="also check against this catalogue file")
    add_secret_options(p, prefix="password", what="package password")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool.cli.cmd_export import read_package_parts
    from ppkgtool.cli.output import Reporter
    from ppkgtool.errors import EXIT_INVALID_INPUT
    from ppkgtool import write_bytes_atomic
    from ppkgtool import Catalogue, load_catalogue, parse_catalogue
    from ppkgtool import learn_packages
    from ppkgtool import has_secret_option, source_from_args

    rep = Reporter(json_mode=args.json)
    password = source_from_args(args, what="package password").read() \
        if has_secret_option(args, prefix="password") else None
    base = load_catalogue(tuple(map(Path, args.catalogue)))
    out_path = Path(args.output) if args.output else None
    existing: list = []
    if out_path is not None and out_path.exists():
        existing = parse_catalogue(out_path.read_bytes(), origin=str(out_path))
        for e in existing:
            base.add(e, replace=False)
    packages = []
    for pkg in args.packages:
        parts, _props = read_package_parts(Path(pkg), password)
        packages.append((Path(pkg).name, parts))
    result = learn_packages(packages, base)
    conflicts = result.conflicts + base.conflicts
    if out_path is not None and (result.entries or not out_path.exists()):
        out = Catalogue(existing)
        for e in result.entries:
            out.add(e)
        write_bytes_atomic(out_path, out.dumps().encode("utf-8"), overwrite=True)
    if rep.json_mode:
        doc = result.to_json()
        doc["conflicts"] = [c.describe() for c in conflicts]
        doc["output"] = str(out_path) if out_path else None
        rep.json(doc)
    else:
        rep.fields([("packages", len(packages)), ("settings seen", result.observations),
                    ("confirmed", len(result.confirmed)), ("new mappings", len(result.entries)),
                    ("conflicts", len(conflicts)), ("unpaired", len(result.unmatched))])
        for e in result.entries:
            rep.line(f"new: {e.path} -> {', '.join('/'.join(o.characteristic) + '/' + o.parm for o in e.outputs) or 'asset ' + (e.asset.path if e.asset else '')}")
        for u in result.unmatched:
            rep.warn(f"could not pair: {u}")
        if out_path:
            rep.line(f"catalogue: {out_path}")
    for c in conflicts:
        if not rep.json_mode:
            rep.warn("conflict: " + c.describe())
    return EXIT_INVALID_INPUT if conflicts else 0
