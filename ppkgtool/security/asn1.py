"""A small, strict DER layer (ITU-T X.690) for the structures this package builds and reads.

Only what catalogs (PKCS#7 SignedData over a Microsoft CTL) and CMS envelopes need: single-byte
tags, definite lengths in minimal form, and typed encoders/decoders for the universal types used
there. Certificates themselves are parsed by ``cryptography``; this layer only carries their bytes.

Decoding is strict on purpose: a catalog is security-relevant, so any encoding that is not DER
(indefinite or non-minimal lengths, trailing bytes, non-canonical booleans/integers) is refused with
an error naming the offset, never guessed at.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Callable, Iterable

from ppkgtool.errors import FormatError

# X.690 8.1.2 identifier octets: class (2 bits), constructed (1 bit), number (5 bits)
UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0x00, 0x40, 0x80, 0xC0
CONSTRUCTED = 0x20

BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31

MAX_DEPTH = 32

ErrorFactory = Callable[..., FormatError]


def context(number: int, *, constructed: bool = True) -> int:
    """The identifier octet of a context-specific tag [number]."""
    if not 0 <= number <= 30:
        raise ValueError("only low tag numbers are supported")
    return CONTEXT | (CONSTRUCTED if constructed else 0) | number


@dataclass(frozen=True)
class Node:
    """One decoded TLV. ``data`` is the whole buffer; offsets index into it (no copies)."""

    data: bytes
    offset: int  # of the identifier octet
    header_length: int
    length: int
    tag: int
    error: ErrorFactory = FormatError
    depth: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.header_length + self.length

    @property
    def value(self) -> bytes:
        """The contents octets (X.690 8.1.4)."""
        start = self.offset + self.header_length
        return self.data[start:start + self.length]

    @property
    def der(self) -> bytes:
        """The whole TLV as it appears in the input."""
        return self.data[self.offset:self.end]

    @property
    def constructed(self) -> bool:
        return bool(self.tag & CONSTRUCTED)

    def fail(self, problem: str) -> FormatError:
        return self.error(problem, where=f"offset {self.offset}")

    def expect(self, tag: int, what: str) -> "Node":
        if self.tag != tag:
            raise self.fail(f"{what}: expected tag 0x{tag:02x}, found 0x{self.tag:02x}")
        return self

    def children(self) -> list["Node"]:
        """The TLVs inside a constructed value, in order."""
        if not self.constructed:
            raise self.fail(f"tag 0x{self.tag:02x} is primitive, a constructed value was expected")
        if self.depth >= MAX_DEPTH:
            raise self.fail("nesting is too deep")
        out = []
        pos = self.offset + self.header_length
        while pos < self.end:
            child = _read_tlv(self.data, pos, self.end, self.error, self.depth + 1)
            out.append(child)
            pos = child.end
        return out

    def only_child(self, what: str) -> "Node":
        kids = self.children()
        if len(kids) != 1:
            raise self.fail(f"{what}: expected exactly one element, found {len(kids)}")
        return kids[0]

    # --- typed readers -------------------------------------------------------------------------

    def as_oid(self) -> str:
        self.expect(OID, "object identifier")
        return decode_oid(self.value, self)

    def as_int(self) -> int:
        self.expect(INTEGER, "integer")
        v = self.value
        if not v:
            raise self.fail("empty INTEGER")
        if len(v) > 1 and ((v[0] == 0 and v[1] < 0x80) or (v[0] == 0xFF and v[1] >= 0x80)):
            raise self.fail("INTEGER is not in minimal form")
        return int.from_bytes(v, "big", signed=True)

    def as_octets(self) -> bytes:
        self.expect(OCTET_STRING, "octet string")
        return self.value

    def as_null(self) -> None:
        self.expect(NULL, "NULL")
        if self.length:
            raise self.fail("NULL with contents")

    def as_bool(self) -> bool:
        self.expect(BOOLEAN, "boolean")
        if self.value not in (b"\x00", b"\xff"):
            raise self.fail("BOOLEAN is not DER (0x00 or 0xFF)")
        return self.value == b"\xff"

    def as_time(self) -> _dt.datetime:
        if self.tag == UTC_TIME:
            return decode_utc_time(self.value, self)
        if self.tag == GENERALIZED_TIME:
            return decode_generalized_time(self.value, self)
        raise self.fail(f"expected a time, found tag 0x{self.tag:02x}")

    def as_bmp(self) -> str:
        self.expect(BMP_STRING, "BMPString")
        if len(self.value) % 2:
            raise self.fail("BMPString of odd length")
        return self.value.decode("utf-16-be", errors="replace")


def _read_tlv(data: bytes, pos: int, limit: int, error: ErrorFactory, depth: int) -> Node:
    if pos >= limit:
        raise error("unexpected end of data", where=f"offset {pos}")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise error("high tag numbers are not used in these structures", where=f"offset {pos}")
    if pos + 1 >= limit:
        raise error("truncated length", where=f"offset {pos}")
    first = data[pos + 1]
    if first < 0x80:
        length, header = first, 2
    elif first == 0x80:
        raise error("indefinite length (BER) is not DER", where=f"offset {pos}")
    else:
        n = first & 0x7F
        if n > 4:
            raise error("length field too large", where=f"offset {pos}")
        if pos + 2 + n > limit:
            raise error("truncated length", where=f"offset {pos}")
        raw = data[pos + 2:pos + 2 + n]
        if raw[0] == 0:
            raise error("length not in minimal form", where=f"offset {pos}")
        length = int.from_bytes(raw, "big")
        if length < 0x80:
            raise error("length not in minimal form", where=f"offset {pos}")
        header = 2 + n
    if pos + header + length > limit:
        raise error(f"element of {length} bytes runs past its container", where=f"offset {pos}")
    return Node(data, pos, header, length, tag, error, depth)


def decode(data: bytes, *, error: ErrorFactory = FormatError, offset: int = 0) -> Node:
    """Decode exactly one TLV that spans ``data[offset:]`` completely."""
    data = bytes(data)
    node = _read_tlv(data, offset, len(data), error, 0)
    if node.end != len(data):
        raise error(f"{len(data) - node.end} bytes after the end of the structure",
                    where=f"offset {node.end}")
    return node


def decode_prefix(data: bytes, *, error: ErrorFactory = FormatError) -> Node:
    """Decode the first TLV of ``data``; bytes after it are allowed (streams, headers)."""
    return _read_tlv(bytes(data), 0, len(data), error, 0)


def header(tag: int, length: int) -> bytes:
    """Identifier and length octets of a TLV whose contents are ``length`` bytes long."""
    if length < 0x80:
        return bytes((tag, length))
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(raw))) + raw


def tlv(tag: int, contents: bytes) -> bytes:
    return header(tag, len(contents)) + contents


# --- encoders -------------------------------------------------------------------------------

def seq(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(items: Iterable[bytes], *, sort: bool = True) -> bytes:
    """SET OF: DER sorts the encodings (X.690 11.6)."""
    items = list(items)
    if sort:
        items.sort()
    return tlv(SET, b"".join(items))


def explicit(number: int, inner: bytes) -> bytes:
    return tlv(context(number), inner)


def implicit(number: int, encoded: bytes, *, constructed: bool | None = None) -> bytes:
    """Re-tag an encoded TLV as [number] IMPLICIT (keeps its contents)."""
    node = decode(encoded)
    cons = node.constructed if constructed is None else constructed
    return tlv(context(number, constructed=cons), node.value)


def integer(value: int) -> bytes:
    length = max(1, (value.bit_length() + 8) // 8)
    return tlv(INTEGER, value.to_bytes(length, "big", signed=True))


def octets(value: bytes) -> bytes:
    return tlv(OCTET_STRING, bytes(value))


def null() -> bytes:
    return b"\x05\x00"


def boolean(value: bool) -> bytes:
    return b"\x01\x01\xff" if value else b"\x01\x01\x00"


def oid(dotted: str) -> bytes:
    return tlv(OID, encode_oid(dotted))


def encode_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] > 39):
        raise ValueError(f"bad object identifier {dotted!r}")
    out = bytearray()
    for i, arc in enumerate([parts[0] * 40 + parts[1]] + parts[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def decode_oid(raw: bytes, node: Node | None = None) -> str:
    def bad(msg: str) -> FormatError:
        return node.fail(msg) if node else FormatError(msg)

    if not raw or len(raw) > 128:
        raise bad("object identifier of bad length")
    arcs: list[int] = []
    value = 0
    start = True
    for b in raw:
        if start and b == 0x80:
            raise bad("object identifier arc not in minimal form")
        value = (value << 7) | (b & 0x7F)
        start = not (b & 0x80)
        if start:
            arcs.append(value)
            value = 0
    if not start:
        raise bad("truncated object identifier")
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def time(when: _dt.datetime) -> bytes:
    """UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5)."""
    when = _as_utc(when)
    if 1950 <= when.year <= 2049:
        return tlv(UTC_TIME, when.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return tlv(GENERALIZED_TIME, when.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def _as_utc(when: _dt.datetime) -> _dt.datetime:
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return when.astimezone(_dt.timezone.utc).replace(microsecond=0)


def _decode_time(raw: bytes, node: Node | None, kind: str, length: int, fmt: str) -> _dt.datetime:
    """A Zulu time of exactly ``length`` characters in strptime format ``fmt``, as UTC (RFC 5280 4.1.2.5)."""
    try:
        text = raw.decode("ascii")
        if len(text) != length or not text.endswith("Z"):
            raise ValueError
        t = _dt.datetime.strptime(text, fmt)
    except ValueError:
        raise (node.fail if node else FormatError)(f"bad {kind} {raw!r}") from None
    return t.replace(tzinfo=_dt.timezone.utc)


def decode_utc_time(raw: bytes, node: Node | None = None) -> _dt.datetime:
    t = _decode_time(raw, node, "UTCTime", 13, "%y%m%d%H%M%SZ")
    return t if t.year < 2050 else t.replace(year=t.year - 100)


def decode_generalized_time(raw: bytes, node: Node | None = None) -> _dt.datetime:
    return _decode_time(raw, node, "GeneralizedTime", 15, "%Y%m%d%H%M%SZ")


# --- AlgorithmIdentifier (RFC 5280 4.1.1.2) ---------------------------------------------------

def algorithm(dotted: str, params: bytes | None = b"\x05\x00") -> bytes:
    """AlgorithmIdentifier; ``params=None`` omits the parameters field."""
    return seq(oid(dotted), params or b"")


@dataclass(frozen=True)
class Algorithm:
    oid: str
    params: Node | None


def read_algorithm(node: Node) -> Algorithm:
    node.expect(SEQUENCE, "AlgorithmIdentifier")
    kids = node.children()
    if not 1 <= len(kids) <= 2:
        raise node.fail("AlgorithmIdentifier must have one or two elements")
    return Algorithm(kids[0].as_oid(), kids[1] if len(kids) == 2 else None)
