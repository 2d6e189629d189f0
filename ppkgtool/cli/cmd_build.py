"""ppkgtool build: customizations.xml -> .ppkg (+ .cat) (docs/commands/build.md)."""

from __future__ import annotations

from pathlib import Path

from ppkgtool.cli.storeargs import store_text
from ppkgtool.errors import UsageError

EXAMPLES = """examples:
  ppkgtool build customizations.xml -o kiosk.ppkg --asset-dir ./files
  ppkgtool build customizations.xml -o pc01.ppkg --odj PC01.txt --root-cert corp-root.cer \\
      --ca-cert corp-issuing.cer --policy Machine/Registry.pol --reproducible
  ppkgtool build customizations.xml -o wifi.ppkg --client-pfx device.pfx --pfx-password-file pfx.pass
  ppkgtool build template.xml -o site.ppkg --var SITE=Berlin --var-file site.vars --rank 10
  ppkgtool build customizations.xml -o signed.ppkg --sign-cert signer.pfx --sign-pfx-password-file p.txt
  ppkgtool build customizations.xml -o secret.ppkg --encrypt --generate-password

The package is written atomically and never over an existing file without --overwrite;
<name>.cat (the security catalog ICD writes) goes beside it unless --no-catalog.
On a terminal, inputs of 32 MiB or more show a progress bar (stderr)."""


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser

    p = command_parser(sub, "build", "build a .ppkg from a customizations.xml",
                       description="Compile a Windows Configuration Designer customizations.xml into a "
                                   "provisioning package laid out exactly as Microsoft's tools lay it out, with "
                                   "offline domain join, certificates and policies as first-class options.")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.add_argument("customizations", metavar="CUSTOMIZATIONS.xml", help="the WCD customizations.xml, or a WCD project folder (or its .icdproj.xml)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.ppkg", help="the package to write")
    add_build_arguments(p, single=True)
    add_common(p)
    p.set_defaults(func=run)


def add_build_arguments(p, *, single: bool) -> None:
    """Options shared by ``build`` and ``bulk`` (``single``: the per-package ones of ``build``)."""
    from ppkgtool import add_secret_options

    p.add_argument("--asset-dir", metavar="DIR",
                   help="resolve file references (e.g. D:\\app.msi) by file name inside DIR")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="substitute VALUE for $(NAME) (ICD /Variables; also a=1;b=2); repeatable")
    p.add_argument("--var-file", action="append", default=[], metavar="FILE",
                   help="variables file: one NAME=VALUE per line (# comments)")
    p.add_argument("--catalogue", action="append", default=[], metavar="FILE",
                   help="extra settings catalogue (from 'ppkgtool catalog learn'); repeatable")
    from ppkgtool.cli.storeargs import add_store_options
    add_store_options(p)
    pay = p.add_argument_group("payloads")
    if single:
        pay.add_argument("--odj", metavar="FILE",
                         help="ODJ blob (binary, base64, djoin save file or unattend.xml): joins the device offline at "
                              "first boot via 'djoin /requestodj … /localos' and a restart")
    pay.add_argument("--root-cert", action="append", default=[], metavar="F", help="trusted root certificate (PEM/DER)")
    pay.add_argument("--ca-cert", action="append", default=[], metavar="F", help="intermediate CA certificate")
    pay.add_argument("--client-pfx", action="append", default=[], metavar="F",
                     help="client certificate with private key (PKCS#12); password from --pfx-password-*")
    add_secret_options(pay, prefix="pfx-password", what="PFX password")
    pay.add_argument("--pfx-exportable", action="store_true", help="mark the client key exportable")
    pay.add_argument("--trusted-people", action="append", default=[], metavar="F", help="TrustedPeople certificate")
    pay.add_argument("--trusted-provisioner", action="append", default=[], metavar="F",
                     help="certificate trusted to sign provisioning packages")
    pay.add_argument("--policy", action="append", default=[], metavar="F.pol",
                     help="machine Registry.pol: applied by a generated reg.exe command asset")
    pay.add_argument("--policy-setting", action="append", default=[], metavar="Area/Name=value",
                     help="a Policy CSP setting (Policies/<Area>/<Name>); repeatable")
    md = p.add_argument_group("metadata")
    md.add_argument("--owner-type", metavar="T",
                    help="override PackageConfig/OwnerType: Microsoft, SiliconVendor, OEM, SystemIntegrator, "
                         "MobileOperator, ITAdmin")
    md.add_argument("--rank", metavar="N", help="override PackageConfig/Rank (0-99)")
    out = p.add_argument_group("output")
    if single:
        out.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    out.add_argument("--reproducible", action="store_true",
                     help="byte-identical output: fixed timestamps (SOURCE_DATE_EPOCH or 2020-01-01), WIM GUID "
                          "and catalog id derived from the package ID")
    out.add_argument("--no-catalog", action="store_true", help="do not write <name>.cat beside the package")
    if single:
        out.add_argument("--dry-run", action="store_true", help="compile and report, write nothing")
        out.add_argument("--runtime-layout", choices=("wcd", "icd-2015"), default="wcd",
                         help="provxml layout: wcd (every WCD/ICD since Windows 10 1607, default) or icd-2015 (the "
                              "2015 ICD's, which 'export --with-assets' names for such a package)")
        out.add_argument("--show-secrets", action="store_true", help="show secret setting values in the report")
    sig = p.add_argument_group("signing (a signed <name>.cat; NOTES SignPackage=True)")
    sig.add_argument("--sign-cert", metavar="F", help="signer certificate (PEM/DER) or PFX")
    sig.add_argument("--sign-key", metavar="F", help="signer private key (PEM/DER) when --sign-cert is not a PFX")
    sig.add_argument("--sign-chain", metavar="F", help="intermediate certificates to include")
    add_secret_options(sig, prefix="sign-pfx-password", what="signing PFX password")
    enc = p.add_argument_group("encryption (NOTES EncryptPackage=True)")
    enc.add_argument("--encrypt", action="store_true", help="encrypt the package the way Windows expects")
    add_secret_options(enc, prefix="encrypt-password", what="package password")
    enc.add_argument("--generate-password", action="store_true",
                     help="generate a 16-character password and print it (only way to see it again: "
                          "--password-out)")
    if single:
        enc.add_argument("--password-out", metavar="FILE", help="write the generated password to FILE (mode 0600)")


