#!/usr/bin/env python3
"""Bulk: 200 devices (account + blob + per-device package with a shared 64 MiB asset), ppkgtool vs the
way a user does it today without this tool, against the same test DC, in the same run.

- ppkgtool: `ppkgtool bulk devices.csv --template T --out DIR ...` as a user runs it (one process,
  everything included: connect, accounts, blobs, packages, journal, summary), three ways:
  (a) `--no-catalog`: the peer's outputs (accounts, blobs, packages) - the goal's comparison;
  (b) the same with `--password-form windows` (djoin's 120-character passwords, as the peer's);
  (c) the default, which also writes each package's catalog (SHA-1 and SHA-256 of the package).
- peer: a loop, per device, of Samba's `net offlinejoin provision` (account + save file) and
  `wimlib-imagex capture --compress=XPRESS --chunk-size=32768` of the same package tree with that
  device's blob in it (no catalog, no journal, no fsync).
- also: packages/second for building alone (library, blob given) with the shared asset.
The asset is MSI-like: 3/4 incompressible (the CAB streams), 1/4 text. Writes bench/results/bulk.md.

Usage: PPKGTOOL_TEST_DC=/tmp/devdc/dc python bench/bench_bulk.py [-n 200] [--asset-mib 64]
(without PPKGTOOL_TEST_DC it provisions and starts a temporary DC, like the test suite).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import (RESULTS, bench_dc, dc_command_prefix, dc_description, delete_computers, machine,
                     samba_cpu_seconds, write_results)
from bulk_template import make_template
from certs import make_pki
from netjoin import net_offlinejoin_provision


def payload_args(work: Path) -> list[str]:
    from ppkgtool.regpol import PolicyValue, build_registry_pol
    pki = make_pki(work / "pki")
    pol = work / "Registry.pol"
    pol.write_bytes(build_registry_pol([PolicyValue.dword(r"Software\Policies\Example", "Kiosk", 1)]))
    return ["--root-cert", str(pki.root_pem), "--ca-cert", str(pki.intermediate_pem), "--policy", str(pol)]


def run_ours(info, names, template, assets, payload, work: Path, parallel: int,
             extra: tuple[str, ...] = ()) -> tuple[float, int]:
    """(seconds, size of one package)."""
    csv = work / "devices.csv"
    csv.write_text("name,var:SITE\n" + "".join(f"{n},Berlin\n" for n in names))
    out = work / "ours"
    cmd = [sys.executable, "-m", "ppkgtool", "bulk", str(csv), "--template", str(template), "--out", str(out),
           "--domain", info.dns_domain, "--dc", info.dc_name, "--dc-address", info.address,
           "--ca-file", info.ca_file, "--user", info.admin_user, "--password-file", info.admin_password_file(),
           "--asset-dir", str(assets), "--parallel", str(parallel), *payload, *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    packages = list(out.glob("*.ppkg"))
    assert len(packages) == len(names)
    size = packages[0].stat().st_size
    shutil.rmtree(out)
    return elapsed, size


def run_peer(info, names, tree: Path, blob_rel: str, work: Path) -> float:
    out = work / "peer"
    out.mkdir()
    t0 = time.perf_counter()
    for name in names:
        save = net_offlinejoin_provision(info, work / "net", name)
        shutil.copyfile(save, tree / blob_rel)
        subprocess.run(["wimlib-imagex", "capture", str(tree), str(out / f"{name}.ppkg"), name,
                        "--compress=XPRESS", "--chunk-size=32768", "--no-acls"],
                       check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(out)
    return elapsed


def build_alone(template: Path, assets: Path, payload: list[str], n: int, work: Path) -> float:
    """Packages/second of the bulk builder alone (blob given, no DC), shared asset."""
    import argparse as _ap
    from ppkgtool.bulk.adapters import TemplateBuilder
    from ppkgtool.bulk.devices import Device
    from ppkgtool.cli.cmd_build import add_build_arguments, options_from_args
    from ppkgtool.odj import (DomainFacts, MachineFacts, compose_provision_data, encode_provision_data,
                              generate_machine_password)
    import uuid

    p = _ap.ArgumentParser()
    add_build_arguments(p, single=False)
    args = p.parse_args(["--asset-dir", str(assets), *payload])
    options, _pw, _gen = options_from_args(args)
    facts = DomainFacts(dns_domain="test.lab", netbios_name="TEST", dns_forest="test.lab", domain_guid=uuid.uuid4(),
                        domain_sid="S-1-5-21-1-2-3", dc_name="dc1.test.lab", dc_address="127.0.0.1")
    out = work / "alone"
    out.mkdir()
    builder = TemplateBuilder(template, options)
    try:
        blobs = [encode_provision_data(compose_provision_data(
            facts, MachineFacts(machine_name=f"PC{i:05d}", password=generate_machine_password(), rid=2000 + i)))
            for i in range(n)]
        from concurrent.futures import ThreadPoolExecutor
        t0 = time.perf_counter()
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda i: builder.build(Device(line=i, name=f"PC{i:05d}", variables=(("SITE", "x"),)),
                                                blobs[i], out), range(n)))
        elapsed = time.perf_counter() - t0
    finally:
        builder.close()
        shutil.rmtree(out)
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200, help="devices per side (default 200)")
    ap.add_argument("--asset-mib", type=int, default=64)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--out", default=str(RESULTS / "bulk.md"))
    args = ap.parse_args()

    tag = secrets.token_hex(2).upper()
    variants = [("same outputs as the peer", ("--no-catalog",)),
                ("same, djoin-form passwords", ("--no-catalog", "--password-form", "windows")),
                ("default: with catalogs", ())]
    ours_names = [[f"B{k}{tag}{i:04d}" for i in range(args.n)] for k in range(len(variants))]
    peer_names = [f"BP{tag}{i:04d}" for i in range(args.n)]
    ours: list[float] = []
    dc_cpu: list[float] = []
    with bench_dc() as info, \
            tempfile.TemporaryDirectory(prefix="ppkgtool-bench-bulk-", dir=os.environ.get("TMPDIR")) as d:
        work = Path(d)
        template, assets = make_template(work / "tpl", asset_size=args.asset_mib << 20, incompressible=0.75)
        payload = payload_args(work)
        try:
            for (label, extra), names in zip(variants, ours_names):
                c0 = samba_cpu_seconds()
                seconds, package_size = run_ours(info, names, template, assets, payload, work, args.parallel,
                                                 extra)
                dc_cpu.append(samba_cpu_seconds() - c0)
                ours.append(seconds)
                print(f"ppkgtool bulk ({label}): {seconds:.1f}s", file=sys.stderr)
            # the peer's tree: the package ppkgtool builds for one device, extracted
            probe = work / "probe"
            subprocess.run([sys.executable, "-m", "ppkgtool", "build", str(template), "-o", str(probe / "t.ppkg"),
                            "--asset-dir", str(assets), "--var", "SITE=Berlin", "--no-catalog",
                            "--odj", str(net_offlinejoin_provision(info, work / "net", peer_names[0])), *payload],
                           check=True, stdout=subprocess.DEVNULL)
            delete_computers(info, peer_names[:1])
            tree = work / "tree"
            subprocess.run(["wimlib-imagex", "apply", str(probe / "t.ppkg"), "1", str(tree)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            blob_rel = str(next(tree.glob("DataAsset/*/*/odj-*")).relative_to(tree))
            c0 = samba_cpu_seconds()
            peer = run_peer(info, peer_names, tree, blob_rel, work)
            dc_peer = samba_cpu_seconds() - c0
            print(f"peer loop: {peer:.1f}s", file=sys.stderr)
            alone = build_alone(template, assets, payload, args.n, work)
            print(f"build alone: {alone:.1f}s", file=sys.stderr)
        finally:
            delete_computers(info, [n for names in ours_names for n in names] + peer_names)
    rows = [("(a) `ppkgtool bulk --no-catalog`: accounts, blobs, packages (the peer's outputs)", ours[0]),
            ("(b) same with `--password-form windows` (djoin's 120-character passwords, as the peer)", ours[1]),
            ("(c) `ppkgtool bulk` default: also each package's catalog (.cat)", ours[2])]
    table = "\n".join(f"| {label} | {t:.1f} | {args.n / t:.2f} | {dc * 1e3 / args.n:.0f} | {peer / t:.1f}x |"
                      for (label, t), dc in zip(rows, dc_cpu))
    text = f"""## Bulk: {args.n} devices with a shared {args.asset_mib} MiB asset (bench/bench_bulk.py)

