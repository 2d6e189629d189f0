"""ppkgtool bulk: accounts, blobs and per-device packages for many devices (docs/commands/bulk.md)."""

from __future__ import annotations

from pathlib import Path

from ppkgtool.errors import EXIT_DIRECTORY, EXIT_INVALID_INPUT, InvalidInputError, UsageError

EXAMPLES = """examples:
  ppkgtool bulk devices.csv --template customizations.xml --out out/ --domain test.lab \\
      --dc dc1.test.lab --dc-address 10.0.0.5 --ca-file corp-ca.pem \\
      --user admin@TEST.LAB --password-file admin.pass --machine-ou "OU=Kiosks,DC=test,DC=lab" \\
      --root-cert corp-root.cer --policy Machine/Registry.pol --parallel 8

devices.csv: a header with 'name' (required), 'ou' (optional, overrides --machine-ou) and
'var:NAME' columns substituted for $(NAME) in the template. Every row is checked before anything
is created. Outputs: DIR/<name>.ppkg, DIR/<name>.cat, DIR/<name>.odj (0600), DIR/secrets/ (0600
machine passwords, saved before each account is created), DIR/journal.jsonl, DIR/summary.json.
Re-running the same command resumes: finished devices are skipped, half-done ones continue."""


def register(sub) -> None:
    from ppkgtool.cli import add_common, command_parser
    from ppkgtool.cli.cmd_build import add_build_arguments
    from ppkgtool.cli.cmd_odj_provision import add_account_options
    from ppkgtool.cli.dcopts import add_dc_options

    p = command_parser(sub, "bulk", "provision and package many devices from a CSV",
                       description="For each device of a CSV: create the computer account, save its ODJ blob "
                                   "and build <name>.ppkg from a customizations.xml template - concurrently, "
                                   "journaled and resumable.")
    p.epilog = EXAMPLES + "\n\n" + (p.epilog or "")
    p.add_argument("devices", metavar="DEVICES.csv", help="name[,ou][,var:NAME...] per device")
    p.add_argument("--template", required=True, metavar="CUSTOMIZATIONS.xml",
                   help="the customizations.xml every device's package is built from")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; resumable)")
    p.add_argument("--domain", required=True, metavar="DOMAIN", help="the domain to join (DNS or NetBIOS name)")
    p.add_argument("--parallel", type=int, default=4, metavar="N",
                   help="devices processed at once (connections to the DC and package builds; default 4)")
    add_dc_options(p)
    add_account_options(p, bulk=True)
    add_build_arguments(p, single=False)
    add_common(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import functools

    from ppkgtool import DirectoryProvisioner, TemplateBuilder
    from ppkgtool import parse_devices
    from ppkgtool import BulkRun
    from ppkgtool.cli.cmd_build import options_from_args
    from ppkgtool.cli.cmd_odj_provision import request_defaults_from_args
    from ppkgtool.cli.dcopts import connect_from_args
    from ppkgtool.cli.output import Reporter
    from ppkgtool import generate_machine_password

    rep = Reporter(json_mode=args.json)
    if not 1 <= args.parallel <= 64:
        raise UsageError("--parallel must be 1 to 64")
    devices = parse_devices(Path(args.devices).read_bytes(), source_name=args.devices)
    template = Path(args.template)
    if not template.is_file():
        raise InvalidInputError(f"template {template} does not exist or is not a file")
    options, _password, generated = options_from_args(args)
    from ppkgtool import option_drift
    run_options = journal_options(args, template)
    drift = option_drift(Path(args.out) / "journal.jsonl", run_options)
    if drift:
        rep.warn(f"the options differ from the last run journaled in {Path(args.out) / 'journal.jsonl'} (devices "
                 f"finished then keep the old ones; use a new --out for a uniform set): " + "; ".join(drift))
    defaults = request_defaults_from_args(args)

    builder = TemplateBuilder(template, options, per_device_password=generated)
    try:
        for w in builder.preflight(devices):   # every device's package compiles before any account is created
            rep.warn(w)
        with connect_from_args(args, domain=args.domain, pool_size=args.parallel, warn=rep.warn) as session:
            provisioner = DirectoryProvisioner(session, defaults)
            with rep.progress(len(devices), "devices") as progress:
                failures = 0

                def on_progress(outcome) -> None:
                    nonlocal failures
                    failures += outcome.status == "failed"
                    progress.advance(1, extra=f"{failures} failed" if failures else "")

                def on_interrupt(under_way: int) -> None:
                    rep.warn(f"interrupted: no further device starts; waiting for the {under_way} under way to finish")

                result = BulkRun(devices, Path(args.out), provisioner, builder, reuse=args.reuse,
                                 parallel=args.parallel, on_progress=on_progress, options=run_options,
                                 on_interrupt=on_interrupt,
                                 generate_password=functools.partial(generate_machine_password,
                                                                     form=args.password_form)).run()
    finally:
        builder.close()

    doc = result.to_json()
    doc["out"] = str(Path(args.out))
    stopped = stopped_early(result, doc)
    if stopped is not None:
        doc.update(stopped.to_json())   # the error document every failing command prints (docs/commands.md)
    if rep.json_mode:
        rep.json(doc)
    else:
        counts = ", ".join(f"{v} {k}" for k, v in doc["counts"].items())
        rep.line(f"{len(devices)} devices in {doc['seconds']} s: {counts}; summary in {Path(args.out) / 'summary.json'}")
        if result.failed:
            rep.table(["device", "code", "error"], [(f["name"], f["code"] or "", f["error"]) for f in doc["failed"]],
                      title="failed")
    if stopped is not None:
        from ppkgtool.cli.errors import report
        return report(stopped, json_mode=False, stderr=rep.stderr)   # the line; the document is above
    if result.failed:
        return max(f.exit_code or EXIT_INVALID_INPUT for f in result.failed)
    return 0


def stopped_early(result, doc: dict):
    """The Failure of a run that stopped before every device was tried (Ctrl-C: exit 130; the DC
    unreachable: exit 5), with what was done and how to go on; None for a run that tried them all."""
    from ppkgtool.cli.errors import Failure

    if not result.aborted:
        return None
    interrupted = result.aborted == "interrupted"
    done = doc["counts"].get("done", 0) + doc["counts"].get("skipped", 0)
    return Failure(130 if interrupted else EXIT_DIRECTORY,
                   f"the run stopped early: {result.aborted}; {done} devices done, {len(doc['failed'])} failed, "
                   f"{len(doc['not_started'])} not started",
                   where=doc["out"], hint="re-run the same command to resume",
                   type="Interrupted" if interrupted else "DcUnreachableError")


#: the options a bulk run journals: a re-run with other values is warned about
JOURNALED_OPTIONS = ("domain", "machine_ou", "reuse", "password_form", "psite", "dsite", "primarydns", "rootcacerts",
                     "certtemplate", "policynames", "policypaths", "asset_dir", "var", "var_file", "catalogue",
                     "store_file", "store_build", "root_cert", "ca_cert", "client_pfx", "trusted_people",
                     "trusted_provisioner", "policy", "policy_setting", "owner_type", "rank", "reproducible",
                     "no_catalog", "sign_cert", "sign_key", "sign_chain", "encrypt", "generate_password")


def journal_options(args, template: Path) -> dict:
    """The run's options as the journal records them (the template by its SHA-256)."""
    import hashlib
    doc = {k: getattr(args, k, None) for k in JOURNALED_OPTIONS}
    doc = {k: v for k, v in doc.items() if v not in (None, False, [])}
    doc["template"] = hashlib.sha256(template.read_bytes()).hexdigest()
    return doc
