"""Microsoft security catalogs (.cat) as ICD/WCD write them beside a package, signed or not.

A catalog is a PKCS#7 SignedData (RFC 2315 9.1) whose content is a Microsoft Certificate Trust List
(contentType 1.3.6.1.4.1.311.10.1) used as a catalog list (subject usage 1.3.6.1.4.1.311.12.1.1).
Each list member's subject identifier is a flat hash of a file; ICD lists the package twice: its
SHA-1 (attribute CAT_MEMBERINFO2) and its SHA-256 (CAT_MEMBERINFO2 + SPC_INDIRECT_DATA carrying the
same digest). See docs/formats/catalog.md and ppkg-format.md "Signing" [C].

This module builds and parses the structure only; signing is in ``signing.py`` and the Windows-like
trust decision in ``verify.py``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Iterable, Sequence

from ppkgtool.errors import CatalogError
from ppkgtool.security import asn1

if TYPE_CHECKING:      # loaded where certificates are parsed: encrypt and build need no x509 to start
    from cryptography import x509

# --- object identifiers ------------------------------------------------------------------------
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"          # RFC 2315 14
OID_CTL = "1.3.6.1.4.1.311.10.1"                  # szOID_CTL
OID_CATALOG_LIST = "1.3.6.1.4.1.311.12.1.1"       # szOID_CATALOG_LIST (subject usage)
OID_CATALOG_LIST_MEMBER = "1.3.6.1.4.1.311.12.1.2"   # szOID_CATALOG_LIST_MEMBER (older makecat)
OID_CATALOG_LIST_MEMBER2 = "1.3.6.1.4.1.311.12.1.3"  # szOID_CATALOG_LIST_MEMBER2 (as in the fixture)
OID_CAT_MEMBERINFO2 = "1.3.6.1.4.1.311.12.2.3"    # CAT_MEMBERINFO2
OID_CAT_MEMBERINFO = "1.3.6.1.4.1.311.12.2.2"     # CAT_MEMBERINFO
OID_CAT_NAMEVALUE = "1.3.6.1.4.1.311.12.2.1"      # CAT_NAMEVALUE
OID_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"   # SPC_INDIRECT_DATA_OBJID
OID_SPC_CAB_DATA = "1.3.6.1.4.1.311.2.1.25"       # SPC_CAB_DATA_OBJID (flat-file data type ICD uses)
OID_SPC_SP_OPUS_INFO = "1.3.6.1.4.1.311.2.1.12"   # SPC_SP_OPUS_INFO_OBJID
OID_SPC_STATEMENT_TYPE = "1.3.6.1.4.1.311.2.1.11"  # SPC_STATEMENT_TYPE_OBJID
OID_SPC_INDIVIDUAL_SP_KEY_PURPOSE = "1.3.6.1.4.1.311.2.1.21"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"         # RFC 5652 11.1
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"       # RFC 5652 11.2
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"         # RFC 5652 11.3
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # RFC 5035 3 (ESS signingCertificateV2)

HASH_OIDS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
HASH_OID_BY_NAME = {v: k for k, v in HASH_OIDS.items()}
HASH_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

MAX_CATALOG_SIZE = 16 * 1024 * 1024
MAX_MEMBERS = 100_000
_READ = 1 << 20

PackageInput = "bytes | BinaryIO | os.PathLike[str] | str"


def _fail(message: str, *, where: str | None = None) -> CatalogError:
    return CatalogError(message, where=where)


# --- hashing the package ------------------------------------------------------------------------

@dataclass(frozen=True)
class PackageHashes:
    """Flat hashes of a whole package file, as CryptCATAdminCalcHashFromFileHandle computes them."""

    sha1: bytes
    sha256: bytes
    size: int

    def by_name(self, name: str) -> bytes | None:
        return {"sha1": self.sha1, "sha256": self.sha256}.get(name)


def hash_package(package: bytes | bytearray | memoryview | BinaryIO | os.PathLike | str) -> PackageHashes:
    """SHA-1 and SHA-256 of the whole file (bytes, a readable binary file object, or a path)."""
    h1, h256 = hashlib.sha1(), hashlib.sha256()
    size = 0
    if isinstance(package, (bytes, bytearray, memoryview)):
        h1.update(package)
        h256.update(package)
        size = len(package)
    elif isinstance(package, (str, os.PathLike)):
        with open(package, "rb") as fh:
            return hash_package(fh)
    elif hasattr(package, "read"):
        from ppkgtool.digests import stream_digests
        (d1, d256), size = stream_digests(package, ("sha1", "sha256"))
        return PackageHashes(d1, d256, size)
    else:
        raise TypeError("package must be bytes, a binary file object or a path")
    return PackageHashes(h1.digest(), h256.digest(), size)


# --- the model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CatalogMember:
    """One CTL TrustedSubject: a file hash (the tag) and its attributes."""

    tag: bytes
    attribute_oids: tuple[str, ...]
    indirect_digest_algorithm: str | None = None  # from SPC_INDIRECT_DATA, when present
    indirect_digest: bytes | None = None

    @property
    def hash_name(self) -> str | None:
        """Which flat hash the tag is (by length: 20 → sha1, 32 → sha256)."""
        return {20: "sha1", 32: "sha256", 48: "sha384", 64: "sha512"}.get(len(self.tag))

    def to_json(self) -> dict:
        return {"tag": self.tag.hex(), "hash": self.hash_name, "attributes": list(self.attribute_oids),
                "indirect_digest_algorithm": self.indirect_digest_algorithm}


@dataclass(frozen=True)
class CatalogSigner:
    """One PKCS#7 SignerInfo (RFC 2315 9.2), decoded but not yet checked."""

    version: int
    issuer_der: bytes
    serial: int
    digest_algorithm: str
    signed_attributes_der: bytes | None  # re-tagged as SET OF: exactly what the signature covers
    signed_attribute_oids: tuple[str, ...]
    content_type: str | None
    message_digest: bytes | None
    signing_time: _dt.datetime | None
    program_name: str | None
    more_info_url: str | None
    signature_algorithm: str
    signature_algorithm_params: bytes | None
    signature: bytes
    unsigned_attribute_oids: tuple[str, ...]
    signing_certificates: tuple[tuple[str, bytes], ...] | None = None  # ESS: (hash name, cert hash)


