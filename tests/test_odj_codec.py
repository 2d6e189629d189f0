"""ODJ blob codec: the real Windows blob, text forms, every part type, validation codes, fuzzing."""

from __future__ import annotations

import base64
import dataclasses
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from ppkgtool.odj.summary import summarize
from ppkgtool.errors import OdjError
from ppkgtool.odj import (
    NETSETUP_PROVISION, CertPart, JoinProv3Part, JoinProv4Part, MachineFacts, OdjBlob, PackagePart, PartType,
    PolicyPart, ProvisionData, UnknownPart, compose_provision_data, decode_provision_data,
    encode_provision_data, generate_machine_password, load_blob, to_base64, to_savefile, unattend_component,
    unattend_document,
)
from ppkgtool.odj.textforms import blob_bytes
from test_odj_support import DOMAIN_GUID, OBJECT_GUID, domain_facts, full_provision_data, make_ca, policy_values


@pytest.fixture(scope="module")
def windows_blob(real_odj) -> bytes:
    return (real_odj / "windows-w2k19-provision-data.bin").read_bytes()


# -- the real Windows blob ------------------------------------------------------------------------

def test_windows_blob_decodes_to_the_documented_values(windows_blob):
    pd = decode_provision_data(windows_blob)
    s = summarize(pd, show_secrets=True)
    assert s["version"] == 1
    assert s["domain"] == "w2k19dom.ber.redhat.com"
    assert s["dns_domain"] == "w2k19dom.ber.redhat.com"
    assert s["dns_forest"] == "w2k19dom.ber.redhat.com"
    assert s["netbios_name"] == "W2K19DOM"
    assert s["machine_name"] == "wurst2"
    assert s["machine_password"] == "wurst2"
    assert s["default_password"] is True
    assert s["options"] == 4 and s["option_names"] == ["USE_DEFAULT_PASSWORD"]
    assert s["domain_guid"] == "c0761a96-e242-4ec2-9160-7a66a4ac4929"
    assert s["domain_sid"] == "S-1-5-21-306967272-1096148586-1957995587"
    assert s["dc_name"] == r"\\gdw2k19dc.w2k19dom.ber.redhat.com"
    assert s["dc_address"] == r"\\192.168.56.108"
    assert s["dc_address_type"] == 1
    assert s["dc_flags"] == 0xE003F3FD
    assert s["dc_site"] == s["client_site"] == "Default-First-Site-Name"
    assert [b["format"] for b in s["blobs"]] == [1, 2]
    parts = s["parts"]
    assert [(p["type"], p["flags"]) for p in parts] == [("JOIN_PROVIDER", 1), ("JOIN_PROVIDER3", 0)]
    assert parts[0]["guid"] == "631c7621-5289-4321-bc9e-80f843f868c3"
    assert parts[0]["same_as_win7_blob"] is True
    assert parts[1]["rid"] == 1605 and s["rid"] == 1605
    assert parts[1]["sid"] == "S-1-5-21-306967272-1096148586-1957995587-1605"
    # the typed models say the same
    assert pd.machine_password == "wurst2" and pd.rid == 1605
    assert pd.win7 == pd.parts[0].content
    assert isinstance(pd.parts[1].content, JoinProv3Part)


def test_windows_blob_reencodes_byte_for_byte(windows_blob):
    pd = decode_provision_data(windows_blob)
    # its Win7 streams use heap-address-like referent ids, which are kept
    assert pd.win7.referent_ids[0] == 0x934F9C80
    assert encode_provision_data(pd) == windows_blob


def test_windows_blob_with_fresh_referent_ids_still_decodes_to_equal_models(windows_blob):
    pd = decode_provision_data(windows_blob)
    w = dataclasses.replace(pd.win7, referent_ids=())
    fresh = dataclasses.replace(pd, blobs=(OdjBlob(1, w), pd.blobs[1]))
    data = encode_provision_data(fresh)
    assert data != windows_blob and len(data) == len(windows_blob)
    assert decode_provision_data(data) == pd


