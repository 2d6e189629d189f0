"""Issue 7: Windows-like verification - verdicts, and any changed byte reported as tampered."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import warnings

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from certs import make_cert, make_pki, new_key, self_signed
from ppkgtool.security.catalog import hash_package, make_unsigned_catalog
from ppkgtool.security.signing import check_signer, load_signer, sign_package
from ppkgtool.security.verify import Verdict, verify_package

PKG = "icd-cli-oobe.ppkg"
FUZZ = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def cli(*args):
    return subprocess.run([sys.executable, "-m", "ppkgtool", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module", params=["rsa", "ecdsa"])
def signed(request, tmp_path_factory, shared_fixtures):
    """(package bytes, catalog, pki) with the signer chained through an intermediate."""
    pki = make_pki(tmp_path_factory.mktemp(f"v-{request.param}"), request.param)
    package = (shared_fixtures / "real-ppkg" / PKG).read_bytes()
    catalog = sign_package(package, load_signer(pki.cert_pem, pki.key_pem, pki.chain_pem))
    return package, catalog, pki


@pytest.fixture(scope="module")
def self_signed_case(tmp_path_factory, shared_fixtures):
    folder = tmp_path_factory.mktemp("v-self")
    c, k, cert, _ = self_signed(folder, "Self Provisioner", kind="ecdsa")
    package = (shared_fixtures / "real-ppkg" / PKG).read_bytes()
    return package, sign_package(package, load_signer(c, k)), cert


def test_verdicts(signed):
    package, catalog, pki = signed
    v = verify_package(package, catalog, [pki.root])
    assert v.verdict == "trusted" and v.ok and v.as_error() is None
    assert [c["role"] for c in v.chain] == ["signer", "issuer", "trusted provisioner"]
    assert v.signer["subject"] == pki.leaf.subject.rfc4514_string()
    assert len(v.signer["thumbprint"]) == 40 and v.signer["digest_algorithm"] == "sha256"
    # the signer or the intermediate as the trusted provisioner is an anchor too (exclusive root store)
    assert verify_package(package, catalog, [pki.leaf]).chain[0]["role"] == "signer, trusted provisioner"
    assert verify_package(package, catalog, [pki.intermediate]).verdict == "trusted"
    v = verify_package(package, catalog, [])
    assert v.verdict == "untrusted" and "CERT_E_CHAINING" in v.reason
    assert v.as_error().exit_code == 4
    assert verify_package(package, None, [pki.root]).verdict == "unsigned"
    assert verify_package(package, make_unsigned_catalog(package), [pki.root]).verdict == "unsigned"
    v = verify_package(package + b"\0", catalog, [pki.root])
    assert v.verdict == "tampered" and "not listed" in v.reason


def test_same_named_root_with_another_key_is_untrusted_not_tampered(signed, tmp_path):
    package, catalog, pki = signed
    renewed = make_pki(tmp_path, pki.kind)  # same names, new keys (a renewed CA)
    assert renewed.root.subject == pki.root.subject
    v = verify_package(package, catalog, [renewed.root])
    assert v.verdict == "untrusted", v.reason


def test_root_in_chain_and_untrusted_root(signed, tmp_path):
    package, _, pki = signed
    signer = check_signer(pki.leaf, pki.leaf_key, [pki.intermediate, pki.root])
    catalog = sign_package(package, signer)
    other = make_pki(tmp_path, "rsa")
    v = verify_package(package, catalog, [other.leaf])
    assert v.verdict == "untrusted"
    assert verify_package(package, catalog, [pki.root]).verdict == "trusted"


def test_time_and_basic_constraints(tmp_path, shared_fixtures):
    package = (shared_fixtures / "real-ppkg" / PKG).read_bytes()
    pki = make_pki(tmp_path, "rsa")
    catalog = sign_package(package, load_signer(pki.cert_pem, pki.key_pem, pki.chain_pem))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=800)
    v = verify_package(package, catalog, [pki.root], now=later)
    assert v.verdict == "untrusted" and "CERT_E_EXPIRED" in v.reason
    # an "intermediate" that is not a CA
    root_key, mid_key, leaf_key = new_key("rsa"), new_key("rsa"), new_key("rsa")
    root = make_cert("BC Root", root_key, ca=True)
    mid = make_cert("Not A CA", mid_key, issuer=root, issuer_key=root_key, ca=False)
    leaf = make_cert("BC Leaf", leaf_key, issuer=mid, issuer_key=mid_key)
    catalog = sign_package(package, check_signer(leaf, leaf_key, [mid]))
    v = verify_package(package, catalog, [root])
    assert v.verdict == "untrusted" and "not a CA" in v.reason


def test_catalog_signed_by_osslsigncode_verifies(tmp_path, shared_fixtures):
    """A peer signer: osslsigncode signs our unsigned catalog; we judge it like Windows."""
    pkg = shared_fixtures / "real-ppkg" / PKG
    pki = make_pki(tmp_path / "pki", "rsa")
    (tmp_path / "u.cat").write_bytes(make_unsigned_catalog(pkg))
    r = subprocess.run(["osslsigncode", "sign", "-certs", pki.cert_pem, "-key", pki.key_pem, "-ac", pki.chain_pem,
                        "-in", tmp_path / "u.cat", "-out", tmp_path / "s.cat"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    catalog = (tmp_path / "s.cat").read_bytes()
    assert verify_package(pkg, catalog, [pki.root]).verdict == "trusted"
    assert verify_package(pkg, catalog, []).verdict == "untrusted"
    assert verify_package(pkg.read_bytes()[:-1], catalog, [pki.root]).verdict == "tampered"


def test_every_single_bit_flip_of_the_catalog_is_tampered(signed):
    """Exhaustive over every byte position (bit 0 and bit 7) with the right trusted provisioner."""
    package, catalog, pki = signed
    hashes = hash_package(package)
    assert verify_package(hashes, catalog, [pki.root]).verdict == "trusted"
    missed = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about the odd serial numbers flips create
        for pos in range(len(catalog)):
            for bit in (0x01, 0x80):
                changed = bytearray(catalog)
                changed[pos] ^= bit
                v = verify_package(hashes, bytes(changed), [pki.root])
                if v.verdict != "tampered":
                    missed.append((pos, bit, v.verdict, v.reason))
    assert missed == []


def _one_byte_changed(blob: bytes, data) -> tuple[bytes, int, int]:
    """``blob`` with one byte, drawn by hypothesis, set to another value: (changed, position, value)."""
    pos = data.draw(st.integers(0, len(blob) - 1), label="position")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != blob[pos]), label="new byte")
    changed = bytearray(blob)
    changed[pos] = value
    return bytes(changed), pos, value


@FUZZ
@given(data=st.data())
def test_random_byte_changes_of_the_catalog_are_tampered(signed, data):
    package, catalog, pki = signed
    changed, pos, value = _one_byte_changed(catalog, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = verify_package(package, changed, [pki.root])
    assert v.verdict == "tampered", (pos, value, v.reason)


@FUZZ
@given(data=st.data())
def test_random_byte_changes_of_the_package_are_tampered(signed, data):
    package, catalog, pki = signed
    changed, _pos, _value = _one_byte_changed(package, data)
    v = verify_package(changed, catalog, [pki.root])
    assert v.verdict == "tampered"


@settings(max_examples=100, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_self_signed_signer_flips(self_signed_case, data):
    package, catalog, cert = self_signed_case
    assert verify_package(package, catalog, [cert]).verdict == "trusted"
    which = data.draw(st.sampled_from(["package", "catalog"]))
    target = package if which == "package" else catalog
    pos = data.draw(st.integers(0, len(target) - 1))
    changed = bytearray(target)
    changed[pos] ^= data.draw(st.integers(1, 255))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = (verify_package(bytes(changed), catalog, [cert]) if which == "package"
             else verify_package(package, bytes(changed), [cert]))
    assert v.verdict == "tampered"


def test_verdict_model_is_strict():
    with pytest.raises(ValueError):
        Verdict("fine", None, [], "")


def test_cli_verify_exit_codes_and_json(tmp_path, shared_fixtures):
    pkg = tmp_path / "corp.ppkg"
    pkg.write_bytes((shared_fixtures / "real-ppkg" / PKG).read_bytes())
    pki = make_pki(tmp_path / "pki", "ecdsa")
    r = cli("verify", pkg, "--json")
    assert r.returncode == 4 and json.loads(r.stdout)["verdict"] == "unsigned"
    (tmp_path / "corp.cat").write_bytes(sign_package(pkg, load_signer(pki.cert_pem, pki.key_pem, pki.chain_pem)))
    r = cli("verify", pkg, "--trusted-provisioner", pki.root_pem, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "trusted" and doc["catalog_path"] == str(tmp_path / "corp.cat")
    assert doc["signer"]["subject"] == pki.leaf.subject.rfc4514_string()
    assert [c["role"] for c in doc["chain"]] == ["signer", "issuer", "trusted provisioner"]
    r = cli("verify", pkg)
    assert r.returncode == 4 and "signed but untrusted" in r.stdout and "trusted-provisioner" in r.stderr
    # DER trusted provisioner works too
    from cryptography.hazmat.primitives.serialization import Encoding
    (tmp_path / "root.cer").write_bytes(pki.root.public_bytes(Encoding.DER))
    assert cli("verify", pkg, "--trusted-provisioner", tmp_path / "root.cer").returncode == 0
    data = bytearray(pkg.read_bytes())
    data[100] ^= 1
    pkg.write_bytes(bytes(data))
    r = cli("verify", pkg, "--trusted-provisioner", pki.root_pem, "--json")
    assert r.returncode == 4 and json.loads(r.stdout)["verdict"] == "tampered"
    r = cli("verify", pkg, "--catalog", tmp_path / "missing.cat")
    assert r.returncode == 3


def test_cli_verify_real_unsigned_catalog(real_ppkg):
    r = cli("verify", real_ppkg / "wcd-itadmin-rank52.ppkg", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 4 and doc["verdict"] == "unsigned" and doc["catalog"]["signed"] is False
