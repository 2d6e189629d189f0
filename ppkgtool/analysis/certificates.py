"""Certificates a package installs, from the compiled nodes (RootCATrustedCertificates/<store>/
<thumbprint>/EncodedCertificate, ClientCertificateInstall/PFXCertInstall/<name>/PFXCertBlob,
Provisioning/TrustedProvisioners/<thumbprint>) and, for packages without them, the source forms."""

from __future__ import annotations

import base64
import binascii

from ppkgtool.analysis.image import Image
from ppkgtool.analysis.model import Certificate
from ppkgtool.errors import FormatError
from ppkgtool.package.customizations import segment_keys

MAX_CERT_BYTES = 1024 * 1024


_CERT_KINDS = (("RootCertificates", "Root"), ("CACertificates", "CA"), ("ClientCertificates", "Client"),
               ("TrustedPeopleCertificates", "TrustedPeople"), ("TrustedProvisioners", "TrustedProvisioner"))


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
                cert = _x509(parm.value, kind, parts[2] if len(parts) > 2 else None, cs.file)
                out.append(cert)
                if cert.thumbprint:
                    seen_thumbs.add(cert.thumbprint)
            elif tuple(parm.characteristic) == ("Provisioning", "TrustedProvisioners") and parm.value:
                # the store's form: ./Vendor/MSFT/Provisioning/TrustedProvisioners/<SHA-1> = the certificate [I]
                cert = _x509(parm.value, "TrustedProvisioner", parm.name, cs.file)
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
            name = keys.get("CertificateName") or keys.get("CertificateHash")
            if kind == "TrustedProvisioner" and "CertificateHash" in keys and s.path.count("/") == 2:
                if name and name.upper() not in seen_thumbs:
                    out.append(Certificate(kind=kind, name=name, thumbprint=name.upper().replace(" ", ""),
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


def _describe(cert, kind: str, name: str | None, source: str | None) -> Certificate:
    from cryptography.hazmat.primitives import hashes

    try:
        not_after = cert.not_valid_after_utc.isoformat()
    except AttributeError:  # pragma: no cover - older cryptography
        not_after = cert.not_valid_after.isoformat()
    return Certificate(kind=kind, name=name, subject=cert.subject.rfc4514_string(),
                       issuer=cert.issuer.rfc4514_string(), thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),
                       not_after=not_after, source=source)


def _x509(data: bytes | str, kind: str, name: str | None, source: str | None) -> Certificate:
    try:
        return _describe(_load_der_or_pem(data), kind, name, source)
    except (ValueError, binascii.Error) as exc:
        return Certificate(kind=kind, name=name, source=source, problem=f"not a certificate: {exc}")


def _pfx(data: bytes | str, name: str | None, password: str | None, source: str | None) -> Certificate:
    from cryptography.hazmat.primitives.serialization import pkcs12

    raw = base64.b64decode(data) if isinstance(data, str) else data
    try:
        _key, cert, _extra = pkcs12.load_key_and_certificates(raw, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        return Certificate(kind="Client", name=name, source=source,
                           problem=f"PFX not readable with the password in the package: {type(exc).__name__}")
    if cert is None:
        return Certificate(kind="Client", name=name, source=source, problem="PFX holds no certificate")
    return _describe(cert, "Client", name, source)


# --- warnings ------------------------------------------------------------------------------------
