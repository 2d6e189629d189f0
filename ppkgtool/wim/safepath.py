"""Checks on path names that come from a package (never trusted on extract) or go into one.

A name taken from a WIM dentry becomes one path component on the local file system only if it is
a plain file name on every OS ppkgtool runs on: not empty, not "." or "..", no separators ("/",
"\\"), no drive or stream colon, no NUL or other control characters, no Windows device name
(CON, PRN, AUX, NUL, COM1-9, LPT1-9, CONIN$, CONOUT$, with or without an extension), no trailing
dot or space (Windows would silently strip them and alias another name), at most 255 characters.
"""

from __future__ import annotations

import functools
import re

from ppkgtool.errors import UnsafePathError

MAX_COMPONENT = 255
MAX_PATH_COMPONENTS = 128

_DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"} | \
    {f"COM{i}" for i in "123456789¹²³"} | {f"LPT{i}" for i in "123456789¹²³"}
_FORBIDDEN = re.compile(r'[\x00-\x1f<>:"/\\|?*]')
# fast path: no forbidden character or surrogate anywhere, last character not "." or " "
_SAFE = re.compile('[^\x00-\x1f<>:"/\\\\|?*\ud800-\udfff]*[^\x00-\x1f<>:"/\\\\|?*\ud800-\udfff. ]\\Z')


@functools.lru_cache(maxsize=8192)
def _is_plain(name: str) -> bool:
    return bool(len(name) <= MAX_COMPONENT and _SAFE.match(name)
                and name.split(".", 1)[0].rstrip(" ").upper() not in _DEVICE_NAMES)


def check_component(name: str, *, where: str = "") -> str:
    """Return ``name`` if it is a safe single path component, else raise UnsafePathError."""
    if type(name) is str and _is_plain(name):
        return name
    label = where or repr(name)
    if not isinstance(name, str) or name == "":
        raise UnsafePathError(f"empty file name in {label}")
    if name in (".", ".."):
        raise UnsafePathError(f"path component {name!r} in {label} is refused (it would leave its folder)")
    bad = _FORBIDDEN.search(name)
    if bad:
        ch = bad.group(0)
        what = {"\x00": "a NUL", "/": "a '/' separator", "\\": "a '\\' separator",
                ":": "a ':' (drive letter or stream name)"}.get(ch, f"the character {ch!r}")
        raise UnsafePathError(f"file name {name!r} in {label} contains {what}")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise UnsafePathError(f"file name {name!r} in {label} contains an unpaired surrogate")
    if name[-1] in ". ":
        raise UnsafePathError(f"file name {name!r} in {label} ends with a dot or space (Windows would alias it)")
    stem = name.split(".", 1)[0].rstrip(" ").upper()
    if stem in _DEVICE_NAMES:
        raise UnsafePathError(f"file name {name!r} in {label} is a Windows device name")
    if len(name) > MAX_COMPONENT:
        raise UnsafePathError(f"file name of {len(name)} characters in {label} is too long (limit {MAX_COMPONENT})")
    return name


@functools.lru_cache(maxsize=4096)     # a pure function of the text; bulk builds repeat the same paths
def split_package_path(path: str) -> tuple[str, ...]:
    """Split a package path ("/DataAsset/2/x/app.msi", "DataAsset\\2\\x\\app.msi") into checked
    components. Absolute Windows forms (drive letters, UNC, device paths) and empty, "." or ".."
    components are refused."""
    if not isinstance(path, str):
        raise UnsafePathError(f"package path must be text, not {type(path).__name__}")
    if path[:1] == "/" and "\\" not in path and ":" not in path and "//" not in path:
        parts = path[1:].split("/")     # fast path for the usual "/A/B/c.xml"
        if len(parts) <= MAX_PATH_COMPONENTS:
            for p in parts:
                check_component(p, where=f"package path {path!r}")
            return tuple(parts)
    if "\x00" in path:
        raise UnsafePathError(f"package path {path!r} contains a NUL")
    if re.match(r"^[A-Za-z]:", path) or path.startswith(("\\\\", "//")):
        raise UnsafePathError(f"package path {path!r} has a drive letter or UNC prefix")
    parts = [p for p in re.split(r"[/\\]", path)]
    if parts and parts[0] == "":
        parts = parts[1:]          # one leading separator: rooted in the image
    if not parts or parts == [""]:
        raise UnsafePathError(f"package path {path!r} names no file")
    if len(parts) > MAX_PATH_COMPONENTS:
        raise UnsafePathError(f"package path {path!r} is deeper than {MAX_PATH_COMPONENTS} levels")
    for p in parts:
        check_component(p, where=f"package path {path!r}")
    return tuple(parts)
