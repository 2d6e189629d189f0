"""Large files' WIM resources planned ahead, in a forked helper process (issue 19).

``ppkgtool build`` spends its first tenth of a second importing its modules and compiling the
customizations.xml on one core, and only then reads its large assets: their SHA-256 (the asset's
folder name) and SHA-1, then their compression (resource.plan_resource, both cores). A helper
forked at the start does that work meanwhile, on the other core and with an interpreter of its own
(threads would wait for the main thread's GIL at each of the thousands of chunk calls):

- for each file, in order, the helper sends its digests (digests.ASSET_ALGORITHMS) as soon as
  they are known, then the file's planned resource: flags, sizes, SHA-1 and its pieces — runs of
  the source file (stored raw) and runs of a private memfd spool where the helper wrote the
  compressed chunks and the chunk table. The parent writes those pieces exactly as a plan of its
  own (resource.SpoolRange, resource.SourceRange: the source is checked to be the same file,
  file_identity, when it is read again), so the package is byte-for-byte what the parent would
  have written (tests/test_ahead.py).
- the parent reads the pipe only when it needs an answer (digests.file_digests,
  resource.plan_resource) and uses a plan only for the same file_identity, chunk size, codec and
  level; a helper that fails or dies just leaves the work to the parent.

Used only where it is safe and cheap: Linux (fork, memfd), a process with one thread (fork of a
threaded process can deadlock the child), the native codec, and not with PPKGTOOL_AHEAD=0.
Files the compiled package does not use (package.prefetch guesses) are skipped once the parent
says so (stop: digests.stop_prefetch).

Messages (helper -> parent, little-endian; docs/formats/wim.md, "Planned ahead"): kind (1 byte),
file index (u32), payload length (u32), payload. ``D``: the digests, concatenated in
ASSET_ALGORITHMS order. ``C`` (once, index 0): the codec the plans use, ASCII ``name:level``.
``P``: flags u32, stored u64, usize u64, sha1 (20 bytes), then per piece: kind u8 (0 spool,
1 source), offset u64, length u64. ``F``: this file's plan is not coming (the parent plans it).
Parent -> helper (control pipe): u32 indices of files to skip.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
import threading
from typing import Callable, Sequence

from ppkgtool.digests import (ASSET_ALGORITHMS, announce_digests, file_identity, on_prefetch_stop, remember_digests,
                              settle_digests)

ENV = "PPKGTOOL_AHEAD"
_HEAD = struct.Struct("<cII")
_PLAN = struct.Struct("<IQQ20sI")
_PIECE = struct.Struct("<BQQ")
_SPOOL, _SOURCE = 0, 1


def available() -> bool:
    """Whether a helper may be forked now (see the module's docstring)."""
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and hasattr(os, "memfd_create")
            and threading.active_count() == 1 and os.environ.get(ENV, "1").strip() != "0")


_helper: "_Helper | None" = None


