"""WIM resources: reading and writing (optionally chunk-compressed) streams.

A compressed resource (wimlib include/wimlib/resource.h, "chunk table") starts with a table of
``num_chunks - 1`` little-endian offsets (4 bytes each, 8 when the uncompressed size exceeds
4 GiB), each the start of chunk i+1 relative to the end of the table; chunk 0 starts right after
the table. A chunk whose stored size equals its uncompressed size is stored raw. An uncompressed
resource (no COMPRESSED flag) is the stream's bytes as is. Real packages store a whole resource
uncompressed when compressing would not make it smaller (docs/formats/wim.md, "Resources") [C].
"""

from __future__ import annotations

import collections
import hashlib
import os
import struct
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ppkgtool.digests import file_identity
from ppkgtool.errors import WimError
from ppkgtool.wim.header import RESHDR_FLAG_COMPRESSED, ResourceHeader

#: Uncompressed bytes decompressed per batch while streaming (spread over worker threads), and
#: how many batches are being decompressed ahead of the one handed out.
READ_BATCH_BYTES = 2 * 1024 * 1024
READ_IN_FLIGHT = 2


class HashMismatchError(WimError):
    """A stream's SHA-1 differs from the one its blob table entry records."""


Pread = Callable[[int, int], bytes]


@dataclass(frozen=True)
class ChunkSpan:
    offset: int          # absolute file offset of the stored chunk
    stored_size: int
    size: int            # uncompressed size


def chunk_spans(reshdr: ResourceHeader, chunk_size: int, pread: Pread, where: str) -> list[ChunkSpan]:
    """The chunks of a compressed resource, from its chunk table (bounds-checked)."""
    usize = reshdr.uncompressed_size
    if usize == 0:
        return []
    n = (usize + chunk_size - 1) // chunk_size
    entry = 8 if usize > 0xFFFFFFFF else 4
    table = (n - 1) * entry
    if table > reshdr.size_in_wim or n > reshdr.size_in_wim:
        raise WimError(f"chunk table for {n} chunks does not fit in {reshdr.size_in_wim} stored bytes "
                       f"(declared size {usize} is impossible)", where=where)
    raw = pread(reshdr.offset, table)
    offsets = [0] + list(struct.unpack(f"<{n - 1}{'Q' if entry == 8 else 'I'}", raw))
    data_size = reshdr.size_in_wim - table
    offsets.append(data_size)
    spans = []
    base = reshdr.offset + table
    for i in range(n):
        start, end = offsets[i], offsets[i + 1]
        size = chunk_size if i < n - 1 else usize - chunk_size * (n - 1)
        stored = end - start
        if end > data_size or stored <= 0:
            raise WimError(f"chunk {i} has an invalid offset in the chunk table", where=where)
        if stored > size:
            raise WimError(f"chunk {i} stores {stored} bytes for {size} uncompressed bytes", where=where)
        spans.append(ChunkSpan(base + start, stored, size))
    return spans


