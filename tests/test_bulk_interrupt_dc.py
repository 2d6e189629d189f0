"""Issue 18 item 6: Ctrl-C during ``ppkgtool bulk`` against the real Samba AD DC.

The run is a subprocess in its own process group, interrupted with SIGINT to the whole group (as a
terminal does) once the first devices are done. It must say what was done, failed and not started,
tell the user to re-run, exit 130 and leave a consistent journal and no temporaries; the re-run
finishes the rest without redoing a device or creating an account twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import ldap3
import pytest

from ppkgtool.bulk.journal import ORDER
from ppkgtool.fsutil import TEMP_TAG
from ppkgtool.odj import load_blob
from ad_helpers import directory
from test_bulk_dc import bulk_cmd, cleanup, journal_states, names, write_csv  # noqa: F401 - cleanup is a fixture

pytestmark = pytest.mark.dc

DEVICES = 200     # about 30 ms each on the test DC: the run is still going when interrupted
RESUME_HINT = "re-run the same command to resume"


def account_counts(dc, wanted: list[str]) -> dict[str, int]:
    """How many computer accounts NAME$ the directory holds for each of ``wanted`` (LDAP, not our code)."""
    conn = directory(dc)
    try:
        counts = {}
        for name in wanted:
            conn.search(dc.base_dn, f"(sAMAccountName={name}$)", ldap3.SUBTREE, attributes=["cn"])
            counts[name] = len(conn.entries)
        return counts
    finally:
        conn.unbind()


def temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if TEMP_TAG in p.name]


def done_devices(out: Path) -> set[str]:
    return {d for d, s in journal_states(out).items() if s[-1] == "done"}


def sigint_as_in_a_terminal() -> None:
    """In the child before exec: SIGINT's default action. A job started in the background by a shell
    without job control (CI runners, ``cmd &``) inherits SIGINT ignored, and Python then keeps it
    ignored; a command in a terminal's foreground has the default, which Python turns into Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_when_some_done(proc: subprocess.Popen, out: Path, at_least: int = 3) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "journal.jsonl").exists() and len(done_devices(out)) >= at_least:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted: " + proc.stderr.read()
    os.killpg(proc.pid, signal.SIGINT)      # the whole group, as Ctrl-C on a terminal


@pytest.mark.parametrize("json_mode", [False, True], ids=["plain", "json"])
def test_bulk_ctrl_c_summary_then_resume(samba_dc, tmp_path, cleanup, json_mode):  # noqa: F811 - the fixture
    devs = names("BI" if json_mode else "BK", DEVICES)
    cleanup.extend(devs)
    csv = write_csv(tmp_path / "devices.csv", devs)
    out = tmp_path / "out"
    extra = ["--parallel", "2"] + (["--json"] if json_mode else [])
    proc = subprocess.Popen(bulk_cmd(samba_dc, csv, out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=sigint_as_in_a_terminal)
    try:
        interrupt_when_some_done(proc, out)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr

    # the journal: every device reached its states in order, each ended done or failed, none is half-done
    states = journal_states(out)
    for d, seq in states.items():
        steps = [ORDER[s] for s in seq if s != "failed"]
        assert steps == sorted(steps) and len(steps) == len(set(steps)), (d, seq)
        assert seq[-1] in ("done", "failed"), (d, seq)
    done = done_devices(out)
    failed = {d for d, s in states.items() if s[-1] == "failed"}
    assert 3 <= len(done) < DEVICES and not failed
    not_started = set(devs) - set(states)
    assert not_started, "every device was started: the interrupt came too late"

    # the summary names the three counts and the way to go on; summary.json says the same
    summary = json.loads((out / "summary.json").read_text())
    assert summary["aborted"] == "interrupted"
    assert set(summary["succeeded"]) == done and set(summary["not_started"]) == not_started
    line = f"{len(done)} devices done, 0 failed, {len(not_started)} not started"
    errors = [ln for ln in stderr.splitlines() if ln.startswith("ppkgtool: ")]
    assert len(errors) == 1 and "interrupted" in errors[0] and line in errors[0] and RESUME_HINT in errors[0], stderr
    assert "Traceback" not in stderr
    if json_mode:
        doc = json.loads(stdout)            # one JSON document, nothing else on stdout
        assert doc["aborted"] == "interrupted" and set(doc["succeeded"]) == done
        assert set(doc["not_started"]) == not_started
        assert doc["counts"] == {"done": len(done), "not_started": len(not_started)}
        assert doc["error"]["code"] == 130 and RESUME_HINT in doc["error"]["hint"]
        assert doc["error"]["where"] == str(out)
    else:
        assert f"{DEVICES} devices" in stdout and f"{len(done)} done" in stdout

    # nothing half-written: no temporaries; every done device has all its files; accounts exist
    # only for devices whose password was saved first
    assert temporaries(out) == []
    for d in done:
        for f in (out / f"{d}.ppkg", out / f"{d}.cat", out / f"{d}.odj", out / "secrets" / f"{d}.password"):
            assert f.is_file(), f
    for d in not_started:
        assert not (out / f"{d}.ppkg").exists() and not (out / "secrets" / f"{d}.password").exists()
    counts = account_counts(samba_dc, devs)
    assert {d for d, n in counts.items() if n} == done
    first_blobs = {d: (out / f"{d}.odj").read_bytes() for d in done}

    # the same command again resumes: the done devices are skipped (their files untouched), the
    # rest is done, and every device ends with exactly one account whose password is the saved one
    r = subprocess.run(bulk_cmd(samba_dc, csv, out, "--parallel", "2", "--json"), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"skipped": len(done), "done": DEVICES - len(done)}
    assert doc["aborted"] is None and "error" not in doc
    assert "differ from the last run" not in r.stderr
    assert account_counts(samba_dc, devs) == {d: 1 for d in devs}
    assert {d: (out / f"{d}.odj").read_bytes() for d in done} == first_blobs
    states = journal_states(out)
    for d in devs:
        assert states[d].count("done") == 1 and states[d].count("account_created") == 1, (d, states[d])
        assert load_blob((out / f"{d}.odj").read_bytes()).machine_password == \
            (out / "secrets" / f"{d}.password").read_text()
    assert temporaries(out) == []
