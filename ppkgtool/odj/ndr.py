"""NDR type-serialization version 1 primitives for the ODJ structures.

Implements what the ODJ blobs use and nothing more (docs/formats/odj.md, "Streams"):
- the type-serialization header: common header ``01 10 08 00 cc cc cc cc`` and the private header
  ``u32 ObjectBufferLength, u32 filler`` ([MS-RPCE] 2.2.6.1 / 2.2.6.2), body padded to 8 bytes;
- NDR20 little-endian scalars with natural alignment (C706 chapter 14);
- unique-pointer referent ids, conformant byte arrays, ``[string]`` wide strings (conformant
  varying, NUL included), counted UNICODE_STRING buffers (conformant varying, no NUL), SIDs, GUIDs.

Structures are read and written by hand in two phases (scalars, then the deferred pointees in field
order, depth first), exactly as MIDL and Samba's pidl do. Readers only test referent ids for
non-zero and record them, so that a re-encode can reuse them (Windows writes heap addresses).
"""

from __future__ import annotations

import struct
import uuid

from ppkgtool.errors import OdjError

NERR_BadOfflineJoinInfo = 2710

COMMON_HEADER = b"\x01\x10\x08\x00\xcc\xcc\xcc\xcc"  # version 1, little-endian/ASCII, header length 8, filler
FIRST_REFERENT_ID = 0x00020000
MAX_STREAM = 16 * 1024 * 1024  # far above any real blob (Windows' are a few KiB)


