"""Progress of large builds (issue 18, item 10: "no progress for a 400 MB build"): on a terminal,
``build`` and ``pack`` of 32 MiB or more of file data draw a rich bar of bytes on stderr; piped or
``--json`` output carries no progress at all, and small inputs stay quiet. The library reports
through a ``progress`` callback (wim.write_wim, BuildOptions.progress, pack_folder) whose calls add
up to the file data and which changes no byte of the package."""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ppkgtool.cli.output import PROGRESS_MIN_BYTES
from ppkgtool.package.builder import BuildOptions, build_package
from ppkgtool.wim import ResourceCache, write_wim
from ppkgtool.wim.pack import pack_folder
from ppkgtool.wim.resource import PLAN_BATCH_BYTES
from test_terminal import PPKGTOOL, run_in_pty

BIG = PROGRESS_MIN_BYTES + 3 * 1024 * 1024 + 12345      # just over the threshold, not a whole block

CUSTOMIZATIONS = r"""<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{5a0c1a38-98c1-4c1e-9a53-3f1b2a7c0d18}</ID>
    <Name>big</Name>
    <Version>1.0</Version>
    <OwnerType>ITAdmin</OwnerType>
    <Rank>1</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning">
    <Customizations>
      <Common>
        <ProvisioningCommands><PrimaryContext><Command><CommandConfig Name="app">
          <CommandFile>D:\setup\app.msi</CommandFile>
          <CommandLine>msiexec /i app.msi /qn</CommandLine>
        </CommandConfig></Command></PrimaryContext></ProvisioningCommands>
      </Common>
    </Customizations>
  </Settings>
</WindowsCustomizations>
"""


