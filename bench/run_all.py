#!/usr/bin/env python3
"""Run every benchmark under bench/ and assemble bench/RESULTS.md from bench/results/*.md.

Each bench/bench_*.py compares ppkgtool with the peer its issue names, in the same run, and
writes its own bench/results/<topic>.md (bench_settings.py, the settings model, has no peer: icd.exe
cannot run here, so it reports absolute figures). Usage: python bench/run_all.py [--only NAME ...] [--assemble-only]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

from _common import BENCH, RESULTS, machine


#: Sections shown first: the commands as users run them (the headline); the others break them down.
HEADLINE = ("commands.md",)


def assemble() -> Path:
    parts = sorted(RESULTS.glob("*.md"), key=lambda p: (p.name not in HEADLINE, p.name))
    out = ["# Benchmark results", "",
           f"Assembled {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} by `python bench/run_all.py`.",
           f"Machine: {machine()}.", "",
           "Each section is written by its own script (named in the section), which runs ppkgtool and the",
           "peer its issue names in the same run and reports medians and ratios. The first section is the",
           "headline: the commands as whole processes (bench/bench_commands.py); the library rows of the",
           "others break them down.", ""]
    for p in parts:
        out.append(p.read_text().rstrip())
        out.append("")
    target = BENCH / "RESULTS.md"
    target.write_text("\n".join(out) + "\n")
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", help="bench script stems to run (e.g. bench_wim)")
    ap.add_argument("--assemble-only", action="store_true")
    args = ap.parse_args()
    rc = 0
    if not args.assemble_only:
        scripts = sorted(BENCH.glob("bench_*.py"))
        if args.only:
            scripts = [s for s in scripts if s.stem in args.only]
        for s in scripts:
            print(f"== {s.name}", flush=True)
            r = subprocess.run([sys.executable, str(s)], cwd=BENCH.parent)
            rc = rc or r.returncode
    print(f"wrote {assemble()}")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
