"""The WIM file header and resource headers (docs/formats/wim.md, "Header").

Layout as in wimlib include/wimlib/header.h (struct wim_header_disk) and resource.h
(struct wim_reshdr_disk); the values a .ppkg uses are in ppkg-format.md, "Container" [C].
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from ppkgtool.errors import WimError

WIM_MAGIC = b"MSWIM\x00\x00\x00"
HEADER_SIZE = 208            # header.h: sizeof(struct wim_header_disk)
RESHDR_SIZE = 24             # resource.h: sizeof(struct wim_reshdr_disk)

WIM_VERSION_DEFAULT = 0x10D00   # 1.13, what WIMGAPI and every real .ppkg write [C]
WIM_VERSION_SOLID = 0xE00       # wimlib/WIMGAPI solid ("ESD") archives, not supported here
SUPPORTED_VERSIONS = (0x10D00, 0x10B00, 0x10A00)

# header.h: WIM_HDR_FLAG_*
HDR_FLAG_RESERVED = 0x00000001
HDR_FLAG_COMPRESSION = 0x00000002
HDR_FLAG_READONLY = 0x00000004
HDR_FLAG_SPANNED = 0x00000008
HDR_FLAG_RESOURCE_ONLY = 0x00000010
HDR_FLAG_METADATA_ONLY = 0x00000020
HDR_FLAG_WRITE_IN_PROGRESS = 0x00000040
HDR_FLAG_RP_FIX = 0x00000080
HDR_FLAG_COMPRESS_RESERVED = 0x00010000
HDR_FLAG_COMPRESS_XPRESS = 0x00020000
HDR_FLAG_COMPRESS_LZX = 0x00040000
HDR_FLAG_COMPRESS_LZMS = 0x00080000
HDR_FLAG_COMPRESS_XPRESS2 = 0x00200000

#: The flags of every real .ppkg: COMPRESSION | RP_FIX | COMPRESS_XPRESS = 0x00020082 [C].
PPKG_HEADER_FLAGS = HDR_FLAG_COMPRESSION | HDR_FLAG_RP_FIX | HDR_FLAG_COMPRESS_XPRESS
PPKG_CHUNK_SIZE = 32768

# resource.h: WIM_RESHDR_FLAG_*
RESHDR_FLAG_FREE = 0x01
RESHDR_FLAG_METADATA = 0x02
RESHDR_FLAG_COMPRESSED = 0x04
RESHDR_FLAG_SPANNED = 0x08
RESHDR_FLAG_SOLID = 0x10

_RESHDR = struct.Struct("<QQQ")    # the 7-byte size and the flags byte read as one little-endian Q
assert _RESHDR.size == RESHDR_SIZE
_HEADER = struct.Struct("<8sIIII16sHHI24s24s24sI24s60s")
assert _HEADER.size == HEADER_SIZE


@dataclass(frozen=True)
class ResourceHeader:
    """struct wim_reshdr_disk: 7-byte stored size, 1-byte flags, offset, uncompressed size."""

    size_in_wim: int
    flags: int
    offset: int
    uncompressed_size: int

    def __post_init__(self):
        if not (type(self.size_in_wim) is int and type(self.flags) is int and type(self.offset) is int
                and type(self.uncompressed_size) is int):
            raise TypeError("ResourceHeader fields must be int")
        if not (0 <= self.size_in_wim < 1 << 56 and 0 <= self.flags <= 0xFF and 0 <= self.offset < 1 << 64
                and 0 <= self.uncompressed_size < 1 << 64):
            raise ValueError("ResourceHeader field out of range")

    @property
    def compressed(self) -> bool:
        return bool(self.flags & RESHDR_FLAG_COMPRESSED)

    @property
    def is_metadata(self) -> bool:
        return bool(self.flags & RESHDR_FLAG_METADATA)

    @property
    def end(self) -> int:
        return self.offset + self.size_in_wim

    @classmethod
    def parse(cls, data: bytes | memoryview, pos: int = 0) -> "ResourceHeader":
        raw = bytes(data[pos:pos + RESHDR_SIZE])
        if len(raw) != RESHDR_SIZE:
            raise WimError("truncated resource header", where=f"offset {pos}")
        size = int.from_bytes(raw[:7], "little")
        offset, usize = struct.unpack_from("<QQ", raw, 8)
        return cls(size, raw[7], offset, usize)

    def build(self) -> bytes:
        return pack_reshdr(self.size_in_wim, self.flags, self.offset, self.uncompressed_size)


EMPTY_RESHDR = ResourceHeader(0, 0, 0, 0)


@dataclass(frozen=True)
class WimHeader:
    """struct wim_header_disk (header.h), 208 bytes at offset 0."""

    version: int
    flags: int
    chunk_size: int
    guid: bytes
    part_number: int
    total_parts: int
    image_count: int
    blob_table: ResourceHeader
    xml_data: ResourceHeader
    boot_metadata: ResourceHeader
    boot_index: int
    integrity_table: ResourceHeader

    def __post_init__(self):
        if not isinstance(self.guid, bytes) or len(self.guid) != 16:
            raise TypeError("WimHeader.guid must be 16 bytes")
        for name in ("blob_table", "xml_data", "boot_metadata", "integrity_table"):
            if not isinstance(getattr(self, name), ResourceHeader):
                raise TypeError(f"WimHeader.{name} must be a ResourceHeader")

    @property
    def guid_uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes_le=self.guid)

    @property
    def compression(self) -> str:
        """'none', 'xpress', 'lzx', 'lzms' or 'xpress2' (from the header flags)."""
        if not self.flags & HDR_FLAG_COMPRESSION:
            return "none"
        for flag, name in ((HDR_FLAG_COMPRESS_XPRESS, "xpress"), (HDR_FLAG_COMPRESS_LZX, "lzx"),
                           (HDR_FLAG_COMPRESS_LZMS, "lzms"), (HDR_FLAG_COMPRESS_XPRESS2, "xpress2")):
            if self.flags & flag:
                return name
        return "unknown"

    def to_json(self) -> dict:
        return {"version": f"0x{self.version:x}", "flags": f"0x{self.flags:08x}",
                "chunk_size": self.chunk_size, "guid": self.guid.hex(), "compression": self.compression,
                "part_number": self.part_number, "total_parts": self.total_parts,
                "image_count": self.image_count, "boot_index": self.boot_index,
                "integrity_table": self.integrity_table.size_in_wim > 0}

    @classmethod
    def parse(cls, data: bytes) -> "WimHeader":
        if len(data) < HEADER_SIZE:
            if not data.startswith(WIM_MAGIC[:len(data)]) or len(data) < len(WIM_MAGIC):
                raise WimError("not a WIM file (no MSWIM magic)", where="header",
                               hint="an encrypted .ppkg must be decrypted first")
            raise WimError(f"truncated header ({len(data)} of {HEADER_SIZE} bytes)", where="header")
        (magic, hdr_size, version, flags, chunk_size, guid, part, total, image_count, blob, xml, boot,
         boot_index, integrity, _unused) = _HEADER.unpack_from(data, 0)
        if magic != WIM_MAGIC:
            raise WimError("not a WIM file (no MSWIM magic)", where="header offset 0",
                           hint="an encrypted .ppkg must be decrypted first")
        if hdr_size != HEADER_SIZE:
            raise WimError(f"header size {hdr_size} is not {HEADER_SIZE}", where="header offset 8")
        if version == WIM_VERSION_SOLID:
            raise WimError("solid (ESD) WIM archives are not supported", where="header offset 12")
        if version not in SUPPORTED_VERSIONS:
            raise WimError(f"unsupported WIM version 0x{version:x}", where="header offset 12")
        return cls(version=version, flags=flags, chunk_size=chunk_size, guid=guid, part_number=part,
                   total_parts=total, image_count=image_count, blob_table=ResourceHeader.parse(blob),
                   xml_data=ResourceHeader.parse(xml), boot_metadata=ResourceHeader.parse(boot),
                   boot_index=boot_index, integrity_table=ResourceHeader.parse(integrity))

    def build(self) -> bytes:
        def plain(r: ResourceHeader) -> tuple[int, int, int, int]:
            return r.size_in_wim, r.flags, r.offset, r.uncompressed_size

        return pack_header(version=self.version, flags=self.flags, chunk_size=self.chunk_size, guid=self.guid,
                           part_number=self.part_number, total_parts=self.total_parts,
                           image_count=self.image_count, blob_table=plain(self.blob_table),
                           xml_data=plain(self.xml_data), boot_metadata=plain(self.boot_metadata),
                           boot_index=self.boot_index, integrity_table=plain(self.integrity_table))


def pack_header(*, version: int, flags: int, chunk_size: int, guid: bytes, part_number: int, total_parts: int,
                image_count: int, blob_table: tuple[int, int, int, int], xml_data: tuple[int, int, int, int],
                boot_metadata: tuple[int, int, int, int] = (0, 0, 0, 0), boot_index: int = 0,
                integrity_table: tuple[int, int, int, int] = (0, 0, 0, 0)) -> bytes:
    """The 208 header bytes from plain (size_in_wim, flags, offset, uncompressed_size) tuples; the
    writer calls it without building WimHeader/ResourceHeader objects, WimHeader.build with them."""
    if not isinstance(guid, bytes) or len(guid) != 16:
        raise TypeError("guid must be 16 bytes")
    return _HEADER.pack(WIM_MAGIC, HEADER_SIZE, version, flags, chunk_size, guid, part_number, total_parts,
                        image_count, pack_reshdr(*blob_table), pack_reshdr(*xml_data), pack_reshdr(*boot_metadata),
                        boot_index, pack_reshdr(*integrity_table), bytes(60))


def pack_reshdr(size_in_wim: int, flags: int, offset: int, uncompressed_size: int) -> bytes:
    """struct wim_reshdr_disk: the 7-byte stored size and the flags byte as one little-endian u64."""
    if not (0 <= size_in_wim < 1 << 56 and 0 <= flags <= 0xFF):
        raise ValueError("resource header field out of range")
    return _RESHDR.pack(size_in_wim | flags << 56, offset, uncompressed_size)
