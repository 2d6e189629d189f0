#!/usr/bin/env python3
"""Building a package from customizations.xml: ppkgtool build vs the wimlib route the other
Linux builders take (craysiii/PackageStack and tolf-vpn-web lay out the tree, then capture it
with wimlib).

Peer, measured in the same run: `wimlib-imagex capture TREE OUT --compress=XPRESS` of the very
tree ppkgtool compiles (so the peer gets the compile for free and only does the container step,
with all threads). ppkgtool: `ppkgtool build` end to end (parse, catalogue, compile, WIM, .cat)
as a subprocess, and the library call build_package in-process.

Inputs: the three real packages' customizations.xml with their assets (real-ppkg fixtures;
wcd-gui-commands-msi carries 1.1 MB of MSIs, wcd-itadmin-rank52 45 settings and 2.3 MB of images).
Writes bench/results/build.md. Usage: python bench/bench_build.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import FIXTURES, RESULTS, machine, median_time, write_results

REAL_PPKG = FIXTURES / "real-ppkg"
PACKAGES = ["icd-cli-oobe", "wcd-gui-commands-msi", "wcd-itadmin-rank52"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not REAL_PPKG.is_dir() or shutil.which("wimlib-imagex") is None:
        print("needs ../shared/fixtures and wimlib-imagex", file=sys.stderr)
        return 1
    from ppkgtool.errors import CustomizationsError
    from ppkgtool.package.builder import BuildOptions, build_package, build_tree_only
    from ppkgtool.package.store import builtin_builds
    ppkgtool = str(Path(sys.executable).with_name("ppkgtool"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in PACKAGES:
            src = tmp / name / "src"
            src.parent.mkdir(parents=True)
            subprocess.run(["wimlib-imagex", "extract", str(REAL_PPKG / f"{name}.ppkg"), "1", f"--dest-dir={src}"],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assets = tmp / name / "assets"
            assets.mkdir()
            for f in src.rglob("*"):
                if f.is_file() and f.parent.parent.parent.name == "DataAsset":
                    shutil.copy(f, assets / f.name)
            cust = src / "Multivariant/0/customizations.xml"
            # the first shipped settings model (WCD build) that accepts the package: real packages come
            # from several WCD builds, and a value one build allows another may not
            for store_build in builtin_builds():
                opts = BuildOptions(asset_dir=assets, overwrite=True, store_build=store_build)
                try:
                    tree = build_tree_only(cust, opts)      # the compiled tree on disk, for the peer
                    break
                except CustomizationsError:
                    continue
            else:
                raise SystemExit(f"{name}: no shipped settings model accepts it")
            lay = tmp / name / "tree"
            for p, v in tree.files.items():
                q = lay / p
                q.parent.mkdir(parents=True, exist_ok=True)
                q.write_bytes(v if isinstance(v, bytes) else Path(v).read_bytes())
            out = tmp / name / "out.ppkg"
            peer_out = tmp / name / "peer.ppkg"

            def peer():
                subprocess.run(["wimlib-imagex", "capture", str(lay), str(peer_out), name, "--compress=XPRESS"],
                               check=True, stdout=subprocess.DEVNULL)
                peer_out.unlink()

            def cli():
                subprocess.run([ppkgtool, "build", str(cust), "-o", str(out), "--asset-dir", str(assets),
                                "--store-build", store_build, "--overwrite"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def lib():
                build_package(cust, out, opts)

            t_peer, t_cli, t_lib = (median_time(peer, args.runs), median_time(cli, args.runs),
                                     median_time(lib, args.runs))
            size = out.stat().st_size
            rows.append((f"{name} ({store_build})", len(tree.settings), size, t_peer, t_cli, t_lib))
            print(f"{name}: peer {t_peer*1000:.0f} ms, ppkgtool build {t_cli*1000:.0f} ms, library {t_lib*1000:.0f} ms")
    lines = ["# Build: customizations.xml -> .ppkg", "",
             f"Machine: {machine()}. Medians of {args.runs} runs each, measured in the same run.", "",
             "Peer: `wimlib-imagex capture TREE OUT NAME --compress=XPRESS` of the tree ppkgtool compiled (the "
             "container step only; the peer gets the compile for free). ppkgtool: the whole build "
             "(parse, catalogue match, compile, WIM, .cat) as the CLI (process start included) and as the library call.",
             "", "| package | settings | package bytes | wimlib capture (ms) | ppkgtool build CLI (ms) | build_package (ms) "
             "| library / wimlib |", "|---|---|---|---|---|---|---|"]
    for name, n, size, tp, tc, tl in rows:
        lines.append(f"| {name} | {n} | {size} | {tp*1000:.0f} | {tc*1000:.0f} | {tl*1000:.0f} | {tl/tp:.2f} |")
    lines += ["", f"Command: `{sys.executable} bench/bench_build.py --runs {args.runs}`", ""]
    write_results(RESULTS / "build.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
