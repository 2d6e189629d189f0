"""The mission's payloads as customizations additions: ODJ blob, certificates, registry policies.

Each option becomes ordinary customizations.xml settings (so the package's embedded
customizations.xml and ``ppkgtool export`` show exactly what was added) plus the files they
carry:

- ``--odj FILE``: no WCD setting carries an ODJ blob [C]; the blob travels as the djoin save file
  of a ProvisioningCommands entry running
  ``djoin /requestodj /loadfile <file> /windowspath %SystemRoot% /localos`` with a restart
  (ppkg-format.md, "Settings that carry the mission's payloads" [I]).
- ``--root-cert/--ca-cert/--trusted-people/--trusted-provisioner/--client-pfx``: the WCD
  ``Certificates`` settings (ppkg-format.md [C] for Root and Client, [I] for the rest).
- ``--policy FILE.pol``: a machine Registry.pol applied by a generated ``reg.exe`` script (a command
  asset) that also carries the original .pol file as a dependency for inspection [I];
  ``--policy-setting Area/Name=value``: a Policy CSP setting ``Policies/<Area>/<Name>``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from lxml import etree

from ppkgtool.errors import InvalidInputError, RegistryPolicyError, WrongPasswordError
from ppkgtool.package.customizations import PROVISIONING_NS, Addition

MAX_PAYLOAD_FILE = 64 * 1024 * 1024
DJOIN_COMMAND = "djoin /requestodj /loadfile {file} /windowspath %SystemRoot% /localos"
SEP0 = "\\0"   # reg.exe's REG_MULTI_SZ separator
_NAME_RE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True)
class ClientPfx:
    path: Path
    password: str = field(repr=False)
    exportable: bool = False


@dataclass(frozen=True)
class PayloadOptions:
    odj: Path | bytes | None = None
    root_certs: tuple[Path, ...] = ()
    ca_certs: tuple[Path, ...] = ()
    trusted_people: tuple[Path, ...] = ()
    trusted_provisioners: tuple[Path, ...] = ()
    client_pfx: tuple[ClientPfx, ...] = ()
    policies: tuple[Path, ...] = ()
    policy_settings: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, bytes | Path], ...] = ()   # (name, content or file) that settings refer to by name

    @property
    def empty(self) -> bool:
        return not (self.odj or self.root_certs or self.ca_certs or self.trusted_people or self.trusted_provisioners
                    or self.client_pfx or self.policies or self.policy_settings or self.files)


@dataclass
class Payloads:
    additions: list[Addition] = field(default_factory=list)
    assets: dict[str, bytes | Path] = field(default_factory=dict)
    summary: list[dict] = field(default_factory=list)
    secrets: bool = False      # the package will hold secrets (machine password, PFX and its password)

    def add_asset(self, name: str, source: bytes | Path) -> str:
        old = self.assets.get(name)
        if old is not None and _digest(old) != _digest(source):
            raise InvalidInputError(f"two different payload files are named {name}",
                                    hint="rename one of them")
        self.assets[name] = source
        return name


def _digest(source) -> bytes:
    data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    return hashlib.sha256(data).digest()


def _q(tag: str) -> str:
    return f"{{{PROVISIONING_NS}}}{tag}"


def _el(tag: str, text: str | None = None, **attrs) -> etree._Element:
    e = etree.Element(_q(tag), nsmap={None: PROVISIONING_NS})
    for k, v in attrs.items():
        e.set(k, v)
    if text is not None:
        e.text = text
    return e


def _chain(*tags: str) -> tuple[etree._Element, etree._Element]:
    root = cur = _el(tags[0])
    for t in tags[1:]:
        nxt = _el(t)
        cur.append(nxt)
        cur = nxt
    return root, cur


def _read(path: Path, what: str) -> bytes:
    try:
        p = Path(path)
        if p.stat().st_size > MAX_PAYLOAD_FILE:
            raise InvalidInputError(f"{what} {p} is larger than {MAX_PAYLOAD_FILE} bytes")
        return p.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {path}: {exc.strerror}") from None


def command_config(name: str, *, command_file: str | None, command_line: str, restart: bool,
                   dependencies: Sequence[str] = (), context: str = "PrimaryContext") -> etree._Element:
    """``ProvisioningCommands/<context>/Command/CommandConfig`` with WCD's children order [C]."""
    root, command = _chain("ProvisioningCommands", context, "Command")
    cc = _el("CommandConfig", Name=name)
    if command_file:
        cc.append(_el("CommandFile", command_file))
    cc.append(_el("CommandLine", command_line))
    cc.append(_el("ContinueInstall", "True"))
    if dependencies:
        deps = _el("DependencyPackages")
        for d in dependencies:
            deps.append(_el("Dependency", d, Name=d))
        cc.append(deps)
    cc.append(_el("RestartRequired", "True" if restart else "False"))
    cc.append(_el("ReturnCodeRestart", "3010"))
    cc.append(_el("ReturnCodeSuccess", "0"))
    command.append(cc)
    return root