def test_summary_redacts_the_password(windows_blob):
    s = summarize(decode_provision_data(windows_blob))
    assert "machine_password" not in s
    assert "wurst2" not in repr({k: v for k, v in s.items() if k not in ("machine_name",)}).replace(
        "machine_name': 'wurst2", "")
    assert "machine_password" not in str(s["parts"])


def test_password_is_not_in_repr(windows_blob):
    pd = decode_provision_data(windows_blob)
    text = repr(pd).replace("machine_name='wurst2'", "")
    assert "wurst2" not in text


# -- text forms ---------------------------------------------------------------------------------

def test_text_forms_of_the_windows_blob(windows_blob, real_odj):
    expected = decode_provision_data(windows_blob)
    b64 = to_base64(windows_blob)
    assert (real_odj / "windows-w2k19-provision-data.b64.txt").read_text().strip() == b64
    save = to_savefile(windows_blob)
    assert save[:2] == b"\xff\xfe" and save[-2:] == b"\x00\x00"
    assert save[2:-2].decode("utf-16-le") == b64
    wrapped = "\r\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    variants = {
        "binary": windows_blob,
        "base64": b64.encode(),
        "base64 with CRLF and spaces": ("  " + wrapped + "\r\n\r\n").encode(),
        "savefile": save,
        "savefile without BOM": save[2:],
        "savefile without trailing NUL": save[:-2],
        "savefile with stray NULs and CRLF": save[:-2] + "\r\n".encode("utf-16-le") + b"\x00\x00\x00\x00",
        "UTF-8 BOM base64": b"\xef\xbb\xbf" + b64.encode(),
        "unattend specialize": unattend_document(windows_blob),
        "unattend offlineServicing": unattend_document(windows_blob, "offlineServicing", "arm64"),
        "unattend UTF-16": unattend_document(windows_blob).decode("utf-8").replace(
            "encoding='utf-8'", "encoding='utf-16'").encode("utf-16"),
    }
    for name, data in variants.items():
        assert load_blob(data) == expected, name
    assert blob_bytes(save)[1] == "savefile"
    assert blob_bytes(b64.encode())[1] == "base64"
    assert blob_bytes(unattend_document(windows_blob))[1] == "unattend"


def test_unattend_component_shape(windows_blob):
    ns = "urn:schemas-microsoft-com:unattend"
    comp = unattend_component(windows_blob)
    assert comp.tag == f"{{{ns}}}component"
    assert comp.get("name") == "Microsoft-Windows-UnattendedJoin"
    assert comp.get("processorArchitecture") == "amd64"
    assert comp.get("publicKeyToken") == "31bf3856ad364e35"
    data = comp.find(f"{{{ns}}}Identification/{{{ns}}}Provisioning/{{{ns}}}AccountData")
    assert base64.b64decode(data.text) == windows_blob
    off = unattend_component(windows_blob, "offlineServicing")
    assert off.find(f"{{{ns}}}OfflineIdentification/{{{ns}}}Provisioning/{{{ns}}}AccountData") is not None
    doc = etree.fromstring(unattend_document(windows_blob, "offlineServicing"))
    assert doc.find(f"{{{ns}}}settings").get("pass") == "offlineServicing"
    with pytest.raises(ValueError):
        unattend_component(windows_blob, "oobeSystem")
    with pytest.raises(ValueError):
        unattend_component(windows_blob, arch="mips")


def test_unattend_with_doctype_is_refused(windows_blob):
    doc = unattend_document(windows_blob).replace(b"<unattend", b'<!DOCTYPE x [<!ENTITY a "b">]><unattend', 1)
    with pytest.raises(OdjError) as e:
        load_blob(doc)
    assert e.value.code == 2710 and "DOCTYPE" in e.value.message


def test_unattend_without_account_data_is_2709():
    with pytest.raises(OdjError) as e:
        load_blob(b'<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="specialize"/></unattend>')
    assert e.value.code == 2709


