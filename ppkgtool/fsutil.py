"""File output policy shared by every command: atomic writes, no silent overwrite, private modes.

Library modules that produce bytes do not write files themselves; the CLI and the workflow layers
call these helpers so that the policy lives in one place.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from ppkgtool.errors import InvalidInputError, NotRegularOutputError, OutputExistsError

PRIVATE_MODE = 0o600


def _kind(path: Path, st: os.stat_result) -> str:
    """What a file that is not a regular file is, in words."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            return f"a symbolic link (to {os.readlink(path)})"
        except OSError:
            return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_non_regular(path: str | os.PathLike[str]) -> os.stat_result | None:
    """The rule for every output: the final path is absent or a regular file. A symbolic link (even
    one to a regular file), a device such as /dev/null, a FIFO, a socket or a folder is refused, with
    and without --overwrite - replacing it would follow it, block on it, or destroy it. (The folders
    leading to the path may be symbolic links.) Returns the path's lstat, or None if it is absent."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None          # a part of the path is a file: creating the output reports it
    if stat.S_ISREG(st.st_mode):
        return st
    kind = _kind(p, st)
    hint = ("give the path of the file to write (e.g. a name inside that folder); --overwrite never replaces a "
            "folder" if stat.S_ISDIR(st.st_mode) else
            "remove it or give another path; --overwrite replaces only regular files")
    raise NotRegularOutputError(f"{p} is {kind}, not a regular file; refusing to replace it", where=str(p), hint=hint)


def check_writable(path: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse an existing output unless ``overwrite``; return the path. Anything but a regular file
    (refuse_non_regular) is refused with and without ``overwrite``."""
    p = Path(path)
    if refuse_non_regular(p) is not None and not overwrite:
        raise OutputExistsError(f"{p} already exists", hint="pass --overwrite to replace it")
    return p


#: Temporaries are named ``.<name>.ppkgtool-<pid>-<random>.tmp`` beside their output (and
#: ``….old`` for the previous file kept while a set of outputs is replaced), always mode 0600.
TEMP_TAG = ".ppkgtool-"
_FULL_DISK = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
log = logging.getLogger("ppkgtool")