# --- ODJ ------------------------------------------------------------------------------------------

def odj_payload(data: bytes, payloads: Payloads, *, origin: str = "--odj") -> None:
    """Add a djoin save file and the command that applies it at first boot."""
    from ppkgtool.odj import blob_bytes, load_blob, to_savefile     # ODJ modules only for an ODJ payload
    from ppkgtool.odj.summary import summarize
    blob, _form = blob_bytes(data)          # OdjError on anything that is not a blob
    pd = load_blob(blob)
    summary = summarize(pd)
    machine = _safe_name(_dig(summary, "machine_name") or _dig(summary, "machine") or "machine")
    file_name = f"odj-{machine}.txt"
    payloads.add_asset(file_name, to_savefile(blob))
    cmd = command_config(f"OfflineDomainJoin_{machine}", command_file=file_name,
                         command_line=DJOIN_COMMAND.format(file=file_name), restart=True)
    payloads.additions.append(Addition(cmd, origin))
    payloads.secrets = True
    payloads.summary.append({"payload": "odj", "file": file_name, "domain": _dig(summary, "dns_domain_name")
                             or _dig(summary, "domain"), "machine": _dig(summary, "machine_name") or machine})


def _dig(d, key):
    """Find ``key`` anywhere in a nested summary dict (the ODJ summary's layout is its own)."""
    if isinstance(d, dict):
        if key in d and isinstance(d[key], (str, int)):
            return d[key]
        for v in d.values():
            r = _dig(v, key)
            if r is not None:
                return r
    elif isinstance(d, list):
        for v in d:
            r = _dig(v, key)
            if r is not None:
                return r
    return None


def _safe_name(text: str) -> str:
    return _NAME_RE.sub("_", str(text)).strip("._") or "payload"


# --- certificates -----------------------------------------------------------------------------