class _Helper:
    def __init__(self, pid: int, rfd: int, ctl: int, spool: int, idents: list[tuple], chunk_size: int):
        self.pid, self.rfd, self.ctl, self.spool = pid, rfd, ctl, spool
        self.idents = idents
        self.chunk_size = chunk_size
        self.codec: tuple | None = None       # (name, level) the helper compresses with
        self.digested: set[int] = set()
        self.plans: dict[int, tuple | None] = {}   # index -> (flags, stored, usize, sha1, pieces) or None
        self.claimed: set[int] = set()
        self.ended = False

    # -- reading the pipe --------------------------------------------------------------------
    def _read_exact(self, n: int) -> bytes | None:
        parts, left = [], n
        while left:
            try:
                got = os.read(self.rfd, left)
            except InterruptedError:
                continue
            except OSError:
                return None
            if not got:
                return None
            parts.append(got)
            left -= len(got)
        return b"".join(parts)

    def _pump_one(self) -> bool:
        """Read one message; False when the helper has ended."""
        if self.ended:
            return False
        head = self._read_exact(_HEAD.size)
        if head is None:
            self._end()
            return False
        kind, index, length = _HEAD.unpack(head)
        payload = self._read_exact(length) if length else b""
        if payload is None or index >= len(self.idents):
            self._end()
            return False
        if kind == b"C":
            name, _, level = payload.decode("ascii").partition(":")
            self.codec = (name, int(level))
        elif kind == b"D":
            self._digests(index, payload)
        elif kind == b"P":
            self.plans[index] = _decode_plan(payload)
        elif kind == b"F":
            self.plans[index] = None
        return True

    def _digests(self, index: int, payload: bytes) -> None:
        import hashlib
        sizes = [hashlib.new(a).digest_size for a in ASSET_ALGORITHMS]
        if len(payload) == sum(sizes):
            digests, at = [], 0
            for s in sizes:
                digests.append(payload[at:at + s])
                at += s
            remember_digests(self.idents[index], ASSET_ALGORITHMS, digests)
        self.digested.add(index)
        settle_digests(self.idents[index])

    def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        for i, ident in enumerate(self.idents):
            if i not in self.digested:
                settle_digests(ident)
        for fd in (self.rfd, self.ctl):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.waitpid(self.pid, os.WNOHANG)
        except OSError:
            pass

    def wait_digests(self, index: int) -> None:
        self.claimed.add(index)
        while index not in self.digested and self._pump_one():
            pass

    # -- parent side -------------------------------------------------------------------------
    def take(self, identity: tuple, path, chunk_size: int, codec):
        from ppkgtool.wim.resource import PlannedResource, SourceRange, SpoolRange
        try:
            index = self.idents.index(identity)
        except ValueError:
            return None
        if chunk_size != self.chunk_size:
            return None
        self.claimed.add(index)
        while index not in self.plans and self._pump_one():
            pass
        plan = self.plans.pop(index, None)
        if plan is None or self.codec != (getattr(codec, "name", None), getattr(codec, "compression_level", None)):
            return None
        flags, stored, usize, sha1, raw = plan
        if usize != identity[2]:
            return None
        pieces = tuple(SpoolRange(self.spool, off, n) if kind == _SPOOL else SourceRange(path, identity, off, n)
                       for kind, off, n in raw)
        return PlannedResource(flags, stored, usize, sha1, pieces)

    def stop(self) -> None:
        """Tell the helper to skip the files nobody asked for (a wrong guess of package.prefetch)."""
        if self.ended:
            return
        skip = [i for i in range(len(self.idents)) if i not in self.claimed and i not in self.plans]
        if skip:
            try:
                os.write(self.ctl, struct.pack(f"<{len(skip)}I", *skip))
            except OSError:
                pass

    def kill(self) -> None:
        if not self.ended:
            try:
                os.kill(self.pid, 9)
            except OSError:
                pass
            self._end()
            try:
                os.waitpid(self.pid, 0)
            except OSError:
                pass


def start(paths: Sequence[str | os.PathLike], chunk_size: int) -> Callable[[], None] | None:
    """Fork a helper that digests and plans ``paths`` (regular files) with chunk_size; None when
    ``available()`` is false or nothing could be opened. Returns the stop function (also
    registered with digests.stop_prefetch)."""
    global _helper
    if _helper is not None or not available():
        return None
    files: list[tuple[int, str, tuple]] = []
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            continue
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            continue
        files.append((fd, os.fspath(p), file_identity(st)))
    if not files:
        return None
    try:
        spool = os.memfd_create("ppkgtool-ahead", getattr(os, "MFD_CLOEXEC", 0))
        rfd, wfd = os.pipe()
        crfd, cwfd = os.pipe()
    except OSError:
        for fd, _, _ in files:
            os.close(fd)
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        for fd in (spool, rfd, wfd, crfd, cwfd):
            os.close(fd)
        for fd, _, _ in files:
            os.close(fd)
        return None
    if pid == 0:                                       # the helper
        code = 1
        try:
            _die_with_parent(parent)
            os.close(rfd)
            os.close(cwfd)
            _child(files, chunk_size, spool, wfd, crfd)
            code = 0
        except BaseException:      # noqa: BLE001 - the helper never reports: the parent does the work
            pass
        finally:
            os._exit(code)
    os.close(wfd)
    os.close(crfd)
    for fd, _, _ in files:
        os.close(fd)
    helper = _Helper(pid, rfd, cwfd, spool, [ident for _, _, ident in files], chunk_size)
    _helper = helper
    from ppkgtool.wim import resource
    resource.planned_ahead = take_plan
    for i, (_, _, ident) in enumerate(files):
        announce_digests(ident, lambda i=i: helper.wait_digests(i))
    import atexit
    atexit.register(helper.kill)
    on_prefetch_stop(helper.stop)
    return helper.stop


def take_plan(identity: tuple | None, path, chunk_size: int, codec):
    """The PlannedResource the helper made of the file with this file_identity (compressed, extra
    flags 0), or None: the caller plans it itself."""
    if _helper is None or identity is None:
        return None
    return _helper.take(identity, path, chunk_size, codec)


