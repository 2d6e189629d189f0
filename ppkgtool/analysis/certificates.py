"""Certificates a package installs, from the compiled nodes (RootCATrustedCertificates/<store>/
<thumbprint>/EncodedCertificate, ClientCertificateInstall/PFXCertInstall/<name>/PFXCertBlob,
Provisioning/TrustedProvisioners/<thumbprint>) and, for packages without them, the source forms."""

from __future__ import annotations

import base64
import binascii
import re

from ppkgtool.analysis.image import Image
from ppkgtool.analysis.model import Certificate
from ppkgtool.errors import FormatError
from ppkgtool.package.customizations import segment_keys

MAX_CERT_BYTES = 1024 * 1024


_CERT_KINDS = (("RootCertificates", "Root"), ("CACertificates", "CA"), ("ClientCertificates", "Client"),
               ("TrustedPeopleCertificates", "TrustedPeople"), ("TrustedProvisioners", "TrustedProvisioner"))
#: RootCATrustedCertificates/<store> -> the Certificates/<list> whose CertificateName names it (the
#: settings store: Certificates/RootCertificates/RootCertificate/CertificatePath compiles to
#: RootCATrustedCertificates/Root/@CertificateHash@/EncodedCertificate)
_STORE_LISTS = {"Root": "RootCertificates", "CA": "CACertificates", "TrustedPeople": "TrustedPeopleCertificates",
                "OemEsim": "OemEsimCertificates"}


def _compiled_name(store: str, provxml: str | None, settings) -> str | None:
    """The CertificateName of a certificate compiled under RootCATrustedCertificates/<store>/<thumbprint>.

    The compiled form is keyed by thumbprint; the name is in customizations.xml
    (``Certificates/RootCertificates/RootCertificate[@CertificateName=X]/…``) and in the provxml's file
    name, which WCD derives from it (``<n>__Certificates_RootCertificates_X.provxml``, layout.
    provxml_file_name): the source's name whose file name matches, else the file name's own part."""
    from ppkgtool.package import layout

    folder = _STORE_LISTS.get(store)
    if folder is None or not provxml:
        return None
    base = provxml.replace("\\", "/").rsplit("/", 1)[-1]
    m = re.fullmatch(r"\d+__(.+)\.provxml", base, re.I)
    if not m:
        return None
    stem = m.group(1)
    for s in settings:
        if not s.path.startswith(f"Certificates/{folder}/") or s.path.count("/") < 3:
            continue
        name = segment_keys(s.path.split("/")[2]).get("CertificateName")
        if name and layout.provxml_file_name(0, f"Certificates/{folder}/{name}")[3:-8].lower() == stem.lower():
            return name
    prefix = f"Certificates_{folder}_"
    return (stem[len(prefix):] or None) if stem.startswith(prefix) else None


