"""A build's large assets hashed and planned ahead (issue 19): the forked helper of wim.ahead, the
thread prefetch of digests, the guess of package.prefetch, and the console script's fast exit.

The helper is only forked from a process with one thread, so its tests run in a fresh interpreter
(a subprocess), as the console script does."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bulk_template import make_asset, make_template

ROOT = Path(__file__).resolve().parent.parent
needs_helper = pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(os, "memfd_create"),
                                  reason="the helper needs Linux (fork, memfd)")
needs_wimlib = pytest.mark.skipif(shutil.which("wimlib-imagex") is None, reason="wimlib-imagex (wimtools) missing")


def python(code: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = str(ROOT) + os.pathsep + str(ROOT / "tests")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                          text=True, env=full, timeout=120)


def helper_says(tmp_path: Path, snippet: str, *assets: tuple[str, int, float]) -> str:
    """What ``snippet`` prints, run after HELPER_SCRIPT has started a helper on ``assets`` (name,
    size, incompressible share), made in tmp_path."""
    paths = []
    for name, size, incompressible in assets:
        make_asset(tmp_path / name, size, incompressible=incompressible)
        paths.append(tmp_path / name)
    return ok(python(textwrap.dedent(HELPER_SCRIPT) + textwrap.dedent(snippet), *paths)).strip()


def ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@needs_helper
@needs_wimlib
def test_a_build_with_the_helper_is_the_build_without_it(tmp_path):
    """The console script's build forks the helper for the asset its customizations.xml names; the
    package is byte for byte the one built without it (PPKGTOOL_AHEAD=0), verifies with
    wimlib-imagex, and the digests it prints are those of the file."""
    template, assets = make_template(tmp_path / "tpl", asset_size=9 * 1024 * 1024 + 3, incompressible=0.75)
    code = """
        import json, sys
        import ppkgtool.wim.ahead as ahead
        taken = []
        real = ahead.take_plan
        ahead.take_plan = lambda *a: taken.append(real(*a)) or taken[-1]
        from ppkgtool.cli import main
        code = main(sys.argv[1:])
        print(json.dumps({"helper": ahead._helper is not None, "taken": sum(t is not None for t in taken)}))
        sys.exit(code)
    """
    outs = {}
    for ahead_env in ("1", "0"):
        out = tmp_path / f"b{ahead_env}.ppkg"
        r = python(code, "build", template, "-o", out, "--asset-dir", assets, "--var", "SITE=Berlin",
                   "--reproducible", "--json", env={"PPKGTOOL_AHEAD": ahead_env})
        lines = ok(r).strip().splitlines()
        report, used = json.loads("\n".join(lines[:-1])), json.loads(lines[-1])
        assert used == ({"helper": True, "taken": 1} if ahead_env == "1" else {"helper": False, "taken": 0})
        data = out.read_bytes()
        assert report["sha256"] == hashlib.sha256(data).hexdigest()
        assert report["sha1"] == hashlib.sha1(data).hexdigest()
        outs[ahead_env] = data
        subprocess.run(["wimlib-imagex", "verify", str(out)], check=True, capture_output=True)
    assert outs["1"] == outs["0"]


HELPER_SCRIPT = """
    import hashlib, os, sys
    from ppkgtool import digests
    from ppkgtool.wim import ahead
    from ppkgtool.wim.compression import get_codec
    from ppkgtool.wim.resource import plan_resource, _materialize
    paths = sys.argv[1:]
    assert ahead.available()
    stop = ahead.start(paths, 32768)
    assert stop is not None
    helper = ahead._helper
    def plan_bytes(res):
        return b"".join(_materialize(res.pieces))
    def now(path):                      # the file's bytes and identity as they are now
        return open(path, "rb").read(), digests.file_identity(os.stat(path))
    p = paths[0]
    codec = get_codec()