def _data(size: int, seed: int) -> bytes:
    """Half incompressible, half text (stored raw and compressed chunks both)."""
    rnd = random.Random(seed)
    half = size // 2
    text = b"".join(b"setting %d = value %d\r\n" % (i, i * 7) for i in range(size // 20 + 1))
    return rnd.randbytes(half) + text[:size - half]


@pytest.fixture(scope="module")
def big_project(tmp_path_factory) -> Path:
    """customizations.xml with a CommandFile asset of BIG bytes, and a package folder of as much."""
    root = tmp_path_factory.mktemp("progress")
    (root / "assets").mkdir()
    (root / "assets" / "app.msi").write_bytes(_data(BIG, 1))
    (root / "c.xml").write_text(CUSTOMIZATIONS, encoding="utf-8")
    folder = root / "folder"
    (folder / "Multivariant" / "0").mkdir(parents=True)
    (folder / "Multivariant" / "0" / "customizations.xml").write_text(CUSTOMIZATIONS, encoding="utf-8")
    (folder / "DataAsset" / "0").mkdir(parents=True)
    (folder / "DataAsset" / "0" / "app.msi").write_bytes(_data(BIG, 2))
    return root


def _build_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["build", str(root / "c.xml"), "-o", str(out), "--asset-dir", str(root / "assets"), *extra]


def _bar_lines(screen: str, description: str) -> list[str]:
    """The progress bar's lines (rich redraws it; the last one is the finished bar)."""
    return [ln for ln in screen.replace("\r", "\n").splitlines() if ln.startswith(description)]


@pytest.mark.parametrize("columns", [80, 120])
def test_build_on_terminal_shows_byte_progress(big_project, tmp_path, columns):
    code, screen = run_in_pty(_build_args(big_project, tmp_path / "big.ppkg"), columns)
    assert code == 0, screen
    bars = _bar_lines(screen, "building big.ppkg")
    assert bars, screen
    assert "100%" in bars[-1] and "MB" in bars[-1], bars[-1]
    assert f"{BIG / 1e6:.1f}/{BIG / 1e6:.1f} MB" in bars[-1], bars[-1]     # rich's DownloadColumn, SI units
    assert max(len(b.rstrip()) for b in bars) <= columns
    # the normal report follows
    for field in ("package", "catalog", "sha256", "encrypted"):
        assert any(ln.startswith(field) for ln in screen.splitlines()), (field, screen)
    assert (tmp_path / "big.ppkg").stat().st_size > 0 and (tmp_path / "big.cat").exists()


@pytest.mark.parametrize("columns", [80, 120])
def test_pack_on_terminal_shows_byte_progress(big_project, tmp_path, columns):
    code, screen = run_in_pty(["pack", str(big_project / "folder"), "-o", str(tmp_path / "p.ppkg")], columns)
    assert code == 0, screen
    bars = _bar_lines(screen, "packing p.ppkg")
    assert bars and "100%" in bars[-1] and "MB" in bars[-1], screen
    assert any(ln.startswith("files") and f"{BIG + len(CUSTOMIZATIONS)} bytes" in ln for ln in screen.splitlines())
    assert any(ln.startswith("sha256") for ln in screen.splitlines())


def test_build_encrypt_on_terminal_shows_byte_progress(big_project, tmp_path):
    code, screen = run_in_pty(_build_args(big_project, tmp_path / "e.ppkg", "--encrypt", "--generate-password"), 100)
    assert code == 0, screen
    bars = _bar_lines(screen, "building e.ppkg")
    assert bars and "100%" in bars[-1], screen
    assert "package password:" in screen and any(ln.startswith("encrypted") and "True" in ln
                                                  for ln in screen.splitlines())


def test_small_build_on_terminal_stays_quiet(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.msi").write_bytes(_data(1 << 20, 3))
    (tmp_path / "c.xml").write_text(CUSTOMIZATIONS, encoding="utf-8")
    code, screen = run_in_pty(_build_args(tmp_path, tmp_path / "small.ppkg"), 100)
    assert code == 0, screen
    assert not _bar_lines(screen, "building") and "%" not in screen and "MB" not in screen, screen


def _piped(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([PPKGTOOL, *argv], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


def test_piped_output_has_no_progress(big_project, tmp_path):
    b = _piped(_build_args(big_project, tmp_path / "b.ppkg", "--reproducible"))
    assert b.returncode == 0, b.stderr
    p = _piped(["pack", str(big_project / "folder"), "-o", str(tmp_path / "p.ppkg"), "--reproducible"])
    assert p.returncode == 0, p.stderr
    for r in (b, p):
        for stream in (r.stdout, r.stderr):
            assert "building" not in stream and "packing" not in stream and "%" not in stream
            assert "\r" not in stream and "\x1b" not in stream
    # stdout is the plain report, exactly what the command printed before progress existed
    assert [ln.split()[0] for ln in b.stdout.splitlines() if ln and not ln.startswith(("setting\t", "Provisioning"))] \
        == ["name", "id", "version", "owner", "rank", "altitude", "settings", "package", "catalog", "sha256",
            "signed", "encrypted", "settings"]
    assert p.stdout.splitlines()[0].split() == ["package", str(tmp_path / "p.ppkg")]
    assert p.stderr == ""          # the folder has its customizations.xml and ID: no warnings either


def test_json_on_terminal_is_one_document(big_project, tmp_path):
    code, screen = run_in_pty(_build_args(big_project, tmp_path / "j.ppkg", "--json"), 120)
    assert code == 0, screen
    doc = json.loads(screen)
    assert doc["package"] == str(tmp_path / "j.ppkg") and doc["sha256"]
    code, screen = run_in_pty(["pack", str(big_project / "folder"), "-o", str(tmp_path / "p.ppkg"), "--json"], 120)
    assert code == 0, screen
    assert json.loads(screen)["stats"]["total_bytes"] == BIG + len(CUSTOMIZATIONS)


def test_json_piped_is_one_document(big_project, tmp_path):
    r = _piped(_build_args(big_project, tmp_path / "j.ppkg", "--json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["package"] == str(tmp_path / "j.ppkg")
    assert r.stderr == ""


class _Recorder:
    """A progress callback that keeps every call (and the total write_wim announces)."""

    def __init__(self):
        self.calls: list[int] = []
        self.totals: list[int] = []

    def start(self, total: int) -> None:
        self.totals.append(total)

    def __call__(self, n: int) -> None:
        self.calls.append(n)


def _mixed_files(tmp_path: Path) -> dict:
    big = tmp_path / "big.bin"
    big.write_bytes(_data(9 * 1024 * 1024 + 7, 4))
    files = {f"/Multivariant/0/f{i}.xml": b"<x>%d</x>" % i * (i + 1) for i in range(300)}   # small, in memory
    files["/Multivariant/0/dup.xml"] = files["/Multivariant/0/f7.xml"]                        # a duplicate
    files["/Multivariant/0/empty.xml"] = b""
    files["/DataAsset/0/mid.bin"] = _data(5 * 1024 * 1024 + 3, 5)                             # large, in memory
    files["/DataAsset/1/big.bin"] = big                                                       # streamed from disk
    files["/DataAsset/2/big-again.bin"] = big                                                 # planned, then a copy
    return files


def test_callback_sums_to_file_data(tmp_path):
    files = _mixed_files(tmp_path)
    total = sum(len(v) if isinstance(v, bytes) else v.stat().st_size for v in files.values())
    rec = _Recorder()
    stats = write_wim(io.BytesIO(), files, {"NAME": "t"}, progress=rec)
    assert rec.totals == [total] == [stats.total_bytes]
    assert sum(rec.calls) == total
    assert all(0 < n <= 2 * PLAN_BATCH_BYTES for n in rec.calls)
    assert len(rec.calls) < total // PLAN_BATCH_BYTES + 10       # per block, not per 32 KiB chunk

    # a plain function works too; with a ResourceCache the second build reuses the compressed streams
    with ResourceCache() as cache:
        for _ in range(2):
            seen: list[int] = []
            write_wim(io.BytesIO(), files, {"NAME": "t"}, resource_cache=cache, progress=seen.append)
            assert sum(seen) == total
        assert cache.hits


def test_callback_changes_no_byte(big_project, tmp_path):
    """--reproducible packages (and catalogs) written with and without the callback are identical."""
    outs = []
    for name, progress in (("with", _Recorder()), ("without", None)):
        out = tmp_path / name / "big.ppkg"
        out.parent.mkdir()
        result = build_package(big_project / "c.xml", out,
                               BuildOptions(asset_dir=big_project / "assets", reproducible=True, progress=progress))
        outs.append((out.read_bytes(), out.with_suffix(".cat").read_bytes()))
        if progress is not None:
            assert sum(progress.calls) == sum(size for _p, size in result.files) == progress.totals[0]
    assert outs[0] == outs[1]

    packed = []
    for name, progress in (("with", _Recorder()), ("without", None)):
        out = tmp_path / f"pack-{name}.ppkg"
        with open(out, "wb") as fh:
            stats = pack_folder(big_project / "folder", fh, reproducible=True, progress=progress).stats
        packed.append(out.read_bytes())
        if progress is not None:
            assert sum(progress.calls) == stats.total_bytes == BIG + len(CUSTOMIZATIONS)
    assert packed[0] == packed[1]
    # an independent reader agrees the package holds the data
    r = subprocess.run(["wimlib-imagex", "verify", str(tmp_path / "pack-with.ppkg")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_encrypting_build_reports_file_data(big_project, tmp_path):
    rec = _Recorder()
    result = build_package(big_project / "c.xml", tmp_path / "e.ppkg",
                           BuildOptions(asset_dir=big_project / "assets", encrypt_password="Corr3ct-H0rse-B4",
                                        progress=rec))
    assert result.encrypted
    assert sum(rec.calls) == sum(size for _p, size in result.files) == rec.totals[0] > BIG


if __name__ == "__main__":      # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
