"""Signing a package: load a signer (PEM or PFX), check it, and write an Authenticode-signed catalog.

The signature is what signtool puts on the catalog WCD writes (ppkg-format.md "Signing" [C]):
a PKCS#7 SignedData over the CTL with one SignerInfo (RFC 2315 9.2) whose authenticated attributes
are contentType = CTL, messageDigest (SHA-256 of the CTL contents octets, RFC 2315 9.3),
signingTime, SpcSpOpusInfo and SpcStatementType (Authenticode), and the signer's certificate chain.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from ppkgtool.errors import InvalidInputError, SecretSourceError, WrongPasswordError
from ppkgtool.security import asn1
from ppkgtool.security.catalog import (
    HASH_OID_BY_NAME, OID_CONTENT_TYPE, OID_CTL, OID_MESSAGE_DIGEST, OID_SIGNING_TIME,
    OID_SIGNING_CERTIFICATE_V2, OID_SPC_INDIVIDUAL_SP_KEY_PURPOSE, OID_SPC_SP_OPUS_INFO, OID_SPC_STATEMENT_TYPE,
    _default_identity, build_ctl, package_list, parse_catalog, signed_data_content_info,
)

OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_ECDSA_WITH = {"sha1": "1.2.840.10045.4.1", "sha256": "1.2.840.10045.4.3.2",
                  "sha384": "1.2.840.10045.4.3.3", "sha512": "1.2.840.10045.4.3.4"}
SUPPORTED_CURVES = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
MIN_RSA_BITS = 2048
WEAK_MIN_RSA_BITS = 1024
MAX_CREDENTIAL_FILE = 1024 * 1024
# Bind the certificates inside the catalog to the signature with the standard ESS
# signingCertificateV2 attribute (RFC 5035): without it a changed byte in an intermediate
# certificate could go unnoticed. Windows ignores authenticated attributes it does not use [I];
# OpenSSL's CMS verifier checks it. Set to False to write exactly signtool's attribute set.
BIND_CERTIFICATES = True

Password = str | bytes | Callable[[], str | bytes] | None
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Signer:
    """A checked signing identity: certificate, matching private key, and its issuers."""

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()
    warnings: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.certificate, x509.Certificate):
            raise TypeError("certificate must be an x509.Certificate")
        if not isinstance(self.private_key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise TypeError("private_key must be an RSA or EC private key")
        if not all(isinstance(c, x509.Certificate) for c in self.chain):
            raise TypeError("chain must hold x509.Certificate objects")

    @property
    def key_description(self) -> str:
        return describe_key(self.certificate.public_key())

    def certificates_der(self) -> list[bytes]:
        """What goes into the catalog: the signer and its intermediates. A self-signed root is
        left out: Windows anchors the chain only at the TrustedProvisioners copy, and a root inside
        the catalog could not be checked against anything but itself."""
        enc = serialization.Encoding.DER
        return [self.certificate.public_bytes(enc)] + [c.public_bytes(enc) for c in self.chain
                                                       if not _self_signed(c)]


def describe_key(key) -> str:
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return f"RSA {key.key_size}"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return f"ECDSA {key.curve.name}"
    return type(key).__name__


# --- loading ------------------------------------------------------------------------------------

def read_credential_file(path, what: str) -> bytes:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_CREDENTIAL_FILE:
            raise InvalidInputError(f"{what} {p} is larger than {MAX_CREDENTIAL_FILE} bytes")
        return p.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {p}: {exc.strerror}") from None


def _password_bytes(password: Password) -> bytes | None:
    if callable(password):
        password = password()
    if password is None:
        return None
    return password.encode("utf-8") if isinstance(password, str) else bytes(password)


def load_certificates(data: bytes, what: str = "certificate file") -> list[x509.Certificate]:
    """All certificates of a PEM bundle, or the one certificate of a DER file."""
    if b"-----BEGIN" in data:
        if b"CERTIFICATE-----" not in data:
            return []
        try:
            return x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise InvalidInputError(f"{what}: a PEM certificate does not parse: {exc}") from None
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise InvalidInputError(f"{what} holds no PEM or DER certificate") from None


def load_certificate_files(paths: Sequence) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for p in paths:
        certs = load_certificates(read_credential_file(p, "certificate file"), f"certificate file {p}")
        if not certs:
            raise InvalidInputError(f"certificate file {p} holds no certificate")
        out.extend(certs)
    return out


def load_private_key(data: bytes, password: Password, what: str) -> PrivateKey:
    def attempt(pw):
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=pw)
        return serialization.load_der_private_key(data, password=pw)

    try:
        key = attempt(None)
    except TypeError:  # encrypted key, no password given yet
        pw = _password_bytes(password)
        if pw is None:
            raise SecretSourceError(f"{what} is encrypted and no password was given",
                                    hint="use --key-password-file or --key-password-env") from None
        try:
            key = attempt(pw)
        except ValueError:
            raise WrongPasswordError(f"{what}: wrong password or damaged key") from None
    except ValueError as exc:
        raise InvalidInputError(f"{what} is not a PEM or DER private key: {exc}") from None
    except UnsupportedAlgorithm as exc:
        raise InvalidInputError(f"{what}: unsupported key type: {exc}") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise InvalidInputError(f"{what} holds a {type(key).__name__}; Authenticode needs RSA or ECDSA")
    return key


def load_pfx(data: bytes, password: Password, what: str):
    for empty in (None, b""):  # PFX files without a password use either form
        try:
            return pkcs12.load_pkcs12(data, empty)
        except ValueError:
            pass
    pw = _password_bytes(password)
    if pw is None:
        raise SecretSourceError(f"{what} is password-protected and no password was given",
                                hint="use --pfx-password-file or --pfx-password-env")
    try:
        return pkcs12.load_pkcs12(data, pw)
    except ValueError:
        raise WrongPasswordError(f"{what}: wrong PFX password or damaged file") from None


def load_signer(cert_path, key_path=None, chain_path=None, pfx_password: Password = None, *,
                key_password: Password = None, allow_weak: bool = False, allow_any_usage: bool = False,
                now: _dt.datetime | None = None) -> Signer:
    """Load a signer from a PFX/PKCS#12 file, or a PEM/DER certificate plus key.

    ``cert_path`` may be a .pfx/.p12 (key and chain inside), or a certificate with ``key_path``
    (a PEM holding both certificate and key works without ``key_path``). ``chain_path`` adds
    intermediate (and optionally root) certificates. Passwords may be given as callables so that
    they are asked for only when needed. Then ``check_signer`` rules apply.
    """
    data = read_credential_file(cert_path, "certificate file")
    extra: list[x509.Certificate] = []
    if b"-----BEGIN" not in data and looks_pkcs12(data):
        if key_path is not None:
            raise InvalidInputError("--key is not used with a PFX file: the key is inside it")
        p12 = load_pfx(data, pfx_password, f"PFX file {cert_path}")
        if p12.key is None or p12.cert is None:
            raise InvalidInputError(f"PFX file {cert_path} holds no private key and certificate pair")
        cert = p12.cert.certificate
        key = p12.key
        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise InvalidInputError(f"PFX file {cert_path} holds a {type(key).__name__}; "
                                    "Authenticode needs RSA or ECDSA")
        extra = [c.certificate for c in p12.additional_certs]
    else:
        certs = load_certificates(data, f"certificate file {cert_path}")
        if not certs:
            raise InvalidInputError(f"certificate file {cert_path} holds no certificate")
        cert, extra = certs[0], certs[1:]
        if key_path is not None:
            key = load_private_key(read_credential_file(key_path, "key file"), key_password, f"key file {key_path}")
        elif b"PRIVATE KEY-----" in data:
            key = load_private_key(data, key_password, f"key in {cert_path}")
        else:
            raise InvalidInputError(f"no private key for {cert_path}",
                                    hint="pass --key KEY.pem, or a .pfx holding certificate and key")
    if chain_path is not None:
        extra.extend(load_certificate_files([chain_path]))
    return check_signer(cert, key, extra, allow_weak=allow_weak, allow_any_usage=allow_any_usage, now=now)


def looks_pkcs12(data: bytes) -> bool:
    # PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, ... } (RFC 7292 4)
    try:
        node = asn1.decode_prefix(data)
        kids = node.children()
        return node.tag == asn1.SEQUENCE and kids[0].tag == asn1.INTEGER and kids[0].as_int() == 3
    except Exception:  # noqa: BLE001 - any failure means "not a PFX"; other loaders report it
        return False


# --- checks -------------------------------------------------------------------------------------

def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer and issued_by(cert, cert)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s name and key match and its signature on ``cert`` verifies."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False


def order_chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> tuple[list[x509.Certificate], list[x509.Certificate]]:
    """Issuers of ``leaf`` from ``pool`` in path order, and the pool certificates not on the path."""
    path: list[x509.Certificate] = []
    remaining = [c for c in pool if c != leaf]
    current = leaf
    while True:
        if current.issuer == current.subject and issued_by(current, current):
            break
        nxt = next((c for c in remaining if issued_by(current, c)), None)
        if nxt is None:
            break
        path.append(nxt)
        remaining.remove(nxt)
        current = nxt
    return path, remaining


def check_signer(certificate: x509.Certificate, private_key, chain: Sequence[x509.Certificate] = (), *,
                 allow_weak: bool = False, allow_any_usage: bool = False,
                 now: _dt.datetime | None = None) -> Signer:
    """Refuse what would not sign or verify; return the checked Signer.

    Refused: a key that does not belong to the certificate; a certificate not valid now (Windows
    checks an untimestamped catalog at install time, so an expired signer fails there); RSA under
    2048 bits, curves other than P-256/384/521, SHA-1/MD5 certificate signatures (``allow_weak``
    accepts RSA >= 1024 and SHA-1); a KeyUsage extension without digitalSignature (``allow_any_usage``
    overrides it, as Windows' provisioning engine asks for no usage).
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    warnings: list[str] = []
    subject = _subject(certificate)
    pub = certificate.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        floor = WEAK_MIN_RSA_BITS if allow_weak else MIN_RSA_BITS
        if pub.key_size < floor:
            raise InvalidInputError(f"the signer key is RSA {pub.key_size}; at least {floor} bits are required",
                                    hint=None if allow_weak else "use a 2048-bit or larger key")
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        if not isinstance(pub.curve, SUPPORTED_CURVES):
            raise InvalidInputError(f"the signer key is on curve {pub.curve.name}; Windows verifies ECDSA "
                                    "signatures on P-256, P-384 and P-521 only")
    else:
        raise InvalidInputError(f"the signer certificate holds a {type(pub).__name__} key; "
                                "Authenticode signatures need RSA or ECDSA")
    if _spki(pub) != _spki(private_key.public_key()):
        raise InvalidInputError(f"the private key does not belong to the certificate {subject}",
                                hint="check that --key (or the PFX) matches --cert")
    if now < certificate.not_valid_before_utc:
        raise InvalidInputError(f"the signer certificate {subject} is not valid before "
                                f"{certificate.not_valid_before_utc.isoformat()}")
    if now > certificate.not_valid_after_utc:
        raise InvalidInputError(f"the signer certificate {subject} expired on "
                                f"{certificate.not_valid_after_utc.isoformat()}",
                                hint="Windows checks an untimestamped catalog against the current time: renew it")
    hash_alg = certificate.signature_hash_algorithm
    if hash_alg is not None and hash_alg.name in ("md5", "sha1"):
        if not allow_weak or hash_alg.name == "md5":
            raise InvalidInputError(f"the signer certificate is signed with {hash_alg.name.upper()}, "
                                    "which Windows no longer trusts for code signing")
        warnings.append(f"certificate signed with {hash_alg.name.upper()}")
    try:
        ku = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.digital_signature:
            if not allow_any_usage:
                raise InvalidInputError(
                    f"the certificate {subject} has a KeyUsage extension without digitalSignature",
                    hint="Windows' provisioning engine requires no usage: pass --allow-any-usage to sign anyway")
            warnings.append("KeyUsage lacks digitalSignature (accepted by Windows provisioning, refused by "
                            "stricter Authenticode verifiers)")
    except x509.ExtensionNotFound:
        pass
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            warnings.append("ExtendedKeyUsage has no codeSigning: Windows provisioning accepts it, "
                            "signtool and osslsigncode verification would not")
    except x509.ExtensionNotFound:
        pass
    path, unused = order_chain(certificate, list(chain))
    for c in unused:
        warnings.append(f"chain certificate {_subject(c)} is not an issuer of the signer: left out")
    for c in path:
        if now > c.not_valid_after_utc or now < c.not_valid_before_utc:
            warnings.append(f"chain certificate {_subject(c)} is not valid now "
                            f"({c.not_valid_before_utc.date()} to {c.not_valid_after_utc.date()})")
    return Signer(certificate=certificate, private_key=private_key, chain=tuple(path), warnings=tuple(warnings))


# --- the SignerInfo ----------------------------------------------------------------------------

def issuer_and_serial(cert: x509.Certificate) -> bytes:
    """IssuerAndSerialNumber with the issuer Name bytes exactly as in the certificate."""
    tbs = asn1.decode(cert.tbs_certificate_bytes).children()
    i = 1 if tbs[0].tag == asn1.context(0) else 0
    serial, issuer = tbs[i], tbs[i + 2]
    return asn1.seq(issuer.der, serial.der)


def _opus_info(program_name: str | None, more_info_url: str | None) -> bytes:
    # SpcSpOpusInfo: programName [0] EXPLICIT SpcString (unicode [0] IMPLICIT BMPString),
    # moreInfo [1] EXPLICIT SpcLink (url [0] IMPLICIT IA5String)
    items = []
    if program_name:
        items.append(asn1.explicit(0, asn1.tlv(asn1.context(0, constructed=False),
                                                program_name.encode("utf-16-be"))))
    if more_info_url:
        try:
            raw = more_info_url.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidInputError("the more-info URL must be ASCII") from None
        items.append(asn1.explicit(1, asn1.tlv(asn1.context(0, constructed=False), raw)))
    return asn1.seq(*items)


def _sign(key: PrivateKey, data: bytes) -> tuple[bytes, bytes]:
    """(signature, digestEncryptionAlgorithm) with SHA-256."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256()), asn1.algorithm(OID_RSA_ENCRYPTION)
    return key.sign(data, ec.ECDSA(hashes.SHA256())), asn1.algorithm(OID_ECDSA_WITH["sha256"], None)


def _signing_certificate_v2(certificates_der: Sequence[bytes]) -> bytes:
    # SigningCertificateV2 { certs SEQUENCE OF ESSCertIDv2 { certHash } } with the DEFAULT sha256 omitted
    return asn1.seq(asn1.seq(*(asn1.seq(asn1.octets(hashlib.sha256(d).digest())) for d in certificates_der)))


def signer_info(signer: Signer, ctl_content_octets: bytes, *, signing_time: _dt.datetime,
                program_name: str | None = None, more_info_url: str | None = None,
                bind_certificates: bool | None = None) -> bytes:
    """One SignerInfo (RFC 2315 9.2) over the CTL's contents octets, Authenticode attributes."""
    digest = hashlib.sha256(ctl_content_octets).digest()
    attributes = [
        asn1.seq(asn1.oid(OID_CONTENT_TYPE), asn1.set_of([asn1.oid(OID_CTL)])),
        asn1.seq(asn1.oid(OID_SIGNING_TIME), asn1.set_of([asn1.time(signing_time)])),
        asn1.seq(asn1.oid(OID_MESSAGE_DIGEST), asn1.set_of([asn1.octets(digest)])),
        asn1.seq(asn1.oid(OID_SPC_SP_OPUS_INFO), asn1.set_of([_opus_info(program_name, more_info_url)])),
        asn1.seq(asn1.oid(OID_SPC_STATEMENT_TYPE),
                 asn1.set_of([asn1.seq(asn1.oid(OID_SPC_INDIVIDUAL_SP_KEY_PURPOSE))])),
    ]
    if BIND_CERTIFICATES if bind_certificates is None else bind_certificates:
        attributes.append(asn1.seq(asn1.oid(OID_SIGNING_CERTIFICATE_V2),
                                   asn1.set_of([_signing_certificate_v2(signer.certificates_der())])))
    signed_set = asn1.set_of(attributes)  # the signature covers the SET OF encoding (RFC 2315 9.3)
    signature, sig_alg = _sign(signer.private_key, signed_set)
    return asn1.seq(
        asn1.integer(1),
        issuer_and_serial(signer.certificate),
        asn1.algorithm(HASH_OID_BY_NAME["sha256"]),
        asn1.tlv(asn1.context(0), asn1.decode(signed_set).value),  # [0] IMPLICIT
        sig_alg,
        asn1.octets(signature),
    )


def _signed_catalog(ctl: bytes, signer: Signer, *, signing_time, program_name, more_info_url) -> bytes:
    ctl_node = asn1.decode(ctl)
    info = signer_info(signer, ctl_node.value, signing_time=signing_time, program_name=program_name,
                       more_info_url=more_info_url)
    return signed_data_content_info(ctl, digest_algorithms=["sha256"], certificates=signer.certificates_der(),
                                    signer_infos=[info])


def sign_package(package, signer: Signer, *, list_identifier: bytes | None = None,
                 effective_time: _dt.datetime | None = None, signing_time: _dt.datetime | None = None,
                 program_name: str | None = None, more_info_url: str | None = None,
                 extra_packages: Sequence = ()) -> bytes:
    """A signed catalog (.cat DER) listing ``package`` (bytes, binary file or path) and any
    ``extra_packages``."""
    if not isinstance(signer, Signer):
        raise TypeError("signer must be a Signer (see load_signer)")
    list_identifier, effective_time = _default_identity(list_identifier, effective_time)
    ctl = build_ctl(package_list(package, extra_packages), list_identifier=list_identifier,
                    effective_time=effective_time)
    return _signed_catalog(ctl, signer, signing_time=signing_time or _dt.datetime.now(_dt.timezone.utc),
                           program_name=program_name, more_info_url=more_info_url)


def sign_catalog(catalog: bytes, signer: Signer, *, signing_time: _dt.datetime | None = None,
                 program_name: str | None = None, more_info_url: str | None = None) -> bytes:
    """Sign an existing unsigned catalog (as WCD's signtool step does), keeping its CTL bytes."""
    parsed = parse_catalog(catalog)
    if parsed.signed:
        raise InvalidInputError("the catalog is already signed")
    ctl = asn1.header(asn1.SEQUENCE, len(parsed.content_octets)) + parsed.content_octets
    return _signed_catalog(ctl, signer, signing_time=signing_time or _dt.datetime.now(_dt.timezone.utc),
                           program_name=program_name, more_info_url=more_info_url)