def iter_resource(reshdr: ResourceHeader, chunk_size: int, pread: Pread, codec, *, where: str,
                  batch_bytes: int = READ_BATCH_BYTES) -> Iterator[bytes]:
    """Yield the uncompressed bytes of a resource in pieces (whole chunks, batched)."""
    from ppkgtool.wim.compression import decompress_chunks_async

    if not reshdr.compressed:
        if reshdr.size_in_wim != reshdr.uncompressed_size:
            raise WimError(f"uncompressed resource stores {reshdr.size_in_wim} bytes for "
                           f"{reshdr.uncompressed_size}", where=where)
        pos, left = reshdr.offset, reshdr.size_in_wim
        while left:
            n = min(left, batch_bytes)
            yield pread(pos, n)
            pos += n
            left -= n
        return
    spans = chunk_spans(reshdr, chunk_size, pread, where)
    per_batch = max(1, batch_bytes // chunk_size)
    # READ_IN_FLIGHT batches are decompressed on the worker threads while the consumer handles
    # the one before them
    pending: collections.deque = collections.deque()

    def finish(item) -> bytes:
        b, group, futures = item
        try:
            out = [piece for f in futures for piece in f.result()]
        except WimError as exc:
            raise type(exc)(f"{where}: chunks {b}..{b + len(group) - 1}: {exc.message}") from None
        for piece, s in zip(out, group):
            if len(piece) != s.size:
                raise WimError(f"a chunk decompressed to {len(piece)} bytes instead of {s.size}", where=where)
        return b"".join(out)

    for b in range(0, len(spans), per_batch):
        group = spans[b:b + per_batch]
        first = group[0].offset
        blob = pread(first, group[-1].offset + group[-1].stored_size - first)
        mv = memoryview(blob)
        items = [(mv[s.offset - first:s.offset - first + s.stored_size], s.size) for s in group]
        pending.append((b, group, decompress_chunks_async(items, codec)))
        if len(pending) > READ_IN_FLIGHT:
            yield finish(pending.popleft())
    while pending:
        yield finish(pending.popleft())


def read_resource(reshdr: ResourceHeader, chunk_size: int, pread: Pread, codec, *, where: str,
                  limit: int, expected_sha1: bytes | None = None) -> bytes:
    """The whole uncompressed resource, refusing a declared size above ``limit``."""
    if reshdr.uncompressed_size > limit:
        raise WimError(f"resource of {reshdr.uncompressed_size} bytes exceeds the limit of {limit}", where=where)
    data = b"".join(iter_resource(reshdr, chunk_size, pread, codec, where=where))
    if len(data) != reshdr.uncompressed_size:
        raise WimError(f"resource gave {len(data)} bytes instead of {reshdr.uncompressed_size}", where=where)
    if expected_sha1 is not None and hashlib.sha1(data).digest() != expected_sha1:
        raise HashMismatchError("SHA-1 of the data does not match the blob table", where=where)
    return data


# --- writing ------------------------------------------------------------------------------------

class ResourceCache:
    """Compressed resources kept for reuse across write_wim calls (bulk builds of many packages
    sharing large assets), keyed by the stream's SHA-1.

    The compressed bytes (chunk table + chunks, which hold only resource-relative offsets) are
    kept in memory up to ``memory_limit`` bytes in all (copying them into each package then costs
    one write) and spooled to a private anonymous temporary file beyond that; a stream that was
    stored uncompressed is remembered as such (its data comes from the source again, without a
    compression attempt). Safe to share between threads. Streams smaller than ``min_size`` are not
    cached. Use as a context manager or call close().
    """

    def __init__(self, *, min_size: int = 64 * 1024, directory: str | os.PathLike | None = None,
                 memory_limit: int = 512 << 20):
        self.min_size = int(min_size)
        self.memory_limit = int(memory_limit)
        self._memory: dict[bytes, bytes] = {}
        self._memory_used = 0
        self._lock = threading.Lock()
        self._entries: dict[bytes, tuple[int, int, int, int]] = {}   # sha1 -> (flags, stored, usize, spool offset)
        self._spool = tempfile.TemporaryFile(prefix="ppkgtool-rescache-", dir=directory)
        self._spool_end = 0
        self.hits = 0
        self.misses = 0

    def __enter__(self) -> "ResourceCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._spool.close()
            self._entries.clear()
            self._memory.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, sha1: bytes) -> bool:
        return sha1 in self._entries

    def lookup(self, sha1: bytes) -> tuple[int, int, int] | None:
        """(flags, stored size, uncompressed size) of a cached resource, or None."""
        with self._lock:
            e = self._entries.get(sha1)
            if e is None:
                self.misses += 1
                return None
            self.hits += 1
            return e[:3]

    def store_raw(self, sha1: bytes, usize: int) -> None:
        with self._lock:
            self._entries.setdefault(sha1, (0, usize, usize, -1))

    def store(self, sha1: bytes, flags: int, usize: int, pieces: Iterable[bytes], stored: int) -> None:
        """Keep the ``stored`` bytes of a resource (its pieces, in order) under ``sha1``."""
        with self._lock:
            if sha1 in self._entries or self._spool.closed:
                return
            if self._memory_used + stored <= self.memory_limit:
                data = b"".join(pieces)
                if len(data) != stored:
                    raise WimError(f"resource of {len(data)} bytes stored as {stored}")
                self._memory[sha1] = data
                self._memory_used += stored
                self._entries[sha1] = (flags, stored, usize, -2)     # -2: in memory
                return
            start = self._spool_end
            self._spool.seek(start)
            total = 0
            for p in pieces:
                self._spool.write(p)
                total += len(p)
            if total != stored:
                raise WimError(f"resource of {total} bytes stored as {stored}")
            self._spool_end = start + total
            self._entries[sha1] = (flags, total, usize, start)

    def pieces(self, sha1: bytes) -> list:
        """The cached stored bytes of ``sha1`` as pieces for a planned resource: the bytes kept
        in memory, or a SpoolRange of the spool (read when the package is written)."""
        with self._lock:
            if self._spool.closed:
                raise WimError("resource cache is closed")
            _flags, stored, _usize, start = self._entries[sha1]
            kept = self._memory.get(sha1)
            if kept is not None:
                return [kept]
            if start < 0:
                raise KeyError(sha1)
            return [SpoolRange(self._spool.fileno(), start, stored)]


# --- planning: compress first, write later (one sequential pass that the caller can hash) ---------

#: Uncompressed bytes read and handed to the workers per batch while planning, and how many
#: batches are in flight at once (read, being compressed and hashed): the workers never wait
#: for the reader, and a batch of slow (compressible) chunks overlaps fast (raw) ones.
PLAN_BATCH_BYTES = 2 * 1024 * 1024
PLAN_IN_FLIGHT = 3


