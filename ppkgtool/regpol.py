"""Registry.pol ("Registry Policy File Format", PReg version 1): read and write.

Layout [C: Microsoft "Registry Policy File Format"]: ``PReg`` + u32 version 1, then entries
``[key;value;type;size;data]`` where ``[ ; ]`` are UTF-16LE characters, key and value are
NUL-terminated UTF-16LE strings, type and size are u32 little-endian and data is ``size`` bytes.
Special value names (``**del.X``, ``**delvals.``, ``**DeleteValues``, ``**DeleteKeys``,
``**SecureKey``, ``**soft.X``) are kept as they are.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ppkgtool.errors import RegistryPolicyError

SIGNATURE = b"PReg"
VERSION = 1
MAX_POL = 64 * 1024 * 1024

REG_NONE = 0
REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3
REG_DWORD = 4
REG_DWORD_BIG_ENDIAN = 5
REG_LINK = 6
REG_MULTI_SZ = 7
REG_RESOURCE_LIST = 8
REG_QWORD = 11
TYPE_NAMES = {REG_NONE: "REG_NONE", REG_SZ: "REG_SZ", REG_EXPAND_SZ: "REG_EXPAND_SZ", REG_BINARY: "REG_BINARY",
              REG_DWORD: "REG_DWORD", REG_DWORD_BIG_ENDIAN: "REG_DWORD_BIG_ENDIAN", REG_LINK: "REG_LINK",
              REG_MULTI_SZ: "REG_MULTI_SZ", REG_RESOURCE_LIST: "REG_RESOURCE_LIST", REG_QWORD: "REG_QWORD"}
TYPES_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}

_OPEN, _SEMI, _CLOSE = "[".encode("utf-16-le"), ";".encode("utf-16-le"), "]".encode("utf-16-le")


@dataclass(frozen=True)
class PolicyValue:
    """One Registry.pol entry: a value under a key (HKLM- or HKCU-relative, as the file's location says)."""

    key: str
    value_name: str
    type: int
    data: bytes = b""

    def __post_init__(self):
        if not isinstance(self.key, str) or not isinstance(self.value_name, str):
            raise TypeError("PolicyValue.key and .value_name must be str")
        if "\x00" in self.key or "\x00" in self.value_name:
            raise ValueError("PolicyValue.key and .value_name cannot contain NUL")
        if not isinstance(self.type, int) or isinstance(self.type, bool) or not 0 <= self.type < 2 ** 32:
            raise TypeError(f"PolicyValue.type must be a u32, not {self.type!r}")
        if isinstance(self.data, (bytearray, memoryview)):
            object.__setattr__(self, "data", bytes(self.data))
        if not isinstance(self.data, bytes):
            raise TypeError("PolicyValue.data must be bytes")

    # -- typed constructors ---------------------------------------------------------------------
    @classmethod
    def string(cls, key: str, name: str, text: str, *, expand: bool = False) -> "PolicyValue":
        return cls(key, name, REG_EXPAND_SZ if expand else REG_SZ, (text + "\x00").encode("utf-16-le"))

    @classmethod
    def dword(cls, key: str, name: str, number: int) -> "PolicyValue":
        return cls(key, name, REG_DWORD, struct.pack("<I", number))

    @classmethod
    def qword(cls, key: str, name: str, number: int) -> "PolicyValue":
        return cls(key, name, REG_QWORD, struct.pack("<Q", number))

    @classmethod
    def multi_string(cls, key: str, name: str, items: list[str]) -> "PolicyValue":
        return cls(key, name, REG_MULTI_SZ, ("".join(i + "\x00" for i in items) + "\x00").encode("utf-16-le"))

    @classmethod
    def binary(cls, key: str, name: str, data: bytes) -> "PolicyValue":
        return cls(key, name, REG_BINARY, bytes(data))

    # -- reading --------------------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, f"type {self.type}")

    @property
    def value(self):
        """str, int, list[str] or bytes according to the type (bytes when the data does not fit it)."""
        t, d = self.type, self.data
        if t in (REG_SZ, REG_EXPAND_SZ, REG_LINK) and len(d) % 2 == 0:
            return d.decode("utf-16-le", "replace").split("\x00", 1)[0]
        if t == REG_DWORD and len(d) == 4:
            return struct.unpack("<I", d)[0]
        if t == REG_DWORD_BIG_ENDIAN and len(d) == 4:
            return struct.unpack(">I", d)[0]
        if t == REG_QWORD and len(d) == 8:
            return struct.unpack("<Q", d)[0]
        if t == REG_MULTI_SZ and len(d) % 2 == 0:
            text = d.decode("utf-16-le", "replace")
            items = text.split("\x00")
            while items and items[-1] == "":
                items.pop()
            return items
        return d

    @property
    def action(self) -> str | None:
        """The meaning of a special value name (deletions, secure key, soft values), else None."""
        n = self.value_name
        low = n.lower()
        if low.startswith("**del."):
            return f"delete value {n[6:]}"
        if low.startswith("**delvals"):
            return "delete all values of the key"
        if low == "**deletevalues":
            return f"delete values {self.value}"
        if low == "**deletekeys":
            return f"delete subkeys {self.value}"
        if low == "**securekey":
            return "secure key (admin-only ACL)" if self.value == 1 else "non-secure key"
        if low.startswith("**soft."):
            return f"set {n[7:]} only if absent"
        return None

    def display(self) -> str:
        """One line: key\\name = value (type)."""
        v = self.value
        if isinstance(v, bytes):
            shown = v.hex() if len(v) <= 64 else f"{v[:64].hex()}... ({len(v)} bytes)"
        elif isinstance(v, int):
            shown = f"{v} ({v:#x})"
        elif isinstance(v, list):
            shown = "; ".join(v)
        else:
            shown = v
        action = self.action
        name = self.value_name or "(Default)"
        text = f"{self.key}\\{name} = {shown} ({self.type_name})"
        return f"{text} [{action}]" if action else text

    def to_json(self) -> dict:
        v = self.value
        return {"key": self.key, "value_name": self.value_name, "type": self.type, "type_name": self.type_name,
                "value": v.hex() if isinstance(v, bytes) else v, "action": self.action}


def parse_registry_pol(data: bytes) -> list[PolicyValue]:
    """All entries of a Registry.pol file; RegistryPolicyError names the offset of a problem."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("parse_registry_pol needs bytes")
    data = bytes(data)
    if len(data) > MAX_POL:
        raise RegistryPolicyError(f"{len(data)} bytes exceeds the {MAX_POL}-byte limit")
    if len(data) < 8 or data[:4] != SIGNATURE:
        raise RegistryPolicyError("not a Registry.pol file (no 'PReg' signature)", where="offset 0x0")
    (version,) = struct.unpack_from("<I", data, 4)
    if version != VERSION:
        raise RegistryPolicyError(f"version {version} (only 1 is defined)", where="offset 0x4")
    pos = 8
    out: list[PolicyValue] = []

    def err(msg: str, at: int) -> RegistryPolicyError:
        return RegistryPolicyError(msg, where=f"entry {len(out) + 1} at offset {at:#x}")

    def expect(token: bytes, what: str) -> None:
        nonlocal pos
        if data[pos:pos + 2] != token:
            raise err(f"expected '{token.decode('utf-16-le')}' {what}", pos)
        pos += 2

    def string(what: str) -> str:
        nonlocal pos
        start = pos
        while True:
            if pos + 2 > len(data):
                raise err(f"unterminated {what}", start)
            if data[pos:pos + 2] == b"\x00\x00":
                break
            pos += 2
        text = data[start:pos].decode("utf-16-le", "surrogatepass")
        pos += 2
        return text

    def u32(what: str) -> int:
        nonlocal pos
        if pos + 4 > len(data):
            raise err(f"truncated {what}", pos)
        (v,) = struct.unpack_from("<I", data, pos)
        pos += 4
        return v

    while pos < len(data):
        start = pos
        expect(_OPEN, "at the start of an entry")
        key = string("key name")
        expect(_SEMI, "after the key")
        name = string("value name")
        expect(_SEMI, "after the value name")
        typ = u32("type")
        expect(_SEMI, "after the type")
        size = u32("size")
        expect(_SEMI, "after the size")
        if size > len(data) - pos:
            raise err(f"data size {size} runs past the end of the file", start)
        value = data[pos:pos + size]
        pos += size
        expect(_CLOSE, "at the end of the entry")
        try:
            out.append(PolicyValue(key, name, typ, value))
        except (TypeError, ValueError) as exc:
            raise err(str(exc), start) from None
    return out


def build_registry_pol(values) -> bytes:
    """A Registry.pol file holding ``values`` (PolicyValue objects) in order."""
    out = bytearray(SIGNATURE + struct.pack("<I", VERSION))
    for v in values:
        if not isinstance(v, PolicyValue):
            raise TypeError(f"build_registry_pol needs PolicyValue items, not {type(v).__name__}")
        out += _OPEN + (v.key + "\x00").encode("utf-16-le", "surrogatepass") + _SEMI
        out += (v.value_name + "\x00").encode("utf-16-le", "surrogatepass") + _SEMI
        out += struct.pack("<I", v.type) + _SEMI + struct.pack("<I", len(v.data)) + _SEMI + v.data + _CLOSE
    return bytes(out)
