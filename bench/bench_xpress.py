#!/usr/bin/env python3
"""XPRESS Huffman chunk-codec throughput: ppkgtool's native path, its pure-Python path, and wimlib.

Peers, measured in the same run:
  * wimlib called directly (one compressor, one thread, no facade): the cost of the C codec itself;
  * wimlib-imagex capture/apply of the same bytes as one file (--compress=XPRESS, all threads).
ppkgtool paths: compress_chunks/decompress_chunks with the native codec (threads on all cores,
incompressible chunks skipped), and with the pure-Python codec (serial, smaller sample).

Data: a mix like the WIM capture benchmark's tree: 3/4 incompressible (random bytes), 1/4 text
(lines of a real Windows Configuration Designer log, shuffled). Informative: the capture/read goals
are checked by the WIM benchmark. Writes bench/results/xpress.md.

Usage: python bench/bench_xpress.py [--mib 32] [--pure-mib 1] [--runs 5]
"""

from __future__ import annotations

import argparse
import ctypes
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import FIXTURES, RESULTS, machine, median_time, write_results

from ppkgtool.wim import native
from ppkgtool.wim.compression import CHUNK_SIZE, compress_chunks, decompress_chunks, get_codec, native_available
from ppkgtool.wim.xpress import PythonXpressCodec

LOG = FIXTURES / "real-ppkg" / "wcd-itadmin-rank52.ICD.log"


