"""Digests computed while a package is written (issue 19): what `pack` and `build` print, and what the
catalog lists, is what hashlib, sha1sum and sha256sum compute over the file; the file verifies with
wimlib-imagex and extracts to the same tree; the writer writes front to back and never reads back."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bulk_template import make_asset, make_template
from ppkgtool.digests import WRITE_BLOCK, HashingWriter
from ppkgtool.errors import WimError
from ppkgtool.fsutil import WRITEBACK_STEP, large_output
from ppkgtool.security.catalog import parse_catalog
from ppkgtool.wim import open_wim, write_wim
from test_wim_helpers import tree_files

pytestmark = pytest.mark.skipif(shutil.which("wimlib-imagex") is None, reason="wimlib-imagex (wimtools) missing")

PPKGTOOL = [sys.executable, "-m", "ppkgtool"]


def tool_digest(tool: str, path: Path) -> str:
    return subprocess.run([tool, str(path)], check=True, capture_output=True, text=True).stdout.split()[0]


def run_json(*argv) -> dict:
    r = subprocess.run([*PPKGTOOL, *map(str, argv), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def package_tree(root: Path) -> Path:
    """A package folder with streams of several batches: random (stored raw), text, mixed."""
    rng = random.Random(19)
    files = {
        "Multivariant/0/MasterDatastore.xml": b"\xef\xbb\xbf<ConfigurationSourceList/>",
        "Multivariant/0/Prov/RunTime/0__Setting.provxml": b"".join(
            b'<parm name="Setting%d" value="%d" datatype="integer" />\r\n' % (i, i * 7919) for i in range(60000)),
        "DataAsset/2/0_a/random.bin": rng.randbytes(5 * 1024 * 1024 + 123),
        "DataAsset/2/1_b/small.txt": b"small file\r\n" * 10,
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "DataAsset/2/2_c").mkdir(parents=True)
    make_asset(root / "DataAsset/2/2_c/mixed.msi", 6 * 1024 * 1024 + 77, incompressible=0.5)
    return root


def test_pack_prints_the_sha256_of_the_file(tmp_path):
    tree = package_tree(tmp_path / "tree")
    out = tmp_path / "out.ppkg"
    doc = run_json("pack", tree, "-o", out)
    assert doc["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest() == tool_digest("sha256sum", out)
    assert doc["size"] == out.stat().st_size
    assert subprocess.run(["wimlib-imagex", "verify", str(out)], capture_output=True).returncode == 0
    subprocess.run(["wimlib-imagex", "extract", str(out), "1", f"--dest-dir={tmp_path / 'x'}"], check=True,
                   capture_output=True)
    assert tree_files(tmp_path / "x") == tree_files(tree)
    with open_wim(out) as w:   # the random stream is stored raw, the text one compressed
        by_path = {f.path: f for f in w.image(1).files()}
        assert not w.blobs[by_path["/DataAsset/2/0_a/random.bin"].sha1].reshdr.compressed
        assert w.blobs[by_path["/Multivariant/0/Prov/RunTime/0__Setting.provxml"].sha1].reshdr.compressed


def test_pack_size_stays_within_wimlib(tmp_path):
    """Skipping compression attempts on incompressible chunks keeps the package within 1.02x of
    wimlib-imagex capture's (XPRESS, 32 KiB chunks) on the same tree."""
    tree = package_tree(tmp_path / "tree")
    ours, theirs = tmp_path / "ours.ppkg", tmp_path / "wimlib.wim"
    run_json("pack", tree, "-o", ours)
    subprocess.run(["wimlib-imagex", "capture", str(tree), str(theirs), "x", "--compress=XPRESS",
                    "--chunk-size=32768", "--no-acls"], check=True, capture_output=True)
    assert ours.stat().st_size <= 1.02 * theirs.stat().st_size


def test_build_reports_and_catalogs_the_digests_of_the_file(tmp_path):
    template, assets = make_template(tmp_path / "tpl", asset_size=3 << 20, incompressible=0.75)
    out = tmp_path / "out.ppkg"
    doc = run_json("build", template, "-o", out, "--asset-dir", assets, "--var", "SITE=Berlin")
    sha1, sha256 = tool_digest("sha1sum", out), tool_digest("sha256sum", out)
    data = out.read_bytes()
    assert doc["sha1"] == sha1 == hashlib.sha1(data).hexdigest()
    assert doc["sha256"] == sha256 == hashlib.sha256(data).hexdigest()
    cat = parse_catalog(Path(doc["catalog"]).read_bytes())
    assert {m.tag.hex() for m in cat.members} == {sha1, sha256}
    assert subprocess.run(["wimlib-imagex", "verify", str(out)], capture_output=True).returncode == 0


