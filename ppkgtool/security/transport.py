"""Transport sealing: a standard CMS envelope around a package for untrusted media.

The Windows package encryption has no key derivation (the password is the AES key). For moving a
package over e-mail, shares or USB sticks, seal it in a standard CMS envelope that
``openssl cms -decrypt`` opens:

Both modes write AuthEnvelopedData (RFC 5083) with AES-256-GCM content (RFC 5084): the GCM tag
authenticates every byte of the content, so a changed bit is refused (TamperedError) and the caller
keeps nothing of the output.

- password: one PasswordRecipientInfo (RFC 3211): PBKDF2-HMAC-SHA256 (600,000 iterations, 16-byte
  salt) derives the key-encryption key; the content key is wrapped with id-alg-PWRI-KEK over
  AES-256-CBC (RFC 3211 2.3), whose check bytes reject a wrong password.
- certificate: one KeyTransRecipientInfo per recipient RSA certificate (RSAES-OAEP with SHA-256,
  RFC 8017 / RFC 4055).

Reading also accepts the unauthenticated EnvelopedData (AES-CBC content) that ``openssl cms -encrypt
-pwri_password`` and ppkgtool before 0.2 wrote, only when the caller allows it
(``allow_unauthenticated``): a changed bit there goes unnoticed.

Definite-length DER, written as a stream: packages of any size are sealed without loading them.
"""

from __future__ import annotations

import io
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding as sympadding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from ppkgtool.errors import FormatError, InvalidInputError, TamperedError, WrongPasswordError
from ppkgtool.security import asn1

if TYPE_CHECKING:   # certificates only in recipient mode: keep `decrypt` start-up light
    from cryptography import x509

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENVELOPED_DATA = "1.2.840.113549.1.7.3"
OID_AUTH_ENVELOPED_DATA = "1.2.840.113549.1.9.16.1.23"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_HMAC_SHA1 = "1.2.840.113549.2.7"
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
OID_PWRI_KEK = "1.2.840.113549.1.9.16.3.9"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
OID_AES128_CBC = "2.16.840.1.101.3.4.1.2"
OID_AES192_CBC = "2.16.840.1.101.3.4.1.22"
OID_AES256_GCM = "2.16.840.1.101.3.4.1.46"
OID_AES128_GCM = "2.16.840.1.101.3.4.1.6"
OID_RSAES_OAEP = "1.2.840.113549.1.1.7"
OID_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
OID_MGF1 = "1.2.840.113549.1.1.8"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_SHA1 = "1.3.14.3.2.26"

AES_CBC_KEY = {OID_AES128_CBC: 16, OID_AES192_CBC: 24, OID_AES256_CBC: 32}
AES_GCM_KEY = {OID_AES128_GCM: 16, OID_AES256_GCM: 32}
DEFAULT_ITERATIONS = 600_000     # OWASP 2023 figure for PBKDF2-HMAC-SHA256
MAX_ITERATIONS = 10_000_000
MIN_TRANSPORT_PASSWORD = 8
MAX_HEADER = 1024 * 1024          # recipient infos etc. before the content
CHUNK = 4 * 1024 * 1024
GCM_TAG = 16


@dataclass(frozen=True)
class SealInfo:
    """What an envelope is: ``mode`` 'password' or 'certificate', the content size, the recipients."""

    mode: str
    content_size: int
    recipients: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"mode": self.mode, "content_size": self.content_size, "recipients": list(self.recipients)}


def _size_of(src: BinaryIO) -> int:
    try:
        here = src.tell()
        end = src.seek(0, os.SEEK_END)
        src.seek(here)
        return end - here
    except (OSError, AttributeError):
        raise InvalidInputError("sealing needs a seekable input (a file)") from None


def _wrap_lengths(levels: list[tuple[int, bytes]], inner: bytes, streamed: int, trailer: list[bytes]) -> bytes:
    """Prefix bytes for ``levels`` = [(tag, leading bytes), ...] from outermost to innermost, where the
    innermost level holds ``inner`` followed by ``streamed`` bytes of content, and ``trailer[i]``
    follows the content inside level i (from innermost outwards, aligned with reversed levels)."""
    length = len(inner) + streamed
    prefix = inner
    for (tag, lead), tail in zip(reversed(levels), trailer):
        length += len(lead) + len(tail)
        hdr = asn1.header(tag, length)
        prefix = hdr + lead + prefix
        length += len(hdr)
    return prefix


