#!/usr/bin/env python3
"""The commands as users run them (issue 19): `ppkgtool pack`, `extract`, `build`, `encrypt` and
`decrypt` as whole processes against wimlib-imagex / openssl, alternating in one run.

Scenarios (each side a fresh process per run, outputs deleted between runs, inputs in the page
cache; the order of the two sides alternates from run to run; medians and min-max of --runs):
  pack     `ppkgtool pack TREE -o out.ppkg` of a 256 MiB tree (three 64 MiB random files and
           64 MiB of text lines) vs `wimlib-imagex capture TREE w.wim NAME --compress=XPRESS
           --chunk-size=32768 --rpfix --no-acls`; goal <= 0.5x the time at <= 1.02x the size.
  extract  `ppkgtool extract out.ppkg DIR` vs `wimlib-imagex extract w.wim 1 --dest-dir=DIR
           --no-acls`; goal <= 0.7x. The two trees must be identical.
  build    `ppkgtool build customizations.xml -o b.ppkg --asset-dir A` (with its .cat) of a
           template with one 64 MiB asset (3/4 incompressible) vs `wimlib-imagex capture` of the
           tree ppkgtool compiles, then `sha1sum` and `sha256sum` of the result (what the catalog
           needs); goal <= 0.6x.
  encrypt  `ppkgtool encrypt P -o E --password-file F` of a 256 MiB package vs `openssl enc
           -aes-128-cbc -nopad -K .. -iv .. -in P -out E` alone (no MAC, no fsync); goal <= 1.0x.
  decrypt  `ppkgtool decrypt E -o P --password-file F` vs `openssl enc -d ...`; goal <= 1.0x.

ppkgtool runs from its console script with its bytecode cached (PYTHONPYCACHEPREFIX in the work
folder, one untimed warm-up run), as an installed package runs; every ppkgtool output is written
atomically and fsync'd (file and folder), the peers' outputs are not. Checks: wimlib-imagex verify
of the packages, identical extraction, the printed digests against sha1sum/sha256sum, the catalog
against them, and encrypt -> decrypt giving the input back.

Usage: .venv/bin/python bench/bench_commands.py [--runs 7] [--mib 256] [--asset-mib 64]
Writes bench/results/commands.md (bench/run_all.py puts it first in bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import RESULTS, machine, tool_version, write_results

from bench_wim import MIB, text_bytes
from bulk_template import make_template

PASSWORD = "Bench-Password16"
KEY_HEX = PASSWORD.encode("ascii").ljust(16, b"\0").hex()
IV_HEX = "000102030405060708090a0b0c0d0e0f"


def make_pack_tree(root: Path, mib: int) -> None:
    """Three random files and text lines, a quarter each (the tree of issue 19)."""
    rng = random.Random(3)
    quarter = mib * MIB // 4

    def put(rel: str, data: bytes) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    for i in range(3):
        put(f"DataAsset/2/{i}_asset/app{i}.msi", rng.randbytes(quarter))
    put("Multivariant/0/Prov/RunTime/0__Setting.provxml", text_bytes(quarter, rng))
    put("Multivariant/0/MasterDatastore.xml",
        b"\xef\xbb\xbf<ConfigurationSourceList><Source Path=\"$(_prov)\\RunTime.xml\"/></ConfigurationSourceList>")


def make_plain_package(path: Path, size: int) -> None:
    """A WIM-shaped file of random data (what encrypt accepts), a multiple of 16 bytes for openssl -nopad."""
    head = b"MSWIM\0\0\0" + struct.pack("<IIII", 208, 0x00010D00, 0x00020082, 32768)
    with open(path, "wb") as fh:
        fh.write(head + os.urandom(MIB - len(head)))
        left = size - MIB
        while left:
            n = min(left, 16 * MIB)
            fh.write(os.urandom(n))
            left -= n


def run(argv: list, env: dict | None = None, stdout=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], stdout=stdout, stderr=subprocess.PIPE, env=env)
    if r.returncode:
        raise SystemExit(f"{argv[0]} {argv[1]} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
    return r


def remove(*paths: Path) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
        cat = p.with_suffix(".cat")          # build's catalog beside its package
        if p.suffix == ".ppkg" and cat.exists():
            cat.unlink()


def warm(*paths: Path) -> None:
    """Read files into the page cache (both sides start from cached inputs)."""
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(8 << 20):
                pass


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def alternate(ours, peer, cleanup, runs: int) -> tuple[list[float], list[float]]:
    """``runs`` timings of each side; the side that goes first alternates from run to run."""
    a, b = [], []
    for i in range(runs):
        order = ((ours, a), (peer, b)) if i % 2 == 0 else ((peer, b), (ours, a))
        for fn, acc in order:
            cleanup()
            acc.append(timed(fn))
    cleanup()
    return a, b


def fmt(ts: list[float]) -> str:
    return f"{statistics.median(ts):.3f} ({min(ts):.3f}-{max(ts):.3f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--mib", type=int, default=256, help="size of the pack tree and of the encrypted package")
    ap.add_argument("--asset-mib", type=int, default=64, help="size of the build asset")
    ap.add_argument("--only", nargs="*", choices=["pack", "extract", "build", "encrypt", "decrypt"])
    ap.add_argument("--output", default=str(RESULTS / "commands.md"))
    args = ap.parse_args()
    for tool in ("wimlib-imagex", "openssl", "sha1sum", "sha256sum"):
        if not shutil.which(tool):
            print(f"{tool} is required", file=sys.stderr)
            return 2
    only = set(args.only or ["pack", "extract", "build", "encrypt", "decrypt"])
    script = Path(sys.executable).with_name("ppkgtool")
    ppkgtool = [script] if script.exists() else [sys.executable, "-m", "ppkgtool"]
    work = Path(tempfile.mkdtemp(prefix="ppkgtool-bench-cmd-", dir=os.environ.get("BENCH_TMP")))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    rows: list[tuple] = []
    checks: list[str] = []
    try:
        run([*ppkgtool, "--help"], env)         # bytecode compiled once, as pip does on install
        tree, pkg, wim = work / "tree", work / "out.ppkg", work / "w.wim"
        make_pack_tree(tree, args.mib)
        if only & {"pack", "extract"}:
            ours_pack = [*ppkgtool, "pack", tree, "-o", pkg]
            peer_pack = ["wimlib-imagex", "capture", tree, wim, "NAME", "--compress=XPRESS", "--chunk-size=32768",
                         "--rpfix", "--no-acls"]
            run(ours_pack, env)                 # warm-up (and the package extract reads)
            run(peer_pack)
            if "pack" in only:
                ta, tb = alternate(lambda: run(ours_pack, env), lambda: run(peer_pack),
                                   lambda: (remove(pkg, wim), warm(*tree.rglob("*.*"))), args.runs)
                run(peer_pack)
                doc = json.loads(run([*ppkgtool, "pack", tree, "-o", pkg, "--json"], env,
                                     stdout=subprocess.PIPE).stdout)
                size, peer_size = pkg.stat().st_size, wim.stat().st_size
                digest_ok = doc["sha256"] == run(["sha256sum", pkg], stdout=subprocess.PIPE).stdout.split()[0].decode()
                run(["wimlib-imagex", "verify", pkg])
                rows.append((f"`pack` {args.mib} MiB tree (3/4 random, 1/4 text)", "`wimlib-imagex capture`", ta, tb,
                             "<= 0.5", f"size {size} vs {peer_size} = {size / peer_size:.4f}x (goal <= 1.02); "
                             f"printed sha256 = sha256sum: {digest_ok}; wimlib-imagex verify passes"))
            if "extract" in only:
                if not pkg.exists():
                    run(ours_pack, env)
                if not wim.exists():
                    run(peer_pack)
                xo, xw = work / "x-ours", work / "x-wimlib"
                ta, tb = alternate(lambda: run([*ppkgtool, "extract", pkg, xo], env),
                                   lambda: run(["wimlib-imagex", "extract", wim, "1", f"--dest-dir={xw}", "--no-acls"]),
                                   lambda: (remove(xo, xw), warm(pkg, wim)), args.runs)
                run([*ppkgtool, "extract", pkg, xo], env)
                run(["wimlib-imagex", "extract", wim, "1", f"--dest-dir={xw}", "--no-acls"])
                same = subprocess.run(["diff", "-r", str(xo), str(xw)], capture_output=True).returncode == 0
                remove(xo, xw)
                rows.append((f"`extract` of that package ({pkg.stat().st_size} bytes)", "`wimlib-imagex extract`",
                             ta, tb, "<= 0.7", f"extracted trees identical: {same}"))
            remove(pkg, wim)

        if "build" in only:
            template, assets = make_template(work / "tpl", asset_size=args.asset_mib * MIB, incompressible=0.75)
            bpkg, bwim, lay = work / "b.ppkg", work / "b.wim", work / "compiled"
            build = [*ppkgtool, "build", template, "-o", bpkg, "--asset-dir", assets, "--var", "SITE=Berlin"]
            # the peer gets the compiled tree for free: lay it out once
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from ppkgtool.package.builder import BuildOptions, build_tree_only
            compiled = build_tree_only(template, BuildOptions(asset_dir=assets, variables={"SITE": "Berlin"}))
            for p, v in compiled.files.items():
                q = lay / p
                q.parent.mkdir(parents=True, exist_ok=True)
                q.write_bytes(v if isinstance(v, bytes) else Path(v).read_bytes())

            def peer_build():
                run(["wimlib-imagex", "capture", lay, bwim, "NAME", "--compress=XPRESS", "--chunk-size=32768",
                     "--rpfix", "--no-acls"])
                run(["sha1sum", bwim])
                run(["sha256sum", bwim])

            run(build, env)
            ta, tb = alternate(lambda: run(build, env), peer_build,
                               lambda: (remove(bpkg, bwim), warm(*assets.iterdir(), *[p for p in lay.rglob("*") if p.is_file()])),
                               args.runs)
            doc = json.loads(run([*build, "--json"], env, stdout=subprocess.PIPE).stdout)
            from ppkgtool.security.catalog import parse_catalog
            sha1 = run(["sha1sum", bpkg], stdout=subprocess.PIPE).stdout.split()[0].decode()
            sha256 = run(["sha256sum", bpkg], stdout=subprocess.PIPE).stdout.split()[0].decode()
            listed = {m.tag.hex() for m in parse_catalog(Path(doc["catalog"]).read_bytes()).members}
            run(["wimlib-imagex", "verify", bpkg])
            peer_build()
            size, peer_size = bpkg.stat().st_size, bwim.stat().st_size
            rows.append((f"`build` customizations.xml + one {args.asset_mib} MiB asset (3/4 incompressible), with "
                         "its .cat", "`wimlib-imagex capture` of the compiled tree + `sha1sum` + `sha256sum`", ta, tb,
                         "<= 0.6", f"size {size} vs {peer_size} = {size / peer_size:.4f}x; printed digests = "
                         f"sha1sum/sha256sum: {doc['sha1'] == sha1 and doc['sha256'] == sha256}; catalog lists "
                         f"them: {listed == {sha1, sha256}}"))
            remove(bpkg, bwim)

        if only & {"encrypt", "decrypt"}:
            plain, enc, dec, pw = work / "plain.ppkg", work / "enc.ppkg", work / "dec.ppkg", work / "pw"
            make_plain_package(plain, args.mib * MIB)
            pw.write_text(PASSWORD)
            oenc, odec = work / "ossl.enc", work / "ossl.dec"
            ossl = ["openssl", "enc", "-aes-128-cbc", "-nopad", "-K", KEY_HEX, "-iv", IV_HEX]
            ours_enc = [*ppkgtool, "encrypt", plain, "-o", enc, "--password-file", pw]
            run(ours_enc, env)
            run([*ossl, "-in", plain, "-out", oenc])
            if "encrypt" in only:
                ta, tb = alternate(lambda: run(ours_enc, env), lambda: run([*ossl, "-in", plain, "-out", oenc]),
                                   lambda: (remove(enc, oenc), warm(plain)), args.runs)
                rows.append((f"`encrypt` {args.mib} MiB package (AES-128-CBC + HMAC-SHA256, fsync'd)",
                             "`openssl enc -aes-128-cbc` (no MAC, no fsync)", ta, tb, "<= 1.0", ""))
            run(ours_enc, env)
            run([*ossl, "-in", plain, "-out", oenc])
            ours_dec = [*ppkgtool, "decrypt", enc, "-o", dec, "--password-file", pw]
            if "decrypt" in only:
                ta, tb = alternate(lambda: run(ours_dec, env), lambda: run([*ossl, "-d", "-in", oenc, "-out", odec]),
                                   lambda: (remove(dec, odec), warm(enc, oenc)), args.runs)
                run(ours_dec, env)
                data, want = dec.read_bytes(), plain.read_bytes()   # P plus Windows' 0-159 zero bytes
                same = data[:len(want)] == want and not data[len(want):].strip(b"\0") and len(data) - len(want) < 160
                rows.append((f"`decrypt` of it (HMAC checked)", "`openssl enc -d -aes-128-cbc` (no MAC, no fsync)",
                             ta, tb, "<= 1.0", f"decrypt(encrypt(P)) = P: {same}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = ["## The commands, as whole processes (bench/bench_commands.py)", "",
             f"Machine: {machine()}. Peers: wimlib-imagex {tool_version(['wimlib-imagex', '--version'], field=1)}, "
             f"OpenSSL {tool_version(['openssl', 'version'], field=1)}, coreutils sha1sum/sha256sum, measured in the "
             "same run.",
             f"Command: `.venv/bin/python bench/bench_commands.py --runs {args.runs} --mib {args.mib} --asset-mib "
             f"{args.asset_mib}`. Each side runs as a fresh process, alternating (the side that goes first "
             f"changes every run); seconds are medians of {args.runs} runs with min-max; inputs are in the page "
             "cache, outputs are removed between runs. ppkgtool is its console script with bytecode cached "
             "(as installed); its outputs are written atomically and fsync'd (file and folder), the peers' are "
             "not.", "",
             "| command | peer | ppkgtool s (min-max) | peer s (min-max) | ratio ours/peer | goal | checks |",
             "|---|---|---:|---:|---:|---|---|"]
    for name, peer, ta, tb, goal, note in rows:
        ratio = statistics.median(ta) / statistics.median(tb)
        lines.append(f"| {name} | {peer} | {fmt(ta)} | {fmt(tb)} | {ratio:.2f} | {goal} | {note} |")
    lines += ["", "The library rows of the other sections (wim.md, crypto.md, build.md) break these down."]
    lines.extend(f"- {c}" for c in checks)
    write_results(args.output, "\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