@dataclass(frozen=True)
class Catalog:
    """A parsed catalog. ``content_octets`` is what a signer's messageDigest covers (RFC 2315 9.3)."""

    der: bytes
    version: int
    digest_algorithms: tuple[str, ...]
    subject_usage: tuple[str, ...]
    list_identifier: bytes | None
    effective_time: _dt.datetime
    member_algorithm: str
    members: tuple[CatalogMember, ...]
    certificates: tuple[x509.Certificate, ...]
    certificate_ders: tuple[bytes, ...]
    crl_count: int
    signers: tuple[CatalogSigner, ...]
    content_octets: bytes = field(repr=False)
    #: what cryptography said about odd certificates, one line each (security.certnotes)
    certificate_notes: tuple[str, ...] = ()

    @property
    def signed(self) -> bool:
        return bool(self.signers)

    def tags(self, hash_name: str) -> list[bytes]:
        return [m.tag for m in self.members if m.hash_name == hash_name]

    def member_for(self, hashes: PackageHashes) -> CatalogMember | None:
        """The member listing this package: SHA-256 when the catalog has SHA-256 members, else SHA-1."""
        for name in ("sha256", "sha1"):
            if self.tags(name):
                wanted = hashes.by_name(name)
                for m in self.members:
                    if m.hash_name == name and m.tag == wanted:
                        return m
                return None
        return None

    def to_json(self) -> dict:
        return {
            "signed": self.signed,
            "list_identifier": self.list_identifier.hex() if self.list_identifier else None,
            "effective_time": self.effective_time.isoformat(),
            "members": [m.to_json() for m in self.members],
            "certificates": len(self.certificates),
            "signers": len(self.signers),
            "certificate_notes": list(self.certificate_notes),
        }


