"""ppkgtool build-trust: the companion package that installs a signer into TrustedProvisioners."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from ppkgtool.cli import add_common, command_parser
from ppkgtool.cli.output import Reporter
from ppkgtool.errors import InvalidInputError

DESCRIPTION = """\
Build a package that adds a signer certificate to TrustedProvisioners
(Certificates/TrustedProvisioners), so that packages signed by it later install without the
consent prompt. Apply it once per device (it is itself unsigned, so Windows asks once).

The compiled form of this setting has not been seen in a WCD-built package [U]; ppkgtool writes
the best-supported form (docs/formats/package-layout.md, "Payload carriers").

examples:
  ppkgtool build-trust --cert signer.cer -o trust.ppkg
  ppkgtool build-trust --cert signer.pem --owner-type OEM --rank 1 -o trust.ppkg
"""


def register(sub) -> None:
    p = command_parser(sub, "build-trust", "build the package that trusts a signer (TrustedProvisioners)",
                       DESCRIPTION)
    p.add_argument("--cert", required=True, metavar="CERT",
                   help="the signer certificate to trust (PEM or DER, no private key needed)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the package to write (.ppkg)")
    p.add_argument("--name", help="package name (default: 'Trust <signer CN>')")
    p.add_argument("--owner-type", default="ITAdmin", help="owner type (default ITAdmin)")
    p.add_argument("--rank", default="0", help="rank 0-99 (default 0)")
    p.add_argument("--package-id", help="package GUID (default: derived from the certificate, so rebuilding "
                                        "gives the same ID)")
    p.add_argument("--no-catalog", action="store_true", help="do not write the unsigned .cat beside it")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from ppkgtool import BuildOptions, build_package
    from ppkgtool import OwnerType, check_package_id, check_rank
    from ppkgtool import PayloadOptions
    from ppkgtool import trust_customizations
    from ppkgtool import load_certificate_files
    from ppkgtool import certificate_info

    rep = Reporter(json_mode=args.json)
    certs = load_certificate_files([args.cert])
    if len(certs) != 1:
        raise InvalidInputError(f"{args.cert} holds {len(certs)} certificates; give the one signer certificate")
    cert = certs[0]
    OwnerType.parse(args.owner_type)
    check_rank(args.rank)
    der = cert.public_bytes(Encoding.DER)
    thumb = hashlib.sha1(der).hexdigest().upper()
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cns[0].value) if cns else thumb
    if args.package_id:
        pid = check_package_id(args.package_id)
    else:
        pid = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:ppkgtool:trusted-provisioner:{thumb}")
    xml = trust_customizations(der, cn, name=args.name, owner_type=args.owner_type, rank=args.rank, package_id=pid)
    result = build_package(xml, args.output, BuildOptions(
        payloads=PayloadOptions(trusted_provisioners=(Path(args.cert),)), overwrite=args.overwrite,
        catalog=not args.no_catalog, source_name="build-trust"))
    info = certificate_info(cert, "trusted provisioner")
    doc = {"package": str(result.package_path), "catalog": str(result.catalog_path) if result.catalog_path else None,
           "package_id": str(pid), "trusted_provisioner": info, "sha256": result.sha256,
           "warnings": list(result.warnings)}
    if args.json:
        rep.json(doc)
    else:
        rep.fields([("package", result.package_path), ("catalog", result.catalog_path or "(none)"),
                    ("package id", pid), ("trusts", info["subject"]), ("thumbprint", thumb)])
        for w in result.warnings:
            rep.warn(w)
        rep.line("apply it once on each device; packages signed by this certificate then install without consent")
    return 0
