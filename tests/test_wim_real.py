"""The WIM reader on packages built by Microsoft's tools, checked against wimlib-imagex and wiminfo."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from ppkgtool.errors import WimError
from ppkgtool.wim import extract_image, open_wim
from ppkgtool.wim.resource import HashMismatchError
from test_wim_helpers import tree_files

PACKAGES = ["icd-cli-oobe.ppkg", "wcd-gui-commands-msi.ppkg", "wcd-itadmin-rank52.ppkg"]
PROPERTY_NAMES = ["NAME", "DESCRIPTION", "NOTES", "VERSION", "ALTITUDE", "RESETCLEAR", "PACKAGEID"]

pytestmark = pytest.mark.skipif(shutil.which("wimlib-imagex") is None, reason="wimlib-imagex (wimtools) missing")


def tree_dirs(root: Path) -> set[str]:
    return {"/" + Path(d).relative_to(root).as_posix() for d, _x, _y in os.walk(root) if Path(d) != root}


def wiminfo_properties(path: Path) -> dict[str, str]:
    raw = subprocess.run(["wiminfo", str(path), "--xml"], check=True, capture_output=True).stdout
    root = etree.fromstring(raw.decode("utf-16").encode("utf-8"),
                            etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    image = root.find("IMAGE")
    return {c.tag: c.text or "" for c in image if len(c) == 0}


@pytest.fixture(scope="module")
def wimlib_trees(real_ppkg, tmp_path_factory):
    base = tmp_path_factory.mktemp("wimlib")
    out = {}
    for name in PACKAGES:
        dest = base / name
        subprocess.run(["wimlib-imagex", "extract", str(real_ppkg / name), "1", f"--dest-dir={dest}"],
                       check=True, capture_output=True)
        out[name] = dest
    return out


@pytest.mark.parametrize("name", PACKAGES)
def test_extract_equals_wimlib(real_ppkg, wimlib_trees, tmp_path, name):
    with open_wim(real_ppkg / name) as wim:
        written = extract_image(wim, tmp_path / "x")
        listed = {f.path: f for f in wim.image(1).files()}
    ours = tree_files(tmp_path / "x")
    theirs = tree_files(wimlib_trees[name])
    assert sorted(ours) == sorted(theirs)
    assert len(ours) >= 18
    for path, data in theirs.items():
        assert ours[path] == data, path
        assert listed[path].size == len(data)
        assert listed[path].sha1 == hashlib.sha1(data).digest()
    assert len(written) == len(theirs)
    assert tree_dirs(tmp_path / "x") == tree_dirs(wimlib_trees[name])


@pytest.mark.parametrize("name", PACKAGES)
def test_properties_equal_wiminfo(real_ppkg, name):
    expected = wiminfo_properties(real_ppkg / name)
    with open_wim(real_ppkg / name) as wim:
        props = wim.image(1).properties
        assert wim.image_count == 1
        assert wim.header.version == 0x10D00
        assert wim.header.flags == 0x00020082
        assert wim.header.chunk_size == 32768
        assert wim.trailing_bytes == 0
    for key in PROPERTY_NAMES:
        assert props[key] == expected[key], key
    assert props["RESETCLEAR"] == "0"
    assert props["PACKAGEID"].startswith("{")


def test_guid_and_header_equal_wiminfo(real_ppkg):
    path = real_ppkg / "wcd-itadmin-rank52.ppkg"
    info = subprocess.run(["wiminfo", str(path)], check=True, capture_output=True, text=True).stdout
    guid = next(line.split()[-1] for line in info.splitlines() if line.startswith("GUID:"))
    with open_wim(path) as wim:
        assert "0x" + wim.header.guid.hex() == guid
        assert wim.image(1).properties["ALTITUDE"] == "5052"


def test_listing_equals_wimlib_dir(real_ppkg):
    path = real_ppkg / "icd-cli-oobe.ppkg"
    out = subprocess.run(["wimlib-imagex", "dir", str(path), "1"], check=True, capture_output=True, text=True).stdout
    theirs = {line for line in out.splitlines() if line and line != "/"}
    with open_wim(path) as wim:
        img = wim.image(1)
        ours = {f.path for f in img.files()} | set(img.directories())
    assert ours == theirs


def test_open_streams_like_read(real_ppkg):
    with open_wim(real_ppkg / "wcd-gui-commands-msi.ppkg") as wim:
        img = wim.image(1)
        big = max(img.files(), key=lambda f: f.size)
        assert big.size > 60_000_000
        h = hashlib.sha1()
        with img.open(big.path) as fh:
            first = fh.read(1000)
            h.update(first)
            while True:
                piece = fh.read(1 << 20)
                if not piece:
                    break
                h.update(piece)
        assert h.digest() == big.sha1
        assert first == img.read(big.path)[:1000]


def test_named_streams_are_not_files(real_ppkg):
    """wallpaper.png carries Zone.Identifier and another named stream; files() lists the file once
    with its unnamed stream (as wimlib does)."""
    with open_wim(real_ppkg / "wcd-itadmin-rank52.ppkg") as wim:
        img = wim.image(1)
        entry = next(e for e in img.entries() if e.path.endswith("wallpaper.png"))
        assert {s.name for s in entry.dentry.named_streams} >= {"Zone.Identifier"}
        f = next(f for f in img.files() if f.path == entry.path)
        assert f.size == 909655


def test_trailing_zero_bytes_tolerated(real_ppkg):
    data = (real_ppkg / "icd-cli-oobe.ppkg").read_bytes() + bytes(159)
    with open_wim(io.BytesIO(data)) as wim:
        assert wim.trailing_bytes == 159
        files = wim.image(1).files()
        assert len(files) == 18
        assert all(len(wim.image(1).read(f.path)) == f.size for f in files)


def test_hash_mismatch_detected(real_ppkg):
    data = bytearray((real_ppkg / "icd-cli-oobe.ppkg").read_bytes())
    # MasterDatastore.xml is stored uncompressed at offset 1992 (271 bytes) in this package
    assert b"RunTime.xml" in data[1992:1992 + 271]
    data[2100] ^= 0x20
    with open_wim(io.BytesIO(bytes(data))) as wim:
        img = wim.image(1)
        with pytest.raises(HashMismatchError, match="SHA-1"):
            img.read("/Multivariant/0/MasterDatastore.xml")
    with open_wim(io.BytesIO(bytes(data)), verify_hashes=False) as wim:
        assert len(wim.image(1).read("/Multivariant/0/MasterDatastore.xml")) == 271


def test_hash_mismatch_leaves_no_partial_file(real_ppkg, tmp_path):
    data = bytearray((real_ppkg / "icd-cli-oobe.ppkg").read_bytes())
    data[2100] ^= 0x20
    with open_wim(io.BytesIO(bytes(data))) as wim:
        with pytest.raises(HashMismatchError):
            extract_image(wim, tmp_path / "x")
    assert not (tmp_path / "x" / "Multivariant" / "0" / "MasterDatastore.xml").exists()


def test_image_out_of_range(real_ppkg):
    with open_wim(real_ppkg / "icd-cli-oobe.ppkg") as wim:
        with pytest.raises(WimError, match="image 2 does not exist"):
            wim.image(2)
        with pytest.raises(WimError):
            wim.image(0)


def test_multi_image_wim_from_wimlib(tmp_path):
    """A merged (two-image) WIM written by wimlib: both images' properties and files read."""
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "Multivariant" / "0").mkdir(parents=True)
    (a / "Multivariant" / "0" / "customizations.xml").write_bytes(b"<a/>" * 5000)
    (b / "DataAsset").mkdir(parents=True)
    (b / "DataAsset" / "DataAsset.xml").write_bytes(b"second image")
    (b / "DataAsset" / "blob.bin").write_bytes(os.urandom(70000))
    wim = tmp_path / "merged.wim"
    subprocess.run(["wimlib-imagex", "capture", str(a), str(wim), "first", "--compress=XPRESS"], check=True,
                   capture_output=True)
    subprocess.run(["wimlib-imagex", "append", str(b), str(wim), "second", "img two"], check=True,
                   capture_output=True)
    with open_wim(wim) as w:
        assert w.image_count == 2
        one, two = w.image(1), w.image(2)
        assert one.properties["NAME"] == "first"
        assert two.properties["NAME"] == "second"
        assert two.properties["DESCRIPTION"] == "img two"
        assert [f.path for f in one.files()] == ["/Multivariant/0/customizations.xml"]
        assert one.read("/Multivariant/0/customizations.xml") == b"<a/>" * 5000
        assert {f.path for f in two.files()} == {"/DataAsset/DataAsset.xml", "/DataAsset/blob.bin"}
        assert two.read("/DataAsset/blob.bin") == (b / "DataAsset" / "blob.bin").read_bytes()
        extract_image(w, tmp_path / "x2", 2)
    assert (tmp_path / "x2" / "DataAsset" / "DataAsset.xml").read_bytes() == b"second image"


def test_lzx_wim_refused_cleanly(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    (src / "f.txt").write_bytes(b"hello" * 1000)
    wim = tmp_path / "lzx.wim"
    subprocess.run(["wimlib-imagex", "capture", str(src), str(wim), "--compress=LZX"], check=True,
                   capture_output=True)
    with pytest.raises(WimError, match="LZX compression is not supported"):
        open_wim(wim)
