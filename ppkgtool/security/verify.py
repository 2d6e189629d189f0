"""Windows-like verification of a package against its catalog, with an honest verdict.

What Windows does (ppkg-format.md "Signing" [C]): hash the whole package, require the hash to be a
catalog member and the catalog's Authenticode signature to be valid (WinVerifyTrust, catalog mode,
no revocation); then build the signer's chain with the TrustedProvisioners certificates as the only
trust anchors and no usage requirement.

Verdicts, decided so that any change of a byte is caught:
- ``tampered``: the catalog does not parse, a member or digest does not match, the package hash is
  not listed, the signature or any certificate signature inside the catalog does not verify.
- ``unsigned``: no catalog, or a catalog without signers (what ICD writes) that lists the package.
- ``untrusted``: everything is cryptographically intact but the chain does not end at one of the
  given trusted provisioners, or a certificate on it is outside its validity period or not a CA.
- ``trusted``: intact and anchored at a trusted provisioner.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import hashlib
from pathlib import Path
from dataclasses import dataclass, field
from typing import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ppkgtool.errors import CatalogError, TamperedError, UnsignedError, UntrustedError
from ppkgtool.security import asn1
from ppkgtool.security.catalog import (
    HASH_SIZES, OID_CTL, CatalogSigner, PackageHashes, catalog_path_for, find_catalog, hash_package, parse_catalog,
)
from ppkgtool.security.signing import OID_ECDSA_WITH, OID_RSA_ENCRYPTION, describe_key, issued_by

MAX_CHAIN = 10
_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_RSA_WITH = {"1.2.840.113549.1.1.5": "sha1", "1.2.840.113549.1.1.11": "sha256",
             "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512"}
_ECDSA_WITH = {v: k for k, v in OID_ECDSA_WITH.items()}
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"


class VerdictKind(str, enum.Enum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    UNSIGNED = "unsigned"
    TAMPERED = "tampered"
    NEEDS_PASSWORD = "needs-password"


_LABELS = {
    VerdictKind.TRUSTED: "trusted (signed by a trusted provisioner)",
    VerdictKind.UNTRUSTED: "signed but untrusted",
    VerdictKind.UNSIGNED: "unsigned",
    VerdictKind.TAMPERED: "tampered",
    VerdictKind.NEEDS_PASSWORD: "not checked: the catalog lists the decrypted package (give the package password)",
}


def certificate_info(cert: x509.Certificate, role: str | None = None) -> dict:
    """What users need to recognise a certificate; the thumbprint is Windows' SHA-1 hash."""
    der = cert.public_bytes(serialization.Encoding.DER)
    info = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "thumbprint": hashlib.sha1(der).hexdigest().upper(),
        "sha256": hashlib.sha256(der).hexdigest().upper(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key": describe_key(cert.public_key()),
    }
    if role:
        info["role"] = role
    return info


@dataclass(frozen=True)
class Verdict:
    """The outcome. ``verdict`` is one of trusted, untrusted, unsigned, tampered, needs-password (an
    encrypted package whose catalog lists only its decrypted form, checked without the password)."""

    verdict: str
    signer: dict | None
    chain: list[dict]
    reason: str
    package_sha256: str | None = None
    catalog: dict | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if self.verdict not in {v.value for v in VerdictKind}:
            raise ValueError(f"unknown verdict {self.verdict!r}")

    @property
    def kind(self) -> VerdictKind:
        return VerdictKind(self.verdict)

    @property
    def label(self) -> str:
        return _LABELS[self.kind]

    @property
    def ok(self) -> bool:
        return self.kind is VerdictKind.TRUSTED

    def as_error(self):
        """The matching exception (exit code 4) for callers that require a trusted package."""
        cls = {VerdictKind.UNTRUSTED: UntrustedError, VerdictKind.UNSIGNED: UnsignedError,
               VerdictKind.TAMPERED: TamperedError, VerdictKind.NEEDS_PASSWORD: UnsignedError}.get(self.kind)
        if cls is None:
            return None
        return cls(f"package is {self.label}: {self.reason}",
                   code=0x80070570 if self.kind is VerdictKind.TAMPERED else None)

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "label": self.label, "reason": self.reason, "signer": self.signer,
                "chain": self.chain, "package_sha256": self.package_sha256, "catalog": self.catalog,
                "notes": list(self.notes)}


