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
        action = self.action
        name = self.value_name or "(Default)"
        text = f"{self.key}\\{name} = {self.shown_value()} ({self.type_name})"
        return f"{text} [{action}]" if action else text

    def shown_value(self) -> str:
        """The data as people read it: text, number (decimal and hex), items; hex for bytes."""
        v = self.value
        if isinstance(v, bytes):
            shown = v.hex() if len(v) <= 64 else f"{v[:64].hex()}... ({len(v)} bytes)"
        elif isinstance(v, int):
            shown = f"{v} ({v:#x})"
        elif isinstance(v, list):
            shown = "; ".join(v)
        else:
            shown = v
        return shown

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


# -- the policy list: Registry.pol entries as text or JSON (docs/formats/registry-pol.md) -----------
#
# Text: one entry per line, ``KEY;NAME;TYPE;VALUE`` (``#`` starts a comment line). KEY may start with
# HKLM\ or HKEY_LOCAL_MACHINE\ (dropped: the file's location says which hive). TYPE is a registry type
# name (REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_QWORD, REG_MULTI_SZ, REG_BINARY; the REG_ may be left
# out) or one of the actions DELETE (``**del.NAME``) and DELETEALLVALUES (``**delvals.``). A DWORD or
# QWORD is decimal or 0x-hex; REG_MULTI_SZ items are separated by ``|``; REG_BINARY is hex. Only
# VALUE may contain ``;``.
# JSON: a list of objects as ``PolicyValue.to_json`` writes them (``ppkgtool policy show --json``):
# ``key``, ``value_name``, ``type_name`` (or ``type``) and ``value``; with ``type`` (a number) and
# ``data`` (hex), as ``policy show --json`` adds, the entry is taken byte for byte.

_HIVE_PREFIXES = ("hkey_local_machine\\", "hklm\\", "hkey_current_user\\", "hkcu\\")
_ACTIONS = ("DELETE", "DELETEALLVALUES")


def parse_policy_list(data: bytes, *, source_name: str = "policy list") -> list[PolicyValue]:
    """PolicyValues from a text or JSON policy list (see above); RegistryPolicyError names the line
    or item of a problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryPolicyError(f"not UTF-8 text (byte {exc.start})", where=source_name) from None
    if text.lstrip().startswith("["):
        return _policy_list_json(text, source_name)
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        line = line.lstrip()   # VALUE keeps its trailing spaces
        parts = line.split(";", 3)
        if len(parts) < 3 or (len(parts) == 3 and parts[2].strip().upper() not in _ACTIONS):
            raise RegistryPolicyError("expected KEY;NAME;TYPE;VALUE", where=f"{source_name}:{number}")
        key, name, typ = (p.strip() for p in parts[:3])
        out.append(_policy_value(key, name, typ, parts[3] if len(parts) == 4 else "", f"{source_name}:{number}"))
    return out


def _policy_list_json(text: str, source_name: str) -> list[PolicyValue]:
    import json
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryPolicyError(f"invalid JSON: {exc.msg}", where=f"{source_name}:{exc.lineno}") from None
    if not isinstance(items, list):
        raise RegistryPolicyError("a JSON policy list is a list of objects", where=source_name)
    out = []
    for i, item in enumerate(items, 1):
        where = f"{source_name} item {i}"
        if not isinstance(item, dict) or "key" not in item:
            raise RegistryPolicyError("each item needs 'key', 'value_name', 'type_name' and 'value'", where=where)
        if isinstance(item.get("data"), str) and isinstance(item.get("type"), int):   # exact: as written
            try:
                out.append(PolicyValue(str(item["key"]), str(item.get("value_name", "")), item["type"],
                                       bytes.fromhex(item["data"])))
            except (TypeError, ValueError) as exc:
                raise RegistryPolicyError(f"bad 'data' or 'type': {exc}", where=where) from None
            continue
        typ = item.get("type_name") or item.get("type")
        if isinstance(typ, int) and not isinstance(typ, bool):
            typ = TYPE_NAMES.get(typ, str(typ))
        value = item.get("value", "")
        if isinstance(value, list):
            value = "|".join(str(v) for v in value)
        out.append(_policy_value(str(item["key"]), str(item.get("value_name", "")), str(typ or ""), str(value),
                                 where))
    return out


def _policy_value(key: str, name: str, typ: str, value: str, where: str) -> PolicyValue:
    low = key.lower()
    for prefix in _HIVE_PREFIXES:
        if low.startswith(prefix):
            key = key[len(prefix):]
            break
    if not key:
        raise RegistryPolicyError("empty key", where=where)
    kind = typ.upper()
    if kind == "DELETE":
        return PolicyValue.string(key, f"**del.{name}", " ")
    if kind == "DELETEALLVALUES":
        return PolicyValue.string(key, "**delvals.", " ")
    if not kind.startswith("REG_"):
        kind = "REG_" + kind
    code = TYPES_BY_NAME.get(kind)
    try:
        if code in (REG_SZ, REG_EXPAND_SZ):
            return PolicyValue.string(key, name, value, expand=code == REG_EXPAND_SZ)
        if code in (REG_DWORD, REG_QWORD):
            number = int(value.strip(), 0)
            limit = 2 ** (32 if code == REG_DWORD else 64)
            if not 0 <= number < limit:
                raise ValueError(f"{number} does not fit a {kind}")
            return (PolicyValue.dword if code == REG_DWORD else PolicyValue.qword)(key, name, number)
        if code == REG_MULTI_SZ:
            return PolicyValue.multi_string(key, name, value.split("|") if value else [])
        if code == REG_BINARY:
            return PolicyValue.binary(key, name, bytes.fromhex(value.replace(" ", "")))
    except ValueError as exc:
        raise RegistryPolicyError(f"bad {kind} value {value!r}: {exc}", where=where) from None
    raise RegistryPolicyError(f"unknown type {typ!r} (REG_SZ, REG_EXPAND_SZ, REG_DWORD, REG_QWORD, "
                              f"REG_MULTI_SZ, REG_BINARY, DELETE, DELETEALLVALUES)", where=where)


def policy_list_text(values) -> str:
    """The text policy list of ``values`` (what parse_policy_list reads back)."""
    lines = []
    for v in values:
        low = v.value_name.lower()
        if low.startswith("**del.") and v.value == " ":
            lines.append(f"{v.key};{v.value_name[6:]};DELETE")
            continue
        if low.startswith("**delvals") and v.value == " ":
            lines.append(f"{v.key};;DELETEALLVALUES")
            continue
        val = v.value
        if isinstance(val, bytes):
            shown, typ = val.hex(), "REG_BINARY" if v.type == REG_BINARY else v.type_name
        elif isinstance(val, list):
            shown, typ = "|".join(val), v.type_name
        else:
            shown, typ = str(val), v.type_name
        lines.append(f"{v.key};{v.value_name};{typ};{shown}")
    return "".join(line + "\n" for line in lines)
