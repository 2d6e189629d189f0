"""Issue 10: bulk against the real Samba AD DC — end to end, outage and resume, 200 devices."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ppkgtool.odj import load_blob
from ppkgtool.wim import open_wim
from ad_helpers import RUN, accounts_in_ldap, delete_accounts
from samba_dc import kinit

pytestmark = pytest.mark.dc
ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "customizations" / "customizations.xml"


def names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{RUN}{i:04d}"[:15] for i in range(n)]


def write_csv(path: Path, devices: list[str], site: str = "Berlin") -> Path:
    path.write_text("name,var:SITE\n" + "".join(f"{d},{site}\n" for d in devices))
    return path


def bulk_cmd(dc, csv: Path, out: Path, *extra: str, template: Path = TEMPLATE) -> list[str]:
    return [sys.executable, "-m", "ppkgtool", "bulk", str(csv), "--template", str(template), "--out", str(out),
            "--domain", dc.dns_domain, "--dc", dc.dc_name, "--dc-address", dc.address, "--ca-file", dc.ca_file,
            "--user", dc.admin_user, "--password-file", dc.admin_password_file(), *extra]


def journal_states(out: Path) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for line in (out / "journal.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if "device" in rec:   # "run" records note each run's options
            states.setdefault(rec["device"], []).append(rec["state"])
    return states


@pytest.fixture
def cleanup(samba_dc):
    made: list[str] = []
    yield made
    delete_accounts(samba_dc, made)


def test_bulk_end_to_end(samba_dc, tmp_path, cleanup):
    devs = names("BE", 6)
    cleanup.extend(devs)
    csv = write_csv(tmp_path / "devices.csv", devs)
    out = tmp_path / "out"
    r = subprocess.run(bulk_cmd(samba_dc, csv, out, "--parallel", "3", "--json"), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"done": 6} and doc["failed"] == []
    assert json.loads((out / "summary.json").read_text())["counts"] == {"done": 6}
    assert accounts_in_ldap(samba_dc, devs) == set(devs)
    for d in devs:
        assert (out / f"{d}.odj").stat().st_mode & 0o777 == 0o600
        assert (out / "secrets" / f"{d}.password").stat().st_mode & 0o777 == 0o600
        pd = load_blob((out / f"{d}.odj").read_bytes())
        assert pd.machine_name == d
        assert (out / "secrets" / f"{d}.password").read_text() == pd.machine_password
        # bulk's default password form: 64 printable ASCII characters (--password-form compact)
        assert len(pd.machine_password) == 64 and pd.machine_password.isascii()
        with open_wim(out / f"{d}.ppkg") as wim:
            img = wim.image(1)
            assert img.properties["NAME"] == "Example branch workstation (Berlin)"
            paths = [f.path for f in img.files()]
            assert any(p.endswith(".provxml") for p in paths)
            # the device's own blob travels in its package
            blobs = [p for p in paths if p.startswith("/DataAsset/") and "odj" in p.lower()]
            assert blobs, paths
            assert load_blob(img.read(blobs[0])).machine_name == d
        assert (out / f"{d}.cat").exists()
        assert journal_states(out)[d][-1] == "done"
    # the secrets are not on stdout
    for d in devs:
        assert (out / "secrets" / f"{d}.password").read_text() not in r.stdout + r.stderr
    # a blob's password gets a Kerberos ticket
    pd = load_blob((out / f"{devs[0]}.odj").read_bytes())
    assert kinit(samba_dc, f"{devs[0]}$@{samba_dc.realm}", pd.machine_password, str(tmp_path / "cc")).returncode == 0
    # re-running does nothing more: every device is skipped, nothing is created twice
    r2 = subprocess.run(bulk_cmd(samba_dc, csv, out, "--json"), capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0, r2.stderr
    assert json.loads(r2.stdout)["counts"] == {"skipped": 6}
    assert all(states.count("done") == 1 and states.count("account_created") == 1
               for states in journal_states(out).values())


def test_bulk_no_catalog_and_djoin_form_passwords(samba_dc, tmp_path, cleanup):
    """--no-catalog writes no .cat (the packages still open); --password-form windows gives djoin's
    120-character passwords, which get Kerberos tickets like the default compact ones."""
    devs = names("BN", 2)
    cleanup.extend(devs)
    out = tmp_path / "out"
    r = subprocess.run(bulk_cmd(samba_dc, write_csv(tmp_path / "devices.csv", devs), out, "--no-catalog",
                                "--password-form", "windows", "--json"), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["counts"] == {"done": 2}
    assert not list(out.glob("*.cat"))
    for d in devs:
        with open_wim(out / f"{d}.ppkg") as wim:
            assert wim.image(1).properties["NAME"]
        pw = load_blob((out / f"{d}.odj").read_bytes()).machine_password
        assert len(pw) == 120 and not pw.isascii()
        assert kinit(samba_dc, f"{d}$@{samba_dc.realm}", pw, str(tmp_path / f"cc-{d}")).returncode == 0


def test_bulk_csv_errors_create_nothing(samba_dc, tmp_path):
    devs = names("BC", 3)
    csv = tmp_path / "devices.csv"
    csv.write_text("name,var:SITE\n" + f"{devs[0]},x\n{devs[0].lower()},y\nbad_name!,z\n")
    out = tmp_path / "out"
    r = subprocess.run(bulk_cmd(samba_dc, csv, out), capture_output=True, text=True, timeout=120)
    assert r.returncode == 3
    assert "duplicate name" in r.stderr and "bad_name!" in r.stderr and "nothing was created" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert accounts_in_ldap(samba_dc, devs) == set()
    assert not out.exists()


def test_bulk_existing_account_needs_reuse(samba_dc, tmp_path, cleanup):
    devs = names("BR", 3)
    cleanup.extend(devs)
    first = write_csv(tmp_path / "one.csv", devs[:1])
    assert subprocess.run(bulk_cmd(samba_dc, first, tmp_path / "o1"), capture_output=True, timeout=300).returncode == 0
    csv = write_csv(tmp_path / "devices.csv", devs)
    r = subprocess.run(bulk_cmd(samba_dc, csv, tmp_path / "o2", "--json"), capture_output=True, text=True, timeout=300)
    doc = json.loads(r.stdout)
    assert r.returncode == 5
    assert doc["counts"] == {"done": 2, "failed": 1}
    assert doc["failed"][0]["name"] == devs[0] and doc["failed"][0]["code"] == 2224
    # with --reuse the same output folder finishes the existing account (its password is reset)
    r = subprocess.run(bulk_cmd(samba_dc, csv, tmp_path / "o2", "--reuse", "--json"), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["counts"] == {"done": 1, "skipped": 2}
    pd = load_blob((tmp_path / "o2" / f"{devs[0]}.odj").read_bytes())
    assert kinit(samba_dc, f"{devs[0]}$@{samba_dc.realm}", pd.machine_password, str(tmp_path / "cc")).returncode == 0


def test_bulk_dc_outage_then_resume(samba_dc, samba_dc_control, tmp_path, cleanup):
    """The DC is killed mid-run: a clear message; after a restart a re-run finishes the rest.
    No account exists without its saved password and blob, and no device is done twice."""
    devs = names("BO", 60)
    cleanup.extend(devs)
    csv = write_csv(tmp_path / "devices.csv", devs)
    out = tmp_path / "out"
    proc = subprocess.Popen(bulk_cmd(samba_dc, csv, out, "--parallel", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (out / "journal.jsonl").exists() and \
                sum(s[-1] == "done" for s in journal_states(out).values()) >= 8:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before the outage: " + proc.stderr.read()
    samba_dc_control.kill()
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        samba_dc_control.start()
    assert proc.returncode == 5, stderr
    assert "re-run the same command to resume" in stderr
    assert len([l for l in stderr.splitlines() if l.startswith("ppkgtool: error")]) == 1
    states = journal_states(out)
    done_before = {d for d, s in states.items() if s[-1] == "done"}
    assert 8 <= len(done_before) < len(devs)
    # every account that exists has its password saved (none is lost)
    existing = accounts_in_ldap(samba_dc, devs)
    for d in existing:
        assert (out / "secrets" / f"{d}.password").exists(), d
    # resume
    r = subprocess.run(bulk_cmd(samba_dc, csv, out, "--parallel", "2", "--json"), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["counts"].get("skipped", 0) == len(done_before)
    assert doc["counts"].get("done", 0) == len(devs) - len(done_before)
    # LDAP against the output folder: every device has exactly one account and its blob on disk,
    # the blob's password is the saved one, and no device went through 'done' twice
    assert accounts_in_ldap(samba_dc, devs) == set(devs)
    states = journal_states(out)
    for d in devs:
        pd = load_blob((out / f"{d}.odj").read_bytes())
        assert pd.machine_password == (out / "secrets" / f"{d}.password").read_text()
        assert states[d].count("done") == 1
        assert states[d].count("account_created") == 1
    # the interrupted devices' passwords work (sampled)
    for d in sorted(set(devs) - done_before)[:3]:
        pw = (out / "secrets" / f"{d}.password").read_text()
        assert kinit(samba_dc, f"{d}$@{samba_dc.realm}", pw, str(tmp_path / f"cc-{d}")).returncode == 0


@pytest.mark.slow
def test_bulk_200_devices_with_64mib_asset_certificates_and_policy(samba_dc, tmp_path, cleanup):
    """200 devices, a template with a 64 MiB asset, two certificates, a policy file, signed catalogs:
    every package opens, sampled blobs' passwords get Kerberos tickets, the journal shows all done.
    (The asset is text-like so 200 packages fit on a CI disk; bench/bench_bulk.py uses MSI-like data.)"""
    from bulk_template import make_template
    from certs import make_pki
    from ppkgtool.regpol import PolicyValue, build_registry_pol

    devs = names("BH", 200)
    cleanup.extend(devs)
    template, assets = make_template(tmp_path / "tpl")
    pki = make_pki(tmp_path / "pki")
    pol = tmp_path / "Registry.pol"
    pol.write_bytes(build_registry_pol([PolicyValue.dword(r"Software\Policies\Example", "Kiosk", 1)]))
    csv = write_csv(tmp_path / "devices.csv", devs)
    out = tmp_path / "out"
    r = subprocess.run(bulk_cmd(samba_dc, csv, out, "--asset-dir", str(assets), "--root-cert", str(pki.root_pem),
                                "--ca-cert", str(pki.intermediate_pem), "--policy", str(pol),
                                "--sign-cert", str(pki.cert_pem), "--sign-key", str(pki.key_pem),
                                "--sign-chain", str(pki.chain_pem), "--parallel", "4", "--json", template=template),
                       capture_output=True, text=True, timeout=3000)
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)
    assert doc["counts"] == {"done": 200}
    states = journal_states(out)
    assert all(states[d][-1] == "done" and states[d].count("done") == 1 for d in devs)
    asset_size = (assets / "bigapp.msi").stat().st_size
    for d in devs:
        with open_wim(out / f"{d}.ppkg") as wim:
            files = {f.path: f for f in wim.image(1).files()}
            big = [f for p, f in files.items() if p.endswith("/bigapp.msi")]
            assert len(big) == 1 and big[0].size == asset_size
            assert any(p.endswith(".pol") for p in files)
        assert (out / f"{d}.cat").stat().st_size > 1000   # signed catalogs carry the chain
    # the big asset's content is intact in a sample (SHA-1 checked by the reader while reading)
    with open_wim(out / f"{devs[-1]}.ppkg") as wim:
        img = wim.image(1)
        path = next(f.path for f in img.files() if f.path.endswith("/bigapp.msi"))
        with img.open(path) as fh:
            import hashlib
            h = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        assert h.digest() == hashlib.sha256((assets / "bigapp.msi").read_bytes()).digest()
    assert accounts_in_ldap(samba_dc, devs[::20]) == set(devs[::20])
    for d in devs[::40]:
        pd = load_blob((out / f"{d}.odj").read_bytes())
        assert kinit(samba_dc, f"{d}$@{samba_dc.realm}", pd.machine_password, str(tmp_path / f"cc-{d}")).returncode == 0
