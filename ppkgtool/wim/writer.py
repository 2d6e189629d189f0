"""Writing WIM files with the container parameters of Microsoft's provisioning packages.

Header version 0x10d00, flags COMPRESSION | RP_FIX | COMPRESS_XPRESS, 32 KiB XPRESS chunks, one
image, part 1/1, no integrity table (ppkg-format.md, "Container" [C]). Layout as WIMGAPI writes a
package: header, file streams, the image metadata resource, the blob table (metadata entry first),
the XML data; nothing after it [C]. Identical streams are stored once. Streams are compressed and
written chunk batch by chunk batch, never held whole in memory when they come from files.

Deterministic: with ``wim_guid`` and ``timestamp`` fixed, the same input gives the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import stat
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from ppkgtool.errors import UnsafePathError, WimError
from ppkgtool.wim.blobtable import BlobEntry, build_blob_table
from ppkgtool.wim.dentry import ZERO_HASH, build_plain_tree
from ppkgtool.wim.header import (EMPTY_RESHDR, HEADER_SIZE, PPKG_CHUNK_SIZE, PPKG_HEADER_FLAGS,
                                 RESHDR_FLAG_COMPRESSED, RESHDR_FLAG_METADATA, WIM_VERSION_DEFAULT, ResourceHeader,
                                 WimHeader)
from ppkgtool.wim.imagexml import build_image_xml, build_wim_xml
from ppkgtool.wim.resource import ResourceCache, write_resource
from ppkgtool.wim.safepath import split_package_path
from ppkgtool.wim.security import DEFAULT_DESCRIPTORS, FILE_SECURITY_ID, ROOT_SECURITY_ID, SecurityData

FILETIME_EPOCH_OFFSET = 116444736000000000   # 100 ns intervals from 1601-01-01 to 1970-01-01
READ_PIECE = 1024 * 1024
#: Files up to this size are read whole and compressed in memory (one write, no seek back).
SMALL_FILE_BYTES = 4 * 1024 * 1024
#: Files up to this size are read when the tree is built (saves system calls on small packages),
#: up to EAGER_TOTAL_BYTES in all; larger ones are read when written.
EAGER_FILE_BYTES = 64 * 1024
EAGER_TOTAL_BYTES = 32 * 1024 * 1024

#: Written uncompressed whatever their size, so that libmagic finds the ASCII text "RunTime.xml"
#: near the start of the file and calls it a provisioning package (ppkg-format.md, "Container").
DEFAULT_STORE_UNCOMPRESSED = ("/Multivariant/0/MasterDatastore.xml",)
_SECURITY_DATA = SecurityData.build(DEFAULT_DESCRIPTORS)
_DEFAULT_RAW = frozenset(p.lower() for p in DEFAULT_STORE_UNCOMPRESSED)


@dataclass(frozen=True)
class WriteStats:
    size: int                 # bytes of the WIM file
    files: int
    directories: int          # not counting the root
    streams: int              # distinct non-empty streams stored
    duplicate_files: int      # files whose data was already stored (written once)
    total_bytes: int          # uncompressed bytes of all files
    stream_bytes: int         # bytes the stream resources take in the file
    reused_resources: int     # copied already compressed from a ResourceCache
    codec: str
    guid: bytes

    def to_json(self) -> dict:
        return {"size": self.size, "files": self.files, "directories": self.directories,
                "streams": self.streams, "duplicate_files": self.duplicate_files,
                "total_bytes": self.total_bytes, "stream_bytes": self.stream_bytes,
                "reused_resources": self.reused_resources, "codec": self.codec, "guid": self.guid.hex()}


def filetime(when: _dt.datetime) -> int:
    if when.tzinfo is None:
        raise WimError("timestamp must be timezone-aware (e.g. datetime.now(timezone.utc))")
    delta = when - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    ticks = (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    return ticks + FILETIME_EPOCH_OFFSET


class _Source:
    """One file's data: in-memory bytes or a file on disk read in pieces."""

    __slots__ = ("path", "data", "size", "sha1", "parts")

    def __init__(self, parts: tuple[str, ...], value, budget: list[int] | None = None):
        self.parts = parts
        self.sha1: bytes | None = None
        self.data: bytes | memoryview | None = None
        self.path: str | None = None
        if isinstance(value, (bytes, bytearray, memoryview)):
            self.data = bytes(value) if not isinstance(value, bytes) else value
            self.size = len(self.data)
        elif isinstance(value, os.PathLike):
            self.path = os.fspath(value)
            try:
                fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except OSError as exc:
                raise WimError(f"cannot read {self.path}: {exc.strerror}") from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise WimError(f"{self.path} is not a regular file")
                self.size = st.st_size
                if self.size <= EAGER_FILE_BYTES and budget is not None and budget[0] >= self.size:
                    budget[0] -= self.size             # tiny files: read now, in one call
                    data = os.read(fd, self.size + 1)
                    while len(data) < self.size + 1:
                        more = os.read(fd, self.size + 1 - len(data))
                        if not more:
                            break
                        data += more
                    if len(data) != self.size:
                        raise WimError(f"{self.path} changed while the package was written")
                    self.data = data
            finally:
                os.close(fd)
        else:
            raise TypeError(f"file {'/'.join(parts)!r}: value must be bytes (content) or os.PathLike "
                            f"(a file to read), not {type(value).__name__}")

    def pieces(self) -> Iterator[bytes]:
        if self.data is not None:
            mv = memoryview(self.data)
            for i in range(0, len(mv), 4 * READ_PIECE):
                yield mv[i:i + 4 * READ_PIECE]
            return
        with open(self.path, "rb") as fh:
            while True:
                piece = fh.read(4 * READ_PIECE)
                if not piece:
                    return
                yield piece

    def read_all(self) -> bytes:
        with open(self.path, "rb") as fh:
            data = fh.read(self.size + 1)
        if len(data) != self.size:
            raise WimError(f"{self.path} changed while the package was written")
        return data

    def hash(self) -> bytes:
        if self.sha1 is None and self.data is not None:
            self.sha1 = hashlib.sha1(self.data).digest()
        if self.sha1 is None:
            from ppkgtool.digests import file_digests
            self.sha1 = file_digests(self.path, ("sha1",))[0]   # cached by file identity (bulk)
        return self.sha1


