"""ppkgtool pack DIR -o OUT.ppkg [...]: a folder laid out as a package becomes a .ppkg with Microsoft's
container parameters (docs/commands/extract-pack.md)."""

from __future__ import annotations

import os

from ppkgtool.cli import add_common, command_parser
from ppkgtool.cli.output import Reporter
from ppkgtool.errors import UsageError
from ppkgtool import large_output
from ppkgtool import OwnerType

DESCRIPTION = """\
Pack DIR, a folder laid out as a package (Multivariant/, CommonSettings/, DataAsset/ ... as
'ppkgtool extract' writes them), into a .ppkg: a WIM v1.13 with XPRESS 32 KiB chunks, reparse
point fixup, one image, no integrity table - the parameters Microsoft's tools use.

The image properties (NAME, DESCRIPTION, VERSION, ALTITUDE = owner-type base + rank, PACKAGEID,
NOTES, RESETCLEAR) come from Multivariant/0/customizations.xml PackageConfig where present; the
options override them (the file itself is not changed; a warning says when they differ).
Links in DIR are refused. The files are packed as they are: no settings are compiled (use
'ppkgtool build' for that). On a terminal, folders of 32 MiB or more show a progress bar (stderr)."""


def register(sub) -> None:
    p = command_parser(sub, "pack", "pack a folder laid out as a package into a .ppkg", DESCRIPTION)
    p.add_argument("folder", metavar="DIR", help="the package folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT.ppkg", help="the package to write")
    p.add_argument("--name", help="package name (PackageConfig/Name; default: from the folder)")
    p.add_argument("--description", help="package description")
    p.add_argument("--owner-type", metavar="T",
                   help="owner type: " + ", ".join(m.name for m in OwnerType) + " (default OEM)")
    p.add_argument("--rank", metavar="R", help="rank 0-99 (default 0)")
    p.add_argument("--package-id", metavar="GUID", help="package ID {xxxxxxxx-...} (default: from the folder)")
    p.add_argument("--version", metavar="V", help="package version, e.g. 1.0 or 1.2.3.4")
    p.add_argument("--notes", metavar="TEXT",
                   help="NOTES image property, verbatim (default: VERSION=ppkgtool;Source=CLI;...;PackageID=...)")
    p.add_argument("--reproducible", action="store_true",
                   help="byte-identical output for the same folder: fixed time (SOURCE_DATE_EPOCH or "
                        "2000-01-01) and a WIM GUID derived from the content")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import pack_folder

    rep = Reporter(json_mode=args.json)
    folder = os.path.realpath(args.folder)
    out_real = os.path.realpath(args.output)
    if out_real == folder or out_real.startswith(folder + os.sep):
        raise UsageError(f"the output {args.output} is inside the folder being packed",
                         hint="write the package somewhere else")
    from ppkgtool import secret_paths
    from ppkgtool import Folder, Image
    private = bool(secret_paths(Image(Folder(args.folder))))     # credentials inside: the package is 0600
    with rep.byte_progress(f"packing {os.path.basename(args.output)}") as progress, \
            large_output(args.output, overwrite=args.overwrite, private=private) as fh:
        result = pack_folder(args.folder, fh, name=args.name, description=args.description,
                             owner_type=args.owner_type, rank=args.rank, package_id=args.package_id,
                             version=args.version, notes=args.notes, reproducible=args.reproducible,
                             progress=progress.wanted)
    for w in result.warnings:
        rep.warn(w)
    sha256 = result.stats.digests["sha256"].hex()     # computed while the package was written
    if args.json:
        doc = {"output": args.output, "size": result.stats.size, "sha256": sha256}
        doc.update(result.to_json())
        rep.json(doc)
    else:
        md = result.metadata
        rep.fields([
            ("package", args.output),
            ("name", md.name),
            ("package id", "{" + str(md.package_id) + "}"),
            ("version", md.version),
            ("owner type / rank", f"{md.owner_type.name} / {md.rank} (ALTITUDE {md.altitude})"),
            ("files", f"{result.stats.files} in {result.stats.directories} folders, {result.stats.total_bytes} bytes"),
            ("size", f"{result.stats.size} bytes ({result.stats.codec} XPRESS)"),
            ("sha256", sha256),
        ])
    return 0
