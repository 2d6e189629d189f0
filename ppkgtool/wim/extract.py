"""Safe extraction of a WIM image into a folder.

Nothing from the package is trusted: every name is checked as a single path component
(safepath.check_component), reparse points (symbolic links, junctions) are refused, names that
differ only in case are refused (they would overwrite each other on Windows and macOS), and the
whole tree is checked before the first byte is written. Files are created with O_EXCL and
O_NOFOLLOW; every parent folder is verified to be a real directory inside the target.
Named data streams are not extracted (as wimlib does on Linux).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ppkgtool.errors import OutputExistsError, UnsafePathError, WimError
from ppkgtool.fsutil import write_blocks
from ppkgtool.wim.dentry import ZERO_HASH
from ppkgtool.wim.reader import Entry, WimReader
from ppkgtool.wim.safepath import check_component

FILETIME_EPOCH_OFFSET = 116444736000000000
_O_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def check_image_paths(entries: list[Entry]) -> None:
    """Raise UnsafePathError for the first entry that could not be extracted safely."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for e in entries:
        for comp in e.parts:
            check_component(comp, where=f"package entry {e.path!r}")
        if e.dentry.is_reparse_point:
            raise UnsafePathError(f"package entry {e.path!r} is a link (reparse point 0x{e.dentry.reparse_tag:08x}); "
                                  "links are never extracted")
        siblings = seen.setdefault(e.parts[:-1], set())
        key = e.parts[-1].casefold()
        if key in siblings:
            raise UnsafePathError(f"package entry {e.path!r} duplicates another name in its folder "
                                  "(names compare ignoring case)")
        siblings.add(key)


def _is_real_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _unix_ns(ft: int) -> int | None:
    if ft <= FILETIME_EPOCH_OFFSET:
        return None
    return (ft - FILETIME_EPOCH_OFFSET) * 100


def extract_image(wim: WimReader, dest_dir: str | os.PathLike, image: int = 1, *,
                  overwrite: bool = False, progress=None, private=frozenset()) -> list[Path]:
    """Extract every file of ``image`` into ``dest_dir``; return the written file paths.

    A non-empty ``dest_dir`` is refused unless ``overwrite`` (then existing files are replaced,
    never followed if they are links). ``progress(path, size)`` is called after each file. Files
    whose package path (``Multivariant/0/…``, no leading slash) is in ``private`` are created 0600
    (they hold secrets: analysis.compiled.secret_paths), the others 0644.
    """
    img = wim.image(image)
    entries = img.entries()
    check_image_paths(entries)
    # the whole budget is checked before the first byte is written (ppkgtool.limits)
    total = 0
    for e in entries:
        h = e.dentry.data_hash
        if not e.dentry.is_directory and h != ZERO_HASH:
            total += wim.blob_for(h, f"{wim.name}:{e.path}").size
    wim.budget.check_expansion(total, wim.file_size, f"{wim.name} image {image}")
    dest = Path(dest_dir)
    if dest.exists() or dest.is_symlink():
        if not _is_real_dir(str(dest)):
            raise OutputExistsError(f"{dest} exists and is not a folder")
        if any(dest.iterdir()) and not overwrite:
            raise OutputExistsError(f"{dest} is not empty", hint="pass --overwrite to extract into it anyway")
    created: list[str] = [] if dest.exists() else [str(dest)]
    written: list[Path] = []
    dest.mkdir(parents=True, exist_ok=True)
    root = os.path.realpath(dest)
    try:
        with _OverlappedWriter() as writer:
            _extract_entries(wim, entries, dest, root, writer, overwrite=overwrite, progress=progress,
                             private=private, written=written, created=created)
    except BaseException:
        # a failed or interrupted extraction (a full disk, a bad blob, Ctrl-C) takes back what it
        # wrote: the files and folders this run created; files replaced under --overwrite are gone
        for f in reversed(written):
            with contextlib.suppress(OSError):
                os.unlink(f)
        for d in reversed(created):
            with contextlib.suppress(OSError):
                os.rmdir(d)
        raise
    return written


