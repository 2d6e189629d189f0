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
from ppkgtool.errors import EXIT_CODES, EXIT_INTERNAL, EXIT_USAGE, PpkgError

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
    ("bulk", "cmd_bulk"),
]

EPILOG = "exit codes:\n" + "\n".join(f"  {k}  {v}" for k, v in EXIT_CODES.items()) + \
    "\n\nDocumentation: docs/commands.md. Secrets are read from --*-file, --*-env or a prompt."


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``only`` (a command name) the parser of that command alone: each
    command module imports its own libraries, and importing all of them costs about 0.1 s of every
    run's start-up."""
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
    """The command an argument list names, when its first word is one (top-level options such as
    --help or --version, or an unknown word, need the whole parser)."""
    if argv and argv[0] in dict(COMMANDS):
        return argv[0]
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


class _Terminated(BaseException):
    """SIGTERM, raised where the process is, so that every ``finally`` and fsutil's cleanup runs."""


def _terminate_cleanly():
    """Install the SIGTERM handler; a function that puts the previous one back."""
    import signal
    import threading

    def handler(signum, frame):
        raise _Terminated()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
        tune_allocator()
    parser = build_parser(_command_word(argv))
    args = parser.parse_args(argv)
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
    except PpkgError as exc:
        from ppkgtool.cli.output import safe_text
        sys.stderr.write(f"ppkgtool: error: {safe_text(exc.one_line())}\n")
        if os.environ.get("PPKGTOOL_DEBUG"):
            raise
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("ppkgtool: interrupted\n")
        return 130
    except _Terminated:
        sys.stderr.write("ppkgtool: terminated\n")
        return 143
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: say so in one line unless debugging
        if os.environ.get("PPKGTOOL_DEBUG"):
            raise
        from ppkgtool.cli.output import safe_text
        sys.stderr.write(f"ppkgtool: internal error: {type(exc).__name__}: {safe_text(str(exc))} "
                         f"(set PPKGTOOL_DEBUG=1 for a traceback and please report it)\n")
        return EXIT_INTERNAL
    finally:
        restore()