def _certificate(path: Path) -> tuple[bytes, str, str]:
    """(DER, SHA-1 thumbprint, subject) of a PEM or DER certificate file."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    data = _read(path, "certificate file")
    try:
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise InvalidInputError(f"{path} is not an X.509 certificate (PEM or DER): {exc}") from None
    der = cert.public_bytes(Encoding.DER)
    return der, hashlib.sha1(der).hexdigest().upper(), cert.subject.rfc4514_string()


_CERT_KINDS = {
    # option: (container, item element, key attribute, file setting) - the settings store's names [C],
    # Microsoft's spelling CACerificate included
    "root": ("RootCertificates", "RootCertificate", "CertificateName", "CertificatePath"),
    "ca": ("CACertificates", "CACerificate", "CertificateName", "CertificatePath"),
    "trusted-people": ("TrustedPeopleCertificates", "Certificate", "CertificateName", "TrustedCertificate"),
    "trusted-provisioner": ("TrustedProvisioners", "Certificate", "CertificateHash", "TrustedProvisioner"),
}


def certificate_payload(path: Path, kind: str, payloads: Payloads) -> None:
    container, item, key_attr, leaf = _CERT_KINDS[kind]
    der, thumb, subject = _certificate(path)
    file_name = payloads.add_asset(f"{_safe_name(Path(path).stem)}-{thumb[:8]}.cer", der)
    key = thumb if key_attr == "CertificateHash" else _safe_name(Path(path).stem)
    root, cont = _chain("Certificates", container)
    it = _el(item, **{key_attr: key})
    it.append(_el(leaf, file_name))
    cont.append(it)
    payloads.additions.append(Addition(root, f"--{kind}-cert" if kind in ("root", "ca") else f"--{kind}"))
    payloads.summary.append({"payload": f"certificate:{kind}", "subject": subject, "sha1": thumb, "file": file_name})


def client_pfx_payload(pfx: ClientPfx, payloads: Payloads) -> None:
    from cryptography.hazmat.primitives.serialization import pkcs12
    data = _read(pfx.path, "PFX file")
    try:
        key, cert, _extra = pkcs12.load_key_and_certificates(data, pfx.password.encode("utf-8") if pfx.password else None)
    except ValueError:
        raise WrongPasswordError(f"PFX file {pfx.path}: wrong password or damaged file") from None
    if key is None or cert is None:
        raise InvalidInputError(f"PFX file {pfx.path} holds no private key and certificate pair")
    name = _safe_name(Path(pfx.path).stem)
    file_name = payloads.add_asset(f"{name}.pfx", data)
    root, cont = _chain("Certificates", "ClientCertificates")
    it = _el("ClientCertificate", CertificateName=name)
    it.append(_el("CertificatePassword", pfx.password))
    it.append(_el("CertificatePath", file_name))
    it.append(_el("ExportCertificate", "True" if pfx.exportable else "False"))
    cont.append(it)
    payloads.additions.append(Addition(root, "--client-pfx"))
    payloads.secrets = True
    from cryptography.hazmat.primitives.serialization import Encoding
    payloads.summary.append({"payload": "certificate:client", "subject": cert.subject.rfc4514_string(),
                             "sha1": hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper(),
                             "file": file_name})


# --- registry policy ----------------------------------------------------------------------------

def policy_setting_payload(spec: str, value: str, payloads: Payloads) -> None:
    parts = spec.strip("/").split("/")
    if len(parts) != 2 or not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", p) for p in parts):
        raise InvalidInputError(f"--policy-setting {spec!r} is not Area/Name",
                                hint="e.g. --policy-setting Experience/AllowCortana=0")
    root, area = _chain("Policies", parts[0])
    area.append(_el(parts[1], value))
    payloads.additions.append(Addition(root, "--policy-setting"))
    payloads.summary.append({"payload": "policy-setting", "path": f"Policies/{parts[0]}/{parts[1]}", "value": value})


def policy_file_payload(path: Path, payloads: Payloads, *, hive: str = "HKLM") -> None:
    from ppkgtool.regpol import parse_registry_pol
    data = _read(path, "registry policy file")
    values = parse_registry_pol(data)
    stem = _safe_name(Path(path).stem)
    script = registry_script(values, hive=hive, source=Path(path).name)
    pol_name = payloads.add_asset(f"{stem}.pol" if stem.lower() != "registry" else "Registry.pol", data)
    cmd_name = payloads.add_asset(f"policy-{stem}.cmd", script)
    cmd = command_config(f"RegistryPolicy_{stem}", command_file=cmd_name, command_line=f"cmd.exe /c {cmd_name}",
                         restart=False, dependencies=[pol_name])
    payloads.additions.append(Addition(cmd, "--policy"))
    payloads.summary.append({"payload": "registry-policy", "file": pol_name, "script": cmd_name,
                             "values": [v.display() for v in values]})


def _batch_quote(text: str, what: str) -> str:
    """A reg.exe argument inside a batch file: "...", % doubled, trailing backslashes doubled."""
    if any(c in text for c in '"\r\n\x00'):
        raise RegistryPolicyError(f"{what}: {text!r} contains a quote, line break or NUL, which a reg.exe "
                                  "command line cannot carry safely")
    from ppkgtool.text import has_surrogate, safe_text
    if has_surrogate(text):
        raise RegistryPolicyError(f"{what}: '{safe_text(text)}' holds an unpaired UTF-16 surrogate, which the "
                                  "UTF-8 reg.exe script cannot carry")
    body = text.replace("%", "%%")
    stripped = body.rstrip("\\")
    body = stripped + "\\" * (2 * (len(body) - len(stripped)))
    return f'"{body}"'


def registry_script(values, *, hive: str = "HKLM", source: str = "Registry.pol") -> bytes:
    """A CRLF, UTF-8 batch script that applies Registry.pol values with reg.exe [I].

    Deletion markers (``**del.``, ``**delvals.``, ``**DeleteValues``, ``**DeleteKeys``) become
    ``reg delete``; ``**soft.`` sets a value only when it is absent; ``**SecureKey`` is noted only.
    """
    from ppkgtool import regpol as rp
    lines = ["@echo off", f"rem Registry policy values from {source}, applied by reg.exe (written by ppkgtool)",
             "chcp 65001 >nul", "set rc=0"]
    for v in values:
        key = _batch_quote(f"{hive}\\{v.key}", "registry key")
        name = v.value_name
        low = name.lower()
        if low.startswith("**del."):
            lines.append(f"reg delete {key} /v {_batch_quote(name[6:], 'value name')} /f >nul 2>&1")
            continue
        if low.startswith("**delvals"):
            lines.append(f"reg delete {key} /va /f >nul 2>&1")
            continue
        if low in ("**deletevalues", "**deletekeys"):
            items = [x for x in str(v.value).split(";") if x]
            for x in items:
                if low == "**deletevalues":
                    lines.append(f"reg delete {key} /v {_batch_quote(x, 'value name')} /f >nul 2>&1")
                else:
                    subkey = _batch_quote(hive + "\\" + v.key + "\\" + x, "registry key")
                    lines.append(f"reg delete {subkey} /f >nul 2>&1")
            continue
        if low == "**securekey":
            lines.append(f"rem {hive}\\{v.key}: **SecureKey={v.value} (ACL change not applied by this script)")
            continue
        soft = low.startswith("**soft.")
        if soft:
            name = name[7:]
        vname = "/ve" if name == "" else f"/v {_batch_quote(name, 'value name')}"
        t = v.type
        if name == "" and t == rp.REG_NONE and not v.data:
            lines.append(f"reg add {key} /f >nul || set rc=1")
            continue
        if t in (rp.REG_SZ, rp.REG_EXPAND_SZ):
            tname = "REG_SZ" if t == rp.REG_SZ else "REG_EXPAND_SZ"
            data = f"/d {_batch_quote(v.value, 'value data')}" if v.value != "" else '/d ""'
        elif t in (rp.REG_DWORD, rp.REG_QWORD):
            tname = "REG_DWORD" if t == rp.REG_DWORD else "REG_QWORD"
            if not isinstance(v.value, int):
                raise RegistryPolicyError(f"{v.key}\\{name}: {tname} data has the wrong length")
            data = f"/d {v.value}"
        elif t == rp.REG_DWORD_BIG_ENDIAN:
            if not isinstance(v.value, int):
                raise RegistryPolicyError(f"{v.key}\\{name}: REG_DWORD_BIG_ENDIAN data has the wrong length")
            tname, data = "REG_DWORD", f"/d {v.value}"
        elif t == rp.REG_MULTI_SZ:
            items = v.value if isinstance(v.value, list) else []
            for it in items:
                if "\\0" in it:
                    raise RegistryPolicyError(f"{v.key}\\{name}: a string contains \\0, the reg.exe separator")
            joined = SEP0.join(items)
            tname, data = "REG_MULTI_SZ", "/d " + _batch_quote(joined, "value data")
        elif t == rp.REG_BINARY:
            tname, data = "REG_BINARY", f"/d {bytes(v.data).hex().upper()}" if v.data else ""
        elif t == rp.REG_NONE:
            tname, data = "REG_NONE", ""
        else:
            raise RegistryPolicyError(f"{v.key}\\{name}: registry type {t} cannot be set with reg.exe")
        cmd = f"reg add {key} {vname} /t {tname} {data}".rstrip() + " /f >nul || set rc=1"
        if soft:
            cmd = f"reg query {key} {vname} >nul 2>&1 || " + cmd
        lines.append(cmd)
    lines.append("exit /b %rc%")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


# --- all of them ------------------------------------------------------------------------------------

def build_payloads(opts: PayloadOptions) -> Payloads:
    p = Payloads()
    for name, source in opts.files:
        p.add_asset(name, source)
    if opts.odj is not None:
        data = opts.odj if isinstance(opts.odj, (bytes, bytearray)) else _read(Path(opts.odj), "ODJ blob file")
        odj_payload(bytes(data), p)
    for c in opts.root_certs:
        certificate_payload(c, "root", p)
    for c in opts.ca_certs:
        certificate_payload(c, "ca", p)
    for c in opts.trusted_people:
        certificate_payload(c, "trusted-people", p)
    for c in opts.trusted_provisioners:
        certificate_payload(c, "trusted-provisioner", p)
    for pfx in opts.client_pfx:
        client_pfx_payload(pfx, p)
    for pol in opts.policies:
        policy_file_payload(pol, p)
    for spec, value in opts.policy_settings:
        policy_setting_payload(spec, value, p)
    return p
