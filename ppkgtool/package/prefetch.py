"""A head start for ``ppkgtool build``: hash the large files of ``--asset-dir`` that the
customizations.xml names, on a background thread, while the command imports its modules and
compiles (digests.prefetch_file_digests). The compiler needs each asset's SHA-256 for its folder
name (layout.asset_hash_name) and the WIM its SHA-1 (layout.sha256_of computes both in one read);
with the head start that read happens on the core that is otherwise idle.

This module only guesses which files will be needed, so it stays light (no lxml, no settings
model: it runs before they are imported): a file qualifies when its name, case-folded, occurs in
the text of the customizations.xml, as AssetResolver matches names. A wrong guess costs a read on
the idle core and is stopped once the package is compiled (builder calls digests.stop_prefetch);
the digests themselves are only ever used after file_digests has checked the file's identity.
"""

from __future__ import annotations

import os
from typing import Callable

from ppkgtool.digests import ASSET_ALGORITHMS, prefetch_file_digests

#: Files smaller than this are hashed when needed: the head start is worth a thread only for
#: large assets (installers, images).
PREFETCH_MIN_SIZE = 4 << 20
#: A customizations.xml larger than this is not searched for names (real ones are kilobytes).
MAX_TEXT = 4 << 20
#: At most this many files get a head start (each is held open meanwhile).
MAX_FILES = 64


def _text_of(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "ignore")
    return data.decode("utf-8", "ignore")


def prefetch_assets(customizations: str | os.PathLike, asset_dir: str | os.PathLike | None) -> Callable[[], None]:
    """Start hashing the files of ``asset_dir`` of PREFETCH_MIN_SIZE bytes or more whose names occur
    in ``customizations`` (the first MAX_FILES by name) (a file; a WCD project folder gets no head start); returns a function
    that stops it. Never raises for a missing or unreadable input: the build reports those."""
    nothing: Callable[[], None] = lambda: None  # noqa: E731
    if asset_dir is None:
        return nothing
    try:
        with open(customizations, "rb") as fh:
            data = fh.read(MAX_TEXT + 1)
        if len(data) > MAX_TEXT:
            return nothing
        entries = list(os.scandir(asset_dir))
    except OSError:
        return nothing
    text = _text_of(data).casefold()
    wanted = []
    for e in entries:
        try:
            if e.is_file() and e.stat().st_size >= PREFETCH_MIN_SIZE and e.name.casefold() in text:
                wanted.append(e.path)
        except OSError:
            continue
    if not wanted:
        return nothing
    wanted = sorted(wanted)[:MAX_FILES]
    from ppkgtool.wim import ahead
    if ahead.available():     # digests and WIM resources, in a helper process
        # what the helper and, later, the build itself need is loaded once, before the fork
        from ppkgtool.wim.compression import get_codec
        from ppkgtool.wim.header import PPKG_CHUNK_SIZE
        import ppkgtool.wim.resource  # noqa: F401
        get_codec()
        stop = ahead.start(wanted, PPKG_CHUNK_SIZE)
        if stop is not None:
            return stop
    return prefetch_file_digests(wanted, ASSET_ALGORITHMS)