class SourceRange:
    """``length`` bytes at ``offset`` of a file on disk, read again when the package is written.

    Large files are not held in memory between planning (compression) and writing: their raw
    chunks are read a second time from the file, which must still be the same file (device, inode,
    size, modification and change times), else WimError.
    """

    __slots__ = ("path", "identity", "offset", "length")

    def __init__(self, path, identity: tuple, offset: int, length: int):
        self.path, self.identity, self.offset, self.length = path, identity, offset, length

    def extend(self, length: int) -> None:
        self.length += length

    def follows(self, other) -> bool:
        return isinstance(other, SourceRange) and other.path == self.path and \
            other.offset + other.length == self.offset

    def iter_into(self, buf: memoryview, opened: dict) -> Iterator[memoryview]:
        """The range's bytes in pieces of at most len(buf), each valid until the next one."""
        fd = opened.get(self.path)
        if fd is None:
            for old in opened.values():
                os.close(old)
            opened.clear()
            try:
                fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            except OSError as exc:
                raise WimError(f"cannot read {self.path} again: {exc.strerror}") from None
            opened[self.path] = fd
            if file_identity(os.fstat(fd)) != self.identity:
                raise WimError(f"{self.path} changed while the package was written")
        pos, left = self.offset, self.length
        while left:
            n = os.preadv(fd, [buf[:min(left, len(buf))]], pos)
            if n <= 0:
                raise WimError(f"{self.path} changed while the package was written (it is shorter)")
            yield buf[:n]
            pos += n
            left -= n


class SpoolRange:
    """``length`` bytes at ``offset`` of an open private file (a ResourceCache spool)."""

    __slots__ = ("fd", "offset", "length")

    def __init__(self, fd: int, offset: int, length: int):
        self.fd, self.offset, self.length = fd, offset, length

    def iter_into(self, buf: memoryview, opened: dict) -> Iterator[memoryview]:
        pos, left = self.offset, self.length
        while left:
            n = os.preadv(self.fd, [buf[:min(left, len(buf))]], pos)
            if n <= 0:
                raise WimError("resource cache spool is truncated")
            yield buf[:n]
            pos += n
            left -= n


def piece_size(piece) -> int:
    return piece.length if isinstance(piece, (SourceRange, SpoolRange)) else len(piece)


@dataclass(frozen=True)
class PlannedResource:
    """A resource whose stored form is decided: ``pieces`` (bytes, memoryviews, SourceRange or
    SpoolRange, in order) are its ``stored`` bytes; nothing is written yet."""

    flags: int
    stored: int
    usize: int
    sha1: bytes
    pieces: tuple
    reused: bool = False


def _add_piece(pieces: list, piece) -> None:
    if isinstance(piece, SourceRange) and pieces and piece.follows(pieces[-1]):
        pieces[-1].extend(piece.length)
    else:
        pieces.append(piece)


def _chunk_table(stored_sizes: list[int], usize: int) -> bytes:
    offsets, acc = [], 0
    for s in stored_sizes[:-1]:
        acc += s
        offsets.append(acc)
    return struct.pack(f"<{len(offsets)}{'Q' if usize > 0xFFFFFFFF else 'I'}", *offsets)


#: While a helper process plans files (wim.ahead), its lookup: (file_identity, path, chunk size,
#: codec) -> the PlannedResource it made of that file, or None (plan it here).
planned_ahead: Callable[..., "PlannedResource | None"] | None = None


