"""ppkgtool deploy: place a package where Windows picks it up (docs/commands/deploy-request.md)."""

from __future__ import annotations

from ppkgtool.cli.output import Reporter


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser

    p = command_parser(
        sub, "deploy", "place a package where Windows picks it up (USB root, image)",
        description="Copy a package to the root of a USB/SD medium (applied at OOBE), into an offline image's "
                    "Recovery\\Customizations (applied during setup), or its ProgramData\\Microsoft\\Provisioning. "
                    "Copies are written atomically and verified by SHA-256; re-running with the same package "
                    "changes nothing.")
    p.add_argument("package", metavar="PKG", help="the .ppkg to deploy")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--usb", metavar="DIR", help="root of the USB/SD medium (its mount point)")
    where.add_argument("--image", metavar="ROOT",
                       help="root of a mounted or applied Windows image (holds Windows/System32/config/SYSTEM)")
    p.add_argument("--programdata", action="store_true",
                   help="with --image: use ProgramData/Microsoft/Provisioning instead of Recovery/Customizations")
    p.add_argument("--catalog", metavar="CAT", help="security catalog (.cat) to copy beside the package")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a different file of the same name at the destination")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import deploy_image, deploy_usb
    from ppkgtool.errors import UsageError

    if args.programdata and not args.image:
        raise UsageError("--programdata needs --image ROOT")
    if args.usb:
        placement = deploy_usb(args.package, args.usb, catalog=args.catalog, overwrite=args.overwrite)
    else:
        placement = deploy_image(args.package, args.image, programdata=args.programdata,
                                 catalog=args.catalog, overwrite=args.overwrite)
    out = Reporter(json_mode=args.json)
    for w in placement.warnings:
        out.warn(w)
    if args.json:
        out.json(placement.to_json())
        return 0
    state = "copied and verified" if placement.copied else "already present (identical), nothing changed"
    rows = [("target", placement.target.value), ("destination", placement.destination),
            ("size", placement.size), ("sha256", placement.sha256), ("result", state)]
    if placement.catalog_destination is not None:
        rows.append(("catalog", f"{placement.catalog_destination} "
                                f"({'copied' if placement.catalog_copied else 'already present'})"))
    if placement.filesystem:
        rows.append(("file system", placement.filesystem))
    out.fields(rows)
    return 0
