"""ppkgtool decrypt: open a Windows-encrypted package or a transport envelope (.p7m)."""

from __future__ import annotations

from pathlib import Path

from ppkgtool.cli import add_common, command_parser
from ppkgtool.cli.fileargs import source_file, transform_file
from ppkgtool.cli.output import Reporter
from ppkgtool.errors import InvalidInputError, UsageError
from ppkgtool import large_output
from ppkgtool import add_secret_options, source_from_args

DESCRIPTION = """\
Decrypt a package encrypted by Windows Configuration Designer, icd.exe or 'ppkgtool encrypt', or open
a transport envelope written by 'ppkgtool encrypt --transport' (or by openssl cms -encrypt). The kind
is recognised from the file. The output is written with mode 0600 (it may hold secrets).

A wrong password is reported as such ("invalid first chunk"); a changed file as tampered
(ERROR_FILE_CORRUPT). Windows leaves 0-159 zero bytes after the WIM; they are removed unless
--keep-padding.

examples:
  ppkgtool decrypt corp.enc.ppkg -o corp.ppkg --password-file pw.txt
  ppkgtool decrypt corp.p7m -o corp.enc.ppkg --recipient-key tech.key --recipient-cert tech.pem
"""


def register(sub) -> None:
    p = command_parser(sub, "decrypt", "decrypt an encrypted package or a transport envelope", DESCRIPTION)
    p.add_argument("package", metavar="ENC", help="encrypted package or .p7m envelope")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="file to write")
    add_secret_options(p, prefix="password", what="password")
    p.add_argument("--recipient-key", metavar="KEY", help="private key (PEM/DER) or PFX for a certificate envelope")
    p.add_argument("--recipient-cert", metavar="CERT", help="the recipient certificate (selects the recipient)")
    add_secret_options(p, prefix="key-password", what="key or PFX password")
    p.add_argument("--keep-padding", action="store_true",
                   help="keep the zero bytes after the WIM exactly as Windows writes them")
    p.add_argument("--allow-unauthenticated", action="store_true",
                   help="open an EnvelopedData envelope with unauthenticated (CBC) content, as 'openssl cms "
                        "-encrypt -pwri_password' writes it; a changed bit there goes unnoticed")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    add_common(p)
    p.set_defaults(func=run)


def _recipient(args):
    from ppkgtool import load_pfx, load_private_key, looks_pkcs12, read_credential_file, load_certificate_files

    def pw():
        return source_from_args(args, prefix="key-password", what="key or PFX password").read()

    data = read_credential_file(args.recipient_key, "key file")
    cert = None
    if b"-----BEGIN" not in data and looks_pkcs12(data):
        p12 = load_pfx(data, pw, f"PFX file {args.recipient_key}")
        key = p12.key
        cert = p12.cert.certificate if p12.cert else None
    else:
        key = load_private_key(data, pw, f"key file {args.recipient_key}")
    if args.recipient_cert:
        cert = load_certificate_files([args.recipient_cert])[0]
    return key, cert


def run(args) -> int:
    from ppkgtool import decrypt_package, looks_encrypted, trim_padding, WIM_MAGIC
    from ppkgtool import looks_sealed, unseal

    rep = Reporter(json_mode=args.json)
    src = source_file(args)
    size = src.stat().st_size
    with open(src, "rb") as fh:
        head = fh.read(256)
    doc: dict = {"input": str(src), "output": args.output}
    sealed = looks_sealed(head)
    if sealed:
        password = key = cert = None
        if args.recipient_key:
            key, cert = _recipient(args)
        elif sealed == "password":
            password = source_from_args(args, prefix="password", what="transport password").read()
        else:
            raise UsageError("this envelope is sealed for certificates: give --recipient-key (and --recipient-cert)")
        info = transform_file(src, args, lambda fin, fout: unseal(fin, fout, password=password, recipient_key=key,
                                                                 recipient_cert=cert,
                                                                 allow_unauthenticated=args.allow_unauthenticated))
        with open(args.output, "rb") as fh:
            inner = fh.read(16)
        out_size = Path(args.output).stat().st_size
        kind = ("plain package (WIM)" if inner.startswith(WIM_MAGIC) else
                "encrypted package" if looks_encrypted(out_size, inner) else "other data")
        doc.update(format=f"cms ({info.mode})", content=kind, size=out_size)
        if kind == "encrypted package" and not args.json:
            rep.warn("the envelope held a Windows-encrypted package: run 'ppkgtool decrypt' on the output with "
                     "the package password to read it")
    elif head.startswith(WIM_MAGIC):
        raise InvalidInputError(f"{src} is not encrypted (it is a plain package)")
    elif looks_encrypted(size, head):
        password = source_from_args(args, prefix="password", what="package password").read()
        with open(src, "rb") as fin, large_output(args.output, overwrite=args.overwrite, private=True) as fout:
            result = decrypt_package(fin, fout, password)
            final = result.plain_size
            if not args.keep_padding:
                fout.flush()
                import os
                with os.fdopen(os.dup(fout.fileno()), "r+b") as rw:
                    final = trim_padding(rw, result.plain_size)
        doc.update(format="windows-ppkg-encrypted", size=final, padding_removed=result.plain_size - final)
    else:
        raise InvalidInputError(f"{src} is neither a Windows-encrypted package (16 + 160k + 32 bytes) nor a "
                                "CMS envelope")
    if args.json:
        rep.json(doc)
    else:
        rep.fields([(k.replace("_", " "), v) for k, v in doc.items()])
    return 0
