"""One WIM image as the analysis reads it: file list, bounded reads, streaming SHA-256."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from ppkgtool.errors import FormatError

MAX_PART_BYTES = 32 * 1024 * 1024     # an XML part larger than this is refused, not read
_HASH_CHUNK = 1024 * 1024


def norm_path(path: str) -> str:
    return "/".join(p for p in str(path).replace("\\", "/").split("/") if p)


class Image:
    """Uniform access to one WIM image: file list, bounded reads, streaming SHA-256."""

    def __init__(self, image):
        self._image = image
        self.entries: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}
        for f in image.files():
            p = norm_path(getattr(f, "path", f))
            self.entries[p] = getattr(f, "path", f)
            self.sizes[p] = int(getattr(f, "size", 0) or 0)
        self._lower = {k.lower(): k for k in self.entries}

    def find(self, path: str) -> str | None:
        p = norm_path(path)
        return p if p in self.entries else self._lower.get(p.lower())

    def read(self, path: str, limit: int = MAX_PART_BYTES) -> bytes:
        p = self.find(path)
        if p is None:
            raise FormatError("missing from the package", where=path)
        if self.sizes.get(p, 0) > limit:
            raise FormatError(f"is {self.sizes[p]} bytes, more than the {limit} read for this part", where=p)
        return self._image.read(self.entries[p])

    def sha256_and_head(self, path: str) -> tuple[str, bytes]:
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
        return h.hexdigest(), head


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