def options_from_args(args, **overrides):
    """BuildOptions from the options add_build_arguments added; returns (options, encryption
    password or None, whether that password was generated). ``overrides`` replace fields."""
    from ppkgtool import BuildOptions
    from ppkgtool import parse_variable_assignments, read_variable_file
    from ppkgtool import ClientPfx, PayloadOptions
    from ppkgtool import has_secret_option, source_from_args

    variables: dict[str, str] = {}
    for vf in args.var_file:
        try:
            data = Path(vf).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read --var-file {vf}: {exc.strerror}") from None
        variables.update(read_variable_file(data, source_name=vf))
    variables.update(parse_variable_assignments(args.var))

    pfx_password = None
    if args.client_pfx:
        pfx_password = source_from_args(args, prefix="pfx-password", what="PFX password").read()
    elif has_secret_option(args, prefix="pfx-password"):
        raise UsageError("--pfx-password-file/--pfx-password-env need --client-pfx")
    policy_settings = []
    for spec in args.policy_setting:
        if "=" not in spec:
            raise UsageError(f"--policy-setting {spec!r} is not Area/Name=value")
        k, v = spec.split("=", 1)
        policy_settings.append((k.strip(), v))
    payloads = PayloadOptions(
        odj=Path(args.odj) if getattr(args, "odj", None) else None,
        root_certs=tuple(map(Path, args.root_cert)), ca_certs=tuple(map(Path, args.ca_cert)),
        trusted_people=tuple(map(Path, args.trusted_people)),
        trusted_provisioners=tuple(map(Path, args.trusted_provisioner)),
        client_pfx=tuple(ClientPfx(Path(f), pfx_password or "", args.pfx_exportable) for f in args.client_pfx),
        policies=tuple(map(Path, args.policy)), policy_settings=tuple(policy_settings))

    signer = None
    if args.sign_cert:
        from ppkgtool import load_signer
        src = source_from_args(args, prefix="sign-pfx-password", what="signing PFX password")
        ask = src.read    # asked only if the PFX or key is protected
        signer = load_signer(args.sign_cert, args.sign_key, args.sign_chain, pfx_password=ask, key_password=ask)
    elif args.sign_key or args.sign_chain:
        raise UsageError("--sign-key/--sign-chain need --sign-cert")

    password = None
    generated = False
    if args.encrypt:
        from ppkgtool import check_password, generate_password
        if args.generate_password:
            if has_secret_option(args, prefix="encrypt-password"):
                raise UsageError("--generate-password and --encrypt-password-file/-env exclude each other")
            password, generated = generate_password(), True
        else:
            password = source_from_args(args, prefix="encrypt-password", what="package password", confirm=True).read()
        check_password(password)
    elif args.generate_password or has_secret_option(args, prefix="encrypt-password") \
            or getattr(args, "password_out", None):
        raise UsageError("--generate-password/--encrypt-password-*/--password-out need --encrypt")

    options = BuildOptions(asset_dir=Path(args.asset_dir) if args.asset_dir else None, variables=variables,
                           payloads=payloads, owner_type=args.owner_type, rank=args.rank,
                           overwrite=getattr(args, "overwrite", False),
                           reproducible=args.reproducible, catalog=not args.no_catalog,
                           catalogue_files=tuple(map(Path, args.catalogue)),
                           store_file=Path(args.store_file) if args.store_file else None,
                           store_build=args.store_build, signer=signer,
                           encrypt_password=password, runtime_layout=getattr(args, "runtime_layout", "wcd"))
    if overrides:
        import dataclasses
        options = dataclasses.replace(options, **overrides)
    return options, password, generated


