"""Everything a user should know before installing a package: the rules of heuristics.py applied
to a PackageView (inspect's ``warnings``)."""

from __future__ import annotations

from ppkgtool.analysis import heuristics as H
from ppkgtool.analysis.model import PackageView, Warning_, policy_value_secret


def warnings_for(view: PackageView) -> list[Warning_]:
    """Everything a user should know before installing this package (heuristics.py rules)."""
    out: list[Warning_] = []
    if view.locked:
        out.append(Warning_("encrypted", H.INFO, "package is encrypted; its contents are unknown without its "
                            "password (give it with --password-file FILE or --password-env NAME)"))
    owner, _rank = view.owner_rank
    for claim in {x.name for x in (owner, view.declared[0]) if x is not None}:
        if claim in H.OWNER_CLAIMS:
            sev, msg = H.OWNER_CLAIMS[claim]
            out.append(Warning_(f"owner-claims-{claim.lower()}", sev, msg, "ALTITUDE/OwnerType"))
    mismatch = view.altitude_mismatch()
    if mismatch:
        out.append(Warning_("altitude-mismatch", H.MEDIUM, mismatch, "ALTITUDE"))
    if view.prop("ALTITUDE") is not None and view.altitude is None:
        out.append(Warning_("altitude-invalid", H.MEDIUM, "ALTITUDE is not a decimal number of at most 7 digits; "
                            "Windows will not open this package", "ALTITUDE"))
    elif view.altitude is not None and view.owner_rank[0] is None:
        out.append(Warning_("altitude-unknown-owner", H.MEDIUM,
                            f"ALTITUDE {view.altitude} fits no owner type (base 0-5000 plus rank 0-99)", "ALTITUDE"))
    sc = view.source_check
    if sc is not None and sc.state == "differs":
        detail = "; ".join([f"the package applies {x} that its source does not set" for x in sc.compiled_only[:3]] +
                           [f"its source sets {x} that the package does not apply" for x in sc.source_only[:3]])
        out.append(Warning_("source-compiled-mismatch", H.HIGH, f"{sc.message}: {detail} (Windows applies the "
                            "compiled provxml, never customizations.xml: the compiled values are shown)",
                            "Multivariant/0/customizations.xml"))
    elif sc is not None and sc.state == "not-checked":
        out.append(Warning_("source-not-checked", H.INFO, sc.message, "Multivariant/0/customizations.xml"))
    reported_secret_paths = set()
    for s in view.settings:
        if s.secret in H.CREDENTIAL_KINDS and s.value:
            out.append(Warning_("plain-text-credential", H.HIGH,
                                f"{s.secret} stored in plain text (anyone with the file can read it)", s.path))
            reported_secret_paths.add(s.path)
        for rule in H.SETTING_RULES:
            if rule.path.search(s.path) and (rule.value is None or rule.value.search(s.value or "")):
                out.append(Warning_(rule.code, rule.severity, rule.message, s.path))
    if not view.settings:  # no source: judge the compiled parms
        for cs in view.configuration_sets:
            for p in cs.parms:
                if p.secret in H.CREDENTIAL_KINDS and p.value:
                    out.append(Warning_("plain-text-credential", H.HIGH, f"{p.secret} stored in plain text",
                                        p.csp_path))
    for pol in view.policies:
        for v in pol.values:
            kind = policy_value_secret(v)
            if kind in H.CREDENTIAL_KINDS and v.value:
                out.append(Warning_("plain-text-credential", H.HIGH,
                                    f"{kind} stored in plain text in a registry policy ({v.key}\\{v.value_name})",
                                    pol.source))
    for c in view.commands:
        where = c.label
        line = c.command_line or ""
        for rule in H.COMMAND_SECRET_RULES:
            if rule.pattern.search(line):
                out.append(Warning_("plain-text-credential", H.HIGH,
                                    f"{rule.kind} written in a command line in plain text", where))
                break
        for rule in H.COMMAND_RULES:
            if rule.pattern.search(line):
                out.append(Warning_(rule.code, rule.severity, rule.message, where))
    for f in view.files:
        if f.kind in ("executable", "script"):
            out.append(Warning_(f"embedded-{f.kind}", H.MEDIUM if f.kind == "executable" else H.HIGH,
                                f"package embeds a{'n' if f.kind == 'executable' else ''} {f.kind} "
                                f"({f.size} bytes, SHA-256 {f.sha256})", f.path))
    for cert in view.certificates:
        if cert.problem:
            out.append(Warning_("certificate-unreadable", H.MEDIUM, cert.problem, cert.name or cert.source))
        for note in cert.notes:       # what cryptography said about an odd certificate (security.certnotes)
            out.append(Warning_("certificate-note", H.INFO, f"{cert.kind} certificate {cert.subject or cert.name}: "
                                f"{note}", cert.source))
    sig = view.signature
    for note in sig.notes:
        out.append(Warning_("catalog-note", H.INFO, note, sig.catalog))
    if sig.state == "unsigned":
        out.append(Warning_("unsigned", H.INFO, f"{sig.reason or 'unsigned'}: Windows asks for consent to "
                            "install it (unless policy forbids unsigned packages)", sig.catalog))
    elif sig.trusted is False:
        out.append(Warning_(f"signature-{sig.state}", H.MEDIUM if sig.state != "tampered" else H.HIGH,
                            f"signature {sig.state}: {sig.reason or ''}".rstrip(": "), sig.catalog))
    for problem in view.problems:
        out.append(Warning_("broken-part", H.MEDIUM, problem))
    return out