class NdrReader:
    """Reads one stream body. ``path`` names the structure, ``base`` is the body's offset in the
    outermost input so that every error names an absolute offset."""

    def __init__(self, data: bytes, *, path: str, base: int = 0):
        self.data = data
        self.pos = 0
        self.path = path
        self.base = base
        self.referent_ids: list[int] = []

    # -- errors ---------------------------------------------------------------------------------
    def error(self, message: str, *, code: int = NERR_BadOfflineJoinInfo, at: int | None = None) -> OdjError:
        offset = self.base + (self.pos if at is None else at)
        return OdjError(message, where=f"{self.path} at offset {offset:#x}", code=code)

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.data):
            raise self.error(f"truncated: {what} needs {n} bytes, {len(self.data) - self.pos} left")

    # -- scalars --------------------------------------------------------------------------------
    def align(self, n: int) -> None:
        pad = (-self.pos) % n
        if pad:
            self.need(pad, "alignment padding")
            self.pos += pad

    def u8(self, what: str = "byte") -> int:
        self.need(1, what)
        v = self.data[self.pos]
        self.pos += 1
        return v

    def u16(self, what: str = "USHORT") -> int:
        self.align(2)
        self.need(2, what)
        (v,) = struct.unpack_from("<H", self.data, self.pos)
        self.pos += 2
        return v

    def u32(self, what: str = "ULONG") -> int:
        self.align(4)
        self.need(4, what)
        (v,) = struct.unpack_from("<I", self.data, self.pos)
        self.pos += 4
        return v

    def raw(self, n: int, what: str = "bytes") -> bytes:
        self.need(n, what)
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(v)

    def guid(self, what: str = "GUID") -> uuid.UUID:
        self.align(4)
        return uuid.UUID(bytes_le=self.raw(16, what))

    def ptr(self, what: str = "pointer") -> bool:
        """A unique pointer: True when non-NULL (the referent id is recorded)."""
        ref = self.u32(what)
        if ref:
            self.referent_ids.append(ref)
        return ref != 0

    def count(self, what: str, *, element_size: int) -> int:
        """A u32 element count, refused when the rest of the stream cannot hold that many elements."""
        n = self.u32(what)
        if element_size and n * element_size > len(self.data) - self.pos:
            raise self.error(f"{what} {n} does not fit in the {len(self.data) - self.pos} bytes left",
                             at=self.pos - 4)
        return n

    # -- deferred pointees ---------------------------------------------------------------------
    def byte_array(self, expected: int, what: str) -> bytes:
        """``[size_is(cb)] BYTE *``: conformance, then the bytes."""
        self.align(4)
        start = self.pos
        n = self.u32(f"{what} conformance")
        if n != expected:
            raise self.error(f"{what}: array conformance {n} differs from the size field {expected}", at=start)
        return self.raw(n, what)

    def wstring(self, what: str) -> str:
        """``[string] wchar_t *``: max count, offset 0, actual count, UTF-16LE with the NUL."""
        self.align(4)
        start = self.pos
        maximum = self.u32(f"{what} maximum count")
        offset = self.u32(f"{what} offset")
        actual = self.u32(f"{what} actual count")
        if offset != 0:
            raise self.error(f"{what}: string offset {offset} (must be 0)", at=start)
        if actual > maximum:
            raise self.error(f"{what}: actual count {actual} exceeds maximum count {maximum}", at=start)
        if actual == 0:
            raise self.error(f"{what}: a [string] must hold at least its terminating NUL", at=start)
        body = self.raw(2 * actual, what)
        if body[-2:] != b"\x00\x00":
            raise self.error(f"{what}: string is not NUL-terminated", at=start)
        return body[:-2].decode("utf-16-le", "surrogatepass")

    def unicode_string_body(self, length: int, maximum_length: int, what: str) -> str:
        """The deferred Buffer of an ODJ_UNICODE_STRING: max = MaximumLength/2, offset 0, actual = Length/2."""
        self.align(4)
        start = self.pos
        maximum = self.u32(f"{what} maximum count")
        offset = self.u32(f"{what} offset")
        actual = self.u32(f"{what} actual count")
        if maximum != maximum_length // 2 or actual != length // 2 or offset != 0:
            raise self.error(f"{what}: buffer counts (max {maximum}, offset {offset}, actual {actual}) do not "
                             f"match Length {length} / MaximumLength {maximum_length}", at=start)
        return self.raw(2 * actual, what).decode("utf-16-le", "surrogatepass")

    def sid(self, what: str) -> str:
        """ODJ_SID, a conformant struct: sub-authority count, revision, count, authority (BE), sub-authorities."""
        self.align(4)
        start = self.pos
        conformance = self.u32(f"{what} conformance")
        revision = self.u8(f"{what} revision")
        n = self.u8(f"{what} sub-authority count")
        if revision != 1:
            raise self.error(f"{what}: SID revision {revision} (must be 1)", at=start)
        if n != conformance or n > 15:
            raise self.error(f"{what}: SID sub-authority count {n} (conformance {conformance}, at most 15)", at=start)
        authority = int.from_bytes(self.raw(6, f"{what} authority"), "big")
        subs = [self.u32(f"{what} sub-authority") for _ in range(n)]
        return format_sid(authority, subs)

    # -- nested streams --------------------------------------------------------------------------
    def nested_offset(self) -> int:
        return self.base + self.pos


class NdrWriter:
    """Writes one stream body. ``referent_ids`` (as read by NdrReader) are reused in order so a
    decoded stream re-encodes byte for byte; further pointers get 0x00020000 + 4*i."""

    def __init__(self, referent_ids: tuple[int, ...] | list[int] = ()):
        self.buf = bytearray()
        self._ids = list(referent_ids)
        self._n = 0

    def align(self, n: int) -> None:
        self.buf += b"\x00" * ((-len(self.buf)) % n)

    def u8(self, v: int) -> None:
        self.buf.append(v)

    def u16(self, v: int) -> None:
        self.align(2)
        self.buf += struct.pack("<H", v)

    def u32(self, v: int) -> None:
        self.align(4)
        self.buf += struct.pack("<I", v)

    def raw(self, data: bytes) -> None:
        self.buf += data

    def guid(self, g: uuid.UUID) -> None:
        self.align(4)
        self.buf += g.bytes_le

    def ptr(self, present: bool) -> bool:
        if not present:
            self.u32(0)
            return False
        if self._n < len(self._ids) and self._ids[self._n]:
            ref = self._ids[self._n]
        else:
            ref = FIRST_REFERENT_ID + 4 * self._n
        self._n += 1
        self.u32(ref)
        return True

    def byte_array(self, data: bytes) -> None:
        self.u32(len(data))
        self.raw(data)

    def wstring(self, s: str) -> None:
        body = s.encode("utf-16-le", "surrogatepass") + b"\x00\x00"
        n = len(body) // 2
        self.u32(n)
        self.u32(0)
        self.u32(n)
        self.raw(body)

    def unicode_string_body(self, s: str) -> None:
        body = s.encode("utf-16-le", "surrogatepass")
        n = len(body) // 2
        self.u32(n + 1)
        self.u32(0)
        self.u32(n)
        self.raw(body)

    def sid(self, sid: str) -> None:
        authority, subs = parse_sid(sid)
        self.u32(len(subs))
        self.u8(1)
        self.u8(len(subs))
        self.raw(authority.to_bytes(6, "big"))
        for s in subs:
            self.u32(s)


