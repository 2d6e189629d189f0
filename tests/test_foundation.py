"""Issue 2: the CLI skeleton, its conventions, and a real DC answering LDAPS."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys

import pytest

from ppkgtool import __version__
from ppkgtool.cli import COMMANDS
from ppkgtool.errors import EXIT_CODES


def run_cli(*args, input=None):
    return subprocess.run([sys.executable, "-m", "ppkgtool", *args], capture_output=True, text=True,
                          input=input, timeout=120)


def test_version():
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"ppkgtool {__version__}"


def test_help_lists_every_subcommand_and_exit_codes():
    r = run_cli("--help")
    assert r.returncode == 0
    for name, _ in COMMANDS:
        assert f"    {name}" in r.stdout, name
    for code, meaning in EXIT_CODES.items():
        assert f"{code}  {meaning}" in r.stdout
    for sub in ("provision", "compose", "show", "request"):
        assert sub in run_cli("odj", "--help").stdout
    assert "learn" in run_cli("catalog", "--help").stdout


@pytest.mark.parametrize("name", [n for n, _ in COMMANDS])
def test_every_command_has_help(name):
    r = run_cli(name, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: ppkgtool" in r.stdout


def test_bad_arguments_one_line_error():
    r = run_cli("--no-such-option")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "error" in r.stderr
    r = run_cli("no-such-command")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1


def test_secret_source_without_terminal(tmp_path, monkeypatch):
    from ppkgtool.errors import SecretSourceError
    from ppkgtool.secrets import SecretSource

    f = tmp_path / "pw"
    f.write_text("s3cret\n")
    assert SecretSource("password", file=str(f)).read() == "s3cret"
    monkeypatch.setenv("PPK_TEST_PW", "from-env")
    assert SecretSource("password", env="PPK_TEST_PW").read() == "from-env"
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))
    with pytest.raises(SecretSourceError, match="no terminal"):
        SecretSource("password").read()


def test_atomic_output_never_overwrites(tmp_path):
    from ppkgtool.errors import OutputExistsError
    from ppkgtool.fsutil import write_bytes_atomic

    p = tmp_path / "out.bin"
    write_bytes_atomic(p, b"one")
    with pytest.raises(OutputExistsError):
        write_bytes_atomic(p, b"two")
    assert p.read_bytes() == b"one"
    write_bytes_atomic(p, b"two", overwrite=True)
    assert p.read_bytes() == b"two"
    s = tmp_path / "secret"
    write_bytes_atomic(s, b"x", private=True)
    assert (s.stat().st_mode & 0o777) == 0o600
    assert [x.name for x in tmp_path.iterdir() if x.name.startswith(".")] == []


def test_large_outputs_leave_the_page_cache(tmp_path):
    """Outputs of DROP_CACHE_BYTES or more are fsync'd and then dropped from the page cache (bulk
    writes gigabytes it never reads again); fincore, an independent reader, sees no page left."""
    import shutil
    import tempfile
    from pathlib import Path

    from ppkgtool.fsutil import DROP_CACHE_BYTES, write_bytes_atomic

    def fs_type(p) -> str:
        return subprocess.run(["stat", "-f", "-c", "%T", str(p)], capture_output=True, text=True).stdout.strip()

    # on tmpfs the page cache is the storage and nothing can be dropped: use a disk-backed folder
    base = tmp_path if fs_type(tmp_path) != "tmpfs" else Path(__file__).resolve().parent
    assert fs_type(base) != "tmpfs"
    work = Path(tempfile.mkdtemp(prefix=".pagecache-", dir=base))
    try:
        data = os.urandom(DROP_CACHE_BYTES + 12345)
        big, small = work / "big.bin", work / "small.bin"
        write_bytes_atomic(big, data)
        write_bytes_atomic(small, data[:100_000])
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(big), str(small)],
                             capture_output=True, text=True, check=True).stdout.split()
        assert out[0] == "0" and int(out[1]) > 0, out      # the small one stays cached
        assert big.read_bytes() == data
    finally:
        shutil.rmtree(work)


@pytest.mark.dc
def test_real_dc_ldaps_bind_verified_and_rootdse(samba_dc):
    """An LDAPS bind whose certificate is verified against the DC's own CA, then a rootDSE read."""
    import ldap3

    tls = ldap3.Tls(ca_certs_file=samba_dc.ca_file, validate=ssl.CERT_REQUIRED,
                    valid_names=[samba_dc.dc_name, samba_dc.dc_name.upper().replace(".TEST.LAB", ".test.lab")])
    server = ldap3.Server(samba_dc.address, port=636, use_ssl=True, tls=tls, get_info=ldap3.DSA)
    conn = ldap3.Connection(server, user=samba_dc.admin_user, password=samba_dc.admin_password,
                            authentication=ldap3.SIMPLE, raise_exceptions=True)
    assert conn.bind()
    assert conn.search("", "(objectClass=*)", search_scope=ldap3.BASE,
                       attributes=["defaultNamingContext", "rootDomainNamingContext", "dnsHostName"])
    entry = conn.entries[0]
    assert str(entry.defaultNamingContext) == samba_dc.base_dn
    assert str(entry.dnsHostName).lower() == samba_dc.dc_name
    conn.unbind()


@pytest.mark.dc
def test_real_dc_rejects_unknown_ca(samba_dc, tmp_path):
    """Verification is real: a CA that did not sign the DC's certificate fails the handshake."""
    import ldap3
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    import datetime

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Other CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    other = tmp_path / "other.pem"
    other.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    tls = ldap3.Tls(ca_certs_file=str(other), validate=ssl.CERT_REQUIRED)
    server = ldap3.Server(samba_dc.address, port=636, use_ssl=True, tls=tls, connect_timeout=5)
    conn = ldap3.Connection(server, user=samba_dc.admin_user, password=samba_dc.admin_password)
    with pytest.raises(ldap3.core.exceptions.LDAPException):
        conn.bind()
