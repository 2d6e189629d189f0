"""The CLI's one error path (docs/commands.md "Errors").

Every failure of a command ends here: a typed ``PpkgError``, an ``OSError`` a user can cause (a
file that is missing, unreadable, a directory, busy, on a full or read-only disk; a network that
does not answer), an interrupt, or a bug. Each becomes

- one line on stderr: ``ppkgtool: error: <message>``, naming the path and the problem, and
- with ``--json``, one JSON document on stdout as well::

      {"error": {"code": 3, "message": "...", "where": "/path" | null, "hint": "..." | null,
                 "type": "OutputExistsError", "windows_code": null}}

  ``code`` is the exit code (the table in ``ppkgtool.errors``), ``where`` the file or place the
  problem is in, ``hint`` what to do; ``windows_code`` the Windows error number where one applies.

An ``OSError`` about a file exits 3 (invalid input or output), about the network 5; only a bug
exits 1 ("internal error").
"""

from __future__ import annotations

import errno
import os
import re
import sys
from dataclasses import dataclass

from ppkgtool.errors import (EXIT_DIRECTORY, EXIT_INTERNAL, EXIT_INVALID_INPUT, EXIT_USAGE, PpkgError,
                             format_code)
from ppkgtool import safe_text

#: errno values that mean the network, not a file, failed (exit 5)
NETWORK_ERRNOS = frozenset(getattr(errno, n) for n in (
    "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ENETUNREACH", "ENETDOWN", "EHOSTUNREACH", "EHOSTDOWN",
    "ETIMEDOUT", "EPIPE", "ENOTCONN", "EADDRNOTAVAIL", "EADDRINUSE") if hasattr(errno, n))

#: what to do about a file error, by errno
_FILE_HINTS = {
    errno.EACCES: "check the permissions of the file and of its folder",
    errno.EPERM: "check the permissions of the file and of its folder",
    errno.ENOENT: "check the path",
    errno.EISDIR: "give a file, not a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EBUSY: "the file is in use (open in another program, or a mount point): close it or choose another path",
    errno.ETXTBSY: "the file is in use by a running program: close it or choose another path",
    errno.ENOSPC: "free space on that disk or choose another one",
    errno.EROFS: "the file system is read-only: choose another path",
    errno.EEXIST: "choose another path or pass --overwrite",
    errno.ENAMETOOLONG: "use a shorter path",
    errno.ELOOP: "the path has a symbolic link loop",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}

#: the temporary beside an output that fsutil.OutputSet writes (".NAME.ppkgtool-PID-random.tmp")
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.ppkgtool-\d+-[A-Za-z0-9_]+\.(?:tmp|old)$")


class Terminated(BaseException):
    """SIGTERM, raised where the process is (cli.main installs the handler), so that every
    ``finally`` and fsutil's cleanup of temporaries runs; exit 143."""


@dataclass(frozen=True)
class Failure:
    """What the user is told about a failed command."""

    exit_code: int
    message: str
    where: str | None = None
    hint: str | None = None
    type: str = "Error"
    windows_code: int | None = None
    prog: str = "ppkgtool"     # who speaks: "ppkgtool build" for an argument error

    def line(self) -> str:
        text = self.message
        if self.windows_code is not None:
            text = f"{text} (error {format_code(self.windows_code)})"
        if self.hint:
            text = f"{text}; {self.hint}"
        return safe_text(" ".join(text.split()))

    def to_json(self) -> dict:
        return {"error": {"code": self.exit_code, "message": safe_text(self.message), "where": self.where,
                          "hint": self.hint, "type": self.type, "windows_code": self.windows_code}}


def _shown_path(name) -> str:
    """A path as the user gave it; the output behind an atomic temporary rather than the temporary."""
    text = os.fsdecode(name) if isinstance(name, (bytes, os.PathLike)) else str(name)
    head, tail = os.path.split(text)
    m = _TEMP_RE.match(tail)
    if m:
        text = os.path.join(head, m.group("name"))
    return text


