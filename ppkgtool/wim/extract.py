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
from ppkgtool.fsutil import refuse_non_regular, write_blocks
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
    never followed if they are links). ``progress(path, size)`` is called after each file (files of
    PARALLEL_FILE_BYTES or more are extracted two at a time and may be reported after smaller
    files that follow them; the returned list is in package order). Files
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
        with _Lanes() as lanes:
            _extract_entries(wim, entries, dest, root, lanes, overwrite=overwrite, progress=progress,
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


#: Files at least this large are extracted two at a time, each on a thread of its own with its own
#: hashing thread (compression.hash_async lanes): one stream's SHA-1 runs at about 1.6 GB/s on one
#: core of the bench VM, which bounded `extract` of a 256 MiB package at 0.17 s; two streams at a
#: time use both cores. Smaller files are written on the calling thread meanwhile.
PARALLEL_FILE_BYTES = 4 << 20


class _Lanes:
    """Runs the extraction of large files, at most HASH_LANES at a time, each with a hashing lane
    of its own. ``settle`` waits for them and raises the first failure; leaving the ``with`` block
    after a failure stops the others (at their next piece) and waits for them, so that nothing is
    still being written when a failed run is rolled back."""

    def __enter__(self):
        import queue
        import threading
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        from ppkgtool.wim.compression import HASH_LANES
        self._pool = ThreadPoolExecutor(max_workers=HASH_LANES, thread_name_prefix="extract-file")
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for lane in range(HASH_LANES):
            self._free.put(lane)
        self._width = HASH_LANES
        self._running: deque = deque()
        self.stop = threading.Event()
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            self.stop.set()
        self._pool.shutdown(wait=True)

    def wait_for_lane(self) -> None:
        """Until a lane is free (the first failure of an earlier file is raised here, before the
        next large file is opened)."""
        self.settle(self._width - 1)

    def submit(self, job, done) -> None:
        """Run ``job(lane)`` on a lane thread (call wait_for_lane first); ``done(result)`` here
        once it has finished."""
        def run():
            lane = self._free.get()
            try:
                return job(lane)
            finally:
                self._free.put(lane)
        self._running.append((self._pool.submit(run), done))

    def settle(self, keep: int = 0) -> None:
        while len(self._running) > keep:
            future, done = self._running.popleft()
            done(future.result())


def _write_all(fd: int, piece) -> None:
    write_blocks(lambda view: os.write(fd, view), piece)


def _write_stream(fd: int, pieces, name: str, stop=None) -> int:
    """Write ``pieces`` to ``fd``; the byte count (WimError when a write fails)."""
    size = 0
    try:
        for piece in pieces:
            if stop is not None and stop.is_set():
                raise WimError(f"{name}: not finished (another file of the package failed)")
            _write_all(fd, piece)
            size += len(piece)
    except OSError as exc:
        raise WimError(f"cannot write {name}: {exc.strerror or exc}") from None
    return size


def _finish_file(target: str, d) -> None:
    """Give an extracted file the package's times."""
    mtime = _unix_ns(d.last_write_time)
    if mtime is not None:
        atime = _unix_ns(d.last_access_time) or mtime
        try:
            os.utime(target, ns=(atime, mtime), follow_symlinks=False)
        except (OSError, NotImplementedError, ValueError, OverflowError):
            pass


def _file_job(wim: WimReader, fd: int, target: str, e: Entry, stop):
    """Extract one large file on a lane thread; on any failure the file is removed."""
    def job(lane: int) -> int:
        try:
            size = _write_stream(fd, wim.iter_stream(e.dentry.data_hash, f"{wim.name}:{e.path}", lane=lane),
                                 target, stop)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise
        os.close(fd)
        _finish_file(target, e.dentry)
        return size
    return job


def _extract_entries(wim: WimReader, entries: list[Entry], dest: Path, root: str, lanes: _Lanes, *,
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
                    refuse_non_regular(target)      # a link, device, FIFO or socket stays as it is
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
            refuse_non_regular(target)              # a link, device, FIFO or socket stays as it is
            if not overwrite:
                raise OutputExistsError(f"{target} already exists", hint="pass --overwrite")
            os.unlink(target)
        size = wim.blob_for(d.data_hash, f"{wim.name}:{e.path}").size if d.data_hash != ZERO_HASH else 0
        if size >= PARALLEL_FILE_BYTES:
            lanes.wait_for_lane()
        try:
            fd = os.open(target, _O_FLAGS, 0o600 if e.path.lstrip("/") in private else 0o644)
        except OSError as exc:
            raise WimError(f"cannot create {target}: {exc.strerror}") from None
        written.append(Path(target))     # removed again if the run fails
        if size >= PARALLEL_FILE_BYTES:
            lanes.submit(_file_job(wim, fd, target, e, lanes.stop),
                         (lambda n, path=e.path: progress(path, n)) if progress is not None else lambda n: None)
            continue
        try:
            size = _write_stream(fd, wim.iter_stream(d.data_hash, f"{wim.name}:{e.path}"), target) \
                if d.data_hash != ZERO_HASH else 0
        except BaseException:
            written.pop()
            try:
                os.unlink(target)
            except OSError:
                pass
            raise
        finally:
            os.close(fd)
        _finish_file(target, d)
        if progress is not None:
            progress(e.path, size)
    lanes.settle()