Each device: a computer account on the Samba AD DC (loopback), its ODJ blob, and a package built from
one template carrying a {args.asset_mib} MiB MSI-like asset (3/4 incompressible), two certificates and a
Registry.pol ({package_size / 2**20:.0f} MiB per package). One run per line, same DC, same machine, in
this order; every ppkgtool run includes the journal (fsync'd per step), fsync'd outputs and the
summary, with `--parallel {args.parallel}`.

| way | seconds | devices/second | DC CPU ms/device | faster than the peer |
|---|---:|---:|---:|---:|
{table}
| peer: loop of `net offlinejoin provision` + `wimlib-imagex capture` per device | {peer:.1f} | {args.n / peer:.2f} | {dc_peer * 1e3 / args.n:.0f} | 1.0x |

Goal (>= 10x end to end, the same work as the peer): **{peer / ours[0]:.1f}x** (line a).
Building alone (library, blob given, shared asset compressed once, with catalogs): {args.n} packages in
{alone:.1f} s = **{args.n / alone:.1f} packages/second**.
Machine: {machine()}; the DC ({dc_description()}) runs on the same machine.

Where the time goes on this 2-core machine: the Samba DC creates accounts one at a time, and its cost
is mostly the key derivation from the password (the "DC CPU" column: samba's CPU time over the run,
from /proc). ppkgtool's default compact password (64 ASCII characters) fits one HMAC block; djoin's
120 UTF-16 characters, which line (b) and the peer use, do not (see provision.md). Line (c) also
hashes every whole {package_size / 2**20:.0f} MiB package with SHA-1 and SHA-256 for its catalog (what
Windows checks), on the same two cores as the DC: the difference between lines (c) and (a). Packages
are dropped from the page cache once fsync'd (ppkgtool/fsutil.py), which keeps writing each package fast on
this VM: without it, writes slowed tenfold once a few hundred MiB had been written.
Command: `{dc_command_prefix()}python bench/bench_bulk.py -n {args.n} --asset-mib {args.asset_mib}`
"""
    write_results(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
