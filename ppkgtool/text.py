"""Text from packages shown safely (issue 17): untrusted names and values may hold control
characters (ESC sequences would drive the terminal) and lone UTF-16 surrogates (not writable as
UTF-8). ``safe_text`` shows both escaped; the CLI applies it to everything it prints, the library to
text it must write in UTF-8."""

from __future__ import annotations

import re

SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def safe_text(text: str) -> str:
    """``text`` printable on any terminal: control characters and lone surrogates as \\xNN / \\udXXX."""
    def esc(m: re.Match) -> str:
        c = ord(m.group())
        return f"\\u{c:04x}" if c > 0xff else f"\\x{c:02x}"
    return _CONTROL_RE.sub(esc, text)


def has_surrogate(text: str) -> bool:
    return SURROGATE_RE.search(text) is not None


def quoted(text: str) -> str:
    """``text`` in quotes for a message, each character once: a Windows path ``C:\\x\\app.msi`` reads
    as typed (``repr()`` would double every backslash), control characters escaped (safe_text)."""
    return f"'{safe_text(str(text))}'"
