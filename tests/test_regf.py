"""ppkgtool.regf: hives written here are read back by independent readers (hivexget, reged -x, regipy),
and hives written by hivex are read correctly here."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppkgtool.errors import HiveError
from ppkgtool.regf import Hive, RegType, RegValue, name_hash
from test_regf_support import (empty_hive_bytes, hivexget_values, hivexsh_script, make_system_hive, normalize,
                               reged_export, regipy_values, require_tools)

SAMPLE_VALUES = [
    RegValue.sz("Plain", "hello"),
    RegValue.sz("Unicode", "Grüße aus Köln ✓"),
    RegValue.expand_sz("Expand", "%SystemRoot%\\system32"),
    RegValue.dword("Dword", 0xE003F3FD),
    RegValue.dword("Zero", 0),
    RegValue.qword("Qword", 0x0123456789ABCDEF),
    RegValue.binary("Guid", bytes.fromhex("961a76c042e2c24e91607a66a4ac4929")),
    RegValue.binary("Three", b"\x01\x02\x03"),
    RegValue.binary("Empty", b""),
    RegValue.multi_sz("Multi", ["msv1_0", "kerberos"]),
    RegValue.binary("Blob", bytes(range(256)) * 8),
    RegValue.sz("", "default value"),
]


@pytest.fixture(scope="module")
def tools():
    require_tools()


def _write(tmp_path: Path, hive: Hive, name="hive") -> Path:
    p = tmp_path / name
    p.write_bytes(hive.to_bytes())
    return p


def test_new_hive_values_read_identically_by_three_readers(tmp_path, tools):
    h = Hive.new(file_name="SYSTEM")
    for v in SAMPLE_VALUES:
        h.set_value("Outer\\Inner", v)
    for i in range(300):                      # enough subkeys for a multi-cell list and a second bin
        h.create_key(f"Outer\\Many\\Key{i:03d}")
    h.create_key("Outer\\Many\\Ünïcødé ключ")
    assert h.check() == 1 + 2 + 1 + 301 + 0
    p = _write(tmp_path, h)

    want = {v.name: (int(v.type), v.data) for v in SAMPLE_VALUES}
    got_hivex = {n: normalize(kd) for n, kd in hivexget_values(p, "Outer\\Inner").items()}
    exported = reged_export(p, tmp_path)
    got_reged = {n: normalize(kd) for n, kd in exported["Outer\\Inner"].items()}
    got_regipy = regipy_values(p, "Outer\\Inner")
    for name, (vtype, data) in want.items():
        if vtype == RegType.MULTI_SZ:
            assert got_hivex[name][1] == got_reged[name][1] == RegValue(name, 7, got_hivex[name][1]).raw
            assert got_regipy[name or "(default)"][1] == data
            continue
        if vtype == RegType.QWORD:
            assert struct.unpack("<Q", got_hivex[name][1])[0] == data
            assert struct.unpack("<Q", got_reged[name][1])[0] == data
        else:
            assert got_hivex[name] == (vtype, data), name
            assert got_reged[name] == (vtype, data), name
        rname = name or "(default)"
        rtype, rdata = got_regipy[rname]
        assert rtype == "REG_" + RegType(vtype).name
        if isinstance(data, bytes):
            assert (bytes.fromhex(rdata) if isinstance(rdata, str) else (rdata or b"")) == data, name
        else:
            assert rdata == data, name
    keys = {k for k in exported if k.startswith("Outer\\Many\\")}
    # chntpw's reged cannot look up UTF-16 (non-Latin-1) key names ("Key ... not found"); hivex and
    # regipy list it
    assert len(keys) == 300 and "Outer\\Many\\Key299" in keys
    from regipy.registry import RegistryHive
    listed = [s.name for s in RegistryHive(str(p)).get_key("\\Outer\\Many").iter_subkeys()]
    assert len(listed) == 301 and "Ünïcødé ключ" in listed
    script = tmp_path / "ls.hivexsh"
    script.write_text("cd Outer\\Many\nls\n")
    r = subprocess.run(["hivexsh", "-f", str(script), str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.split("\n")[:-1] == [k.name for k in h.get_key("Outer\\Many").subkeys()]


def test_hivex_written_hive_reads_here_and_our_edits_stay_hivex_editable(tmp_path, tools):
    p = make_system_hive(tmp_path / "SYSTEM")
    h = Hive(p.read_bytes())
    assert h.check() > 10
    assert h.get_value("select", "CURRENT").data == 1                 # case-insensitive
    assert h.get_value("ControlSet001\\Control\\Lsa", "Authentication Packages").data == ["msv1_0"]
    assert h.get_value("ControlSet001\\Services\\Tcpip\\Parameters", "DataBasePath").type == RegType.EXPAND_SZ
    h.set_value("ControlSet001\\Services\\Tcpip\\Parameters", RegValue.sz("Hostname", "wurst2"))
    h.set_value("ControlSet001\\Control\\Lsa\\OfflineJoin", RegValue.dword("JoinAction", 1))
    p.write_bytes(h.to_bytes())
    # hivex can still change the hive we wrote, and everything survives
    hivexsh_script(p, "cd \\ControlSet001\\Control\\Lsa\\OfflineJoin\nadd FromHivex\n")
    h2 = Hive(p.read_bytes())
    h2.check()
    assert h2.get_key("ControlSet001\\Control\\Lsa\\OfflineJoin\\FromHivex") is not None
    assert h2.get_value("ControlSet001\\Services\\Tcpip\\Parameters", "Hostname").data == "wurst2"
    assert h2.get_value("ControlSet001\\Services\\Tcpip\\Parameters", "SearchList").data == "corp.example"
    assert hivexget_values(p, "ControlSet001\\Control\\Lsa\\OfflineJoin")["JoinAction"] == ("dword", 1)


def test_base_block_sequence_numbers_and_checksum(tmp_path):
    data = empty_hive_bytes()
    h = Hive(data)
    h.set_value("K", RegValue.dword("V", 7))
    out = h.to_bytes()
    seq1, seq2 = struct.unpack_from("<II", out, 4)
    assert seq1 == seq2 == 8                         # the hand-built hive had 7
    csum = 0
    for (v,) in struct.iter_unpack("<I", out[:508]):
        csum ^= v
    assert struct.unpack_from("<I", out, 508)[0] == csum
    assert struct.unpack_from("<I", out, 40)[0] == len(out) - 4096
    assert out[4096 + 20:4096 + 28] == out[12:20]      # first bin keeps a copy of the timestamp


def test_unchanged_hive_is_returned_byte_for_byte():
    data = empty_hive_bytes()
    h = Hive(data)
    assert h.get_key("Nope") is None
    assert h.to_bytes() == data
    h.set_value("K", RegValue.sz("V", "x"))
    again = Hive(h.to_bytes())
    again.set_value("K", RegValue.sz("V", "x"))       # same value: nothing to do
    assert not again.changed


def test_growing_appends_hive_bins(tmp_path, tools):
    h = Hive(empty_hive_bytes())
    payload = {f"Value{i:02d}": bytes([i]) * 12000 for i in range(40)}
    for name, data in payload.items():
        h.set_value("Grow", RegValue.binary(name, data))
    out = h.to_bytes()
    assert len(out) > 4096 + 40 * 12000
    p = tmp_path / "grown"
    p.write_bytes(out)
    got = hivexget_values(p, "Grow")
    assert {n: normalize(v)[1] for n, v in got.items()} == payload
    regipy = regipy_values(p, "Grow")
    assert {n: bytes.fromhex(v) if isinstance(v, str) else v for n, (_t, v) in regipy.items()} == payload


def test_big_data_values_hivex_and_regipy(tmp_path, tools):
    # > 16344 bytes: 'db' big data record with segments (minor version >= 4). chntpw's reged does not
    # read big data records (it exports the 'db' cell itself), so only hivex and regipy check it.
    big = bytes((i * 7) % 251 for i in range(50000))
    h = Hive(empty_hive_bytes())
    h.set_value("Big", RegValue.binary("Data", big))
    p = _write(tmp_path, h)
    assert normalize(hivexget_values(p, "Big")["Data"])[1] == big
    value = regipy_values(p, "Big")["Data"][1]
    assert (bytes.fromhex(value) if isinstance(value, str) else value) == big
    assert Hive(p.read_bytes()).get_value("Big", "Data").raw == big


def test_replaced_secret_is_zeroed_not_left_behind():
    secret = "Sup3r-Secret-Machine-Password-" * 3
    h = Hive(empty_hive_bytes())
    h.set_value("Lsa", RegValue.sz("CurrentValue", secret))
    h.set_value("Lsa", RegValue.sz("CurrentValue", "another value entirely, also long enough"))
    out = h.to_bytes()
    assert secret.encode("utf-16-le") not in out
    h2 = Hive(out)
    assert h2.get_value("Lsa", "CurrentValue").data.startswith("another")
    assert h2.delete_value("Lsa", "CurrentValue")
    assert b"a\x00n\x00o\x00t\x00h\x00e\x00r\x00" not in h2.to_bytes()
    assert Hive(h2.to_bytes()).get_value("Lsa", "CurrentValue") is None


def test_insert_into_index_root_keeps_order(tmp_path, tools):
    # Windows splits big subkey lists with an 'ri' index root; build one and insert into it.
    h = Hive(empty_hive_bytes())
    for name in ("Alpha", "Bravo", "Delta", "Echo", "Golf", "Hotel"):
        h.create_key(f"Parent\\{name}")
    parent = h.get_key("Parent")
    subs = [k.offset for k in parent.subkeys()]
    leaf1 = h._write_list(b"lh", subs[:3])
    leaf2 = h._write_list(b"lf", subs[3:])
    ri = h._new_cell(b"ri" + struct.pack("<HII", 2, leaf1, leaf2))
    struct.pack_into("<I", h._buf, parent.offset + 4 + 28, ri)
    h.create_key("Parent\\Charlie")
    h.create_key("Parent\\Foxtrot")
    h.create_key("Parent\\Zulu")
    h.check()
    names = [k.name for k in h.get_key("Parent").subkeys()]
    assert names == ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "Zulu"]
    p = _write(tmp_path, h)
    exported = reged_export(p, tmp_path)
    assert sorted(k.split("\\")[1] for k in exported if k.startswith("Parent\\")) == sorted(names)
    script = tmp_path / "ls.hivexsh"
    script.write_text("cd Parent\nls\n")
    r = subprocess.run(["hivexsh", "-f", str(script), str(p)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.split() == names


def test_name_hash_matches_hivex_lists(tmp_path, tools):
    # hivex writes 'lh' lists; their hashes must equal ours for every key it added
    p = make_system_hive(tmp_path / "SYSTEM")
    h = Hive(p.read_bytes())
    seen = 0
    for key in h.walk():
        node = h._nk(key.offset)
        if node.n_subkeys:
            cell = h._cell(node.subkeys_list)
            if cell[:2] == b"lh":
                for i in range(struct.unpack_from("<H", cell, 2)[0]):
                    off, hsh = struct.unpack_from("<II", cell, 4 + 8 * i)
                    assert name_hash(h._nk(off).name) == hsh
                    seen += 1
    assert seen >= 10


def _with_base_field(data: bytes, offset: int, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into("<I", b, offset, value)
    csum = 0
    for (v,) in struct.iter_unpack("<I", bytes(b[:508])):
        csum ^= v
    struct.pack_into("<I", b, 508, csum)
    return bytes(b)


@pytest.mark.parametrize("damage,needle", [
    (lambda b: b"regX" + b[4:], "regf"),
    (lambda b: b[:100] + b"\xff" + b[101:], "checksum"),
    (lambda b: _with_base_field(b, 40, 8192), "hive bins data size"),
    (lambda b: b[:4096] + b"hbiX" + b[4100:], "hbin"),
    (lambda b: b[:8], "shorter"),
])
def test_damaged_hives_are_refused_with_2717(damage, needle):
    with pytest.raises(HiveError) as exc:
        Hive(damage(empty_hive_bytes()))
    assert exc.value.code == 2717
    assert needle in str(exc.value)


def test_dirty_hive_is_refused():
    data = bytearray(empty_hive_bytes())
    struct.pack_into("<I", data, 4, 8)                       # primary 8, secondary 7
    csum = 0
    for (v,) in struct.iter_unpack("<I", bytes(data[:508])):
        csum ^= v
    struct.pack_into("<I", data, 508, csum)
    with pytest.raises(HiveError) as exc:
        Hive(bytes(data))
    assert exc.value.code == 2717 and "dirty" in str(exc.value)
    assert Hive(bytes(data), allow_dirty=True).root_name.startswith("CMI-CreateHive")


def test_bad_names_and_values_are_rejected():
    h = Hive.new()
    with pytest.raises(ValueError):
        h.create_key("a\\\\b")
    with pytest.raises(ValueError):
        RegValue.dword("x", -1)
    with pytest.raises(ValueError):
        RegValue.sz("x", "nul\x00inside")
    with pytest.raises(TypeError):
        h.set_value("k", ("x", 1))


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 8191), st.integers(0, 255)), min_size=1, max_size=12))
def test_fuzz_corrupted_hives_fail_cleanly(mutations):
    base = Hive.new()
    base.set_value("A\\B", RegValue.sz("S", "value"))
    base.set_value("A\\C", RegValue.binary("B", bytes(100)))
    data = bytearray(base.to_bytes())
    for pos, byte in mutations:
        data[pos % len(data)] = byte
    try:
        h = Hive(bytes(data))
        h.check()
        for key in h.walk():
            key.values()
        h.set_value("A\\New", RegValue.dword("D", 1))
        Hive(h.to_bytes()).check()
    except HiveError as exc:
        assert exc.code == 2717


names = st.text(alphabet=st.sampled_from("abcXYZ_-ÄßЖ12"), min_size=1, max_size=12)


@settings(max_examples=40, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.lists(names, min_size=1, max_size=3), names,
                          st.one_of(st.binary(max_size=40000), st.integers(0, 2 ** 32 - 1))),
                min_size=1, max_size=25))
def test_random_edits_match_a_model(ops):
    h = Hive(empty_hive_bytes())
    model: dict[tuple, tuple[str, RegValue]] = {}
    for path, vname, data in ops:
        key = "\\".join(path)
        value = RegValue.dword(vname, data) if isinstance(data, int) else RegValue.binary(vname, data)
        h.set_value(key, value)
        # names compare per UTF-16 unit, upper-cased one to one (as Windows does: 'ß' is not 'SS')
        model[(tuple(c.upper() if len(c.upper()) == 1 else c for c in key),
               tuple(c.upper() if len(c.upper()) == 1 else c for c in vname))] = (key, value)
        h = Hive(h.to_bytes())                  # every intermediate state must re-parse
    h.check()
    for key, value in model.values():
        vname = value.name
        got = h.get_value(key, vname)
        assert got is not None and got.type == value.type and got.raw == value.raw