# --- building -----------------------------------------------------------------------------------

def _member_info2() -> bytes:
    # CAT_MEMBERINFO2 value as ICD writes it: an empty primitive [2] (bytes 82 00) [C fixture]
    return asn1.seq(asn1.oid(OID_CAT_MEMBERINFO2), asn1.set_of([b"\x82\x00"]))


def _spc_indirect_data(hash_name: str, digest: bytes) -> bytes:
    # SpcIndirectDataContent { data SpcAttributeTypeAndOptionalValue { type SPC_CAB_DATA,
    #   value SpcLink file [2] { unicode [0] "" } }, messageDigest DigestInfo } [C fixture]
    data = asn1.seq(asn1.oid(OID_SPC_CAB_DATA), asn1.explicit(2, b"\x80\x00"))
    digest_info = asn1.seq(asn1.algorithm(HASH_OID_BY_NAME[hash_name]), asn1.octets(digest))
    value = asn1.seq(data, digest_info)
    return asn1.seq(asn1.oid(OID_SPC_INDIRECT_DATA), asn1.set_of([value]))


def build_ctl(hashes: PackageHashes | Sequence[PackageHashes], *, list_identifier: bytes,
              effective_time: _dt.datetime) -> bytes:
    """The CertificateTrustList DER listing one or more files, member layout as ICD writes it
    (per file: the SHA-1 member, then the SHA-256 member)."""
    files = [hashes] if isinstance(hashes, PackageHashes) else list(hashes)
    if not files:
        raise ValueError("a catalog lists at least one file")
    members: list[bytes] = []
    seen: set[bytes] = set()
    for h in files:
        if h.sha256 in seen:
            continue
        seen.add(h.sha256)
        members.append(asn1.seq(asn1.octets(h.sha1), asn1.set_of([_member_info2()])))
        members.append(asn1.seq(asn1.octets(h.sha256),
                                asn1.set_of([_member_info2(), _spc_indirect_data("sha256", h.sha256)])))
    return asn1.seq(
        asn1.seq(asn1.oid(OID_CATALOG_LIST)),           # subjectUsage
        asn1.octets(list_identifier),                   # listIdentifier
        asn1.time(effective_time),                      # ctlThisUpdate
        asn1.algorithm(OID_CATALOG_LIST_MEMBER2),       # subjectAlgorithm
        asn1.seq(*members),                             # trustedSubjects
    )


def signed_data_content_info(ctl: bytes, *, digest_algorithms: Iterable[str] = (),
                             certificates: Iterable[bytes] = (), signer_infos: Iterable[bytes] = ()) -> bytes:
    """ContentInfo { signedData, SignedData v1 { ..., contentInfo { CTL, [0] ctl } ... } }."""
    certs = list(certificates)
    body = [
        asn1.integer(1),
        asn1.set_of(asn1.algorithm(HASH_OID_BY_NAME[d]) for d in digest_algorithms),
        asn1.seq(asn1.oid(OID_CTL), asn1.explicit(0, ctl)),
    ]
    if certs:
        body.append(asn1.tlv(asn1.context(0), b"".join(sorted(certs))))
    body.append(asn1.set_of(signer_infos))
    return asn1.seq(asn1.oid(OID_SIGNED_DATA), asn1.explicit(0, asn1.seq(*body)))


def _default_identity(list_identifier: bytes | None, effective_time: _dt.datetime | None):
    if list_identifier is None:
        list_identifier = secrets.token_bytes(16)
    if not isinstance(list_identifier, (bytes, bytearray)) or not 1 <= len(list_identifier) <= 64:
        raise ValueError("list_identifier must be 1 to 64 bytes")
    if effective_time is None:
        effective_time = _dt.datetime.now(_dt.timezone.utc)
    if effective_time.tzinfo is None:
        raise ValueError("effective_time must be timezone-aware")
    return bytes(list_identifier), effective_time


def package_list(package, extra_packages: Sequence = ()) -> list[PackageHashes]:
    return [p if isinstance(p, PackageHashes) else hash_package(p) for p in [package, *extra_packages]]