class _Tampered(Exception):
    pass


def _verify_signature(cert: x509.Certificate, signer: CatalogSigner, data: bytes) -> None:
    """The SignerInfo signature over ``data`` with the certificate's key; raises _Tampered."""
    key = cert.public_key()
    alg = signer.signature_algorithm
    digest = signer.digest_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey):
            if alg == OID_RSA_ENCRYPTION:
                pass
            elif _RSA_WITH.get(alg) != digest:
                raise _Tampered(f"signature algorithm {alg} does not fit an RSA key with {digest}")
            if signer.signature_algorithm_params not in (None, b"\x05\x00"):
                raise _Tampered("RSA signature algorithm with unexpected parameters")
            key.verify(signer.signature, data, padding.PKCS1v15(), _HASHES[digest]())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            if alg != OID_EC_PUBLIC_KEY and _ECDSA_WITH.get(alg) != digest:
                raise _Tampered(f"signature algorithm {alg} does not fit an ECDSA key with {digest}")
            if alg != OID_EC_PUBLIC_KEY and signer.signature_algorithm_params is not None:
                raise _Tampered("ECDSA signature algorithm with parameters")
            key.verify(signer.signature, data, ec.ECDSA(_HASHES[digest]()))
        else:
            raise _Tampered(f"signer key type {type(key).__name__} is not supported by Authenticode")
    except InvalidSignature:
        raise _Tampered("the catalog signature does not verify") from None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise _Tampered(f"the catalog signature cannot be checked: {exc}") from None


def _raw_issuer_and_serial(cert: x509.Certificate) -> tuple[bytes, int]:
    tbs = asn1.decode(cert.tbs_certificate_bytes).children()
    i = 1 if tbs[0].tag == asn1.context(0) else 0
    return tbs[i + 2].der, tbs[i].as_int()