# -- the helper ----------------------------------------------------------------------------------

def _send(wfd: int, kind: bytes, index: int, payload: bytes = b"") -> None:
    data = _HEAD.pack(kind, index, len(payload)) + payload
    view = memoryview(data)
    while view:
        n = os.write(wfd, view)
        view = view[n:]


def _skipped(crfd: int, skip: set[int]) -> set[int]:
    import select
    while select.select([crfd], [], [], 0)[0]:
        data = os.read(crfd, 4096)
        if not data:
            break
        skip.update(struct.unpack(f"<{len(data) // 4}I", data[:len(data) // 4 * 4]))
    return skip


def _die_with_parent(parent: int) -> None:
    """Have the kernel end the helper when the command ends, however it ends (SIGKILL included):
    prctl(PR_SET_PDEATHSIG, SIGKILL). Best effort; the helper also ends when its pipe breaks."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)    # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:      # the command ended before the call above (re-parented)
        os._exit(0)


def _mapped_digests(fd: int, size: int) -> list[bytes]:
    """ASSET_ALGORITHMS digests of the file, hashed straight from its pages (no copy into a
    buffer). Only the helper maps files: a file cut short while mapped raises SIGBUS, which ends
    the helper (the parent then does the work), where it would end a command."""
    import mmap

    from ppkgtool.digests import buffer_digests
    if size == 0:                   # an empty file cannot be mapped
        return buffer_digests(b"", ASSET_ALGORITHMS)
    with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mm:
        return buffer_digests(mm, ASSET_ALGORITHMS)


def _encode_plan(res, spool: int, spooled: int) -> tuple[bytes, int]:
    """The ``P`` payload of a PlannedResource (its bytes pieces appended to the spool at
    ``spooled``, consecutive ones as one run) and the spool's new end."""
    from ppkgtool.wim.resource import SourceRange
    pieces: list[bytes] = []
    run: list[bytes] = []

    def flush_run() -> None:
        nonlocal spooled
        if run:
            data = b"".join(run)
            run.clear()
            view = memoryview(data)
            while view:
                view = view[os.pwrite(spool, view, spooled + len(data) - len(view)):]
            pieces.append(_PIECE.pack(_SPOOL, spooled, len(data)))
            spooled += len(data)

    for piece in res.pieces:
        if isinstance(piece, SourceRange):
            flush_run()
            pieces.append(_PIECE.pack(_SOURCE, piece.offset, piece.length))
        else:
            run.append(bytes(piece))
    flush_run()
    return _PLAN.pack(res.flags, res.stored, res.usize, res.sha1, len(pieces)) + b"".join(pieces), spooled


def _decode_plan(payload: bytes):
    """(flags, stored, usize, sha1, [(kind, offset, length)]) of a ``P`` payload, or None."""
    if len(payload) < _PLAN.size:
        return None
    flags, stored, usize, sha1, n = _PLAN.unpack_from(payload)
    if len(payload) != _PLAN.size + n * _PIECE.size:
        return None
    pieces = [_PIECE.unpack_from(payload, _PLAN.size + i * _PIECE.size) for i in range(n)]
    return flags, stored, usize, sha1, pieces


def _child(files, chunk_size: int, spool: int, wfd: int, crfd: int) -> None:
    skip: set[int] = set()
    sha1s: dict[int, bytes] = {}
    for index, (fd, path, ident) in enumerate(files):
        if index in _skipped(crfd, skip):
            continue
        digests = _mapped_digests(fd, ident[2])
        if file_identity(os.fstat(fd)) != ident:
            _send(wfd, b"F", index)
            continue
        _send(wfd, b"D", index, b"".join(digests))
        sha1s[index] = digests[ASSET_ALGORITHMS.index("sha1")]
    from ppkgtool.wim.compression import get_codec
    codec = get_codec()
    if codec.name != "native":
        return
    _send(wfd, b"C", 0, f"{codec.name}:{codec.compression_level}".encode("ascii"))
    from ppkgtool.wim.resource import plan_resource
    spooled = 0
    for index, (fd, path, ident) in enumerate(files):
        if index not in sha1s or index in _skipped(crfd, skip):
            continue
        res = plan_resource(ident[2], chunk_size, codec, path=path, identity=ident, known_sha1=sha1s[index])
        if res.reused:
            _send(wfd, b"F", index)
            continue
        payload, spooled = _encode_plan(res, spool, spooled)
        _send(wfd, b"P", index, payload)