def make_unsigned_catalog(package, *, list_identifier: bytes | None = None,
                          effective_time: _dt.datetime | None = None, extra_packages: Sequence = ()) -> bytes:
    """The catalog ICD writes beside every package: SignedData without signers over the CTL.

    Deterministic when ``list_identifier`` (16 random bytes by default) and ``effective_time``
    (now by default) are given. ``extra_packages`` adds more files as members (e.g. the decrypted
    forms of an encrypted package).
    """
    list_identifier, effective_time = _default_identity(list_identifier, effective_time)
    ctl = build_ctl(package_list(package, extra_packages), list_identifier=list_identifier,
                    effective_time=effective_time)
    return signed_data_content_info(ctl)


# --- parsing ------------------------------------------------------------------------------------

def parse_catalog(data: bytes) -> Catalog:
    """Parse a catalog (signed or not). Any deviation from DER or the structure is a CatalogError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("catalog data must be bytes")
    data = bytes(data)
    if len(data) > MAX_CATALOG_SIZE:
        raise _fail(f"catalog of {len(data)} bytes is larger than the {MAX_CATALOG_SIZE}-byte limit")
    if not data:
        raise _fail("empty catalog")
    root = asn1.decode(data, error=CatalogError).expect(asn1.SEQUENCE, "ContentInfo")
    kids = root.children()
    if len(kids) != 2:
        raise root.fail("ContentInfo must have two elements")
    if kids[0].as_oid() != OID_SIGNED_DATA:
        raise kids[0].fail(f"content type {kids[0].as_oid()} is not PKCS#7 signedData")
    sd = kids[1].expect(asn1.context(0), "ContentInfo content").only_child("SignedData")
    sd.expect(asn1.SEQUENCE, "SignedData")
    parts = sd.children()
    if len(parts) < 4:
        raise sd.fail("SignedData is missing elements")
    version = parts[0].as_int()
    if version not in (1, 3):
        raise parts[0].fail(f"SignedData version {version} is not 1 (PKCS#7) or 3")
    digest_algorithms = tuple(_hash_name(n) for n in parts[1].expect(asn1.SET, "digestAlgorithms").children())

    # encapContentInfo: { CTL, [0] EXPLICIT CertificateTrustList }
    eci = parts[2].expect(asn1.SEQUENCE, "contentInfo").children()
    if len(eci) != 2:
        raise parts[2].fail("the catalog has no embedded CTL content")
    if eci[0].as_oid() != OID_CTL:
        raise eci[0].fail(f"content type {eci[0].as_oid()} is not a Microsoft CTL")
    ctl_node = eci[1].expect(asn1.context(0), "CTL content").only_child("CTL")
    ctl_node.expect(asn1.SEQUENCE, "CertificateTrustList")
    (subject_usage, list_identifier, effective_time, member_alg, members) = _parse_ctl(ctl_node)

    rest = parts[3:]
    cert_ders: list[bytes] = []
    certs: list[x509.Certificate] = []
    cert_notes: list[str] = []
    crl_count = 0
    if rest and rest[0].tag == asn1.context(0):
        for c in rest[0].children():
            c.expect(asn1.SEQUENCE, "certificate")
            certs.append(_load_certificate(c, len(certs) + 1, cert_notes))
            cert_ders.append(c.der)
        rest = rest[1:]
    if rest and rest[0].tag == asn1.context(1):
        crl_count = len(rest[0].children())
        rest = rest[1:]
    if len(rest) != 1:
        raise sd.fail("SignedData must end with exactly one signerInfos SET")
    signers = tuple(_parse_signer(n) for n in rest[0].expect(asn1.SET, "signerInfos").children())
    for s in signers:
        if s.digest_algorithm not in digest_algorithms:
            raise _fail(f"signer digest algorithm {s.digest_algorithm} is not listed in digestAlgorithms")
    return Catalog(
        der=data, version=version, digest_algorithms=digest_algorithms, subject_usage=subject_usage,
        list_identifier=list_identifier, effective_time=effective_time, member_algorithm=member_alg,
        members=members, certificates=tuple(certs), certificate_ders=tuple(cert_ders),
        crl_count=crl_count, signers=signers, content_octets=ctl_node.value,
        certificate_notes=tuple(cert_notes),
    )


def _load_certificate(node: asn1.Node, number: int, notes: list[str]) -> x509.Certificate:
    """Parse a certificate completely now (cryptography parses some parts lazily), so that
    later checks never meet a malformed field. What cryptography says about an odd but readable
    certificate goes to ``notes`` as "certificate <number> (<subject>): …" (security.certnotes)."""
    from cryptography import x509

    from ppkgtool.security.certnotes import collect_notes

    found: list[str] = []
    try:
        with collect_notes(found):
            cert = x509.load_der_x509_certificate(node.der)
            subject = cert.subject.rfc4514_string()
            cert.issuer.rfc4514_string()
            _ = cert.extensions, cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc
            cert.public_key()
            cert.signature_algorithm_oid
    except Exception as exc:  # noqa: BLE001 - any failure of untrusted DER is a malformed catalog
        raise node.fail(f"certificate does not parse: {exc}") from None
    for line in found:
        notes.append(f"catalog certificate {number} ({subject or 'no subject'}): {line}")
    return cert


def _hash_name(node: asn1.Node) -> str:
    alg = asn1.read_algorithm(node)
    name = HASH_OIDS.get(alg.oid)
    if name is None:
        raise node.fail(f"unsupported digest algorithm {alg.oid}")
    if alg.params is not None:
        alg.params.as_null()
    return name


def _parse_ctl(node: asn1.Node):
    """CertificateTrustList (Microsoft CTL, as wincrypt's CTL_INFO) in field order."""
    kids = node.children()
    i = 0
    if i < len(kids) and kids[i].tag == asn1.INTEGER:  # version DEFAULT v1
        raise kids[i].fail("CTL version is present: DER omits the DEFAULT v1")
    if i >= len(kids):
        raise node.fail("CTL is empty")
    usage = tuple(k.as_oid() for k in kids[i].expect(asn1.SEQUENCE, "subjectUsage").children())
    if OID_CATALOG_LIST not in usage:
        raise kids[i].fail("CTL subject usage is not the catalog list (1.3.6.1.4.1.311.12.1.1)")
    i += 1
    list_identifier = None
    if i < len(kids) and kids[i].tag == asn1.OCTET_STRING:
        list_identifier = kids[i].as_octets()
        i += 1
    if i < len(kids) and kids[i].tag == asn1.INTEGER:
        kids[i].as_int()  # sequenceNumber
        i += 1
    if i >= len(kids):
        raise node.fail("CTL has no effective time")
    effective = kids[i].as_time()
    i += 1
    if i < len(kids) and kids[i].tag in (asn1.UTC_TIME, asn1.GENERALIZED_TIME):
        kids[i].as_time()  # ctlNextUpdate
        i += 1
    if i >= len(kids):
        raise node.fail("CTL has no subject algorithm")
    alg = asn1.read_algorithm(kids[i])
    if alg.oid not in (OID_CATALOG_LIST_MEMBER, OID_CATALOG_LIST_MEMBER2):
        raise kids[i].fail(f"CTL subject algorithm {alg.oid} is not a catalog member list")
    if alg.params is not None:
        alg.params.as_null()
    i += 1
    members: list[CatalogMember] = []
    if i < len(kids) and kids[i].tag == asn1.SEQUENCE:
        subjects = kids[i].children()
        if len(subjects) > MAX_MEMBERS:
            raise kids[i].fail(f"more than {MAX_MEMBERS} catalog members")
        members = [_parse_member(s) for s in subjects]
        i += 1
    if i < len(kids) and kids[i].tag == asn1.context(0):
        i += 1  # ctlExtensions: not used by package catalogs, kept opaque
    if i != len(kids):
        raise kids[i].fail("unexpected element in the CTL")
    return usage, list_identifier, effective, alg.oid, tuple(members)


def _parse_member(node: asn1.Node) -> CatalogMember:
    node.expect(asn1.SEQUENCE, "catalog member")
    kids = node.children()
    if not 1 <= len(kids) <= 2:
        raise node.fail("catalog member must have a tag and optional attributes")
    tag = kids[0].as_octets()
    if not tag:
        raise kids[0].fail("empty member tag")
    oids: list[str] = []
    ind_alg = ind_digest = None
    if len(kids) == 2:
        for attr in kids[1].expect(asn1.SET, "member attributes").children():
            attr.expect(asn1.SEQUENCE, "member attribute")
            a = attr.children()
            if len(a) != 2:
                raise attr.fail("attribute must have a type and a value set")
            attr_oid = a[0].as_oid()
            values = a[1].expect(asn1.SET, "attribute values").children()
            oids.append(attr_oid)
            if attr_oid == OID_SPC_INDIRECT_DATA:
                if len(values) != 1:
                    raise a[1].fail("SPC_INDIRECT_DATA must have one value")
                ind_alg, ind_digest = _parse_indirect(values[0])
    return CatalogMember(tag=tag, attribute_oids=tuple(oids), indirect_digest_algorithm=ind_alg,
                         indirect_digest=ind_digest)


def _parse_indirect(node: asn1.Node) -> tuple[str, bytes]:
    node.expect(asn1.SEQUENCE, "SpcIndirectDataContent")
    kids = node.children()
    if len(kids) != 2:
        raise node.fail("SpcIndirectDataContent must have data and messageDigest")
    data = kids[0].expect(asn1.SEQUENCE, "SpcAttributeTypeAndOptionalValue").children()
    if not data:
        raise kids[0].fail("empty SpcAttributeTypeAndOptionalValue")
    data[0].as_oid()
    di = kids[1].expect(asn1.SEQUENCE, "DigestInfo").children()
    if len(di) != 2:
        raise kids[1].fail("DigestInfo must have an algorithm and a digest")
    name = _hash_name(di[0])
    digest = di[1].as_octets()
    if len(digest) != HASH_SIZES[name]:
        raise di[1].fail(f"{name} digest of {len(digest)} bytes")
    return name, digest


def _parse_attributes(node: asn1.Node) -> dict[str, list[asn1.Node]]:
    out: dict[str, list[asn1.Node]] = {}
    for attr in node.children():
        attr.expect(asn1.SEQUENCE, "attribute")
        a = attr.children()
        if len(a) != 2:
            raise attr.fail("attribute must have a type and a value set")
        key = a[0].as_oid()
        if key in out:
            raise attr.fail(f"attribute {key} appears twice")
        out[key] = a[1].expect(asn1.SET, "attribute values").children()
    return out


def _single(attrs: dict[str, list[asn1.Node]], key: str, where: asn1.Node) -> asn1.Node | None:
    values = attrs.get(key)
    if values is None:
        return None
    if len(values) != 1:
        raise where.fail(f"attribute {key} must have exactly one value")
    return values[0]


def _parse_signer(node: asn1.Node) -> CatalogSigner:
    """SignerInfo (RFC 2315 9.2): version, issuerAndSerialNumber, digestAlgorithm,
    [0] IMPLICIT authenticatedAttributes, digestEncryptionAlgorithm, encryptedDigest,
    [1] IMPLICIT unauthenticatedAttributes."""
    node.expect(asn1.SEQUENCE, "SignerInfo")
    kids = node.children()
    if len(kids) < 5:
        raise node.fail("SignerInfo is missing elements")
    version = kids[0].as_int()
    if version != 1:
        raise kids[0].fail(f"SignerInfo version {version} is not 1 (issuerAndSerialNumber)")
    ias = kids[1].expect(asn1.SEQUENCE, "issuerAndSerialNumber").children()
    if len(ias) != 2:
        raise kids[1].fail("issuerAndSerialNumber must have two elements")
    issuer_der = ias[0].expect(asn1.SEQUENCE, "issuer Name").der
    serial = ias[1].as_int()
    digest_alg = _hash_name(kids[2])
    i = 3
    signed_der = None
    signed_oids: tuple[str, ...] = ()
    content_type = message_digest = signing_time = program = url = ess = None
    if kids[i].tag == asn1.context(0):
        auth = kids[i]
        signed_der = asn1.header(asn1.SET, auth.length) + auth.value
        attrs = _parse_attributes(auth)
        signed_oids = tuple(attrs)
        if (n := _single(attrs, OID_CONTENT_TYPE, auth)) is not None:
            content_type = n.as_oid()
        if (n := _single(attrs, OID_MESSAGE_DIGEST, auth)) is not None:
            message_digest = n.as_octets()
        if (n := _single(attrs, OID_SIGNING_TIME, auth)) is not None:
            signing_time = n.as_time()
        if (n := _single(attrs, OID_SPC_SP_OPUS_INFO, auth)) is not None:
            program, url = _parse_opus(n)
        if (n := _single(attrs, OID_SIGNING_CERTIFICATE_V2, auth)) is not None:
            ess = _parse_signing_certificate_v2(n)
        i += 1
    if i + 2 > len(kids):
        raise node.fail("SignerInfo is missing its signature")
    sig_alg = asn1.read_algorithm(kids[i])
    sig_params = sig_alg.params.der if sig_alg.params is not None else None
    signature = kids[i + 1].as_octets()
    i += 2
    unsigned: tuple[str, ...] = ()
    if i < len(kids) and kids[i].tag == asn1.context(1):
        unsigned = tuple(_parse_attributes(kids[i]))
        i += 1
    if i != len(kids):
        raise kids[i].fail("unexpected element in SignerInfo")
    return CatalogSigner(
        version=version, issuer_der=issuer_der, serial=serial, digest_algorithm=digest_alg,
        signed_attributes_der=signed_der, signed_attribute_oids=signed_oids, content_type=content_type,
        message_digest=message_digest, signing_time=signing_time, program_name=program,
        more_info_url=url, signature_algorithm=sig_alg.oid, signature_algorithm_params=sig_params,
        signature=signature, unsigned_attribute_oids=unsigned, signing_certificates=ess,
    )


def _parse_signing_certificate_v2(node: asn1.Node) -> tuple[tuple[str, bytes], ...]:
    """SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies ... OPTIONAL }
    ESSCertIDv2 ::= SEQUENCE { hashAlgorithm DEFAULT sha256, certHash OCTET STRING,
    issuerSerial OPTIONAL } (RFC 5035 3)."""
    node.expect(asn1.SEQUENCE, "SigningCertificateV2")
    kids = node.children()
    if not kids:
        raise node.fail("empty SigningCertificateV2")
    out = []
    for cid in kids[0].expect(asn1.SEQUENCE, "ESSCertIDv2 list").children():
        parts = cid.expect(asn1.SEQUENCE, "ESSCertIDv2").children()
        name = "sha256"
        if parts and parts[0].tag == asn1.SEQUENCE:
            name = _hash_name(parts[0])
            parts = parts[1:]
        if not parts:
            raise cid.fail("ESSCertIDv2 without a certificate hash")
        digest = parts[0].as_octets()
        if len(digest) != HASH_SIZES[name]:
            raise parts[0].fail(f"{name} certificate hash of {len(digest)} bytes")
        out.append((name, digest))
    if not out:
        raise kids[0].fail("SigningCertificateV2 lists no certificate")
    return tuple(out)


def _spc_string(node: asn1.Node) -> str:
    # SpcString ::= CHOICE { unicode [0] IMPLICIT BMPString, ascii [1] IMPLICIT IA5String }
    if node.tag == asn1.context(0, constructed=False):
        if len(node.value) % 2:
            raise node.fail("SpcString unicode of odd length")
        return node.value.decode("utf-16-be", errors="replace")
    if node.tag == asn1.context(1, constructed=False):
        return node.value.decode("ascii", errors="replace")
    raise node.fail("bad SpcString")


def _parse_opus(node: asn1.Node) -> tuple[str | None, str | None]:
    """SpcSpOpusInfo ::= SEQUENCE { programName [0] EXPLICIT SpcString OPTIONAL,
    moreInfo [1] EXPLICIT SpcLink OPTIONAL }."""
    node.expect(asn1.SEQUENCE, "SpcSpOpusInfo")
    program = url = None
    for k in node.children():
        if k.tag == asn1.context(0):
            program = _spc_string(k.only_child("programName"))
        elif k.tag == asn1.context(1):
            link = k.only_child("moreInfo")
            if link.tag == asn1.context(0, constructed=False):
                url = link.value.decode("ascii", errors="replace")
        else:
            raise k.fail("unexpected element in SpcSpOpusInfo")
    return program, url


def catalog_path_for(package_path) -> Path:
    """Where a package's detached catalog lives: ``<name>.cat`` beside it, as ICD writes it (the one
    rule build, sign, verify and inspect use)."""
    p = Path(package_path)
    return p.with_suffix(".cat") if p.suffix else p.with_name(p.name + ".cat")


def find_catalog(package) -> Path | None:
    """The detached catalog of a package file: ``<name>.cat`` beside it (as ICD writes it), else
    ``<name>.ppkg.cat``. The one rule verify, inspect, encrypt and deploy use."""
    pkg = Path(package)
    for candidate in (catalog_path_for(pkg), Path(str(pkg) + ".cat")):
        if candidate != pkg and candidate.is_file():
            return candidate
    return None


# --- the catalog of an encrypted package (docs/formats/catalog.md "Encrypted packages") -----------

def encrypted_package_forms(plain, encrypted, unit: int = 160) -> list[PackageHashes]:
    """The forms a catalog for an encrypted package lists: the plain package, its decrypted form
    zero-padded to whole ``unit``-byte units (when that differs), and the encrypted file. Windows
    checks the catalog after decrypting [I]; which of the decrypted forms it hashes is [U], so both
    are listed, and the encrypted file so that the catalog also matches without the password."""
    plain_hashes = hash_package(plain)
    padded = plain_hashes
    pad = -plain_hashes.size % unit
    if pad:
        h1, h256 = hashlib.sha1(), hashlib.sha256()
        with open(plain, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h1.update(block)
                h256.update(block)
        h1.update(bytes(pad))
        h256.update(bytes(pad))
        padded = PackageHashes(h1.digest(), h256.digest(), plain_hashes.size + pad)
    return listed_forms(plain_hashes, padded, hash_package(encrypted))


def listed_forms(plain: PackageHashes, padded: PackageHashes, encrypted: PackageHashes) -> list[PackageHashes]:
    """The one rule for which forms of an encrypted package a catalog lists (in this order): the
    plain package, the padded decrypted form when it differs, the encrypted file. ``build --encrypt``
    passes the digests it computed while writing; encrypted_package_forms hashes the files."""
    forms = [plain]
    if padded.size != plain.size:
        forms.append(padded)
    forms.append(encrypted)
    return forms


def catalog_for_encrypted(catalog: bytes, plain, encrypted, *, source: str = "the catalog") -> tuple[bytes, str]:
    """The catalog to put beside ``encrypted`` (made from ``plain``) given the plain package's
    ``catalog``: (bytes, how) with how ``remade`` (an unsigned catalog: the same list identifier and
    effective time, listing every form of encrypted_package_forms) or ``carried`` (a signed catalog,
    unchanged: it lists the plain package, which Windows checks after decrypting; re-signing needs
    the signer's key - 'ppkgtool sign' with the password lists the encrypted file too).
    A catalog that does not list ``plain`` is a CatalogError."""
    cat = parse_catalog(catalog)
    if cat.member_for(hash_package(plain)) is None:
        raise CatalogError(f"{source} does not list this package (it belongs to another package or the "
                           "package was changed)", hint="pass --no-catalog to encrypt without it")
    if cat.signed:
        return bytes(catalog), "carried"
    forms = encrypted_package_forms(plain, encrypted)
    return make_unsigned_catalog(forms[0], list_identifier=cat.list_identifier, effective_time=cat.effective_time,
                                 extra_packages=forms[1:]), "remade"
