"""Outputs are never symlinks, FIFOs or devices: refused with exit 3, with and without --overwrite,
and what the path points at is left untouched (fsutil.refuse_non_regular, docs/security.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PASSWORD = "Secret123"


def cli(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "ppkgtool", *map(str, args)], capture_output=True, text=True,
                       timeout=120, cwd=cwd)
    assert "internal error" not in r.stderr, r.stderr
    return r


@pytest.mark.parametrize("command", ["encrypt", "export", "pack"])
@pytest.mark.parametrize("overwrite", [False, True])
def test_symlink_output_is_refused_and_its_target_unchanged(real_ppkg, tmp_path, command, overwrite):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"keep me\n")
    out = tmp_path / "out.ppkg"
    out.symlink_to(outside)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    pkg = real_ppkg / "icd-cli-oobe.ppkg"
    if command == "encrypt":
        argv = ["encrypt", pkg, "-o", out, "--password-file", pw]
    elif command == "export":
        argv = ["export", pkg, "-o", out]
    else:
        tree = tmp_path / "tree"
        r = cli("extract", pkg, tree)
        assert r.returncode == 0, r.stderr
        argv = ["pack", tree, "-o", out]
    r = cli(*argv, *(["--overwrite"] if overwrite else []))
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert str(out) in r.stderr and ("symbolic link" in r.stderr or "already exists" in r.stderr), r.stderr
    if overwrite:
        assert "not a regular file" in r.stderr, r.stderr
    assert out.is_symlink() and os.readlink(out) == str(outside)
    assert outside.read_bytes() == b"keep me\n"


def test_fifo_output_is_refused_without_blocking(real_ppkg, tmp_path):
    fifo = tmp_path / "out.xml"
    os.mkfifo(fifo)
    r = cli("export", real_ppkg / "icd-cli-oobe.ppkg", "-o", fifo, "--overwrite")   # timeout=120 guards a block
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "FIFO" in r.stderr and "not a regular file" in r.stderr, r.stderr
    assert fifo.exists() and not fifo.is_file()


def test_symlink_to_dev_null_is_refused(real_ppkg, tmp_path):
    out = tmp_path / "null.xml"
    out.symlink_to(os.devnull)
    r = cli("export", real_ppkg / "icd-cli-oobe.ppkg", "-o", out, "--overwrite")
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "symbolic link" in r.stderr, r.stderr
    assert out.is_symlink() and Path(os.devnull).exists()


def test_regular_file_is_still_replaced_with_overwrite(real_ppkg, tmp_path):
    out = tmp_path / "c.xml"
    out.write_bytes(b"old")
    r = cli("export", real_ppkg / "icd-cli-oobe.ppkg", "-o", out, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() != b"old" and not out.is_symlink()
