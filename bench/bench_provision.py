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

from _common import RESULTS, bench_dc, connect_dc, delete_computers, machine, tool_version, write_results
from netjoin import net_offlinejoin_provision

from ppkgtool.ad import ProvisionRequest
from ppkgtool.fsutil import write_bytes_atomic
from ppkgtool.odj import to_savefile


def run_interleaved(info, ours_names, net_names, outdir: Path, workers: int, chunks: int) -> tuple[float, float]:
    """(ppkgtool seconds, net seconds): the two sides alternate in chunks so that both see the same
    background load on this shared machine; ppkgtool's connect + bind + domain facts are counted."""
    size = max(1, -(-len(ours_names) // chunks))
    ours = net = 0.0
    t0 = time.perf_counter()
    with connect_dc(info, pool_size=workers, domain=info.dns_domain) as s:
        ours += time.perf_counter() - t0

        def one(name):
            s.provision(ProvisionRequest(machine=name),
                        deliver=lambda r: write_bytes_atomic(outdir / f"{name}.txt", to_savefile(r.blob),
                                                             private=True))
        with ThreadPoolExecutor(workers) as ex:
            for i in range(0, len(ours_names), size):
                t0 = time.perf_counter()
                list(ex.map(one, ours_names[i:i + size]))
                ours += time.perf_counter() - t0
                t0 = time.perf_counter()
                for name in net_names[i:i + size]:
                    net_offlinejoin_provision(info, outdir, name)
                net += time.perf_counter() - t0
    return ours, net


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="machines per side (default 200)")
    ap.add_argument("--runs", type=int, default=1, help="runs per side; medians are reported (default 1)")
    ap.add_argument("--workers", type=int, default=4, help="ppkgtool connection pool / threads (default 4)")
    ap.add_argument("--chunks", type=int, default=10,
                    help="alternate the two sides in this many chunks (default 10)")
    ap.add_argument("--out", default=str(RESULTS / "provision.md"))
    args = ap.parse_args()

    ours_t, samba_t = [], []
    with bench_dc() as info:
        for run in range(args.runs):
            tag = secrets.token_hex(2).upper()
            ours_names = [f"BO{tag}{i:04d}" for i in range(args.n)]
            net_names = [f"BN{tag}{i:04d}" for i in range(args.n)]
            with tempfile.TemporaryDirectory() as d:
                try:
                    o, n = run_interleaved(info, ours_names, net_names, Path(d), args.workers, args.chunks)
                    ours_t.append(o)
                    samba_t.append(n)
                finally:
                    delete_computers(info, ours_names + net_names)
            print(f"run {run + 1}: ppkgtool {ours_t[-1]:.2f}s, net offlinejoin {samba_t[-1]:.2f}s", file=sys.stderr)
    ours_med, samba_med = statistics.median(ours_t), statistics.median(samba_t)
    ours_rate, samba_rate = args.n / ours_med, args.n / samba_med
    ratio = ours_rate / samba_rate
    cmd = f"PPKGTOOL_TEST_DC=<dc dir> python bench/bench_provision.py -n {args.n} --runs {args.runs} --workers {args.workers} --chunks {args.chunks}"
    text = f"""## ODJ provisioning throughput (bench/bench_provision.py)

{args.n} computer accounts + djoin save files per side against the same Samba AD DC on loopback
(Samba {tool_version(['samba', '-V'])}), median of {args.runs} run(s). ppkgtool: `DirectorySession.provision` (the
library path of `odj provision` and `bulk`), {args.workers} pooled LDAPS connections and threads.
Peer: a shell-style loop of `net offlinejoin provision` (one process per machine). The two sides
alternate in {args.chunks} chunks so that both see the same background load.

| tool | median seconds | machines/second |
|---|---:|---:|
| ppkgtool | {ours_med:.2f} | {ours_rate:.1f} |
| `net offlinejoin provision` loop | {samba_med:.2f} | {samba_rate:.1f} |

Ratio: ppkgtool is **{ratio:.1f}x** Samba's loop (goal: >= 5x).
Machine: {machine()}; the DC runs on the same machine and its CPU use counts on both sides.
Command: `{cmd}`
"""
    write_results(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
