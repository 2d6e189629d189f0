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
        r = self.reshdr
        return pack_blob_entry(r.size_in_wim, r.flags, r.offset, r.uncompressed_size, self.part_number,
                               self.refcount, self.sha1)


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


def pack_blob_entry(size_in_wim: int, flags: int, offset: int, uncompressed_size: int, part_number: int,
                    refcount: int, sha1: bytes) -> bytes:
    """One 50-byte entry; a value the format cannot hold is refused, never truncated."""
    if not (0 <= size_in_wim < 1 << 56 and 0 <= flags <= 0xFF) or not isinstance(sha1, bytes) or len(sha1) != 20:
        raise WimError(f"blob table row out of range (size {size_in_wim}, flags {flags}, hash of "
                       f"{len(sha1)} bytes)")
    try:
        return _ROW.pack(size_in_wim | flags << 56, offset, uncompressed_size, part_number, refcount, sha1)
    except struct.error as exc:
        raise WimError(f"blob table row out of range: {exc}") from None


def pack_blob_rows(rows: list) -> bytes:
    """The blob table from the writer's plain rows (size_in_wim, flags, offset, uncompressed_size,
    refcount, sha1), part number 1: build_blob_table without building BlobEntry objects."""
    return b"".join([pack_blob_entry(size, flags, offset, usize, 1, refcount, sha1)
                     for size, flags, offset, usize, refcount, sha1 in rows])
