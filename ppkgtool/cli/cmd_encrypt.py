"""ppkgtool encrypt: Windows package encryption, or a standard CMS envelope for transport."""

from __future__ import annotations

from pathlib import Path

from ppkgtool.cli import add_common, command_parser
from ppkgtool.cli.output import Reporter
from ppkgtool.cli.fileargs import source_file, transform_file
from ppkgtool.errors import UsageError
from ppkgtool import add_secret_options, source_from_args

DESCRIPTION = """\
Encrypt a package in the exact format Windows decrypts (AES-128-CBC + HMAC-SHA256, like WCD's
"Encrypt package"). Windows asks for the password when the package is applied.

SECURITY: Windows' format has no key derivation - the password itself is the AES key, 1 to 16
printable ASCII characters. Use --generate-password (16 random letters and digits). To move a
package over untrusted media, seal it on top with --transport: a standard CMS envelope
(password: PBKDF2-HMAC-SHA256 600,000 iterations + AES-256; cert: RSA-OAEP + AES-256-GCM) that
'ppkgtool decrypt' and 'openssl cms -decrypt' open.

CATALOG: the catalog beside PKG (PKG.cat, or --catalog CAT) goes beside OUT as OUT.cat. An unsigned
one is re-made listing the plain package, its decrypted form and the encrypted file (verify needs no
password); a signed one is carried unchanged - it lists the plain package, which Windows checks
after decrypting, so 'verify OUT' needs the password (or run 'ppkgtool sign OUT' with the password
to list the encrypted file too). --no-catalog writes none. The same rule as 'build --encrypt'.

examples:
  ppkgtool encrypt corp.ppkg -o corp.enc.ppkg --generate-password
  ppkgtool encrypt corp.ppkg -o corp.enc.ppkg --password-file pw.txt
  ppkgtool encrypt corp.enc.ppkg -o corp.p7m --transport cert --recipient tech.pem
  ppkgtool encrypt corp.ppkg -o corp.p7m --transport password --password-env SEAL_PW
"""


def register(sub) -> None:
    p = command_parser(sub, "encrypt", "encrypt a package (Windows format) or seal it for transport", DESCRIPTION)
    p.add_argument("package", metavar="PKG", help="the package to encrypt (a plain .ppkg for the Windows format)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="file to write")
    add_secret_options(p, prefix="password", what="password")
    p.add_argument("--generate-password", action="store_true",
                   help="generate a random password and print it once (16 characters; 24 for --transport password)")
    p.add_argument("--transport", choices=["password", "cert"],
                   help="write a CMS envelope (.p7m) instead of the Windows format")
    p.add_argument("--recipient", action="append", default=[], metavar="CERT",
                   help="recipient certificate (RSA, PEM or DER) for --transport cert; repeatable")
    p.add_argument("--catalog", metavar="CAT", help="the package's catalog (default: PKG.cat beside it, if present)")
    p.add_argument("--no-catalog", action="store_true", help="write no catalog beside the output")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_common(p)
    p.set_defaults(func=run)


def _password(args, *, generate_length: int) -> tuple[str, bool]:
    if args.generate_password:
        if args.password_file or args.password_env:
            raise UsageError("--generate-password cannot be combined with --password-file/--password-env")
        import secrets
        import string
        from ppkgtool import generate_password
        if generate_length == 16:
            return generate_password(), True
        alphabet = string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(generate_length)), True
    return source_from_args(args, prefix="password", what="password", confirm=True).read(), False


def run(args) -> int:
    from ppkgtool import check_password, encrypt_package

    rep = Reporter(json_mode=args.json)
    src = source_file(args)
    generated = False
    doc: dict = {"input": str(src), "output": args.output}
    if args.transport == "cert":
        if not args.recipient:
            raise UsageError("--transport cert needs at least one --recipient CERT")
        if args.generate_password or args.password_file or args.password_env:
            raise UsageError("--transport cert takes no password")
        from ppkgtool import load_certificate_files, seal_for_recipients
        recipients = load_certificate_files(args.recipient)
        info = transform_file(src, args, lambda fin, fout: seal_for_recipients(fin, fout, recipients))
        doc.update(format="cms-authenveloped", **info.to_json())
    else:
        if args.recipient:
            raise UsageError("--recipient is for --transport cert")
        sealed = args.transport == "password"
        password, generated = _password(args, generate_length=24 if sealed else 16)
        if sealed:
            from ppkgtool import check_transport_password, seal_with_password
            check_transport_password(password)
            info = transform_file(src, args, lambda fin, fout: seal_with_password(fin, fout, password))
            doc.update(format="cms-authenveloped-pwri", **info.to_json())
        else:
            check_password(password)
            cat_in, cat_out = _catalog_paths(args, src)
            result = transform_file(src, args, lambda fin, fout: encrypt_package(fin, fout, password))
            doc.update(format="windows-ppkg-encrypted", plain_size=src.stat().st_size,
                       encrypted_size=Path(args.output).stat().st_size, padded_size=result.plain_size)
            if cat_in is not None:
                doc.update(_write_catalog(rep, args, src, cat_in, cat_out))
    if args.transport and (args.catalog or args.no_catalog):
        raise UsageError("--catalog/--no-catalog are for the Windows format, not --transport")
    if generated:
        doc["password"] = password  # asked for: shown once, never stored
    if args.json:
        rep.json(doc)
    else:
        rep.fields([(k.replace("_", " "), v) for k, v in doc.items() if k != "password"])
        if generated:
            rep.line(f"password: {password}")
            rep.warn("the password is shown only now: store it in a password manager")
    return 0


def _catalog_paths(args, src: Path):
    """(the input's catalog or None, OUT.cat); OUT.cat checked to be writable before anything is written."""
    from ppkgtool import check_writable, require_file
    from ppkgtool import catalog_path_for
    from ppkgtool import find_catalog

    if args.no_catalog:
        if args.catalog:
            raise UsageError("--catalog and --no-catalog exclude each other")
        return None, None
    cat_in = require_file(args.catalog, "catalog file") if args.catalog else find_catalog(src)
    if cat_in is None:
        return None, None
    cat_out = catalog_path_for(args.output)
    check_writable(cat_out, overwrite=args.overwrite)
    return cat_in, cat_out


def _write_catalog(rep, args, src: Path, cat_in: Path, cat_out: Path) -> dict:
    from ppkgtool import write_bytes_atomic
    from ppkgtool import catalog_for_encrypted

    try:
        data, how = catalog_for_encrypted(cat_in.read_bytes(), src, Path(args.output), source=str(cat_in))
        write_bytes_atomic(cat_out, data, overwrite=args.overwrite)
    except BaseException:   # no encrypted package without the catalog it was asked to carry
        Path(args.output).unlink(missing_ok=True)
        raise
    if how == "carried":
        rep.warn(f"{cat_out} is {cat_in} unchanged (signed): it lists the plain package, so 'ppkgtool verify "
                 f"{args.output}' needs the package password; 'ppkgtool sign {args.output} --password-file …' "
                 "re-signs it listing the encrypted file too")
    return {"catalog": str(cat_out), "catalog_from": str(cat_in), "catalog_how": how}
