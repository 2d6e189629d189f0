"""Issue 7: signing packages - catalogs that osslsigncode and OpenSSL accept, and signer checks."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from certs import make_cert, make_pki, new_key, self_signed
from ppkgtool.errors import InvalidInputError, SecretSourceError, WrongPasswordError
from ppkgtool.security.catalog import (
    OID_CTL, OID_SPC_SP_OPUS_INFO, OID_SPC_STATEMENT_TYPE, hash_package, make_unsigned_catalog, parse_catalog,
)
from ppkgtool.security.signing import check_signer, load_signer, sign_catalog, sign_package
from ppkgtool.security.verify import verify_package

PKG = "icd-cli-oobe.ppkg"


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kw)


def cli(*args):
    return run(sys.executable, "-m", "ppkgtool", *args)


@pytest.fixture(scope="module", params=["rsa", "ecdsa"])
def pki(request, tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp(f"pki-{request.param}"), request.param)


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki-other"), "rsa")


# --- independent checks ----------------------------------------------------------------------

def asn1parse(path) -> list[tuple[int, int, int, int, str]]:
    """(offset, depth, header length, length, rest) per line of `openssl asn1parse`."""
    out = run("openssl", "asn1parse", "-inform", "DER", "-in", path)
    assert out.returncode == 0, out.stderr
    rows = []
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\d+):d=(\d+)\s+hl=(\d+)\s+l=\s*(\d+)\s+(.*)", line)
        rows.append((int(m[1]), int(m[2]), int(m[3]), int(m[4]), m[5]))
    return rows


def der_header(tag: int, n: int) -> bytes:
    if n < 0x80:
        return bytes([tag, n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw


def ctl_and_detached(cat_path):
    """With offsets from openssl asn1parse: the CTL contents octets (what the signature's
    messageDigest covers, RFC 2315 9.3) and the same SignedData with the content detached
    (the CMS form `openssl cms` can parse: it requires an OCTET STRING eContent)."""
    data = cat_path.read_bytes()
    rows = asn1parse(cat_path)
    i = next(i for i, r in enumerate(rows) if r[1] == 4 and ":1.3.6.1.4.1.311.10.1" in r[4])
    eci = rows[i - 1]            # encapContentInfo SEQUENCE (d=3)
    ctx = rows[i + 1]            # [0] (d=4)
    ctl = rows[i + 2]            # the CTL SEQUENCE (d=5)
    assert eci[1] == 3 and "SEQUENCE" in eci[4] and ctx[1] == 4 and "cont [ 0 ]" in ctx[4]
    content = data[ctl[0] + ctl[2]:ctl[0] + ctl[2] + ctl[3]]
    sd = rows[3]                 # SignedData SEQUENCE (d=2), after the OID and [0] at d=1
    assert sd[1] == 2 and "SEQUENCE" in sd[4]
    oid_tlv = data[rows[i][0]:rows[i][0] + rows[i][2] + rows[i][3]]
    new_eci = der_header(0x30, len(oid_tlv)) + oid_tlv
    sd_body = (data[sd[0] + sd[2]:eci[0]] + new_eci + data[eci[0] + eci[2] + eci[3]:sd[0] + sd[2] + sd[3]])
    sd_new = der_header(0x30, len(sd_body)) + sd_body
    ci_body = data[rows[1][0]:rows[1][0] + rows[1][2] + rows[1][3]] + der_header(0xA0, len(sd_new)) + sd_new
    return content, der_header(0x30, len(ci_body)) + ci_body


def osslsigncode_ok(cat, root) -> tuple[bool, str]:
    r = run("osslsigncode", "verify", "-in", cat, "-CAfile", root)
    return r.returncode == 0 and "Succeeded" in r.stdout, r.stdout + r.stderr


def openssl_checks(tmp_path, cat, root) -> tuple[bool, bool]:
    content, detached = ctl_and_detached(cat)
    (tmp_path / "ctl.bin").write_bytes(content)
    (tmp_path / "detached.p7s").write_bytes(detached)
    smime = run("openssl", "smime", "-verify", "-inform", "DER", "-binary", "-in", cat, "-content",
                tmp_path / "ctl.bin", "-CAfile", root, "-purpose", "any", "-out", "/dev/null")
    cms = run("openssl", "cms", "-verify", "-inform", "DER", "-binary", "-in", tmp_path / "detached.p7s",
              "-content", tmp_path / "ctl.bin", "-CAfile", root, "-purpose", "any", "-out", "/dev/null")
    return smime.returncode == 0, cms.returncode == 0


# --- tests -----------------------------------------------------------------------------------

def test_catalog_accepted_by_osslsigncode_and_openssl(pki, other_pki, real_ppkg, tmp_path):
    signer = load_signer(pki.cert_pem, pki.key_pem, pki.chain_pem)
    assert [c.subject for c in signer.chain] == [pki.intermediate.subject]
    cat = tmp_path / "pkg.cat"
    cat.write_bytes(sign_package(real_ppkg / PKG, signer, program_name="Corp baseline",
                                 more_info_url="https://intranet.invalid/pkg"))
    ok, text = osslsigncode_ok(cat, pki.root_pem)
    assert ok, text
    assert "Text description: Corp baseline" in text and "Message digest algorithm: SHA256" in text
    assert openssl_checks(tmp_path, cat, pki.root_pem) == (True, True)
    # a different root: every independent verifier refuses
    assert not osslsigncode_ok(cat, other_pki.root_pem)[0]
    assert openssl_checks(tmp_path, cat, other_pki.root_pem) == (False, False)
    # and ours: trusted only with the right provisioner
    assert verify_package(real_ppkg / PKG, cat.read_bytes(), [pki.root]).verdict == "trusted"
    assert verify_package(real_ppkg / PKG, cat.read_bytes(), [other_pki.root]).verdict == "untrusted"


def test_signed_attributes_and_certificates(pki, real_ppkg, tmp_path):
    signer = load_signer(pki.pfx, pfx_password=pki.PFX_PASSWORD)
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    der = sign_package(real_ppkg / PKG, signer, signing_time=when, list_identifier=b"\x07" * 16,
                       effective_time=when, program_name="X")
    cat = parse_catalog(der)
    (s,) = cat.signers
    assert s.digest_algorithm == "sha256" and cat.digest_algorithms == ("sha256",)
    assert s.content_type == OID_CTL and s.signing_time == when and s.program_name == "X"
    assert OID_SPC_SP_OPUS_INFO in s.signed_attribute_oids and OID_SPC_STATEMENT_TYPE in s.signed_attribute_oids
    assert {c.subject for c in cat.certificates} == {pki.leaf.subject, pki.intermediate.subject}
    assert cat.member_for(hash_package(real_ppkg / PKG)) is not None
    path = tmp_path / "a.cat"
    path.write_bytes(der)
    text = " ".join(r[4] for r in asn1parse(path))
    for oid in ("contentType", "signingTime", "messageDigest", "1.3.6.1.4.1.311.2.1.12", "1.3.6.1.4.1.311.2.1.11"):
        assert oid in text
    assert ("rsaEncryption" if pki.kind == "rsa" else "ecdsa-with-SHA256") in text


def test_signing_the_unsigned_icd_catalog_keeps_its_ctl(pki, real_ppkg, tmp_path):
    real = (real_ppkg / "wcd-itadmin-rank52.cat").read_bytes()
    signer = load_signer(pki.cert_pem, pki.key_pem, pki.chain_pem)
    signed = sign_catalog(real, signer)
    a, b = parse_catalog(real), parse_catalog(signed)
    assert b.content_octets == a.content_octets and b.list_identifier == a.list_identifier
    verdict = verify_package(real_ppkg / "wcd-itadmin-rank52.ppkg", signed, [pki.root])
    assert verdict.verdict == "trusted", verdict.reason
    with pytest.raises(InvalidInputError, match="already signed"):
        sign_catalog(signed, signer)


def test_pfx_passwords(pki, tmp_path):
    with pytest.raises(SecretSourceError, match="password"):
        load_signer(pki.pfx)
    with pytest.raises(WrongPasswordError):
        load_signer(pki.pfx, pfx_password="nope")
    asked = []
    signer = load_signer(pki.pfx, pfx_password=lambda: asked.append(1) or pki.PFX_PASSWORD)
    assert asked == [1] and signer.certificate == pki.leaf and signer.chain == (pki.intermediate,)
    with pytest.raises(InvalidInputError, match="--key is not used"):
        load_signer(pki.pfx, pki.key_pem, pfx_password=pki.PFX_PASSWORD)


def test_key_that_does_not_match_is_refused(pki, other_pki):
    with pytest.raises(InvalidInputError, match="does not belong"):
        load_signer(pki.cert_pem, other_pki.key_pem)


def test_expired_and_future_certificates_are_refused(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    c, k, *_ = self_signed(tmp_path, "Old", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1))
    with pytest.raises(InvalidInputError, match="expired"):
        load_signer(c, k)
    c, k, *_ = self_signed(tmp_path, "Future", not_before=now + dt.timedelta(days=1))
    with pytest.raises(InvalidInputError, match="not valid before"):
        load_signer(c, k)


def test_key_usage_without_digital_signature(tmp_path, real_ppkg):
    c, k, cert, _ = self_signed(tmp_path, "KeyEnc", key_usage="no-digital-signature")
    with pytest.raises(InvalidInputError, match="digitalSignature") as err:
        load_signer(c, k)
    assert "--allow-any-usage" in err.value.one_line()
    signer = load_signer(c, k, allow_any_usage=True)
    assert any("digitalSignature" in w for w in signer.warnings)
    # Windows requires no usage: such a catalog still verifies as trusted
    assert verify_package(real_ppkg / PKG, sign_package(real_ppkg / PKG, signer), [cert]).verdict == "trusted"


def test_weak_and_unsupported_keys(tmp_path):
    c, k, *_ = self_signed(tmp_path, "Small", kind="rsa1024")
    with pytest.raises(InvalidInputError, match="at least 2048"):
        load_signer(c, k)
    assert load_signer(c, k, allow_weak=True).key_description == "RSA 1024"
    key = ed25519.Ed25519PrivateKey.generate()
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, None))
    with pytest.raises(InvalidInputError, match="RSA or ECDSA"):
        check_signer(cert, key)
    (tmp_path / "ed.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "ed.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    with pytest.raises(InvalidInputError, match="RSA or ECDSA"):
        load_signer(tmp_path / "ed.pem", tmp_path / "ed.key")


def test_eku_without_code_signing_warns(tmp_path):
    key = new_key("ecdsa")
    cert = make_cert("No EKU", key, eku=False)
    signer = check_signer(cert, key)
    assert signer.warnings == ()  # no EKU extension at all: every usage allowed
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID
    now = dt.datetime.now(dt.timezone.utc)
    cert2 = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.subject).public_key(key.public_key())
             .serial_number(2).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
             .sign(key, hashes.SHA256()))
    assert any("codeSigning" in w for w in check_signer(cert2, key).warnings)


# --- the command ----------------------------------------------------------------------------

def test_cli_sign_writes_cat_beside_and_signs_existing_unsigned_one(pki, real_ppkg, tmp_path):
    pkg = tmp_path / "corp.ppkg"
    pkg.write_bytes((real_ppkg / PKG).read_bytes())
    (tmp_path / "corp.cat").write_bytes(make_unsigned_catalog(pkg))
    before = parse_catalog((tmp_path / "corp.cat").read_bytes())
    pw = tmp_path / "pfx.txt"
    pw.write_text(pki.PFX_PASSWORD + "\n")
    r = cli("sign", pkg, "--cert", pki.pfx, "--pfx-password-file", pw, "--json")
    assert r.returncode == 0, r.stderr
    import json
    doc = json.loads(r.stdout)
    assert doc["catalog"] == str(tmp_path / "corp.cat") and doc["signed_existing_catalog"] is True
    after = parse_catalog((tmp_path / "corp.cat").read_bytes())
    assert after.signed and after.list_identifier == before.list_identifier
    ok, text = osslsigncode_ok(tmp_path / "corp.cat", pki.root_pem)
    assert ok, text
    # a signed catalog is not replaced without --overwrite
    r = cli("sign", pkg, "--cert", pki.cert_pem, "--key", pki.key_pem)
    assert r.returncode == 3 and "already exists" in r.stderr
    r = cli("sign", pkg, "--cert", pki.cert_pem, "--key", pki.key_pem, "--chain", pki.chain_pem,
            "-o", tmp_path / "other.cat")
    assert r.returncode == 0, r.stderr
    assert "thumbprint" in r.stdout
    r = cli("verify", pkg, "--catalog", tmp_path / "other.cat", "--trusted-provisioner", pki.root_pem)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cli_sign_refusals(pki, other_pki, real_ppkg, tmp_path):
    pkg = real_ppkg / PKG
    r = cli("sign", pkg, "--cert", pki.cert_pem, "--key", other_pki.key_pem, "-o", tmp_path / "x.cat")
    assert r.returncode == 3 and "does not belong" in r.stderr
    r = cli("sign", pkg, "--cert", pki.cert_pem, "--key", pki.key_pem, "-o", tmp_path / "x.cat",
            "--timestamp-url", "http://127.0.0.1:9/")
    assert r.returncode == 2 and "not supported yet" in r.stderr
    r = cli("sign", pkg, "--cert", pki.pfx, "-o", tmp_path / "x.cat")  # no password, no terminal
    assert r.returncode == 3 and "password" in r.stderr
    assert not (tmp_path / "x.cat").exists()
    assert "Traceback" not in r.stderr


def test_cli_sign_encrypted_package_lists_decrypted_forms(pki, real_ppkg, tmp_path):
    from ppkgtool.security.encryption import encrypt_package
    enc = tmp_path / "enc.ppkg"
    encrypt_package(real_ppkg / PKG, enc, "S3cret-pass")
    pw = tmp_path / "pw.txt"
    pw.write_text("S3cret-pass")
    r = cli("sign", enc, "--cert", pki.cert_pem, "--key", pki.key_pem, "--chain", pki.chain_pem)
    assert r.returncode == 3 and "encrypted" in r.stderr
    r = cli("sign", enc, "--cert", pki.cert_pem, "--key", pki.key_pem, "--chain", pki.chain_pem,
            "--password-file", pw)
    assert r.returncode == 0, r.stderr
    cat = (tmp_path / "enc.cat").read_bytes()
    # the plain package, the padded decryption and the encrypted file are all members
    assert verify_package(real_ppkg / PKG, cat, [pki.root]).verdict == "trusted"
    assert verify_package(enc, cat, [pki.root]).verdict == "trusted"
    assert len(parse_catalog(cat).members) == 6


def test_cli_build_trust(pki, tmp_path):
    r = cli("build-trust", "--cert", pki.cert_pem, "-o", tmp_path / "trust.ppkg", "--json")
    assert r.returncode == 0, r.stderr
    import json
    doc = json.loads(r.stdout)
    thumb = doc["trusted_provisioner"]["thumbprint"]
    from cryptography.hazmat.primitives.serialization import Encoding
    import hashlib
    import base64
    assert thumb == hashlib.sha1(pki.leaf.public_bytes(Encoding.DER)).hexdigest().upper()
    info = run("wiminfo", tmp_path / "trust.ppkg")
    assert info.returncode == 0 and "Image Count:    1" in info.stdout
    listing = run("wimlib-imagex", "dir", tmp_path / "trust.ppkg", "1")
    provxml = [line for line in listing.stdout.splitlines() if "TrustedProvisioners" in line and thumb in line]
    assert provxml, listing.stdout
    run("wimlib-imagex", "extract", tmp_path / "trust.ppkg", "1", provxml[0], "--dest-dir", tmp_path / "x",
        "--no-acls")
    text = next((tmp_path / "x").glob("*.provxml")).read_text(encoding="utf-8-sig")
    assert base64.b64encode(pki.leaf.public_bytes(Encoding.DER)).decode() in text
    assert (tmp_path / "trust.cat").is_file()
    assert verify_package(tmp_path / "trust.ppkg", (tmp_path / "trust.cat").read_bytes(), []).verdict == "unsigned"
    # the same certificate gives the same package ID
    r2 = cli("build-trust", "--cert", pki.cert_pem, "-o", tmp_path / "trust2.ppkg", "--json")
    assert json.loads(r2.stdout)["package_id"] == doc["package_id"]
    r3 = cli("build-trust", "--cert", pki.cert_pem, "-o", tmp_path / "trust.ppkg")
    assert r3.returncode == 3 and "already exists" in r3.stderr


def _inspect_state(pkg, *extra):
    import json as _json
    r = cli("inspect", pkg, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return _json.loads(r.stdout)["signature"]["state"]


def _verify_state(pkg, *extra):
    import json as _json
    r = cli("verify", pkg, "--json", *extra)
    return _json.loads(r.stdout)["verdict"]


def test_verify_and_inspect_agree_on_every_signed_and_encrypted_form(pki, real_ppkg, tmp_path):
    """Plain, encrypted, signed-then-encrypted (catalog kept) and encrypted-then-signed packages:
    verify and inspect give the same signature state, with and without the password (one rule,
    security.verify.verify_file)."""
    import shutil
    pw = tmp_path / "pw.txt"
    pw.write_text("S3cret-pass")
    trust = ("--trusted-provisioner", pki.root_pem)
    forms = {}
    plain = tmp_path / "plain.ppkg"
    shutil.copy(real_ppkg / PKG, plain)
    assert cli("sign", plain, "--cert", pki.cert_pem, "--key", pki.key_pem, "--chain", pki.chain_pem).returncode == 0
    forms["signed plain"] = plain
    unsigned = tmp_path / "unsigned.ppkg"
    shutil.copy(real_ppkg / PKG, unsigned)
    forms["unsigned plain"] = unsigned
    enc_only = tmp_path / "enc-only.ppkg"
    assert cli("encrypt", real_ppkg / PKG, "-o", enc_only, "--password-file", pw).returncode == 0
    forms["encrypted, no catalog"] = enc_only
    s_then_e = tmp_path / "s-then-e.ppkg"
    assert cli("encrypt", plain, "-o", s_then_e, "--password-file", pw).returncode == 0
    # encrypt carries the signed catalog of the plain package unchanged (issue 18, item 3)
    assert (tmp_path / "s-then-e.cat").read_bytes() == (tmp_path / "plain.cat").read_bytes()
    forms["signed then encrypted"] = s_then_e
    e_then_s = tmp_path / "e-then-s.ppkg"
    shutil.copy(enc_only, e_then_s)
    r = cli("sign", e_then_s, "--cert", pki.cert_pem, "--key", pki.key_pem, "--chain", pki.chain_pem,
            "--password-file", pw)
    assert r.returncode == 0, r.stderr
    forms["encrypted then signed"] = e_then_s
    seen = {}
    for label, pkg in forms.items():
        for with_password in (False, True):
            extra = ("--password-file", pw) if with_password and "encrypted" in label else ()
            v = _verify_state(pkg, *trust, *extra)
            i = _inspect_state(pkg, *trust, *extra)
            assert v == i, (label, with_password, v, i)
            seen[(label, with_password)] = v
    assert seen[("signed plain", False)] == "trusted"
    assert seen[("unsigned plain", False)] == "unsigned"
    assert seen[("encrypted, no catalog", True)] == "unsigned"
    assert seen[("signed then encrypted", True)] == "trusted"        # the catalog lists the decrypted form
    assert seen[("signed then encrypted", False)] == "needs-password"   # not checkable without the password
    assert seen[("encrypted then signed", False)] == seen[("encrypted then signed", True)] == "trusted"
