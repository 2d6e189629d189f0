"""WIM chunk compression facade: one API over the native (wimlib) and pure-Python XPRESS codecs.

A WIM resource is cut into CHUNK_SIZE (32 KiB) chunks, the last one possibly shorter; each chunk
is compressed on its own with XPRESS Huffman ([MS-XCA] 2.1/2.2) and stored raw when its compressed
form is not smaller (docs/formats/xpress.md). This module picks a backend, skips a compression
attempt on data that is already compressed, and spreads large batches over all cores.

Backend choice: ``get_codec("auto")`` uses wimlib when libwim loads, else pure Python; the
environment variable PPKGTOOL_CODEC=python|native overrides "auto".
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, runtime_checkable

from ppkgtool.errors import WimError, XpressError

__all__ = ["CHUNK_SIZE", "ChunkCodec", "native_available", "get_codec", "looks_incompressible",
           "compress_chunks", "compress_chunks_async", "decompress_chunks", "decompress_chunks_async", "hash_async", "CODEC_ENV"]

CHUNK_SIZE = 32768
CODEC_ENV = "PPKGTOOL_CODEC"
#: wimlib's XPRESS compression level for the native codec. 30 keeps wimlib's lazy parser (levels
#: 30-59) with shorter match searches than its default 50: on the text of bench/ it costs 17% less
#: CPU for output 0.4% larger on that text (0.04% on the build row's package, which is mostly
#: incompressible), far inside the 1.02x of wimlib-imagex's size that issue 19 allows. Below 30
#: wimlib switches to a greedy parser (6% larger). The pure-Python codec has one level.
NATIVE_LEVEL = 30

# Batches at least this large (bytes of input) are spread over worker threads/processes.
_PARALLEL_MIN_BYTES = 256 * 1024
# Pure Python work only pays for process start-up on much larger batches.
_PROCESS_MIN_BYTES = 4 * 1024 * 1024


@runtime_checkable
class ChunkCodec(Protocol):
    name: str  # "native" or "python"

    def compress(self, chunk: bytes) -> bytes | None:
        """XPRESS Huffman bytes, or None when not smaller than the input (store raw)."""

    def decompress(self, data: bytes, out_size: int) -> bytes:
        """Exactly ``out_size`` bytes, or XpressError."""


_codecs: dict[str, ChunkCodec] = {}


def native_available() -> bool:
    """True when wimlib's shared library loads (the accelerated backend can be used)."""
    from ppkgtool.wim.native import load_libwim

    return load_libwim() is not None


def _make(kind: str) -> ChunkCodec:
    codec = _codecs.get(kind)
    if codec is None:
        if kind == "native":
            from ppkgtool.wim.native import NativeXpressCodec

            codec = NativeXpressCodec(CHUNK_SIZE, NATIVE_LEVEL)
        else:
            from ppkgtool.wim.xpress import PythonXpressCodec

            codec = PythonXpressCodec()
        _codecs[kind] = codec
    return codec


def get_codec(prefer: str = "auto") -> ChunkCodec:
    """The chunk codec to use.

    ``prefer``: "auto" (native when libwim loads, else python; $PPKGTOOL_CODEC overrides),
    "native" (WimError when libwim is unavailable) or "python".
    """
    if prefer not in ("auto", "native", "python"):
        raise WimError(f"unknown codec {prefer!r}; use auto, native or python")
    if prefer == "auto":
        env = os.environ.get(CODEC_ENV, "").strip().lower()
        if env in ("native", "python"):
            prefer = env
        elif env not in ("", "auto"):
            raise WimError(f"{CODEC_ENV}={env!r} is not one of auto, native, python")
    if prefer == "auto":
        return _make("native" if native_available() else "python")
    return _make(prefer)


# --- incompressible data ----------------------------------------------------------------------

_WINDOW = 1024         # bytes per sample window
_WINDOWS = 4           # windows spread evenly over the chunk (start ... end)
_MAX_RATIO = 0.995     # a sample deflate cannot shrink by 0.5% is "already compressed"
# zlib parameters of the sample test: a 8 KiB window and 16 KiB hash table are plenty for a 4 KiB
# sample, and set up in a fraction of the time of the defaults (which dominated the test's cost)
_ZLIB_WBITS = -13
_ZLIB_MEMLEVEL = 6