def _tbs_signature_algorithm_matches(cert: x509.Certificate) -> bool:
    """RFC 5280 4.1.1.2: the outer signatureAlgorithm must equal the one inside the TBS, and the
    signature BIT STRING holds whole octets (no unused bits)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    outer = asn1.decode(der).children()
    tbs = outer[0].children()
    i = 1 if tbs[0].tag == asn1.context(0) else 0
    return tbs[i + 1].der == outer[1].der and outer[2].value[:1] == b"\x00"


def _verifies(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> bool | None:
    """True when some certificate of ``pool`` named as ``cert``'s issuer (or ``cert`` itself when
    self-issued) verifies its signature; False when such candidates exist but none verifies; None
    when no candidate exists (the issuer is not available)."""
    candidates = [c for c in pool if c.subject == cert.issuer]
    if cert.subject == cert.issuer:
        candidates.append(cert)
    if not candidates:
        return None
    return any(issued_by(cert, c) for c in candidates)


def _check_certificates(bag: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate]) -> None:
    """Rule 1: a certificate whose named issuer is in the catalog (or itself, when self-issued)
    must verify against it. A same-named trusted provisioner that does not verify it is another CA
    (e.g. a renewed root with a new key), not evidence of tampering."""
    pool = list(bag)
    for cert in bag:
        if not _tbs_signature_algorithm_matches(cert):
            raise _Tampered(f"certificate {cert.subject.rfc4514_string()}: outer and inner signature "
                            "algorithms differ")
        if _verifies(cert, pool) is False:
            raise _Tampered(f"certificate {cert.subject.rfc4514_string()}: its signature does not verify "
                            "with its issuer in the catalog")


def _check_extras(bag: Sequence[x509.Certificate], trusted: Sequence[x509.Certificate],
                  path: Sequence[x509.Certificate]) -> None:
    """Rule 2: a certificate of the catalog that is not on the signer's chain must at least verify
    against a certificate at hand; otherwise it cannot be told apart from a changed one."""
    pool = list(bag) + list(trusted)
    for cert in bag:
        if any(cert == p for p in path):
            continue
        if not _verifies(cert, pool):
            raise _Tampered(f"certificate {cert.subject.rfc4514_string()} is not part of the signer's chain "
                            "and does not verify against any certificate at hand")


def _same_cert(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a == b or (a.subject == b.subject and
                      a.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo) ==
                      b.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))


def _build_chain(leaf: x509.Certificate, bag: Sequence[x509.Certificate],
                 trusted: Sequence[x509.Certificate]) -> tuple[list[x509.Certificate], int | None, str]:
    """The signer's chain as far as it goes (trusted provisioners preferred as issuers, then the
    catalog's certificates), the index of the first trust anchor on it (None: not anchored), and
    why it is not anchored."""
    path = [leaf]
    while len(path) <= MAX_CHAIN:
        current = path[-1]
        if current.issuer == current.subject and issued_by(current, current):
            break
        issuer = next((t for t in trusted if issued_by(current, t)), None)
        if issuer is None:
            issuer = next((c for c in bag if not any(c == p for p in path) and issued_by(current, c)), None)
        if issuer is None:
            break
        path.append(issuer)
    anchor = next((i for i, c in enumerate(path) if any(_same_cert(c, t) for t in trusted)), None)
    if anchor is not None:
        return path, anchor, ""
    last = path[-1]
    if last.issuer == last.subject and issued_by(last, last):
        why = (f"the chain ends at the root {last.subject.rfc4514_string()}, which is not a trusted "
               "provisioner (CERT_E_UNTRUSTEDROOT)")
    else:
        why = (f"no issuer certificate for {last.subject.rfc4514_string()} in the catalog or the trusted "
               "provisioners (CERT_E_CHAINING)")
    return path, None, why


def _chain_problems(path: Sequence[x509.Certificate], anchored: bool, now: _dt.datetime) -> list[str]:
    problems = []
    for i, cert in enumerate(path):
        name = cert.subject.rfc4514_string()
        if now < cert.not_valid_before_utc:
            problems.append(f"{name} is not valid before {cert.not_valid_before_utc.isoformat()}")
        elif now > cert.not_valid_after_utc:
            problems.append(f"{name} expired on {cert.not_valid_after_utc.isoformat()} (CERT_E_EXPIRED)")
        if i > 0 and not (anchored and i == len(path) - 1):
            try:
                bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
                if not bc.ca:
                    problems.append(f"{name} issues certificates but is not a CA (basic constraints)")
                elif bc.path_length is not None and bc.path_length < i - 1:
                    problems.append(f"{name} path length constraint exceeded")
            except x509.ExtensionNotFound:
                pass  # CryptoAPI accepts an issuer without basic constraints [I]
    return problems


def verify_package(package, catalog: bytes | None, trusted: Sequence[x509.Certificate] = (), *,
                   now: _dt.datetime | None = None) -> Verdict:
    """Verify ``package`` (bytes, binary file or path) against a catalog's DER (None: no catalog).

    ``trusted`` are the TrustedProvisioners certificates: the only trust anchors. What
    cryptography says about odd catalog certificates (security.certnotes) is in the verdict's
    notes, one line each, whatever the verdict.
    """
    from ppkgtool.security.certnotes import collect_notes

    later: list[str] = []
    with collect_notes(later, "a catalog certificate"):
        verdict = _verify_package(package, catalog, trusted, now=now)
    notes = list((verdict.catalog or {}).get("certificate_notes") or [])
    known = {n.split("): ", 1)[-1] for n in notes}
    notes += [n for n in verdict.notes if n not in notes]
    notes += [n for n in later if n.split(": ", 1)[-1] not in known]   # read again later: said once
    if tuple(notes) == verdict.notes:
        return verdict
    return dataclasses.replace(verdict, notes=tuple(notes))


def _verify_package(package, catalog: bytes | None, trusted: Sequence[x509.Certificate] = (), *,
                    now: _dt.datetime | None = None) -> Verdict:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    trusted = list(trusted)
    if not all(isinstance(t, x509.Certificate) for t in trusted):
        raise TypeError("trusted must hold x509.Certificate objects")
    hashes_ = package if isinstance(package, PackageHashes) else hash_package(package)
    pkg_hash = hashes_.sha256.hex()
    if catalog is None:
        return Verdict("unsigned", None, [], "no catalog: the package carries no signature", pkg_hash)
    try:
        cat = parse_catalog(catalog)
    except CatalogError as exc:
        return Verdict("tampered", None, [], f"the catalog does not parse: {exc.message}", pkg_hash)
    cat_json = cat.to_json()

    def tampered(reason: str, signer=None, chain=()) -> Verdict:
        return Verdict("tampered", signer, list(chain), reason, pkg_hash, cat_json)

    for m in cat.members:
        if m.indirect_digest is not None:
            if m.hash_name != m.indirect_digest_algorithm or m.indirect_digest != m.tag:
                return tampered(f"catalog member {m.tag.hex()} and its SPC_INDIRECT_DATA digest differ")
    member = cat.member_for(hashes_)
    if member is None:
        return tampered("the package's hash is not listed in the catalog: the package or the catalog "
                        "was changed (or the catalog belongs to another package)")
    if not cat.signers:
        return Verdict("unsigned", None, [], "the catalog lists the package but has no signature "
                       "(as ICD writes it when signing is off)", pkg_hash, cat_json)

    notes: list[str] = []
    primary: tuple[dict, list[dict]] | None = None
    signer_certs = []
    for index, signer in enumerate(cat.signers):
        cert = None
        for c, der in zip(cat.certificates, cat.certificate_ders):
            issuer_der, serial = _raw_issuer_and_serial(c)
            if issuer_der == signer.issuer_der and serial == signer.serial:
                cert = c
                break
        if cert is None:
            return tampered(f"signer {index}: the catalog holds no certificate for its issuer and serial")
        info = certificate_info(cert, "signer")
        info["signing_time"] = signer.signing_time.isoformat() if signer.signing_time else None
        info["digest_algorithm"] = signer.digest_algorithm
        if signer.program_name:
            info["description"] = signer.program_name
        if signer.more_info_url:
            info["url"] = signer.more_info_url
        if signer.signed_attributes_der is None:
            return tampered(f"signer {index}: no authenticated attributes (Authenticode requires them)", info)
        if signer.content_type != OID_CTL:
            return tampered(f"signer {index}: the contentType attribute is not the CTL type", info)
        if signer.message_digest is None or len(signer.message_digest) != HASH_SIZES[signer.digest_algorithm]:
            return tampered(f"signer {index}: no valid messageDigest attribute", info)
        digest = hashlib.new(signer.digest_algorithm, cat.content_octets).digest()
        if digest != signer.message_digest:
            return tampered(f"signer {index}: the CTL content does not match the signed digest", info)
        try:
            _verify_signature(cert, signer, signer.signed_attributes_der)
        except _Tampered as exc:
            return tampered(f"signer {index}: {exc}", info)
        if signer.signing_certificates is not None:
            # ESS signingCertificateV2 (RFC 5035): the first hash names the signer, every hash a
            # certificate of the catalog
            ders = [der for der in cat.certificate_ders]
            listed = signer.signing_certificates
            signer_der = cat.certificate_ders[cat.certificates.index(cert)]
            if hashlib.new(listed[0][0], signer_der).digest() != listed[0][1]:
                return tampered(f"signer {index}: the signing certificate does not match the signed "
                                "signingCertificateV2 hash", info)
            for name, digest in listed[1:]:
                if not any(hashlib.new(name, d).digest() == digest for d in ders):
                    return tampered(f"signer {index}: a certificate bound by the signature (signingCertificateV2) "
                                    "is missing or was changed", info)
        if signer.unsigned_attribute_oids:
            notes.append(f"signer {index} carries unsigned attributes ({', '.join(signer.unsigned_attribute_oids)}),"
                         " such as timestamps; they are not checked")
        signer_certs.append(cert)
        if primary is None:
            primary = (info, [])
    try:
        _check_certificates(cat.certificates, trusted)
    except _Tampered as exc:
        return tampered(str(exc), primary[0])
    if cat.crl_count:
        notes.append(f"the catalog carries {cat.crl_count} CRL(s); revocation is not checked (Windows "
                     "checks none for packages)")

    # Windows builds the chain of the catalog's (primary) signer only.
    leaf = signer_certs[0]
    full_path, anchor, why = _build_chain(leaf, cat.certificates, trusted)
    try:
        _check_extras(cat.certificates, trusted, full_path)
    except _Tampered as exc:
        return tampered(str(exc), primary[0])
    anchored = anchor is not None
    path = full_path[:anchor + 1] if anchored else full_path
    roles = ["signer"] + ["issuer"] * (len(path) - 1)
    if anchored:
        roles[-1] = "trusted provisioner" if len(path) > 1 else "signer, trusted provisioner"
    elif len(path) > 1 and path[-1].issuer == path[-1].subject:
        roles[-1] = "root (not trusted)"
    chain = [certificate_info(c, r) for c, r in zip(path, roles)]
    signer_info = primary[0]
    if not anchored:
        return Verdict("untrusted", signer_info, chain, why, pkg_hash, cat_json, tuple(notes))
    problems = _chain_problems(path, anchored, now)
    if problems:
        return Verdict("untrusted", signer_info, chain, "; ".join(problems), pkg_hash, cat_json, tuple(notes))
    return Verdict("trusted", signer_info, chain,
                   f"signed by {signer_info['subject']}, chained to the trusted provisioner "
                   f"{path[-1].subject.rfc4514_string()}", pkg_hash, cat_json, tuple(notes))


# --- a package file on disk: which catalog (catalog.find_catalog), which bytes -------------------

def verify_file(package, catalog: bytes | None, trusted: Sequence[x509.Certificate] = (), *,
                password: str | None = None, now: _dt.datetime | None = None) -> Verdict:
    """Verify a package file the way Windows does, whatever form its catalog lists.

    Which bytes a catalog covers [I: Windows decrypts before it validates]: the file itself (an
    unencrypted package, or a catalog made for the encrypted file); for an encrypted package also
    its decrypted form, exactly or zero-padded to whole 160-byte units (what ``build --encrypt`` and
    ``sign`` list). The decrypted forms can only be checked with the package's password; without
    it such a catalog cannot be matched, and the verdict says so.
    """
    import os
    import tempfile

    from ppkgtool.security.encryption import decrypt_package, looks_encrypted, trim_padding
    pkg = Path(package)
    direct = hash_package(pkg)
    if catalog is None:
        return verify_package(direct, None, trusted, now=now)
    with open(pkg, "rb") as fh:
        head = fh.read(16)
    encrypted = looks_encrypted(direct.size, head)
    try:
        listed = parse_catalog(catalog).member_for(direct) is not None
    except CatalogError:
        listed = True                 # a bad catalog: verify_package says so
    if listed or not encrypted:
        return verify_package(direct, catalog, trusted, now=now)
    if password is None:
        # the catalog may list only the decrypted package (a signed catalog carried by 'encrypt'):
        # not a verdict on the package until it is decrypted
        v = verify_package(direct, catalog, trusted, now=now)
        return Verdict("needs-password", v.signer, v.chain,
                       "the catalog does not list this encrypted file; it lists another form, such as the "
                       "decrypted package Windows checks after decrypting: give the package password "
                       "(--password-file/--password-env) to check that form", v.package_sha256, v.catalog, v.notes)
    with tempfile.TemporaryDirectory(prefix="ppkgtool-verify-") as tmp:
        os.chmod(tmp, 0o700)
        plain = Path(tmp) / "plain.ppkg"
        decrypt_package(pkg, plain, password)
        with open(plain, "r+b") as fh:
            padded = hash_package(fh)
            fh.seek(0)
            trim_padding(fh, padded.size)
        exact = hash_package(plain)
    parsed = parse_catalog(catalog)
    target = padded if parsed.member_for(exact) is None and parsed.member_for(padded) is not None else exact
    return verify_package(target, catalog, trusted, now=now)