@pytest.mark.parametrize("data", [b"", b"   \r\n", b"\xff\xfe", b"\xff\xfe\x00\x00", b"\x00\x00\x00"])
def test_empty_inputs_are_2709(data):
    with pytest.raises(OdjError) as e:
        load_blob(data)
    assert e.value.code == 2709


def test_bad_base64_is_2710_and_names_the_character():
    with pytest.raises(OdjError) as e:
        load_blob(b"ARAIAMzM*zM")
    assert e.value.code == 2710 and "'*'" in e.value.message


# -- composed blobs with every part type ------------------------------------------------------------

def test_full_blob_round_trips_and_lists_contents():
    pd = full_provision_data()
    data = encode_provision_data(pd)
    back = decode_provision_data(data)
    assert back == pd
    assert encode_provision_data(back) == data
    types = [p.type_name for p in back.parts]
    assert types == ["JOIN_PROVIDER", "JOIN_PROVIDER3", "JOIN_PROVIDER2", "JOIN_PROVIDER4", "CERT_PROVIDER",
                     "POLICY_PROVIDER"]
    assert back.parts[0].flags == 1 and all(p.flags == 0 for p in back.parts[1:])
    s = summarize(back)
    jp4 = s["parts"][3]
    assert jp4["rid"] == 1105 and jp4["object_guid"] == str(OBJECT_GUID)
    assert jp4["sid"] == "S-1-5-21-1000000001-2000000002-3000000003-1105"
    cert = s["parts"][4]
    ca_der = back.parts[4].content.sst_stores[0].certificates()[0].der
    import hashlib
    assert cert["sst_stores"][0]["certificates"][0]["thumbprint"] == hashlib.sha1(ca_der).hexdigest().upper()
    assert cert["sst_stores"][0]["certificates"][0]["subject"] == "O=TEST,CN=ppkgtool Test Root CA"
    assert cert["pfx_stores"][0]["template_name"] == "Machine" and "pfx_base64" not in cert["pfx_stores"][0]
    pol = s["parts"][5]["element_lists"][0]
    assert pol["root_key"] == "HKEY_LOCAL_MACHINE"
    assert [v["value"] for v in pol["values"]][:4] == [1, "Hello \u00e9\u4e16", ["a.test.lab", "b.test.lab"],
                                                       2 ** 40 + 3]
    assert back.parts[5].content.values() == policy_values()
    # the PFX is a secret: only with show_secrets
    assert "pfx_base64" in summarize(back, show_secrets=True)["parts"][4]["pfx_stores"][0]


def test_compose_shape_matches_windows():
    pd = compose_provision_data(domain_facts(), MachineFacts("PC02", "pw-1", rid=1200))
    assert [b.format for b in pd.blobs] == [1, 2]
    assert pd.blobs[0].content is pd.parts[0].content
    assert [(p.type_name, p.flags) for p in pd.parts] == [("JOIN_PROVIDER", 1), ("JOIN_PROVIDER3", 0)]
    w = pd.win7
    assert w.domain == "test.lab" and w.dc_info.dc_name == r"\\dc1.test.lab"
    assert w.dc_info.dc_address == r"\\127.0.0.1" and w.dc_info.flags == 0xE003F3FD
    assert w.dns_domain_info.domain_guid == DOMAIN_GUID == w.dc_info.domain_guid
    no_rid = compose_provision_data(domain_facts(), MachineFacts("PC02", "pw-1"))
    assert [p.type_name for p in no_rid.parts] == ["JOIN_PROVIDER"]
    with pytest.raises(ValueError):
        compose_provision_data(domain_facts(), MachineFacts("PC02", "pw-1", rid=5), join_provider4=True)


def test_unknown_part_is_kept_and_reemitted():
    pd = compose_provision_data(domain_facts(), MachineFacts("PC03", "pw", rid=1300))
    odd = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    payload = b"\x01\x10\x08\x00\xcc\xcc\xcc\xcc" + b"opaque part data of a future Windows"
    pkg = dataclasses.replace(pd.package, parts=pd.package.parts + (PackagePart(odd, 1, UnknownPart(payload),
                                                                                b"ext"),))
    pd2 = dataclasses.replace(pd, blobs=(pd.blobs[0], OdjBlob(2, pkg)))
    data = encode_provision_data(pd2)
    back = decode_provision_data(data)
    assert back.parts[-1] == PackagePart(odd, 1, UnknownPart(payload), b"ext")
    assert encode_provision_data(back) == data
    assert summarize(back)["parts"][-1]["type"] == "UNKNOWN"