def make_data(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    if LOG.exists():
        lines = LOG.read_bytes().splitlines(keepends=True)
    else:  # fixtures absent: synthetic text
        words = [b"Provisioning", b"package", b"setting", b"value", b"=", b"Info", b"\r\n"]
        lines = [b" ".join(rng.choice(words) for _ in range(12)) + b"\r\n" for _ in range(5000)]
    text = bytearray()
    while len(text) < size // 4:
        text += rng.choice(lines)
    text = bytes(text[:size // 4])
    rand = rng.randbytes(size - len(text))
    # interleave in 1 MiB pieces so both kinds are spread over the stream like files in a tree
    out = bytearray()
    piece = 1 << 20
    ti = ri = 0
    while ti < len(text) or ri < len(rand):
        out += rand[ri:ri + 3 * piece]
        ri += 3 * piece
        out += text[ti:ti + piece]
        ti += piece
    return bytes(out)


def chunks_of(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]


def wimlib_direct(chunks: list[bytes]):
    """wimlib's XPRESS compressor, one thread, every chunk attempted (no skipping)."""
    lib = native.load_libwim()
    handle = ctypes.c_void_p()
    assert lib.wimlib_create_compressor(1, CHUNK_SIZE, 0, ctypes.byref(handle)) == 0
    dhandle = ctypes.c_void_p()
    assert lib.wimlib_create_decompressor(1, CHUNK_SIZE, ctypes.byref(dhandle)) == 0
    buf = ctypes.create_string_buffer(CHUNK_SIZE)
    obuf = ctypes.create_string_buffer(CHUNK_SIZE)

    def compress():
        out = []
        for c in chunks:
            n = lib.wimlib_compress(c, len(c), buf, len(c) - 1, handle)
            out.append(ctypes.string_at(buf, n) if n else None)
        return out

    def decompress(items):
        for data, size in items:
            if len(data) != size:
                assert lib.wimlib_decompress(data, len(data), obuf, size, dhandle) == 0
    return compress, decompress, lambda: (lib.wimlib_free_compressor(handle),
                                         lib.wimlib_free_decompressor(dhandle))


def stored_size(chunks, out) -> int:
    return sum(len(c) if z is None else len(z) for c, z in zip(chunks, out))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=32, help="data size for native/wimlib (MiB)")
    ap.add_argument("--pure-mib", type=float, default=1.0, help="data size for pure Python (MiB)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not native_available():
        print("libwim is not installed: the native and wimlib columns need it", file=sys.stderr)
        return 1
    data = make_data(args.mib << 20)
    chunks = chunks_of(data)
    mib = len(data) / (1 << 20)
    nat = get_codec("native")
    rows = []

    # ppkgtool native: threads, skip incompressible
    out_nat = compress_chunks(chunks, nat)
    t_nat_c = median_time(lambda: compress_chunks(chunks, nat), args.runs)
    items = [(c if z is None else z, len(c)) for c, z in zip(chunks, out_nat)]
    t_nat_d = median_time(lambda: decompress_chunks(items, nat), args.runs)

    # wimlib direct, one thread, no skipping
    comp, decomp, free = wimlib_direct(chunks)
    out_w = comp()
    t_w_c = median_time(comp, args.runs)
    witems = [(c if z is None else z, len(c)) for c, z in zip(chunks, out_w)]
    t_w_d = median_time(lambda: decomp(witems), args.runs)
    free()

    # wimlib-imagex capture/apply of the same bytes as one file
    t_cap = t_apply = None
    wim_bytes = None
    if shutil.which("wimlib-imagex"):
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp, "src")
            src.mkdir()
            (src / "data.bin").write_bytes(data)
            wim = Path(tmp, "x.wim")
            cap = ["wimlib-imagex", "capture", str(src), str(wim), "--compress=XPRESS",
                   "--chunk-size=32768", "--no-acls"]

            def capture():
                wim.unlink(missing_ok=True)
                subprocess.run(cap, check=True, capture_output=True)
            t_cap = median_time(capture, args.runs)
            wim_bytes = wim.stat().st_size
            dest = Path(tmp, "dest")

            def apply():
                shutil.rmtree(dest, ignore_errors=True)
                subprocess.run(["wimlib-imagex", "apply", str(wim), "1", str(dest), "--no-acls"],
                               check=True, capture_output=True)
            t_apply = median_time(apply, args.runs)

    # pure Python on a smaller sample (same mix)
    pdata = make_data(int(args.pure_mib * (1 << 20)), seed=2)
    pchunks = chunks_of(pdata)
    pmib = len(pdata) / (1 << 20)
    py = PythonXpressCodec()
    pruns = max(1, min(3, args.runs))
    out_py = compress_chunks(pchunks, py, workers=1)
    t_py_c = median_time(lambda: compress_chunks(pchunks, py, workers=1), pruns)
    pitems = [(c if z is None else z, len(c)) for c, z in zip(pchunks, out_py)]
    t_py_d = median_time(lambda: decompress_chunks(pitems, py, workers=1), pruns)
    # the text quarter alone: pure-Python work per compressible MiB
    ptext = [c for c, z in zip(pchunks, out_py) if z is not None]
    tmib = sum(map(len, ptext)) / (1 << 20)
    t_py_tc = median_time(lambda: [py.compress(c) for c in ptext], pruns)
    ptitems = [(z, len(c)) for c, z in zip(pchunks, out_py) if z is not None]
    t_py_td = median_time(lambda: [py.decompress(z, n) for z, n in ptitems], pruns)
    # ratio of pure vs wimlib on the same compressible chunks
    wsize = stored_size(ptext, [nat.compress(c) for c in ptext])
    psize = stored_size(ptext, [py.compress(c) for c in ptext])

    def mbs(size_mib, t):
        return f"{size_mib / t:,.1f} MiB/s"

    rows.append(("ppkgtool native compress_chunks (threads, skip incompressible)", mib, t_nat_c,
                 stored_size(chunks, out_nat)))
    rows.append(("wimlib direct compress (1 thread, every chunk)", mib, t_w_c,
                 stored_size(chunks, out_w)))
    if t_cap is not None:
        rows.append(("wimlib-imagex capture --compress=XPRESS (whole tool; stored = .wim size)",
                     mib, t_cap, wim_bytes))
    rows.append(("ppkgtool native decompress_chunks (threads)", mib, t_nat_d, None))
    rows.append(("wimlib direct decompress (1 thread)", mib, t_w_d, None))
    if t_apply is not None:
        rows.append(("wimlib-imagex apply (whole tool)", mib, t_apply, None))
    rows.append(("ppkgtool pure compress_chunks (serial, mix)", pmib, t_py_c,
                 stored_size(pchunks, out_py)))
    rows.append(("ppkgtool pure decompress_chunks (serial, mix)", pmib, t_py_d, None))
    rows.append(("ppkgtool pure compress, text chunks only", tmib, t_py_tc, psize))
    rows.append(("ppkgtool pure decompress, text chunks only", tmib, t_py_td, None))

    cmd = f"python bench/bench_xpress.py --mib {args.mib} --pure-mib {args.pure_mib} --runs {args.runs}"
    lines = ["## XPRESS chunk codec (bench/bench_xpress.py)", "",
             f"Machine: {machine()}. Command: `{cmd}`. Medians of {args.runs} runs "
             f"({pruns} for pure Python). Data: 3/4 random, 1/4 shuffled lines of a real WCD log, "
             f"{mib:.0f} MiB (pure Python: {pmib:.2f} MiB). Informative; the capture/read goals "
             "are measured by the WIM benchmark.", "",
             "| path | MiB | median s | throughput | stored bytes |",
             "|---|---:|---:|---:|---:|"]
    for name, size, t, stored in rows:
        lines.append(f"| {name} | {size:.2f} | {t:.3f} | {mbs(size, t)} | "
                     f"{'' if stored is None else f'{stored:,}'} |")
    lines += ["",
              f"- native compress_chunks / wimlib direct (time): {t_nat_c / t_w_c:.2f}x; "
              f"stored size ratio {stored_size(chunks, out_nat) / stored_size(chunks, out_w):.4f}",
              f"- native decompress_chunks / wimlib direct (time): {t_nat_d / t_w_d:.2f}x"]
    if t_cap is not None:
        lines.append(f"- native compress_chunks / wimlib-imagex capture (time): {t_nat_c / t_cap:.2f}x")
    lines += [f"- pure-Python output size / wimlib on the same text chunks: {psize / wsize:.3f}",
              ""]
    write_results(RESULTS / "xpress.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
