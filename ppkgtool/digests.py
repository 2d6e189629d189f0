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
- ``prefetch_file_digests``: file_digests of some files computed ahead on a thread of its own
  while the process does other work (``ppkgtool build`` hashes its large assets while it imports
  and compiles, on the core that is otherwise idle); file_digests of a file being prefetched waits
  for that instead of reading it again.
"""

from __future__ import annotations

import collections
import hashlib
import os
import stat
import threading
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Sequence

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

from ppkgtool.errors import InvalidInputError

_BLOCK = 4 << 20
#: The digests a build needs of each asset file: SHA-256 for its folder name in the package
#: (package.layout.sha256_of), SHA-1 for its WIM resource; one read computes both.
ASSET_ALGORITHMS = ("sha256", "sha1")
_CACHE_MAX = 4096
_cache: dict[tuple, bytes] = {}
_cache_lock = threading.Lock()
_inflight: dict[tuple, Callable[[], None]] = {}   # file_identity -> waits until its prefetch ends
_prefetch_stops: list[Callable[[], None]] = []
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor    # imported on first use: a small build needs no pool
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="digest")
        return _pool


def stream_digests(stream: BinaryIO, algorithms: Sequence[str]) -> tuple[list[bytes], int]:
    """([digest per algorithm], bytes read) of ``stream`` from its current position to its end."""
    digests, size = _read_digests(stream, algorithms, _BLOCK, parallel=True)
    assert digests is not None
    return digests, size


def _read_digests(stream: BinaryIO, algorithms: Sequence[str], block_size: int, *, parallel: bool,
                  stop: threading.Event | None = None) -> tuple[list[bytes] | None, int]:
    """stream_digests in ``block_size`` reads; ``parallel``: each algorithm on its own thread per
    block (else all on this one: fewer GIL hand-offs, as a background prefetch wants). None for
    the digests when ``stop`` was set part-way."""
    hashers = [hashlib.new(a) for a in algorithms]
    size = 0
    buf = bytearray(block_size)      # one buffer, reused: no page faults for fresh blocks
    view = memoryview(buf)
    readinto = getattr(stream, "readinto", None)
    while True:
        if stop is not None and stop.is_set():
            return None, size
        if readinto is not None:
            n = readinto(buf)
            if not n:
                break
            block = view[:n]
        else:
            block = stream.read(block_size)
            if not block:
                break
            n = len(block)
        size += n
        if parallel:
            _update_all(hashers, block)
        else:
            for h in hashers:
                h.update(block)
    view.release()
    return [h.digest() for h in hashers], size


def buffer_digests(data, algorithms: Sequence[str]) -> list[bytes]:
    """[digest per algorithm] of a bytes-like object (an mmap: hashed where it is, not copied),
    each algorithm on its own thread per block, as stream_digests."""
    hashers = [hashlib.new(a) for a in algorithms]
    view = memoryview(data).cast("B")
    for at in range(0, len(view), _BLOCK):
        block = view[at:at + _BLOCK]
        _update_all(hashers, block)
        block.release()
    view.release()
    return [h.digest() for h in hashers]


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
            pending = _inflight.get(ident)
        if pending is not None:        # being prefetched: its digests are on the way
            pending()
        with _cache_lock:
            found = {a: d for a in algorithms if (d := _cache.get(ident + (a,))) is not None}
        missing = [a for a in algorithms if a not in found]
        if missing:
            digests, size = stream_digests(fh, missing)
            if size != ident[2] or file_identity(os.fstat(fh.fileno())) != ident:
                raise FileChangedError(f"{os.fspath(path)} changed while it was read")
            remember_digests(ident, missing, digests)
            found.update(zip(missing, digests))
    return [found[a] for a in algorithms]


def remember_digests(ident: tuple, algorithms: Sequence[str], digests: Sequence[bytes]) -> None:
    """Record digests of the file with this file_identity (a prefetch computed them)."""
    with _cache_lock:
        if len(_cache) > _CACHE_MAX:
            _cache.clear()
        for a, d in zip(algorithms, digests):
            _cache[ident + (a,)] = d


#: Bytes the prefetch thread reads and hashes at a time: large, so that it takes the GIL back
#: rarely (each time may wait for the interpreter's switch interval while the main thread runs
#: Python code); three GIL-free calls per block (read, one update per algorithm).
PREFETCH_BLOCK = 32 << 20


def prefetch_file_digests(paths: Iterable[str | os.PathLike], algorithms: Sequence[str]) -> Callable[[], None]:
    """Start computing file_digests(path, algorithms) of each of ``paths`` on a background thread;
    returns a function that stops it (stop_prefetch stops every prefetch). Files that cannot be
    opened, are not regular files or are already known are skipped: this is only ever a head
    start, errors are reported by the file_digests call that needs the file."""
    jobs = []
    for path in paths:
        try:
            fh = open(path, "rb", buffering=0)
        except OSError:
            continue
        try:
            st = os.fstat(fh.fileno())
        except OSError:
            fh.close()
            continue
        ident = file_identity(st)
        with _cache_lock:
            known = all(ident + (a,) in _cache for a in algorithms)
            if stat.S_ISREG(st.st_mode) and not known and ident not in _inflight:
                done = threading.Event()
                _inflight[ident] = done.wait
                jobs.append((fh, ident, done))
                continue
        fh.close()
    stop = threading.Event()
    if jobs:
        on_prefetch_stop(stop.set)
        threading.Thread(target=_prefetch, args=(jobs, tuple(algorithms), stop), name="digest-prefetch",
                         daemon=True).start()
    return stop.set


def announce_digests(ident: tuple, wait: Callable[[], None]) -> None:
    """A prefetch is computing the digests of the file with this identity: file_digests calls
    ``wait`` (which returns once they are remembered, or the prefetch gave up) before reading it."""
    with _cache_lock:
        _inflight[ident] = wait


def settle_digests(ident: tuple) -> None:
    """The prefetch of this file has ended (its digests are remembered, or never will be)."""
    with _cache_lock:
        _inflight.pop(ident, None)


def on_prefetch_stop(stop: Callable[[], None]) -> None:
    """Have stop_prefetch call ``stop``."""
    _prefetch_stops.append(stop)


def stop_prefetch() -> None:
    """Stop every prefetch (the files still unread will be hashed by whoever needs them)."""
    for stop in _prefetch_stops:
        stop()
    _prefetch_stops.clear()


def _prefetch(jobs, algorithms: tuple[str, ...], stop: threading.Event) -> None:
    for fh, ident, done in jobs:
        try:
            if stop.is_set():
                continue
            digests, size = _read_digests(fh, algorithms, PREFETCH_BLOCK, parallel=False, stop=stop)
            if digests is not None and size == ident[2] and file_identity(os.fstat(fh.fileno())) == ident:
                remember_digests(ident, algorithms, digests)
        except OSError:
            pass                    # whoever needs the file reads it and reports the error
        finally:
            fh.close()
            settle_digests(ident)
            done.set()


#: Bytes HashingWriter hashes and hands on at a time: on the 2-core VM of bench/, 1 MiB writes into
#: the page cache were ten times faster than 8 MiB ones (the data stays in the CPU caches on the
#: way). A large output (fsutil.EarlyWriteback) passes each on in fsutil.WRITE_BLOCK writes.
WRITE_BLOCK = 1 << 20
#: Blocks HashingWriter keeps in flight: the hashers work on earlier blocks while the caller
#: produces and writes the next ones (a pipeline; one block at a time left the cores idle half
#: of the time, issue 19).
WRITE_RING = 4

class HashingWriter:
    """Writes a file front to back in WRITE_BLOCK blocks and computes its digests on the way, so
    that the digests of an output cost no second pass over it (nothing is read back).

    A pipeline: each block is written on the calling thread while every algorithm hashes it on a
    thread of its own (hashlib and os.write release the GIL; one thread per algorithm and writer,
    started with the first large block, keeps each hasher's blocks in order and lets writers on
    parallel threads, as bulk runs them, hash side by side), and the caller goes on with the
    next blocks meanwhile (up to WRITE_RING in flight), so on two cores SHA-1 + SHA-256 + the
    write take about the time of one of them. Pieces are copied into the ring's buffers (the
    caller may reuse a piece once write returns), except ``bytes``, which cannot change and are
    hashed where they are.
    """

    def __init__(self, out: BinaryIO, algorithms: Sequence[str] = (), *, size_hint: int | None = None):
        """``size_hint``: the expected total, when known (a small package then needs no 1 MiB buffer)."""
        self._write = out.write
        self.hashers = [hashlib.new(a) for a in algorithms]
        self.algorithms = tuple(algorithms)
        block = WRITE_BLOCK if size_hint is None else max(1, min(WRITE_BLOCK, size_hint))
        self._block = block
        self._ring: list[memoryview] = [memoryview(bytearray(block))]   # more are made when needed
        self._busy: list[list] = [[]]       # per ring buffer: the hashing futures still reading it
        self._slot = 0
        self._stage = self._ring[0]
        self._fill = 0
        self._inflight: collections.deque = collections.deque()   # futures of blocks not in the ring
        self._lanes: list = []              # one single-thread executor per algorithm, made when needed
        self.size = 0

    def write(self, piece) -> None:
        """Append ``piece`` (bytes-like); the caller may reuse it once this returns."""
        n = len(piece)
        if not n:
            return
        block = self._block
        if type(piece) is bytes and n >= block // 4:      # immutable: hashed and written in place
            self._flush_stage()
            view = memoryview(piece)
            for i in range(0, n, WRITE_BLOCK):
                self._out(view[i:i + WRITE_BLOCK], None)
            return
        view = memoryview(piece).cast("B")
        at = 0
        while at < n:
            take = min(block - self._fill, n - at)
            self._stage[self._fill:self._fill + take] = view[at:at + take]
            self._fill += take
            at += take
            if self._fill == block:
                self._flush_stage()

    def _flush_stage(self) -> None:
        if not self._fill:
            return
        self._out(self._stage[:self._fill], self._slot)
        self._fill = 0
        if len(self.hashers) and self._block >= 65536:      # the next ring buffer, once free
            self._slot = (self._slot + 1) % WRITE_RING
            if self._slot == len(self._ring):
                self._ring.append(memoryview(bytearray(self._block)))
                self._busy.append([])
            for f in self._busy[self._slot]:
                f.result()
            self._busy[self._slot] = []
            self._stage = self._ring[self._slot]

    def _out(self, block, slot: int | None) -> None:
        self.size += len(block)
        hashers = self.hashers
        if not hashers:
            self._write(block)
            return
        if len(block) < 65536:
            self._settle()
            for h in hashers:
                h.update(block)
            self._write(block)
            return
        if not self._lanes:
            from concurrent.futures import ThreadPoolExecutor
            self._lanes = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"digest-{a}") for a in self.algorithms]
        futures = [lane.submit(h.update, block) for lane, h in zip(self._lanes, hashers)]
        self._write(block)
        if slot is not None:
            self._busy[slot] = futures
        else:
            self._inflight.append(futures)
            while len(self._inflight) > WRITE_RING:
                for f in self._inflight.popleft():
                    f.result()

    def _settle(self) -> None:
        """Wait for every block in flight (the hashers have seen all that was written)."""
        for futures in self._busy:
            for f in futures:
                f.result()
            futures.clear()
        while self._inflight:
            for f in self._inflight.popleft():
                f.result()

    def finish(self) -> dict[str, bytes]:
        """Write what is gathered; {algorithm: digest} of everything written."""
        self._flush_stage()
        self._settle()
        for lane in self._lanes:
            lane.shutdown(wait=False)
        self._lanes = []
        return {a: h.digest() for a, h in zip(self.algorithms, self.hashers)}