class WriteOnly:
    """An output that can only be appended to: no seek, no read, no truncate."""

    def __init__(self):
        self.buf = bytearray()
        self.writes = 0

    def write(self, data) -> int:
        self.buf += data
        self.writes += 1
        return len(data)


def test_writer_writes_front_to_back_and_hashes_what_it_writes(tmp_path):
    tree = package_tree(tmp_path / "tree")
    files = {"/" + p.relative_to(tree).as_posix(): p for p in sorted(tree.rglob("*")) if p.is_file()}
    sink = WriteOnly()
    stats = write_wim(sink, files, {"NAME": "x"}, digests=("sha1", "sha256"))
    data = bytes(sink.buf)
    assert stats.size == len(data)
    assert stats.digests == {"sha1": hashlib.sha1(data).digest(), "sha256": hashlib.sha256(data).digest()}
    (tmp_path / "w.wim").write_bytes(data)
    assert subprocess.run(["wimlib-imagex", "verify", str(tmp_path / "w.wim")], capture_output=True).returncode == 0


def test_a_source_changed_between_the_passes_is_refused(tmp_path, monkeypatch):
    tree = package_tree(tmp_path / "tree")
    big = tree / "DataAsset/2/0_a/random.bin"
    import ppkgtool.wim.writer as writer

    class Touching(HashingWriter):
        def __init__(self, *a, **k):        # the second pass starts: change the file
            super().__init__(*a, **k)
            with open(big, "r+b") as fh:
                fh.write(b"changed")
            os.utime(big, ns=(1, 1))

    monkeypatch.setattr(writer, "HashingWriter", Touching)
    with pytest.raises(WimError, match="changed while the package was written"):
        write_wim(io.BytesIO(), {"/DataAsset/2/0_a/random.bin": big}, {"NAME": "x"})


