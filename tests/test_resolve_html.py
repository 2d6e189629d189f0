"""resolve --html: a self-contained page, checked through headless Chromium (rendered DOM + screenshot)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from test_inspect_support import make_package, run_cli

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium (Debian package chromium) is required for the HTML report test")


def _run_chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    env = dict(os.environ, HOME=str(tmp_path))
    return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, env=env)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("html")
    oem = make_package(d, "oem-base", "OEM", 10, {"Browser/HomePages": "OEM-VALUE-A",
                                                   "Browser/SetNewTabPageURL": "OEM-CAMERA"})
    it = make_package(d, "it-admin", "ITAdmin", 2, {"Browser/HomePages": "IT-WINS-A"})
    si = make_package(d, "integrator", "SystemIntegrator", 50, {"Browser/SetNewTabPageURL": "SI-WINS-CAMERA",
                                                                "Bluetooth/LocalDeviceName": "<b>not markup</b>"})
    page = d / "report.html"
    code, _out, err = run_cli("resolve", oem, it, si, "--html", page)
    assert code == 0, err
    return d, page, (oem, it, si)


def test_report_is_self_contained(report):
    _d, page, _ = report
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert "&lt;b&gt;not markup&lt;/b&gt;" in text        # values are escaped, never markup
    assert run_cli("resolve", *report[2], "--html", page)[0] == 3   # no silent overwrite


def test_report_renders_in_headless_chromium(report, tmp_path):
    d, page, (oem, it, si) = report
    dom = _run_chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # the browser parsed the page: winners are in highlighted rows, overridden values struck through
    winners = re.findall(r'<tr class="winner"><td class="path">([^<]+)</td><td>[^<]*</td>'
                         r'<td class="value">([^<]+?) <span class="winner-mark">wins</span></td>'
                         r'<td class="path">([^<]+)</td>', html)
    got = {path: (value, pkg) for path, value, pkg in winners}
    assert got["Policies/Browser/HomePages"] == ("IT-WINS-A", str(it))
    assert got["Policies/Browser/SetNewTabPageURL"] == ("SI-WINS-CAMERA", str(si))
    assert "<del>OEM-VALUE-A</del>" in html and "<del>OEM-CAMERA</del>" in html
    assert "owner type ITAdmin outranks OEM" in html

    shot = tmp_path / "report.png"
    res = _run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,1100", "--hide-scrollbars",
                        page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
    keep = os.environ.get("PPKGTOOL_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
