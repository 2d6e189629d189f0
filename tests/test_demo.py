"""The README's demo command keeps working: compose a blob offline, build, inspect, catalog."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_script_runs_end_to_end(tmp_path):
    venv = Path(sys.executable).parent.parent
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "customizations", work / "customizations")
    shutil.copytree(ROOT / "scripts", work / "scripts")
    r = subprocess.run(["bash", "scripts/demo.sh", str(venv)], cwd=work, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = r.stdout
    assert "machine BRANCH01; domain corp.example.test" in out          # inspect shows the blob
    assert "CN=Example Corp Root CA" in out                              # and the certificate
    assert "NoAutoRebootWithLoggedOnUsers" in out                        # and the policy values
    assert out.count("listed in the catalog") == 2 and "MISSING" not in out
    assert "<redacted" in out                                            # secrets stay hidden
    pw = (work / "demo-out" / "BRANCH01.txt")
    assert pw.stat().st_mode & 0o777 == 0o600
    assert (work / "demo-out" / "branch01.ppkg").read_bytes()[:8] == b"MSWIM\0\0\0"
