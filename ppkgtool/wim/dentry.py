"""WIM directory entries (dentries): the file tree inside an image metadata resource.

On-disk layout as in wimlib src/dentry.c (struct wim_dentry_on_disk, 102 fixed bytes, then the
UTF-16LE long name and short name, each NUL-terminated, padded to 8 bytes; then any extra stream
entries, struct wim_extra_stream_entry_on_disk, each 8-aligned). A directory's children are a list
of dentries at ``subdir_offset`` ended by an 8-byte zero length; the root dentry follows the
security data and is itself followed by such an end marker (docs/formats/wim.md, "Dentry tree").

The parser treats the bytes as hostile: every offset and length is bounds-checked, directory lists
may be visited once (no cycles), and depth and entry counts are limited.
"""

from __future__ import annotations

import functools
import operator
import struct
from dataclasses import dataclass, field

from ppkgtool.errors import WimError
from ppkgtool.wim.security import align8

DENTRY_DISK_SIZE = 102          # dentry.h: WIM_DENTRY_DISK_SIZE
EXTRA_STREAM_DISK_SIZE = 38     # sizeof(struct wim_extra_stream_entry_on_disk)
ZERO_HASH = bytes(20)

# FILE_ATTRIBUTE_* (winnt.h)
FILE_ATTRIBUTE_READONLY = 0x1
FILE_ATTRIBUTE_HIDDEN = 0x2
FILE_ATTRIBUTE_SYSTEM = 0x4
FILE_ATTRIBUTE_DIRECTORY = 0x10
FILE_ATTRIBUTE_ARCHIVE = 0x20
FILE_ATTRIBUTE_DEVICE = 0x40
FILE_ATTRIBUTE_NORMAL = 0x80
FILE_ATTRIBUTE_REPARSE_POINT = 0x400
FILE_ATTRIBUTE_COMPRESSED = 0x800
FILE_ATTRIBUTE_ENCRYPTED = 0x4000

MAX_DENTRIES = 1_000_000
MAX_DEPTH = 256

_FIXED = struct.Struct("<QIiQQQQQQ20sI8sHHH")
assert _FIXED.size == DENTRY_DISK_SIZE
_STREAM = struct.Struct("<QQ20sH")
assert _STREAM.size == EXTRA_STREAM_DISK_SIZE


@dataclass(frozen=True)
class StreamRef:
    """An extra stream entry: ``name`` "" is the unnamed data stream."""

    name: str
    sha1: bytes

    def __post_init__(self):
        if not isinstance(self.name, str) or not isinstance(self.sha1, bytes) or len(self.sha1) != 20:
            raise TypeError("StreamRef(name: str, sha1: 20 bytes)")


@dataclass(frozen=True)
class Dentry:
    name: str
    attributes: int
    main_hash: bytes = ZERO_HASH
    children: tuple["Dentry", ...] = ()
    security_id: int = -1
    creation_time: int = 0
    last_access_time: int = 0
    last_write_time: int = 0
    short_name: str = ""
    reparse_tag: int = 0
    hard_link_group: int = 0
    streams: tuple[StreamRef, ...] = ()
    offset: int = field(default=-1, compare=False)   # where it was read (diagnostics)

    def __post_init__(self):
        if not isinstance(self.name, str) or not isinstance(self.short_name, str):
            raise TypeError("Dentry names must be str")
        if not isinstance(self.main_hash, bytes) or len(self.main_hash) != 20:
            raise TypeError("Dentry.main_hash must be 20 bytes")
        if not isinstance(self.children, tuple) or not isinstance(self.streams, tuple):
            raise TypeError("Dentry.children and Dentry.streams must be tuples")

    @property
    def is_directory(self) -> bool:
        return bool(self.attributes & FILE_ATTRIBUTE_DIRECTORY)

    @property
    def is_reparse_point(self) -> bool:
        return bool(self.attributes & FILE_ATTRIBUTE_REPARSE_POINT)

    @property
    def data_hash(self) -> bytes:
        """SHA-1 of the unnamed data stream (zeros: empty). With extra stream entries, DISM puts it
        in an unnamed entry and may leave main_hash zero (wimlib assign_stream_types_unencrypted)."""
        if self.is_reparse_point:
            unnamed = [s.sha1 for s in self.streams if not s.name]
            # reparse data is main_hash; the data stream, if any, is an unnamed extra entry
            return unnamed[0] if unnamed else ZERO_HASH
        if self.main_hash != ZERO_HASH:
            return self.main_hash
        for s in self.streams:
            if not s.name and s.sha1 != ZERO_HASH:
                return s.sha1
        return ZERO_HASH

    @property
    def named_streams(self) -> tuple[StreamRef, ...]:
        return tuple(s for s in self.streams if s.name)


