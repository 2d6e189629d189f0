"""Hostile packages: unsafe names, links, cycles, absurd counts and bad offsets. Extraction must refuse
before writing anything, never write outside the target, and every failure is a WimError."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import subprocess

import pytest

from ppkgtool.limits import Budget, BudgetError

from ppkgtool.errors import OutputExistsError, UnsafePathError, WimError
from ppkgtool.wim import extract_image, open_wim, write_wim
from ppkgtool.wim.dentry import DENTRY_DISK_SIZE, Dentry
from ppkgtool.wim.header import HEADER_SIZE

from test_wim_helpers import (dir_entry, file_entry, hostile_wim, metadata_for, patch_u64, symlink_entry,
                              wim_from_metadata)

PAYLOAD = b"owned\n"


def snapshot(root) -> set[str]:
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def assert_refused(tmp_path, data: bytes, match: str):
    """Extraction raises UnsafePathError and leaves the sandbox exactly as it was (target empty)."""
    sandbox = tmp_path / "sandbox"
    target = sandbox / "inner" / "target"
    target.mkdir(parents=True)
    before = snapshot(tmp_path)
    with open_wim(io.BytesIO(data)) as wim:
        with pytest.raises(UnsafePathError, match=match):
            extract_image(wim, target)
    assert snapshot(tmp_path) == before
    assert not any(target.iterdir())


@pytest.mark.parametrize("name,match", [
    ("..", "leave its folder"),
    (".", "leave its folder"),
    ("../../escape.txt", "separator"),
    ("..\\..\\escape.txt", "separator"),
    ("/etc/escape.txt", "separator"),
    ("C:escape.txt", "drive letter"),
    ("C:\\Windows\\escape.txt", "separator|drive"),
    ("CON", "device name"),
    ("nul.txt", "device name"),
    ("COM1.log", "device name"),
    ("LPT9", "device name"),
    ("evil\x00.txt", "NUL"),
    ("file.txt:stream", "drive letter or stream"),
    ("trailing.", "dot or space"),
    ("trailing ", "dot or space"),
    ("", "empty file name"),
    ("x" * 300, "too long"),
])
def test_unsafe_file_names_refused(tmp_path, name, match):
    root = dir_entry("", dir_entry("Multivariant", file_entry(name, PAYLOAD), file_entry("ok.xml", b"fine")))
    assert_refused(tmp_path, hostile_wim(root, [PAYLOAD, b"fine"]), match)


def test_unsafe_directory_name_refused(tmp_path):
    root = dir_entry("", dir_entry("..", file_entry("x.txt", PAYLOAD)))
    assert_refused(tmp_path, hostile_wim(root, [PAYLOAD]), "leave its folder")


def test_symlink_refused(tmp_path):
    target = b"\\??\\C:\\Windows\\System32"
    root = dir_entry("", dir_entry("DataAsset", symlink_entry("link", target)), file_entry("a.txt", PAYLOAD))
    data = hostile_wim(root, [PAYLOAD, target])
    with open_wim(io.BytesIO(data)) as wim:
        assert [f.path for f in wim.image(1).files()] == ["/a.txt"]   # links are not files
    assert_refused(tmp_path, data, "link")


def test_case_duplicates_refused(tmp_path):
    root = dir_entry("", file_entry("Setup.cmd", b"echo 1"), file_entry("SETUP.CMD", PAYLOAD))
    assert_refused(tmp_path, hostile_wim(root, [PAYLOAD, b"echo 1"]), "ignoring case")


def test_wimlib_sees_the_hostile_name(tmp_path):
    """The hostile packages are real WIMs: wimlib reads the '..' name we planted (and refuses it too)."""
    if shutil.which("wimlib-imagex") is None:
        pytest.skip("wimlib-imagex missing")
    root = dir_entry("", dir_entry("Multivariant", file_entry("a..b", PAYLOAD)))
    p = tmp_path / "h.wim"
    p.write_bytes(hostile_wim(root, [PAYLOAD]))
    out = subprocess.run(["wimlib-imagex", "dir", str(p), "1"], capture_output=True, text=True)
    assert "/Multivariant/a..b" in out.stdout


@pytest.mark.parametrize("link", ["Multivariant", "top.txt"])
def test_existing_symlink_in_target_not_followed(tmp_path, link):
    """--overwrite into a folder where a name of the package is a link to elsewhere: refused (a link is
    not a regular file: fsutil.refuse_non_regular), neither followed nor replaced; the outside is untouched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"victim")
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside if link == "Multivariant" else outside / "victim.txt", target / link)
    buf = io.BytesIO()
    write_wim(buf, {"/Multivariant/0/customizations.xml": PAYLOAD, "/top.txt": PAYLOAD}, {"NAME": "x"})
    with open_wim(io.BytesIO(buf.getvalue())) as wim:
        with pytest.raises(OutputExistsError):
            extract_image(wim, target)                  # non-empty, no overwrite
        with pytest.raises(OutputExistsError, match="symbolic link.*not a regular file; refusing to replace it"):
            extract_image(wim, target, overwrite=True)
    assert [p.name for p in outside.iterdir()] == ["victim.txt"] and (outside / "victim.txt").read_bytes() == b"victim"
    assert (target / link).is_symlink()
    assert [p.name for p in target.iterdir()] == [link]


