"""Hashing shared by the package, WIM and catalog layers.

- ``file_identity``: what must stay the same for a file read twice to be the same content (device,
  inode, size, modification and change times); the one home of that rule (the WIM writer checks
  it before and after each read of a source).
- ``file_digests``: digests of a file on disk, remembered while the file's identity stays the
  same — a build hashes its asset once for the asset's name (SHA-256) and the WIM (SHA-1), bulk
  builds put one large asset into hundreds of packages and hash it once per algorithm;
  ``cached_file_digest`` looks one up without reading.
- ``stream_digests``: several digests of one stream in a single pass, each algorithm on its own
  thread (hashlib releases the GIL on large updates), so SHA-1 + SHA-256 of a package cost about
  one hash's time on two cores.
- ``HashingWriter``: the digests of an output computed while it is written front to back (the WIM
  writer's second pass), so that no command reads back what it wrote.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Sequence

from ppkgtool.errors import InvalidInputError

_BLOCK = 4 << 20
_CACHE_MAX = 4096
_cache: dict[tuple, bytes] = {}
_cache_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="digest")
        return _pool


def stream_digests(stream: BinaryIO, algorithms: Sequence[str]) -> tuple[list[bytes], int]:
    """([digest per algorithm], bytes read) of ``stream`` from its current position to its end."""
    hashers = [hashlib.new(a) for a in algorithms]
    size = 0
    buf = bytearray(_BLOCK)          # one buffer, reused: no page faults for fresh blocks
    view = memoryview(buf)
    readinto = getattr(stream, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buf)
            if not n:
                break
            block = view[:n]
        else:
            block = stream.read(_BLOCK)
            if not block:
                break
            n = len(block)
        size += n
        _update_all(hashers, block)
    view.release()
    return [h.digest() for h in hashers], size


def _update_all(hashers, block) -> None:
    pool = _executor() if len(hashers) > 1 and len(block) >= 65536 else None
    if pool is None:
        for h in hashers:
            h.update(block)
        return
    others = [pool.submit(h.update, block) for h in hashers[1:]]
    hashers[0].update(block)
    for f in others:      # each hasher must see its blocks in order
        f.result()


def file_identity(st: os.stat_result) -> tuple:
    """What must stay the same for a file read twice to be the same content."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileChangedError(InvalidInputError):
    """A file changed while it was being read (its file_identity differs after the read)."""


def cached_file_digest(identity: tuple, algorithm: str) -> bytes | None:
    """The ``algorithm`` digest file_digests computed of the file with this file_identity, if any."""
    with _cache_lock:
        return _cache.get(identity + (algorithm,))


def file_digests(path: str | os.PathLike, algorithms: Sequence[str]) -> list[bytes]:
    """Digests of a file, cached by its file_identity (taken on the open file, before and after
    reading it: a file that changes while it is read raises FileChangedError)."""
    with open(path, "rb") as fh:
        ident = file_identity(os.fstat(fh.fileno()))
        with _cache_lock:
            found = {a: d for a in algorithms if (d := _cache.get(ident + (a,))) is not None}
        missing = [a for a in algorithms if a not in found]
        if missing:
            digests, size = stream_digests(fh, missing)
            if size != ident[2] or file_identity(os.fstat(fh.fileno())) != ident:
                raise FileChangedError(f"{os.fspath(path)} changed while it was read")
            with _cache_lock:
                if len(_cache) > _CACHE_MAX:
                    _cache.clear()
                for a, d in zip(missing, digests):
                    _cache[ident + (a,)] = d
                    found[a] = d
    return [found[a] for a in algorithms]


#: Bytes HashingWriter hashes and hands on at a time: on the 2-core VM of bench/, 1 MiB writes into
#: the page cache were ten times faster than 8 MiB ones (the data stays in the CPU caches on the
#: way). A large output (fsutil.EarlyWriteback) passes each on in fsutil.WRITE_BLOCK writes.
WRITE_BLOCK = 1 << 20


class HashingWriter:
    """Writes a file front to back in WRITE_BLOCK blocks and computes its digests on the way, so
    that the digests of an output cost no second pass over it (nothing is read back).

    Small pieces are gathered into one block; each block is written on the calling thread while
    every algorithm hashes it on a thread of its own (hashlib and os.write release the GIL), so on
    two cores SHA-1 + SHA-256 + the write take about the time of one of them.
    """

    def __init__(self, out: BinaryIO, algorithms: Sequence[str] = (), *, size_hint: int | None = None):
        """``size_hint``: the expected total, when known (a small package then needs no 1 MiB buffer)."""
        self._write = out.write
        self.hashers = [hashlib.new(a) for a in algorithms]
        self.algorithms = tuple(algorithms)
        block = WRITE_BLOCK if size_hint is None else max(1, min(WRITE_BLOCK, size_hint))
        self._block = block
        self._stage = memoryview(bytearray(block))     # reused: no fresh pages per block
        self._fill = 0
        self.size = 0

    def write(self, piece) -> None:
        """Append ``piece`` (bytes-like); the caller may reuse it once this returns."""
        n = len(piece)
        if not n:
            return
        block = self._block
        if self._fill + n <= block:
            self._stage[self._fill:self._fill + n] = piece
            self._fill += n
            if self._fill == block:
                self._flush_stage()
            return
        if n < block // 4:            # top up the block, start the next one
            room = block - self._fill
            view = memoryview(piece).cast("B")
            self._stage[self._fill:] = view[:room]
            self._fill = block
            self._flush_stage()
            self._stage[:n - room] = view[room:]
            self._fill = n - room
            return
        self._flush_stage()
        view = memoryview(piece).cast("B")
        for i in range(0, n, WRITE_BLOCK):
            self._out(view[i:i + WRITE_BLOCK])

    def _flush_stage(self) -> None:
        if self._fill:
            self._out(self._stage[:self._fill])
            self._fill = 0

    def _out(self, block) -> None:
        self.size += len(block)
        hashers = self.hashers
        if not hashers:
            self._write(block)
            return
        if len(block) < 65536:
            for h in hashers:
                h.update(block)
            self._write(block)
            return
        pool = _executor()
        futures = [pool.submit(h.update, block) for h in hashers]
        self._write(block)
        for f in futures:       # the block may be reused once every hasher has seen it
            f.result()

    def finish(self) -> dict[str, bytes]:
        """Write what is gathered; {algorithm: digest} of everything written."""
        self._flush_stage()
        return {a: h.digest() for a, h in zip(self.algorithms, self.hashers)}