# --- RFC 3211 key wrap (PWRI-KEK) -------------------------------------------------------------

def _cbc(key: bytes, iv: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    c = Cipher(algorithms.AES(key), modes.CBC(iv))
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def pwri_wrap(kek: bytes, iv: bytes, cek: bytes) -> bytes:
    """RFC 3211 2.3.1: LEN || check (complement of CEK[0:3]) || CEK || random pad, CBC twice."""
    block = 16
    body = bytes([len(cek)]) + bytes(b ^ 0xFF for b in cek[:3]) + cek
    total = max(2 * block, -(-len(body) // block) * block)
    body += secrets.token_bytes(total - len(body))
    first = _cbc(kek, iv, body)
    return _cbc(kek, first[-block:], first)


def pwri_unwrap(kek: bytes, iv: bytes, wrapped: bytes) -> bytes | None:
    """RFC 3211 2.3.2; None when the check bytes fail (wrong password)."""
    block = 16
    if len(wrapped) < 2 * block or len(wrapped) % block:
        return None
    ecb = Cipher(algorithms.AES(kek), modes.ECB()).decryptor()
    last = ecb.update(wrapped[-block:]) + ecb.finalize()
    first_last = bytes(a ^ b for a, b in zip(last, wrapped[-2 * block:-block]))
    first = _cbc(kek, first_last, wrapped, decrypt=True)
    body = _cbc(kek, iv, first, decrypt=True)
    n = body[0]
    if n < 16 or 4 + n > len(body):
        return None
    cek = body[4:4 + n]
    if bytes(b ^ 0xFF for b in body[1:4]) != cek[:3]:
        return None
    return cek


# --- sealing ------------------------------------------------------------------------------------

def check_transport_password(password: str) -> bytes:
    if not isinstance(password, str) or len(password) < MIN_TRANSPORT_PASSWORD:
        raise InvalidInputError(f"the transport password must have at least {MIN_TRANSPORT_PASSWORD} characters",
                                hint="use --generate-password for a random one")
    return password.encode("utf-8")


def _password_recipient(password: str, iterations: int, cek: bytes) -> bytes:
    """PasswordRecipientInfo (RFC 3211 2.2): PBKDF2-HMAC-SHA256 key derivation, PWRI-KEK over AES-256-CBC."""
    pw = check_transport_password(password)
    if not 1000 <= iterations <= MAX_ITERATIONS:
        raise InvalidInputError(f"PBKDF2 iteration count {iterations} is out of range (1000..{MAX_ITERATIONS})")
    salt, kek_iv = os.urandom(16), os.urandom(16)
    kek = PBKDF2HMAC(hashes.SHA256(), 32, salt, iterations).derive(pw)
    pbkdf2 = asn1.seq(asn1.octets(salt), asn1.integer(iterations), asn1.algorithm(OID_HMAC_SHA256))
    return asn1.tlv(asn1.context(3), b"".join([
        asn1.integer(0),
        asn1.tlv(asn1.context(0), asn1.oid(OID_PBKDF2) + pbkdf2),   # keyDerivationAlgorithm [0] IMPLICIT
        asn1.seq(asn1.oid(OID_PWRI_KEK), asn1.algorithm(OID_AES256_CBC, asn1.octets(kek_iv))),
        asn1.octets(pwri_wrap(kek, kek_iv, cek)),
    ]))


def seal_with_password(src: BinaryIO, dst: BinaryIO, password: str, *,
                       iterations: int = DEFAULT_ITERATIONS) -> SealInfo:
    """Write AuthEnvelopedData (AES-256-GCM content) with a password recipient: every bit of the
    content is authenticated by the GCM tag, and the content key by the PWRI check bytes."""
    size = _size_of(src)
    cek = os.urandom(32)
    _seal_gcm(src, dst, size, cek, [_password_recipient(password, iterations, cek)])
    return SealInfo("password", size)


def _recipient_info(cert: x509.Certificate, cek: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidInputError(f"recipient {cert.subject.rfc4514_string()} has a {type(key).__name__}; "
                                "certificate sealing supports RSA recipients",
                                hint="use --transport password for other recipients")
    encrypted = key.encrypt(cek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                              label=None))
    sha256 = asn1.algorithm(OID_SHA256, None)
    oaep_params = asn1.seq(asn1.explicit(0, sha256), asn1.explicit(1, asn1.algorithm(OID_MGF1, sha256)))
    from ppkgtool.security.signing import issuer_and_serial
    return asn1.seq(asn1.integer(0), issuer_and_serial(cert), asn1.algorithm(OID_RSAES_OAEP, oaep_params),
                    asn1.octets(encrypted))


def seal_for_recipients(src: BinaryIO, dst: BinaryIO, recipients: Sequence[x509.Certificate]) -> SealInfo:
    """Write AuthEnvelopedData (AES-256-GCM) for RSA recipient certificates
    (opens with ``openssl cms -decrypt -recip CERT -inkey KEY``)."""
    if not recipients:
        raise InvalidInputError("certificate sealing needs at least one --recipient certificate")
    size = _size_of(src)
    cek = os.urandom(32)
    _seal_gcm(src, dst, size, cek, [_recipient_info(c, cek) for c in recipients])
    return SealInfo("certificate", size, tuple(c.subject.rfc4514_string() for c in recipients))


def _seal_gcm(src: BinaryIO, dst: BinaryIO, size: int, cek: bytes, infos: list[bytes]) -> None:
    """AuthEnvelopedData v0 (RFC 5083 2.1) with AES-256-GCM content (RFC 5084 3.2), streamed."""
    nonce = os.urandom(12)
    gcm_params = asn1.seq(asn1.octets(nonce), asn1.integer(GCM_TAG))
    content_lead = asn1.oid(OID_DATA) + asn1.algorithm(OID_AES256_GCM, gcm_params)
    content_hdr = asn1.header(asn1.context(0, constructed=False), size)
    mac_hdr = asn1.header(asn1.OCTET_STRING, GCM_TAG)
    prefix = _wrap_lengths(
        [(asn1.SEQUENCE, asn1.oid(OID_AUTH_ENVELOPED_DATA)),
         (asn1.context(0), b""),
         (asn1.SEQUENCE, asn1.integer(0) + asn1.set_of(infos)),    # AuthEnvelopedData v0
         (asn1.SEQUENCE, content_lead)],                            # EncryptedContentInfo
        content_hdr, size, [b"", mac_hdr + b"\x00" * GCM_TAG, b"", b""])
    dst.write(prefix)
    enc = Cipher(algorithms.AES(cek), modes.GCM(nonce)).encryptor()
    left = size
    while left and (block := src.read(min(CHUNK, left))):
        dst.write(enc.update(block))
        left -= len(block)
    if left:
        raise InvalidInputError("the input shrank while it was being sealed")
    enc.finalize()
    dst.write(mac_hdr + enc.tag)


# --- unsealing ----------------------------------------------------------------------------------

class _Reader:
    """Reads DER headers and bounded values from a stream, tracking the offset."""

    def __init__(self, src: BinaryIO):
        self.src, self.pos = src, 0

    def read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            block = self.src.read(n - len(data))
            if not block:
                raise FormatError("the envelope is truncated", where=f"offset {self.pos + len(data)}")
            data += block
        self.pos += n
        return data

    def header(self, what: str, tag: int | None = None) -> tuple[int, int, bytes]:
        start = self.pos
        first = self.read(2)
        if first[1] == 0x80:
            raise FormatError(f"{what}: indefinite-length (BER) encoding; re-encode it as DER "
                              "(openssl cms -cmsout -outform DER)", where=f"offset {start}")
        extra = self.read(first[1] & 0x7F) if first[1] & 0x80 else b""
        raw = first + extra
        if first[1] & 0x80:
            if len(extra) > 8 or not extra or extra[0] == 0:
                raise FormatError(f"{what}: bad length", where=f"offset {start}")
            length = int.from_bytes(extra, "big")
        else:
            length = first[1]
        if tag is not None and first[0] != tag:
            raise FormatError(f"{what}: expected tag 0x{tag:02x}, found 0x{first[0]:02x}", where=f"offset {start}")
        return first[0], length, raw

    def element(self, what: str, tag: int | None = None, limit: int = MAX_HEADER) -> asn1.Node:
        t, length, raw = self.header(what, tag)
        if length > limit:
            raise FormatError(f"{what} of {length} bytes is too large", where=f"offset {self.pos - len(raw)}")
        return asn1.decode(raw + self.read(length), error=FormatError)


def looks_sealed(head: bytes) -> str | None:
    """'password' / 'certificate' when ``head`` (the first 256 bytes suffice) starts a CMS envelope this
    module writes or reads: the kind of its first recipient (RFC 5652 6.2: [3] pwri, SEQUENCE ktri)."""
    try:
        r = _Reader(io.BytesIO(head))
        r.header("ContentInfo", asn1.SEQUENCE)
        oid = r.element("contentType", asn1.OID).as_oid()
        if oid not in (OID_ENVELOPED_DATA, OID_AUTH_ENVELOPED_DATA):
            return None
        r.header("content", asn1.context(0))
        r.header("EnvelopedData", asn1.SEQUENCE)
        r.element("version", asn1.INTEGER)
        tag, _, _ = r.header("recipientInfos", asn1.SET)
        first = r.read(1)[0]
    except (FormatError, IndexError):
        return None
    return "password" if first == asn1.context(3) else "certificate"


def unseal(src: BinaryIO, dst: BinaryIO, *, password: str | None = None, recipient_key=None,
           recipient_cert: x509.Certificate | None = None, allow_unauthenticated: bool = False) -> SealInfo:
    """Open an envelope written by ``seal_*`` or by ``openssl cms -encrypt`` (DER, AES content).

    An unauthenticated EnvelopedData (CBC content) is refused unless ``allow_unauthenticated``."""
    r = _Reader(src)
    ends = []                                    # where each enclosing DER value must end (DER is exact)

    def enclosing(what: str, tag: int) -> None:
        _, length, _ = r.header(what, tag)
        ends.append((what, r.pos + length))

    enclosing("ContentInfo", asn1.SEQUENCE)
    ctype = r.element("contentType", asn1.OID).as_oid()
    if ctype not in (OID_ENVELOPED_DATA, OID_AUTH_ENVELOPED_DATA):
        raise InvalidInputError(f"not a CMS envelope (content type {ctype})")
    auth = ctype == OID_AUTH_ENVELOPED_DATA
    if not auth and not allow_unauthenticated:
        raise InvalidInputError("this envelope is EnvelopedData with unauthenticated (CBC) content: a changed "
                                "bit would go unnoticed", hint="re-seal it with 'ppkgtool encrypt --transport', "
                                "or accept the risk with --allow-unauthenticated")
    enclosing("content", asn1.context(0))
    enclosing("EnvelopedData", asn1.SEQUENCE)
    version = r.element("version", asn1.INTEGER).as_int()
    if version != 0 if auth else not 0 <= version <= 4:     # RFC 5083 2.1 / RFC 5652 6.1
        raise FormatError(f"unexpected {'AuthEnvelopedData' if auth else 'EnvelopedData'} version {version}")
    t, length, raw = r.header("recipientInfos")
    if t == asn1.context(0):
        raise InvalidInputError("envelopes with originatorInfo are not supported")
    if t != asn1.SET or length > MAX_HEADER:
        raise FormatError("bad recipientInfos", where=f"offset {r.pos - len(raw)}")
    infos = asn1.decode(raw + r.read(length), error=FormatError).children()
    enclosing("EncryptedContentInfo", asn1.SEQUENCE)
    if r.element("contentType", asn1.OID).as_oid() != OID_DATA:
        raise InvalidInputError("the envelope does not hold plain data")
    alg = asn1.read_algorithm(r.element("contentEncryptionAlgorithm", asn1.SEQUENCE))
    cek, mode = _recover_cek(infos, password=password, recipient_key=recipient_key, recipient_cert=recipient_cert)
    t, length, raw = r.header("encryptedContent")
    if t != asn1.context(0, constructed=False):
        raise InvalidInputError("the envelope's content is detached or constructed; not supported")
    if auth:
        if alg.oid not in AES_GCM_KEY or alg.params is None:
            raise InvalidInputError(f"unsupported content encryption {alg.oid}")
        if len(cek) != AES_GCM_KEY[alg.oid]:
            raise TamperedError(f"the content key has {len(cek)} bytes; {alg.oid} needs {AES_GCM_KEY[alg.oid]}")
        p = alg.params.expect(asn1.SEQUENCE, "GCMParameters").children()
        nonce = p[0].as_octets()
        tag_len = p[1].as_int() if len(p) > 1 else 12
        if not 12 <= tag_len <= 16 or not 12 <= len(nonce) <= 64:    # RFC 5084 3.2
            raise FormatError(f"GCM parameters out of range (nonce {len(nonce)} bytes, tag {tag_len})")
        dec = Cipher(algorithms.AES(cek), modes.GCM(nonce, min_tag_length=tag_len)).decryptor()
        _copy(r, length, dst, dec.update)
        _close(r, ends, "EncryptedContentInfo")
        nxt, mlen, mraw = r.header("mac")
        if nxt == asn1.context(1, constructed=True):
            raise InvalidInputError("authenticated attributes in the envelope are not supported")
        if nxt != asn1.OCTET_STRING or mlen != tag_len:
            raise FormatError("bad mac field", where=f"offset {r.pos - len(mraw)}")
        try:
            dec.finalize_with_tag(r.read(mlen))
        except InvalidTag:
            raise TamperedError("the sealed package was changed: its GCM tag does not match") from None
        _close(r, ends, "ContentInfo")
    else:
        key_len = AES_CBC_KEY.get(alg.oid)
        if key_len is None or alg.params is None or len(cek) != key_len:
            raise InvalidInputError(f"unsupported content encryption {alg.oid}")
        iv = alg.params.as_octets()
        dec = Cipher(algorithms.AES(cek), modes.CBC(iv)).decryptor()
        unpad = sympadding.PKCS7(128).unpadder()
        if length % 16 or not length:
            raise FormatError("encrypted content is not whole AES blocks", where=f"offset {r.pos}")
        written = _copy(r, length, dst, lambda b: unpad.update(dec.update(b)))
        _close(r, ends, "ContentInfo")
        try:
            last = unpad.update(dec.finalize()) + unpad.finalize()
        except ValueError:
            raise TamperedError("the sealed package does not decrypt cleanly (bad padding)") from None
        dst.write(last)
        return SealInfo(mode, written + len(last))
    return SealInfo(mode, length)


def _close(r: _Reader, ends: list[tuple[str, int]], upto: str) -> None:
    """Check that the enclosing values end here, innermost first, up to ``upto``; after the
    ContentInfo nothing may follow (an extended or shortened length is a changed envelope)."""
    while ends:
        what, end = ends.pop()
        if r.pos != end:
            raise TamperedError(f"offset {r.pos}: the envelope's {what} length does not match its content")
        if what == upto:
            break
    if upto == "ContentInfo" and r.src.read(1):
        raise TamperedError(f"offset {r.pos}: data follows the envelope")


def _copy(r: _Reader, length: int, dst: BinaryIO, fn) -> int:
    left, written = length, 0
    while left:
        block = r.read(min(CHUNK, left))
        left -= len(block)
        out = fn(block)
        dst.write(out)
        written += len(out)
    return written


def _recover_cek(infos: list[asn1.Node], *, password, recipient_key, recipient_cert) -> tuple[bytes, str]:
    kinds = []
    for info in infos:
        if info.tag == asn1.context(3) and password is not None:
            cek = _pwri(info, password)
            if cek is not None:
                return cek, "password"
            raise WrongPasswordError("wrong transport password: the content key does not unwrap")
        if info.tag == asn1.SEQUENCE and recipient_key is not None:
            cek = _ktri(info, recipient_key, recipient_cert)
            if cek is not None:
                return cek, "certificate"
        kinds.append("password" if info.tag == asn1.context(3) else
                     "certificate" if info.tag == asn1.SEQUENCE else f"tag 0x{info.tag:02x}")
    if "password" in kinds and password is None:
        raise InvalidInputError("this envelope is sealed with a password",
                                hint="give it with --password-file or --password-env")
    if "certificate" in kinds and recipient_key is None:
        raise InvalidInputError("this envelope is sealed for certificates",
                                hint="give the recipient's key with --recipient-key (and --recipient-cert)")
    raise WrongPasswordError("none of the envelope's recipients matches the given key")


def _pwri(info: asn1.Node, password: str) -> bytes | None:
    kids = info.children()
    if len(kids) != 4 or kids[0].as_int() != 0:
        raise InvalidInputError("unsupported PasswordRecipientInfo")
    kdf = kids[1].expect(asn1.context(0), "keyDerivationAlgorithm").children()
    if kdf[0].as_oid() != OID_PBKDF2:
        raise InvalidInputError(f"unsupported key derivation {kdf[0].as_oid()}")
    params = kdf[1].expect(asn1.SEQUENCE, "PBKDF2-params").children()
    salt = params[0].as_octets()
    iterations = params[1].as_int()
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise InvalidInputError(f"PBKDF2 iteration count {iterations} is out of range")
    prf = hashes.SHA1()
    for p in params[2:]:
        if p.tag == asn1.SEQUENCE:
            prf_alg = asn1.read_algorithm(p)
            prf_oid = prf_alg.oid
            if prf_alg.params is not None and prf_alg.params.tag != asn1.NULL:
                raise InvalidInputError("PBKDF2 PRF parameters must be NULL (RFC 8018 B.1)")
            if prf_oid == OID_HMAC_SHA256:
                prf = hashes.SHA256()
            elif prf_oid != OID_HMAC_SHA1:
                raise InvalidInputError(f"unsupported PBKDF2 PRF {prf_oid}")
    kea = asn1.read_algorithm(kids[2])
    if kea.oid != OID_PWRI_KEK or kea.params is None:
        raise InvalidInputError(f"unsupported key encryption {kea.oid}")
    kek_alg = asn1.read_algorithm(kea.params)
    key_len = AES_CBC_KEY.get(kek_alg.oid)
    if key_len is None or kek_alg.params is None:
        raise InvalidInputError(f"unsupported PWRI-KEK cipher {kek_alg.oid}")
    kek = PBKDF2HMAC(prf, key_len, salt, iterations).derive(password.encode("utf-8"))
    return pwri_unwrap(kek, kek_alg.params.as_octets(), kids[3].as_octets())


def _ktri(info: asn1.Node, key, cert: x509.Certificate | None) -> bytes | None:
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    kids = info.children()
    if len(kids) != 4:
        return None
    version, rid = kids[0].as_int(), kids[1]
    # RFC 5652 6.2.1: version 0 with issuerAndSerialNumber, version 2 with [0] subjectKeyIdentifier
    if (version, rid.tag) not in ((0, asn1.SEQUENCE), (2, asn1.context(0, constructed=False))):
        raise FormatError(f"KeyTransRecipientInfo version {version} does not fit its recipient identifier")
    if cert is not None:
        if rid.tag == asn1.SEQUENCE:
            from ppkgtool.security.signing import issuer_and_serial
            if rid.der != issuer_and_serial(cert):
                return None
        else:
            from cryptography import x509 as _x509
            try:
                ski = cert.extensions.get_extension_for_class(_x509.SubjectKeyIdentifier).value.digest
            except _x509.ExtensionNotFound:
                return None
            if rid.value != ski:
                return None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInputError("the recipient key must be an RSA private key")
    alg = asn1.read_algorithm(kids[2])
    if alg.oid == OID_RSAES_OAEP:
        md = hashes.SHA1()
        mgf_md = hashes.SHA1()
        if alg.params is not None:
            for p in alg.params.expect(asn1.SEQUENCE, "RSAES-OAEP-params").children():
                inner = p.only_child("OAEP parameter")
                if p.tag == asn1.context(0):
                    md = _hash(asn1.read_algorithm(inner).oid)
                elif p.tag == asn1.context(1):
                    mgf = asn1.read_algorithm(inner)
                    if mgf.oid != OID_MGF1 or mgf.params is None:
                        raise InvalidInputError("unsupported OAEP mask generation")
                    mgf_md = _hash(asn1.read_algorithm(mgf.params).oid)
        pad = padding.OAEP(mgf=padding.MGF1(mgf_md), algorithm=md, label=None)
    elif alg.oid == OID_RSA_ENCRYPTION:
        pad = padding.PKCS1v15()
    else:
        raise InvalidInputError(f"unsupported key transport {alg.oid}")
    try:
        return key.decrypt(kids[3].as_octets(), pad)
    except ValueError:
        return None


def _hash(oid: str):
    if oid == OID_SHA256:
        return hashes.SHA256()
    if oid == OID_SHA1:
        return hashes.SHA1()
    raise InvalidInputError(f"unsupported hash {oid}")