def test_target_that_is_a_file_refused(tmp_path):
    buf = io.BytesIO()
    write_wim(buf, {"/a.txt": PAYLOAD}, {"NAME": "x"})
    (tmp_path / "f").write_bytes(b"not a folder")
    with open_wim(io.BytesIO(buf.getvalue())) as wim:
        with pytest.raises(OutputExistsError):
            extract_image(wim, tmp_path / "f")


# --- structural attacks ---------------------------------------------------------------------------

def _tree():
    return dir_entry("", dir_entry("A", dir_entry("B", file_entry("f.txt", PAYLOAD))))


def _offsets(metadata: bytes) -> dict[str, int]:
    """Offsets of the dentries named A and B in a metadata resource (found by their UTF-16 names)."""
    found = {}
    for name in ("A", "B"):
        enc = name.encode("utf-16-le") + b"\0\0"
        pos = 0
        while True:
            pos = metadata.find(enc, pos + 1)
            assert pos > 0
            start = pos - DENTRY_DISK_SIZE
            if struct.unpack_from("<H", metadata, start + 100)[0] == len(name) * 2:
                found[name] = start
                break
    return found


@contextlib.contextmanager
def wim_with(metadata: bytes):
    """An opened WIM whose image has ``metadata`` (opening must succeed; listing is where it fails)."""
    with open_wim(io.BytesIO(wim_from_metadata(metadata, [PAYLOAD]))) as wim:
        yield wim


def test_cycle_in_dentry_tree(tmp_path):
    meta = metadata_for(_tree())
    off = _offsets(meta)
    # make B's child list point at A's own list (an ancestor): a cycle
    a_list = off["A"]            # A is the first entry of the root's child list
    with wim_with(patch_u64(meta, off["B"] + 16, a_list)) as wim, pytest.raises(WimError, match="cycle"):
        wim.image(1).files()


def test_child_list_outside_resource(tmp_path):
    meta = metadata_for(_tree())
    off = _offsets(meta)
    outside = patch_u64(meta, off["B"] + 16, len(meta) + 4096)
    with wim_with(outside) as wim, pytest.raises(WimError, match="outside the dentry area"):
        wim.image(1).files()


def test_absurd_dentry_length(tmp_path):
    meta = metadata_for(_tree())
    off = _offsets(meta)
    with wim_with(patch_u64(meta, off["A"], 1 << 62)) as wim, pytest.raises(WimError, match="runs past"):
        wim.image(1).files()


def test_absurd_stream_count(tmp_path):
    meta = bytearray(metadata_for(_tree()))
    off = _offsets(bytes(meta))
    struct.pack_into("<H", meta, off["A"] + 96, 0xFFFF)
    with wim_with(bytes(meta)) as wim, pytest.raises(WimError):
        wim.image(1).files()


def test_absurd_security_count(tmp_path):
    meta = bytearray(metadata_for(_tree()))
    struct.pack_into("<I", meta, 4, 0x7FFFFFFF)
    with wim_with(bytes(meta)) as wim, pytest.raises(WimError, match="security descriptors"):
        wim.image(1).files()


def test_deep_tree_limited(tmp_path):
    node = file_entry("leaf.txt", PAYLOAD)
    for i in range(300):
        node = dir_entry(f"d{i}", node)
    data = hostile_wim(dir_entry("", node), [PAYLOAD])
    with open_wim(io.BytesIO(data)) as wim:
        with pytest.raises(WimError, match="deeper than"):
            wim.image(1).files()


