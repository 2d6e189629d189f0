"""ppkgtool sign: write PKG.cat, an Authenticode-signed security catalog listing the package."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ppkgtool import catalog_path_for
from ppkgtool.cli import add_common, command_parser
from ppkgtool.cli.output import Reporter
from ppkgtool.errors import CatalogError, InvalidInputError, OutputExistsError, UsageError
from ppkgtool import write_bytes_atomic
from ppkgtool import SecretSource, add_secret_options, has_secret_option, source_from_args

DESCRIPTION = """\
Sign a package the way WCD's "Sign package" does: write a security catalog (.cat) whose members are
the package's SHA-1 and SHA-256, signed with your certificate (Authenticode signer info, SHA-256,
the certificate chain). Windows trusts it when the signer chains to a certificate in
TrustedProvisioners (see 'ppkgtool build-trust'); otherwise it asks the user for consent.

examples:
  ppkgtool sign corp.ppkg --cert signer.pfx --pfx-password-file pfx.txt
  ppkgtool sign corp.ppkg --cert signer.pem --key signer.key --chain intermediate.pem
"""


def register(sub) -> None:
    p = command_parser(sub, "sign", "sign a package (write a signed security catalog .cat)", DESCRIPTION)
    p.add_argument("package", metavar="PKG", help="the package (.ppkg) to sign")
    p.add_argument("--cert", required=True, metavar="CERT",
                   help="signer certificate: a .pfx/.p12 (with key), or a PEM/DER certificate with --key")
    p.add_argument("--key", metavar="KEY", help="the signer's private key (PEM or DER) when --cert is not a PFX")
    p.add_argument("--chain", metavar="CHAIN", help="PEM file with intermediate (and root) certificates to include")
    add_secret_options(p, prefix="pfx-password", what="PFX password")
    add_secret_options(p, prefix="key-password", what="private key password")
    p.add_argument("-o", "--output", metavar="CAT", help="catalog to write (default: PKG with .cat)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing signed catalog")
    p.add_argument("--description", metavar="TEXT", help="program name shown in the signature (SpcSpOpusInfo)")
    p.add_argument("--url", metavar="URL", help="more-information URL in the signature (SpcSpOpusInfo)")
    p.add_argument("--allow-any-usage", action="store_true",
                   help="sign with a certificate whose KeyUsage lacks digitalSignature (Windows provisioning "
                        "requires no usage; stricter verifiers refuse it)")
    p.add_argument("--allow-weak", action="store_true",
                   help="accept RSA keys of 1024-2047 bits and SHA-1-signed certificates")
    p.add_argument("--timestamp-url", metavar="URL",
                   help="RFC 3161 timestamping: not supported yet (refused)")
    add_secret_options(p, prefix="password", what="package password (to sign an encrypted package)")
    add_common(p)
    p.set_defaults(func=run)



def _lazy(args, prefix: str, what: str):
    """A password callable: read from --<prefix>-file/-env, else prompt only when needed."""
    def read() -> str:
        return source_from_args(args, prefix=prefix, what=what).read()
    return read


def run(args) -> int:
    from ppkgtool import parse_catalog
    from ppkgtool import looks_encrypted
    from ppkgtool import load_signer, sign_catalog, sign_package

    rep = Reporter(json_mode=args.json)
    if args.timestamp_url:
        raise UsageError("--timestamp-url is not supported yet: ppkgtool writes untimestamped catalogs, which "
                         "Windows checks against the signer's validity at install time",
                         hint="leave it out; renew the signer before it expires")
    from ppkgtool import require_file
    pkg = require_file(args.package)
    out = Path(args.output) if args.output else catalog_path_for(pkg)
    signer = load_signer(args.cert, args.key, args.chain, _lazy(args, "pfx-password", "PFX password"),
                         key_password=_lazy(args, "key-password", "private key password"),
                         allow_weak=args.allow_weak, allow_any_usage=args.allow_any_usage)
    for w in signer.warnings:
        rep.warn(w)

    with open(pkg, "rb") as fh:
        head = fh.read(16)
    size = pkg.stat().st_size
    targets = [pkg]
    tmp_dir = None
    try:
        if looks_encrypted(size, head):
            targets, tmp_dir = _decrypted_forms(args, pkg)
        replaced_unsigned = False
        catalog = None
        if out.exists() and not args.overwrite:
            try:
                existing = parse_catalog(out.read_bytes())
            except (CatalogError, OSError):
                existing = None
            from ppkgtool import hash_package
            if existing is not None and not existing.signed and len(targets) == 1 and \
                    existing.member_for(hash_package(pkg)) is not None:
                # the unsigned catalog ICD/ppkgtool build wrote: sign it, as WCD's signtool step does
                catalog = sign_catalog(out.read_bytes(), signer, program_name=args.description,
                                       more_info_url=args.url)
                replaced_unsigned = True
            else:
                raise OutputExistsError(f"{out} already exists", hint="pass --overwrite to replace it")
        if catalog is None:
            extra = targets[1:]
            catalog = sign_package(targets[0], signer, program_name=args.description, more_info_url=args.url,
                                   extra_packages=extra)
        write_bytes_atomic(out, catalog, overwrite=args.overwrite or replaced_unsigned)
    finally:
        if tmp_dir is not None:
            tmp_dir.cleanup()

    from ppkgtool import certificate_info
    info = certificate_info(signer.certificate, "signer")
    doc = {"package": str(pkg), "catalog": str(out), "signed_existing_catalog": replaced_unsigned,
           "signer": info, "chain": [certificate_info(c, "issuer") for c in signer.chain],
           "warnings": list(signer.warnings)}
    if args.json:
        rep.json(doc)
    else:
        rep.fields([("catalog", out), ("signer", info["subject"]), ("thumbprint", info["thumbprint"]),
                    ("key", info["key"]), ("valid until", info["not_after"]),
                    ("chain", " <- ".join([info["subject"]] + [c.subject.rfc4514_string() for c in signer.chain]))])
        if replaced_unsigned:
            rep.line(f"signed the existing unsigned catalog {out} (its list identifier is kept)")
        rep.line("install the trust package for this signer to skip the consent prompt: "
                 "ppkgtool build-trust --cert <signer.cer> -o trust.ppkg")
    return 0


def _decrypted_forms(args, pkg: Path):
    """An encrypted package: Windows checks the signature after decrypting [I], so the catalog lists
    the decrypted package (as written by ppkgtool, and as Windows writes it with its zero padding)
    and the encrypted file itself."""
    from ppkgtool import decrypt_package, trim_padding

    if not has_secret_option(args, prefix="password") and not _tty():
        raise InvalidInputError(f"{pkg} is encrypted: Windows checks the signature of the decrypted package",
                                hint="give its password with --password-file or --password-env, or sign "
                                     "before encrypting (ppkgtool build --sign-cert ... --encrypt)")
    password = SecretSource(what="package password", file=args.password_file, env=args.password_env).read()
    tmp = tempfile.TemporaryDirectory(prefix="ppkgtool-sign-")
    os.chmod(tmp.name, 0o700)
    padded = Path(tmp.name) / "padded.ppkg"
    trimmed = Path(tmp.name) / "plain.ppkg"
    try:
        decrypt_package(pkg, padded, password)
        data = padded.read_bytes()
        with open(trimmed, "w+b") as fh:
            fh.write(data)
            trim_padding(fh, len(data))
    except BaseException:
        tmp.cleanup()
        raise
    return [trimmed, padded, pkg], tmp


def _tty() -> bool:
    import sys
    return bool(sys.stdin and sys.stdin.isatty())
