"""Reading WIM files (.ppkg): header, blob table, XML, image metadata, file streams.

Every structure is checked against the file size before use; streams are verified against the
SHA-1 their blob table entry records (``verify_hashes``). Errors are WimError (or a subclass)
naming the place. See docs/formats/wim.md.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from ppkgtool.errors import WimError
from ppkgtool.wim.blobtable import BLOB_ENTRY_SIZE, BlobEntry, parse_blob_table
from ppkgtool.wim.dentry import ZERO_HASH, Dentry, parse_dentry_tree
from ppkgtool.wim.header import HDR_FLAG_SPANNED, HEADER_SIZE, ResourceHeader, WimHeader
from ppkgtool.limits import Budget, current as current_budget
from ppkgtool.wim.imagexml import MAX_XML_BYTES, WimXml, parse_filetime, parse_wim_xml
from ppkgtool.wim.compression import hash_async
from ppkgtool.wim.resource import HashMismatchError, iter_resource, read_resource
from ppkgtool.wim.security import SecurityData

MAX_METADATA_BYTES = 512 * 1024 * 1024
MAX_IMAGES = 1000


@dataclass(frozen=True)
class WimFile:
    """A regular file of an image: package path ("/Multivariant/0/customizations.xml"), size, SHA-1."""

    path: str
    size: int
    sha1: bytes

    def __post_init__(self):
        if not isinstance(self.path, str) or not isinstance(self.size, int) or not isinstance(self.sha1, bytes):
            raise TypeError("WimFile(path: str, size: int, sha1: bytes)")

    def to_json(self) -> dict:
        return {"path": self.path, "size": self.size, "sha1": self.sha1.hex()}


@dataclass(frozen=True)
class Entry:
    """Any dentry with its package path (files, directories, reparse points)."""

    path: str
    parts: tuple[str, ...]
    dentry: Dentry


class WimReader:
    """An open WIM. Use ``open_wim``; close it (or use ``with``) when done."""

    def __init__(self, fh: BinaryIO, *, owns: bool, verify_hashes: bool = True, codec=None, name: str = "WIM",
                 budget: Budget | None = None):
        self._fh = fh
        self._owns = owns
        self._lock = threading.Lock()
        self.verify_hashes = verify_hashes
        self.name = name
        self._codec = codec
        self.budget = budget or current_budget()
        self._fd: int | None = None       # positional reads without the lock for a file we opened
        if owns:
            try:
                self._fd = fh.fileno()
            except (OSError, AttributeError, ValueError):
                self._fd = None
        try:
            fh.seek(0, io.SEEK_END)
            self.file_size = fh.tell()
            fh.seek(0)
        except (OSError, ValueError, AttributeError) as exc:
            raise WimError(f"the source is not a seekable file ({exc})", where=name) from None
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # -- low level -------------------------------------------------------------------------

    @property
    def codec(self):
        if self._codec is None:
            from ppkgtool.wim.compression import get_codec
            self._codec = get_codec()
        return self._codec

    def pread(self, offset: int, size: int) -> bytes:
        if size < 0 or offset < 0 or offset + size > self.file_size:
            raise WimError(f"{size} bytes at offset {offset} lie beyond the end of the file "
                           f"({self.file_size} bytes)", where=self.name, hint="the file is truncated or damaged")
        if size == 0:
            return b""
        if self._fd is not None:
            data = os.pread(self._fd, size, offset)
            while 0 < len(data) < size:
                more = os.pread(self._fd, size - len(data), offset + len(data))
                if not more:
                    break
                data += more
        else:
            with self._lock:
                self._fh.seek(offset)
                data = self._fh.read(size)
        if len(data) != size:
            raise WimError(f"short read at offset {offset}", where=self.name)
        return data

    def _check_range(self, reshdr: ResourceHeader, where: str) -> None:
        if reshdr.offset < HEADER_SIZE and reshdr.size_in_wim:
            raise WimError(f"resource at offset {reshdr.offset} overlaps the header", where=where)
        if reshdr.end > self.file_size:
            raise WimError(f"resource at {reshdr.offset}+{reshdr.size_in_wim} runs past the end of the "
                           f"file ({self.file_size} bytes)", where=where, hint="the file is truncated")

    def _read(self, reshdr: ResourceHeader, where: str, *, limit: int, sha1: bytes | None = None) -> bytes:
        self._check_range(reshdr, where)
        return read_resource(reshdr, self.chunk_size, self.pread, self.codec, where=where, limit=limit,
                             expected_sha1=sha1 if self.verify_hashes else None)

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        head = self.pread(0, min(HEADER_SIZE, self.file_size))
        self.header = h = WimHeader.parse(head)
        if h.flags & HDR_FLAG_SPANNED or h.total_parts != 1 or h.part_number != 1:
            raise WimError(f"split WIM part {h.part_number} of {h.total_parts} is not supported",
                           where=f"{self.name} header")
        comp = h.compression
        if comp not in ("none", "xpress"):
            raise WimError(f"{comp.upper()} compression is not supported (packages use XPRESS)",
                           where=f"{self.name} header")
        if comp == "xpress" and (h.chunk_size & (h.chunk_size - 1) or not 4096 <= h.chunk_size <= 65536):
            raise WimError(f"chunk size {h.chunk_size} is not supported (XPRESS: 4 KiB to 64 KiB)",
                           where=f"{self.name} header offset 20")
        self.chunk_size = h.chunk_size if comp == "xpress" else (h.chunk_size or 32768)
        if h.image_count > MAX_IMAGES:
            raise WimError(f"{h.image_count} images (limit {MAX_IMAGES})", where=f"{self.name} header offset 44")
        # XML data (uncompressed UTF-16LE)
        xml = h.xml_data
        self._check_range(xml, f"{self.name} XML data")
        if xml.compressed:
            raise WimError("compressed XML data is not supported", where=f"{self.name} XML data")
        if xml.size_in_wim > MAX_XML_BYTES:
            raise WimError(f"XML data of {xml.size_in_wim} bytes exceeds {MAX_XML_BYTES}", where=f"{self.name} XML data")
        self.xml_info: WimXml = parse_wim_xml(self.pread(xml.offset, xml.size_in_wim))
        self.trailing_bytes = max(0, self.file_size - xml.end)
        # blob table
        bt = h.blob_table
        self._check_range(bt, f"{self.name} blob table")
        if bt.uncompressed_size > self.file_size * 64 + 1024 * 1024:
            raise WimError("blob table size is impossible for this file", where=f"{self.name} blob table")
        table = self._read(bt, f"{self.name} blob table", limit=max(BLOB_ENTRY_SIZE, self.file_size * 64))
        entries = parse_blob_table(table)
        self.blobs: dict[bytes, BlobEntry] = {}
        self.metadata_entries: list[BlobEntry] = []
        for i, e in enumerate(entries):
            if e.reshdr.is_metadata:
                self.metadata_entries.append(e)
                continue
            if e.part_number != 1:
                raise WimError(f"blob table entry {i} belongs to part {e.part_number}",
                               where=f"{self.name} blob table entry {i}")
            self._check_range(e.reshdr, f"{self.name} blob table entry {i}")
            self.blobs.setdefault(e.sha1, e)
        if len(self.metadata_entries) < h.image_count:
            raise WimError(f"header declares {h.image_count} images but the blob table has "
                           f"{len(self.metadata_entries)} metadata resources", where=f"{self.name} blob table")
        self._images: dict[int, Image] = {}

    # -- public ----------------------------------------------------------------------------

    @property
    def image_count(self) -> int:
        return self.header.image_count

    @property
    def xml(self) -> str:
        return self.xml_info.text

    def image(self, index: int) -> "Image":
        if not isinstance(index, int) or not 1 <= index <= self.image_count:
            raise WimError(f"image {index} does not exist (the package has {self.image_count})", where=self.name)
        img = self._images.get(index)
        if img is None:
            img = Image(self, index)
            self._images[index] = img
        return img

    def images(self) -> list["Image"]:
        return [self.image(i) for i in range(1, self.image_count + 1)]

    def blob_for(self, sha1: bytes, where: str) -> BlobEntry:
        e = self.blobs.get(sha1)
        if e is None:
            raise WimError(f"stream {sha1.hex()} is missing from the blob table", where=where)
        return e

    def iter_stream(self, sha1: bytes, where: str, *, lane: int = 0) -> Iterator[bytes]:
        """The bytes of the stream with this SHA-1, in pieces; hash checked before the last piece
        is yielded (so a consumer never receives the whole of a damaged stream).

        The SHA-1 runs on hashing thread ``lane`` (compression.hash_async; streams read at the
        same time use different lanes) while the consumer writes a piece and the next one is read
        and decompressed on the worker threads."""
        if sha1 == ZERO_HASH:
            return
        e = self.blob_for(sha1, where)
        self._check_range(e.reshdr, where)
        self.budget.check_expansion(e.size, self.file_size, where)
        h = hashlib.sha1() if self.verify_hashes else None
        pending = []
        got = 0
        for piece in iter_resource(e.reshdr, self.chunk_size, self.pread, self.codec, where=where):
            got += len(piece)
            if h is not None:
                if len(piece) < 65536 and not pending:
                    h.update(piece)
                else:
                    pending.append(hash_async(h, piece, lane))    # pieces are immutable bytes
                    if len(pending) > 4:
                        pending.pop(0).result()
                if got == e.size:
                    for f in pending:
                        f.result()
                    if h.digest() != sha1:
                        raise HashMismatchError("SHA-1 of the data does not match the blob table", where=where)
            yield piece
        if got != e.size:
            raise WimError(f"stream gave {got} bytes instead of {e.size}", where=where)

    def close(self) -> None:
        if self._owns and self._fh is not None:
            self._fh.close()
        self._fh = None if self._owns else self._fh

    def __enter__(self) -> "WimReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Image:
    """One image of a WIM: its XML properties and its file tree (loaded on first use)."""

    def __init__(self, wim: WimReader, index: int):
        self.wim = wim
        self.index = index
        info = {i.index: i for i in wim.xml_info.images}
        self.properties: dict[str, str] = dict(info[index].properties) if index in info else {}
        self._root: Dentry | None = None
        self._entries: list[Entry] | None = None
        self._by_path: dict[str, Entry] | None = None
        self.security: SecurityData | None = None

    @property
    def name(self) -> str:
        return self.properties.get("NAME", "")

    @property
    def creation_time(self) -> int | None:
        return parse_filetime(self.properties, "CREATIONTIME")

    @property
    def root(self) -> Dentry:
        if self._root is None:
            e = self.wim.metadata_entries[self.index - 1]
            where = f"{self.wim.name} image {self.index} metadata"
            self.wim.budget.check_expansion(e.reshdr.uncompressed_size, self.wim.file_size, where)
            data = self.wim._read(e.reshdr, where, limit=MAX_METADATA_BYTES, sha1=e.sha1)
            self.security = SecurityData.parse(data)
            try:
                self._root = parse_dentry_tree(data, self.security.length, max_entries=self.wim.budget.entries)
            except WimError as exc:
                raise WimError(exc.message, where=where) from None
        return self._root

    def entries(self) -> list[Entry]:
        """Every dentry below the root, parents before children, with its path."""
        if self._entries is None:
            out: list[Entry] = []
            stack: list[tuple[tuple[str, ...], Dentry]] = [((), self.root)]
            while stack:
                parts, d = stack.pop()
                for c in sorted(d.children, key=lambda x: (x.name.upper(), x.name), reverse=True):
                    cp = parts + (c.name,)
                    stack.append((cp, c))
                if parts:
                    out.append(Entry("/" + "/".join(parts), parts, d))
            self._entries = out
        return self._entries

    def _index(self) -> dict[str, Entry]:
        if self._by_path is None:
            self._by_path = {}
            for e in self.entries():
                self._by_path.setdefault(e.path, e)
        return self._by_path

    def files(self) -> list[WimFile]:
        """Regular files (not directories, not reparse points), with the size of the unnamed stream."""
        out = []
        for e in self.entries():
            d = e.dentry
            if d.is_directory or d.is_reparse_point:
                continue
            h = d.data_hash
            size = 0 if h == ZERO_HASH else self.wim.blob_for(h, f"{self.wim.name}:{e.path}").size
            out.append(WimFile(e.path, size, h))
        return out

    def directories(self) -> list[str]:
        return [e.path for e in self.entries() if e.dentry.is_directory]

    def lookup(self, path: str) -> Entry:
        norm = "/" + "/".join(p for p in path.replace("\\", "/").split("/") if p)
        e = self._index().get(norm)
        if e is None:
            raise WimError(f"no file {path!r} in image {self.index}", where=self.wim.name)
        return e

    def iter_file(self, path: str) -> Iterator[bytes]:
        e = self.lookup(path)
        if e.dentry.is_directory:
            raise WimError(f"{path!r} is a directory", where=self.wim.name)
        return self.wim.iter_stream(e.dentry.data_hash, f"{self.wim.name}:{e.path}")

    def read(self, path: str) -> bytes:
        return b"".join(self.iter_file(path))

    def open(self, path: str) -> BinaryIO:
        """A read-only binary stream over the file's data, decompressed chunk by chunk."""
        e = self.lookup(path)
        if e.dentry.is_directory:
            raise WimError(f"{path!r} is a directory", where=self.wim.name)
        h = e.dentry.data_hash
        size = 0 if h == ZERO_HASH else self.wim.blob_for(h, f"{self.wim.name}:{e.path}").size
        return io.BufferedReader(_StreamRaw(self.wim.iter_stream(h, f"{self.wim.name}:{e.path}"), size),
                                 buffer_size=256 * 1024)


