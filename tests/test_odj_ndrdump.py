"""Blobs this project encodes, checked by an independent reader: Samba's ndrdump (ODJ.idl).

Samba 4.17's IDL knows JOIN_PROVIDER, JOIN_PROVIDER2, JOIN_PROVIDER3, CERT_PROVIDER and
POLICY_PROVIDER but not JOIN_PROVIDER4 (it prints "union OP_PACKAGE_PART_u(case 0)" and drops the
part's content on re-encode), so JOIN_PROVIDER4 is checked with our own decoder only.
Samba models ODJ_WIN7BLOB without the leading pointer and with a "_pad" word; --validate therefore
re-encodes that word as 0xffffffff where we write the password pointer's referent id: the only
difference allowed below.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from ppkgtool.odj import OdjBlob, encode_provision_data
from test_odj_support import full_provision_data

NDRDUMP = shutil.which("ndrdump")
pytestmark = pytest.mark.skipif(NDRDUMP is None, reason="ndrdump (samba-testsuite) is not installed")


def ndrdump(path, *extra) -> str:
    proc = subprocess.run([NDRDUMP, "ODJ", "ODJ_PROVISION_DATA_serialized_ptr", "struct", *extra, str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _without(pd, type_name):
    pkg = pd.package
    pkg = dataclasses.replace(pkg, parts=tuple(p for p in pkg.parts if p.type_name != type_name))
    return dataclasses.replace(pd, blobs=(pd.blobs[0], OdjBlob(2, pkg)))


def test_ndrdump_validates_blobs_with_all_parts_it_knows(tmp_path):
    pd = _without(full_provision_data(), "JOIN_PROVIDER4")
    blob = encode_provision_data(pd)
    f = tmp_path / "all.bin"
    f.write_bytes(blob)
    out = ndrdump(f, "--validate")
    assert out.count("pull returned Success") == 2 and "push returned Success" in out and "dump OK" in out
    # every difference Samba reports is the _pad word (our lpMachinePassword referent id) of a Win7 stream
    diffs = re.findall(r"WARNING! orig and validated differ at byte 0x([0-9A-F]+)", out)
    assert "bytes:" not in out                      # same length after Samba's re-encode
    win7_pad_offsets = {0x5C}
    assert diffs and {int(d, 16) for d in diffs} <= win7_pad_offsets
    changed = [ln for ln in out.splitlines() if ln.startswith("-[") or ln.startswith("+[")]
    for minus, plus in zip(changed[::2], changed[1::2]):
        a, b = minus.split("]", 1)[1].split()[:16], plus.split("]", 1)[1].split()[:16]
        differing = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        # only 4-byte words that are referent ids on our side and 0xffffffff / other ids on Samba's
        for i in differing:
            word = i // 4
            assert b[word * 4:word * 4 + 4] == ["FF"] * 4 or a[word * 4 + 2:word * 4 + 4] == ["02", "00"]
    # the values Samba decodes are the ones we put in
    for text in ("'PC01'", "'test.lab'", "S-1-5-21-1000000001-2000000002-3000000003", "'Branch-Site'",
                 "Rid                      : 0x00000451 (1105)", "'S-1-5-21-1000000001-2000000002-3000000003-1105'",
                 "pTemplateName            : 'Machine'", "cSstStores               : 0x00000001 (1)",
                 "'Software\\Policies\\Contoso'", "'EnableSmartScreen'", "cElements                : 0x00000006 (6)",
                 "union OP_PACKAGE_PART_u(case 2)", "union OP_PACKAGE_PART_u(case 3)",
                 "union OP_PACKAGE_PART_u(case 4)", "union OP_PACKAGE_PART_u(case 5)",
                 "dc_unc                   : '\\\\dc1.test.lab'", "dc_flags                 : 0xe003f3fd"):
        assert text in out, text
    assert "Secr3t" not in out


def test_ndrdump_417_does_not_know_join_provider4(tmp_path):
    """Found out, not guessed: Samba 4.17 has no JOIN_PROVIDER4 arm (our decoder does)."""
    pd = full_provision_data()
    f = tmp_path / "jp4.bin"
    f.write_bytes(encode_provision_data(pd))
    out = ndrdump(f)
    assert "4a08716a-6710-4647-8211-fdbb0b03f60b" in out
    assert "union OP_PACKAGE_PART_u(case 0)" in out and "dump OK" in out
    from ppkgtool.odj import decode_provision_data
    assert decode_provision_data(f.read_bytes()) == pd


def test_ndrdump_base64_input_of_a_savefile_text(tmp_path):
    from ppkgtool.odj import to_base64
    pd = _without(full_provision_data(), "JOIN_PROVIDER4")
    f = tmp_path / "blob.b64"
    f.write_text(to_base64(encode_provision_data(pd)))
    out = ndrdump(f, "--base64-input")
    assert "dump OK" in out and "'PC01'" in out
