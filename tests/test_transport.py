"""Issue 7: transport sealing - standard CMS envelopes that `openssl cms -decrypt` opens."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from certs import key_pem, make_cert, new_key, pem
from ppkgtool.errors import InvalidInputError, TamperedError, WrongPasswordError
from ppkgtool.security.transport import (
    looks_sealed, pwri_unwrap, pwri_wrap, seal_for_recipients, seal_with_password, unseal,
)

PW = "transport passphrase"


def openssl(*args):
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, timeout=300)


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ppkgtool", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.fixture(scope="module")
def recipient(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipient")
    key = new_key("rsa")
    cert = make_cert("Technician", key, eku=False)
    (folder / "r.pem").write_bytes(pem(cert))
    (folder / "r.key").write_bytes(key_pem(key))
    return folder / "r.pem", folder / "r.key", cert, key


@pytest.fixture(scope="module")
def package(shared_fixtures):
    return (shared_fixtures / "real-ppkg" / "wcd-gui-commands-msi.ppkg").read_bytes()


def test_password_envelope_opens_with_openssl(package, tmp_path):
    with open(tmp_path / "p.p7m", "wb") as out:
        info = seal_with_password(io.BytesIO(package), out, PW)
    assert info.mode == "password" and info.content_size == len(package)
    assert looks_sealed((tmp_path / "p.p7m").read_bytes()[:64]) == "password"
    r = openssl("cms", "-decrypt", "-inform", "DER", "-binary", "-pwri_password", PW, "-in", tmp_path / "p.p7m",
                "-out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_bytes() == package
    text = openssl("asn1parse", "-inform", "DER", "-in", tmp_path / "p.p7m").stdout.decode()
    for name in ("id-smime-ct-authEnvelopedData", "PBKDF2", "hmacWithSHA256", "id-alg-PWRI-KEK",
                 "aes-256-cbc", "aes-256-gcm"):   # CBC wraps the key (RFC 3211), GCM the content
        assert name in text
    assert ":0927C0" in text.replace(" ", "")  # 600000 iterations
    r = openssl("cms", "-decrypt", "-inform", "DER", "-binary", "-pwri_password", "wrong", "-in",
                tmp_path / "p.p7m", "-out", tmp_path / "bad")
    assert r.returncode != 0


def test_openssl_password_envelope_opens_with_ppkgtool(package, tmp_path):
    (tmp_path / "in").write_bytes(package)
    r = openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-cbc", "-pwri_password", PW,
                "-in", tmp_path / "in", "-out", tmp_path / "o.p7m")
    assert r.returncode == 0, r.stderr
    # unauthenticated CBC content: refused unless the caller accepts the risk
    with pytest.raises(InvalidInputError, match="unauthenticated"):
        with open(tmp_path / "o.p7m", "rb") as fh:
            unseal(fh, io.BytesIO(), password=PW)
    out = io.BytesIO()
    with open(tmp_path / "o.p7m", "rb") as fh:
        info = unseal(fh, out, password=PW, allow_unauthenticated=True)
    assert out.getvalue() == package and info.content_size == len(package)
    with pytest.raises(WrongPasswordError):
        with open(tmp_path / "o.p7m", "rb") as fh:
            unseal(fh, io.BytesIO(), password="nope-nope", allow_unauthenticated=True)


def test_certificate_envelope_opens_with_openssl(package, recipient, tmp_path):
    cert_path, key_path, cert, key = recipient
    second = make_cert("Second", new_key("rsa"), eku=False)
    with open(tmp_path / "c.p7m", "wb") as out:
        info = seal_for_recipients(io.BytesIO(package), out, [cert, second])
    assert info.mode == "certificate" and len(info.recipients) == 2
    r = openssl("cms", "-decrypt", "-inform", "DER", "-binary", "-recip", cert_path, "-inkey", key_path,
                "-in", tmp_path / "c.p7m", "-out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out").read_bytes() == package
    text = openssl("asn1parse", "-inform", "DER", "-in", tmp_path / "c.p7m").stdout.decode()
    for name in ("id-smime-ct-authEnvelopedData", "rsaesOaep", "aes-256-gcm"):
        assert name in text
    out = io.BytesIO()
    with open(tmp_path / "c.p7m", "rb") as fh:
        unseal(fh, out, recipient_key=key, recipient_cert=cert)
    assert out.getvalue() == package
    # GCM authenticates the content: a changed byte is caught
    data = bytearray((tmp_path / "c.p7m").read_bytes())
    data[len(data) // 2] ^= 1
    with pytest.raises(TamperedError):
        unseal(io.BytesIO(bytes(data)), io.BytesIO(), recipient_key=key, recipient_cert=cert)


def test_openssl_certificate_envelope_opens_with_ppkgtool(package, recipient, tmp_path):
    cert_path, key_path, cert, key = recipient
    (tmp_path / "in").write_bytes(package)
    r = openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-gcm", "-recip", cert_path,
                "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256", "-keyopt", "rsa_mgf1_md:sha256",
                "-in", tmp_path / "in", "-out", tmp_path / "o.p7m")
    assert r.returncode == 0, r.stderr
    out = io.BytesIO()
    with open(tmp_path / "o.p7m", "rb") as fh:
        unseal(fh, out, recipient_key=key)
    assert out.getvalue() == package
    r = openssl("cms", "-encrypt", "-binary", "-outform", "DER", "-aes-128-cbc", "-recip", cert_path,
                "-in", tmp_path / "in", "-out", tmp_path / "v15.p7m")  # PKCS#1 v1.5 key transport, CBC
    assert r.returncode == 0, r.stderr
    out = io.BytesIO()
    with open(tmp_path / "v15.p7m", "rb") as fh:
        unseal(fh, out, recipient_key=key, recipient_cert=cert, allow_unauthenticated=True)
    assert out.getvalue() == package


def test_refusals(package):
    with pytest.raises(InvalidInputError, match="at least 8"):
        seal_with_password(io.BytesIO(package), io.BytesIO(), "short")
    ec = make_cert("EC", new_key("ecdsa"), eku=False)
    with pytest.raises(InvalidInputError, match="RSA"):
        seal_for_recipients(io.BytesIO(package), io.BytesIO(), [ec])
    assert looks_sealed(package[:64]) is None


def test_pwri_key_wrap_round_trip():
    kek, iv = os.urandom(32), os.urandom(16)
    for n in (16, 24, 32):
        cek = os.urandom(n)
        wrapped = pwri_wrap(kek, iv, cek)
        assert len(wrapped) % 16 == 0 and len(wrapped) >= 32
        assert pwri_unwrap(kek, iv, wrapped) == cek
        assert pwri_unwrap(os.urandom(32), iv, wrapped) is None


def test_cli_transport_round_trips(real_ppkg, recipient, tmp_path):
    cert_path, key_path, *_ = recipient
    src = real_ppkg / "icd-cli-oobe.ppkg"
    env = {**os.environ, "PKG_PW": "Win-pass-16chars", "SEAL_PW": PW}
    # Windows encryption first, then a certificate envelope on top
    assert cli("encrypt", src, "-o", tmp_path / "e.ppkg", "--password-env", "PKG_PW", env=env).returncode == 0
    r = cli("encrypt", tmp_path / "e.ppkg", "-o", tmp_path / "e.p7m", "--transport", "cert", "--recipient", cert_path,
            "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["format"] == "cms-authenveloped"
    r = cli("decrypt", tmp_path / "e.p7m", "-o", tmp_path / "back.ppkg", "--recipient-key", key_path, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["content"] == "encrypted package"
    assert (tmp_path / "back.ppkg").read_bytes() == (tmp_path / "e.ppkg").read_bytes()
    r = cli("decrypt", tmp_path / "back.ppkg", "-o", tmp_path / "plain.ppkg", "--password-env", "PKG_PW", env=env)
    assert r.returncode == 0 and (tmp_path / "plain.ppkg").read_bytes() == src.read_bytes()
    # password envelope, generated password
    r = cli("encrypt", src, "-o", tmp_path / "p.p7m", "--transport", "password", "--generate-password", "--json")
    assert r.returncode == 0, r.stderr
    generated = json.loads(r.stdout)["password"]
    assert len(generated) == 24
    r = openssl("cms", "-decrypt", "-inform", "DER", "-binary", "-pwri_password", generated, "-in",
                tmp_path / "p.p7m", "-out", tmp_path / "o.ppkg")
    assert r.returncode == 0 and (tmp_path / "o.ppkg").read_bytes() == src.read_bytes()
    env["SEAL_PW"] = generated
    r = cli("decrypt", tmp_path / "p.p7m", "-o", tmp_path / "q.ppkg", "--password-env", "SEAL_PW", env=env)
    assert r.returncode == 0 and (tmp_path / "q.ppkg").read_bytes() == src.read_bytes()
    env["SEAL_PW"] = "wrong password"
    r = cli("decrypt", tmp_path / "p.p7m", "-o", tmp_path / "r.ppkg", "--password-env", "SEAL_PW", env=env)
    assert r.returncode == 4 and not (tmp_path / "r.ppkg").exists()
    r = cli("encrypt", src, "-o", tmp_path / "x.p7m", "--transport", "cert")
    assert r.returncode == 2 and "--recipient" in r.stderr


# --- issue 17: every mode is authenticated; a flipped bit anywhere is refused ---------------------

def _sweep(envelope: bytes, open_it) -> list[int]:
    """Bit positions whose flip still opened to changed output (or raised something untyped)."""
    from ppkgtool.errors import PpkgError
    passed = []
    for bit in range(len(envelope) * 8):
        data = bytearray(envelope)
        data[bit // 8] ^= 1 << (bit % 8)
        try:
            open_it(io.BytesIO(bytes(data)))
        except PpkgError:
            continue
        passed.append(bit)
    return passed


def test_bit_flip_sweep_password_mode_refuses_every_change():
    content = os.urandom(200)
    out = io.BytesIO()
    seal_with_password(io.BytesIO(content), out, PW, iterations=1000)
    envelope = out.getvalue()
    got = io.BytesIO()
    unseal(io.BytesIO(envelope), got, password=PW)
    assert got.getvalue() == content
    assert _sweep(envelope, lambda fh: unseal(fh, io.BytesIO(), password=PW)) == []


def test_bit_flip_sweep_certificate_mode_refuses_every_change(recipient):
    _, _, cert, key = recipient
    content = os.urandom(200)
    out = io.BytesIO()
    seal_for_recipients(io.BytesIO(content), out, [cert])
    envelope = out.getvalue()
    assert _sweep(envelope, lambda fh: unseal(fh, io.BytesIO(), recipient_key=key, recipient_cert=cert)) == []


def test_cli_refuses_a_flipped_envelope_and_writes_nothing(real_ppkg, tmp_path):
    env = dict(os.environ, SEAL_PW=PW)
    r = cli("encrypt", real_ppkg / "wcd-gui-commands-msi.ppkg", "-o", tmp_path / "p.p7m", "--transport", "password",
            "--password-env", "SEAL_PW",
            env=env)
    assert r.returncode == 0, r.stderr
    data = bytearray((tmp_path / "p.p7m").read_bytes())
    for where in (len(data) // 2, len(data) - 20, len(data) - 1):  # content, near the end, the GCM tag
        bad = bytearray(data)
        bad[where] ^= 0x10
        (tmp_path / "bad.p7m").write_bytes(bytes(bad))
        r = cli("decrypt", tmp_path / "bad.p7m", "-o", tmp_path / "out.ppkg", "--password-env", "SEAL_PW", env=env)
        assert r.returncode == 4 and "changed" in r.stderr, (where, r.stderr)
        assert not (tmp_path / "out.ppkg").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temporaries left
