"""Pure-Python XPRESS Huffman ("LZ77+Huffman", [MS-XCA] 2.1/2.2) as WIM applies it per chunk.

Compressed chunk layout ([MS-XCA] 2.1, docs/formats/xpress.md):

* 256 bytes: the 512 Huffman code lengths, 4 bits each; byte i holds symbol 2i in its low nibble
  and symbol 2i+1 in its high nibble. Lengths 1..15; 0 = symbol unused. The code is canonical.
* then a bit stream of 16-bit little-endian words read from the most significant bit, with
  literal bytes (match-length extensions) interleaved between the words.
* symbols 0..255 are literal bytes; symbol 256 + (L << 4 | M) is a match whose offset is
  (1 << L) | next L bits, and whose length is M + 3, or for M == 15 the next byte + 15 + 3, or
  for a byte of 255 the next 16-bit little-endian word + 3.

Word/byte interleaving follows the decoder schedule of wimlib (src/xpress_decompress.c,
include/wimlib/decompress_common.h) and of Windows: before each symbol the decoder makes sure it
holds 15 bits (loading at most one word), before a match offset 16 bits; extension bytes come
from the input position after the words loaded so far. The encoder reserves two word slots ahead
of the byte position so its output follows the same schedule. A WIM chunk is one block (at most
64 KiB) with one Huffman table; the encoder ends it with symbol 256 as Windows expects.

The decoder never writes more than the declared size and raises XpressError naming the problem
and the input offset; trailing bytes after the consumed bit stream are ignored, as wimlib and
Windows ignore them.
"""

from __future__ import annotations

import heapq
import struct
from collections import OrderedDict

from ppkgtool.errors import XpressError

__all__ = ["PythonXpressCodec", "xpress_decompress", "xpress_compress", "MAX_BLOCK_SIZE",
           "NUM_SYMBOLS", "MAX_CODEWORD_LEN", "MIN_MATCH_LEN", "END_OF_DATA"]

# [MS-XCA] 2.1 constants
NUM_SYMBOLS = 512
NUM_CHARS = 256
TABLE_BYTES = NUM_SYMBOLS // 2
MAX_CODEWORD_LEN = 15
MIN_MATCH_LEN = 3
MAX_OFFSET = 65535
MAX_BLOCK_SIZE = 65536          # one Huffman table per 64 KiB; a WIM chunk is at most this
END_OF_DATA = 256               # written after the data for Windows' decoder

_M32 = 0xFFFFFFFF
_TABLE_SIZE = 1 << MAX_CODEWORD_LEN


# --- decoding ------------------------------------------------------------------------------------

def _code_lengths(table: bytes) -> list[int]:
    lens = [0] * NUM_SYMBOLS
    lens[0::2] = [b & 0x0F for b in table]
    lens[1::2] = [b >> 4 for b in table]
    return lens


def _build_decode_table(header: bytes) -> list[int]:
    """A 2**15-entry table mapping the next 15 bits to (symbol << 4) | code length."""
    lens = _code_lengths(header)
    order = sorted((ln, sym) for sym, ln in enumerate(lens) if ln)
    if not order:
        raise XpressError("bad Huffman table: no symbol has a code (all 512 lengths are 0)",
                          where="offset 0")
    space = 0
    for ln, _ in order:
        space += 1 << (MAX_CODEWORD_LEN - ln)
    if space != _TABLE_SIZE:
        what = "over-subscribed" if space > _TABLE_SIZE else "incomplete"
        raise XpressError(f"bad Huffman table: the code lengths form an {what} prefix code",
                          where="offset 0")
    table = [0] * _TABLE_SIZE
    start = 0
    for ln, sym in order:
        cnt = 1 << (MAX_CODEWORD_LEN - ln)
        table[start:start + cnt] = [(sym << 4) | ln] * cnt
        start += cnt
    return table


_table_cache: OrderedDict[bytes, list[int]] = OrderedDict()
_TABLE_CACHE_MAX = 32


def _decode_table(header: bytes) -> list[int]:
    t = _table_cache.get(header)
    if t is None:
        t = _build_decode_table(header)
        _table_cache[header] = t
        if len(_table_cache) > _TABLE_CACHE_MAX:
            _table_cache.popitem(last=False)
    return t


