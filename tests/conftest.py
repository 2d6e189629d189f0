"""Shared fixtures: the real fixtures folder, and a real Samba AD DC on loopback."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

from samba_dc import SambaDC, _samba_available  # noqa: E402

# parsed settings stores are cached between processes (store.cache_dir); tests keep theirs private
os.environ.setdefault("PPKGTOOL_CACHE_DIR", tempfile.mkdtemp(prefix="ppkgtool-test-cache-"))


def shared_fixtures_dir() -> Path | None:
    """``../shared/fixtures`` relative to the project root (or $PPKGTOOL_SHARED_FIXTURES)."""
    env = os.environ.get("PPKGTOOL_SHARED_FIXTURES")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "fixtures")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    d = shared_fixtures_dir()
    if d is None:
        pytest.skip("../shared/fixtures is absent (real Microsoft-built packages and ODJ blob); "
                    "CI always has it")
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
        if not dc.info_file.exists():
            Path(reuse).mkdir(parents=True, exist_ok=True)
            dc.provision()
        dc.start()
        yield dc
        if not dc.running_pid():  # a test stopped it: bring it back for the next run
            dc.start()
        return
    tmp = tempfile.mkdtemp(prefix="ppkgtool-dc-")
    dc = SambaDC(tmp)
    dc.provision()
    dc.start()
    try:
        yield dc
    finally:
        dc.stop()


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