@pytest.mark.parametrize("sizes", [[1, 2, 3], [WRITE_BLOCK - 1, 2, WRITE_BLOCK + 5], [100] * 30000,
                                   [3 * WRITE_BLOCK + 17, 5, WRITE_BLOCK // 4 - 1, WRITE_BLOCK // 4]])
def test_hashing_writer(sizes):
    rng = random.Random(len(sizes))
    pieces = [rng.randbytes(n) for n in sizes]
    sink = WriteOnly()
    w = HashingWriter(sink, ("sha1", "sha256"))
    for p in pieces:
        w.write(p)
    got = w.finish()
    whole = b"".join(pieces)
    assert bytes(sink.buf) == whole and w.size == len(whole)
    assert got == {"sha1": hashlib.sha1(whole).digest(), "sha256": hashlib.sha256(whole).digest()}


def test_large_output_is_atomic_and_complete(tmp_path):
    data = os.urandom(2 * WRITEBACK_STEP + 12345)
    out = tmp_path / "big.bin"
    with large_output(out, private=True) as fh:
        for i in range(0, len(data), 1 << 20):
            fh.write(data[i:i + (1 << 20)])
        assert not out.exists()
    assert out.read_bytes() == data
    assert out.stat().st_mode & 0o777 == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("size", [208, 160 * 1000, 3 * 1024 * 1024 + 7])
def test_encrypting_writer_matches_encrypt_package(size):
    """build --encrypt encrypts the WIM as it is written: the same bytes as encrypt_package, and the
    digests of the plain, zero-padded and encrypted forms are those of the bytes."""
    from ppkgtool.security.encryption import EncryptingWriter, UNIT, decrypt_bytes, encrypt_bytes
    data = b"MSWIM\0\0\0" + random.Random(size).randbytes(size - 8)
    iv, password = bytes(range(16)), "0123456789abcdef"
    sink = WriteOnly()
    w = EncryptingWriter(sink, password, iv=iv, digests=("sha1", "sha256"))
    for i in range(0, size, 100_003):           # pieces that are not whole AES blocks
        w.write(memoryview(data)[i:i + 100_003])
    sealed = w.finish()
    enc = bytes(sink.buf)
    assert enc == encrypt_bytes(data, password, iv=iv)
    padded = data + bytes(-size % UNIT)
    assert decrypt_bytes(enc, password, require_wim=False) == padded
    for algo in ("sha1", "sha256"):
        assert sealed.plain[algo] == hashlib.new(algo, data).digest()
        assert sealed.padded[algo] == hashlib.new(algo, padded).digest()
        assert sealed.encrypted[algo] == hashlib.new(algo, enc).digest()
    assert (sealed.plain_size, sealed.padded_size, sealed.encrypted_size) == (size, len(padded), len(enc))


def test_encrypting_writer_refuses_what_is_not_a_package():
    from ppkgtool.errors import InvalidInputError
    from ppkgtool.security.encryption import EncryptingWriter
    w = EncryptingWriter(WriteOnly(), "0123456789abcdef")
    with pytest.raises(InvalidInputError, match="not a plain package"):
        w.write(b"not a wim" * 100)


def test_console_script_imports_only_the_command_it_runs():
    """`ppkgtool pack ...` registers only the pack command (start-up); --help still lists every command."""
    code = ("import sys\nfrom ppkgtool.cli import main\n"
            "try:\n    main(['pack', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('ppkgtool.cli.cmd_')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip().splitlines()[-1] == "['ppkgtool.cli.cmd_pack']"
    top = subprocess.run([*PPKGTOOL, "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("build", "pack", "extract", "encrypt", "decrypt", "bulk", "odj"):
        assert f"    {name}" in top


def test_write_blocks_bounds_every_write_and_finishes_short_writes():
    """fsutil.write_blocks hands the kernel at most WRITE_BLOCK bytes per write (large writes got
    fresh huge page-cache folios and cost up to 0.5 s of system time per 256 MiB on the bench VM),
    in order, and writes again what a short write left."""
    from ppkgtool.fsutil import WRITE_BLOCK as KERNEL_BLOCK, write_blocks
    data = random.Random(5).randbytes(3 * KERNEL_BLOCK + 1234)
    got, sizes = bytearray(), []

    def short_write(view):          # writes at most 1000 bytes less than asked, like a pipe might
        n = max(1, len(view) - 1000)
        sizes.append(len(view))
        got.extend(view[:n])
        return n
    write_blocks(short_write, data)
    assert bytes(got) == data and max(sizes) <= KERNEL_BLOCK

    whole, seen = bytearray(), []
    write_blocks(lambda v: (seen.append(len(v)), whole.extend(v)) and None, memoryview(data))
    assert bytes(whole) == data and max(seen) == KERNEL_BLOCK and len(seen) == 4


def test_large_output_writes_in_blocks_and_drops_clean_steps_while_writing(tmp_path, monkeypatch):
    """A large output reaches the file in fsutil.WRITE_BLOCK writes; every step is advised
    DONTNEED once when written (its writeback starts) and once more two steps later (its clean
    pages are dropped while the rest is produced, not all after the fsync)."""
    from ppkgtool import fsutil
    advised: list[tuple[int, int]] = []
    real = os.posix_fadvise
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, off, n, how: (advised.append((off, n)), real(fd, off, n, how))[1])
    writes: list[int] = []
    real_write = io.BufferedWriter.write

    class Counting(io.BufferedWriter):
        def write(self, b):
            writes.append(len(b))
            return real_write(self, b)
    data = os.urandom(4 * WRITEBACK_STEP + 5)
    out = tmp_path / "big.bin"
    with large_output(out) as fh:
        fh._fh = Counting(io.FileIO(os.dup(fh.fileno()), "wb"))
        for i in range(0, len(data), 3 << 20):
            fh.write(data[i:i + (3 << 20)])
        fh._fh.flush()
    assert out.read_bytes() == data
    assert writes and max(writes) <= fsutil.WRITE_BLOCK
    during = [r for r in advised if r[1]]             # the final drop after the fsync advises (0, 0)
    first_step = [r for r in during if r[0] == 0]
    assert len(first_step) == 2, advised               # written (writeback starts), then dropped
    assert first_step[1][1] >= WRITEBACK_STEP


def test_equal_streams_on_disk_are_stored_once_without_a_hashing_pass(tmp_path, monkeypatch):
    """Files streamed from disk are read once (SHA-1 and compression together): files of equal
    size are not hashed up front any more; a copy of an earlier stream is found by planning it and
    stored once, with its reference count, as wimlib-imagex stores it."""
    from ppkgtool import digests
    rng = random.Random(7)
    same, other = rng.randbytes(3 * 1024 * 1024 + 11), rng.randbytes(3 * 1024 * 1024 + 11)
    files = {"/DataAsset/2/0_a/one.bin": same, "/DataAsset/2/1_b/two.bin": same, "/DataAsset/2/2_c/three.bin": other}
    for rel, data in files.items():
        p = tmp_path / "tree" / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    monkeypatch.setattr(digests, "file_digests", lambda *a, **k: pytest.fail("a file was hashed in a pass of its own"))
    out = tmp_path / "p.wim"
    with open(out, "wb") as fh:
        stats = write_wim(fh, {rel: tmp_path / "tree" / rel.lstrip("/") for rel in files}, {"NAME": "dups"})
    assert stats.duplicate_files == 1 and stats.streams == 2
    subprocess.run(["wimlib-imagex", "verify", str(out)], check=True, capture_output=True)
    info = subprocess.run(["wimlib-imagex", "info", str(out), "--blobs"], check=True, capture_output=True,
                          text=True).stdout
    assert info.count("Reference Count   = 2") == 1 and info.count("Hash ") == 3, info   # + metadata
    with open_wim(out) as wim:
        img = wim.image(1)
        assert {f.path: img.read(f.path) for f in img.files()} == files


def test_large_files_extracted_two_at_a_time_match_and_a_damaged_one_leaves_nothing(tmp_path):
    """Files of PARALLEL_FILE_BYTES or more are extracted two at a time (each SHA-1 on its own
    core): the tree is the one wimlib-imagex extracts, and a stream damaged in the middle of one
    of them stops the run with the SHA-1 error and removes every file written."""
    from ppkgtool.wim import extract_image
    from ppkgtool.wim.extract import PARALLEL_FILE_BYTES
    rng = random.Random(23)
    files = {f"/DataAsset/2/{i}_a/big{i}.bin": rng.randbytes(PARALLEL_FILE_BYTES + 4096 * i + 3) for i in range(3)}
    files["/Multivariant/0/small.txt"] = b"small\r\n" * 100
    files["/DataAsset/2/3_t/text.bin"] = b"".join(b"line %d of text\r\n" % i for i in range(400000))
    pkg = tmp_path / "p.wim"
    with open(pkg, "wb") as fh:
        write_wim(fh, files, {"NAME": "lanes"})
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    with open_wim(pkg) as wim:
        extract_image(wim, ours)
    subprocess.run(["wimlib-imagex", "extract", str(pkg), "1", f"--dest-dir={theirs}", "--no-acls"], check=True,
                   capture_output=True)
    assert tree_files(ours) == tree_files(theirs) == files

    fds = len(os.listdir("/proc/self/fd"))
    for damaged in ("/DataAsset/2/0_a/big0.bin", "/DataAsset/2/1_a/big1.bin", "/DataAsset/2/2_a/big2.bin"):
        data = bytearray(pkg.read_bytes())
        at = data.find(files[damaged][PARALLEL_FILE_BYTES // 2:PARALLEL_FILE_BYTES // 2 + 64])
        assert at > 0
        data[at] ^= 1
        bad = tmp_path / "bad.wim"
        bad.write_bytes(bytes(data))
        out = tmp_path / "out"
        with open_wim(bad) as wim, pytest.raises(WimError, match="SHA-1"):
            extract_image(wim, out)
        assert not out.exists(), damaged
    assert len(os.listdir("/proc/self/fd")) == fds        # every extracted file was closed


def test_a_build_hashes_its_asset_once(tmp_path, monkeypatch):
    """The asset's SHA-256 (its folder name) and SHA-1 (its WIM resource) come from one read
    (package.layout.sha256_of); planning the resource finds the SHA-1 by the file's identity and
    does not hash the asset again. The package still verifies and its blob table lists the
    asset's real SHA-1."""
    from ppkgtool import digests
    from ppkgtool.package.builder import BuildOptions, build_package
    import ppkgtool.wim.compression as compression
    template, assets = make_template(tmp_path / "tpl", asset_size=3 * 1024 * 1024 + 5, incompressible=0.5)
    asset = assets / "bigapp.msi"
    reads: list[tuple] = []
    real = digests.stream_digests
    monkeypatch.setattr(digests, "stream_digests", lambda fh, algs: reads.append(tuple(algs)) or real(fh, algs))
    monkeypatch.setattr(compression, "hash_async", lambda *a, **k: pytest.fail("the asset was hashed again"))
    out = tmp_path / "b.ppkg"
    build_package(template, out, BuildOptions(asset_dir=assets, variables={"SITE": "Berlin"}))
    assert reads == [("sha256", "sha1")]
    subprocess.run(["wimlib-imagex", "verify", str(out)], check=True, capture_output=True)
    info = subprocess.run(["wimlib-imagex", "info", str(out), "--blobs"], check=True, capture_output=True,
                          text=True).stdout
    assert hashlib.sha1(asset.read_bytes()).hexdigest() in info


def test_a_file_that_changes_while_it_is_hashed_is_refused_and_not_remembered(tmp_path, monkeypatch):
    from ppkgtool import digests
    from ppkgtool.errors import InvalidInputError
    p = tmp_path / "asset.bin"
    p.write_bytes(random.Random(3).randbytes(1 << 20))
    real = digests.stream_digests

    def changing(fh, algs):
        result = real(fh, algs)
        with open(p, "ab") as other:        # another program appends while we read
            other.write(b"more")
        return result

    monkeypatch.setattr(digests, "stream_digests", changing)
    with pytest.raises(InvalidInputError, match="changed while it was read"):
        digests.file_digests(p, ("sha1",))
    ident = digests.file_identity(os.stat(p))
    assert digests.cached_file_digest(ident, "sha1") is None
    monkeypatch.setattr(digests, "stream_digests", real)
    assert digests.file_digests(p, ("sha1",)) == [hashlib.sha1(p.read_bytes()).digest()]
    assert digests.cached_file_digest(digests.file_identity(os.stat(p)), "sha1") == hashlib.sha1(p.read_bytes()).digest()