def xpress_decompress(data: bytes, out_size: int) -> bytes:
    """Decode one XPRESS Huffman chunk to exactly ``out_size`` bytes, else XpressError."""
    if not isinstance(out_size, int) or isinstance(out_size, bool):
        raise TypeError("out_size must be an int")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("data must be bytes-like")
    if out_size < 0 or out_size > MAX_BLOCK_SIZE:
        raise XpressError(f"uncompressed chunk size {out_size} is outside 0..{MAX_BLOCK_SIZE}")
    d = bytes(data)
    if out_size == 0:
        if d:
            raise XpressError(f"{len(d)} compressed bytes for an empty chunk")
        return b""
    end = len(d)
    if end < TABLE_BYTES:
        raise XpressError(f"compressed chunk of {end} bytes is shorter than the "
                          f"{TABLE_BYTES}-byte Huffman table")
    table = _decode_table(d[:TABLE_BYTES])

    # wat[p] = 16-bit little-endian word at byte p (p <= end - 2)
    wat: list[int] = [0] * (end - 1)
    wat[0::2] = struct.unpack_from(f"<{end // 2}H", d, 0)
    wat[1::2] = struct.unpack_from(f"<{(end - 1) // 2}H", d, 1)
    nwords = end - 1

    out = bytearray()
    append = out.append
    o = 0                   # bytes produced
    pos = TABLE_BYTES       # next input byte
    acc = 0                 # bit buffer, low n bits valid, next bit is bit n-1
    n = 0
    pad = 0                 # zero bits appended past the end of the input (wimlib's overflow)
    # The bit-buffer refill (before a symbol, and before a match offset) is written out twice on
    # purpose: a helper function for it measured about 9% slower decoding.
    while o < out_size:
        if n < 15:
            if pos < nwords:
                acc = ((acc << 16) | wat[pos]) & _M32
                pos += 2
                n += 16
            else:
                acc = (acc << (32 - n)) & _M32
                pad += 32 - n
                n = 32
        e = table[(acc >> (n - 15)) & 0x7FFF]
        n -= e & 15
        sym = e >> 4
        if sym < 256:
            append(sym)
            o += 1
            continue
        # match: [MS-XCA] 2.2.4
        if n < 16:
            if pos < nwords:
                acc = ((acc << 16) | wat[pos]) & _M32
                pos += 2
                n += 16
            else:
                acc = (acc << (32 - n)) & _M32
                pad += 32 - n
                n = 32
        log2 = (sym >> 4) & 15
        if log2:
            n -= log2
            offset = (1 << log2) | ((acc >> n) & ((1 << log2) - 1))
        else:
            offset = 1
        length = sym & 15
        if length == 15:
            if pos >= end:
                raise XpressError("bit-stream overrun: a match-length byte lies past the end of "
                                  "the data", where=f"offset {pos}")
            length = 15 + d[pos]
            pos += 1
            if length == 270:
                if pos + 1 >= end:
                    raise XpressError("bit-stream overrun: a 16-bit match length lies past the "
                                      "end of the data", where=f"offset {pos}")
                length = d[pos] | (d[pos + 1] << 8)
                pos += 2
        length += MIN_MATCH_LEN
        if offset > o:
            raise XpressError(f"match offset {offset} points before the start of the output "
                              f"(at output byte {o})", where=f"offset {pos}")
        if o + length > out_size:
            raise XpressError(f"output overflow: a match of {length} bytes at output byte {o} "
                              f"exceeds the declared size {out_size}", where=f"offset {pos}")
        s = o - offset
        if offset >= length:
            out += out[s:s + length]
        else:
            out += (out[s:o] * (length // offset + 1))[:length]
        o += length
    if n < pad:
        raise XpressError(f"bit-stream overrun: the data ends {pad - n} bits before the last "
                          f"symbol", where=f"offset {end}")
    return bytes(out)


# --- encoding ------------------------------------------------------------------------------------

def _huffman_lengths(freqs: list[int], max_len: int = MAX_CODEWORD_LEN) -> list[int]:
    """Length-limited Huffman code lengths (complete code; at least two symbols get a code)."""
    used = [s for s, f in enumerate(freqs) if f]
    lens = [0] * len(freqs)
    if not used:
        return lens
    if len(used) == 1:  # a one-symbol code is incomplete; pair it with a dummy symbol
        lens[used[0]] = 1
        lens[1 if used[0] == 0 else 0] = 1
        return lens
    weights = {s: freqs[s] for s in used}
    while True:
        heap = [(w, s) for s, w in weights.items()]
        heapq.heapify(heap)
        parent: dict[int, int] = {}
        next_id = len(freqs)
        while len(heap) > 1:
            w1, a = heapq.heappop(heap)
            w2, b = heapq.heappop(heap)
            parent[a] = parent[b] = next_id
            heapq.heappush(heap, (w1 + w2, next_id))
            next_id += 1
        root = heap[0][1]
        depth: dict[int, int] = {root: 0}

        def depth_of(node: int) -> int:
            chain = []
            while node not in depth:
                chain.append(node)
                node = parent[node]
            dd = depth[node]
            for c in reversed(chain):
                dd += 1
                depth[c] = dd
            return dd

        result = {s: depth_of(s) for s in used}
        if max(result.values()) <= max_len:
            for s, ln in result.items():
                lens[s] = ln
            return lens
        # flatten the distribution and try again (converges: equal weights give depth <= 9)
        weights = {s: (w >> 1) | 1 for s, w in weights.items()}


def _canonical_codes(lens: list[int]) -> list[int]:
    codes = [0] * len(lens)
    code = 0
    prev = 0
    for ln, sym in sorted((ln, s) for s, ln in enumerate(lens) if ln):
        code <<= ln - prev
        codes[sym] = code
        code += 1
        prev = ln
    return codes


def _match_len(d: bytes, a: int, b: int, maxlen: int) -> int:
    """Length of the common prefix of d[a:] and d[b:], known to be >= 3, at most maxlen."""
    if maxlen <= 3 or d[a + 3] != d[b + 3]:
        return 3 if maxlen >= 3 else maxlen
    return _match_len_from(d, a, b, maxlen, 3)


def _parse(d: bytes, max_depth: int, nice: int, lazy: bool) -> tuple[list[int], list[int]]:
    """LZ77 parse with hash chains (exact 3-byte keys). Returns (items, symbol frequencies).

    An item is a literal byte (< 256) or sym | adjusted_len << 9 | log2_offset << 25 |
    offset_bits << 29 for a match (the layout wimlib uses).
    """
    n = len(d)
    freqs = [0] * NUM_SYMBOLS
    items: list[int] = []
    emit = items.append
    head: dict[bytes, int] = {}
    prev = [-1] * n
    last = n - MIN_MATCH_LEN   # last position where a match can start

    def find(i: int) -> tuple[int, int]:
        key = d[i:i + 3]
        j = head.get(key, -1)
        head[key] = i
        prev[i] = j
        best = 0
        best_off = 0
        maxlen = n - i
        depth = max_depth
        if j >= 0:
            best = _match_len(d, j, i, maxlen)
            best_off = i - j
            j = prev[j]
            depth -= 1
        while j >= 0 and depth and best < nice and best < maxlen:
            e = best + 1
            if d[j + best] == d[i + best] and d[j:j + e] == d[i:i + e]:
                best = _match_len_from(d, j, i, maxlen, best)
                best_off = i - j
            j = prev[j]
            depth -= 1
        return best, best_off

    i = 0
    pending: tuple[int, int] | None = None   # match found at i (lazy evaluation)
    while i < n:
        if i > last:
            c = d[i]
            emit(c)
            freqs[c] += 1
            i += 1
            continue
        if pending is None:
            length, offset = find(i)
        else:
            length, offset = pending
            pending = None
        if length < MIN_MATCH_LEN or (length == 3 and offset > 4096):
            c = d[i]
            emit(c)
            freqs[c] += 1
            i += 1
            continue
        if lazy and length < nice and i + 1 <= last:
            nlen, noff = find(i + 1)
            if nlen > length:
                c = d[i]
                emit(c)
                freqs[c] += 1
                i += 1
                pending = (nlen, noff)
                continue
            skip_from = i + 2
        else:
            skip_from = i + 1
        # record the match (wimlib's item layout)
        adj = length - MIN_MATCH_LEN
        log2 = offset.bit_length() - 1
        sym = NUM_CHARS + ((log2 << 4) | (adj if adj < 15 else 15))
        freqs[sym] += 1
        emit(sym | (adj << 9) | (log2 << 25) | ((offset ^ (1 << log2)) << 29))
        # insert the positions covered by the match (bounded for long runs)
        stop = min(i + length, last + 1, i + 64)
        for p in range(skip_from, stop):
            key = d[p:p + 3]
            prev[p] = head.get(key, -1)
            head[key] = p
        i += length
    return items, freqs


def _match_len_from(d: bytes, a: int, b: int, maxlen: int, known: int) -> int:
    """Common prefix length when the first ``known + 1`` bytes are known to match."""
    lo = known + 1
    if lo >= maxlen:
        return maxlen
    while True:
        k = lo << 1
        if k >= maxlen:
            if d[a:a + maxlen] == d[b:b + maxlen]:
                return maxlen
            hi = maxlen
            break
        if d[a:a + k] == d[b:b + k]:
            lo = k
        else:
            hi = k
            break
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if d[a:a + mid] == d[b:b + mid]:
            lo = mid
        else:
            hi = mid
    return lo


def xpress_compress(chunk: bytes, *, max_depth: int = 16, nice: int = 48,
                    lazy: bool = True) -> bytes | None:
    """Encode one chunk (at most 64 KiB); None when the result would not be smaller."""
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise TypeError("chunk must be bytes-like")
    d = bytes(chunk)
    n = len(d)
    if n > MAX_BLOCK_SIZE:
        raise XpressError(f"chunk of {n} bytes exceeds the XPRESS block maximum {MAX_BLOCK_SIZE}")
    if n <= TABLE_BYTES + 4:
        return None
    items, freqs = _parse(d, max_depth, nice, lazy)
    freqs[END_OF_DATA] += 1
    lens = _huffman_lengths(freqs)

    # exact size estimate before writing anything: bits, extra bytes, table, final zero word
    bits = 0
    extra_bytes = 0
    for s in range(NUM_SYMBOLS):
        if freqs[s]:
            bits += freqs[s] * lens[s]
            if s >= NUM_CHARS:
                bits += freqs[s] * ((s - NUM_CHARS) >> 4)
    for it in items:
        if it >= NUM_CHARS:
            adj = (it >> 9) & 0xFFFF
            if adj >= 15:
                extra_bytes += 3 if adj - 15 >= 255 else 1
    if TABLE_BYTES + 2 * ((bits + 15) // 16) + 2 + extra_bytes >= n:
        return None

    codes = _canonical_codes(lens)
    header = bytes((lens[2 * i + 1] << 4) | lens[2 * i] for i in range(TABLE_BYTES))

    # output bit stream with two reserved word slots ahead of the byte position (wimlib scheme)
    out = bytearray(4)
    nb1, nb2 = 0, 2
    bitbuf = 0
    bitcount = 0

    # The end-of-data symbol is written like a match item of symbol 256 with no extra bytes or bits.
    # The word flush after a code and after offset bits stays inline, not a helper function: a
    # call per flush measured 1-3% slower compression of text chunks.
    items.append(END_OF_DATA)
    for it in items:
        sym = it & 0x1FF
        ln = lens[sym]
        bitbuf = (bitbuf << ln) | codes[sym]
        bitcount += ln
        if bitcount > 16:
            bitcount -= 16
            w = bitbuf >> bitcount
            out[nb1] = w & 0xFF
            out[nb1 + 1] = w >> 8
            bitbuf &= (1 << bitcount) - 1
            nb1, nb2 = nb2, len(out)
            out += b"\0\0"
        if it < NUM_CHARS:
            continue
        adj = (it >> 9) & 0xFFFF
        if adj >= 15:
            b1 = adj - 15
            if b1 >= 255:
                out.append(255)
                out += adj.to_bytes(2, "little")
            else:
                out.append(b1)
        nbits = (it >> 25) & 0xF
        if nbits:
            bitbuf = (bitbuf << nbits) | (it >> 29)
            bitcount += nbits
            if bitcount > 16:
                bitcount -= 16
                w = bitbuf >> bitcount
                out[nb1] = w & 0xFF
                out[nb1 + 1] = w >> 8
                bitbuf &= (1 << bitcount) - 1
                nb1, nb2 = nb2, len(out)
                out += b"\0\0"
    # flush: the last partial word, and a zero word
    w = (bitbuf << (16 - bitcount)) & 0xFFFF
    out[nb1] = w & 0xFF
    out[nb1 + 1] = w >> 8
    out[nb2] = 0
    out[nb2 + 1] = 0
    result = header + bytes(out)
    if len(result) >= n:
        return None
    return result


class PythonXpressCodec:
    """The pure-Python chunk codec (always available)."""

    name = "python"

    def __init__(self, *, max_depth: int = 16, nice: int = 48, lazy: bool = True):
        self.max_depth = max_depth
        self.nice = nice
        self.lazy = lazy

    def compress(self, chunk: bytes) -> bytes | None:
        return xpress_compress(chunk, max_depth=self.max_depth, nice=self.nice, lazy=self.lazy)

    def decompress(self, data: bytes, out_size: int) -> bytes:
        return xpress_decompress(data, out_size)