def plan_resource(usize: int, chunk_size: int, codec, *, data=None, path=None, identity: tuple | None = None,
                  compress: bool = True, extra_flags: int = 0, workers: int | None = None,
                  cache: ResourceCache | None = None, known_sha1: bytes | None = None,
                  progress: Callable[[int], None] | None = None) -> PlannedResource:
    """Decide the stored form of one stream without writing it.

    The stream is ``data`` (in memory: bytes or a memoryview the caller keeps alive) or the file
    ``path`` (read now in PLAN_BATCH_BYTES batches, whose raw chunks are read again when written;
    ``identity`` is file_identity of the file as opened). Chunks are judged and compressed on
    worker threads while the SHA-1 is computed on another (compression.compress_chunks_async).
    A resource that compression would not make smaller is stored uncompressed whole, as WIMGAPI
    does. ``known_sha1``: the stream's SHA-1 when the caller has it (of in-memory bytes, or
    digests.file_digests of this file at ``identity``, checked before and after this read): the
    stream is then not hashed again. With a ResourceCache, a stream compressed before is reused
    and a new one is kept.
    ``progress(n)`` is called as each batch of ``n`` uncompressed bytes has been read, hashed and
    compressed (once with ``usize`` for a reused resource); the calls add up to ``usize``.
    """
    from ppkgtool.wim.compression import Done, compress_chunks_async, hash_async

    if planned_ahead is not None and path is not None and cache is None and compress and not extra_flags \
            and workers is None:
        ahead = planned_ahead(identity, path, chunk_size, codec)
        if ahead is not None and ahead.usize == usize:
            if progress is not None:
                progress(usize)
            return ahead
    if cache is not None and known_sha1 is not None:
        hit = cache.lookup(known_sha1)
        if hit is not None:
            flags, stored, cusize = hit
            if cusize == usize:
                if flags & RESHDR_FLAG_COMPRESSED:
                    reused = PlannedResource(flags | extra_flags, stored, usize, known_sha1,
                                             tuple(cache.pieces(known_sha1)), reused=True)
                    if progress is not None:
                        progress(usize)
                    return reused
                compress = False
    whole = (memoryview(data),) if data is not None else (SourceRange(path, identity, 0, usize),) if usize else ()
    if data is not None and len(data) != usize:
        raise WimError(f"stream changed while being written ({len(data)} bytes instead of {usize})")
    n = (usize + chunk_size - 1) // chunk_size
    table_size = max(0, n - 1) * (8 if usize > 0xFFFFFFFF else 4)
    sha = hashlib.sha1() if known_sha1 is None else None
    fd = None
    if path is not None:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        except OSError as exc:
            raise WimError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if fd is not None and identity is not None and file_identity(os.fstat(fd)) != identity:
            raise WimError(f"{path} changed while the package was written")
        stored_sizes: list[int] = []
        pieces: list = []
        per_batch = max(1, PLAN_BATCH_BYTES // chunk_size) * chunk_size
        buffers = [bytearray(per_batch) for _ in range(PLAN_IN_FLIGHT)] if fd is not None else []
        pending: collections.deque = collections.deque()   # (offset, chunks, hash future, result futures)

        def collect(item) -> None:
            start, chunks, hashed, results = item
            if hashed is not None:
                hashed.result()
            offset = start
            for chunk, comp in zip(chunks, (r for f in results for r in f.result())):
                size = len(chunk)
                if comp is not None and len(comp) < size:
                    pieces.append(comp)
                    stored_sizes.append(len(comp))
                else:
                    _add_piece(pieces, SourceRange(path, identity, offset, size) if fd is not None
                               else memoryview(data)[offset:offset + size])
                    stored_sizes.append(size)
                offset += size
            if progress is not None:
                progress(offset - start)

        for k, start in enumerate(range(0, usize, per_batch)):
            want = min(per_batch, usize - start)
            if len(pending) == PLAN_IN_FLIGHT:
                collect(pending.popleft())      # frees the buffer this batch is read into
            if fd is not None:
                view = memoryview(buffers[k % PLAN_IN_FLIGHT])[:want]
                got = os.preadv(fd, [view], start)
                while got < want:
                    more = os.preadv(fd, [view[got:]], start + got)
                    if more <= 0:
                        raise WimError(f"{path} changed while the package was written (it is shorter)")
                    got += more
            else:
                view = memoryview(data)[start:start + want]
            chunks = [view[i:i + chunk_size] for i in range(0, want, chunk_size)]
            hashed = hash_async(sha, view) if sha is not None else None
            results = compress_chunks_async(chunks, codec, workers=workers) if compress \
                else [Done([None] * len(chunks))]
            pending.append((start, chunks, hashed, results))
        while pending:
            collect(pending.popleft())
        if fd is not None and file_identity(os.fstat(fd)) != identity:
            raise WimError(f"{path} changed while the package was written")
    finally:
        if fd is not None:
            os.close(fd)
    digest = sha.digest() if sha is not None else known_sha1
    stored_total = table_size + sum(stored_sizes)
    cacheable = cache is not None and usize >= cache.min_size
    if not compress or usize == 0 or stored_total >= usize:
        if cacheable:
            cache.store_raw(digest, usize)
        return PlannedResource(extra_flags, usize, usize, digest, whole)
    pieces.insert(0, _chunk_table(stored_sizes, usize))
    if cacheable:
        cache.store(digest, RESHDR_FLAG_COMPRESSED, usize, _materialize(pieces), stored_total)
    return PlannedResource(RESHDR_FLAG_COMPRESSED | extra_flags, stored_total, usize, digest, tuple(pieces))


def _materialize(pieces) -> Iterator[bytes]:
    buf = memoryview(bytearray(1 << 20))
    opened: dict = {}
    try:
        for p in pieces:
            if isinstance(p, (SourceRange, SpoolRange)):
                for part in p.iter_into(buf, opened):
                    yield bytes(part)
            else:
                yield bytes(p)
    finally:
        for fd in opened.values():
            os.close(fd)