def test_missing_stream(tmp_path):
    root = dir_entry("", file_entry("a.txt", PAYLOAD))
    data = hostile_wim(root, [])        # the blob table lacks the file's stream
    with open_wim(io.BytesIO(data)) as wim:
        with pytest.raises(WimError, match="missing from the blob table"):
            wim.image(1).files()


def _real_small(real_ppkg) -> bytes:
    return (real_ppkg / "icd-cli-oobe.ppkg").read_bytes()


@pytest.mark.parametrize("cut", [0, 7, 100, 207, 5000, 11000, 12000, 14000])
def test_truncated_files(real_ppkg, cut):
    data = _real_small(real_ppkg)[:cut]
    with pytest.raises(WimError):
        with open_wim(io.BytesIO(data)) as wim:
            img = wim.image(1)
            for f in img.files():
                img.read(f.path)


def test_wrong_magic(real_ppkg):
    data = b"MSWIN\0\0\0" + _real_small(real_ppkg)[8:]
    with pytest.raises(WimError, match="no MSWIM magic"):
        open_wim(io.BytesIO(data))


@pytest.mark.parametrize("field,value,match", [
    (48 + 8, 1 << 40, "past the end"),             # blob table offset
    (72 + 8, 1 << 40, "past the end"),             # XML offset
    (48 + 16, 10 ** 12, "impossible|past the end|size"),   # blob table uncompressed size
])
def test_bad_header_offsets(real_ppkg, field, value, match):
    data = patch_u64(_real_small(real_ppkg), field, value)
    with pytest.raises(WimError, match=match):
        open_wim(io.BytesIO(data))


def test_chunk_size_and_parts_checked(real_ppkg):
    data = bytearray(_real_small(real_ppkg))
    struct.pack_into("<I", data, 20, 12345)
    with pytest.raises(WimError, match="chunk size"):
        open_wim(io.BytesIO(bytes(data)))
    data = bytearray(_real_small(real_ppkg))
    struct.pack_into("<HH", data, 40, 1, 2)
    with pytest.raises(WimError, match="split WIM"):
        open_wim(io.BytesIO(bytes(data)))


def test_declared_size_smaller_than_data(real_ppkg):
    """A blob entry whose uncompressed size is lowered: decompression would exceed the declared size."""
    data = bytearray(_real_small(real_ppkg))
    bt_off = struct.unpack_from("<Q", data, 56)[0]
    # entry 2 (customizations.xml, compressed 1328 -> 4210 bytes): declare 1000 bytes instead
    e = bt_off + 2 * 50
    assert struct.unpack_from("<Q", data, e + 16)[0] == 4210
    struct.pack_into("<Q", data, e + 16, 1000)
    with open_wim(io.BytesIO(bytes(data)), verify_hashes=False) as wim:
        with pytest.raises(WimError):
            wim.image(1).read("/Multivariant/0/customizations.xml")


def test_declared_size_absurd(real_ppkg):
    data = bytearray(_real_small(real_ppkg))
    bt_off = struct.unpack_from("<Q", data, 56)[0]
    struct.pack_into("<Q", data, bt_off + 2 * 50 + 16, 1 << 50)
    with open_wim(io.BytesIO(bytes(data)), verify_hashes=False) as wim:   # the bytes budget refuses it first
        with pytest.raises(BudgetError, match="bytes limit"):
            wim.image(1).read("/Multivariant/0/customizations.xml")
    with open_wim(io.BytesIO(bytes(data)), verify_hashes=False, budget=Budget(ratio=1e30, bytes=1 << 62)) as wim:
        with pytest.raises(WimError, match="impossible"):
            wim.image(1).read("/Multivariant/0/customizations.xml")


def test_header_only_is_refused():
    data = bytearray(HEADER_SIZE)
    data[:8] = b"MSWIM\0\0\0"
    struct.pack_into("<III", data, 8, 208, 0x10D00, 0x20082)
    with pytest.raises(WimError):
        open_wim(io.BytesIO(bytes(data)))


def test_dentry_is_immutable_and_typed():
    with pytest.raises(TypeError):
        Dentry(name=b"x", attributes=0)
    d = Dentry(name="x", attributes=0)
    with pytest.raises(Exception):
        d.name = "y"
