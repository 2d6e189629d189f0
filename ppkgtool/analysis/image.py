"""One WIM image as the analysis reads it: file list, bounded reads, streaming SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from ppkgtool.errors import FormatError
from ppkgtool.limits import Budget, current as current_budget

_HASH_CHUNK = 1024 * 1024


def norm_path(path: str) -> str:
    return "/".join(p for p in str(path).replace("\\", "/").split("/") if p)


class Image:
    """Uniform access to one WIM image: file list, bounded reads, streaming SHA-256.

    Entries that share one blob (same SHA-1) are read, hashed and parsed once: a package whose
    hundreds of entries name one large blob costs what one entry costs (ppkgtool.limits)."""

    def __init__(self, image, budget: Budget | None = None):
        self._image = image
        self.budget = budget or current_budget()
        self.entries: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}
        self._blob: dict[str, bytes] = {}        # path -> blob id (the SHA-1, else the path itself)
        for f in image.files():
            p = norm_path(getattr(f, "path", f))
            self.entries[p] = getattr(f, "path", f)
            self.sizes[p] = int(getattr(f, "size", 0) or 0)
            sha1 = getattr(f, "sha1", None)
            self._blob[p] = sha1 if isinstance(sha1, bytes) else p.encode()
        self.budget.check_entries(len(self.entries), "package image")
        wim = getattr(image, "wim", None)
        if wim is not None:      # a WIM image: its distinct blobs, against the package's size
            distinct = {self._blob[p]: self.sizes[p] for p in self.entries}
            self.budget.check_expansion(sum(distinct.values()), wim.file_size, f"{wim.name} image {image.index}")
        self._lower = {k.lower(): k for k in self.entries}
        self._data: dict[bytes, bytes] = {}
        self._digests: dict[bytes, tuple[str, bytes]] = {}
        self._parsed: dict[tuple, Any] = {}

    def find(self, path: str) -> str | None:
        p = norm_path(path)
        return p if p in self.entries else self._lower.get(p.lower())

    def read(self, path: str, limit: int | None = None) -> bytes:
        p = self.find(path)
        if p is None:
            raise FormatError("missing from the package", where=path)
        size = self.sizes.get(p, 0)
        if limit is None:
            self.budget.check_part(size, p)
        elif size > limit:
            raise FormatError(f"is {size} bytes, more than the {limit} read for this part", where=p)
        key = self._blob[p]
        data = self._data.get(key)
        if data is None:
            data = self._data[key] = self._image.read(self.entries[p])
        return data

    def parsed(self, path: str, parse, *args):
        """``parse(self.read(path), path, *args)``, once per distinct blob and arguments; a
        FormatError is remembered as well (it names the first entry that held the blob)."""
        p = self.find(path) or path
        key = (self._blob.get(p, p.encode()), parse, args)
        hit = self._parsed.get(key)
        if hit is None:
            try:
                hit = (True, parse(self.read(p), p, *args))
            except FormatError as exc:
                hit = (False, exc)
            self._parsed[key] = hit
        if not hit[0]:
            raise hit[1]
        return hit[1]

    def sha256_and_head(self, path: str) -> tuple[str, bytes]:
        key = self._blob.get(path, path.encode())
        hit = self._digests.get(key)
        if hit is not None:
            return hit
        h = hashlib.sha256()
        head = b""
        opener = getattr(self._image, "open", None)
        if opener is not None:
            with contextlib.closing(opener(self.entries[path])) as fh:
                while True:
                    chunk = fh.read(_HASH_CHUNK)
                    if not chunk:
                        break
                    if not head:
                        head = chunk[:16]
                    h.update(chunk)
        else:
            data = self._image.read(self.entries[path])
            head = data[:16]
            h.update(data)
        hit = self._digests[key] = (h.hexdigest(), head)
        return hit


class Files:
    """A file mapping (a compiled PackageTree's bytes) seen as a WIM image by Image."""

    def __init__(self, files: dict):
        self._files = {p: v for p, v in files.items() if isinstance(v, bytes)}

    def files(self):
        return [type("F", (), {"path": p, "size": len(v)})() for p, v in self._files.items()]

    def read(self, path: str) -> bytes:
        return self._files[path]


class Folder:
    """An extracted package tree (a folder) seen as a WIM image by Image (``pack`` reads it so)."""

    def __init__(self, root):
        self._root = Path(root)

    def files(self):
        out = []
        for f in sorted(self._root.rglob("*")):
            if f.is_file() and not f.is_symlink():
                out.append(type("F", (), {"path": f.relative_to(self._root).as_posix(), "size": f.stat().st_size})())
        return out

    def read(self, path: str) -> bytes:
        return (self._root / path).read_bytes()