def test_unknown_blob_format_is_kept():
    pd = compose_provision_data(domain_facts(), MachineFacts("PC03", "pw"))
    pd2 = dataclasses.replace(pd, blobs=pd.blobs + (OdjBlob(7, b"future"),))
    back = decode_provision_data(encode_provision_data(pd2))
    assert back.blobs[2] == OdjBlob(7, b"future")


# -- validation codes -----------------------------------------------------------------------------

def test_version_other_than_1_is_2719(windows_blob):
    bad = bytearray(windows_blob)
    assert bad[0x14:0x18] == b"\x01\x00\x00\x00"
    bad[0x14:0x18] = b"\x02\x00\x00\x00"
    with pytest.raises(OdjError) as e:
        decode_provision_data(bytes(bad))
    assert e.value.code == 2719 and "0x14" in e.value.message


def test_missing_required_fields_are_2712():
    pd = compose_provision_data(domain_facts(), MachineFacts("PC04", "pw"))
    w = dataclasses.replace(pd.win7, machine_password=None)
    bad = ProvisionData((OdjBlob(1, w),))
    data = encode_provision_data(bad, validate=False)
    with pytest.raises(OdjError) as e:
        decode_provision_data(data)
    assert e.value.code == 2712 and "lpMachinePassword" in e.value.message
    with pytest.raises(OdjError) as e:
        encode_provision_data(bad)
    assert e.value.code == 2712
    no_win7 = ProvisionData(())
    with pytest.raises(OdjError) as e:
        decode_provision_data(encode_provision_data(no_win7, validate=False))
    assert e.value.code == 2712


def test_structural_damage_is_2710_and_names_the_place(windows_blob):
    bad = bytearray(windows_blob)
    bad[0x1CC] = 2                      # the domain SID's revision inside the Win7 stream
    with pytest.raises(OdjError) as e:
        decode_provision_data(bytes(bad))
    assert e.value.code == 2710
    assert "pBlobs[0] (ODJ_WIN7BLOB)" in e.value.message and "0x1c8" in e.value.message
    bad = bytearray(windows_blob)
    bad[0x744:0x748] = b"\x45\x06\x00\x00"
    bad[0x758 - 4] = 0x30                # JOIN_PROVIDER3 lpSid actual count > max count
    with pytest.raises(OdjError) as e:
        decode_provision_data(bytes(bad))
    assert e.value.code == 2710 and "JOIN_PROVIDER3" in e.value.message and "lpSid" in e.value.message


def test_every_truncation_of_the_real_blob_gives_a_clear_error(windows_blob):
    for n in range(len(windows_blob)):
        with pytest.raises(OdjError) as e:
            decode_provision_data(windows_blob[:n])
        assert e.value.code in (2709, 2710), n
        if n:
            assert "offset 0x" in e.value.message, (n, e.value.message)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutations_raise_only_odj_errors(windows_blob, data):
    blob = bytearray(windows_blob)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    try:
        pd = decode_provision_data(bytes(blob))
    except OdjError as e:
        assert e.code in (2710, 2712, 2719)
        return
    encode_provision_data(pd, validate=False)  # whatever decodes also encodes
    summarize(pd, show_secrets=True)


_FULL = encode_provision_data(full_provision_data())


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutations_of_a_blob_with_every_part(data):
    blob = bytearray(_FULL)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    try:
        pd = decode_provision_data(bytes(blob[:cut]) if data.draw(st.booleans()) else bytes(blob))
    except OdjError as e:
        assert e.code in (2709, 2710, 2712, 2719)
        return
    encode_provision_data(pd, validate=False)
    summarize(pd, show_secrets=True)


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_raise_only_odj_errors(data):
    for candidate in (data, b"\x01\x10\x08\x00\xcc\xcc\xcc\xcc" + data):
        try:
            load_blob(candidate)
        except OdjError:
            pass


