"""Windows registry hive files (regf): read, create an empty hive, add keys, set values.

Format source: Maxim Suhanov, "Windows registry file format specification"
(github.com/msuhanov/regf, cited below as [spec <section>]); the base block checksum's special
cases (0 -> 1, 0xFFFFFFFF -> 0xFFFFFFFE) follow the kernel's HvpHeaderCheckSum as ReactOS and
libregf document it.

Why a writer of our own: no PyPI package writes hives (regipy and python-registry only read), and
Debian's hivex binding belongs to the system Python, not the project's venv. This module needs
nothing but the standard library, so ``pip install ppkgtool`` works on every OS. It edits a hive
in memory, in place, the way hivex does: untouched cells keep their bytes; new cells come from
free cells or from a hive bin appended at the end; replaced cells are zeroed and freed; the base
block gets equal sequence numbers, a new timestamp and a new checksum. It refuses a dirty hive
(unapplied transaction logs), because writing one would lose the logged changes.

Policy-free: bytes in, bytes out. Errors are :class:`ppkgtool.errors.HiveError` with the offset
of the offending structure and code 2717 (NERR_CantLoadOfflineHive).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import enum
import struct
from dataclasses import dataclass
from typing import Iterator, Sequence

from ppkgtool.errors import HiveError

NERR_CANT_LOAD_OFFLINE_HIVE = 2717

BASE_BLOCK_SIZE = 4096            # [spec Base block]
HBIN_HEADER_SIZE = 32             # [spec Hive bin]
HBIN_ALIGN = 4096                 # a hive bin's size is a multiple of 4096 [spec Hive bin, note 1]
BIG_DATA_SEGMENT = 16344          # [spec Big data / Data segment]
NO_OFFSET = 0xFFFFFFFF
MAX_HIVE_BYTES = 1 << 30          # refuse larger inputs (real SYSTEM hives are tens of MiB)
MAX_DEPTH = 512                   # Windows limits key depth to 512
MAX_NAME_CHARS = 255              # key names; value names may be up to 16383
MAX_VALUE_NAME_CHARS = 16383
MAX_SUBKEYS_PER_LEAF = 0xFFFF     # u16 element count

# Key node flags [spec Key node / Flags]
KEY_VOLATILE = 0x0001
KEY_HIVE_EXIT = 0x0002
KEY_HIVE_ENTRY = 0x0004
KEY_NO_DELETE = 0x0008
KEY_SYM_LINK = 0x0010
KEY_COMP_NAME = 0x0020
KEY_PREDEF_HANDLE = 0x0040
VALUE_COMP_NAME = 0x0001          # [spec Key value / Flags]
DATA_INLINE = 0x80000000          # [spec Key value / Data size]

_NK = struct.Struct("<2sHQ" + "I" * 15 + "HH")   # 76 bytes [spec Key node]
_VK = struct.Struct("<2sHIIIHH")                 # 20 bytes [spec Key value]
_SK = struct.Struct("<2sHIIII")                  # 20 bytes [spec Key security]
_HBIN = struct.Struct("<4sII8sQI")               # 32 bytes [spec Hive bin]
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")

_FILETIME_EPOCH = _dt.datetime(1601, 1, 1, tzinfo=_dt.timezone.utc)


class RegType(enum.IntEnum):
    """Value data types [spec Key value / Data types]."""

    NONE = 0
    SZ = 1
    EXPAND_SZ = 2
    BINARY = 3
    DWORD = 4
    DWORD_BIG_ENDIAN = 5
    LINK = 6
    MULTI_SZ = 7
    RESOURCE_LIST = 8
    FULL_RESOURCE_DESCRIPTOR = 9
    RESOURCE_REQUIREMENTS_LIST = 10
    QWORD = 11


def filetime_now() -> int:
    return filetime_from_datetime(_dt.datetime.now(_dt.timezone.utc))


def filetime_from_datetime(when: _dt.datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    delta = when - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def datetime_from_filetime(ft: int) -> _dt.datetime:
    return _FILETIME_EPOCH + _dt.timedelta(microseconds=ft // 10)


def _err(message: str, offset: int | None = None) -> HiveError:
    where = None if offset is None else f"hive offset 0x{offset:x}"
    return HiveError(message, where=where, code=NERR_CANT_LOAD_OFFLINE_HIVE)


# --- value data encodings ---------------------------------------------------------------------

def encode_sz(text: str) -> bytes:
    """REG_SZ / REG_EXPAND_SZ data: UTF-16LE with a terminating NUL."""
    if not isinstance(text, str):
        raise TypeError("string value must be str")
    if "\x00" in text:
        raise ValueError("a REG_SZ string cannot contain NUL")
    return text.encode("utf-16-le") + b"\x00\x00"


def encode_multi_sz(items: Sequence[str]) -> bytes:
    """REG_MULTI_SZ data: each string NUL-terminated, then one more NUL."""
    if isinstance(items, str):
        raise TypeError("multi-string value must be a sequence of str")
    out = bytearray()
    for item in items:
        if not item:
            raise ValueError("REG_MULTI_SZ cannot hold an empty string")
        out += encode_sz(item)
    return bytes(out + b"\x00\x00")


def _decode_utf16(raw: bytes) -> str:
    if len(raw) % 2:
        raw = raw[:-1]
    return raw.decode("utf-16-le", errors="replace")


@dataclass(frozen=True)
class RegValue:
    """One value: name ('' is the default value), type number, raw data bytes."""

    name: str
    type: int
    raw: bytes

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError("value name must be str")
        if len(self.name) > MAX_VALUE_NAME_CHARS:
            raise ValueError("value name longer than 16383 characters")
        if not isinstance(self.type, int) or not 0 <= int(self.type) <= 0xFFFFFFFF:
            raise TypeError("value type must be a 32-bit unsigned int")
        if not isinstance(self.raw, (bytes, bytearray)):
            raise TypeError("value data must be bytes")
        object.__setattr__(self, "raw", bytes(self.raw))
        if len(self.raw) > 0x7FFFFFFF:
            raise ValueError("value data too large")

    # constructors
    @classmethod
    def sz(cls, name: str, text: str) -> "RegValue":
        return cls(name, RegType.SZ, encode_sz(text))

    @classmethod
    def expand_sz(cls, name: str, text: str) -> "RegValue":
        return cls(name, RegType.EXPAND_SZ, encode_sz(text))

    @classmethod
    def multi_sz(cls, name: str, items: Sequence[str]) -> "RegValue":
        return cls(name, RegType.MULTI_SZ, encode_multi_sz(items))

    @classmethod
    def dword(cls, name: str, number: int) -> "RegValue":
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 0xFFFFFFFF:
            raise ValueError("REG_DWORD must be an int in 0..0xFFFFFFFF")
        return cls(name, RegType.DWORD, _U32.pack(number))

    @classmethod
    def qword(cls, name: str, number: int) -> "RegValue":
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < 1 << 64:
            raise ValueError("REG_QWORD must be an int in 0..2**64-1")
        return cls(name, RegType.QWORD, struct.pack("<Q", number))

    @classmethod
    def binary(cls, name: str, data: bytes) -> "RegValue":
        return cls(name, RegType.BINARY, bytes(data))

    @property
    def type_name(self) -> str:
        try:
            return "REG_" + RegType(self.type).name
        except ValueError:
            return f"0x{self.type:x}"

    @property
    def data(self):
        """The data decoded by type: str, list[str], int or bytes."""
        t = self.type
        if t in (RegType.SZ, RegType.EXPAND_SZ, RegType.LINK):
            text = _decode_utf16(self.raw)
            nul = text.find("\x00")
            return text if nul < 0 else text[:nul]
        if t == RegType.MULTI_SZ:
            text = _decode_utf16(self.raw)
            return [s for s in text.split("\x00") if s]
        if t == RegType.DWORD and len(self.raw) == 4:
            return _U32.unpack(self.raw)[0]
        if t == RegType.DWORD_BIG_ENDIAN and len(self.raw) == 4:
            return struct.unpack(">I", self.raw)[0]
        if t == RegType.QWORD and len(self.raw) == 8:
            return struct.unpack("<Q", self.raw)[0]
        return self.raw


# --- names ------------------------------------------------------------------------------------

def _utf16_units(name: str) -> list[int]:
    raw = name.encode("utf-16-le", errors="surrogatepass")
    return list(struct.unpack(f"<{len(raw) // 2}H", raw))


def _upcase_units(name: str) -> tuple[int, ...]:
    """Upper-case a name per UTF-16 code unit (as RtlUpcaseUnicodeChar does: one unit to one)."""
    out = []
    for u in _utf16_units(name):
        if 0xD800 <= u <= 0xDFFF:
            out.append(u)
            continue
        up = chr(u).upper()
        out.append(ord(up) if len(up) == 1 and ord(up) <= 0xFFFF else u)
    return tuple(out)


def name_hash(name: str) -> int:
    """Hash leaf hash: H = 37*H + C over the upper-cased UTF-16 units [spec Hash leaf / Note]."""
    h = 0
    for u in _upcase_units(name):
        h = (h * 37 + u) & 0xFFFFFFFF
    return h


def _name_hint(name: str) -> bytes:
    """Fast leaf hint: the first four characters as ASCII, or a NUL first byte [spec Fast leaf]."""
    head = name[:4]
    try:
        raw = head.encode("ascii")
    except UnicodeEncodeError:
        return b"\x00\x00\x00\x00"
    return raw.ljust(4, b"\x00")


def _encode_name(name: str) -> tuple[bytes, bool]:
    """(bytes, compressed): Latin-1 ("ASCII") when every character fits, else UTF-16LE."""
    try:
        return name.encode("latin-1"), True
    except UnicodeEncodeError:
        return name.encode("utf-16-le", errors="surrogatepass"), False


def _decode_name(raw: bytes, compressed: bool) -> str:
    if compressed:
        return raw.decode("latin-1")
    return _decode_utf16(raw)


def _record_name(cell: bytes, off: int, start: int, length: int, compressed: bool, what: str) -> str:
    """The name a key node or key value stores after its fixed fields (cell at hive offset ``off``)."""
    if start + length > len(cell):
        raise _err(f"{what} runs past its cell", off)
    return _decode_name(bytes(cell[start:start + length]), compressed)


def _check_key_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError("a key name must be a non-empty string")
    if "\\" in name:
        raise ValueError(f"a key name cannot contain a backslash: {name!r}")
    if "\x00" in name:
        raise ValueError("a key name cannot contain NUL")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"key name longer than {MAX_NAME_CHARS} characters: {name[:40]!r}...")


def split_path(path: str) -> list[str]:
    """'A\\B\\C' (leading/trailing backslashes ignored) -> ['A', 'B', 'C']; '' -> []."""
    if not isinstance(path, str):
        raise TypeError("key path must be str")
    parts = [p for p in path.strip("\\").split("\\")] if path.strip("\\") else []
    for p in parts:
        if not p:
            raise ValueError(f"empty element in key path {path!r}")
    if len(parts) > MAX_DEPTH:
        raise ValueError("key path deeper than 512 levels")
    return parts


def _align8(n: int) -> int:
    return (n + 7) & ~7


def _checksum(block: bytes | bytearray) -> int:
    """XOR-32 over the first 508 bytes, with 0 -> 1 and -1 -> -2 [spec Base block, note 2]."""
    c = 0
    for (v,) in struct.iter_unpack("<I", bytes(block[:508])):
        c ^= v
    if c == 0xFFFFFFFF:
        c = 0xFFFFFFFE
    elif c == 0:
        c = 1
    return c


# --- default security descriptor for new hives ------------------------------------------------

def _sid_bytes(authority: int, *subs: int) -> bytes:
    return struct.pack("<BB", 1, len(subs)) + authority.to_bytes(6, "big") + \
        b"".join(_U32.pack(s) for s in subs)


def default_security_descriptor() -> bytes:
    """Self-relative SD: owner Administrators, group SYSTEM; DACL (inherited by subkeys):
    SYSTEM and Administrators full control, Users read. Used only for hives created here."""
    system = _sid_bytes(5, 18)
    admins = _sid_bytes(5, 32, 544)
    users = _sid_bytes(5, 32, 545)
    aces = b""
    for sid, mask in ((system, 0x000F003F), (admins, 0x000F003F), (users, 0x00020019)):
        size = 8 + len(sid)
        aces += struct.pack("<BBHI", 0, 0x02, size, mask) + sid   # ACCESS_ALLOWED, CONTAINER_INHERIT
    dacl = struct.pack("<BBHHH", 2, 0, 8 + len(aces), 3, 0) + aces
    header = 20
    owner_off = header
    group_off = owner_off + len(admins)
    dacl_off = group_off + len(system)
    control = 0x8000 | 0x0004                                          # SE_SELF_RELATIVE | SE_DACL_PRESENT
    return struct.pack("<BBHIIII", 1, 0, control, owner_off, group_off, 0, dacl_off) + \
        admins + system + dacl


# --- the hive ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RegKey:
    """A view of one key node of a :class:`Hive` (valid until the hive is changed)."""

    hive: "Hive"
    offset: int
    path: str

    @property
    def name(self) -> str:
        return self.hive._nk(self.offset).name

    @property
    def timestamp(self) -> _dt.datetime:
        return datetime_from_filetime(self.hive._nk(self.offset).timestamp)

    @property
    def flags(self) -> int:
        return self.hive._nk(self.offset).flags

    @property
    def class_name(self) -> str | None:
        return self.hive._class_name(self.offset)

    def subkeys(self) -> list["RegKey"]:
        prefix = self.path + "\\" if self.path else ""
        return [RegKey(self.hive, off, prefix + self.hive._nk(off).name)
                for off in self.hive._subkey_offsets(self.offset)]

    def subkey(self, name: str) -> "RegKey | None":
        off = self.hive._find_subkey(self.offset, name)
        if off is None:
            return None
        prefix = self.path + "\\" if self.path else ""
        return RegKey(self.hive, off, prefix + self.hive._nk(off).name)

    def values(self) -> list[RegValue]:
        return [self.hive._read_value(voff) for voff in self.hive._value_offsets(self.offset)]

    def value(self, name: str) -> RegValue | None:
        voff = self.hive._find_value(self.offset, name)
        return None if voff is None else self.hive._read_value(voff)


@dataclass(frozen=True)
class _Node:
    flags: int
    timestamp: int
    spare: int
    parent: int
    n_subkeys: int
    n_volatile: int
    subkeys_list: int
    volatile_list: int
    n_values: int
    values_list: int
    security: int
    class_off: int
    max_subkey_name: int
    max_class: int
    max_value_name: int
    max_value_data: int
    workvar: int
    name_len: int
    class_len: int
    name: str


class Hive:
    """A registry hive held in memory. ``Hive(data)`` parses; :meth:`new` creates an empty one."""

    def __init__(self, data: bytes | bytearray | memoryview, *, max_size: int = MAX_HIVE_BYTES,
                 allow_dirty: bool = False):
        data = bytes(data)
        if len(data) > max_size:
            raise _err(f"hive is {len(data)} bytes, more than the {max_size}-byte limit")
        if len(data) < BASE_BLOCK_SIZE + HBIN_ALIGN:
            raise _err(f"not a registry hive: {len(data)} bytes is shorter than a base block and one hive bin")
        base = bytearray(data[:BASE_BLOCK_SIZE])
        # [spec Base block]
        if base[:4] != b"regf":
            raise _err("not a registry hive (no 'regf' signature)", 0)
        seq1, seq2 = struct.unpack_from("<II", base, 4)
        major, minor, ftype, fformat, root, size = struct.unpack_from("<IIIIII", base, 20)
        stored = _U32.unpack_from(base, 508)[0]
        if _checksum(base) != stored:
            raise _err("base block checksum is wrong (the hive is damaged or was being written)", 508)
        if major != 1 or not 2 <= minor <= 6:
            raise _err(f"unsupported hive format version {major}.{minor}", 20)
        if ftype != 0 or fformat != 1:
            raise _err(f"not a primary hive file (file type {ftype}, format {fformat})", 28)
        if seq1 != seq2 and not allow_dirty:
            raise HiveError(
                f"the hive is dirty (sequence numbers {seq1} and {seq2} differ): changes are still in its "
                "transaction logs (.LOG1/.LOG2) and writing it would lose them",
                code=NERR_CANT_LOAD_OFFLINE_HIVE,
                hint="boot the image once or load and unload the hive on Windows (reg load / reg unload), "
                     "then try again")
        if size == 0 or size % HBIN_ALIGN or BASE_BLOCK_SIZE + size > len(data):
            raise _err(f"hive bins data size {size} does not fit the {len(data)}-byte file", 40)
        self.sequence = seq1
        self.minor_version = minor
        self._base = base
        self._buf = bytearray(data[BASE_BLOCK_SIZE:BASE_BLOCK_SIZE + size])
        self._bins: list[tuple[int, int]] = []
        self._bin_starts: list[int] = []
        self._scan_bins()
        self._root = root
        self._free: dict[int, int] | None = None       # offset -> size, built lazily
        self._free_sorted: list[int] = []
        self._stamp = filetime_now()
        self.changed = False
        node = self._nk(root)
        self.root_name = node.name

    # ----- construction ------------------------------------------------------------------
    @classmethod
    def new(cls, *, root_name: str = "ROOT", file_name: str = "", minor_version: int = 5,
            security_descriptor: bytes | None = None, timestamp: int | None = None) -> "Hive":
        """An empty hive: base block, one hive bin, a root key and its security cell."""
        _check_key_name(root_name)
        if not 3 <= minor_version <= 6:
            raise ValueError("minor version must be 3..6")
        sd = default_security_descriptor() if security_descriptor is None else bytes(security_descriptor)
        stamp = filetime_now() if timestamp is None else timestamp
        bins = bytearray(HBIN_ALIGN)
        _HBIN.pack_into(bins, 0, b"hbin", 0, HBIN_ALIGN, b"\x00" * 8, stamp, 0)
        pos = HBIN_HEADER_SIZE
        name_raw, comp = _encode_name(root_name)
        root_off = pos
        root_size = _align8(4 + _NK.size + len(name_raw))
        sk_off = root_off + root_size
        sk_size = _align8(4 + _SK.size + len(sd))
        flags = KEY_HIVE_ENTRY | KEY_NO_DELETE | (KEY_COMP_NAME if comp else 0)
        _I32.pack_into(bins, root_off, -root_size)
        _NK.pack_into(bins, root_off + 4, b"nk", flags, stamp, 0, NO_OFFSET, 0, 0, NO_OFFSET, NO_OFFSET,
                      0, NO_OFFSET, sk_off, NO_OFFSET, 0, 0, 0, 0, 0, len(name_raw), 0)
        bins[root_off + 4 + _NK.size:root_off + 4 + _NK.size + len(name_raw)] = name_raw
        _I32.pack_into(bins, sk_off, -sk_size)
        _SK.pack_into(bins, sk_off + 4, b"sk", 0, sk_off, sk_off, 1, len(sd))
        bins[sk_off + 4 + _SK.size:sk_off + 4 + _SK.size + len(sd)] = sd
        free_off = sk_off + sk_size
        if free_off + 8 > HBIN_ALIGN:
            raise ValueError("security descriptor too large for a new hive")
        _I32.pack_into(bins, free_off, HBIN_ALIGN - free_off)
        base = bytearray(BASE_BLOCK_SIZE)
        struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 1, 1, stamp, 1, minor_version, 0, 1,
                         root_off, HBIN_ALIGN, 1)
        fname = file_name.encode("utf-16-le")[-64:]
        base[48:48 + len(fname)] = fname
        _U32.pack_into(base, 508, _checksum(base))
        return cls(bytes(base) + bytes(bins))

    # ----- low level: bins and cells -----------------------------------------------------
    def _scan_bins(self) -> None:
        pos = 0
        size = len(self._buf)
        while pos < size:
            if pos + HBIN_HEADER_SIZE > size:
                raise _err("truncated hive bin header", pos)
            sig, off, bsize, _r, _ts, _sp = _HBIN.unpack_from(self._buf, pos)
            if sig != b"hbin":
                raise _err("hive bin signature 'hbin' missing", pos)
            if off != pos:
                raise _err(f"hive bin says it is at 0x{off:x}", pos)
            if bsize < HBIN_ALIGN or bsize % HBIN_ALIGN or pos + bsize > size:
                raise _err(f"bad hive bin size {bsize}", pos)
            self._bins.append((pos, bsize))
            self._bin_starts.append(pos)
            pos += bsize

    def _bin_of(self, off: int) -> tuple[int, int]:
        i = bisect.bisect_right(self._bin_starts, off) - 1
        if i < 0:
            raise _err("cell offset before the first hive bin", off)
        return self._bins[i]

    def _cell(self, off: int, *, what: str = "cell") -> bytes:
        """A copy of the payload of the allocated cell at ``off`` (relative to the hive bins data).

        A copy, not a view: the buffer grows when a hive bin is appended."""
        if off == NO_OFFSET or off % 8 or off < HBIN_HEADER_SIZE or off + 8 > len(self._buf):
            raise _err(f"{what} offset 0x{off:x} is outside the hive bins data", off)
        start, bsize = self._bin_of(off)
        if off < start + HBIN_HEADER_SIZE:
            raise _err(f"{what} offset points into a hive bin header", off)
        raw = _I32.unpack_from(self._buf, off)[0]
        if raw >= 0:
            raise _err(f"{what} at this offset is a free cell", off)
        size = -raw
        if size < 8 or size % 8 or off + size > start + bsize:
            raise _err(f"{what} has a bad size {size}", off)
        return bytes(self._buf[off + 4:off + size])

    def _record(self, off: int, layout: struct.Struct, sig: bytes, what: str) -> tuple[bytes, tuple]:
        """(cell, fixed fields) of the key node or key value at ``off``, checked to start with ``sig``."""
        cell = self._cell(off, what=what)
        if len(cell) < layout.size or cell[:2] != sig:
            raise _err(f"expected a {what} ('{sig.decode()}')", off)
        return cell, layout.unpack_from(cell, 0)

    def _nk(self, off: int) -> _Node:
        cell, f = self._record(off, _NK, b"nk", "key node")
        name = _record_name(cell, off, _NK.size, f[18], bool(f[1] & KEY_COMP_NAME), "key name")
        return _Node(*f[1:], name=name)

    def _class_name(self, off: int) -> str | None:
        node = self._nk(off)
        if node.class_off == NO_OFFSET or node.class_len == 0:
            return None
        cell = self._cell(node.class_off, what="class name")
        if node.class_len > len(cell):
            raise _err("class name runs past its cell", node.class_off)
        return _decode_utf16(bytes(cell[:node.class_len]))

    # ----- subkeys ------------------------------------------------------------------------
    def _leaf_entries(self, list_off: int) -> list[int]:
        """Key node offsets of a li/lf/lh leaf, or of all leaves under a ri [spec Index root]."""
        cell = self._cell(list_off, what="subkeys list")
        if len(cell) < 4:
            raise _err("subkeys list too short", list_off)
        sig = cell[:2]
        count = _U16.unpack_from(cell, 2)[0]
        if sig in (b"lf", b"lh"):
            if 4 + 8 * count > len(cell):
                raise _err("subkeys list runs past its cell", list_off)
            return [_U32.unpack_from(cell, 4 + 8 * i)[0] for i in range(count)]
        if sig == b"li":
            if 4 + 4 * count > len(cell):
                raise _err("subkeys list runs past its cell", list_off)
            return [_U32.unpack_from(cell, 4 + 4 * i)[0] for i in range(count)]
        if sig == b"ri":
            if 4 + 4 * count > len(cell):
                raise _err("index root runs past its cell", list_off)
            out: list[int] = []
            for i in range(count):
                leaf = _U32.unpack_from(cell, 4 + 4 * i)[0]
                lcell = self._cell(leaf, what="subkeys list")
                if lcell[:2] == b"ri":
                    raise _err("an index root points to another index root", leaf)
                out.extend(self._leaf_entries(leaf))
            return out
        raise _err(f"unknown subkeys list signature {sig!r}", list_off)

    def _subkey_offsets(self, off: int) -> list[int]:
        node = self._nk(off)
        if node.n_subkeys == 0 or node.subkeys_list == NO_OFFSET:
            return []
        entries = self._leaf_entries(node.subkeys_list)
        if len(entries) != node.n_subkeys:
            raise _err(f"key says it has {node.n_subkeys} subkeys but its list holds {len(entries)}", off)
        return entries

    def _find_subkey(self, off: int, name: str) -> int | None:
        want = _upcase_units(name)
        node = self._nk(off)
        if node.n_subkeys == 0 or node.subkeys_list == NO_OFFSET:
            return None
        want_hash = name_hash(name)
        for sub, hint in self._list_with_hashes(node.subkeys_list):
            if hint is not None and hint != want_hash:
                continue                  # a hash leaf rules the key out without decoding its name
            if _upcase_units(self._nk(sub).name) == want:
                return sub
        return None

    def _list_with_hashes(self, list_off: int) -> list[tuple[int, int | None]]:
        """(key node offset, lh hash or None) for every element of a subkeys list."""
        cell = self._cell(list_off, what="subkeys list")
        sig = cell[:2]
        count = _U16.unpack_from(cell, 2)[0] if len(cell) >= 4 else 0
        if sig == b"lh" and 4 + 8 * count <= len(cell):
            return [struct.unpack_from("<II", cell, 4 + 8 * i) for i in range(count)]
        if sig == b"ri" and 4 + 4 * count <= len(cell):
            out: list[tuple[int, int | None]] = []
            for i in range(count):
                leaf = _U32.unpack_from(cell, 4 + 4 * i)[0]
                if self._cell(leaf, what="subkeys list")[:2] == b"ri":
                    raise _err("an index root points to another index root", leaf)
                out.extend(self._list_with_hashes(leaf))
            return out
        return [(e, None) for e in self._leaf_entries(list_off)]

    # ----- values -------------------------------------------------------------------------
    def _value_offsets(self, off: int) -> list[int]:
        node = self._nk(off)
        if node.flags & KEY_PREDEF_HANDLE or node.n_values == 0:
            return []
        cell = self._cell(node.values_list, what="values list")
        if 4 * node.n_values > len(cell):
            raise _err("values list shorter than the key's value count", node.values_list)
        return [_U32.unpack_from(cell, 4 * i)[0] for i in range(node.n_values)]

    def _vk(self, voff: int) -> tuple[tuple, str]:
        cell, f = self._record(voff, _VK, b"vk", "key value")
        return f, _record_name(cell, voff, _VK.size, f[1], bool(f[5] & VALUE_COMP_NAME), "value name")

    def _find_value(self, off: int, name: str) -> int | None:
        want = _upcase_units(name)
        for voff in self._value_offsets(off):
            if _upcase_units(self._vk(voff)[1]) == want:
                return voff
        return None

    def _is_big_data(self, size: int, data_off: int) -> bool:
        if self.minor_version < 4 or size <= BIG_DATA_SEGMENT:
            return False
        cell = self._cell(data_off, what="value data")
        return cell[:2] == b"db"

    def _read_value(self, voff: int) -> RegValue:
        f, name = self._vk(voff)
        _sig, _nl, size_raw, data_off, vtype, _flags, _spare = f
        size = size_raw & 0x7FFFFFFF
        if size_raw & DATA_INLINE:
            if size > 4:
                raise _err(f"inline value data of {size} bytes (at most 4 allowed)", voff)
            raw = _U32.pack(data_off)[:size]
        elif size == 0:
            raw = b""
        elif self._is_big_data(size, data_off):
            raw = self._read_big_data(data_off, size)
        else:
            cell = self._cell(data_off, what="value data")
            if size > len(cell):
                raise _err(f"value data of {size} bytes runs past its {len(cell)}-byte cell", data_off)
            raw = bytes(cell[:size])
        return RegValue(name, vtype, raw)

    def _read_big_data(self, db_off: int, size: int) -> bytes:
        cell = self._cell(db_off, what="big data")
        count, list_off = struct.unpack_from("<HI", cell, 2)
        segs = self._cell(list_off, what="big data segment list")
        if 4 * count > len(segs):
            raise _err("big data segment list too short", list_off)
        out = bytearray()
        for i in range(count):
            seg = self._cell(_U32.unpack_from(segs, 4 * i)[0], what="big data segment")
            out += seg[:min(BIG_DATA_SEGMENT, size - len(out))]
            if len(out) >= size:
                break
        if len(out) < size:
            raise _err(f"big data holds {len(out)} of {size} bytes", db_off)
        return bytes(out)

    # ----- public reading API -------------------------------------------------------------
    @property
    def root(self) -> RegKey:
        return RegKey(self, self._root, "")

    def get_key(self, path: str) -> RegKey | None:
        """The key at ``path`` (relative to the root, case-insensitive), or None."""
        off = self._root
        names = []
        for part in split_path(path):
            nxt = self._find_subkey(off, part)
            if nxt is None:
                return None
            off = nxt
            names.append(self._nk(off).name)
        return RegKey(self, off, "\\".join(names))

    def get_value(self, path: str, name: str) -> RegValue | None:
        key = self.get_key(path)
        return None if key is None else key.value(name)

    def walk(self, key: RegKey | None = None) -> Iterator[RegKey]:
        """Every key, depth first, starting at ``key`` (default: the root)."""
        stack = [key or self.root]
        seen: set[int] = set()
        while stack:
            k = stack.pop()
            if k.offset in seen:
                raise _err("key nodes form a cycle", k.offset)
            seen.add(k.offset)
            if k.path.count("\\") >= MAX_DEPTH:
                raise _err("keys nested deeper than 512 levels", k.offset)
            yield k
            stack.extend(reversed(k.subkeys()))

    # ----- allocation ---------------------------------------------------------------------
    def _build_free_list(self) -> None:
        free: dict[int, int] = {}
        for start, bsize in self._bins:
            pos = start + HBIN_HEADER_SIZE
            end = start + bsize
            while pos < end:
                if pos + 4 > end:
                    raise _err("cell header runs past its hive bin", pos)
                raw = _I32.unpack_from(self._buf, pos)[0]
                size = abs(raw)
                if size < 8 or size % 8 or pos + size > end:
                    raise _err(f"cell has a bad size {raw}", pos)
                if raw > 0:
                    free[pos] = size
                pos += size
        self._free = free
        self._free_sorted = sorted(free)

    def _add_free(self, off: int, size: int) -> None:
        """Record a free cell, merging it with free neighbours inside the same hive bin."""
        assert self._free is not None
        start, bsize = self._bin_of(off)
        nxt = off + size
        if nxt < start + bsize and nxt in self._free:
            size += self._free.pop(nxt)
            self._free_sorted.remove(nxt)
        i = bisect.bisect_left(self._free_sorted, off)
        if i > 0:
            prev = self._free_sorted[i - 1]
            if prev >= start and prev + self._free[prev] == off:
                self._free[prev] += size
                _I32.pack_into(self._buf, prev, self._free[prev])
                self._buf[off:off + 4] = b"\x00\x00\x00\x00"
                return
        self._free[off] = size
        bisect.insort(self._free_sorted, off)
        _I32.pack_into(self._buf, off, size)

    def _alloc(self, payload: int) -> int:
        """Allocate a zeroed cell with room for ``payload`` bytes; return its offset."""
        if self._free is None:
            self._build_free_list()
        assert self._free is not None
        need = _align8(payload + 4)
        for off in self._free_sorted:
            size = self._free[off]
            if size >= need:
                break
        else:
            off = self._grow(need)
            size = self._free[off]
        self._free_sorted.remove(off)
        del self._free[off]
        if size - need >= 8:
            self._free[off + need] = size - need
            bisect.insort(self._free_sorted, off + need)
            _I32.pack_into(self._buf, off + need, size - need)
        else:
            need = size
        _I32.pack_into(self._buf, off, -need)
        self._buf[off + 4:off + need] = bytes(need - 4)
        self.changed = True
        return off

    def _grow(self, need: int) -> int:
        """Append a hive bin big enough for a ``need``-byte cell; return its free cell's offset."""
        assert self._free is not None
        bsize = (need + HBIN_HEADER_SIZE + HBIN_ALIGN - 1) // HBIN_ALIGN * HBIN_ALIGN
        start = len(self._buf)
        if start + bsize > 0x7FFFF000 or BASE_BLOCK_SIZE + start + bsize > MAX_HIVE_BYTES:
            raise _err("the hive would grow past the size limit")
        self._buf += bytes(bsize)
        _HBIN.pack_into(self._buf, start, b"hbin", start, bsize, b"\x00" * 8, 0, 0)
        self._bins.append((start, bsize))
        self._bin_starts.append(start)
        off = start + HBIN_HEADER_SIZE
        self._free[off] = bsize - HBIN_HEADER_SIZE
        bisect.insort(self._free_sorted, off)
        _I32.pack_into(self._buf, off, bsize - HBIN_HEADER_SIZE)
        return off

    def _release(self, off: int) -> None:
        """Free an allocated cell, zeroing its payload first (old data may be a secret)."""
        if self._free is None:
            self._build_free_list()
        self._cell(off)
        size = -_I32.unpack_from(self._buf, off)[0]
        self._buf[off + 4:off + size] = bytes(size - 4)
        self._add_free(off, size)
        self.changed = True

    def _new_cell(self, payload: bytes) -> int:
        off = self._alloc(len(payload))
        self._buf[off + 4:off + 4 + len(payload)] = payload
        return off

    # ----- node updates -------------------------------------------------------------------
    def _node_field(self, off: int, field_offset: int, value: int, fmt: struct.Struct = _U32) -> None:
        fmt.pack_into(self._buf, off + 4 + field_offset, value)

    def _touch(self, off: int) -> None:
        struct.pack_into("<Q", self._buf, off + 4 + 4, self._stamp)

    def _write_list(self, sig: bytes, entries: list[int]) -> int:
        """A new li/lf/lh leaf for the given key node offsets (already sorted)."""
        if len(entries) > MAX_SUBKEYS_PER_LEAF:
            raise _err("too many subkeys for one list")
        body = bytearray(sig + _U16.pack(len(entries)))
        for sub in entries:
            body += _U32.pack(sub)
            if sig == b"lh":
                body += _U32.pack(name_hash(self._nk(sub).name))
            elif sig == b"lf":
                body += _name_hint(self._nk(sub).name)
        return self._new_cell(bytes(body))

    def _insert_subkey(self, parent: int, child: int) -> None:
        pnode = self._nk(parent)
        name = self._nk(child).name
        key = _upcase_units(name)

        def insert_sorted(entries: list[int]) -> list[int]:
            names = [_upcase_units(self._nk(e).name) for e in entries]
            i = bisect.bisect_left(names, key)
            return entries[:i] + [child] + entries[i:]

        default_sig = b"lh" if self.minor_version >= 5 else (b"lf" if self.minor_version >= 3 else b"li")
        if pnode.n_subkeys == 0 or pnode.subkeys_list == NO_OFFSET:
            # a stale list pointer of a key without subkeys is left alone: it may not be ours to free
            self._node_field(parent, 28, self._write_list(default_sig, [child]))
        else:
            lst = self._cell(pnode.subkeys_list, what="subkeys list")
            sig = lst[:2]
            if sig == b"ri":
                count = _U16.unpack_from(lst, 2)[0]
                leaves = [_U32.unpack_from(lst, 4 + 4 * i)[0] for i in range(count)]
                if not leaves:
                    raise _err("empty index root", pnode.subkeys_list)
                target = len(leaves) - 1
                for i, leaf in enumerate(leaves):
                    entries = self._leaf_entries(leaf)
                    if entries and _upcase_units(self._nk(entries[-1]).name) >= key:
                        target = i
                        break
                leaf = leaves[target]
                lsig = self._cell(leaf)[:2]
                entries = insert_sorted(self._leaf_entries(leaf))
                new_leaf = self._write_list(lsig, entries)
                _U32.pack_into(self._buf, pnode.subkeys_list + 4 + 4 + 4 * target, new_leaf)
                self._release(leaf)
            else:
                entries = insert_sorted(self._leaf_entries(pnode.subkeys_list))
                new_list = self._write_list(sig, entries)
                old = pnode.subkeys_list
                self._node_field(parent, 28, new_list)
                self._release(old)
        self._node_field(parent, 20, pnode.n_subkeys + 1)
        word = pnode.max_subkey_name
        length = max(word & 0xFFFF, 2 * len(_utf16_units(name)))
        self._node_field(parent, 52, (word & 0xFFFF0000) | length)
        self._touch(parent)

    def _security_of(self, off: int) -> int:
        sk = self._nk(off).security
        cell = self._cell(sk, what="key security")
        if cell[:2] != b"sk":
            raise _err("expected a key security cell ('sk')", sk)
        return sk

    def _add_key(self, parent: int, name: str) -> int:
        _check_key_name(name)
        pnode = self._nk(parent)
        if pnode.flags & (KEY_SYM_LINK | KEY_PREDEF_HANDLE):
            raise _err(f"cannot add a subkey under the link key {pnode.name!r}", parent)
        sk = self._security_of(parent)
        name_raw, comp = _encode_name(name)
        off = self._alloc(_NK.size + len(name_raw))
        body = _NK.pack(b"nk", KEY_COMP_NAME if comp else 0, self._stamp, 0, parent, 0, 0, NO_OFFSET,
                        NO_OFFSET, 0, NO_OFFSET, sk, NO_OFFSET, 0, 0, 0, 0, 0, len(name_raw), 0)
        self._buf[off + 4:off + 4 + _NK.size] = body
        self._buf[off + 4 + _NK.size:off + 4 + _NK.size + len(name_raw)] = name_raw
        # the new key shares its parent's security cell [spec Key security]: one more reference
        refs = _U32.unpack_from(self._buf, sk + 4 + 12)[0]
        _U32.pack_into(self._buf, sk + 4 + 12, refs + 1)
        self._insert_subkey(parent, off)
        return off

    # ----- public writing API -------------------------------------------------------------
    def create_key(self, path: str) -> RegKey:
        """The key at ``path``, creating it and any missing parents."""
        off = self._root
        names = []
        for part in split_path(path):
            nxt = self._find_subkey(off, part)
            if nxt is None:
                nxt = self._add_key(off, part)
            off = nxt
            names.append(self._nk(off).name)
        return RegKey(self, off, "\\".join(names))

    def _store_data(self, raw: bytes) -> tuple[int, int]:
        """(size field, offset field) for new value data [spec Key value / Data size, Big data]."""
        n = len(raw)
        if n <= 4:
            return n | DATA_INLINE, _U32.unpack(raw.ljust(4, b"\x00"))[0]
        if self.minor_version >= 4 and n > BIG_DATA_SEGMENT:
            segs = [self._new_cell(raw[i:i + BIG_DATA_SEGMENT]) for i in range(0, n, BIG_DATA_SEGMENT)]
            if len(segs) > 0xFFFF:
                raise _err("value data too large")
            seg_list = self._new_cell(b"".join(_U32.pack(s) for s in segs))
            db = self._new_cell(b"db" + struct.pack("<HI", len(segs), seg_list))
            return n, db
        return n, self._new_cell(raw)

    def _free_data(self, size_raw: int, data_off: int) -> None:
        size = size_raw & 0x7FFFFFFF
        if size_raw & DATA_INLINE or size == 0 or data_off == NO_OFFSET:
            return
        if self._is_big_data(size, data_off):
            db = self._cell(data_off)
            count, list_off = struct.unpack_from("<HI", db, 2)
            segs = self._cell(list_off)
            seg_offs = [_U32.unpack_from(segs, 4 * i)[0] for i in range(count)]
            for s in seg_offs:
                self._release(s)
            self._release(list_off)
        self._release(data_off)

    def set_value(self, path: str, value: RegValue, *, create: bool = True) -> None:
        """Set ``value`` on the key at ``path`` (created if missing unless ``create`` is False).

        An existing value of the same name (case-insensitive) keeps its name and node; its old
        data cells are zeroed and freed.
        """
        if not isinstance(value, RegValue):
            raise TypeError("value must be a RegValue")
        key = self.create_key(path) if create else self.get_key(path)
        if key is None:
            raise _err(f"key {path!r} does not exist")
        koff = key.offset
        knode = self._nk(koff)
        if knode.flags & KEY_PREDEF_HANDLE:
            raise _err("cannot set a value on a predefined-handle key", koff)
        existing = self._find_value(koff, value.name)
        if existing is not None:
            f, _name = self._vk(existing)
            current = self._read_value(existing)
            if current.type == value.type and current.raw == value.raw:
                return                                    # already so: leave the hive untouched
            self._free_data(f[2], f[3])
            size_field, off_field = self._store_data(value.raw)
            struct.pack_into("<III", self._buf, existing + 4 + 4, size_field, off_field, int(value.type))
        else:
            name_raw, comp = _encode_name(value.name)
            size_field, off_field = self._store_data(value.raw)
            voff = self._new_cell(_VK.pack(b"vk", len(name_raw), size_field, off_field, int(value.type),
                                           VALUE_COMP_NAME if comp and name_raw else 0, 0) + name_raw)
            old_offsets = self._value_offsets(koff)
            knode = self._nk(koff)
            new_list = self._new_cell(b"".join(_U32.pack(o) for o in old_offsets + [voff]))
            if knode.n_values and knode.values_list != NO_OFFSET:
                self._release(knode.values_list)
            self._node_field(koff, 36, len(old_offsets) + 1)
            self._node_field(koff, 40, new_list)
            name_bytes = 2 * len(_utf16_units(value.name))
            if name_bytes > knode.max_value_name:
                self._node_field(koff, 60, name_bytes)
        knode = self._nk(koff)
        if len(value.raw) > knode.max_value_data:
            self._node_field(koff, 64, len(value.raw))
        self._touch(koff)
        self.changed = True

    def delete_value(self, path: str, name: str) -> bool:
        """Remove a value; True if it existed."""
        key = self.get_key(path)
        if key is None:
            return False
        koff = key.offset
        voff = self._find_value(koff, name)
        if voff is None:
            return False
        f, _n = self._vk(voff)
        knode = self._nk(koff)
        offsets = [o for o in self._value_offsets(koff) if o != voff]
        self._free_data(f[2], f[3])
        self._release(voff)
        old_list = knode.values_list
        if offsets:
            self._node_field(koff, 40, self._new_cell(b"".join(_U32.pack(o) for o in offsets)))
        else:
            self._node_field(koff, 40, NO_OFFSET)
        self._release(old_list)
        self._node_field(koff, 36, len(offsets))
        self._touch(koff)
        return True

    # ----- output -------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The hive file: base block (sequence numbers +1 and equal, timestamp, checksum) + bins.

        An unchanged hive is returned byte for byte as it was read (minus any trailing padding).
        """
        base = bytearray(self._base)
        if self.changed:
            seq = (self.sequence + 1) & 0xFFFFFFFF
            struct.pack_into("<IIQ", base, 4, seq, seq, self._stamp)
            _U32.pack_into(base, 40, len(self._buf))
            _U32.pack_into(base, 508, _checksum(base))
            buf = bytearray(self._buf)
            struct.pack_into("<Q", buf, 20, self._stamp)    # first bin keeps a copy [spec Hive bin, note 3]
            return bytes(base) + bytes(buf)
        return bytes(base) + bytes(self._buf)

    # ----- verification -------------------------------------------------------------------
    def check(self) -> int:
        """Walk the whole hive and verify its structure; return the number of keys.

        Checks: every cell's size; every reachable cell allocated; subkey lists sorted and
        matching the counts; parent links; hashes in hash leaves; security cells ('sk') and the
        reference counts the keys imply; every value's data readable.
        """
        self._build_free_list()
        refs: dict[int, int] = {}
        keys = 0
        stack = [(self._root, None, 0)]
        seen: set[int] = set()
        while stack:
            off, parent, depth = stack.pop()
            if off in seen:
                raise _err("key nodes form a cycle", off)
            if depth > MAX_DEPTH:
                raise _err("keys nested deeper than 512 levels", off)
            seen.add(off)
            keys += 1
            node = self._nk(off)
            if parent is not None and node.parent != parent:
                raise _err(f"key {node.name!r} names 0x{node.parent:x} as its parent, not 0x{parent:x}", off)
            sk = self._security_of(off)
            refs[sk] = refs.get(sk, 0) + 1
            subs = self._subkey_offsets(off)
            if subs:
                self._check_lists(node.subkeys_list)
                names = [_upcase_units(self._nk(s).name) for s in subs]
                if any(a >= b for a, b in zip(names, names[1:])):
                    raise _err(f"subkeys of {node.name!r} are not sorted (or repeat a name)", node.subkeys_list)
            for voff in self._value_offsets(off):
                self._read_value(voff)
            stack.extend((s, off, depth + 1) for s in subs)
        for sk, count in refs.items():
            stored = _U32.unpack_from(self._buf, sk + 4 + 12)[0]
            if stored < count:
                raise _err(f"security cell referenced by {count} keys records only {stored}", sk)
        return keys

    def _check_lists(self, list_off: int) -> None:
        cell = self._cell(list_off, what="subkeys list")
        sig = cell[:2]
        count = _U16.unpack_from(cell, 2)[0]
        if sig == b"ri":
            for i in range(count):
                self._check_lists(_U32.unpack_from(cell, 4 + 4 * i)[0])
        elif sig == b"lh":
            for i in range(count):
                sub, h = struct.unpack_from("<II", cell, 4 + 8 * i)
                if name_hash(self._nk(sub).name) != h:
                    raise _err("hash leaf element has a wrong name hash", list_off)