class _StreamRaw(io.RawIOBase):
    def __init__(self, pieces: Iterator[bytes], size: int):
        self._pieces = pieces
        self._buf = memoryview(b"")
        self.size = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            nxt = next(self._pieces, None)
            if nxt is None:
                return 0
            self._buf = memoryview(nxt)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def open_wim(source: str | os.PathLike | BinaryIO, *, verify_hashes: bool = True, codec=None,
             budget: Budget | None = None) -> WimReader:
    """Open a WIM (.ppkg) for reading: a path or a seekable binary file object.

    Raises WimError on bad input (with ``where`` naming the place). Trailing bytes after the XML
    data (e.g. the up to 159 zero bytes of a decrypted package) are tolerated and counted in
    ``trailing_bytes``.
    """
    if isinstance(source, (str, os.PathLike)):
        try:
            fh = open(source, "rb")
        except OSError as exc:
            raise WimError(f"cannot open: {exc.strerror}", where=str(source)) from None
        return WimReader(fh, owns=True, verify_hashes=verify_hashes, codec=codec, name=str(source), budget=budget)
    if not hasattr(source, "read") or not hasattr(source, "seek"):
        raise TypeError("open_wim() needs a path or a seekable binary file object")
    return WimReader(source, owns=False, verify_hashes=verify_hashes, codec=codec,
                     name=str(getattr(source, "name", "WIM")), budget=budget)