def _file_behind(exc: BaseException) -> str | None:
    """The file of the OSError a typed error was raised for (``raise … from None`` keeps it as the
    context), so that ``where`` names it even when the message was written by the library."""
    seen = 0
    cause = exc.__cause__ or exc.__context__
    while cause is not None and seen < 5:
        if isinstance(cause, OSError) and cause.filename is not None:
            return _shown_path(cause.filename)
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def is_network_error(exc: OSError) -> bool:
    socket = sys.modules.get("socket")      # loaded by whatever raised a resolver error; not at start-up
    resolver = (socket.gaierror, socket.herror) if socket is not None else ()
    return isinstance(exc, (ConnectionError, TimeoutError, *resolver)) or exc.errno in NETWORK_ERRNOS


def failure_of(exc: BaseException) -> Failure:
    """The Failure an exception means for the user."""
    if isinstance(exc, PpkgError):
        where = getattr(exc, "where", None) or _file_behind(exc)
        return Failure(exc.exit_code, exc.message, where=str(where) if where is not None else None,
                       hint=exc.hint, type=type(exc).__name__, windows_code=exc.code)
    if isinstance(exc, OSError):
        return _os_failure(exc)
    if isinstance(exc, KeyboardInterrupt):
        return Failure(130, "interrupted", type="KeyboardInterrupt")
    if isinstance(exc, Terminated):
        return Failure(143, "terminated (SIGTERM)", type="Terminated")
    return Failure(EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc}",
                   hint="set PPKGTOOL_DEBUG=1 for a traceback and please report it", type=type(exc).__name__)


def _os_failure(exc: OSError) -> Failure:
    problem = exc.strerror or str(exc) or type(exc).__name__
    if is_network_error(exc):
        where = _shown_path(exc.filename) if exc.filename is not None else None
        message = f"network: {problem}" + (f" ({where})" if where else "")
        return Failure(EXIT_DIRECTORY, message, where=where,
                       hint="check that the host is reachable and the port open", type=type(exc).__name__)
    where = _shown_path(exc.filename) if exc.filename is not None else None
    if where is not None and exc.filename2 is not None:
        message = f"{where} -> {_shown_path(exc.filename2)}: {problem}"
    elif where is not None:
        message = f"{where}: {problem}"
    else:
        message = problem
    return Failure(EXIT_INVALID_INPUT, message, where=where, hint=_FILE_HINTS.get(exc.errno),
                   type=type(exc).__name__)


def name_the_file(exc: PpkgError, path) -> PpkgError:
    """``exc`` saying which file it is about (commands that read several files: rank, resolve, diff):
    the path is put before a message that does not already name it, and into ``where``."""
    shown = str(path)
    if shown not in exc.message:
        exc.message = f"{shown}: {exc.message}"
        exc.args = (exc.message,)
    where = getattr(exc, "where", None)
    if not where or shown not in str(where):
        try:
            exc.where = f"{shown}: {where}" if where else shown
        except AttributeError:
            pass
    return exc


def json_requested(argv: list[str] | None) -> bool:
    """Whether the command line asks for --json (also before or without a successful parse)."""
    args = sys.argv[1:] if argv is None else argv
    for a in args:
        if a == "--":
            return False
        if a == "--json":
            return True
    return False


def report(failure: Failure, *, json_mode: bool, stdout=None, stderr=None) -> int:
    """Print ``failure`` (the line on stderr; with ``json_mode`` the JSON document on stdout too);
    the exit code."""
    from ppkgtool.cli.output import json_text

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    if json_mode:
        try:
            stdout.write(json_text(failure.to_json()) + "\n")
            stdout.flush()
        except (OSError, ValueError):
            pass
    plain = failure.exit_code == 130 or failure.exit_code == EXIT_INTERNAL
    stderr.write(f"{failure.prog}: " + ("" if plain else "error: ") + failure.line() + "\n")
    return failure.exit_code


def usage_failure(message: str, prog: str) -> Failure:
    return Failure(EXIT_USAGE, message, hint="see --help", type="UsageError", prog=prog)
