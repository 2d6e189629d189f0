"""Writing WIM files with the container parameters of Microsoft's provisioning packages.

Header version 0x10d00, flags COMPRESSION | RP_FIX | COMPRESS_XPRESS, 32 KiB XPRESS chunks, one
image, part 1/1, no integrity table (ppkg-format.md, "Container" [C]). Layout as WIMGAPI writes a
package: header, file streams, the image metadata resource, the blob table (metadata entry first),
the XML data; nothing after it [C]. Identical streams are stored once.

Two passes: the first decides every resource's stored form (resource.plan_resource: chunks judged
and compressed on all cores, SHA-1 on another thread), which fixes every offset and so the
header; the second writes the file front to back, header first, computing the digests the caller
asks for on the way (digests.HashingWriter), so no byte of the output is read back. Between the
two only the compressed chunks are held in memory; the raw chunks of files on disk are read from
the file again (checked to be the same file), so a large asset is never held whole in memory.

Deterministic: with ``wim_guid`` and ``timestamp`` fixed, the same input gives the same bytes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import hashlib
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import BinaryIO, NamedTuple

from ppkgtool.errors import UnsafePathError, WimError
from ppkgtool.wim.blobtable import pack_blob_rows
from ppkgtool.wim.compression import get_codec
from ppkgtool.wim.dentry import ZERO_HASH, PlainTreeLayout, plain_name
from ppkgtool.wim.header import (HEADER_SIZE, PPKG_CHUNK_SIZE, PPKG_HEADER_FLAGS, RESHDR_FLAG_COMPRESSED,
                                 RESHDR_FLAG_METADATA, WIM_VERSION_DEFAULT, pack_header)
from ppkgtool.wim.imagexml import build_image_xml, build_wim_xml
from ppkgtool.digests import HashingWriter, cached_file_digest, file_digests, file_identity
from ppkgtool.wim.resource import PLAN_BATCH_BYTES, ResourceCache, SourceRange, SpoolRange, plan_resource
from ppkgtool.wim.safepath import split_package_path
from ppkgtool.wim.security import DEFAULT_DESCRIPTORS, FILE_SECURITY_ID, ROOT_SECURITY_ID, SecurityData

FILETIME_EPOCH_OFFSET = 116444736000000000   # 100 ns intervals from 1601-01-01 to 1970-01-01
READ_PIECE = 1024 * 1024
_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)
#: Files up to this size are read when the tree is built (saves system calls on small packages),
#: up to EAGER_TOTAL_BYTES in all; larger ones are read when written.
EAGER_FILE_BYTES = 64 * 1024
EAGER_TOTAL_BYTES = 32 * 1024 * 1024

#: Written uncompressed whatever their size, so that libmagic finds the ASCII text "RunTime.xml"
#: near the start of the file and calls it a provisioning package (ppkg-format.md, "Container").
DEFAULT_STORE_UNCOMPRESSED = ("/Multivariant/0/MasterDatastore.xml",)
_SECURITY_DATA = SecurityData.build(DEFAULT_DESCRIPTORS)
_DEFAULT_RAW = frozenset(tuple(p.upper().split("/")[1:]) for p in DEFAULT_STORE_UNCOMPRESSED)


class WriteStats(NamedTuple):
    """What write_wim wrote (immutable)."""

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
    digests: dict = {}        # {algorithm: digest} of the whole file, computed while it was written

    def to_json(self) -> dict:
        return {"size": self.size, "files": self.files, "directories": self.directories,
                "streams": self.streams, "duplicate_files": self.duplicate_files,
                "total_bytes": self.total_bytes, "stream_bytes": self.stream_bytes,
                "reused_resources": self.reused_resources, "codec": self.codec, "guid": self.guid.hex(),
                **{a: d.hex() for a, d in self.digests.items()}}


def filetime(when: _dt.datetime) -> int:
    if when.tzinfo is None:
        raise WimError("timestamp must be timezone-aware (e.g. datetime.now(timezone.utc))")
    delta = when - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
    ticks = (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    return ticks + FILETIME_EPOCH_OFFSET


class _Source:
    """One file's data: in-memory bytes, or a file on disk (``path``, with its file_identity when
    opened) read when its resource is planned and, for its raw chunks, again when written."""

    __slots__ = ("path", "data", "size", "sha1", "parts", "identity")

    def __init__(self, parts: tuple[str, ...], data: bytes | None, size: int, path: str | None,
                 identity: tuple | None = None):
        self.parts = parts
        self.data = data
        self.size = size
        self.path = path
        self.identity = identity
        self.sha1: bytes | None = None

    def hash(self) -> bytes:
        if self.sha1 is None and self.data is not None:
            self.sha1 = hashlib.sha1(self.data).digest()
        if self.sha1 is None:       # cached by file identity (a build's asset, bulk's shared assets)
            digest = cached_file_digest(self.identity, "sha1")
            if digest is None:
                digest = file_digests(self.path, ("sha1",))[0]
                if cached_file_digest(self.identity, "sha1") != digest:
                    raise WimError(f"{self.path} changed while the package was written")
            self.sha1 = digest
        return self.sha1


def _open_sources(all_parts: tuple[tuple[str, ...], ...], values: Iterable) -> list[_Source]:
    """The files' sources in the caller's order. Files on disk are checked to be regular files and
    sized; those up to EAGER_FILE_BYTES are read now (up to EAGER_TOTAL_BYTES in all), which saves
    system calls on small packages."""
    budget = EAGER_TOTAL_BYTES
    out: list[_Source] = []
    append = out.append
    for parts, value in zip(all_parts, values):
        if type(value) is bytes:
            append(_Source(parts, value, len(value), None))
            continue
        if isinstance(value, (bytearray, memoryview)):
            data = bytes(value)
            append(_Source(parts, data, len(data), None))
            continue
        fspath = getattr(type(value), "__fspath__", None)      # os.PathLike, without the ABC check
        path = fspath(value) if fspath is not None else None
        if not isinstance(path, (str, bytes)):
            raise TypeError(f"file {'/'.join(parts)!r}: value must be bytes (content) or os.PathLike "
                            f"(a file to read), not {type(value).__name__}")
        try:
            fd = os.open(path, _O_READ)
        except OSError as exc:
            raise WimError(f"cannot read {path}: {exc.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise WimError(f"{path} is not a regular file")
            size = st.st_size
            data = None
            if size <= EAGER_FILE_BYTES and budget >= size:
                budget -= size
                data = os.read(fd, size + 1)         # usually all of it in one call
                while len(data) < size:
                    more = os.read(fd, size + 1 - len(data))
                    if not more:
                        break
                    data += more
                if len(data) != size:
                    raise WimError(f"{path} changed while the package was written")
        finally:
            os.close(fd)
        append(_Source(parts, data, size, path, file_identity(st)))
    return out


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


@functools.lru_cache(maxsize=4096)
def _folded(parts: tuple[str, ...]) -> tuple[str, ...]:
    """Path components as Windows compares them (ignoring case)."""
    return tuple(p.upper() for p in parts)


@functools.lru_cache(maxsize=4096)     # a pure function of the text; bulk builds repeat the same paths
def _path_record(key: str) -> tuple:
    """What the plan needs of one package path: (checked components, folded components (as Windows
    compares names), the folder's folded and exact components, the name records (dentry.plain_name)
    of the components, the stream-order key). UnsafePathError for a path that cannot be packaged."""
    parts = split_package_path(key)
    folded = _folded(parts)
    return (parts, folded, folded[:-1], parts[:-1], tuple(plain_name(p) for p in parts),
            package_order_key(parts))


class _Plan(NamedTuple):
    """What write_wim derives from the package paths alone."""

    parts: tuple[tuple[str, ...], ...]      # checked components, per file in the caller's order
    order: tuple[int, ...]                  # the files' indexes in stream order
    raw: tuple[bool, ...]                   # stored uncompressed whatever their size
    ndirs: int                              # folders, without the root
    layout: PlainTreeLayout                 # the dentry tree, times and hashes left open


def _plan(keys: tuple[str, ...], order: str, raw_paths: frozenset) -> _Plan:
    # folders: folded components -> entry list (dentry.PlainTreeLayout's input); exact: folded
    # components -> exact components, for every file and folder (clashes)
    folders: dict[tuple[str, ...], list] = {(): []}
    exact: dict[tuple[str, ...], tuple[str, ...]] = {(): ()}
    all_parts = []
    raw = []
    keyed = []
    for slot, key in enumerate(keys):
        parts, folded, parent, parent_parts, names, order_key = _path_record(key)
        entries = folders.get(parent)
        if entries is None or exact[parent] != parent_parts:
            entries = _make_folders(folders, exact, parts, folded, names, key)
        if folded in exact:
            if folded in folders:
                raise UnsafePathError(f"package path {key!r} clashes with another entry (a folder of that name)")
            raise UnsafePathError(f"package path {key!r} is given twice (names compare ignoring case, as on Windows)")
        exact[folded] = parts
        entries.append(names[-1] + (slot, None))
        all_parts.append(parts)
        raw.append(folded in raw_paths)
        keyed.append(order_key)
    if order == "package":
        ordering = tuple(sorted(range(len(keys)), key=keyed.__getitem__))
    else:
        ordering = tuple(range(len(keys)))
    ndirs = len(folders) - 1
    layout = PlainTreeLayout(folders, len(_SECURITY_DATA), root_security_id=ROOT_SECURITY_ID,
                             file_security_id=FILE_SECURITY_ID)
    return _Plan(tuple(all_parts), ordering, tuple(raw), ndirs, layout)


def _make_folders(folders: dict, exact: dict, parts: tuple[str, ...], folded: tuple[str, ...], names: tuple,
                  key: str) -> list:
    """The entry list of the folder of ``parts``, creating the folders missing on the way."""
    entries = folders[()]
    for depth in range(1, len(parts)):
        here = folded[:depth]
        found = exact.get(here)
        if found is None:
            entries.append(names[depth - 1] + (None, here))
            entries = folders[here] = []
            exact[here] = parts[:depth]
            continue
        if here not in folders:
            raise UnsafePathError(f"package path {key!r}: {'/'.join(parts[:depth])!r} clashes with another "
                                  f"entry (a file of that name)")
        if found != parts[:depth]:
            raise UnsafePathError(f"package path {key!r}: {'/'.join(parts[:depth])!r} clashes with another entry "
                                  f"(a name differing only in case)")
        entries = folders[here]
    return entries


def write_wim(dest: BinaryIO, files: Mapping[str, bytes | os.PathLike], properties: Mapping[str, str], *,
              wim_guid: bytes | None = None, timestamp: _dt.datetime | None = None, codec=None,
              resource_cache: ResourceCache | None = None, workers: int | None = None,
              store_uncompressed: Iterable[str] | None = None, order: str = "package",
              digests: Iterable[str] = (), progress: Callable[[int], None] | None = None) -> WriteStats:
    """Write a one-image WIM (.ppkg container) to ``dest`` (a binary file at offset 0, or any
    object with ``write``: the file is written front to back, never seeked or read).

    ``files``: package path -> bytes or a path to a file streamed from disk; directories are
    implied. ``properties``: the image XML properties in order (NAME, DESCRIPTION, NOTES, AUTHOR,
    VERSION, ALTITUDE, RESETCLEAR, PACKAGEID, ...); the writer adds DIRCOUNT ... WIMBOOT.
    ``wim_guid`` (16 bytes) and ``timestamp`` (aware datetime) fixed: byte-identical output.
    ``order``: "package" (WIMGAPI-like stream order, see package_order_key) or "given".
    ``digests``: hashlib names (e.g. "sha1", "sha256") of digests of the whole file to compute
    while it is written (WriteStats.digests); the output is written front to back, never read.
    ``progress(n)``: told that ``n`` more bytes of file data have been read and compressed (the
    work of pass 1, per block of up to PLAN_BATCH_BYTES, small files together); the calls add up
    to WriteStats.total_bytes. If it has a ``start(total)`` method, that is called first with
    the total. None: no calls, no cost.
    """
    if codec is None:
        codec = get_codec()
    elif isinstance(codec, str):
        codec = get_codec(codec)
    if wim_guid is None:
        wim_guid = uuid.uuid4().bytes
    if not isinstance(wim_guid, bytes) or len(wim_guid) != 16:
        raise WimError("wim_guid must be 16 bytes")
    when = filetime(timestamp) if timestamp is not None else time.time_ns() // 100 + FILETIME_EPOCH_OFFSET
    if order not in ("package", "given"):
        raise WimError(f"unknown stream order {order!r}")
    if not callable(getattr(dest, "write", None)):
        raise WimError("the output must be a binary file opened for writing")
    try:
        start = dest.tell()
    except (OSError, AttributeError, ValueError):
        start = 0           # a pipe or a write-only stream: the file is written front to back
    if start != 0:
        raise WimError(f"the output must be positioned at offset 0 (it is at {start})")
    if store_uncompressed is None:
        raw_paths = _DEFAULT_RAW
    else:
        raw_paths = frozenset(_folded(split_package_path(p)) for p in store_uncompressed)

    plan = _plan(tuple(files), order, raw_paths)
    sources = _open_sources(plan.parts, files.values())
    ndirs = plan.ndirs

    # Pass 1 decides every resource's stored form (compressing on the worker threads) and where
    # it goes; pass 2 writes the file front to back, header first, hashing it on the way
    # (digests.HashingWriter): nothing is written before its place is known, nothing read back.
    pos = HEADER_SIZE
    pieces: list = []                 # the file after the header, in order
    add = pieces.append
    # sha1 -> blob table row [size_in_wim, flags, offset, uncompressed_size, refcount, sha1]
    written: dict[bytes, list] = {}
    rows: list[list] = []
    duplicates = reused = 0
    total_bytes = sum([s.size for s in sources])
    tick = 0                                 # file bytes done, not yet told to ``progress``
    if progress is not None and callable(getattr(progress, "start", None)):
        progress.start(total_bytes)
    one_write = resource_cache is None       # in-memory files of one chunk: no chunk table
    compress = codec.compress
    sha1 = hashlib.sha1
    raw_slots = plan.raw
    # Files of one chunk in memory (most package files) are hashed, then compressed back to back
    # (the codec's tables stay in the CPU cache). The first copy of a content in stream order
    # decides whether it is stored raw.
    single: set[int] = set()                    # their slots
    packed: dict[bytes, bytes | None] = {}      # sha1 -> compressed form, None = store raw
    if one_write:
        first: dict[bytes, int] = {}
        for slot in plan.order:
            src = sources[slot]
            if src.data is not None and 0 < src.size <= PPKG_CHUNK_SIZE:
                single.add(slot)
                digest = src.sha1 = sha1(src.data).digest()
                first.setdefault(digest, slot)
        packed = {digest: None if raw_slots[slot] else compress(sources[slot].data)
                  for digest, slot in first.items()}
    for slot in plan.order:
        src = sources[slot]
        size = src.size
        if not size:
            src.sha1 = ZERO_HASH
            continue
        data = src.data
        # a file streamed from disk is hashed while it is planned (one pass: read, SHA-1 and
        # compression together), so a copy of an earlier stream is found after planning it (below),
        # unless it was hashed before: an asset's name needs its SHA-256, computed with its SHA-1
        # (package.layout.sha256_of), and digests.file_digests remembers both by the file's
        # identity. With a ResourceCache the SHA-1 is needed first, to look the stream up (bulk
        # hashes a shared asset once).
        if data is None and src.sha1 is None:
            src.sha1 = src.hash() if resource_cache is not None else cached_file_digest(src.identity, "sha1")
        if data is not None or src.sha1 is not None:
            digest = src.sha1
            if digest is None:
                digest = src.sha1 = sha1(data).digest()
            row = written.get(digest)
            if progress is not None and (row is not None or slot in single):
                tick += size                 # done here; larger streams are told by plan_resource
                if tick >= PLAN_BATCH_BYTES:
                    progress(tick)
                    tick = 0
            if row is not None:
                row[4] += 1
                duplicates += 1
                continue
            if slot in single:
                comp = packed[digest]
                if comp is not None and len(comp) < size:
                    row = [len(comp), RESHDR_FLAG_COMPRESSED, pos, size, 1, digest]
                    add(comp)
                else:
                    row = [size, 0, pos, size, 1, digest]
                    add(data)
                pos += row[0]
                written[digest] = row
                rows.append(row)
                continue
        if tick:
            progress(tick)
            tick = 0
        res = plan_resource(size, PPKG_CHUNK_SIZE, codec, data=data, path=src.path, identity=src.identity,
                            compress=not raw_slots[slot], workers=workers, cache=resource_cache,
                            known_sha1=src.sha1, progress=progress)
        src.sha1 = res.sha1
        row = written.get(res.sha1)
        if row is not None:              # a copy of a stream planned before: stored once, counted
            row[4] += 1
            duplicates += 1
            continue
        row = [res.stored, res.flags, pos, res.usize, 1, res.sha1]
        pieces.extend(res.pieces)
        pos += res.stored
        written[res.sha1] = row
        rows.append(row)
        reused += res.reused
    if tick:
        progress(tick)

    stream_bytes = pos - HEADER_SIZE
    # image metadata resource: security data + dentry tree
    metadata = _SECURITY_DATA + plan.layout.render(when, [s.sha1 for s in sources])
    meta_sha1 = sha1(metadata).digest()
    if len(metadata) <= PPKG_CHUNK_SIZE:     # one chunk: no chunk table (the usual case)
        comp = compress(metadata)
        stored = comp if comp is not None and len(comp) < len(metadata) else metadata
        add(stored)
        meta_row = [len(stored), RESHDR_FLAG_METADATA | (RESHDR_FLAG_COMPRESSED if stored is comp else 0),
                    pos, len(metadata), 1, meta_sha1]
    else:
        meta = plan_resource(len(metadata), PPKG_CHUNK_SIZE, codec, data=metadata, extra_flags=RESHDR_FLAG_METADATA,
                             workers=workers, known_sha1=meta_sha1)
        pieces.extend(meta.pieces)
        meta_row = [meta.stored, meta.flags, pos, meta.usize, 1, meta_sha1]
    pos = meta_row[2] + meta_row[0]

    # blob table: metadata first, then the streams in file order [C]
    table = pack_blob_rows([meta_row] + rows)
    bt_off = pos
    add(table)

    xml_off = bt_off + len(table)
    image = build_image_xml(1, dict(properties), dir_count=ndirs, file_count=len(sources),
                            total_bytes=total_bytes, hard_link_bytes=0, creation_time=when,
                            modification_time=when)
    xml = build_wim_xml(xml_off, [image])
    add(xml)
    end = xml_off + len(xml)
    header = pack_header(version=WIM_VERSION_DEFAULT, flags=PPKG_HEADER_FLAGS, chunk_size=PPKG_CHUNK_SIZE,
                         guid=wim_guid, part_number=1, total_parts=1, image_count=1,
                         blob_table=(len(table), RESHDR_FLAG_METADATA, bt_off, len(table)),
                         xml_data=(len(xml), RESHDR_FLAG_METADATA, xml_off, len(xml)))

    # pass 2
    out = HashingWriter(dest, digests, size_hint=end)
    out.write(header)
    buf = None
    opened: dict = {}
    try:
        for piece in pieces:
            if isinstance(piece, (SourceRange, SpoolRange)):
                if buf is None:
                    buf = memoryview(bytearray(READ_PIECE))
                for part in piece.iter_into(buf, opened):
                    out.write(part)
            else:
                out.write(piece)
        file_digests = out.finish()
    finally:
        for fd in opened.values():
            os.close(fd)
    if out.size != end:
        raise WimError(f"the output is {out.size} bytes, not {end}: a source changed while it was written?")
    try:
        at = dest.tell()
    except (OSError, AttributeError, ValueError):
        at = end
    if at != end:
        raise WimError(f"the output is at offset {at}, not {end}: a short write?")
    with contextlib.suppress(OSError, AttributeError, ValueError):
        dest.truncate()         # an existing file opened for update: drop what followed
    flush = getattr(dest, "flush", None)
    if flush is not None:
        flush()
    return WriteStats(end, len(sources), ndirs, len(rows), duplicates, total_bytes, stream_bytes, reused,
                      getattr(codec, "name", None) or type(codec).__name__, wim_guid, file_digests)