class OutputWriteError(InvalidInputError):
    """An output could not be written (full disk, quota, read-only file system): nothing replaced."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries a killed run left beside ``path`` (their process is gone); report them."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    removed = []
    prefix = f".{p.name}{TEMP_TAG}"
    with contextlib.suppress(OSError):
        for entry in os.scandir(parent):
            name = entry.name
            if not name.startswith(prefix) or not name.endswith((".tmp", ".old")):
                continue
            pid = name[len(prefix):].split("-", 1)[0]
            if not pid.isdigit() or _pid_alive(int(pid)) or not entry.is_file(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
                log.warning("removed %s, left by an interrupted ppkgtool run", entry.path)
    return removed


class _Staged:
    def __init__(self, path: Path, overwrite: bool, private: bool, like: os.stat_result | None = None):
        self.path, self.overwrite, self.private, self.like = path, overwrite, private, like
        self.parent = path.parent if str(path.parent) else Path(".")
        self.tmp: str | None = None
        self.old: str | None = None
        self.placed = False


class OutputSet:
    """Outputs that are replaced together (a package and its .cat; a package and its blob).

    Each is written to a temporary beside it (0600, recognisable name); nothing is renamed until
    every one is complete and fsync'd. ``commit`` then renames them in the order they were opened
    (the catalog last), keeping the previous files as ``….old`` links until all are in place: a
    failure part-way puts the previous files back, so either all outputs are new or all are old.
    On any exception (including KeyboardInterrupt and SystemExit, which the CLI raises for
    SIGTERM) every temporary is removed. Stale temporaries of a killed run on the same outputs are
    removed when the next run opens them.
    """

    def __init__(self) -> None:
        self._staged: list[_Staged] = []

    @contextlib.contextmanager
    def open(self, path: str | os.PathLike[str], *, overwrite: bool = False,
             private: bool = False, like: os.stat_result | None = None) -> Iterator[BinaryIO]:
        """``like``: the file being replaced keeps its mode and owner (an offline hive)."""
        p = check_writable(path, overwrite=overwrite)
        st = _Staged(p, overwrite, private, like)
        st.parent.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(p)
        fd, st.tmp = tempfile.mkstemp(prefix=f".{p.name}{TEMP_TAG}{os.getpid()}-", suffix=".tmp", dir=st.parent)
        self._staged.append(st)
        with os.fdopen(fd, "wb") as fh:         # mkstemp: mode 0600 until commit
            try:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
                _drop_cached_pages(fh.fileno())
            except OSError as exc:
                raise _write_error(p, exc) from None

    def commit(self) -> None:
        done: list[_Staged] = []
        try:
            for st in self._staged:
                _commit_one(st)
                done.append(st)
        except BaseException:
            for st in reversed(done):
                _roll_back(st)
            raise
        finally:
            self.discard()
        for parent in dict.fromkeys(st.parent for st in done):
            _fsync_dir(parent)

    def discard(self) -> None:
        for st in self._staged:
            for name in (st.tmp, st.old):
                if name:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name)
            st.tmp = st.old = None
        self._staged = []


def _write_error(p: Path, exc: OSError) -> Exception:
    if exc.errno in _FULL_DISK:
        return OutputWriteError(f"cannot write {p}: {exc.strerror or exc}", hint="nothing was replaced; free space "
                                "on that file system (or choose another -o) and run again")
    return exc


def _commit_one(st: _Staged) -> None:
    """Give the temporary its final mode and put it in place (keeping the previous file as .old)."""
    if st.like is not None:
        with contextlib.suppress(PermissionError):     # not root: the owner stays ours
            os.chown(st.tmp, st.like.st_uid, st.like.st_gid)
        os.chmod(st.tmp, stat.S_IMODE(st.like.st_mode))
    else:
        os.chmod(st.tmp, PRIVATE_MODE if st.private else 0o644 & ~_umask())
    p = st.path
    if st.overwrite:
        if refuse_non_regular(p) is not None:    # again: it may have changed while the output was made
            st.old = f"{st.tmp[:-4]}.old"
            try:
                os.link(p, st.old, follow_symlinks=False)
            except OSError:
                st.old = None            # no hard links (FAT): replaced without a way back
        os.replace(st.tmp, p)
    else:
        try:
            os.link(st.tmp, p)           # fails if p appeared meanwhile: never clobber
        except FileExistsError:
            raise OutputExistsError(f"{p} already exists", hint="pass --overwrite to replace it") from None
        except OSError:
            if os.path.lexists(p):
                raise OutputExistsError(f"{p} already exists", hint="pass --overwrite to replace it") from None
            os.replace(st.tmp, p)        # file systems without hard links (FAT, some FUSE)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(st.tmp)
    st.tmp = None
    st.placed = True


def _roll_back(st: _Staged) -> None:
    with contextlib.suppress(OSError):
        if st.old:
            os.replace(st.old, st.path)
            st.old = None
        elif st.placed:
            os.unlink(st.path)


@contextlib.contextmanager
def output_set() -> Iterator[OutputSet]:
    """``with output_set() as outs: with outs.open(a) as fa: …; with outs.open(b) as fb: …`` —
    committed together when the block ends, discarded on any exception."""
    outs = OutputSet()
    try:
        yield outs
    except BaseException:
        outs.discard()
        raise
    outs.commit()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False,
                  private: bool = False) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it into place.

    On any exception the temporary file is removed and ``path`` is left as it was. With
    ``overwrite=False`` an existing ``path`` is never replaced (checked before and, with a hard
    link, race-free at the end). ``private`` creates the file with mode 0600 (secrets).
    A full disk is an OutputWriteError (exit 3). One output of an OutputSet.
    """
    with output_set() as outs, outs.open(path, overwrite=overwrite, private=private) as fh:
        yield fh


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False,
                       private: bool = False) -> Path:
    with atomic_output(path, overwrite=overwrite, private=private) as fh:
        fh.write(data)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: Outputs at least this large have their (clean, durable) pages dropped from the page cache.
DROP_CACHE_BYTES = 4 << 20