def run(args) -> int:
    from ppkgtool import prefetch_assets
    prefetch_assets(args.customizations, args.asset_dir)    # before the heavy imports: they leave a core idle
    from ppkgtool.cli.output import Reporter
    from ppkgtool import build_package, build_tree_only

    rep = Reporter(json_mode=args.json)
    options, password, generated = options_from_args(args)
    if args.dry_run:
        tree = build_tree_only(Path(args.customizations), options)
        for w in tree.warnings:
            rep.warn(w)
        if rep.json_mode:
            rep.json({"dry_run": True, "metadata": tree.metadata.to_json(), "notes": tree.metadata.notes.render(),
                      "settings": [s.to_json(show_secrets=args.show_secrets) for s in tree.settings],
                      "files": sorted(tree.files), "settings_store": tree.settings_store})
        else:
            _report_settings(rep, tree.metadata, tree.settings, args.show_secrets)
            rep.fields([("settings store", store_text(tree.settings_store))])
            rep.line(f"(dry run: {len(tree.files)} files compiled, nothing written)")
        return 0

    if generated and args.password_out:
        from ppkgtool import check_writable
        check_writable(args.password_out, overwrite=args.overwrite)
    import dataclasses
    with rep.byte_progress(f"building {Path(args.output).name}") as progress:   # a bar for large inputs
        result = build_package(Path(args.customizations), Path(args.output),
                               dataclasses.replace(options, progress=progress.wanted))
    if generated and args.password_out:
        from ppkgtool import write_bytes_atomic
        write_bytes_atomic(args.password_out, (password + "\n").encode("ascii"), overwrite=args.overwrite, private=True)
    for w in result.warnings:
        rep.warn(w)
    if result.private:
        rep.warn(f"{result.package_path} carries secrets (machine password, keys or passwords): written with mode 0600")
    if rep.json_mode:
        doc = result.to_json(show_secrets=args.show_secrets)
        if generated:
            doc["password"] = password if not args.password_out else f"written to {args.password_out}"
        rep.json(doc)
        return 0
    _report_settings(rep, result.metadata, result.settings, args.show_secrets)
    for pl in result.payloads:
        rep.line("payload: " + ", ".join(f"{k}={v}" for k, v in pl.items() if k != "values")
                 + (f" ({len(pl['values'])} values)" if "values" in pl else ""))
    rep.fields([("package", result.package_path), ("catalog", result.catalog_path or "(none)"),
                ("sha256", result.sha256), ("signed", result.signed), ("encrypted", result.encrypted),
                ("settings store", store_text(result.settings_store))])
    if generated:
        if args.password_out:
            rep.line(f"package password written to {args.password_out}")
        else:
            rep.line(f"package password: {password}   (shown once; keep it safe)")
    return 0



def _report_settings(rep, metadata, settings, show_secrets: bool) -> None:
    rep.fields([("name", metadata.name), ("id", "{" + str(metadata.package_id) + "}"), ("version", metadata.version),
                ("owner type", metadata.owner_type.name), ("rank", metadata.rank), ("altitude", metadata.altitude),
                ("settings", len(settings))])
    rows = []
    for s in settings:
        value = "<redacted>" if s.secret and not show_secrets else s.value
        if len(value) > 60:
            value = value[:57] + "..."
        rows.append((s.instance, value, s.scope, s.provxml.rsplit("/", 1)[-1]))
    rep.table(["setting", "value", "scope", "provxml"], rows)
