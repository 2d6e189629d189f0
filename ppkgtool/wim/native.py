"""XPRESS Huffman chunk codec backed by wimlib's shared library, loaded through ctypes.

wimlib (libwim.so.15 / libwim-15.dll / libwim.15.dylib) is optional: when it is installed this
backend compresses and decompresses WIM chunks in C, and ``ctypes`` releases the GIL during each
call, so several threads can work at once. API used (wimlib include/wimlib.h, "Compression and
decompression functions"):

    int    wimlib_create_compressor(enum wimlib_compression_type ctype, size_t max_block_size,
                                    unsigned int compression_level, struct wimlib_compressor **ret);
    size_t wimlib_compress(const void *in, size_t in_size, void *out, size_t out_avail,
                           struct wimlib_compressor *c);        /* 0 = did not fit */
    void   wimlib_free_compressor(struct wimlib_compressor *c);
    int    wimlib_create_decompressor(enum wimlib_compression_type ctype, size_t max_block_size,
                                      struct wimlib_decompressor **ret);
    int    wimlib_decompress(const void *in, size_t in_size, void *out, size_t out_size,
                             struct wimlib_decompressor *d);    /* 0 = success */
    void   wimlib_free_decompressor(struct wimlib_decompressor *d);

wimlib's compressor and decompressor objects are not thread-safe: this module keeps one of each
per thread (and per block size).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading

from ppkgtool.errors import WimError, XpressError

__all__ = ["NativeXpressCodec", "load_libwim", "libwim_path", "LIBWIM_NAMES",
           "WIMLIB_COMPRESSION_TYPE_XPRESS", "XPRESS_MAX_BLOCK_SIZE"]

# wimlib.h: enum wimlib_compression_type
WIMLIB_COMPRESSION_TYPE_XPRESS = 1
# wimlib xpress_constants.h: XPRESS_MAX_OFFSET = 65535, so one block is at most 64 KiB.
XPRESS_MAX_BLOCK_SIZE = 65536
# Smallest compressed XPRESS block: the 256-byte code-length table plus a little bit stream.
_XPRESS_TABLE_BYTES = 256

#: Names tried before ``ctypes.util.find_library("wim")`` (Linux, Windows, macOS).
LIBWIM_NAMES = ("libwim.so.15", "libwim.so", "libwim-15.dll", "libwim.15.dylib", "libwim.dylib")
#: Environment variable naming an explicit libwim path (tried first).
LIBWIM_ENV = "PPKGTOOL_LIBWIM"

_string_at = ctypes.string_at
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_lib_path: str | None = None
_load_error: str | None = None


def _candidates():
    """$PPKGTOOL_LIBWIM, the usual library names, then ``ctypes.util.find_library("wim")``: on
    Linux find_library runs ``ldconfig -p`` in a child process (about 10 ms of every pack, build and
    extract), so it is asked only when no usual name loads."""
    seen: set[str] = set()
    explicit = os.environ.get(LIBWIM_ENV)
    for name in ([explicit] if explicit else []) + list(LIBWIM_NAMES):
        if name not in seen:
            seen.add(name)
            yield name
    import ctypes.util
    found = ctypes.util.find_library("wim")
    if found and found not in seen:
        yield found


def _bind(lib: ctypes.CDLL) -> None:
    vp = ctypes.c_void_p
    lib.wimlib_create_compressor.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_uint,
                                             ctypes.POINTER(vp)]
    lib.wimlib_create_compressor.restype = ctypes.c_int
    lib.wimlib_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, vp, ctypes.c_size_t, vp]
    lib.wimlib_compress.restype = ctypes.c_size_t
    lib.wimlib_free_compressor.argtypes = [vp]
    lib.wimlib_free_compressor.restype = None
    lib.wimlib_create_decompressor.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.POINTER(vp)]
    lib.wimlib_create_decompressor.restype = ctypes.c_int
    lib.wimlib_decompress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, vp, ctypes.c_size_t, vp]
    lib.wimlib_decompress.restype = ctypes.c_int
    lib.wimlib_free_decompressor.argtypes = [vp]
    lib.wimlib_free_decompressor.restype = None


def load_libwim() -> ctypes.CDLL | None:
    """Load and bind libwim once; None when no usable library is installed."""
    global _lib, _lib_path, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    with _lock:
        if _lib is not None or _load_error is not None:
            return _lib
        problems: list[str] = []
        for name in _candidates():
            try:
                lib = ctypes.CDLL(name)
                _bind(lib)
            except (OSError, AttributeError) as exc:
                problems.append(f"{name}: {exc}")
                continue
            _lib, _lib_path = lib, name
            return lib
        _load_error = "; ".join(problems) or "no candidate library names"
        return None


def libwim_path() -> str | None:
    """The name or path libwim was loaded from, or None."""
    load_libwim()
    return _lib_path


def libwim_load_error() -> str | None:
    load_libwim()
    return _load_error


class _Handle:
    """A wimlib (de)compressor handle with its output buffer, freed when the object goes away."""

    __slots__ = ("lib", "handle", "buf", "__weakref__")
    _FREE = ""      # the wimlib function that frees this kind of handle

    def __del__(self):  # pragma: no cover - runs at thread or interpreter exit
        handle, self.handle = getattr(self, "handle", None), None
        if handle and sys is not None and not sys.is_finalizing():
            try:
                getattr(self.lib, self._FREE)(handle)
            except Exception:
                pass


class _Compressor(_Handle):
    __slots__ = ()
    _FREE = "wimlib_free_compressor"

    def __init__(self, lib: ctypes.CDLL, max_block_size: int, level: int):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        ret = lib.wimlib_create_compressor(WIMLIB_COMPRESSION_TYPE_XPRESS, max_block_size, level,
                                           ctypes.byref(self.handle))
        if ret != 0 or not self.handle:
            raise WimError(f"wimlib_create_compressor failed (wimlib error {ret})")
        self.buf = ctypes.create_string_buffer(max_block_size)


class _Decompressor(_Handle):
    __slots__ = ()
    _FREE = "wimlib_free_decompressor"

    def __init__(self, lib: ctypes.CDLL, max_block_size: int):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        ret = lib.wimlib_create_decompressor(WIMLIB_COMPRESSION_TYPE_XPRESS, max_block_size,
                                             ctypes.byref(self.handle))
        if ret != 0 or not self.handle:
            raise WimError(f"wimlib_create_decompressor failed (wimlib error {ret})")
        self.buf = ctypes.create_string_buffer(max_block_size)


def _block_size_for(n: int, base: int) -> int:
    """The compressor size class for an input of n bytes: base, or the next power of two."""
    if n <= base:
        return base
    size = base
    while size < n:
        size *= 2
    return size


class NativeXpressCodec:
    """XPRESS Huffman chunk codec using wimlib. Safe to share between threads."""

    name = "native"

    def __init__(self, max_block_size: int = 32768, compression_level: int = 0):
        if not (1 <= max_block_size <= XPRESS_MAX_BLOCK_SIZE):
            raise WimError(f"XPRESS block size {max_block_size} is outside 1..{XPRESS_MAX_BLOCK_SIZE}")
        if not (0 <= compression_level <= 1000):
            raise WimError(f"compression level {compression_level} is outside 0..1000")
        lib = load_libwim()
        if lib is None:
            raise WimError("wimlib's shared library (libwim) is not installed or does not load",
                           hint=f"install wimlib (Debian: libwim15) or set {LIBWIM_ENV}; "
                                f"details: {_load_error}")
        self._lib = lib
        self._compress = lib.wimlib_compress
        self.max_block_size = max_block_size
        self.compression_level = compression_level
        self._local = threading.local()

    # one compressor/decompressor per thread and size class
    def _compressor(self, size: int) -> _Compressor:
        cache = getattr(self._local, "comp", None)
        if cache is None:
            cache = self._local.comp = {}
        c = cache.get(size)
        if c is None:
            c = cache[size] = _Compressor(self._lib, size, self.compression_level)
        return c

    def _decompressor(self, size: int) -> _Decompressor:
        cache = getattr(self._local, "decomp", None)
        if cache is None:
            cache = self._local.decomp = {}
        d = cache.get(size)
        if d is None:
            d = cache[size] = _Decompressor(self._lib, size)
        return d

    def compress(self, chunk: bytes) -> bytes | None:
        """XPRESS Huffman bytes of ``chunk``, or None when they would not be smaller."""
        n = len(chunk)
        if n <= _XPRESS_TABLE_BYTES + 1:
            return None
        if n > XPRESS_MAX_BLOCK_SIZE:
            raise WimError(f"chunk of {n} bytes exceeds the XPRESS maximum of {XPRESS_MAX_BLOCK_SIZE}")
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        if n <= self.max_block_size:        # the usual case: this thread's compressor for the base size
            try:
                c = self._local.base
            except AttributeError:
                c = self._local.base = self._compressor(self.max_block_size)
        else:
            c = self._compressor(_block_size_for(n, self.max_block_size))
        size = self._compress(chunk, n, c.buf, n - 1, c.handle)
        if size == 0 or size >= n:
            return None
        return _string_at(c.buf, size)

    def decompress(self, data: bytes, out_size: int) -> bytes:
        """Exactly ``out_size`` bytes decoded from ``data``, or XpressError."""
        if out_size < 0 or out_size > XPRESS_MAX_BLOCK_SIZE:
            raise XpressError(f"uncompressed chunk size {out_size} is outside 0..{XPRESS_MAX_BLOCK_SIZE}")
        if out_size == 0:
            if data:
                raise XpressError(f"{len(data)} compressed bytes for an empty chunk")
            return b""
        if not isinstance(data, bytes):
            data = bytes(data)
        d = self._decompressor(_block_size_for(out_size, self.max_block_size))
        ret = self._lib.wimlib_decompress(data, len(data), d.buf, out_size, d.handle)
        if ret != 0:
            raise XpressError(f"corrupt XPRESS Huffman data ({len(data)} bytes for {out_size}); "
                              "wimlib rejected the stream")
        return ctypes.string_at(d.buf, out_size)
