"""The WIM writer, checked with independent readers: wimlib-imagex verify/extract, wiminfo, 7z, file."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import shutil
import struct
import subprocess
import threading
from pathlib import Path

import pytest

from ppkgtool.errors import UnsafePathError, WimError
from ppkgtool.package.metadata import OwnerType, PackageMetadata
from ppkgtool.wim import ResourceCache, open_wim, write_wim
from ppkgtool.wim.compression import get_codec
from test_wim_helpers import tree_files

pytestmark = pytest.mark.skipif(shutil.which("wimlib-imagex") is None, reason="wimlib-imagex (wimtools) missing")

UTC = dt.timezone.utc
WHEN = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
GUID = bytes(range(16))
MD = PackageMetadata(package_id=__import__("uuid").UUID("0df3a956-c277-4739-b187-a65c8f56e31d"),
                     name="Writer test", version="1.2", owner_type=OwnerType.ITAdmin, rank=52,
                     description="a & b <c>")
PROPS = MD.image_properties()
BOM = b"\xef\xbb\xbf"


def package_files() -> dict[str, bytes]:
    rt = BOM + b'<?xml version="1.0" encoding="utf-8"?>\r\n<ConfigurationSource>' + \
        b"".join(b'<ConfigurationSet Type="provxml" SettingsGroup="%d" Data="$(_prov)\\RunTime\\%d__X.provxml" />\r\n'
                 % (i, i) for i in range(40)) + b"</ConfigurationSource>"
    return {
        "/Multivariant/Multivariant.xml": b'<Elements Type="Multivariant"><Element Index="0"></Element></Elements>',
        "/Multivariant/0/customizations.xml": BOM + b"<WindowsCustomizations>" + b"<x>y</x>" * 20000
                                              + b"</WindowsCustomizations>",
        "/Multivariant/0/MasterDatastore.xml": BOM + b'<?xml version="1.0" encoding="utf-8"?>\r\n<ConfigurationSourceList>'
                                               b'<Source Name="RunTime" Path="$(_prov)\\RunTime.xml" /></ConfigurationSourceList>',
        "/Multivariant/0/Prov/RunTime.xml": rt,
        "/Multivariant/0/Prov/RunTime/0__Accounts_ComputerAccount.provxml": BOM + b"<wap-provisioningdoc/>" * 30,
        "/CommonSettings/CommonSettings.xml": b'<Elements Type="CommonSettings"><Element Index="1"></Element></Elements>',
        "/CommonSettings/1/AnswerFile.xml": BOM + b"<Settings/>",
        "/DataAsset/DataAsset.xml": b'<Elements Type="DataAsset" />',
        "/DataAsset/2/0_abc=/app.msi": os.urandom(200_000) + b"\0" * 100_000,
        "/DataAsset/2/1_def=/copy-of-app.msi": None,   # filled below: same bytes as app.msi
        "/DataAsset/2/2_empty=/empty.txt": b"",
    }


@pytest.fixture(scope="module")
def files():
    f = package_files()
    f["/DataAsset/2/1_def=/copy-of-app.msi"] = f["/DataAsset/2/0_abc=/app.msi"]
    return f


def write(path: Path, files, props=PROPS, **kw) -> object:
    kw.setdefault("wim_guid", GUID)
    kw.setdefault("timestamp", WHEN)
    with open(path, "wb") as fh:
        return write_wim(fh, files, props, **kw)


@pytest.fixture(scope="module")
def package(files, tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "out.ppkg"
    stats = write(path, files)
    return path, stats


def test_wimlib_verifies(package):
    path, _ = package
    r = subprocess.run(["wimlib-imagex", "verify", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "successfully verified" in r.stdout


def test_wimlib_extracts_identically(package, files, tmp_path):
    path, _ = package
    subprocess.run(["wimlib-imagex", "extract", str(path), "1", f"--dest-dir={tmp_path / 'x'}"], check=True,
                   capture_output=True)
    assert tree_files(tmp_path / "x") == files


def test_7z_extracts_identically(package, files, tmp_path):
    seven = shutil.which("7z")
    if seven is None:
        pytest.skip("7z missing")
    path, _ = package
    subprocess.run([seven, "x", f"-o{tmp_path / 'x'}", str(path)], check=True, capture_output=True)
    assert tree_files(tmp_path / "x") == files


def test_file_calls_it_a_provisioning_package(package):
    path, _ = package
    out = subprocess.run(["file", "-b", str(path)], check=True, capture_output=True, text=True).stdout.strip()
    assert out == "Windows imaging (Windows provisioning package) v1.13, XPRESS compressed, reparse point fixup"


def test_file_without_runtime_xml_is_a_wim_image(tmp_path):
    path = tmp_path / "plain.wim"
    write(path, {"/a/b.txt": b"hello"})
    out = subprocess.run(["file", "-b", str(path)], check=True, capture_output=True, text=True).stdout.strip()
    assert out == "Windows imaging (WIM) image v1.13, XPRESS compressed, reparse point fixup"


def test_header_parameters_are_microsofts(package):
    path, stats = package
    raw = path.read_bytes()
    magic, hdr_size, version, flags, chunk = struct.unpack_from("<8sIIII", raw, 0)
    assert (magic, hdr_size, version, flags, chunk) == (b"MSWIM\0\0\0", 208, 0x10D00, 0x20082, 32768)
    assert raw[24:40] == GUID
    assert struct.unpack_from("<HHI", raw, 40) == (1, 1, 1)
    assert raw[96:148] == bytes(52)            # no boot metadata, boot index 0, no integrity table
    xml_size, xml_off = int.from_bytes(raw[72:79], "little"), struct.unpack_from("<Q", raw, 80)[0]
    assert xml_off + xml_size == len(raw) == stats.size   # nothing after the XML
    xml = raw[xml_off:].decode("utf-16")
    assert xml.startswith(f"<WIM><TOTALBYTES>{xml_off}</TOTALBYTES><IMAGE INDEX=\"1\">")


def test_xml_matches_wiminfo_and_microsoft_order(package, files, real_ppkg):
    path, stats = package
    ours = subprocess.run(["wiminfo", str(path), "--xml"], check=True, capture_output=True).stdout.decode("utf-16")
    real = subprocess.run(["wiminfo", str(real_ppkg / "wcd-itadmin-rank52.ppkg"), "--xml"], check=True,
                          capture_output=True).stdout.decode("utf-16")
    import re
    tags = lambda x: re.findall(r"<([A-Z]+)[ >]", x)   # noqa: E731
    assert tags(ours) == tags(real)
    info = subprocess.run(["wiminfo", str(path)], check=True, capture_output=True, text=True).stdout
    assert "Name:                   Writer test" in info
    assert "Description:            a & b <c>" in info
    assert f"File Count:             {len(files)}" in info
    assert f"Total Bytes:            {sum(len(v) for v in files.values())}" in info
    assert "Creation Time:          Mon May 06 07:08:09 2024 UTC" in info
    with open_wim(path) as w:
        props = w.image(1).properties
    for key, value in PROPS.items():
        assert props[key] == value
    assert props["ALTITUDE"] == "5052"


def test_identical_streams_stored_once(package, files):
    path, stats = package
    assert stats.duplicate_files == 1
    assert stats.streams == len([v for v in files.values() if v]) - 1
    with open_wim(path) as w:
        assert len(w.blobs) == stats.streams
        img = w.image(1)
        a = next(f for f in img.files() if f.path.endswith("/app.msi"))
        b = next(f for f in img.files() if f.path.endswith("/copy-of-app.msi"))
        assert a.sha1 == b.sha1 and w.blobs[a.sha1].refcount == 2


def test_master_datastore_is_stored_uncompressed_early(package):
    path, _ = package
    raw = path.read_bytes()
    pos = raw.find(b"RunTime.xml")
    assert 156 < pos < 68 * 1024


def test_reproducible_and_timestamp_sensitive(files, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write(a, files)
    write(b, dict(reversed(list(files.items()))))   # input order does not matter
    write(c, files, timestamp=WHEN + dt.timedelta(seconds=1))
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_random_guid_when_not_given(files, tmp_path):
    with open(tmp_path / "a", "wb") as fh:
        s1 = write_wim(fh, {"/x.txt": b"1"}, PROPS)
    with open(tmp_path / "b", "wb") as fh:
        s2 = write_wim(fh, {"/x.txt": b"1"}, PROPS)
    assert s1.guid != s2.guid


def test_streams_from_disk_large(tmp_path):
    """Files given as paths are streamed (multi-batch resources, chunk table written in place)."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for i in range(12):
            fh.write(os.urandom(512 * 1024))
            fh.write(b"text line %d\r\n" % i * 40000)
    incompressible = tmp_path / "rand.bin"
    incompressible.write_bytes(os.urandom(5 * 1024 * 1024 + 17))
    out = tmp_path / "big.wim"
    stats = write(out, {"/DataAsset/2/x/big.bin": big, "/DataAsset/2/y/rand.bin": incompressible,
                        "/a.txt": b"small"})
    assert stats.total_bytes == big.stat().st_size + incompressible.stat().st_size + 5
    assert subprocess.run(["wimlib-imagex", "verify", str(out)], capture_output=True).returncode == 0
    subprocess.run(["wimlib-imagex", "extract", str(out), "1", f"--dest-dir={tmp_path / 'x'}"], check=True,
                   capture_output=True)
    assert (tmp_path / "x/DataAsset/2/x/big.bin").read_bytes() == big.read_bytes()
    assert (tmp_path / "x/DataAsset/2/y/rand.bin").read_bytes() == incompressible.read_bytes()
    with open_wim(out) as w:
        rand = next(f for f in w.image(1).files() if f.path.endswith("rand.bin"))
        assert not w.blobs[rand.sha1].reshdr.compressed       # not smaller: stored uncompressed
        bigf = next(f for f in w.image(1).files() if f.path.endswith("big.bin"))
        assert w.blobs[bigf.sha1].reshdr.compressed


