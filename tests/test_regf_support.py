"""Helpers shared by the regf / deploy / odj-request tests (no tests here).

- ``empty_hive_bytes()``: an empty hive built byte by byte HERE, independently of ppkgtool.regf
  (hivex can modify a hive but not create one).
- ``hivexsh_script(path, script)``: run a hivexsh -w script (hivex, from Debian libhivex-bin,
  writes the keys and values of the test images: an independent writer).
- ``make_system_hive(path)``: a small SYSTEM hive like an image's: Select\\Current, ControlSet001
  with Lsa, Netlogon, Tcpip\\Parameters values, Setup - written by hivex.
- readers: ``hivexget_values`` (hivexget), ``reged_export`` (chntpw's ``reged -x``), ``regipy_values``.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

HIVEX_TOOLS = ("hivexsh", "hivexget", "reged")


def require_tools():
    missing = [t for t in HIVEX_TOOLS if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"missing tools: {', '.join(missing)} (Debian libhivex-bin, chntpw)")
        pytest.skip(f"missing tools: {', '.join(missing)} (Debian libhivex-bin, chntpw)")


def empty_hive_bytes(root_name: str = "CMI-CreateHive{2A7FB991-7BBE-4F9D-B91E-7CB51D4737F5}") -> bytes:
    """regf 1.5: base block + one 4096-byte hive bin with a root 'nk', its 'sk', and a free cell."""
    name = root_name.encode("ascii")
    sy = bytes.fromhex("010100000000000512000000")                  # S-1-5-18
    ba = bytes.fromhex("01020000000000052000000020020000")          # S-1-5-32-544
    aces = b"".join(struct.pack("<BBHI", 0, 0x02, 8 + len(sid), 0x000F003F) + sid for sid in (sy, ba))
    dacl = struct.pack("<BBHHH", 2, 0, 8 + len(aces), 2, 0) + aces
    sd = struct.pack("<BBHIIII", 1, 0, 0x8004, 20, 20 + len(ba), 0, 20 + len(ba) + len(sy)) + ba + sy + dacl
    bins = bytearray(4096)
    struct.pack_into("<4sII", bins, 0, b"hbin", 0, 4096)
    root_off = 0x20
    nk = struct.pack("<2sHQIIIIIIIIIIIIIIIHH", b"nk", 0x2C, 0, 0, 0xFFFFFFFF, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF,
                     0, 0xFFFFFFFF, 0, 0xFFFFFFFF, 0, 0, 0, 0, 0, len(name), 0) + name
    nk_size = (4 + len(nk) + 7) & ~7
    sk_off = root_off + nk_size
    nk = nk[:44] + struct.pack("<I", sk_off) + nk[48:]
    struct.pack_into("<i", bins, root_off, -nk_size)
    bins[root_off + 4:root_off + 4 + len(nk)] = nk
    sk = struct.pack("<2sHIIII", b"sk", 0, sk_off, sk_off, 1, len(sd)) + sd
    sk_size = (4 + len(sk) + 7) & ~7
    struct.pack_into("<i", bins, sk_off, -sk_size)
    bins[sk_off + 4:sk_off + 4 + len(sk)] = sk
    free_off = sk_off + sk_size
    struct.pack_into("<i", bins, free_off, 4096 - free_off)
    base = bytearray(4096)
    struct.pack_into("<4sIIQIIIIIII", base, 0, b"regf", 7, 7, 0, 1, 5, 0, 1, root_off, 4096, 1)
    csum = 0
    for (v,) in struct.iter_unpack("<I", bytes(base[:508])):
        csum ^= v
    struct.pack_into("<I", base, 508, csum or 1)
    return bytes(base) + bytes(bins)


def hivexsh_script(path: Path, script: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".hivexsh", delete=False) as fh:
        fh.write(script.rstrip("\n") + "\ncommit\n")
        name = fh.name
    try:
        r = subprocess.run(["hivexsh", "-w", "-f", name, str(path)], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(name)
    assert r.returncode == 0, f"hivexsh failed: {r.stderr}"


# The pre-existing content of the test image's SYSTEM hive (written by hivex, not by us).
EXISTING_SYSTEM_VALUES = {
    ("Select", "Current"): ("dword", 1),
    ("Select", "Default"): ("dword", 1),
    ("Select", "LastKnownGood"): ("dword", 2),
    ("ControlSet001\\Control\\Lsa", "LmCompatibilityLevel"): ("dword", 5),
    ("ControlSet001\\Control\\Lsa", "Authentication Packages"): ("multi", ["msv1_0"]),
    ("ControlSet001\\Services\\Netlogon", "DisplayName"): ("string", "Netlogon"),
    ("ControlSet001\\Services\\Netlogon", "Start"): ("dword", 3),
    ("ControlSet001\\Services\\Tcpip\\Parameters", "Hostname"): ("string", "minint-4711"),
    ("ControlSet001\\Services\\Tcpip\\Parameters", "SearchList"): ("string", "corp.example"),
    ("ControlSet001\\Services\\Tcpip\\Parameters", "DataBasePath"): ("expand", "%SystemRoot%\\System32\\drivers\\etc"),
    ("ControlSet001\\Control\\ComputerName\\ComputerName", "ComputerName"): ("string", "MININT-4711"),
    ("Setup", "SetupType"): ("dword", 0),
    ("Setup", "SystemSetupInProgress"): ("dword", 0),
}


def _hivex_value(kind: str, data) -> str:
    if kind == "dword":
        return f"dword:0x{data:08x}"
    if kind == "string":
        return f"string:{data}"
    if kind == "expand":
        return f"expandstring:{data}"
    if kind == "multi":
        raw = b"".join(s.encode("utf-16-le") + b"\0\0" for s in data) + b"\0\0"
        return "hex:7:" + ",".join(f"{b:02x}" for b in raw)
    raise ValueError(kind)


def make_system_hive(path: Path, *, extra_control_sets: int = 1) -> Path:
    """A SYSTEM hive with EXISTING_SYSTEM_VALUES (and ControlSet002 as a decoy), written by hivex."""
    path.write_bytes(empty_hive_bytes())
    by_key: dict[str, list[tuple[str, str, object]]] = {}
    for (key, name), (kind, data) in EXISTING_SYSTEM_VALUES.items():
        by_key.setdefault(key, []).append((name, kind, data))
    keys = set(by_key)
    keys.update({"ControlSet001\\Control\\Lsa\\Kerberos", "ControlSet001\\Services\\Tcpip",
                 "ControlSet001\\Enum"})
    for n in range(2, 2 + extra_control_sets):
        keys.add(f"ControlSet{n:03d}\\Control\\Lsa")
    all_keys: set[str] = set()
    for k in keys:
        parts = k.split("\\")
        for i in range(1, len(parts) + 1):
            all_keys.add("\\".join(parts[:i]))
    lines = []
    for k in sorted(all_keys, key=lambda s: (s.count("\\"), s)):
        parent, _, leaf = k.rpartition("\\")
        lines.append(f"cd \\{parent}" if parent else "cd \\")
        lines.append(f"add {leaf}")
    for k, vals in sorted(by_key.items()):
        lines.append(f"cd \\{k}")
        lines.append(f"setval {len(vals)}")
        for name, kind, data in vals:
            lines.append(name)
            lines.append(_hivex_value(kind, data))
    hivexsh_script(path, "\n".join(lines))
    return path


# --- independent readers ------------------------------------------------------------------------

def parse_reg_text(text: str) -> dict[str, dict[str, tuple[str, object]]]:
    """A .reg export -> {key path (after the first component): {value name: (kind, data)}}.

    kind: 'sz' (str), 'dword' (int), 'hex' (type number, bytes). Handles continuation lines and
    the \\\\ and \\" escapes of string values.
    """
    out: dict[str, dict[str, tuple[str, object]]] = {}
    current = None
    logical: list[str] = []
    buf = ""
    # reged -x writes a zero-length binary value as 'hex:' without a line break: split it off
    text = re.sub(r'=hex(\([0-9a-f]+\))?:(?="|@)', lambda m: m.group(0) + "\n", text)
    for line in text.splitlines():
        if buf:
            buf += line.strip()
        else:
            buf = line
        if buf.endswith("\\") and not buf.startswith("["):
            buf = buf[:-1]
            continue
        logical.append(buf)
        buf = ""
    for line in logical:
        if line.startswith("[") and line.endswith("]"):
            path = line[1:-1]
            current = out.setdefault(path, {})
            continue
        if current is None or "=" not in line:
            continue
        if line.startswith("@="):
            name, rhs = "", line[2:]
        else:
            assert line.startswith('"'), line
            i, name_chars = 1, []
            while line[i] != '"':
                if line[i] == "\\":
                    i += 1
                name_chars.append(line[i])
                i += 1
            name = "".join(name_chars)
            rhs = line[i + 2:]
        typed = None
        if rhs.startswith("str(") and '):"' in rhs:          # hivexget: str(2):"..." for REG_EXPAND_SZ
            typed, rhs = int(rhs[4:rhs.index(")")], 16), rhs[rhs.index(":") + 1:]
        if rhs.startswith('"'):
            body = rhs[1:-1]
            s, i = [], 0
            while i < len(body):
                if body[i] == "\\" and i + 1 < len(body):
                    i += 1
                s.append(body[i])
                i += 1
            current[name] = ("sz", "".join(s)) if typed is None else ("str", (typed, "".join(s)))
        elif rhs.startswith("dword:"):
            current[name] = ("dword", int(rhs[6:], 16))
        elif rhs.startswith("hex"):
            head, _, hexes = rhs.partition(":")
            vtype = 3 if head == "hex" else int(head[4:-1], 16)
            data = bytes(int(h, 16) for h in hexes.split(",") if h.strip())
            current[name] = ("hex", (vtype, data))
        else:
            raise AssertionError(f"unparsed .reg line: {line}")
    return out


def hivexget_values(hive: Path, key: str) -> dict[str, tuple[str, object]]:
    r = subprocess.run(["hivexget", str(hive), key], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    parsed = parse_reg_text("[K]\n" + r.stdout.decode("utf-8")).get("K", {})
    if "@" in parsed:                     # hivexget prints the default value as "@"=...
        parsed[""] = parsed.pop("@")
    return parsed


def reged_export(hive: Path, tmp: Path) -> dict[str, dict[str, tuple[str, object]]]:
    out = tmp / f"reged-{os.getpid()}-{len(list(tmp.iterdir()))}.reg"
    r = subprocess.run(["reged", "-x", str(hive), "HKEY_LOCAL_MACHINE\\SYSTEM", "\\", str(out)],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout[-2000:]
    text = out.read_bytes().decode("utf-8")
    prefix = "HKEY_LOCAL_MACHINE\\SYSTEM"
    return {k[len(prefix) + 1:] if k.startswith(prefix + "\\") else "": v
            for k, v in parse_reg_text(text).items()}


def regipy_values(hive: Path, key: str) -> dict[str, tuple[int, object]]:
    from regipy.registry import RegistryHive
    reg = RegistryHive(str(hive))
    k = reg.get_key("\\" + key)
    return {v.name: (v.value_type, v.value) for v in k.iter_values(trim_values=False)}


def normalize(kind_data) -> tuple[int, bytes | str | int]:
    """A reader's (kind, data) -> (type number, comparable data) for .reg-style tuples."""
    kind, data = kind_data
    if kind == "sz":
        return 1, data
    if kind == "dword":
        return 4, data
    if kind == "str":
        return data
    vtype, raw = data
    if vtype in (1, 2):
        return vtype, raw.decode("utf-16-le").split("\x00")[0]
    if vtype == 4:
        return 4, struct.unpack("<I", raw)[0]
    return vtype, raw