def read_certificates(sets, settings, assets, img: Image, problems: list[str]) -> tuple[Certificate, ...]:
    out: list[Certificate] = []
    seen_thumbs: set[str] = set()
    # compiled forms carry the certificate itself [C]: RootCATrustedCertificates/<Store>/<thumb>/EncodedCertificate
    pfx_passwords: dict[str, str] = {}
    for cs in sets:
        for parm in cs.parms:
            if parm.csp_path.startswith("ClientCertificateInstall/PFXCertInstall/") and parm.name == "PFXCertPassword":
                pfx_passwords[parm.csp_path.split("/")[2]] = parm.value or ""
    for cs in sets:
        for parm in cs.parms:
            parts = parm.csp_path.split("/")
            if parts[0] == "RootCATrustedCertificates" and parm.name == "EncodedCertificate" and parm.value:
                kind = {"Root": "Root", "CA": "CA", "TrustedPeople": "TrustedPeople"}.get(parts[1], parts[1])
                cert = _x509(parm.value, kind, _compiled_name(parts[1], cs.file or cs.data, settings), cs.file)
                out.append(cert)
                if cert.thumbprint:
                    seen_thumbs.add(cert.thumbprint)
            elif tuple(parm.characteristic) == ("Provisioning", "TrustedProvisioners") and parm.value:
                # the store's form: ./Vendor/MSFT/Provisioning/TrustedProvisioners/<SHA-1> = the certificate [I]
                cert = _x509(parm.value, "TrustedProvisioner", None, cs.file)   # keyed by hash only: no name
                out.append(cert)
                if cert.thumbprint:
                    seen_thumbs.add(cert.thumbprint)
            elif parts[0] == "ClientCertificateInstall" and parm.name == "PFXCertBlob" and parm.value:
                name = parts[2] if len(parts) > 2 else None
                out.append(_pfx(parm.value, name, pfx_passwords.get(name or ""), cs.file))
    # source forms: a certificate file as an asset, or a hash
    for s in settings:
        for folder, kind in _CERT_KINDS:
            if not s.path.startswith(f"Certificates/{folder}/"):
                continue
            keys = segment_keys(s.path.split("/")[2]) if s.path.count("/") >= 2 else {}
            name = keys.get("CertificateName")
            thumb = keys.get("CertificateHash")
            if kind == "TrustedProvisioner" and thumb and s.path.count("/") == 2:
                if thumb.upper().replace(" ", "") not in seen_thumbs:
                    out.append(Certificate(kind=kind, name=None, thumbprint=thumb.upper().replace(" ", ""),
                                           source=s.origin))
            if not s.path.endswith("/CertificatePath") and not s.path.endswith("/TrustedProvisioner"):
                continue
            asset = next((ap for ap, sp in assets.items() if sp.strip("/").startswith(s.path.split("[")[0].split("/")[0])
                          and ap.rsplit("/", 1)[-1] == (s.value or "").replace("\\", "/").rsplit("/", 1)[-1]), None)
            if asset is None:
                continue
            try:
                data = img.read(asset, MAX_CERT_BYTES)
            except FormatError as exc:
                problems.append(exc.one_line())
                continue
            if kind == "Client":
                pw_path = s.path.rsplit("/", 1)[0] + "/CertificatePassword"
                pw = next((x.value for x in settings if x.path == pw_path), None)
                cert = _pfx(data, name, pw, asset)
            else:
                cert = _x509(data, kind, name, asset)
            if cert.thumbprint and cert.thumbprint in seen_thumbs:
                continue
            if cert.thumbprint:
                seen_thumbs.add(cert.thumbprint)
            out.append(cert)
    return tuple(out)


def _load_der_or_pem(data: bytes | str):
    from cryptography import x509

    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN" in raw:
        return x509.load_pem_x509_certificate(raw)
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        return x509.load_der_x509_certificate(base64.b64decode(raw, validate=False))


def _describe(cert, kind: str, name: str | None, source: str | None, notes: list[str]) -> Certificate:
    from cryptography.hazmat.primitives import hashes

    from ppkgtool.security.certnotes import collect_notes

    with collect_notes(notes):
        try:
            not_after = cert.not_valid_after_utc.isoformat()
        except AttributeError:  # pragma: no cover - older cryptography
            not_after = cert.not_valid_after.isoformat()
        subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
        _ = cert.serial_number
    return Certificate(kind=kind, name=name, subject=subject, issuer=issuer,
                       thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(), not_after=not_after,
                       source=source, notes=tuple(notes))


def _x509(data: bytes | str, kind: str, name: str | None, source: str | None) -> Certificate:
    from ppkgtool.security.certnotes import collect_notes

    notes: list[str] = []
    try:
        with collect_notes(notes):
            cert = _load_der_or_pem(data)
        return _describe(cert, kind, name, source, notes)
    except (ValueError, binascii.Error) as exc:
        return Certificate(kind=kind, name=name, source=source, problem=f"not a certificate: {exc}")


def _pfx(data: bytes | str, name: str | None, password: str | None, source: str | None) -> Certificate:
    from cryptography.hazmat.primitives.serialization import pkcs12

    from ppkgtool.security.certnotes import collect_notes

    raw = base64.b64decode(data) if isinstance(data, str) else data
    notes: list[str] = []
    try:
        with collect_notes(notes):
            _key, cert, _extra = pkcs12.load_key_and_certificates(raw, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        return Certificate(kind="Client", name=name, source=source,
                           problem=f"PFX not readable with the password in the package: {type(exc).__name__}")
    if cert is None:
        return Certificate(kind="Client", name=name, source=source, problem="PFX holds no certificate")
    return _describe(cert, "Client", name, source, notes)


# --- warnings ------------------------------------------------------------------------------------