_QUICK_WINDOW = 1024  # the one window of _still_incompressible


def _sample_incompressible(chunk, windows: int, first: int = 0) -> bool:
    n = len(chunk)
    mv = memoryview(chunk)
    step = (n - _WINDOW) // (_WINDOWS - 1)
    if windows == 1:
        sample = mv[first * step:first * step + _QUICK_WINDOW]
    else:
        sample = b"".join([mv[i * step:i * step + _WINDOW] for i in range(_WINDOWS)])
    z = zlib.compressobj(1, zlib.DEFLATED, _ZLIB_WBITS, _ZLIB_MEMLEVEL)
    packed = len(z.compress(sample)) + len(z.flush())
    return packed >= len(sample) * _MAX_RATIO


def looks_incompressible(chunk: bytes) -> bool:
    """Cheap, sample-based guess that ``chunk`` will not compress (MSI, CAB, ZIP, PNG, JPEG...).

    Raw-deflates (zlib level 1) four 1 KiB windows spread over the chunk instead of attempting
    XPRESS on all of it: about a tenth of the cost of a native attempt on random data. A chunk
    whose sample saves less than 0.5% is stored raw. With the group test and the run rules of
    _compress_serial (in the writer's 8-chunk work items), the assets of the real packages in the
    fixtures (two PNGs, two MSIs) come out 0.16% larger than with every chunk compressed (0.31% on
    the larger PNG, 0.1% on the other, nothing on the MSIs); text and random data lose nothing
    (bench/bench_commands.py checks the size against wimlib's).
    Chunks shorter than 8 KiB are never called incompressible (they are always tried).
    """
    if len(chunk) < 8192:
        return False
    return _sample_incompressible(chunk, _WINDOWS)


def _still_incompressible(chunk, turn: int) -> bool:
    """The test inside a run of incompressible chunks of one stream: one 1 KiB window (a
    different one each chunk) and, only when that window compresses, the full looks_incompressible
    test. A stream of compressed data (most of a package's bytes: MSI, CAB, PNG) costs about a
    quarter of the full test per chunk."""
    if len(chunk) < 8192:
        return False
    return _sample_incompressible(chunk, 1, turn % _WINDOWS) or _sample_incompressible(chunk, _WINDOWS)


# --- batches ------------------------------------------------------------------------------------

def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


_GROUP_WINDOW = 512    # bytes each chunk gives to the sample of group_incompressible


def group_incompressible(chunks: Sequence[bytes]) -> bool:
    """One test for several consecutive chunks of a stream: one 512-byte window of each (a
    different position in each chunk) raw-deflated together. True when that sample saves less
    than 0.5%: every chunk is then stored raw. A chunk whose window compresses by more than a
    few percent makes the whole sample compress, and the chunks are then judged one by one.
    On compressed data (most of a package's bytes) this costs one deflate of 4 KiB per 8 chunks,
    about a seventh of testing them one by one."""
    if len(chunks) < 2 or any(len(c) < 8192 for c in chunks):
        return False
    parts = []
    for i, c in enumerate(chunks):
        step = (len(c) - _GROUP_WINDOW) // (_WINDOWS - 1)
        at = (i % _WINDOWS) * step
        parts.append(memoryview(c)[at:at + _GROUP_WINDOW])
    sample = b"".join(parts)
    z = zlib.compressobj(1, zlib.DEFLATED, _ZLIB_WBITS, _ZLIB_MEMLEVEL)
    return len(z.compress(sample)) + len(z.flush()) >= len(sample) * _MAX_RATIO