"""


@needs_helper
def test_the_helpers_plan_writes_the_bytes_of_the_parents_own(tmp_path):
    said = helper_says(tmp_path, """
        data, ident = now(p)
        assert digests.file_digests(p, digests.ASSET_ALGORITHMS) == [hashlib.sha256(data).digest(),
                                                                     hashlib.sha1(data).digest()]
        mine = ahead.take_plan(ident, p, 32768, codec)
        assert mine is not None and any(type(x).__name__ == "SpoolRange" for x in mine.pieces)
        own = plan_resource(ident[2], 32768, codec, path=p, identity=ident)      # taken already: planned here
        assert not any(type(x).__name__ == "SpoolRange" for x in own.pieces)
        assert (mine.flags, mine.stored, mine.usize, mine.sha1) == (own.flags, own.stored, own.usize, own.sha1)
        assert plan_bytes(mine) == plan_bytes(own)
        assert mine.sha1 == hashlib.sha1(data).digest()
        print("same")
    """, ("a.msi", 5 * 1024 * 1024 + 77, 0.5))
    assert said == "same"


@needs_helper
def test_a_helper_that_dies_leaves_the_work_to_the_parent(tmp_path):
    said = helper_says(tmp_path, """
        import signal
        os.kill(helper.pid, signal.SIGKILL)
        data, ident = now(p)
        assert digests.file_digests(p, ("sha1",)) == [hashlib.sha1(data).digest()]
        assert ahead.take_plan(ident, p, 32768, codec) is None
        assert helper.ended
        print("fell back")
    """, ("a.msi", 6 * 1024 * 1024, 0.75))
    assert said == "fell back"


@needs_helper
def test_a_file_changed_after_the_helper_started_is_not_taken_from_it(tmp_path):
    said = helper_says(tmp_path, """
        with open(p, "ab") as fh:
            fh.write(b"appended by another program")
        data, ident = now(p)
        assert digests.file_digests(p, ("sha256", "sha1")) == [hashlib.sha256(data).digest(), hashlib.sha1(data).digest()]
        assert ahead.take_plan(ident, p, 32768, codec) is None
        res = plan_resource(ident[2], 32768, codec, path=p, identity=ident)
        assert res.sha1 == hashlib.sha1(data).digest()
        print("own")
    """, ("a.msi", 5 * 1024 * 1024, 0.5))
    assert said == "own"


@needs_helper
def test_a_wrong_guess_is_not_planned_once_the_build_says_so(tmp_path):
    said = helper_says(tmp_path, """
        digests.file_digests(p, digests.ASSET_ALGORITHMS)      # the compiler asks for the used one only
        digests.stop_prefetch()
        assert ahead.take_plan(now(p)[1], p, 32768, codec) is not None
        while helper._pump_one():
            pass
        assert 1 not in helper.plans and helper.ended
        print("skipped")
    """, ("used.msi", 6 * 1024 * 1024, 0.25), ("unused.msi", 6 * 1024 * 1024, 0.25))
    assert said == "skipped"


def test_the_helper_is_not_forked_from_a_threaded_process_or_when_disabled():
    from ppkgtool.wim import ahead
    r = python("""
        import threading
        from ppkgtool.wim import ahead
        ev = threading.Event()
        t = threading.Thread(target=ev.wait)
        t.start()
        print(ahead.available(), ahead.start(["/dev/null"], 32768))
        ev.set(); t.join()
    """)
    assert ok(r).split() == ["False", "None"]
    r = python("from ppkgtool.wim import ahead; print(ahead.available())", env={"PPKGTOOL_AHEAD": "0"})
    assert ok(r).strip() == "False"
    assert ahead.take_plan(None, "x", 32768, None) is None


def test_the_guess_takes_large_files_the_customizations_name(tmp_path, monkeypatch):
    """package.prefetch hashes ahead the files of --asset-dir of PREFETCH_MIN_SIZE or more whose
    names occur in the customizations.xml (case-folded, as AssetResolver matches); the build's
    file_digests then finds their digests without reading them again."""
    from ppkgtool import digests
    from ppkgtool.package import prefetch
    from ppkgtool.wim import ahead
    monkeypatch.setattr(ahead, "available", lambda: False)       # the thread prefetch, in this process
    assets = tmp_path / "assets"
    assets.mkdir()
    big = assets / "BigApp.MSI"
    big.write_bytes(random.Random(1).randbytes(prefetch.PREFETCH_MIN_SIZE + 5))
    (assets / "other.msi").write_bytes(b"x" * (prefetch.PREFETCH_MIN_SIZE + 1))
    (assets / "small.cab").write_bytes(b"small")
    cust = tmp_path / "customizations.xml"
    cust.write_text('<WindowsCustomizations><Command>msiexec /i "D:\\bigapp.msi"</Command><f>small.cab</f>'
                    '</WindowsCustomizations>', encoding="utf-8")
    started: list[list] = []
    real = digests.prefetch_file_digests
    monkeypatch.setattr(prefetch, "prefetch_file_digests", lambda paths, algs: started.append(list(paths)) or real(paths, algs))
    prefetch.prefetch_assets(cust, assets)
    assert started == [[os.fspath(big)]]
    monkeypatch.setattr(digests, "stream_digests", lambda *a: pytest.fail("the prefetched file was read again"))
    data = big.read_bytes()
    assert digests.file_digests(big, digests.ASSET_ALGORITHMS) == [hashlib.sha256(data).digest(),
                                                                  hashlib.sha1(data).digest()]
    # no asset folder, a missing one, a project folder: no head start, no error
    assert prefetch.prefetch_assets(cust, None)() is None
    assert prefetch.prefetch_assets(cust, tmp_path / "missing")() is None
    assert prefetch.prefetch_assets(tmp_path, assets)() is None


def test_a_prefetch_of_a_file_that_changes_is_not_remembered(tmp_path):
    from ppkgtool import digests
    p = tmp_path / "asset.bin"
    p.write_bytes(random.Random(2).randbytes(3 << 20))
    stop = digests.prefetch_file_digests([p], ("sha1",))
    with open(p, "ab") as fh:
        fh.write(b"more")
    stop()
    data = p.read_bytes()
    assert digests.file_digests(p, ("sha1",)) == [hashlib.sha1(data).digest()]


def test_the_console_script_exits_after_its_atexit_handlers_and_flushes(tmp_path):
    """cli.leave ends the process without tearing the interpreter down: exit code, buffered output
    and atexit handlers (temporary folders left to weakref.finalize) are kept."""
    r = python("""
        import atexit, sys, tempfile
        from ppkgtool.cli import leave
        d = tempfile.TemporaryDirectory()
        print(d.name)
        atexit.register(lambda: print("atexit ran"))
        sys.stdout.write("unflushed")
        leave(3)
        print("not reached")
    """)
    assert r.returncode == 3
    lines = r.stdout.splitlines()
    assert lines[1:] == ["unflushedatexit ran"]
    assert not Path(lines[0]).exists()
    r = subprocess.run([sys.executable, "-m", "ppkgtool", "rank", str(tmp_path / "missing.ppkg")],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode != 0 and "missing.ppkg" in r.stderr
