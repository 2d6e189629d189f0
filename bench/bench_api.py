#!/usr/bin/env python3
"""The Python API (issue 20): N small per-device packages from one template through the API, against N
`ppkgtool build` processes building the same packages, in the same run.

Both sides build the same thing for every device: the example template (customizations/
customizations.xml, $(SITE)=Berlin) plus that device's ODJ blob (composed offline beforehand from
customizations/domain-facts.json, the same blobs for both), package and catalog, never over an
existing file.

- API: one ``ppkgtool.PackageBuilder.from_customizations`` (the settings model loaded once), then per
  device ``template.copy()``, ``add_odj(blob)``, ``write(path)``; one process.
- command: per device ``python -m ppkgtool build customizations.xml -o DEV.ppkg --odj DEV.txt
  --var SITE=Berlin``, one process each, one after the other, as a shell loop runs them.

Writes bench/results/api.md. Usage: python bench/bench_api.py [-n 1000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, ROOT, machine, write_results

import ppkgtool


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=1000, help="devices (default 1000)")
    args = ap.parse_args()
    template = ROOT / "customizations" / "customizations.xml"
    facts = json.loads((ROOT / "customizations" / "domain-facts.json").read_text())
    with tempfile.TemporaryDirectory(prefix="ppkgtool-bench-api-") as tmp:
        work = Path(tmp)
        names = [f"PC{i:05d}" for i in range(args.n)]
        blobs = {}
        for n in names:
            blobs[n] = ppkgtool.compose_odj(facts, n, ppkgtool.generate_machine_password())
            ppkgtool.save_odj(blobs[n], work / f"{n}.txt")

        api_out, cli_out = work / "api", work / "cli"
        api_out.mkdir()
        cli_out.mkdir()
        t0 = time.perf_counter()
        base = ppkgtool.PackageBuilder.from_customizations(template, variables={"SITE": "Berlin"})
        for n in names:
            device = base.copy()
            device.add_odj(blobs[n])
            device.write(api_out / f"{n}.ppkg")
        api_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        for n in names:
            subprocess.run([sys.executable, "-m", "ppkgtool", "build", str(template), "-o", str(cli_out / f"{n}.ppkg"),
                            "--odj", str(work / f"{n}.txt"), "--var", "SITE=Berlin"], check=True,
                           stdout=subprocess.DEVNULL)
        cli_s = time.perf_counter() - t0

        # the same packages: same files inside (the WIM GUID and timestamps differ run to run)
        a = ppkgtool.open_package(api_out / f"{names[0]}.ppkg").to_json()
        c = ppkgtool.open_package(cli_out / f"{names[0]}.ppkg").to_json()
        assert [f["path"] for f in a["files"]] == [f["path"] for f in c["files"]]
        assert len(list(api_out.glob("*.cat"))) == len(list(cli_out.glob("*.cat"))) == args.n
        size = (api_out / f"{names[0]}.ppkg").stat().st_size

    ratio = cli_s / api_s
    text = f"""## Python API: {args.n} per-device packages from one template (bench/bench_api.py)

Machine: {machine()}. The same {args.n} packages (example template + that device's ODJ blob, package
and catalog, {size} bytes each) built two ways in the same run:

| way | total | per package | packages/s |
| --- | ---: | ---: | ---: |
| API: `PackageBuilder.from_customizations` once, then `copy()`, `add_odj()`, `write()` per device | {api_s:.1f} s | {api_s / args.n * 1000:.1f} ms | {args.n / api_s:.1f} |
| {args.n} `ppkgtool build` processes, one after the other | {cli_s:.1f} s | {cli_s / args.n * 1000:.1f} ms | {args.n / cli_s:.1f} |

The API is **{ratio:.1f}×** faster (goal: at least 10×): a process pays interpreter start, imports and
loading the settings model every time; the API pays them once.
"""
    write_results(RESULTS / "api.md", text)
    return 0 if ratio >= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
