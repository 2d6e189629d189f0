#!/usr/bin/env python3
"""Provisioning throughput: ppkgtool (library path of `odj provision`/bulk) vs a loop of Samba's
`net offlinejoin provision`, against the same test DC, in the same run.

Each side provisions N machines (default 200) and writes a djoin-style save file per machine; the
accounts are deleted afterwards (not timed). ppkgtool uses DirectorySession with a small pool of bound
LDAPS connections and a thread pool, as the bulk command does. Writes bench/results/provision.md.

Usage: PPKGTOOL_TEST_DC=/tmp/devdc/dc python bench/bench_provision.py [-n 200] [--runs 1] [--workers 4]
(without PPKGTOOL_TEST_DC it provisions and starts a temporary DC, like the test suite).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import (RESULTS, bench_dc, connect_dc, dc_command_prefix, dc_description, delete_computers, machine,
                     samba_cpu_seconds, tool_version, write_results)
from netjoin import net_offlinejoin_provision

from ppkgtool.ad import ProvisionRequest
from ppkgtool.fsutil import write_bytes_atomic
from ppkgtool.odj import to_savefile


def run_interleaved(info, names: dict[str, list[str]], outdir: Path, workers: int, chunks: int) -> dict:
    """{side: (seconds, DC CPU seconds)} for the sides "windows", "compact" (ppkgtool with that
    password form) and "net": the sides alternate in chunks so that all see the same background load
    on this shared machine; ppkgtool's connect + bind + domain facts are counted."""
    n = len(names["net"])
    size = max(1, -(-n // chunks))
    spent = {side: [0.0, 0.0] for side in names}
    t0, c0 = time.perf_counter(), samba_cpu_seconds()
    with connect_dc(info, pool_size=workers, domain=info.dns_domain) as s:
        connect = time.perf_counter() - t0, samba_cpu_seconds() - c0
        for side in ("windows", "compact"):
            spent[side][0] += connect[0]
            spent[side][1] += connect[1]

        def one(name, form):
            s.provision(ProvisionRequest(machine=name, password_form=form),
                        deliver=lambda r: write_bytes_atomic(outdir / f"{name}.txt", to_savefile(r.blob),
                                                             private=True))

        def net(chunk):
            for name in chunk:
                net_offlinejoin_provision(info, outdir, name)

        with ThreadPoolExecutor(workers) as ex:
            for i in range(0, n, size):
                for side in ("windows", "compact", "net"):
                    chunk = names[side][i:i + size]
                    t0, c0 = time.perf_counter(), samba_cpu_seconds()
                    if side == "net":
                        net(chunk)
                    else:
                        list(ex.map(lambda nm: one(nm, side), chunk))
                    spent[side][0] += time.perf_counter() - t0
                    spent[side][1] += samba_cpu_seconds() - c0
    return {side: tuple(v) for side, v in spent.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="machines per side (default 200)")
    ap.add_argument("--runs", type=int, default=1, help="runs per side; medians are reported (default 1)")
    ap.add_argument("--workers", type=int, default=4, help="ppkgtool connection pool / threads (default 4)")
    ap.add_argument("--chunks", type=int, default=10,
                    help="alternate the two sides in this many chunks (default 10)")
    ap.add_argument("--out", default=str(RESULTS / "provision.md"))
    args = ap.parse_args()

    times: dict[str, list[float]] = {"windows": [], "compact": [], "net": []}
    dc: dict[str, list[float]] = {"windows": [], "compact": [], "net": []}
    with bench_dc() as info:
        for run in range(args.runs):
            tag = secrets.token_hex(2).upper()
            names = {"windows": [f"BO{tag}{i:04d}" for i in range(args.n)],
                     "compact": [f"BC{tag}{i:04d}" for i in range(args.n)],
                     "net": [f"BN{tag}{i:04d}" for i in range(args.n)]}
            with tempfile.TemporaryDirectory() as d:
                try:
                    for side, (t, c) in run_interleaved(info, names, Path(d), args.workers, args.chunks).items():
                        times[side].append(t)
                        dc[side].append(c)
                finally:
                    delete_computers(info, [n for v in names.values() for n in v])
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    dc_ms = {k: statistics.median(v) * 1e3 / args.n for k, v in dc.items()}
    rate = {k: args.n / v for k, v in med.items()}
    ratio = rate["windows"] / rate["net"]
    cmd = f"{dc_command_prefix()}python bench/bench_provision.py -n {args.n} --runs {args.runs} --workers {args.workers} --chunks {args.chunks}"
    text = f"""## ODJ provisioning throughput (bench/bench_provision.py)

{args.n} computer accounts + djoin save files per side against the same Samba AD DC on loopback
({dc_description()}; Samba {tool_version(['samba', '-V'])}), median of {args.runs} run(s). ppkgtool: `DirectorySession.provision` (the
library path of `odj provision` and `bulk`), {args.workers} pooled LDAPS connections and threads, with each
machine password form. Peer: a shell-style loop of `net offlinejoin provision` (one process per
machine, djoin-form passwords). The sides alternate in {args.chunks} chunks so that all see the same
background load. "DC CPU" is samba's CPU time over a side's chunks (from /proc), per account.

| tool | median seconds | machines/second | DC CPU ms/account |
|---|---:|---:|---:|
| ppkgtool, `--password-form windows` (the `odj provision` default) | {med['windows']:.2f} | {rate['windows']:.1f} | {dc_ms['windows']:.0f} |
| ppkgtool, `--password-form compact` (the `bulk` default) | {med['compact']:.2f} | {rate['compact']:.1f} | {dc_ms['compact']:.0f} |
| `net offlinejoin provision` loop | {med['net']:.2f} | {rate['net']:.1f} | {dc_ms['net']:.0f} |

Ratio (same password form as the peer): ppkgtool is **{ratio:.1f}x** Samba's loop (goal: >= 5x);
with compact passwords **{rate['compact'] / rate['net']:.1f}x**.
The DC creates accounts one at a time; most of its work per account is deriving the Kerberos keys
from the password with PBKDF2-HMAC-SHA1, which costs more for a password longer than one 64-byte
HMAC block (djoin's 120 UTF-16 characters are about 360 bytes of UTF-8; a compact one is 64).
Machine: {machine()}; the DC runs on the same machine and its CPU use counts on every side.
Command: `{cmd}`
"""
    write_results(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