# --- parsing ------------------------------------------------------------------------------------

def _decode_name(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-16-le")
    except UnicodeDecodeError:
        raise WimError("file name is not valid UTF-16", where=where) from None


class _Record:
    __slots__ = ("fields", "subdir", "children", "offset")

    def __init__(self, fields: dict, subdir: int, offset: int):
        self.fields = fields
        self.subdir = subdir
        self.children: list[int] = []
        self.offset = offset


def _parse_one(data: bytes | memoryview, pos: int) -> tuple[_Record, int]:
    where = f"metadata offset {pos}"
    if pos + DENTRY_DISK_SIZE > len(data):
        raise WimError("truncated directory entry", where=where)
    (length, attributes, security_id, subdir, _u1, _u2, ctime, atime, wtime, main_hash, _unk,
     union, num_streams, short_nbytes, name_nbytes) = _FIXED.unpack_from(data, pos)
    if length < DENTRY_DISK_SIZE:
        raise WimError(f"directory entry length {length} is below {DENTRY_DISK_SIZE}", where=where)
    if pos + length > len(data):
        raise WimError(f"directory entry of {length} bytes runs past the metadata resource", where=where)
    if name_nbytes % 2 or short_nbytes % 2:
        raise WimError("odd UTF-16 name length", where=where)
    need = DENTRY_DISK_SIZE + (name_nbytes + 2 if name_nbytes else 0) + (short_nbytes + 2 if short_nbytes else 0)
    if need > length:
        raise WimError(f"names ({name_nbytes}+{short_nbytes} bytes) overrun the {length}-byte entry", where=where)
    p = pos + DENTRY_DISK_SIZE
    name = _decode_name(bytes(data[p:p + name_nbytes]), where)
    if name_nbytes:
        p += name_nbytes + 2
    short_name = _decode_name(bytes(data[p:p + short_nbytes]), where) if short_nbytes else ""
    if attributes & FILE_ATTRIBUTE_REPARSE_POINT:
        reparse_tag = int.from_bytes(union[:4], "little")
        hard_link = 0
    else:
        reparse_tag = 0
        hard_link = int.from_bytes(union, "little")
    end = pos + align8(length)
    streams = []
    for i in range(num_streams):
        swhere = f"metadata offset {end} (stream {i} of {name!r})"
        if end + EXTRA_STREAM_DISK_SIZE > len(data):
            raise WimError("truncated stream entry", where=swhere)
        slen, _res, shash, snbytes = _STREAM.unpack_from(data, end)
        if slen < EXTRA_STREAM_DISK_SIZE or end + slen > len(data):
            raise WimError(f"stream entry length {slen} is invalid", where=swhere)
        if snbytes % 2 or EXTRA_STREAM_DISK_SIZE + snbytes > slen:
            raise WimError(f"stream name of {snbytes} bytes overruns its entry", where=swhere)
        q = end + EXTRA_STREAM_DISK_SIZE
        sname = _decode_name(bytes(data[q:q + snbytes]), swhere)
        streams.append(StreamRef(sname, bytes(shash)))
        end += align8(slen)
    fields = dict(name=name, attributes=attributes, main_hash=bytes(main_hash), security_id=security_id,
                  creation_time=ctime, last_access_time=atime, last_write_time=wtime,
                  short_name=short_name, reparse_tag=reparse_tag, hard_link_group=hard_link,
                  streams=tuple(streams), offset=pos)
    return _Record(fields, subdir, pos), end


def parse_dentry_tree(data: bytes | memoryview, root_offset: int, *, max_entries: int = MAX_DENTRIES) -> Dentry:
    """The root dentry (with all descendants) of a metadata resource whose dentries start at
    ``root_offset``. Raises WimError on any inconsistency, BudgetError past ``max_entries``."""
    root, _ = _parse_one(data, root_offset)
    if not root.fields["attributes"] & FILE_ATTRIBUTE_DIRECTORY:
        raise WimError("the root entry is not a directory", where=f"metadata offset {root_offset}")
    records = [root]
    visited: set[int] = set()
    stack = [(0, 0)]
    while stack:
        idx, depth = stack.pop()
        rec = records[idx]
        if not rec.fields["attributes"] & FILE_ATTRIBUTE_DIRECTORY or rec.subdir == 0:
            continue
        where = f"metadata offset {rec.offset} ({rec.fields['name']!r})"
        if depth >= MAX_DEPTH:
            raise WimError(f"directory tree deeper than {MAX_DEPTH} levels", where=where)
        if rec.subdir < root_offset or rec.subdir >= len(data):
            raise WimError(f"child list offset {rec.subdir} is outside the dentry area", where=where)
        if rec.subdir in visited:
            raise WimError(f"child list at {rec.subdir} is referenced twice (a cycle)", where=where)
        visited.add(rec.subdir)
        pos = rec.subdir
        while True:
            if pos + 8 > len(data):
                raise WimError("directory list runs past the metadata resource", where=f"metadata offset {pos}")
            if int.from_bytes(data[pos:pos + 8], "little") == 0:
                break
            child, pos = _parse_one(data, pos)
            records.append(child)
            if len(records) > min(max_entries, MAX_DENTRIES):
                from ppkgtool.limits import Budget
                Budget(entries=min(max_entries, MAX_DENTRIES)).check_entries(len(records), where)
            rec.children.append(len(records) - 1)
            stack.append((len(records) - 1, depth + 1))
    built: list[Dentry | None] = [None] * len(records)
    for i in range(len(records) - 1, -1, -1):   # children always come after their parent
        rec = records[i]
        built[i] = Dentry(children=tuple(built[c] for c in rec.children), **rec.fields)
        for c in rec.children:
            built[c] = None  # free as we go
    return built[0]


# --- building -----------------------------------------------------------------------------------

def _sort_key(d: Dentry):
    return (d.name.upper(), d.name)


def _encoded_length(d: Dentry) -> int:
    n = len(d.name) * 2 if d.name.isascii() else len(d.name.encode("utf-16-le"))
    s = len(d.short_name.encode("utf-16-le")) if d.short_name else 0
    base = (DENTRY_DISK_SIZE + (n + 2 if n else 0) + (s + 2 if s else 0) + 7) & ~7
    if d.streams:
        base += sum(align8(EXTRA_STREAM_DISK_SIZE + (len(x.name.encode("utf-16-le")) + 2 if x.name else 0))
                    for x in d.streams)
    return base


_FIXED_PLAIN = struct.Struct("<QIiQQQQQQ20sIQHHH")     # union = hard link group id
_FIXED_REPARSE = struct.Struct("<QIiQQQQQQ20sIIHHHHH")  # union = reparse tag, reserved, flags
_PADS = [bytes(i) for i in range(8)]


def _encode(d: Dentry, subdir: int) -> bytes:
    name = d.name.encode("utf-16-le")
    short = d.short_name.encode("utf-16-le") if d.short_name else b""
    nlen, slen = len(name), len(short)
    if nlen > 0xFFFF or slen > 0xFFFF:
        raise WimError(f"file name too long: {d.name[:40]!r}...")
    raw = DENTRY_DISK_SIZE + (nlen + 2 if nlen else 0) + (slen + 2 if slen else 0)
    length = (raw + 7) & ~7
    if d.attributes & FILE_ATTRIBUTE_REPARSE_POINT:
        head = _FIXED_REPARSE.pack(length, d.attributes, d.security_id, subdir, 0, 0, d.creation_time,
                                   d.last_access_time, d.last_write_time, d.main_hash, 0, d.reparse_tag, 0, 0,
                                   len(d.streams), slen, nlen)
    else:
        head = _FIXED_PLAIN.pack(length, d.attributes, d.security_id, subdir, 0, 0, d.creation_time,
                                 d.last_access_time, d.last_write_time, d.main_hash, 0, d.hard_link_group,
                                 len(d.streams), slen, nlen)
    body = b"".join((head, name, b"\0\0" if nlen else b"", short, b"\0\0" if slen else b"", _PADS[length - raw]))
    if d.streams:
        extra = []
        for s in d.streams:
            sname = s.name.encode("utf-16-le")
            elen = align8(EXTRA_STREAM_DISK_SIZE + (len(sname) + 2 if sname else 0))
            entry = _STREAM.pack(elen, 0, s.sha1, len(sname)) + (sname + b"\0\0" if sname else b"")
            extra.append(entry + bytes(elen - len(entry)))
        body += b"".join(extra)
    return body


def build_dentry_tree(root: Dentry, root_offset: int) -> bytes:
    """The dentry area for ``root`` placed at ``root_offset`` of the metadata resource (children
    sorted by upper-cased name, subdir offsets assigned in pre-order as wimlib
    calculate_subdir_offsets does; empty directories point at their own end marker)."""
    if not root.is_directory:
        raise WimError("the root entry must be a directory")
    order: list[Dentry] = []          # directories in pre-order
    kids: dict[int, list[Dentry]] = {}
    stack = [root]
    while stack:
        d = stack.pop()
        order.append(d)
        children = sorted(d.children, key=_sort_key)
        kids[id(d)] = children
        stack.extend(c for c in reversed(children) if c.is_directory)
    cursor = root_offset + _encoded_length(root) + 8
    subdir: dict[int, int] = {}
    for d in order:
        subdir[id(d)] = cursor
        for c in kids[id(d)]:
            cursor += _encoded_length(c)
        cursor += 8
    parts = [_encode(root, subdir[id(root)]), bytes(8)]
    for d in order:
        for c in kids[id(d)]:
            parts.append(_encode(c, subdir.get(id(c), 0)))
        parts.append(bytes(8))
    blob = b"".join(parts)
    assert root_offset + len(blob) == cursor
    return blob


# --- fast path for the writer: plain trees -------------------------------------------------------
# A plain tree has uniform attributes, security ids and times: what write_wim stores. Same bytes as
# build_dentry_tree on the equivalent Dentry tree (tested).
#
# It is given as folders: {folder key: [entry, ...]}, the root's key (). An entry is a tuple
# (upper-cased name, name, tail, length, slot, folder key): the first four are plain_name(name);
# a file has slot = the index of its hash in the sequence given to PlainTreeLayout.render and
# folder key None; a folder has slot None and the key of its own entry list. A folder's key is its
# path as a tuple of upper-cased names, so that sorting the keys gives the folders in pre-order.
# Within one folder the upper-cased names differ (Windows compares names ignoring case).

PlainNode = tuple  # (name: str, sha1: bytes | None, children: list) - build_plain_tree's input


# struct wim_dentry_on_disk split around the fields a plain tree varies per package
_HEAD = struct.Struct("<QIiQQQ")      # length, attributes, security id, subdir offset, 2 unused
_TIMES = struct.Struct("<QQQ")        # creation, last access, last write
_TAIL = struct.Struct("<IQHHH")       # unknown, hard link group, stream count, short name and name bytes
assert _HEAD.size + _TIMES.size + 20 + _TAIL.size == DENTRY_DISK_SIZE
_LENGTH = operator.itemgetter(3)


@functools.lru_cache(maxsize=8192)      # package trees repeat the same names
def plain_name(name: str) -> tuple[str, str, bytes, int]:
    """(upper-cased name, name, the entry's bytes after the hash, entry length) of a plain dentry:
    the tail of the fixed part, the UTF-16LE name, its NUL and the padding to 8 bytes."""
    raw = name.encode("utf-16-le")
    n = len(raw)
    if n > 0xFFFF:
        raise WimError(f"file name too long: {name[:40]!r}...")
    used = DENTRY_DISK_SIZE + (n + 2 if n else 0)
    length = (used + 7) & ~7
    body = raw + b"\0\0" + _PADS[length - used] if n else _PADS[length - used]
    return name.upper(), name, _TAIL.pack(0, 0, 0, 0, n) + body, length


class PlainTreeLayout:
    """A plain dentry tree laid out once; ``render`` fills in the times and the file hashes.

    ``folders`` maps folder keys to entry lists (see above); the lists are sorted in place.
    """

    __slots__ = ("_items", "size")

    def __init__(self, folders: dict, root_offset: int, *, root_security_id: int = 0,
                 file_security_id: int = 1, file_attributes: int = FILE_ATTRIBUTE_ARCHIVE):
        order = sorted(folders.items())                 # pre-order: () first, a folder before its contents
        if not order or order[0][0] != ():
            raise WimError("a plain tree needs its root folder, key ()")
        _upper, _name, root_tail, root_len = plain_name("")
        cursor = root_offset + root_len + 8
        subdir: dict[tuple, int] = {}
        for key, kids in order:
            kids.sort()                                 # as Windows sorts names
            subdir[key] = cursor
            cursor += sum(map(_LENGTH, kids)) + 8
        end = bytes(8)
        head = _HEAD.pack
        directory = FILE_ATTRIBUTE_DIRECTORY
        items = [(head(root_len, directory, root_security_id, subdir[()], 0, 0), None, root_tail + end)]
        append = items.append
        try:
            for _key, kids in order:
                for _u, _n, tail, length, slot, folder in kids:
                    if slot is None:
                        append((head(length, directory, -1, subdir[folder], 0, 0), None, tail))
                    else:
                        append((head(length, file_attributes, file_security_id, 0, 0, 0), slot, tail))
                last = items[-1]                        # the folder's list ends after its last entry
                items[-1] = (last[0], last[1], last[2] + end)
        except KeyError as exc:
            raise WimError(f"a plain tree entry names folder {exc.args[0]!r}, which has no entry list") from None
        self._items = tuple(items)
        self.size = cursor - root_offset

    def render(self, when: int, hashes) -> bytes:
        """The tree's bytes with all three times ``when`` (a FILETIME) and the files' SHA-1s."""
        times = _TIMES.pack(when, when, when)
        zero = ZERO_HASH
        parts = []
        append = parts.append
        for head, slot, tail in self._items:
            append(head)
            append(times)
            append(zero if slot is None else hashes[slot])
            append(tail)
        blob = b"".join(parts)
        if len(blob) != self.size:
            raise WimError("a file hash for the dentry tree is not 20 bytes")
        return blob


def build_plain_tree(root: PlainNode, root_offset: int, when: int, *, root_security_id: int = 0,
                     file_security_id: int = 1, file_attributes: int = FILE_ATTRIBUTE_ARCHIVE) -> bytes:
    """A plain tree whose file nodes carry their SHA-1 (name, sha1, None) as bytes."""
    if root[0] != "" or root[1] is not None:
        raise WimError("the root of a plain tree is a folder without a name")
    hashes: list[bytes] = []
    folders: dict[tuple, list] = {}

    def add(node: PlainNode, key: tuple) -> None:
        entries = folders[key] = []
        for name, sha1, children in node[2]:
            if sha1 is None:
                sub = key + (name.upper(),)
                entries.append(plain_name(name) + (None, sub))
                add((name, None, children), sub)
            else:
                hashes.append(sha1)
                entries.append(plain_name(name) + (len(hashes) - 1, None))

    add(root, ())
    return PlainTreeLayout(folders, root_offset, root_security_id=root_security_id,
                           file_security_id=file_security_id,
                           file_attributes=file_attributes).render(when, hashes)
