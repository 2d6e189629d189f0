"""Shared fixtures: the real fixtures folder, and a real Samba AD DC on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

from samba_dc import NetNamespace, SambaDC, _samba_available, fallback_reason  # noqa: E402

FIXTURES_ABSENT = "the real fixtures folder is absent"
_NOTES: list[str] = []   # one line each, printed in the summary (pytest_terminal_summary)

# parsed settings stores are cached between processes (store.cache_dir); tests keep theirs private
os.environ.setdefault("PPKGTOOL_CACHE_DIR", tempfile.mkdtemp(prefix="ppkgtool-test-cache-"))


def shared_fixtures_path() -> Path:
    """Where the real fixtures are looked for: $PPKGTOOL_SHARED_FIXTURES, else ``../shared/fixtures``."""
    env = os.environ.get("PPKGTOOL_SHARED_FIXTURES")
    return Path(env) if env else ROOT.parent / "shared" / "fixtures"


def shared_fixtures_dir() -> Path | None:
    d = shared_fixtures_path()
    return d if d.is_dir() else None


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    d = shared_fixtures_dir()
    if d is None:
        pytest.skip(f"{FIXTURES_ABSENT} ({shared_fixtures_path()})")
    return d


@pytest.fixture(scope="session")
def real_ppkg(shared_fixtures) -> Path:
    return shared_fixtures / "real-ppkg"


@pytest.fixture(scope="session")
def real_odj(shared_fixtures) -> Path:
    return shared_fixtures / "odj"


@pytest.fixture(scope="session")
def samba_dc_control():
    """The SambaDC controller (start/stop/kill for outage tests)."""
    reason = _samba_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    reuse = os.environ.get("PPKGTOOL_TEST_DC")
    if reuse:
        dc = SambaDC(reuse)
        why = None if dc.running_pid() else fallback_reason()
        if why:
            pytest.fail(f"DC tests: {why}, so the kept DC in PPKGTOOL_TEST_DC={reuse} cannot start; "
                        f"stop that server, or unset PPKGTOOL_TEST_DC (the suite then runs its own DC "
                        f"in a network namespace)", pytrace=False)
        if not dc.info_file.exists():
            Path(reuse).mkdir(parents=True, exist_ok=True)
            dc.provision()
        dc.start()
        yield dc
        if not dc.running_pid():  # a test stopped it: bring it back for the next run
            dc.start()
        return
    netns = None
    why = fallback_reason()
    if why:
        netns = NetNamespace(f"ppkgtool-dc-{os.getpid()}")
        try:
            netns.create()
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or str(exc)
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace").strip()
            pytest.fail(f"DC tests: {why}, and no network namespace could be made for the suite's DC "
                        f"({detail}); stop that server, or run as root with iproute2", pytrace=False)
        _NOTES.append(f"DC tests: {why}; the suite's DC ran in its own network namespace "
                      f"{netns.name} (loopback only)")
    tmp = tempfile.mkdtemp(prefix="ppkgtool-dc-")
    dc = SambaDC(tmp, netns=netns)
    try:
        dc.provision()
        dc.start()
        yield dc
    finally:
        dc.close()


@pytest.fixture(scope="session")
def samba_dc(samba_dc_control):
    """DCInfo of the running DC: address, admin credentials, CA file, krb5.conf, hosts file."""
    return samba_dc_control.info()


# --- AD fixtures shared by the provisioning tests (helpers in ad_helpers.py) ---------------------

@pytest.fixture(scope="module")
def session(samba_dc):
    """A bound DirectorySession with the DC (one per test module)."""
    from ad_helpers import admin, target
    from ppkgtool.ad import DirectorySession

    s = DirectorySession.connect(target(samba_dc), admin(samba_dc), domain=samba_dc.dns_domain)
    yield s
    s.close()


@pytest.fixture
def made(session):
    """Names whose accounts a test creates; deleted afterwards whatever happens."""
    names: list[str] = []
    yield names
    for n in names:
        session.delete_computer(n)


def pytest_terminal_summary(terminalreporter):
    """One line per condition that changed how the suite ran (absent fixtures, the DC's namespace)."""
    absent = [r for r in terminalreporter.stats.get("skipped", [])
              if isinstance(r.longrepr, tuple) and FIXTURES_ABSENT in str(r.longrepr[2])]
    lines = list(_NOTES)
    if absent:
        lines.insert(0, f"{len(absent)} test(s) skipped: {FIXTURES_ABSENT} ({shared_fixtures_path()}); "
                        f"they read real Microsoft-built packages, catalogs, stores and an ODJ blob. Put the "
                        f"folder next to the repository or set PPKGTOOL_SHARED_FIXTURES=DIR")
    for line in lines:
        terminalreporter.ensure_newline()
        terminalreporter.write_line(line, yellow=True)


def pytest_sessionfinish(session, exitstatus):
    """In CI (CI set) every tool and fixture is installed, so a skipped test is a defect: fail."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.ensure_newline()
        reporter.write_line(f"CI: {len(skipped)} test(s) were skipped; CI installs every tool and has "
                            f"../shared/fixtures, so this is a failure", red=True)
        session.exitstatus = 1