#: Pieces smaller than this are written on the calling thread (most package files are one small piece).
INLINE_WRITE_BYTES = 256 * 1024


class _OverlappedWriter:
    """Writes a file's pieces on a thread of its own while the next pieces are read, hashed and
    decompressed (reader.iter_stream), at most a few pieces behind; each piece (the reader's
    batches: 2 MiB) is written in fsutil.WRITE_BLOCK writes."""

    AHEAD = 3

    def __enter__(self):
        from concurrent.futures import ThreadPoolExecutor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="extract-write")
        return self

    def __exit__(self, *exc):
        self._pool.shutdown(wait=True)

    @staticmethod
    def _write_all(fd: int, piece) -> None:
        write_blocks(lambda view: os.write(fd, view), piece)

    def write_file(self, fd: int, pieces, name: str) -> int:
        """Write ``pieces`` to ``fd``; the byte count. Every write is finished when this returns
        or raises (the caller then closes or removes the file)."""
        pending: list = []
        size = 0
        try:
            for piece in pieces:
                if not pending and len(piece) < INLINE_WRITE_BYTES:   # small files: no hand-over
                    self._write_all(fd, piece)
                    size += len(piece)
                    continue
                pending.append(self._pool.submit(self._write_all, fd, piece))
                size += len(piece)
                if len(pending) > self.AHEAD:
                    pending.pop(0).result()
            for f in pending:
                f.result()
            pending = []
        except OSError as exc:
            raise WimError(f"cannot write {name}: {exc.strerror or exc}") from None
        finally:
            for f in pending:
                f.cancel()
            for f in pending:
                if not f.cancelled():
                    try:
                        f.result()
                    except Exception:       # the first error is the one raised
                        pass
        return size


def _extract_entries(wim: WimReader, entries: list[Entry], dest: Path, root: str, writer: _OverlappedWriter, *,
                     overwrite: bool, progress, private, written: list[Path], created: list[str]) -> None:
    for e in entries:
        target = os.path.join(root, *e.parts)
        parent = os.path.dirname(target)
        real_parent = os.path.realpath(parent)
        if real_parent != root and not real_parent.startswith(root + os.sep):
            raise UnsafePathError(f"package entry {e.path!r} would be written outside {dest}")
        d = e.dentry
        if d.is_directory:
            if os.path.lexists(target):
                if not _is_real_dir(target):
                    if not overwrite:
                        raise OutputExistsError(f"{target} exists and is not a folder")
                    os.unlink(target)
                    os.mkdir(target)
            else:
                os.mkdir(target)
                created.append(target)
            continue
        if not _is_real_dir(parent):
            raise UnsafePathError(f"the folder of {e.path!r} is not a real directory")
        if os.path.lexists(target):
            if _is_real_dir(target):
                raise OutputExistsError(f"{target} is a folder; cannot write the file {e.path!r}")
            if not overwrite:
                raise OutputExistsError(f"{target} already exists", hint="pass --overwrite")
            os.unlink(target)
        try:
            fd = os.open(target, _O_FLAGS, 0o600 if e.path.lstrip("/") in private else 0o644)
        except OSError as exc:
            raise WimError(f"cannot create {target}: {exc.strerror}") from None
        try:
            size = writer.write_file(fd, wim.iter_stream(d.data_hash, f"{wim.name}:{e.path}"), target) \
                if d.data_hash != ZERO_HASH else 0
        except BaseException:
            try:
                os.unlink(target)
            except OSError:
                pass
            raise
        finally:
            os.close(fd)
        mtime = _unix_ns(d.last_write_time)
        if mtime is not None:
            atime = _unix_ns(d.last_access_time) or mtime
            try:
                os.utime(target, ns=(atime, mtime), follow_symlinks=False)
            except (OSError, NotImplementedError, ValueError, OverflowError):
                pass
        written.append(Path(target))
        if progress is not None:
            progress(e.path, size)