# -- type serialization v1 stream wrapper --------------------------------------------------------

def wrap_stream(body: bytes | bytearray) -> bytes:
    """Common header, private header (length, filler 0), body padded with zeros to 8 bytes."""
    padded = bytes(body) + b"\x00" * ((-len(body)) % 8)
    return COMMON_HEADER + struct.pack("<II", len(padded), 0) + padded


def unwrap_stream(data: bytes, *, path: str, base: int = 0) -> NdrReader:
    """Check the two headers of a type-serialization v1 stream; return a reader over its body."""
    def err(msg: str, at: int) -> OdjError:
        return OdjError(msg, where=f"{path} at offset {base + at:#x}", code=NERR_BadOfflineJoinInfo)

    if len(data) > MAX_STREAM:
        raise err(f"stream of {len(data)} bytes is larger than the {MAX_STREAM}-byte limit", 0)
    if len(data) < 16:
        raise err(f"truncated: a type-serialization stream needs 16 header bytes, got {len(data)}", 0)
    if data[0] != 1:
        raise err(f"type-serialization version {data[0]} (only version 1 exists)", 0)
    if data[1] != 0x10:
        raise err(f"data representation {data[1]:#04x} is not little-endian ASCII (0x10)", 1)
    if data[2:4] != b"\x08\x00":
        raise err(f"common header length {int.from_bytes(data[2:4], 'little')} (must be 8)", 2)
    (length,) = struct.unpack_from("<I", data, 8)
    if length > len(data) - 16:
        raise err(f"truncated: ObjectBufferLength {length} but only {len(data) - 16} bytes follow the headers", 8)
    if len(data) - 16 - length >= 8:
        raise err(f"{len(data) - 16 - length} bytes after the end of the serialized object", 16 + length)
    return NdrReader(data[16:16 + length], path=path, base=base + 16)


def finish_stream(reader: NdrReader) -> None:
    """After decoding: what is left may only be the padding to 8 bytes."""
    left = len(reader.data) - reader.pos
    if left >= 8:
        raise reader.error(f"{left} unused bytes at the end of the serialized object")


# -- SIDs ----------------------------------------------------------------------------------------

def format_sid(authority: int, subs: list[int] | tuple[int, ...]) -> str:
    auth = str(authority) if authority < 2 ** 32 else f"0x{authority:012X}"
    return "S-1-" + auth + "".join(f"-{s}" for s in subs)


def parse_sid(text: str) -> tuple[int, list[int]]:
    """``S-1-<authority>-<sub>...`` → (authority, sub-authorities); ValueError when malformed."""
    if not isinstance(text, str):
        raise ValueError(f"a SID must be a string, not {type(text).__name__}")
    parts = text.strip().upper().split("-")
    if len(parts) < 3 or parts[0] != "S" or parts[1] != "1":
        raise ValueError(f"{text!r} is not a SID (S-1-<authority>-<sub-authority>...)")
    try:
        auth = int(parts[2], 16) if parts[2].startswith("0X") else int(parts[2], 10)
        subs = [int(p, 10) for p in parts[3:]]
    except ValueError:
        raise ValueError(f"{text!r} is not a SID (non-numeric component)") from None
    if not 0 <= auth < 2 ** 48:
        raise ValueError(f"{text!r}: identifier authority out of range")
    if len(subs) > 15 or any(not 0 <= s < 2 ** 32 for s in subs):
        raise ValueError(f"{text!r}: at most 15 sub-authorities, each below 2^32")
    return auth, subs