def _compress_serial(codec: ChunkCodec, chunks: Sequence[bytes], skip_check: bool) -> list[bytes | None]:
    """Consecutive chunks of one stream. All of them are stored raw when group_incompressible
    says so; otherwise each is judged by what its predecessor did: after a chunk that
    compressed, the next one is compressed without a test (the test only pays on data that will
    not compress); after one that did not, the next gets the cheaper _still_incompressible test;
    the first gets looks_incompressible."""
    if not skip_check and group_incompressible(chunks):
        for chunk in chunks:
            if len(chunk) > CHUNK_SIZE * 2:
                raise WimError(f"chunk of {len(chunk)} bytes is larger than an XPRESS block (64 KiB)")
        return [None] * len(chunks)
    out: list[bytes | None] = []
    append = out.append
    compress = codec.compress
    state = 0           # 0: first chunk, 1: the previous one compressed, 2: it did not
    for turn, chunk in enumerate(chunks):
        if len(chunk) > CHUNK_SIZE * 2:
            raise WimError(f"chunk of {len(chunk)} bytes is larger than an XPRESS block (64 KiB)")
        if not skip_check and state != 1 and (_still_incompressible(chunk, turn) if state == 2
                                                else looks_incompressible(chunk)):
            append(None)
            state = 2
            continue
        comp = compress(chunk)
        append(comp)
        state = 2 if comp is None else 1
    return out


def _decompress_serial(codec: ChunkCodec, items: Sequence[tuple[bytes, int]]) -> list[bytes]:
    out = []
    for data, size in items:
        if len(data) == size:
            out.append(bytes(data))
        elif len(data) > size:
            raise XpressError(f"compressed chunk of {len(data)} bytes is larger than its "
                              f"uncompressed size {size}")
        else:
            out.append(codec.decompress(data, size))
    return out


def _slices(n: int, parts: int) -> list[tuple[int, int]]:
    step, extra = divmod(n, parts)
    bounds, start = [], 0
    for i in range(parts):
        end = start + step + (1 if i < extra else 0)
        if end > start:
            bounds.append((start, end))
        start = end
    return bounds


def _python_compress_job(chunks: list[bytes]) -> list[bytes | None]:  # runs in a worker process
    return _compress_serial(_make("python"), chunks, False)


def _python_decompress_job(items: list[tuple[bytes, int]]) -> list[bytes]:  # runs in a worker process
    return _decompress_serial(_make("python"), items)


_pool: ThreadPoolExecutor | None = None
#: Hashing threads: streams hashed at the same time on different lanes use different cores.
HASH_LANES = 2
_hash_pools: list[ThreadPoolExecutor | None] = [None] * HASH_LANES
_pool_lock = threading.Lock()


def _workers_pool() -> ThreadPoolExecutor:
    """The process-wide chunk workers (one per core), started once: a pool per batch cost more
    than the work of a small batch."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_default_workers(), thread_name_prefix="xpress")
        return _pool


def hash_async(hasher, data, lane: int = 0) -> Future:
    """``hasher.update(data)`` on hashing thread ``lane`` (0 .. HASH_LANES-1; hashlib releases the
    GIL); one thread per lane, so the updates of a hasher that keeps to one lane run in the order
    they were asked for. ``data`` must stay unchanged until the future is done."""
    with _pool_lock:
        pool = _hash_pools[lane]
        if pool is None:
            pool = _hash_pools[lane] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stream-sha1-{lane}")
    return pool.submit(hasher.update, data)


def _run_threads(job, items: Sequence, workers: int) -> list:
    """Run ``job`` over ``workers`` slices of ``items`` on threads, results in order."""
    parts = [f.result() for f in _submit_slices(job, items, workers)]
    return [x for part in parts for x in part]


def _submit_slices(job, items: Sequence, workers: int) -> list[Future]:
    pool = _workers_pool()
    return [pool.submit(job, items[a:b]) for a, b in _slices(len(items), workers)]


def _run_processes(job, items: list, workers: int) -> list | None:
    """Run ``job`` over slices of ``items`` in worker processes; None when processes are unusable."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    bounds = _slices(len(items), workers * 4)
    try:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            parts = list(pool.map(job, [items[a:b] for a, b in bounds]))
    except (BrokenProcessPool, OSError, RuntimeError):
        return None
    return [x for part in parts for x in part]


