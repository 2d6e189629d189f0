"""Helpers of the WIM tests (no tests here; imported by the other test_wim_* modules): builders of
hostile WIM files for the safety and fuzz tests, and ``tree_files`` to read an extracted tree.

The builders use the project's low-level structure writers directly (header, blob table, dentries,
resources), bypassing write_wim's path checks, so a test can put any name, link or broken offset
into a package. The metadata resource is stored uncompressed so tests can patch its bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
from pathlib import Path

from ppkgtool.wim.blobtable import BlobEntry, build_blob_table
from ppkgtool.wim.dentry import (FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT,
                                 Dentry, build_dentry_tree)
from ppkgtool.wim.header import (EMPTY_RESHDR, HEADER_SIZE, PPKG_CHUNK_SIZE, PPKG_HEADER_FLAGS,
                                 RESHDR_FLAG_METADATA, WIM_VERSION_DEFAULT, ResourceHeader, WimHeader)
from ppkgtool.wim.imagexml import build_image_xml, build_wim_xml
from ppkgtool.wim.security import DEFAULT_DESCRIPTORS, SecurityData

T = 133000000000000000  # a FILETIME in 2022


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by package path ("/Multivariant/0/customizations.xml") -> content."""
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out["/" + p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def file_entry(name: str, data: bytes, **kw) -> Dentry:
    return Dentry(name=name, attributes=kw.pop("attributes", FILE_ATTRIBUTE_ARCHIVE),
                  main_hash=hashlib.sha1(data).digest() if data else bytes(20), security_id=1,
                  creation_time=T, last_access_time=T, last_write_time=T, **kw)


def dir_entry(name: str, *children: Dentry) -> Dentry:
    return Dentry(name=name, attributes=FILE_ATTRIBUTE_DIRECTORY, children=tuple(children),
                  creation_time=T, last_access_time=T, last_write_time=T)


def symlink_entry(name: str, target_data: bytes) -> Dentry:
    """A reparse point (IO_REPARSE_TAG_SYMLINK 0xA000000C) whose reparse data is ``target_data``."""
    return Dentry(name=name, attributes=FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_ARCHIVE,
                  main_hash=hashlib.sha1(target_data).digest(), reparse_tag=0xA000000C, security_id=1,
                  creation_time=T, last_access_time=T, last_write_time=T)


def metadata_for(root: Dentry) -> bytes:
    sd = SecurityData.build(DEFAULT_DESCRIPTORS)
    return sd + build_dentry_tree(root, len(sd))


def wim_from_metadata(metadata: bytes, streams: list[bytes], *, name: str = "hostile",
                      trailing: bytes = b"") -> bytes:
    """A complete WIM whose only image has ``metadata`` (uncompressed) and the given streams."""
    out = io.BytesIO()
    out.write(bytes(HEADER_SIZE))
    entries = []
    stream_entries = []
    seen = set()
    for data in streams:
        h = hashlib.sha1(data).digest()
        if not data or h in seen:
            continue
        seen.add(h)
        off = out.tell()
        out.write(data)
        stream_entries.append(BlobEntry(ResourceHeader(len(data), 0, off, len(data)), 1, 1, h))
    moff = out.tell()
    out.write(metadata)
    entries.append(BlobEntry(ResourceHeader(len(metadata), RESHDR_FLAG_METADATA, moff, len(metadata)), 1, 1,
                             hashlib.sha1(metadata).digest()))
    entries += stream_entries
    table = build_blob_table(entries)
    boff = out.tell()
    out.write(table)
    xoff = out.tell()
    xml = build_wim_xml(xoff, [build_image_xml(1, {"NAME": name}, dir_count=0, file_count=0, total_bytes=0,
                                               hard_link_bytes=0, creation_time=T, modification_time=T)])
    out.write(xml)
    header = WimHeader(version=WIM_VERSION_DEFAULT, flags=PPKG_HEADER_FLAGS, chunk_size=PPKG_CHUNK_SIZE,
                       guid=bytes(16), part_number=1, total_parts=1, image_count=1,
                       blob_table=ResourceHeader(len(table), RESHDR_FLAG_METADATA, boff, len(table)),
                       xml_data=ResourceHeader(len(xml), RESHDR_FLAG_METADATA, xoff, len(xml)),
                       boot_metadata=EMPTY_RESHDR, boot_index=0, integrity_table=EMPTY_RESHDR)
    blob = bytearray(out.getvalue())
    blob[:HEADER_SIZE] = header.build()
    return bytes(blob) + trailing


def hostile_wim(root: Dentry, streams: list[bytes]) -> bytes:
    return wim_from_metadata(metadata_for(root), streams)


def patch_u64(data: bytes, offset: int, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into("<Q", b, offset, value)
    return bytes(b)
