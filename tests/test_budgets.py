"""Issue 17: budgets on untrusted packages (ppkgtool.limits) - resource bombs are refused by a
documented, overridable limit (exit 3 naming it) or handled within bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile import shared_blob_package
from ppkgtool.errors import UsageError
from ppkgtool.limits import Budget, BudgetError, parse_overrides

# Runs the CLI in a child and reports its peak memory (VmHWM, KiB; per address space, so unlike
# ru_maxrss it does not inherit the parent's peak across fork+exec) on the last stderr line.
MEASURE = ("import sys\nfrom ppkgtool.cli import main\nrc = 1\ntry:\n    rc = main(sys.argv[1:])\n"
           "finally:\n    sys.stdout.flush()\n"
           "    hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
           "    print(f'MAXRSS {hwm}', file=sys.stderr)\n"
           "sys.exit(rc)\n")


def build(kind: str, *paths: Path) -> Path:
    """Build a hostile package in a child: ru_maxrss survives exec on Linux, so the measuring
    children must not descend from a process that held the package in memory."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import hostile; "
            f"from pathlib import Path; hostile.{kind}(*map(Path, sys.argv[1:]))")
    subprocess.run([sys.executable, "-c", code, *map(str, paths)], check=True, timeout=600)
    return paths[-1]


def run(*args, env=None):
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", MEASURE, *map(str, args)], capture_output=True, text=True,
                       timeout=600, env=env)
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("MAXRSS "), r.stderr
    return r, int(last.split()[1]) // 1024, time.perf_counter() - t


@pytest.fixture(scope="module")
def shared_blob(real_ppkg, tmp_path_factory):
    out = tmp_path_factory.mktemp("bomb") / "shared-blob.ppkg"
    return build("shared_blob_package", real_ppkg / "wcd-itadmin-rank52.ppkg", out)


def test_shared_blob_package_is_read_once_per_blob(shared_blob, capsys):
    # 400 entries name one 16 MiB provxml: inspect and export read, hash and parse it once
    for args in (("inspect", shared_blob, "--json"), ("export", shared_blob), ("export", shared_blob, "--reconstruct")):
        r, mib, secs = run(*args)
        assert r.returncode == 0, r.stderr
        assert mib < 200, (args, mib)
        with capsys.disabled():
            print(f"\n  {args[0]} {' '.join(map(str, args[2:]))}: {secs:.2f} s, {mib} MiB peak")
    doc = json.loads(run("inspect", shared_blob, "--json")[0].stdout)
    assert sum(1 for f in doc["files"] if f["path"].endswith("__Bomb.provxml")) == 400


def test_many_parms_in_a_shared_blob_are_refused_by_the_settings_budget(real_ppkg, tmp_path):
    pkg = shared_blob_package(real_ppkg / "wcd-itadmin-rank52.ppkg", tmp_path / "parms.ppkg", entries=50,
                              blob_bytes=1 << 20, parms=5000)         # 50 x 5000 = 250,000 compiled parms
    for cmd in ("inspect", "export"):
        r, _, _ = run(cmd, pkg)
        assert r.returncode == 3 and "settings limit" in r.stderr and "--budget settings=" in r.stderr, r.stderr
    real = real_ppkg / "wcd-itadmin-rank52.ppkg"          # the budget is the command line's to set
    assert run("inspect", real, "--json")[0].returncode == 0
    r, _, _ = run("inspect", real, "--json", "--budget", "settings=5")
    assert r.returncode == 3 and "more than 5 compiled settings" in r.stderr, r.stderr


def test_999k_entries_are_refused_by_the_entries_budget(tmp_path):
    pkg = build("many_entries_package", tmp_path / "many.ppkg")      # 4.3 MB
    for args in (("inspect", pkg), ("extract", pkg, tmp_path / "out"), ("export", pkg)):
        r, mib, _ = run(*args)
        assert r.returncode == 3 and "entries limit" in r.stderr, r.stderr
        assert mib < 400, (args, mib)      # the metadata resource is expanded, 100,000 entries parsed
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_1_gib_of_zeros_is_refused_before_anything_is_written(tmp_path):
    pkg = build("zeros_package", tmp_path / "zeros.ppkg")
    assert pkg.stat().st_size < 16 * 1024 * 1024
    r, _, _ = run("extract", pkg, tmp_path / "out")
    assert r.returncode == 3 and "ratio limit" in r.stderr and "--budget ratio=" in r.stderr, r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    r, _, _ = run("extract", pkg, tmp_path / "out2", "--budget", "bytes=512M")
    assert r.returncode == 3 and "bytes limit" in r.stderr, r.stderr
    r, _, _ = run("inspect", pkg)
    assert r.returncode == 3 and "ratio limit" in r.stderr, r.stderr


def test_budget_overrides():
    b = parse_overrides(["entries=500000", "bytes=200G,ratio=1000"])
    assert (b.entries, b.bytes, b.ratio) == (500000, 200 * 1024 ** 3, 1000.0)
    assert parse_overrides("part=64M").part == 64 * 1024 ** 2
    for bad in ("nonsense=1", "entries", "entries=x", "bytes=0"):
        with pytest.raises(UsageError):
            parse_overrides(bad)
    with pytest.raises(BudgetError) as exc:
        Budget(entries=10).check_entries(11, "here")
    assert exc.value.limit == "entries" and exc.value.exit_code == 3


def test_environment_sets_the_budget(real_ppkg, tmp_path):
    import os
    env = dict(os.environ, PPKGTOOL_LIMITS="entries=5")
    r = subprocess.run([sys.executable, "-m", "ppkgtool", "inspect", real_ppkg / "wcd-itadmin-rank52.ppkg"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3 and "entries limit" in r.stderr, r.stderr
