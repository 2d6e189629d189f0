"""Issue 7: Windows package encryption - checked against openssl enc / openssl dgst and wimlib."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ppkgtool.errors import FormatError, InvalidInputError, TamperedError, WrongPasswordError
from ppkgtool.security.encryption import (
    ERROR_FILE_CORRUPT, ERROR_INVALID_DATA, check_password, decrypt_bytes, decrypt_package, encrypt_bytes,
    encrypt_package, encrypted_size, generate_password, looks_encrypted, wim_end,
)

PASSWORD = "Pr0v-Pa55word!"
REAL = ["icd-cli-oobe.ppkg", "wcd-gui-commands-msi.ppkg", "wcd-itadmin-rank52.ppkg"]


def key_hex(password: str) -> str:
    return password.encode("ascii").ljust(16, b"\0").hex()


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, timeout=300, **kw)


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "ppkgtool", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.parametrize("name", REAL)
def test_our_output_opens_with_openssl_enc_and_dgst(real_ppkg, tmp_path, name):
    plain = (real_ppkg / name).read_bytes()
    enc = tmp_path / "enc.ppkg"
    encrypt_package(real_ppkg / name, enc, PASSWORD)
    data = enc.read_bytes()
    assert len(data) == encrypted_size(len(plain)) and (len(data) - 48) % 160 == 0
    iv, body, tag = data[:16], data[16:-32], data[-32:]
    (tmp_path / "body").write_bytes(body)
    r = run("openssl", "enc", "-d", "-aes-128-cbc", "-nopad", "-K", key_hex(PASSWORD), "-iv", iv.hex(),
            "-in", tmp_path / "body", "-out", tmp_path / "plain")
    assert r.returncode == 0, r.stderr
    padded = (tmp_path / "plain").read_bytes()
    assert padded[:len(plain)] == plain and padded[len(plain):] == b"\0" * (len(padded) - len(plain))
    assert len(padded) - len(plain) < 160
    r = run("openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{key_hex(PASSWORD)}", "-binary",
            tmp_path / "body")
    assert r.returncode == 0 and r.stdout == tag


def test_openssl_made_package_decrypts_and_reads_as_wim(real_ppkg, tmp_path):
    plain = (real_ppkg / "wcd-gui-commands-msi.ppkg").read_bytes()
    padded = plain + b"\0" * (-len(plain) % 160)
    (tmp_path / "padded").write_bytes(padded)
    iv = os.urandom(16)
    r = run("openssl", "enc", "-aes-128-cbc", "-nopad", "-K", key_hex(PASSWORD), "-iv", iv.hex(),
            "-in", tmp_path / "padded", "-out", tmp_path / "body")
    assert r.returncode == 0, r.stderr
    body = (tmp_path / "body").read_bytes()
    tag = run("openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", f"hexkey:{key_hex(PASSWORD)}", "-binary",
              tmp_path / "body").stdout
    (tmp_path / "enc.ppkg").write_bytes(iv + body + tag)
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    # as Windows writes it: WIM + trailing zeros; wimlib must read it
    r = cli("decrypt", tmp_path / "enc.ppkg", "-o", tmp_path / "windows-form.ppkg", "--password-file",
            tmp_path / "pw", "--keep-padding")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "windows-form.ppkg").read_bytes() == padded
    info = run("wiminfo", tmp_path / "windows-form.ppkg", text=True)
    assert info.returncode == 0 and "Image Count:    1" in info.stdout, info.stderr
    listing = run("wimlib-imagex", "dir", tmp_path / "windows-form.ppkg", "1", text=True)
    assert listing.returncode == 0 and "/Multivariant/0/customizations.xml" in listing.stdout
    # default: the zero padding removed, byte-identical to the original
    r = cli("decrypt", tmp_path / "enc.ppkg", "-o", tmp_path / "out.ppkg", "--password-file", tmp_path / "pw",
            "--json")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.ppkg").read_bytes() == plain
    assert json.loads(r.stdout)["padding_removed"] == len(padded) - len(plain)
    assert stat.S_IMODE((tmp_path / "out.ppkg").stat().st_mode) == 0o600
    try:
        from ppkgtool.wim import open_wim
    except ImportError:  # the WIM reader lands with its own issue
        return
    wim = open_wim(str(tmp_path / "windows-form.ppkg"))
    assert int(wim.image_count) == 1


SIZES = [1, 7, 8, 159, 160, 161, 319, 320, 4096, 160 * 1000, 4 * 1024 * 1024 + 3, 10 * 1024 * 1024 - 1,
         10 * 1024 * 1024]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_sizes(size):
    data = os.urandom(size)
    enc = encrypt_bytes(data, PASSWORD, require_wim=False)
    assert len(enc) == encrypted_size(size)
    out = decrypt_bytes(enc, PASSWORD, require_wim=False)
    assert out[:size] == data and out[size:] == b"\0" * (len(out) - size) and len(out) - size < 160
    assert len(out) % 160 == 0


@settings(max_examples=40, deadline=5000)
@given(size=st.integers(1, 10 * 1024 * 1024), seed=st.binary(min_size=16, max_size=16))
def test_round_trip_random_sizes(size, seed):
    data = (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size]
    out = decrypt_bytes(encrypt_bytes(data, "k", require_wim=False), "k", require_wim=False)
    assert out[:size] == data and not out[size:].strip(b"\0")


def test_windows_rules_refuse_non_wim_input():
    with pytest.raises(InvalidInputError, match="not a plain package"):
        encrypt_bytes(b"hello", PASSWORD)
    with pytest.raises(InvalidInputError, match="empty"):
        encrypt_bytes(b"", PASSWORD, require_wim=False)


@pytest.mark.parametrize("password, ok", [
    ("", False), ("a", True), ("x" * 16, True), ("x" * 17, False), (" spaces ok ~", True),
    ("caf\u00e9", False), ("\u5bc6\u7801", False), ("tab\there", False), ("nul\0", False), ("\u00ff", False),
])
def test_password_rule(password, ok):
    if ok:
        assert check_password(password) == password.encode("ascii").ljust(16, b"\0")
    else:
        with pytest.raises(InvalidInputError):
            check_password(password)


def test_generated_passwords():
    seen = {generate_password() for _ in range(50)}
    assert len(seen) == 50
    for p in seen:
        assert len(p) == 16 and p.isalnum() and p.isascii()
        check_password(p)


def test_wrong_password_and_tampering(real_ppkg):
    plain = (real_ppkg / "icd-cli-oobe.ppkg").read_bytes()
    enc = encrypt_bytes(plain, PASSWORD)
    for wrong in ("not-it", PASSWORD[:-1], PASSWORD + "x", "a", "~" * 16):
        with pytest.raises(WrongPasswordError, match="invalid first chunk") as err:
            decrypt_bytes(enc, wrong)
        assert err.value.code == ERROR_INVALID_DATA and err.value.exit_code == 4
    for pos in (*range(16, 32), 200, len(enc) // 2, len(enc) - 33, len(enc) - 1):  # ciphertext and tag
        changed = bytearray(enc)
        changed[pos] ^= 0x40
        with pytest.raises(TamperedError) as err:
            decrypt_bytes(bytes(changed), PASSWORD)
        assert err.value.code == ERROR_FILE_CORRUPT
    for pos in range(16):  # the IV is outside the HMAC: the WIM header check catches it
        changed = bytearray(enc)
        changed[pos] ^= 0x01
        with pytest.raises(TamperedError, match="IV"):
            decrypt_bytes(bytes(changed), PASSWORD)
    with pytest.raises(FormatError):
        decrypt_bytes(enc[:100], PASSWORD)
    with pytest.raises(FormatError):
        decrypt_bytes(enc[:-5], PASSWORD)


def test_looks_encrypted(real_ppkg):
    for name in REAL:
        plain = (real_ppkg / name).read_bytes()
        assert not looks_encrypted(len(plain), plain[:16])
        enc = encrypt_bytes(plain, PASSWORD)
        assert looks_encrypted(len(enc), enc[:16])
    assert not looks_encrypted(16 + 32, b"x" * 16)
    assert looks_encrypted(16 + 160 + 32, b"x" * 16)
    assert not looks_encrypted(16 + 161 + 32, b"x" * 16)


def test_wim_end_matches_real_packages(real_ppkg):
    for name in REAL:
        plain = (real_ppkg / name).read_bytes()
        assert wim_end(plain[:208]) == len(plain)  # a package ends where its XML ends [C]


def test_cli_encrypt_decrypt(real_ppkg, tmp_path):
    src = real_ppkg / "icd-cli-oobe.ppkg"
    r = cli("encrypt", src, "-o", tmp_path / "e.ppkg", "--generate-password", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    password = doc["password"]
    assert len(password) == 16 and doc["format"] == "windows-ppkg-encrypted"
    assert stat.S_IMODE((tmp_path / "e.ppkg").stat().st_mode) == 0o600
    r = cli("encrypt", src, "-o", tmp_path / "e2.ppkg", "--generate-password")
    assert r.returncode == 0 and r.stdout.count("password:") == 1 and "password manager" in r.stderr
    env = {**os.environ, "PKG_PW": password}
    r = cli("decrypt", tmp_path / "e.ppkg", "-o", tmp_path / "d.ppkg", "--password-env", "PKG_PW", env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d.ppkg").read_bytes() == src.read_bytes()
    env["PKG_PW"] = "wrong"
    r = cli("decrypt", tmp_path / "e.ppkg", "-o", tmp_path / "d2.ppkg", "--password-env", "PKG_PW", env=env)
    assert r.returncode == 4 and "wrong password" in r.stderr and not (tmp_path / "d2.ppkg").exists()
    env["PKG_PW"] = "x" * 17
    r = cli("encrypt", src, "-o", tmp_path / "e3.ppkg", "--password-env", "PKG_PW", env=env)
    assert r.returncode == 3 and "1 to 16" in r.stderr
    env["PKG_PW"] = "caf\u00e9"
    r = cli("encrypt", src, "-o", tmp_path / "e3.ppkg", "--password-env", "PKG_PW", env=env)
    assert r.returncode == 3 and "ASCII" in r.stderr
    r = cli("decrypt", src, "-o", tmp_path / "d3.ppkg", "--password-env", "PKG_PW", env=env)
    assert r.returncode == 3 and "not encrypted" in r.stderr
    r = cli("encrypt", src, "-o", tmp_path / "e4.ppkg")  # no password source, no terminal
    assert r.returncode == 3 and "no password" in r.stderr
    changed = bytearray((tmp_path / "e.ppkg").read_bytes())
    changed[5000] ^= 1
    (tmp_path / "t.ppkg").write_bytes(bytes(changed))
    env["PKG_PW"] = password
    r = cli("decrypt", tmp_path / "t.ppkg", "-o", tmp_path / "d4.ppkg", "--password-env", "PKG_PW", env=env)
    assert r.returncode == 4 and "HMAC" in r.stderr and not (tmp_path / "d4.ppkg").exists()


def test_streams_and_paths_agree(real_ppkg, tmp_path):
    src = real_ppkg / "icd-cli-oobe.ppkg"
    iv = bytes(range(16))
    out = io.BytesIO()
    with open(src, "rb") as fh:
        encrypt_package(fh, out, PASSWORD, iv=iv)
    encrypt_package(src, tmp_path / "p.ppkg", PASSWORD, iv=iv)
    assert out.getvalue() == (tmp_path / "p.ppkg").read_bytes()
    assert stat.S_IMODE((tmp_path / "p.ppkg").stat().st_mode) == 0o600
    decrypt_package(tmp_path / "p.ppkg", tmp_path / "d.ppkg", PASSWORD)
    assert (tmp_path / "d.ppkg").read_bytes().rstrip(b"\0") == src.read_bytes().rstrip(b"\0")


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_is_tampered_never_silent(real_ppkg, data):
    plain = (real_ppkg / "icd-cli-oobe.ppkg").read_bytes()
    enc = encrypt_bytes(plain, PASSWORD, iv=bytes(16))
    pos = data.draw(st.integers(0, len(enc) - 1), label="position")
    changed = bytearray(enc)
    changed[pos] ^= data.draw(st.integers(1, 255), label="xor")
    with pytest.raises(TamperedError):
        decrypt_bytes(bytes(changed), PASSWORD)


def test_cli_argument_errors_are_one_line_and_write_nothing(tmp_path, real_ppkg):
    """The CLI's own checks: output equal to input, a missing input, --recipient without
    --transport cert. Each is one line with its exit code, and no file appears."""
    import shutil
    import subprocess
    import sys

    pkg = tmp_path / "x.ppkg"
    shutil.copyfile(real_ppkg / "icd-cli-oobe.ppkg", pkg)
    original = pkg.read_bytes()
    pw = tmp_path / "pw"
    pw.write_text("abcdefgh")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ppkgtool", *args], capture_output=True, text=True,
                              timeout=120)

    cases = [
        (("encrypt", str(pkg), "-o", str(pkg), "--password-file", str(pw)), 2, "different file from the input"),
        (("encrypt", str(tmp_path / "nope.ppkg"), "-o", str(tmp_path / "y.ppkg"), "--password-file", str(pw)),
         3, "no such file"),
        (("encrypt", str(pkg), "-o", str(tmp_path / "y.ppkg"), "--password-file", str(pw),
          "--recipient", str(pw)), 2, "--recipient is for --transport cert"),
        (("decrypt", str(tmp_path / "nope"), "-o", str(tmp_path / "z"), "--password-file", str(pw)),
         3, "no such file"),
    ]
    for args, code, text in cases:
        r = cli(*args)
        assert r.returncode == code, (args, r.stderr)
        assert text in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert pkg.read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pw", "x.ppkg"]
