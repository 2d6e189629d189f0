"""Hashing shared by the package, WIM and catalog layers.

- ``file_digests``: digests of a file on disk, remembered while the file's identity (device, inode,
  size, modification time) stays the same — bulk builds put one large asset into hundreds of
  packages and hash it once per algorithm.
- ``stream_digests``: several digests of one stream in a single pass, each algorithm on its own
  thread (hashlib releases the GIL on large updates), so SHA-1 + SHA-256 of a package cost about
  one hash's time on two cores.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Sequence

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


def file_digests(path: str | os.PathLike, algorithms: Sequence[str]) -> list[bytes]:
    """Digests of a file, cached by the file's identity."""
    st = os.stat(path)
    ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    found: dict[str, bytes] = {}
    with _cache_lock:
        for a in algorithms:
            d = _cache.get(ident + (a,))
            if d is not None:
                found[a] = d
    missing = [a for a in algorithms if a not in found]
    if missing:
        with open(path, "rb") as fh:
            digests, _ = stream_digests(fh, missing)
        with _cache_lock:
            if len(_cache) > _CACHE_MAX:
                _cache.clear()
            for a, d in zip(missing, digests):
                _cache[ident + (a,)] = d
                found[a] = d
    return [found[a] for a in algorithms]
