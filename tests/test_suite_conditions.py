"""Issue 18 item 11: how the suite behaves without ../shared/fixtures and with DC ports already taken.

"In a fresh clone without ../shared/fixtures, 198 tests skip quietly; with a DC already listening on
loopback 389/636, 49 DC tests error with a samba traceback. Both deserve one clear line (and the second
a free-port or namespace fallback so the suite still runs)."

Both run the suite itself in a child pytest, as a developer would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from samba_dc import busy_ports

ROOT = Path(__file__).resolve().parent.parent


def _child_pytest(args: list[str], env_changes: dict[str, str | None], timeout: int) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_absent_fixtures_are_one_clear_line(tmp_path):
    absent = tmp_path / "no-such-fixtures"
    r = _child_pytest(["-m", "not dc", "tests/test_new_user.py", "-k", "multi_package"],
                      {"PPKGTOOL_SHARED_FIXTURES": str(absent), "CI": None}, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    # our one line (pytest's own short summary may list the skips too, as SKIPPED [3] ...)
    lines = [ln for ln in r.stdout.splitlines() if "fixtures folder is absent" in ln
             and not ln.startswith("SKIPPED")]
    assert len(lines) == 1, r.stdout
    assert lines[0].startswith("3 test(s) skipped: the real fixtures folder is absent")
    assert str(absent) in lines[0] and "PPKGTOOL_SHARED_FIXTURES" in lines[0]
    assert "3 skipped" in r.stdout


def test_absent_fixtures_fail_ci_with_the_same_line(tmp_path):
    r = _child_pytest(["-m", "not dc", "tests/test_new_user.py", "-k", "multi_package"],
                      {"PPKGTOOL_SHARED_FIXTURES": str(tmp_path / "none"), "CI": "true"}, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "fixtures folder is absent" in r.stdout and "so this is a failure" in r.stdout


@pytest.mark.dc
def test_dc_tests_run_in_a_namespace_when_loopback_ports_are_taken(samba_dc):
    # The suite's own DC is running, so its loopback ports are taken here: a second suite (the child)
    # is exactly "a DC already listening on loopback 389/636".
    taken = busy_ports()
    assert 389 in taken and 636 in taken, taken
    r = _child_pytest(["-m", "dc", "tests/test_foundation.py", "-rN"],
                      {"PPKGTOOL_TEST_DC": None}, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    notes = [ln for ln in r.stdout.splitlines() if ln.startswith("DC tests: ")]
    assert len(notes) == 1, r.stdout
    assert "loopback ports" in notes[0] and "389" in notes[0] and "636" in notes[0]
    assert "own network namespace ppkgtool-dc-" in notes[0]
    assert "Traceback" not in r.stdout + r.stderr
    # the child removed its namespace; ours (if any) is the only one left
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"ppkgtool-dc-" not in names.replace(f"ppkgtool-dc-{os.getpid()}", "")
