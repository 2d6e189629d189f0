"""The WIM blob table (formerly "lookup table"): one 50-byte entry per stored stream.

Layout as in wimlib include/wimlib/blob_table.h (struct blob_descriptor_disk): a resource header,
part number, reference count and the SHA-1 of the uncompressed stream. Real packages list the
image metadata resource first, then the file streams in file order (docs/formats/wim.md) [C].
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ppkgtool.errors import WimError
from ppkgtool.wim.header import RESHDR_SIZE, ResourceHeader

BLOB_ENTRY_SIZE = 50
_TAIL = struct.Struct("<HI20s")
assert RESHDR_SIZE + _TAIL.size == BLOB_ENTRY_SIZE

#: The blob table of a real package has tens of entries; refuse absurd tables early.
MAX_BLOB_ENTRIES = 4_000_000


@dataclass(frozen=True)
class BlobEntry:
    reshdr: ResourceHeader
    part_number: int
    refcount: int
    sha1: bytes

    def __post_init__(self):
        if not isinstance(self.reshdr, ResourceHeader):
            raise TypeError("BlobEntry.reshdr must be a ResourceHeader")
        if not isinstance(self.sha1, bytes) or len(self.sha1) != 20:
            raise TypeError("BlobEntry.sha1 must be 20 bytes")

    @property
    def size(self) -> int:
        return self.reshdr.uncompressed_size

    def build(self) -> bytes:
        return self.reshdr.build() + _TAIL.pack(self.part_number, self.refcount, self.sha1)


def parse_blob_table(data: bytes) -> list[BlobEntry]:
    if len(data) % BLOB_ENTRY_SIZE:
        raise WimError(f"blob table size {len(data)} is not a multiple of {BLOB_ENTRY_SIZE}",
                       where="blob table")
    count = len(data) // BLOB_ENTRY_SIZE
    if count > MAX_BLOB_ENTRIES:
        raise WimError(f"blob table has {count} entries (limit {MAX_BLOB_ENTRIES})", where="blob table")
    entries = []
    for i in range(count):
        pos = i * BLOB_ENTRY_SIZE
        reshdr = ResourceHeader.parse(data, pos)
        part, refcount, sha1 = _TAIL.unpack_from(data, pos + RESHDR_SIZE)
        entries.append(BlobEntry(reshdr, part, refcount, sha1))
    return entries


def build_blob_table(entries: list[BlobEntry]) -> bytes:
    return b"".join(e.build() for e in entries)


_ROW = struct.Struct("<QQQHI20s")     # 7-byte size + flags as one little-endian Q, then the rest
assert _ROW.size == BLOB_ENTRY_SIZE


def pack_blob_rows(rows: list) -> bytes:
    """The blob table from plain rows (size_in_wim, flags, offset, uncompressed_size, refcount,
    sha1), part number 1: what the writer produces per package without building BlobEntry
    objects (same bytes as build_blob_table, tested). The writer's rows hold sizes of real files
    (< 2**56) and hashlib digests; a value out of range fails here rather than being truncated."""
    pack = _ROW.pack
    try:
        return b"".join([pack(size | flags << 56 if size < 1 << 56 and flags < 256 else -1, offset, usize, 1,
                              refcount, sha1 if len(sha1) == 20 else None)
                         for size, flags, offset, usize, refcount, sha1 in rows])
    except struct.error as exc:
        raise WimError(f"blob table row out of range: {exc}") from None