def compress_chunks(chunks: Sequence[bytes], codec: ChunkCodec | None = None, *,
                    workers: int | None = None) -> list[bytes | None]:
    """Compress WIM chunks independently, keeping order.

    Each result is the XPRESS Huffman form of its chunk, or None when the chunk should be stored
    raw (not smaller, or judged incompressible by looks_incompressible without trying). Large
    batches run on ``workers`` threads (default: all cores) with the native codec, or worker
    processes with the pure-Python one.
    """
    codec = codec or get_codec()
    n = len(chunks)
    workers = _default_workers() if workers is None else max(1, int(workers))
    total = sum(len(c) for c in chunks)
    if workers == 1 or n < 2 or total < _PARALLEL_MIN_BYTES:
        return _compress_serial(codec, chunks, False)
    if codec.name == "python":
        if total >= _PROCESS_MIN_BYTES and type(codec).__module__ == "ppkgtool.wim.xpress":
            result = _run_processes(_python_compress_job, [bytes(c) for c in chunks], workers)
            if result is not None:
                return result
        return _compress_serial(codec, chunks, False)
    return _run_threads(lambda part: _compress_serial(codec, part, False), chunks, workers)


#: Chunks per work item of compress_chunks_async (256 KiB).
ASYNC_SLICE_CHUNKS = 8


class Done:
    """A future that is already done."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def compress_chunks_async(chunks: Sequence, codec: ChunkCodec | None = None, *,
                          workers: int | None = None) -> list:
    """compress_chunks started on the worker threads: futures whose results, concatenated in
    order, are compress_chunks' list. The chunks must stay unchanged until they are done. The
    batch is cut into slices of ASYNC_SLICE_CHUNKS chunks, so that the workers share it evenly
    even when one part compresses and another does not."""
    codec = codec or get_codec()
    workers = _default_workers() if workers is None else max(1, int(workers))
    if codec.name == "python" or workers == 1 or len(chunks) < 2:
        return [Done(compress_chunks(chunks, codec, workers=workers))]
    parts = max(workers, len(chunks) // ASYNC_SLICE_CHUNKS)
    return _submit_slices(lambda part: _compress_serial(codec, part, False), chunks, parts)


def decompress_chunks_async(items: Sequence[tuple[bytes, int]], codec: ChunkCodec | None = None, *,
                            workers: int | None = None) -> list:
    """decompress_chunks started on the worker threads (slices of ASYNC_SLICE_CHUNKS chunks):
    futures whose results, concatenated in order, are decompress_chunks' list."""
    codec = codec or get_codec()
    workers = _default_workers() if workers is None else max(1, int(workers))
    if codec.name == "python" or workers == 1 or len(items) < 2:
        return [Done(decompress_chunks(items, codec, workers=workers))]
    parts = max(workers, len(items) // ASYNC_SLICE_CHUNKS)
    return _submit_slices(lambda part: _decompress_serial(codec, part), items, parts)


def decompress_chunks(items: Sequence[tuple[bytes, int]], codec: ChunkCodec | None = None, *,
                      workers: int | None = None) -> list[bytes]:
    """Decompress ``(compressed, uncompressed_size)`` pairs, keeping order.

    A pair whose compressed size equals its uncompressed size is a raw chunk and is returned as
    is (WIM convention). Every result has exactly its declared size, else XpressError.
    """
    codec = codec or get_codec()
    workers = _default_workers() if workers is None else max(1, int(workers))

    total = sum(size for _, size in items)
    if workers == 1 or len(items) < 2 or total < _PARALLEL_MIN_BYTES:
        return _decompress_serial(codec, items)
    if codec.name == "python":
        if total >= _PROCESS_MIN_BYTES and type(codec).__module__ == "ppkgtool.wim.xpress":
            todo = [(bytes(d), s) for d, s in items]
            # raw chunks are passed straight through; only compressed ones cost process transfer
            result = _run_processes(_python_decompress_job, todo, workers)
            if result is not None:
                return result
        return _decompress_serial(codec, items)
    return _run_threads(lambda part: _decompress_serial(codec, part), items, workers)
