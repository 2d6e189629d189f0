"""What cryptography says about odd certificates, as report lines instead of Python warnings.

cryptography parses certificates that break RFC 5280 but that Windows accepts, and says so with a
Python warning (CryptographyDeprecationWarning, UserWarning) printed on stderr in Python's own
form (``/…/catalog.py:345: CryptographyDeprecationWarning: …`` plus a source line). Real driver
catalogs hold such certificates (corpus/cat in the fixtures: Qualcomm's MSM8994 catalogs carry a
certificate with a negative serial number and a name attribute of 73 characters). Where ppkgtool
parses a certificate from a file it was given, ``collect_notes`` turns each of these warnings into
one line of the report (verify's notes, inspect's warnings), worded for a user and naming the
certificate, and nothing reaches stderr by Python's warning machinery.

``warnings.catch_warnings`` changes process-wide state: the commands that parse catalogs and
package certificates do so on their main thread.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from typing import Iterator

#: cryptography's wording -> ours (what it means for the user); others are shown as cryptography words them
_KNOWN = (
    (re.compile(r"serial number which wasn't positive", re.I),
     "its serial number is negative or zero, which RFC 5280 disallows (Windows accepts it; a future "
     "cryptography release may refuse to read it)"),
    (re.compile(r"Attribute's length must be >= (\d+) and <= (\d+), but it was (\d+)", re.I),
     r"a name attribute is \3 characters long, more than the \2 RFC 5280 allows (Windows accepts it)"),
)


def note_text(message: str) -> str:
    """A cryptography warning as a phrase of our report."""
    text = " ".join(str(message).split())
    for pattern, ours in _KNOWN:
        m = pattern.search(text)
        if m:
            return m.expand(ours)
    return text


@contextlib.contextmanager
def collect_notes(notes: list[str], what: str | None = None) -> Iterator[None]:
    """Run the block with cryptography's warnings recorded: each becomes ``"<what>: <note>"`` (or
    the note alone) in ``notes``, once; none is printed. Other warnings pass through unchanged."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if not _from_cryptography(w):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
            continue
        line = f"{what}: {note_text(str(w.message))}" if what else note_text(str(w.message))
        if line not in notes:
            notes.append(line)


def _from_cryptography(w: warnings.WarningMessage) -> bool:
    category = w.category
    if category.__module__.startswith("cryptography"):
        return True
    # cryptography's Rust layer raises plain UserWarnings about names; they are attributed to the
    # line of ours that touched the certificate, so recognise them by their words
    return issubclass(category, UserWarning) and any(p.search(str(w.message)) for p, _ in _KNOWN)
