"""ppkgtool export: a package's customizations.xml (like Export-ProvisioningPackage -AnswerFileOnly)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

EXAMPLES = """examples:
  ppkgtool export kiosk.ppkg -o customizations.xml
  ppkgtool export kiosk.ppkg --with-assets kiosk/      # + every file it names (MSI, scripts, certificates, ...)
  ppkgtool build kiosk/customizations.xml -o kiosk2.ppkg   # ... builds the same compiled content again
  ppkgtool export kiosk.ppkg --with-assets kiosk/ --reconstruct   # rebuilt from the provxml
  ppkgtool export kiosk.ppkg --settings --json        # the settings by customizations path
  ppkgtool export secret.ppkg -o c.xml --password-file pass.txt

The package's own Multivariant/0/customizations.xml is exported as it is; a package without one
gets one reconstructed from its provxml through the settings catalogue (settings the catalogue
does not know are listed as warnings). --with-assets DIR writes DIR/customizations.xml and the
files its settings name (DataAsset files; certificates and PFX from their provxml), each reference
rewritten to the file's path relative to DIR; ODJ blobs, PFX and key files are written 0600 and
never shown. Nothing existing is replaced without --overwrite."""

from ppkgtool import REDACTED_TEXT  # noqa: E402


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool import add_secret_options

    p = command_parser(sub, "export", "export a package's customizations.xml (answer file)",
                       description="Write the customizations.xml a package was built from, or rebuild one from "
                                   "its compiled settings.")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.add_argument("package", metavar="PKG", help="the .ppkg")
    out = p.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="FILE", help="write customizations.xml here (default: stdout)")
    out.add_argument("--with-assets", metavar="DIR",
                     help="write DIR/customizations.xml and every file it names (build DIR/customizations.xml "
                          "compiles the package again)")
    p.add_argument("--settings", action="store_true", help="list the settings by customizations path instead")
    p.add_argument("--reconstruct", action="store_true",
                   help="rebuild from the provxml even when the package has its own customizations.xml")
    p.add_argument("--catalogue", action="append", default=[], metavar="FILE", help="extra settings catalogue")
    from ppkgtool.cli.storeargs import add_store_options
    add_store_options(p)       # the settings model --reconstruct reads the provxml with (as build compiles)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--show-secrets", action="store_true", help="show secret values in --settings output")
    add_secret_options(p, prefix="password", what="package password")
    add_common(p)
    p.set_defaults(func=run)


@contextlib.contextmanager
def package_image(path: Path, password: str | None = None) -> Iterator[tuple[object, object]]:
    """(wim, image 1) of a package file, decrypted to a private temporary when it is encrypted."""
    from ppkgtool import open_package_wim, require_file
    from ppkgtool.errors import EncryptedPackageError
    require_file(path)
    wim, _encrypted, tmp = open_package_wim(path, password)
    try:
        if wim is None:
            raise EncryptedPackageError(f"{path} is encrypted", hint="give its password with --password-file "
                                                                     "or --password-env")
        yield wim, wim.image(1)
    finally:
        close = getattr(wim, "close", None)
        if close:
            close()
        if tmp:
            os.unlink(tmp)


def _xml_parts(wim, img) -> dict[str, bytes]:
    parts: dict[str, bytes] = {}
    blobs: dict[bytes, bytes] = {}      # entries sharing a blob share one bytes object (read once)
    for f in img.files():
        low = f.path.lower()
        if (low.endswith(".xml") or low.endswith(".provxml")) and f.size <= wim.budget.part:
            if f.sha1 not in blobs:
                blobs[f.sha1] = img.read(f.path)
            parts[f.path.lstrip("/")] = blobs[f.sha1]
    return parts


def read_package_parts(path: Path, password: str | None = None) -> tuple[dict[str, bytes], dict[str, str]]:
    """(XML parts of image 1 by package path, image properties) of a package file."""
    with package_image(path, password) as (wim, img):
        return _xml_parts(wim, img), dict(img.properties)


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
    from ppkgtool import settings_from_package
    from ppkgtool import has_secret_option, source_from_args
    import sys

    rep = Reporter(json_mode=args.json)
    password = source_from_args(args, what="package password").read() \
        if has_secret_option(args, prefix="password") else None
    from ppkgtool import load_model
    cat = load_catalogue(tuple(map(Path, args.catalogue)),
                         model=load_model(Path(args.store_file) if args.store_file else None, build=args.store_build))
    if args.with_assets:
        if args.settings:
            from ppkgtool.errors import UsageError
            raise UsageError("--with-assets and --settings exclude each other")
        return _run_with_assets(args, rep, cat, password)
    parts, props = read_package_parts(Path(args.package), password)
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
    from ppkgtool import export_answer_file
    exported = export_answer_file(parts, metadata_from_properties(props), catalogue=cat,
                                  reconstruct=args.reconstruct)
    data, how, settings = exported.customizations, exported.how, exported.settings
    for s in settings:
        if not s.known:
            rep.warn(f"not in the catalogue, left out: {s.instance} (from {s.source_file})")
    from ppkgtool import redact_customizations, secret_values_of
    secrets = secret_values_of(parts, catalogue=cat, settings=settings)
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


def _run_with_assets(args, rep, cat, password) -> int:
    """export --with-assets DIR: DIR/customizations.xml and the files it names, written together
    (ppkgtool.fsutil.output_set: all new or nothing; existing files only with --overwrite)."""
    import shutil

    from ppkgtool import Image, export_answer_file, output_set, secret_paths, secret_values_of
    from ppkgtool.errors import OutputExistsError

    dest = Path(args.with_assets)
    if dest.exists() and not dest.is_dir():
        raise OutputExistsError(f"{dest} exists and is not a folder", hint="give --with-assets a folder (created "
                                                                           "if missing)")
    with package_image(Path(args.package), password) as (wim, img):
        parts, props = _xml_parts(wim, img), dict(img.properties)
        entries = img.files()
        originals = {f.path.lstrip("/"): f.path for f in entries}
        sizes = {f.path.lstrip("/"): f.size for f in entries}
        exported = export_answer_file(parts, metadata_from_properties(props), catalogue=cat,
                                      reconstruct=args.reconstruct, with_assets=True, asset_sizes=sizes,
                                      secret_paths=secret_paths(Image(img)))
        secrets = secret_values_of(parts, catalogue=cat, settings=exported.settings)
        xml_path = dest / "customizations.xml"
        with output_set() as outs:
            # a customizations.xml holding passwords, keys or tokens is created 0600 (docs/security.md)
            with outs.open(xml_path, overwrite=args.overwrite, private=bool(secrets)) as fh:
                fh.write(exported.customizations)
            for a in exported.assets:
                with outs.open(dest / a.name, overwrite=args.overwrite, private=a.secret) as fh:
                    if a.data is not None:
                        fh.write(a.data)
                    else:
                        with contextlib.closing(img.open(originals[a.package_path])) as src:
                            shutil.copyfileobj(src, fh, 1 << 20)
    for s in exported.settings:
        if not s.known:
            rep.warn(f"not in the catalogue, left out: {s.instance} (from {s.source_file})")
    for problem in exported.problems:
        rep.warn(problem)
    build = f"ppkgtool build {xml_path} -o PKG.ppkg" + (
        f" --runtime-layout {exported.runtime_layout}" if exported.runtime_layout != "wcd" else "")
    if rep.json_mode:
        rep.json({"package": args.package, "output_dir": str(dest), "customizations": str(xml_path),
                  "how": exported.how, "bytes": len(exported.customizations), "private": bool(secrets),
                  "assets": [a.to_json() for a in exported.assets], "problems": list(exported.problems),
                  "runtime_layout": exported.runtime_layout, "build": build})
        return 0
    rep.line(f"{xml_path}: {exported.how} customizations.xml ({len(exported.customizations)} bytes"
             + (", written 0600: it holds secrets)" if secrets else ")"))
    if exported.assets:
        rep.table(["file", "setting", "bytes", "mode"],
                  [(str(dest / a.name), ", ".join(a.settings), a.size, "0600 (secret)" if a.secret else "")
                   for a in exported.assets],
                  title=f"{len(exported.assets)} asset file(s)")
    rep.line(f"build it again with: {build}")
    return 0
