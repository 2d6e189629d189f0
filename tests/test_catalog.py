"""Issue 7: security catalogs (.cat) built and parsed exactly as ICD/WCD write them."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ppkgtool.errors import CatalogError
from ppkgtool.security import asn1
from ppkgtool.security.catalog import (
    OID_CAT_MEMBERINFO2, OID_SPC_INDIRECT_DATA, hash_package, make_unsigned_catalog, parse_catalog,
)

RANK52 = "wcd-itadmin-rank52"


def tool_hash(tool: str, path) -> bytes:
    out = subprocess.run([tool, str(path)], capture_output=True, text=True, check=True).stdout
    return bytes.fromhex(out.split()[0])


def test_unsigned_catalog_is_byte_identical_to_wcds(real_ppkg):
    real = (real_ppkg / f"{RANK52}.cat").read_bytes()
    parsed = parse_catalog(real)
    ours = make_unsigned_catalog(real_ppkg / f"{RANK52}.ppkg", list_identifier=parsed.list_identifier,
                                 effective_time=parsed.effective_time)
    assert ours == real


def test_parse_real_catalog_members_are_the_package_hashes(real_ppkg):
    cat = parse_catalog((real_ppkg / f"{RANK52}.cat").read_bytes())
    pkg = real_ppkg / f"{RANK52}.ppkg"
    assert not cat.signed and cat.signers == () and cat.certificates == ()
    assert cat.list_identifier.hex() == "960ca1ef0474ab46b1ce29425a103420"
    assert cat.effective_time == dt.datetime(2022, 3, 31, 14, 9, 52, tzinfo=dt.timezone.utc)
    assert cat.tags("sha1") == [tool_hash("sha1sum", pkg)]
    assert cat.tags("sha256") == [tool_hash("sha256sum", pkg)]
    sha256_member = [m for m in cat.members if m.hash_name == "sha256"][0]
    assert sha256_member.attribute_oids == (OID_CAT_MEMBERINFO2, OID_SPC_INDIRECT_DATA)
    assert sha256_member.indirect_digest == sha256_member.tag
    assert cat.member_for(hash_package(pkg)) == sha256_member
    assert cat.member_for(hash_package(real_ppkg / "icd-cli-oobe.ppkg")) is None


@pytest.mark.parametrize("name", ["icd-cli-oobe", "wcd-gui-commands-msi", RANK52])
def test_new_catalog_reads_with_openssl_and_lists_sha1sum_sha256sum(real_ppkg, tmp_path, name):
    pkg = real_ppkg / f"{name}.ppkg"
    cat = make_unsigned_catalog(pkg)
    path = tmp_path / "x.cat"
    path.write_bytes(cat)
    text = subprocess.run(["openssl", "asn1parse", "-inform", "DER", "-in", str(path)], capture_output=True,
                          text=True, check=True).stdout
    for expected in ("pkcs7-signedData", "1.3.6.1.4.1.311.10.1", "1.3.6.1.4.1.311.12.1.1",
                     "1.3.6.1.4.1.311.12.1.3", "1.3.6.1.4.1.311.12.2.3", "1.3.6.1.4.1.311.2.1.4",
                     "1.3.6.1.4.1.311.2.1.25", "sha256"):
        assert expected in text
    assert tool_hash("sha1sum", pkg).hex().upper() in text
    assert tool_hash("sha256sum", pkg).hex().upper() in text
    parsed = parse_catalog(cat)
    assert len(parsed.list_identifier) == 16
    assert abs(parsed.effective_time - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=5)


def test_deterministic_and_accepts_bytes_file_and_path(real_ppkg):
    pkg = real_ppkg / "icd-cli-oobe.ppkg"
    when = dt.datetime(2024, 7, 19, 11, 47, 22, tzinfo=dt.timezone.utc)
    a = make_unsigned_catalog(pkg, list_identifier=b"\x01" * 16, effective_time=when)
    with open(pkg, "rb") as fh:
        b = make_unsigned_catalog(fh, list_identifier=b"\x01" * 16, effective_time=when)
    c = make_unsigned_catalog(pkg.read_bytes(), list_identifier=b"\x01" * 16, effective_time=when)
    assert a == b == c
    assert make_unsigned_catalog(pkg) != make_unsigned_catalog(pkg)  # random list identifier


def test_times_after_2049_use_generalized_time(real_ppkg):
    when = dt.datetime(2051, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    cat = make_unsigned_catalog(b"MSWIM\0\0\0data", list_identifier=b"\x02" * 16, effective_time=when)
    assert parse_catalog(cat).effective_time == when
    assert b"\x18\x0f20510102030405Z" in cat


def test_extra_packages_become_members():
    cat = parse_catalog(make_unsigned_catalog(b"one", extra_packages=[b"two", b"one"]))
    assert len(cat.members) == 4  # the repeated file is listed once
    assert cat.member_for(hash_package(b"two")) is not None


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d[:-1], "runs past"),
    (lambda d: d + b"\x00", "after the end"),
    (lambda d: b"\x30\x80" + d[4:], "indefinite"),
    (lambda d: d.replace(bytes.fromhex("2b0601040182370a01"), bytes.fromhex("2b0601040182370a02"), 1), "not a Microsoft CTL"),
    (lambda d: d.replace(bytes.fromhex("2b0601040182370c0101"), bytes.fromhex("2b0601040182370c0109"), 1), "catalog list"),
    (lambda d: b"", "empty"),
])
def test_malformed_catalogs_are_refused_with_the_place(real_ppkg, mutate, message):
    real = (real_ppkg / f"{RANK52}.cat").read_bytes()
    with pytest.raises(CatalogError) as err:
        parse_catalog(mutate(real))
    assert message in str(err.value)


def test_size_limit():
    with pytest.raises(CatalogError, match="limit"):
        parse_catalog(b"\x30" + b"\x00" * (16 * 1024 * 1024 + 1))


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_catalogs_only_raise_catalog_error(real_ppkg, data):
    real = bytearray((real_ppkg / f"{RANK52}.cat").read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(real) - 1))
        real[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(real)))
    try:
        parse_catalog(bytes(real[:cut]))
    except CatalogError:
        pass


def test_der_layer_round_trips_and_is_strict():
    assert asn1.decode(asn1.integer(-129)).as_int() == -129
    assert asn1.decode(asn1.integer(2**70)).as_int() == 2**70
    assert asn1.decode(asn1.oid("1.2.840.113549.1.9.16.3.9")).as_oid() == "1.2.840.113549.1.9.16.3.9"
    assert asn1.decode(asn1.oid("2.999.3")).as_oid() == "2.999.3"
    big = asn1.octets(b"x" * 300)
    assert asn1.decode(big).as_octets() == b"x" * 300
    with pytest.raises(Exception, match="minimal"):
        asn1.decode(b"\x04\x81\x01x")  # long form for a short length
    with pytest.raises(Exception, match="minimal"):
        asn1.decode(b"\x02\x02\x00\x01").as_int()
    with pytest.raises(Exception, match="DER"):
        asn1.decode(b"\x01\x01\x01").as_bool()
    assert asn1.set_of([b"\x04\x01b", b"\x04\x01a"]) == b"\x31\x06\x04\x01a\x04\x01b"
