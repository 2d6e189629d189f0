"""Registry.pol reader/writer, checked against Samba's ndrdump (preg.idl) as an independent reader."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ppkgtool.errors import RegistryPolicyError
from ppkgtool.odj import decode_provision_data, encode_provision_data, compose_provision_data, MachineFacts
from ppkgtool.regpol import (REG_DWORD, REG_MULTI_SZ, REG_QWORD, REG_SZ, PolicyValue, build_registry_pol,
                             parse_registry_pol)
from ppkgtool.odj.models import PolicyPart
from test_odj_support import domain_facts, policy_values


def test_round_trip_and_typed_values():
    values = policy_values()
    data = build_registry_pol(values)
    assert data[:8] == b"PReg\x01\x00\x00\x00"
    back = parse_registry_pol(data)
    assert back == values
    assert build_registry_pol(back) == data
    assert back[0].type == REG_DWORD and back[0].value == 1
    assert back[1].type == REG_SZ and back[1].value == "Hello \u00e9\u4e16"
    assert back[2].type == REG_MULTI_SZ and back[2].value == ["a.test.lab", "b.test.lab"]
    assert back[3].type == REG_QWORD and back[3].value == 2 ** 40 + 3
    assert back[4].value == bytes(range(16))
    assert back[5].action == "delete all values of the key"
    assert back[0].display() == r"Software\Policies\Microsoft\Windows\System\EnableSmartScreen = 1 (0x1) (REG_DWORD)"


def test_exact_entry_bytes():
    data = build_registry_pol([PolicyValue.dword("K", "V", 7)])
    entry = "[K\x00;V\x00;".encode("utf-16-le") + b"\x04\x00\x00\x00" + ";".encode("utf-16-le") + \
        b"\x04\x00\x00\x00" + ";".encode("utf-16-le") + b"\x07\x00\x00\x00" + "]".encode("utf-16-le")
    assert data == b"PReg\x01\x00\x00\x00" + entry


@pytest.mark.skipif(shutil.which("ndrdump") is None, reason="ndrdump (samba-testsuite) is not installed")
def test_samba_ndrdump_reads_what_we_write(tmp_path):
    f = tmp_path / "Registry.pol"
    f.write_bytes(build_registry_pol(policy_values()))
    proc = subprocess.run(["ndrdump", "preg", "preg_file", "struct", "--validate", str(f)],
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "dump OK" in out and "WARNING" not in out
    assert "num_entries              : 0x00000006 (6)" in out
    assert "valuename                : 'EnableSmartScreen'" in out
    assert "string                   : 'Hello \u00e9\u4e16'" in out


@pytest.mark.parametrize("data,where", [
    (b"", "offset 0x0"), (b"XReg\x01\x00\x00\x00", "offset 0x0"), (b"PReg\x02\x00\x00\x00", "offset 0x4"),
    (b"PReg\x01\x00\x00\x00[", "entry 1 at offset 0x8"),
])
def test_bad_files_name_the_place(data, where):
    with pytest.raises(RegistryPolicyError) as e:
        parse_registry_pol(data)
    assert where in e.value.message


def test_truncations_give_clear_errors():
    values = policy_values()
    data = build_registry_pol(values)
    # cutting exactly after an entry leaves a valid, shorter file
    boundaries = {len(build_registry_pol(values[:k])): k for k in range(len(values) + 1)}
    for n in range(len(data)):
        if n in boundaries:
            assert parse_registry_pol(data[:n]) == values[:boundaries[n]]
            continue
        with pytest.raises(RegistryPolicyError) as e:
            parse_registry_pol(data[:n])
        assert "offset 0x" in e.value.message


@settings(max_examples=200, deadline=2000)
@given(st.binary(max_size=300))
def test_fuzz_only_registry_policy_errors(tail):
    try:
        parse_registry_pol(b"PReg\x01\x00\x00\x00" + tail)
    except RegistryPolicyError:
        pass


def test_policy_part_carries_the_values_through_a_blob():
    a = build_registry_pol(policy_values()[:2])
    b = build_registry_pol(policy_values()[2:])
    part = PolicyPart.from_registry_pol([("A\\Registry.pol", a), ("B\\Registry.pol", b)])
    assert [lst.source for lst in part.element_lists] == ["A\\Registry.pol", "B\\Registry.pol"]
    pd = compose_provision_data(domain_facts(), MachineFacts("PC01", "pw"), policy_part=part)
    back = decode_provision_data(encode_provision_data(pd)).parts[-1].content
    assert back.values() == policy_values()
    assert back.element_lists[0].root_key_id == 0x80000002