# -- models and password generator ----------------------------------------------------------------

def test_models_check_types():
    with pytest.raises(TypeError):
        JoinProv3Part("1105", "S-1-5-21-1-2-3-1105")
    with pytest.raises(TypeError):
        JoinProv4Part(5, "S", "not a uuid")
    with pytest.raises(TypeError):
        PackagePart(PartType.JOIN_PROVIDER3, 0, PolicyPart())
    with pytest.raises(TypeError):
        CertPart(pfx_stores=("x",))
    with pytest.raises(ValueError):
        domain_facts(domain_sid="S-1-5-21-x")
    with pytest.raises(ValueError):
        domain_facts(dc_address="dc1")
    with pytest.raises(ValueError):
        MachineFacts("THIS-NAME-IS-TOO-LONG", "pw")
    with pytest.raises(ValueError):
        MachineFacts("12345", "pw")
    assert domain_facts(dc_name=r"\\dc1.test.lab").dc_name == "dc1.test.lab"
    assert isinstance(NETSETUP_PROVISION.REUSE_ACCOUNT, int)


def test_generated_passwords_are_windows_like():
    seen = set()
    for _ in range(50):
        pw = generate_machine_password()
        assert len(pw) == 120
        assert len(pw.encode("utf-16-le")) == 240           # BMP only: 120 UTF-16 code units
        assert pw.encode("utf-8").decode("utf-8") == pw     # survives UTF-8 (no surrogates)
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c.isspace() for c in pw)
        assert any(c.isupper() and c.isascii() for c in pw) and any(c.isdigit() and c.isascii() for c in pw)
        assert any(c.islower() and c.isascii() for c in pw)
        seen.add(pw)
    assert len(seen) == 50
    pd = compose_provision_data(domain_facts(), MachineFacts("PC05", pw))
    assert decode_provision_data(encode_provision_data(pd)).machine_password == pw


def test_compact_passwords():
    """--password-form compact: 64 printable ASCII characters, no quote, backslash or space (they
    travel inside unicodePwd's quotes), every character class present, one HMAC-SHA1 block of UTF-8."""
    import string
    seen = set()
    for _ in range(200):
        pw = generate_machine_password(form="compact")
        assert len(pw) == 64 and len(pw.encode("utf-8")) == 64
        assert set(pw) <= set(string.ascii_letters + string.digits + "!#$%&()*+,-.:;<=>?@[]^_{|}~")
        assert any(c.isupper() for c in pw) and any(c.islower() for c in pw) and any(c.isdigit() for c in pw)
        assert any(not c.isalnum() for c in pw)
        seen.add(pw)
    assert len(seen) == 200
    assert len(generate_machine_password(20, form="compact")) == 20
    with pytest.raises(ValueError, match="unknown machine password form"):
        generate_machine_password(form="short")
    with pytest.raises(ValueError):
        generate_machine_password(4, form="compact")


def test_sst_store_round_trip_and_pkcs7():
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import pkcs7
    from ppkgtool.odj import SstStore
    a, _k, ca = make_ca("A")
    b, _k2, cb = make_ca("B")
    store = SstStore.from_certificates([a, b])
    assert store.sst[:8] == b"\x00\x00\x00\x00CERT" and store.sst[-12:] == b"\x00" * 12
    assert [c.subject for c in store.certificates()] == ["O=TEST,CN=A", "O=TEST,CN=B"]
    p7 = pkcs7.serialize_certificates([ca, cb], encoding=__import__(
        "cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)
    # DER SET OF sorts the certificates, so compare without order
    assert sorted(c.der for c in SstStore(sst=p7).certificates()) == sorted([a, b])
    assert isinstance(x509.load_der_x509_certificate(store.certificates()[0].der), x509.Certificate)
