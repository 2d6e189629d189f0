"""ppkgtool export: a package's customizations.xml (like Export-ProvisioningPackage -AnswerFileOnly)."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = """examples:
  ppkgtool export kiosk.ppkg -o customizations.xml
  ppkgtool export kiosk.ppkg --settings --json        # the settings by customizations path
  ppkgtool export secret.ppkg -o c.xml --password-file pass.txt
  ppkgtool export kiosk.ppkg --with-assets kiosk-src     # + its asset files; then: ppkgtool build kiosk-src/customizations.xml -o new.ppkg

The package's own Multivariant/0/customizations.xml is exported as it is; a package without one
gets one reconstructed from its provxml through the settings catalogue (settings the catalogue
does not know are listed as warnings)."""

from ppkgtool import REDACTED_TEXT  # noqa: E402


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool import add_secret_options

    p = command_parser(sub, "export", "export a package's customizations.xml (answer file)",
                       description="Write the customizations.xml a package was built from, or rebuild one from "
                                   "its compiled settings.")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.add_argument("package", metavar="PKG", help="the .ppkg")
    p.add_argument("-o", "--output", metavar="FILE", help="write customizations.xml here (default: stdout)")
    p.add_argument("--with-assets", metavar="DIR",
                   help="write customizations.xml and every asset file it refers to into DIR (created), with the "
                        "references pointing at the files beside it, so 'ppkgtool build DIR/customizations.xml' "
                        "rebuilds the package")
    p.add_argument("--settings", action="store_true", help="list the settings by customizations path instead")
    p.add_argument("--reconstruct", action="store_true",
                   help="rebuild from the provxml even when the package has its own customizations.xml")
    p.add_argument("--catalogue", action="append", default=[], metavar="FILE", help="extra settings catalogue")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--show-secrets", action="store_true", help="show secret values in --settings output")
    add_secret_options(p, prefix="password", what="package password")
    add_common(p)
    p.set_defaults(func=run)


def read_package_parts(path: Path, password: str | None = None, *,
                       with_assets: bool = False) -> tuple[dict[str, bytes], dict[str, str]]:
    """(XML parts of image 1 by package path, image properties) of a package file; with
    ``with_assets`` also the DataAsset payloads."""
    from ppkgtool import open_package_wim, require_file
    from ppkgtool.errors import EncryptedPackageError
    require_file(path)
    wim, _encrypted, tmp = open_package_wim(path, password)
    try:
        if wim is None:
            raise EncryptedPackageError(f"{path} is encrypted", hint="give its password with --password-file "
                                                                     "or --password-env")
        img = wim.image(1)
        parts: dict[str, bytes] = {}
        blobs: dict[bytes, bytes] = {}      # entries sharing a blob share one bytes object (read once)
        for f in img.files():
            low = f.path.lower()
            asset = with_assets and low.lstrip("/").startswith("dataasset/")
            if asset or ((low.endswith(".xml") or low.endswith(".provxml")) and f.size <= wim.budget.part):
                if f.sha1 not in blobs:
                    blobs[f.sha1] = img.read(f.path)
                parts[f.path.lstrip("/")] = blobs[f.sha1]
        return parts, dict(img.properties)
    finally:
        close = getattr(wim, "close", None)
        if close:
            close()
        if tmp:
            import os
            os.unlink(tmp)


def metadata_from_properties(props: dict[str, str]):
    from ppkgtool import OwnerType, PackageMetadata, check_package_id, parse_altitude
    pid = check_package_id(props.get("PACKAGEID", ""))
    split = OwnerType.from_altitude(parse_altitude(props.get("ALTITUDE")) or 0) or (OwnerType.OEM, 0)
    return PackageMetadata(package_id=pid, name=props.get("NAME") or "package", version=props.get("VERSION") or "1.0",
                           owner_type=split[0], rank=split[1], description=props.get("DESCRIPTION", ""))


def run(args) -> int:
    from ppkgtool.cli.output import Reporter
    from ppkgtool import write_bytes_atomic
    from ppkgtool import load_catalogue
    from ppkgtool import (export_customizations, normalize_files, reconstruct_customizations,
                                         settings_from_package, settings_from_provxml)
    from ppkgtool import has_secret_option, source_from_args
    import sys

    rep = Reporter(json_mode=args.json)
    password = source_from_args(args, what="package password").read() \
        if has_secret_option(args, prefix="password") else None
    parts, props = read_package_parts(Path(args.package), password, with_assets=bool(args.with_assets))
    cat = load_catalogue(tuple(map(Path, args.catalogue)))
    if args.settings:
        settings = settings_from_package(parts, catalogue=cat, prefer_embedded=not args.reconstruct)
        if rep.json_mode:
            rep.json({"package": args.package, "settings": [s.to_json(show_secrets=args.show_secrets)
                                                            for s in settings]})
        else:
            rep.table(["setting", "value", "scope", "from"],
                      [(s.instance or s.path, "<redacted>" if s.secret and not args.show_secrets else s.value,
                        s.scope, s.source_file) for s in settings])
        return 0
    meta = metadata_from_properties(props)
    if args.reconstruct:
        settings = settings_from_provxml(normalize_files(parts), catalogue=cat)
        data, how = reconstruct_customizations(settings, meta), "reconstructed"
    else:
        data, how = export_customizations(parts, meta, catalogue=cat)
        settings = settings_from_provxml(normalize_files(parts), catalogue=cat) if how == "reconstructed" else []
    for s in settings:
        if not s.known:
            rep.warn(f"not in the catalogue, left out: {s.instance} (from {s.source_file})")
    from ppkgtool import redact_customizations, secret_values_of
    secrets = secret_values_of(parts, catalogue=cat, settings=settings)
    if args.with_assets:
        return _write_with_assets(rep, args, parts, data, how, secrets)
    if args.output:
        # a file holding passwords, keys or tokens is created 0600 (docs/security.md)
        write_bytes_atomic(args.output, data, overwrite=args.overwrite, private=bool(secrets))
        if rep.json_mode:
            rep.json({"package": args.package, "output": args.output, "how": how, "bytes": len(data),
                      "private": bool(secrets)})
        else:
            rep.line(f"{args.output}: {how} customizations.xml ({len(data)} bytes"
                     + (", written 0600: it holds secrets)" if secrets else ")"))
    else:
        if secrets and not args.show_secrets:
            data = redact_customizations(data, secrets)
            rep.warn(f"{len(secrets)} secret value(s) replaced by {REDACTED_TEXT}: write the file with -o FILE "
                     "(created 0600) or print them with --show-secrets")
        if rep.json_mode:
            rep.json({"package": args.package, "how": how, "customizations": data.decode("utf-8-sig")})
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.write(b"\n")
    return 0


def _write_with_assets(rep, args, parts, data: bytes, how: str, secrets) -> int:
    """DIR/customizations.xml + DIR/<asset> for each DataAsset payload, all written atomically and
    never replacing a file unless --overwrite; everything 0600 when the package holds secrets (an ODJ
    blob, a PFX and its password are among the assets)."""
    from ppkgtool import asset_files, point_at_local_assets, write_bytes_atomic
    from ppkgtool.errors import UsageError
    if args.output:
        raise UsageError("--with-assets DIR writes DIR/customizations.xml; leave out -o")
    out_dir = Path(args.with_assets)
    assets = asset_files(parts)
    xml, changed = point_at_local_assets(data, sorted(assets), source_name=f"{args.package}: customizations.xml")
    out_dir.mkdir(parents=True, exist_ok=True)
    private = bool(secrets) or bool(assets)
    written = []
    target = out_dir / "customizations.xml"
    write_bytes_atomic(target, xml, overwrite=args.overwrite, private=private)
    written.append(str(target))
    for name, blob in sorted(assets.items()):
        path = out_dir / name            # name is a bare file name (layout.safe_asset_file_name)
        write_bytes_atomic(path, blob, overwrite=args.overwrite, private=private)
        written.append(str(path))
    if rep.json_mode:
        rep.json({"package": args.package, "output": str(target), "how": how, "assets": sorted(assets),
                  "references_changed": changed, "files": written, "private": private})
    else:
        rep.line(f"{target}: {how} customizations.xml, {len(assets)} asset file(s) beside it "
                 f"({changed} reference(s) now point at them)" + (", written 0600" if private else ""))
        rep.line(f"rebuild with: ppkgtool build {target} -o NEW.ppkg")
    return 0