def test_resource_cache_reuses_compressed_assets(tmp_path):
    asset = tmp_path / "asset.msi"
    with open(asset, "wb") as fh:
        for i in range(40):
            fh.write(os.urandom(16 * 1024) + b"MSI table %d " % i * 2000)
    errors = []
    outs = [tmp_path / f"dev{i}.ppkg" for i in range(4)]
    with ResourceCache() as cache:
        first = write(outs[0], {"/DataAsset/2/a/asset.msi": asset, "/Multivariant/0/x.xml": b"device 0"},
                      resource_cache=cache)
        assert first.reused_resources == 0 and len(cache) == 1

        def build(i):
            try:
                s = write(outs[i], {"/DataAsset/2/a/asset.msi": asset, "/Multivariant/0/x.xml": b"device %d" % i},
                          resource_cache=cache)
                assert s.reused_resources == 1
            except BaseException as exc:   # surfaced below
                errors.append(exc)
        threads = [threading.Thread(target=build, args=(i,)) for i in range(1, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    for i, out in enumerate(outs):
        assert subprocess.run(["wimlib-imagex", "verify", str(out)], capture_output=True).returncode == 0
        with open_wim(out) as w:
            assert w.image(1).read("/DataAsset/2/a/asset.msi") == asset.read_bytes()
            assert w.image(1).read("/Multivariant/0/x.xml") == b"device %d" % i
    # the cached copy is byte-identical to the first compression
    with open_wim(outs[0]) as w0, open_wim(outs[3]) as w3:
        h = hashlib.sha1(asset.read_bytes()).digest()
        r0, r3 = w0.blobs[h].reshdr, w3.blobs[h].reshdr
        assert r0.compressed and r0.size_in_wim == r3.size_in_wim
        assert w0.pread(r0.offset, r0.size_in_wim) == w3.pread(r3.offset, r3.size_in_wim)


def test_pure_python_codec_output_verifies(files, tmp_path):
    out = tmp_path / "pure.wim"
    small = {k: v for k, v in files.items() if len(v) < 50_000}
    write(out, small, codec=get_codec("python"))
    assert subprocess.run(["wimlib-imagex", "verify", str(out)], capture_output=True).returncode == 0
    subprocess.run(["wimlib-imagex", "extract", str(out), "1", f"--dest-dir={tmp_path / 'x'}"], check=True,
                   capture_output=True)
    assert tree_files(tmp_path / "x") == small


def test_security_descriptors_parse(package):
    """The stored descriptors are valid self-relative SDs: owner Administrators, DACL SYSTEM + Administrators."""
    from impacket.ldap.ldaptypes import SR_SECURITY_DESCRIPTOR
    path, _ = package
    with open_wim(path) as w:
        w.image(1).root
        sds = w.image(1).security.descriptors
    assert len(sds) == 2
    for raw in sds:
        sd = SR_SECURITY_DESCRIPTOR(data=raw)
        assert sd["OwnerSid"].formatCanonical() == "S-1-5-32-544"
        assert sd["GroupSid"].formatCanonical() == "S-1-5-18"
        sids = [ace["Ace"]["Sid"].formatCanonical() for ace in sd["Dacl"].aces]
        assert sids == ["S-1-5-18", "S-1-5-32-544"]
        assert all(ace["Ace"]["Mask"]["Mask"] == 0x1F01FF for ace in sd["Dacl"].aces)


@pytest.mark.parametrize("bad", ["/a/../b", "C:/x", "/a//b", "/CON", "/x/nul.txt", "/a\0b", "/dot."])
def test_unsafe_names_refused_by_writer(bad):
    with pytest.raises(UnsafePathError):
        write_wim(io.BytesIO(), {bad: b"x"}, PROPS)


def test_path_conflicts_refused():
    with pytest.raises(UnsafePathError, match="clashes"):
        write_wim(io.BytesIO(), {"/a": b"x", "/a/b": b"y"}, PROPS)
    with pytest.raises(UnsafePathError, match="twice"):
        write_wim(io.BytesIO(), {"/A/b.txt": b"x", "/A/B.TXT": b"y"}, PROPS)
    with pytest.raises(UnsafePathError, match="only in case"):
        write_wim(io.BytesIO(), {"/A/b.txt": b"x", "/a/c.txt": b"y"}, PROPS)
    with pytest.raises(UnsafePathError, match="clashes with another entry .a folder"):
        write_wim(io.BytesIO(), {"/a/b": b"y", "/A": b"x"}, PROPS)      # the folder first, then the file
    with pytest.raises(UnsafePathError, match="only in case"):
        write_wim(io.BytesIO(), {"/x/A/b.txt": b"x", "/x/a/B/c.txt": b"y"}, PROPS)   # deeper, case differs above


def test_small_duplicates_follow_the_first_copy_in_stream_order(tmp_path):
    """Single-chunk files are hashed and compressed in a batch before they are written: a copy of a
    file that is stored uncompressed (MasterDatastore.xml) is the same stream, stored once, raw;
    another duplicate pair is compressed once. wimlib agrees on every file."""
    text = b"<ConfigurationSourceList>" + b'<Source Path="$(_prov)\\RunTime.xml" />' * 40
    other = b"<settings>" + b"<s>value</s>" * 200
    files = {"/Multivariant/0/MasterDatastore.xml": text, "/Z/copy-of-datastore.xml": text,
             "/A/one.xml": other, "/B/two.xml": other}
    out = tmp_path / "dup.ppkg"
    stats = write(out, files)
    assert (stats.streams, stats.duplicate_files) == (2, 2)
    with open_wim(out) as w:
        img = w.image(1)
        hashes = {f.path: f.sha1 for f in img.files()}
        raw_blob, packed_blob = w.blobs[hashes["/Z/copy-of-datastore.xml"]], w.blobs[hashes["/B/two.xml"]]
        assert raw_blob.refcount == 2 and not raw_blob.reshdr.compressed
        assert packed_blob.refcount == 2 and packed_blob.reshdr.compressed
    subprocess.run(["wimlib-imagex", "verify", str(out)], check=True, capture_output=True)
    subprocess.run(["wimlib-imagex", "extract", str(out), "1", f"--dest-dir={tmp_path / 'x'}"], check=True,
                   capture_output=True)
    assert tree_files(tmp_path / "x") == files


def test_bad_arguments():
    with pytest.raises(TypeError, match="bytes"):
        write_wim(io.BytesIO(), {"/a": "text is not bytes"}, PROPS)
    with pytest.raises(WimError, match="computed by the writer"):
        write_wim(io.BytesIO(), {"/a": b"x"}, {"NAME": "n", "FILECOUNT": "3"})
    with pytest.raises(WimError, match="16 bytes"):
        write_wim(io.BytesIO(), {"/a": b"x"}, PROPS, wim_guid=b"short")
    with pytest.raises(WimError, match="timezone"):
        write_wim(io.BytesIO(), {"/a": b"x"}, PROPS, timestamp=dt.datetime(2024, 1, 1))


def test_own_reader_round_trip(files, tmp_path):
    buf = io.BytesIO()
    write_wim(buf, files, PROPS, wim_guid=GUID, timestamp=WHEN)
    with open_wim(io.BytesIO(buf.getvalue())) as w:
        img = w.image(1)
        assert {f.path: img.read(f.path) for f in img.files()} == files
        assert set(img.directories()) == {"/CommonSettings", "/CommonSettings/1", "/DataAsset", "/DataAsset/2",
                                          "/DataAsset/2/0_abc=", "/DataAsset/2/1_def=", "/DataAsset/2/2_empty=",
                                          "/Multivariant", "/Multivariant/0", "/Multivariant/0/Prov",
                                          "/Multivariant/0/Prov/RunTime"}


def test_plain_tree_encoder_equals_dentry_encoder():
    """write_wim's fast dentry encoder gives the same bytes as the general one."""
    from ppkgtool.wim.dentry import (FILE_ATTRIBUTE_ARCHIVE, FILE_ATTRIBUTE_DIRECTORY, Dentry, build_dentry_tree,
                                     build_plain_tree)
    when = 133_000_000_000_000_000
    h1, h2 = hashlib.sha1(b"1").digest(), hashlib.sha1(b"2").digest()
    plain = ("", None, [("b", None, [("x.xml", h1, None), ("Ä-ü.txt", h2, None), ("empty", None, [])]),
                        ("A.txt", h2, None), ("a2", None, [("deep", None, [("f", h1, None)])])])

    def to_dentry(node, root=False):
        name, sha, kids = node
        if sha is None:
            return Dentry(name=name, attributes=FILE_ATTRIBUTE_DIRECTORY, children=tuple(to_dentry(k) for k in kids),
                          security_id=0 if root else -1, creation_time=when, last_access_time=when,
                          last_write_time=when)
        return Dentry(name=name, attributes=FILE_ATTRIBUTE_ARCHIVE, main_hash=sha, security_id=1,
                      creation_time=when, last_access_time=when, last_write_time=when)

    assert build_plain_tree(plain, 216, when) == build_dentry_tree(to_dentry(plain, True), 216)


def test_blob_rows_and_header_packers_equal_the_objects():
    """The writer's plain-tuple packers give the bytes of BlobEntry/WimHeader and refuse values the
    format cannot hold instead of truncating them."""
    from ppkgtool.wim.blobtable import BlobEntry, build_blob_table, pack_blob_rows
    from ppkgtool.wim.header import EMPTY_RESHDR, ResourceHeader, WimHeader, pack_header
    h = hashlib.sha1(b"x").digest()
    rows = [[70, 0, 208, 70, 1, h], [1234, 6, 5000, 99999, 3, h]]
    assert pack_blob_rows(rows) == build_blob_table([BlobEntry(ResourceHeader(*r[:4]), 1, r[4], r[5]) for r in rows])
    for bad in ([1 << 56, 0, 0, 0, 1, h], [1, 256, 0, 0, 1, h], [1, 0, 0, 0, 1, h[:19]], [1, 0, -1, 0, 1, h]):
        with pytest.raises(WimError, match="blob table row"):
            pack_blob_rows([bad])
    bt, xml = (100, 2, 300, 100), (50, 2, 400, 50)
    obj = WimHeader(version=0x10D00, flags=0x20082, chunk_size=32768, guid=GUID, part_number=1, total_parts=1,
                    image_count=1, blob_table=ResourceHeader(*bt), xml_data=ResourceHeader(*xml),
                    boot_metadata=EMPTY_RESHDR, boot_index=0, integrity_table=EMPTY_RESHDR)
    assert pack_header(version=0x10D00, flags=0x20082, chunk_size=32768, guid=GUID, part_number=1, total_parts=1,
                       image_count=1, blob_table=bt, xml_data=xml) == obj.build()


def test_tree_layout_refuses_a_bad_hash_and_memoised_paths_are_safe(files):
    """A layout refuses a hash that is not 20 bytes; with per-path results memoised, a second package
    with the same paths but other contents gets its own hashes, and path errors are raised every time."""
    from ppkgtool.wim.dentry import PlainTreeLayout, plain_name
    layout = PlainTreeLayout({(): [plain_name("a") + (0, None)]}, 216)
    with pytest.raises(WimError, match="20 bytes"):
        layout.render(1, [b"short"])
    with pytest.raises(WimError, match="root folder"):
        PlainTreeLayout({("A",): []}, 216)
    with pytest.raises(WimError, match="no entry list"):
        PlainTreeLayout({(): [plain_name("d") + (None, ("D",))]}, 216)
    first = files
    second = {k: v + b"<!-- other -->" for k, v in first.items()}
    outs = []
    for files in (first, second):
        buf = io.BytesIO()
        write_wim(buf, files, PROPS, wim_guid=GUID, timestamp=WHEN)
        outs.append(buf)
    for buf, files in zip(outs, (first, second)):
        buf.seek(0)
        with open_wim(buf) as w:
            img = w.image(1)
            assert {f.path: img.read(f.path) for f in img.files()} == files
    bad = {"/A/x.xml": b"1", "/a/y.xml": b"2"}
    for _ in range(2):
        with pytest.raises(UnsafePathError, match="clashes"):
            write_wim(io.BytesIO(), bad, PROPS)
