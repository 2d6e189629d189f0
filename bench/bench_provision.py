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
import os
import secrets
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from netjoin import net_offlinejoin_provision  # noqa: E402
from samba_dc import SambaDC  # noqa: E402

from ppkgtool.ad import Credentials, DcTarget, DirectorySession, ProvisionRequest  # noqa: E402
from ppkgtool.fsutil import write_bytes_atomic  # noqa: E402
from ppkgtool.odj import to_savefile  # noqa: E402


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores (nproc), {model}"


def run_interleaved(info, ours_names, net_names, outdir: Path, workers: int, chunks: int) -> tuple[float, float]:
    """(ppkgtool seconds, net seconds): the two sides alternate in chunks so that both see the same
    background load on this shared machine; ppkgtool's connect + bind + domain facts are counted."""
    target = DcTarget(name=info.dc_name, address=info.address, ca_file=info.ca_file)
    creds = Credentials(info.admin_user, info.admin_password)
    size = max(1, -(-len(ours_names) // chunks))
    ours = net = 0.0
    t0 = time.perf_counter()
    with DirectorySession.connect(target, creds, pool_size=workers, domain=info.dns_domain) as s:
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


def cleanup(info, names) -> None:
    target = DcTarget(name=info.dc_name, address=info.address, ca_file=info.ca_file)
    with DirectorySession.connect(target, Credentials(info.admin_user, info.admin_password), pool_size=4) as s:
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(s.delete_computer, names))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="machines per side (default 200)")
    ap.add_argument("--runs", type=int, default=1, help="runs per side; medians are reported (default 1)")
    ap.add_argument("--workers", type=int, default=4, help="ppkgtool connection pool / threads (default 4)")
    ap.add_argument("--chunks", type=int, default=10,
                    help="alternate the two sides in this many chunks (default 10)")
    ap.add_argument("--out", default=str(BENCH / "results" / "provision.md"))
    args = ap.parse_args()

    reuse = os.environ.get("PPKGTOOL_TEST_DC")
    dc = SambaDC(reuse or tempfile.mkdtemp(prefix="ppkgtool-bench-dc-"))
    if not dc.info_file.exists():
        dc.provision()
    dc.start()
    info = dc.info()
    ours_t, samba_t = [], []
    try:
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
                    cleanup(info, ours_names + net_names)
            print(f"run {run + 1}: ppkgtool {ours_t[-1]:.2f}s, net offlinejoin {samba_t[-1]:.2f}s", file=sys.stderr)
    finally:
        if not reuse:
            dc.stop()
    ours_med, samba_med = statistics.median(ours_t), statistics.median(samba_t)
    ours_rate, samba_rate = args.n / ours_med, args.n / samba_med
    ratio = ours_rate / samba_rate
    cmd = f"PPKGTOOL_TEST_DC=<dc dir> python bench/bench_provision.py -n {args.n} --runs {args.runs} --workers {args.workers} --chunks {args.chunks}"
    text = f"""## ODJ provisioning throughput (bench/bench_provision.py)

{args.n} computer accounts + djoin save files per side against the same Samba AD DC on loopback
(Samba {_samba_version()}), median of {args.runs} run(s). ppkgtool: `DirectorySession.provision` (the
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
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


def _samba_version() -> str:
    import subprocess
    try:
        return subprocess.run(["samba", "-V"], capture_output=True, text=True, timeout=30).stdout.strip().split()[-1]
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    sys.exit(main())