@functools.lru_cache(maxsize=4096)
def package_order_key(parts: tuple[str, ...]):
    """Stream order of WIMGAPI-built packages (fixtures): /Multivariant first, then
    /CommonSettings, then /DataAsset; at each level files before subfolders, names ignoring case.
    Multivariant.xml and MasterDatastore.xml come first of all, so the uncompressed
    MasterDatastore.xml (with the text RunTime.xml) sits near the file start whatever the size of
    customizations.xml (libmagic looks only at the first ~68 KB) [I]."""
    low = "/" + "/".join(parts).lower()
    if low == "/multivariant/multivariant.xml":
        return (0, 0, ())
    if low == "/multivariant/0/masterdatastore.xml":
        return (0, 1, ())
    group = {"multivariant": 1, "commonsettings": 2, "dataasset": 3}.get(parts[0].lower(), 4)
    last = len(parts) - 1
    return (group, 0, tuple((1 if i < last else 0, p.upper(), p) for i, p in enumerate(parts)))


class _Dir:
    __slots__ = ("name", "children")

    def __init__(self, name: str):
        self.name = name
        self.children: dict[str, object] = {}   # upper-cased name -> _Dir | _Source


def _build_tree(files: Mapping) -> tuple[_Dir, list[_Source], int]:
    root = _Dir("")
    sources: list[_Source] = []
    ndirs = 0
    budget = [EAGER_TOTAL_BYTES]
    for key, value in files.items():
        parts = split_package_path(key)
        node = root
        for depth, comp in enumerate(parts[:-1]):
            child = node.children.get(comp.upper())
            if child is None:
                child = _Dir(comp)
                node.children[comp.upper()] = child
                ndirs += 1
            elif not isinstance(child, _Dir) or child.name != comp:
                raise UnsafePathError(f"package path {key!r}: {'/'.join(parts[:depth + 1])!r} "
                                      f"clashes with another entry (a file, or a name differing only in case)")
            node = child
        leaf = parts[-1]
        if leaf.upper() in node.children:
            raise UnsafePathError(f"package path {key!r} is given twice (names compare ignoring case, as on Windows)")
        src = _Source(parts, value, budget)
        node.children[leaf.upper()] = src
        sources.append(src)
    return root, sources, ndirs