def _drop_cached_pages(fd: int) -> None:
    """Drop a just-fsync'd output's pages from the page cache (POSIX_FADV_DONTNEED).

    Bulk runs write gigabytes of packages that this process never reads again. Left cached they
    push out other data, and every new page the kernel hands out for the next package costs more
    than reusing one just dropped: on the 2-core VM of bench/ a 48 MiB write took 11 ms with this
    and 112 ms without, once a few hundred MiB had been written (bench/results/bulk.md).
    The data is already on disk, so nothing is lost; best effort where the call does not exist.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_size >= DROP_CACHE_BYTES:
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


#: EarlyWriteback starts the disk writes of every this many bytes written.
WRITEBACK_STEP = 8 << 20

#: The most bytes one write() of a large output (a package, an extracted file, an encrypted or
#: decrypted package) hands to the kernel. Linux gives a write the page-cache folios its length
#: allows (up to 2 MiB); on the 2-core VM of bench/ a 256 MiB file written in 2 MiB writes took
#: 0.08 s in most runs and 0.44-0.54 s in one of four (system time: fresh huge folios), in 1 MiB
#: writes up to 0.17 s, and in 256 KiB writes 0.07-0.10 s every time (bench/results/commands.md).
WRITE_BLOCK = 256 << 10


def write_blocks(write, data) -> None:
    """``write(piece)`` for every WRITE_BLOCK piece of ``data`` (bytes-like), in order; ``write``
    writes a piece whole (a buffered file's write) or returns how much it wrote (os.write with a
    descriptor bound: the rest is written again)."""
    view = memoryview(data).cast("B")
    n = len(view)
    i = 0
    while i < n:
        end = min(n, i + WRITE_BLOCK)
        done = write(view[i:end])
        i = end if done is None else i + done
        if done == 0:
            raise OSError(errno.EIO, "write() wrote nothing")


class EarlyWriteback:
    """A file being written front to back (a package, an encrypted package) whose written data
    starts going to disk while the rest is still being produced, so that the fsync at the end
    (atomic_output) finds little left to write: on the 2-core VM of bench/ writing 256 MiB and
    fsyncing it took 0.07 s this way instead of 0.11 s.

    Every WRITEBACK_STEP bytes, POSIX_FADV_DONTNEED is advised on the step just written: Linux
    starts its writeback without waiting for it, and drops nothing (the pages are still dirty, so
    they stay cached until atomic_output decides, after the fsync). Data reaches the file in
    WRITE_BLOCK writes. The data's digests are computed before it is written
    (digests.HashingWriter), so nothing is read back. Best effort; other calls go to the file.
    """

    def __init__(self, fh: BinaryIO, step: int = WRITEBACK_STEP):
        self._fh = fh
        self._step = step
        self._pos = 0
        self._mark = 0           # the start of the step being written
        self._previous = 0       # the start of the step whose writeback was started last
        self._clean = 0          # everything before this was advised twice (dropped if clean)
        self._advise = getattr(os, "posix_fadvise", None)
        try:
            self._fd = fh.fileno()
        except (OSError, AttributeError, ValueError):
            self._advise = None

    def write(self, data) -> int:
        n = len(data)
        write_blocks(self._fh.write, data)
        self._pos += n
        if self._advise is not None and self._pos - self._mark >= self._step:
            self._fh.flush()
            with contextlib.suppress(OSError):
                self._advise(self._fd, self._mark, self._pos - self._mark, os.POSIX_FADV_DONTNEED)
                # the step before the previous one has been written back meanwhile: advising it
                # again drops its clean pages now, while the output is produced, instead of in
                # one go after the fsync (_drop_cached_pages: 20 ms for 256 MiB on the bench VM)
                if self._clean < self._previous:
                    self._advise(self._fd, self._clean, self._previous - self._clean, os.POSIX_FADV_DONTNEED)
                    self._clean = self._previous
            self._previous = self._mark
            self._mark = self._pos
        return n

    def __getattr__(self, name):
        return getattr(self._fh, name)


@contextlib.contextmanager
def large_output(path: str | os.PathLike[str], *, overwrite: bool = False,
                 private: bool = False) -> Iterator[EarlyWriteback]:
    """atomic_output for an output written front to back in large pieces (EarlyWriteback)."""
    with atomic_output(path, overwrite=overwrite, private=private) as fh:
        yield EarlyWriteback(fh)


def read_at_most(fh: BinaryIO, limit: int, chunk: int = 1 << 20) -> bytes:
    """Up to ``limit + 1`` bytes of ``fh`` (one more than allowed tells the caller it is too large),
    read in pieces: ``fh.read(limit + 1)`` would allocate the whole limit up front for every file."""
    parts: list[bytes] = []
    left = limit + 1
    while left > 0:
        block = fh.read(min(chunk, left))
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


def require_file(path: str | os.PathLike[str], what: str = "package file") -> Path:
    """``path`` as a Path if it is a file; else an InvalidInputError that says what it is instead
    (missing, or a folder) - one wording for every command that takes a package."""
    from ppkgtool.errors import FormatError
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        raise FormatError(f"is a folder, not a {what}", where=str(p), hint=f"give the {what} itself")
    if not p.exists():
        raise FormatError(f"no such {what}", where=str(p))
    raise FormatError(f"not a regular file (a device, socket or pipe), not a {what}", where=str(p))
