"""The ``ppkgtool`` console script: a thin layer over the library.

Each command lives in its own module ``ppkgtool/cli/cmd_<name>.py`` exposing
``register(subparsers)``; the parser it adds sets ``func`` to a callable ``(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ppkgtool import __version__
from ppkgtool.errors import EXIT_CODES, EXIT_USAGE

# (command, module) in the order --help shows them.
COMMANDS = [
    ("build", "cmd_build"),
    ("settings", "cmd_settings"),
    ("pack", "cmd_pack"),
    ("inspect", "cmd_inspect"),
    ("extract", "cmd_extract"),
    ("export", "cmd_export"),
    ("sign", "cmd_sign"),
    ("verify", "cmd_verify"),
    ("build-trust", "cmd_build_trust"),
    ("encrypt", "cmd_encrypt"),
    ("decrypt", "cmd_decrypt"),
    ("rank", "cmd_rank"),
    ("resolve", "cmd_resolve"),
    ("diff", "cmd_diff"),
    ("explain-log", "cmd_explain_log"),
    ("deploy", "cmd_deploy"),
    ("odj", "cmd_odj"),
    ("catalog", "cmd_catalog"),
    ("policy", "cmd_policy"),
    ("bulk", "cmd_bulk"),
]

EPILOG = "exit codes:\n" + "\n".join(f"  {k}  {v}" for k, v in EXIT_CODES.items()) + \
    "\n\nErrors: one line on stderr naming the file and the problem; with --json also one document\n" \
    "on stdout: {\"error\": {\"code\": EXIT, \"message\", \"where\", \"hint\"}} (docs/commands.md)." + \
    "\n\nDocumentation: docs/commands.md. Secrets are read from --*-file, --*-env or a prompt."


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise ArgumentsError(message, self.prog)


class ArgumentsError(Exception):
    """A command line argparse refused (reported by main through cli/errors.py, exit 2)."""

    def __init__(self, message: str, prog: str):
        super().__init__(message)
        self.message = message
        self.prog = prog


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` (a command name) the parser of that command alone (``""``:
    the top-level options only): each command module imports its own libraries, and importing all of
    them costs about 0.1 s of every run's start-up."""
    parser = Parser(prog="ppkgtool", description=__doc__.splitlines()[0].rstrip(":") if False else
                    "Build, sign, encrypt, inspect, rank and deliver Windows provisioning packages (.ppkg), "
                    "and provision offline domain join (ODJ) accounts - on any OS.",
                    epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"ppkgtool {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, module in COMMANDS:
        if only is not None and name != only:
            continue
        mod = importlib.import_module(f"ppkgtool.cli.{module}")
        mod.register(sub)
    return parser


def add_common(parser: argparse.ArgumentParser, *, json: bool = True) -> None:
    """Options every reporting command takes."""
    if json:
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def command_parser(sub, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=description or help, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", action="append", default=[], metavar="NAME=VALUE",
                   help="raise or lower a budget on untrusted packages: entries, bytes, ratio, part "
                        "(repeatable; e.g. --budget entries=500000 --budget bytes=200G; docs/security.md)")
    return p


def _command_word(argv: list[str]) -> str | None:
    """The command an argument list names, when its first word is one; "" for ``--version`` first
    (it prints and exits before any command is parsed: no command's parser is built); None when
    the whole parser is needed (--help lists every command; an unknown word is reported with them)."""
    if argv and argv[0] in dict(COMMANDS):
        return argv[0]
    if argv and argv[0] == "--version":
        return ""
    return None


#: glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def tune_allocator() -> None:
    """Keep the multi-MiB buffers the commands allocate and free (read batches, decompressed pieces)
    in the process instead of returning them to the kernel on every free: with glibc's defaults
    each 2 MiB piece was mapped and faulted in afresh, which cost `extract` of 256 MiB up to 0.5 s
    of system time on the 2-core VM of bench/ (0.1 s with this). Process-wide, so only the console
    script does it; a no-op where glibc is not the C library."""
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)     # buffers below 32 MiB (glibc's maximum) come from the heap ...
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)    # ... which keeps up to 256 MiB free for reuse


def _terminate_cleanly():
    """Install the SIGTERM handler; a function that puts the previous one back."""
    import signal
    import threading

    from ppkgtool.cli.errors import Terminated

    def handler(signum, frame):
        raise Terminated()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def leave(code: int) -> None:
    """End the console script's process with ``code`` without tearing the interpreter down:
    freeing every module and object of a command that loaded lxml, the settings model and MiB of
    buffers cost 30-50 ms on the 2-core VM of bench/ (issue 19), after the command's outputs are
    complete. What an exit must still do is done: atexit handlers run (temporary folders left to
    weakref.finalize, logging), the standard streams are flushed. Where the interpreter has no
    atexit._run_exitfuncs (not CPython), it returns and the process exits the usual way."""
    import atexit
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    if run_exitfuncs is None:
        return
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):      # a closed pipe: nothing more can reach it
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """The ``ppkgtool`` command: the exit code of ``argv`` (default: the process's arguments; then,
    as the console script, the process ends here, see leave())."""
    if argv is None:
        tune_allocator()
        code = _main(sys.argv[1:])
        leave(code)
        return code
    return _main(argv)


def _main(argv: list[str]) -> int:
    from ppkgtool.cli import errors as cli_errors

    parser = build_parser(_command_word(argv))
    json_mode = cli_errors.json_requested(argv)
    try:
        args = parser.parse_args(argv)
    except ArgumentsError as exc:
        return cli_errors.report(cli_errors.usage_failure(exc.message, exc.prog), json_mode=json_mode)
    json_mode = bool(getattr(args, "json", False)) or json_mode
    func = getattr(args, "func", None)
    if func is None:
        target = getattr(args, "_group_parser", parser)
        target.print_help(sys.stderr)
        return EXIT_USAGE
    restore = _terminate_cleanly()
    try:
        from ppkgtool import configure_budget
        configure_budget(getattr(args, "budget", None))
        return int(func(args) or 0)
    except BrokenPipeError:
        return 0
    except (Exception, KeyboardInterrupt, cli_errors.Terminated) as exc:  # noqa: BLE001 - the one error path (cli/errors.py)
        if os.environ.get("PPKGTOOL_DEBUG") and isinstance(exc, Exception):
            raise
        return cli_errors.report(cli_errors.failure_of(exc), json_mode=json_mode)
    finally:
        restore()
