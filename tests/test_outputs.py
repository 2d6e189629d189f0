"""Issue 17: outputs replaced together, temporaries that never outlive a run, a full disk that
loses nothing (fsutil.OutputSet)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ppkgtool import fsutil
from ppkgtool.cli import main
from test_inspect_support import customizations_xml

CUST = customizations_xml(name="pair", owner="ITAdmin", rank=3,
                          common="<OOBE><Desktop><HideOobe>True</HideOobe></Desktop></OOBE>")


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if fsutil.TEMP_TAG in p.name)


@pytest.fixture
def built(tmp_path, capsys):
    (tmp_path / "c.xml").write_bytes(CUST)
    rc, _, err = cli(capsys, "build", tmp_path / "c.xml", "-o", tmp_path / "p.ppkg")
    assert rc == 0, err
    return tmp_path / "p.ppkg", tmp_path / "p.cat"


def test_a_failure_between_package_and_catalog_leaves_the_old_pair(built, tmp_path, capsys, monkeypatch):
    pkg, cat = built
    old = pkg.read_bytes(), cat.read_bytes()
    real = fsutil._commit_one

    def failing(st):
        if st.path.suffix == ".cat":          # the package is already in place: the catalog fails
            raise OSError(errno.EIO, "injected failure")
        return real(st)
    monkeypatch.setattr(fsutil, "_commit_one", failing)
    (tmp_path / "c.xml").write_bytes(CUST.replace(b"HideOobe>True", b"HideOobe>False"))
    rc, _, err = cli(capsys, "build", tmp_path / "c.xml", "-o", pkg, "--overwrite")
    assert rc != 0
    assert (pkg.read_bytes(), cat.read_bytes()) == old           # both old, never new + old
    assert temporaries(tmp_path) == []
    monkeypatch.setattr(fsutil, "_commit_one", real)
    assert cli(capsys, "verify", pkg)[0] == 4                    # unsigned, but not "tampered"
    assert "tampered" not in cli(capsys, "verify", pkg)[2]
    rc, _, err = cli(capsys, "build", tmp_path / "c.xml", "-o", pkg, "--overwrite")
    assert rc == 0 and pkg.read_bytes() != old[0] and cat.read_bytes() != old[1]
    assert temporaries(tmp_path) == []


class FullDisk:
    """A file object that takes ``room`` bytes and then fails with ENOSPC, like a full file system."""

    def __init__(self, fh, room):
        self._fh, self._room = fh, room

    def write(self, data):
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._fh.__exit__(*exc)


@pytest.mark.parametrize("command", ["build", "decrypt", "extract"])
def test_a_full_disk_exits_3_and_keeps_the_previous_outputs(command, built, tmp_path, capsys, monkeypatch):
    pkg, cat = built
    if command == "decrypt":
        env_pw = "Abcdefgh12345678"
        monkeypatch.setenv("PW", env_pw)
        assert cli(capsys, "encrypt", pkg, "-o", tmp_path / "e.ppkg", "--password-env", "PW")[0] == 0
        assert cli(capsys, "decrypt", tmp_path / "e.ppkg", "-o", tmp_path / "d.ppkg", "--password-env", "PW")[0] == 0
    previous = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    real_fdopen = os.fdopen
    monkeypatch.setattr(fsutil.os, "fdopen", lambda fd, *a, **k: FullDisk(real_fdopen(fd, *a, **k), 4096))
    from ppkgtool.wim import extract as wim_extract

    def no_room(fd, piece):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(wim_extract, "_write_all", no_room)
    if command == "build":
        rc, _, err = cli(capsys, "build", tmp_path / "c.xml", "-o", pkg, "--overwrite")
    elif command == "decrypt":
        rc, _, err = cli(capsys, "decrypt", tmp_path / "e.ppkg", "-o", tmp_path / "d.ppkg", "--password-env", "PW",
                         "--overwrite")
    else:
        rc, _, err = cli(capsys, "extract", pkg, tmp_path / "tree")
    assert rc == 3, err
    assert "No space left on device" in err and err.count("\n") == 1, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == previous
    assert temporaries(tmp_path) == []
    assert not (tmp_path / "tree").exists()


@pytest.fixture
def big_tree(tmp_path):
    tree = tmp_path / "tree" / "Multivariant" / "0"
    tree.mkdir(parents=True)
    (tree / "big.bin").write_bytes(os.urandom(160 * 1024 * 1024))
    return tmp_path / "tree"


def _start_pack(tree: Path, out: Path):
    return subprocess.Popen([sys.executable, "-m", "ppkgtool", "pack", str(tree), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_temporary(folder: Path, proc) -> None:
    deadline = time.monotonic() + 60
    while not temporaries(folder):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_pack_leaves_no_temporary(big_tree, tmp_path, sig):
    out = tmp_path / "out" / "p.ppkg"
    out.parent.mkdir()
    proc = _start_pack(big_tree, out)
    _wait_for_temporary(out.parent, proc)
    tmp = out.parent / temporaries(out.parent)[0]
    assert (tmp.stat().st_mode & 0o777) == 0o600 and tmp.name.startswith(".p.ppkg.ppkgtool-")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, 143), err
    assert temporaries(out.parent) == [] and not out.exists()


def test_a_killed_run_is_cleaned_by_the_next_run(big_tree, tmp_path):
    out = tmp_path / "out" / "p.ppkg"
    out.parent.mkdir()
    proc = _start_pack(big_tree, out)
    _wait_for_temporary(out.parent, proc)
    proc.kill()
    proc.communicate(timeout=60)
    left = temporaries(out.parent)
    assert left and all((out.parent / n).stat().st_mode & 0o777 == 0o600 for n in left)   # 0600 while it exists
    r = subprocess.run([sys.executable, "-m", "ppkgtool", "pack", str(big_tree), "-o", str(out)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "interrupted ppkgtool run" in r.stderr and left[0] in r.stderr
    assert temporaries(out.parent) == [] and out.is_file()