def write_wim(dest: BinaryIO, files: Mapping[str, bytes | os.PathLike], properties: Mapping[str, str], *,
              wim_guid: bytes | None = None, timestamp: _dt.datetime | None = None, codec=None,
              resource_cache: ResourceCache | None = None, workers: int | None = None,
              store_uncompressed: Iterable[str] | None = None, order: str = "package") -> WriteStats:
    """Write a one-image WIM (.ppkg container) to ``dest`` (a seekable binary file at offset 0).

    ``files``: package path -> bytes or a path to a file streamed from disk; directories are
    implied. ``properties``: the image XML properties in order (NAME, DESCRIPTION, NOTES, AUTHOR,
    VERSION, ALTITUDE, RESETCLEAR, PACKAGEID, ...); the writer adds DIRCOUNT ... WIMBOOT.
    ``wim_guid`` (16 bytes) and ``timestamp`` (aware datetime) fixed: byte-identical output.
    ``order``: "package" (WIMGAPI-like stream order, see package_order_key) or "given".
    """
    from ppkgtool.wim.compression import get_codec

    if codec is None:
        codec = get_codec()
    elif isinstance(codec, str):
        codec = get_codec(codec)
    if wim_guid is None:
        wim_guid = uuid.uuid4().bytes
    if not isinstance(wim_guid, bytes) or len(wim_guid) != 16:
        raise WimError("wim_guid must be 16 bytes")
    when = filetime(timestamp or _dt.datetime.now(_dt.timezone.utc))
    if order not in ("package", "given"):
        raise WimError(f"unknown stream order {order!r}")
    try:
        start = dest.tell()
    except (OSError, AttributeError, ValueError):
        raise WimError("the output must be a seekable binary file") from None
    if start != 0:
        raise WimError(f"the output must be positioned at offset 0 (it is at {start})")
    if store_uncompressed is None:
        raw_paths = _DEFAULT_RAW
    else:
        raw_paths = {"/" + "/".join(split_package_path(p)).lower() for p in store_uncompressed}

    root, sources, ndirs = _build_tree(files)
    ordered = sorted(sources, key=lambda s: package_order_key(s.parts)) if order == "package" else list(sources)
    size_counts = Counter(s.size for s in sources if s.size)

    dest.write(bytes(HEADER_SIZE))
    written: dict[bytes, list] = {}       # sha1 -> [ResourceHeader, refcount]
    stream_order: list[bytes] = []
    duplicates = reused = 0
    stream_bytes = 0
    total_bytes = 0
    for src in ordered:
        total_bytes += src.size
        if src.size == 0:
            src.sha1 = ZERO_HASH
            continue
        if src.data is not None or resource_cache is not None or size_counts[src.size] > 1:
            digest = src.hash()
            if digest in written:
                written[digest][1] += 1
                duplicates += 1
                continue
        path_low = "/" + "/".join(src.parts).lower()
        data = src.data
        if data is not None and src.size <= PPKG_CHUNK_SIZE and resource_cache is None:
            # one chunk in memory (most package files): no chunk table, one write
            digest = src.hash()
            comp = codec.compress(data) if path_low not in raw_paths else None
            stored = comp if comp is not None and len(comp) < src.size else data
            off = dest.tell()
            dest.write(stored)
            written[digest] = [ResourceHeader(len(stored), RESHDR_FLAG_COMPRESSED if stored is comp else 0,
                                              off, src.size), 1]
            stream_order.append(digest)
            stream_bytes += len(stored)
            continue
        if data is None and src.size <= SMALL_FILE_BYTES:
            data = src.read_all()
        res = write_resource(dest, src.pieces, src.size, PPKG_CHUNK_SIZE, codec,
                             compress=path_low not in raw_paths, workers=workers, cache=resource_cache,
                             known_sha1=src.sha1, data=data)
        if src.sha1 is not None and res.sha1 != src.sha1:
            raise WimError(f"{src.path or path_low} changed while the package was written")
        src.sha1 = res.sha1
        if res.sha1 in written:          # equal content found only now (cannot happen: sizes differ)
            raise WimError("internal: duplicate stream written twice")
        written[res.sha1] = [res.reshdr, 1]
        stream_order.append(res.sha1)
        stream_bytes += res.reshdr.size_in_wim
        reused += res.reused

    # image metadata resource: security data + dentry tree
    def plain(node) -> tuple:
        if isinstance(node, _Dir):
            return (node.name, None, [plain(c) for c in node.children.values()])
        return (node.parts[-1], node.sha1, None)

    sd = _SECURITY_DATA
    metadata = sd + build_plain_tree(plain(root), len(sd), when, root_security_id=ROOT_SECURITY_ID,
                                     file_security_id=FILE_SECURITY_ID)
    meta = write_resource(dest, lambda: [metadata], len(metadata), PPKG_CHUNK_SIZE, codec,
                          extra_flags=RESHDR_FLAG_METADATA, workers=workers, data=metadata,
                          batch_bytes=max(len(metadata), 1))

    # blob table: metadata first, then the streams in file order [C]
    entries = [BlobEntry(meta.reshdr, 1, 1, meta.sha1)]
    entries += [BlobEntry(written[h][0], 1, written[h][1], h) for h in stream_order]
    table = build_blob_table(entries)
    bt_off = dest.tell()
    dest.write(table)
    bt = ResourceHeader(len(table), RESHDR_FLAG_METADATA, bt_off, len(table))

    xml_off = dest.tell()
    image = build_image_xml(1, dict(properties), dir_count=ndirs, file_count=len(sources),
                            total_bytes=total_bytes, hard_link_bytes=0, creation_time=when,
                            modification_time=when)
    xml = build_wim_xml(xml_off, [image])
    dest.write(xml)
    end = dest.tell()
    xml_hdr = ResourceHeader(len(xml), RESHDR_FLAG_METADATA, xml_off, len(xml))
    header = WimHeader(version=WIM_VERSION_DEFAULT, flags=PPKG_HEADER_FLAGS, chunk_size=PPKG_CHUNK_SIZE,
                       guid=wim_guid, part_number=1, total_parts=1, image_count=1, blob_table=bt,
                       xml_data=xml_hdr, boot_metadata=EMPTY_RESHDR, boot_index=0,
                       integrity_table=EMPTY_RESHDR)
    dest.seek(0)
    dest.write(header.build())
    dest.seek(end)
    try:
        dest.truncate()
    except (OSError, ValueError):
        pass
    dest.flush()
    return WriteStats(size=end, files=len(sources), directories=ndirs, streams=len(stream_order),
                      duplicate_files=duplicates, total_bytes=total_bytes, stream_bytes=stream_bytes,
                      reused_resources=reused, codec=getattr(codec, "name", str(codec)), guid=wim_guid)
