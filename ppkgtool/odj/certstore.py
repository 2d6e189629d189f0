"""Serialized certificate stores carried by CERT_PROVIDER parts (OP_CERT_SST_STORE.pSst).

Format (CertSaveStore CERT_STORE_SAVE_AS_STORE, the ".sst" file; docs/formats/odj.md "SST"):
  header ``00 00 00 00 'C' 'E' 'R' 'T'``, then elements ``u32 property id, u32 encoding (1), u32 size,
  bytes``; property 32 is an encoded certificate (33 a CRL, 34 a CTL), other ids are properties of
  the context they accompany; an element with id 0 (12 zero bytes) ends the store [C: Wine crypt32
  serialize.c, .sst files]. Microsoft's page for OP_CERT_SST_STORE cites RFC 7292, so a PKCS#7
  certificate bag (DER SignedData) is accepted as well [I].
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from ppkgtool.errors import OdjError

STORE_MAGIC = b"\x00\x00\x00\x00CERT"
CERT_CERT_PROP_ID = 32
CERT_CRL_PROP_ID = 33
CERT_CTL_PROP_ID = 34
X509_ASN_ENCODING = 1
MAX_STORE = 16 * 1024 * 1024
NERR_BadOfflineJoinInfo = 2710


@dataclass(frozen=True)
class StoredCertificate:
    """One certificate of a store, with the facts ``odj show`` lists."""

    der: bytes = field(repr=False)
    subject: str
    issuer: str
    thumbprint: str          # SHA-1 of the DER, upper-case hex (what Windows shows)
    serial_number: str
    not_before: str
    not_after: str
    is_ca: bool | None

    def to_json(self) -> dict:
        return {"subject": self.subject, "issuer": self.issuer, "thumbprint": self.thumbprint,
                "serial_number": self.serial_number, "not_before": self.not_before,
                "not_after": self.not_after, "ca": self.is_ca}


def describe_certificate(der: bytes) -> StoredCertificate:
    from cryptography import x509
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise OdjError(f"a stored certificate is not valid DER X.509: {exc}", code=NERR_BadOfflineJoinInfo) from None
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bc.ca
    except x509.ExtensionNotFound:
        is_ca = None
    except ValueError:
        is_ca = None
    return StoredCertificate(
        der=der, subject=cert.subject.rfc4514_string(), issuer=cert.issuer.rfc4514_string(),
        thumbprint=hashlib.sha1(der).hexdigest().upper(), serial_number=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc.isoformat(), not_after=cert.not_valid_after_utc.isoformat(),
        is_ca=is_ca)


def parse_store_elements(data: bytes) -> list[tuple[int, bytes]]:
    """(property id, bytes) of every element up to the end marker."""
    if len(data) > MAX_STORE:
        raise OdjError(f"certificate store of {len(data)} bytes exceeds the limit", code=NERR_BadOfflineJoinInfo)
    if data[:8] != STORE_MAGIC:
        raise OdjError("not a serialized certificate store (no 00000000 'CERT' header)", where="SST offset 0x0",
                       code=NERR_BadOfflineJoinInfo)
    pos = 8
    out: list[tuple[int, bytes]] = []
    while pos < len(data):
        if len(data) - pos < 12:
            raise OdjError(f"truncated element header ({len(data) - pos} bytes left)", where=f"SST offset {pos:#x}",
                           code=NERR_BadOfflineJoinInfo)
        prop, enc, size = struct.unpack_from("<III", data, pos)
        if prop == 0:
            break
        if size > len(data) - pos - 12:
            raise OdjError(f"element {prop} of {size} bytes runs past the end", where=f"SST offset {pos:#x}",
                           code=NERR_BadOfflineJoinInfo)
        out.append((prop, data[pos + 12:pos + 12 + size]))
        pos += 12 + size
    return out


def parse_store(data: bytes) -> list[StoredCertificate]:
    """The certificates of a serialized store (or of a PKCS#7 certificate bag)."""
    if data[:1] == b"\x30":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs7
        try:
            certs = pkcs7.load_der_pkcs7_certificates(data)
        except ValueError as exc:
            raise OdjError(f"certificate store is neither a serialized store nor PKCS#7: {exc}",
                           code=NERR_BadOfflineJoinInfo) from None
        return [describe_certificate(c.public_bytes(serialization.Encoding.DER)) for c in certs]
    return [describe_certificate(body) for prop, body in parse_store_elements(data) if prop == CERT_CERT_PROP_ID]


def build_store(der_certificates) -> bytes:
    """A serialized store holding these DER certificates (no extra properties), with the end marker."""
    out = bytearray(STORE_MAGIC)
    for der in der_certificates:
        der = bytes(der)
        describe_certificate(der)  # refuse garbage early
        out += struct.pack("<III", CERT_CERT_PROP_ID, X509_ASN_ENCODING, len(der)) + der
    out += b"\x00" * 12
    return bytes(out)


def load_certificates(data: bytes) -> list[bytes]:
    """DER certificates from a PEM bundle, a DER certificate, a serialized store or PKCS#7."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        except ValueError as exc:
            raise OdjError(f"bad PEM certificate: {exc}", code=NERR_BadOfflineJoinInfo) from None
    if data[:8] == STORE_MAGIC:
        return [body for prop, body in parse_store_elements(data) if prop == CERT_CERT_PROP_ID]
    try:
        return [x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER)]
    except ValueError:
        return [c.der for c in parse_store(data)]
