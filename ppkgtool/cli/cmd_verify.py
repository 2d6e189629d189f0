"""ppkgtool verify: check a package's signature the way Windows does, and say who signed it."""

from __future__ import annotations

from pathlib import Path

from ppkgtool.cli import add_common, command_parser
from ppkgtool.cli.output import Reporter
from ppkgtool.errors import EXIT_OK, EXIT_SECURITY
from ppkgtool import add_secret_options, has_secret_option, source_from_args

DESCRIPTION = """\
Verify a package against its security catalog like Windows: the package hash must be a catalog
member, the catalog's signature must be valid, and the signer's chain must end at one of the given
trusted provisioner certificates (the only trust anchors, as HKLM\\...\\Provisioning\\TrustedProvisioners).

verdicts and exit codes:
  trusted     0  signed, intact, chained to a trusted provisioner
  untrusted   4  signed and intact, but not chained to a trusted provisioner (Windows asks for consent)
  unsigned    4  no catalog, or a catalog without a signature
  tampered    4  the package or catalog was changed (hash, signature or certificate does not verify)

examples:
  ppkgtool verify corp.ppkg --trusted-provisioner signer.cer
  ppkgtool verify corp.ppkg --catalog corp.cat --trusted-provisioner root.pem --json
"""


def register(sub) -> None:
    p = command_parser(sub, "verify", "verify a package's signature and trust like Windows", DESCRIPTION)
    p.add_argument("package", metavar="PKG", help="the package (.ppkg)")
    p.add_argument("--catalog", metavar="CAT", help="the catalog (default: PKG with .cat, if present)")
    p.add_argument("--trusted-provisioner", action="append", default=[], metavar="CERT",
                   help="a trusted provisioner certificate (PEM or DER; a PEM may hold several); repeatable")
    add_secret_options(p, prefix="password", what="package password (for an encrypted package)")
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ppkgtool import load_certificate_files
    from ppkgtool import find_catalog, verify_file

    rep = Reporter(json_mode=args.json)
    from ppkgtool import require_file
    pkg = require_file(args.package)
    trusted = load_certificate_files(args.trusted_provisioner)
    cat_path = Path(args.catalog) if args.catalog else find_catalog(pkg)
    if cat_path is not None:
        require_file(cat_path, "catalog file")
    catalog = cat_path.read_bytes() if cat_path else None
    password = source_from_args(args, prefix="password", what="package password").read() \
        if has_secret_option(args, prefix="password") else None
    verdict = verify_file(pkg, catalog, trusted, password=password)

    doc = {"package": str(pkg), "catalog_path": str(cat_path) if cat_path else None, **verdict.to_json(),
           "trusted_provisioners": len(trusted)}
    if args.json:
        rep.json(doc)
    else:
        signer = verdict.signer or {}
        rep.fields([("package", pkg), ("catalog", cat_path or "(none)"), ("verdict", verdict.label),
                    ("reason", verdict.reason),
                    *([("signer", signer.get("subject")), ("thumbprint", signer.get("thumbprint")),
                       ("signed at", signer.get("signing_time"))] if signer else [])])
        if verdict.chain:
            rep.table(["role", "subject", "thumbprint (SHA-1)", "valid until"],
                      [(c["role"], c["subject"], c["thumbprint"], c["not_after"]) for c in verdict.chain],
                      title="certificate chain")
        for note in verdict.notes:
            rep.warn(note)
        if verdict.verdict == "untrusted" and not trusted:
            rep.warn("no --trusted-provisioner given: nothing can be trusted (Windows uses the certificates "
                     "installed in TrustedProvisioners)")
    return EXIT_OK if verdict.ok else EXIT_SECURITY
