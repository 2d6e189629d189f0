"""Output conventions for every command.

- ``--json``: exactly one JSON document on stdout, nothing else there (warnings go to stderr).
- On a terminal: rich tables and progress bars. Otherwise: plain text, one fact per line.
- Progress of bytes (build, pack of PROGRESS_MIN_BYTES or more of file data): a bar on stderr when
  it is a terminal and not ``--json``; nothing at all otherwise.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable, Sequence

from ppkgtool import SURROGATE_RE as _SURROGATE_RE, safe_text  # noqa: F401 - re-exported

#: File data from which build and pack show a progress bar on a terminal (smaller ones stay quiet).
PROGRESS_MIN_BYTES = 32 * 1024 * 1024


def json_text(document: Any) -> str:
    """One JSON document; lone surrogates as \\udXXX escapes (valid JSON, UTF-8 writable)."""
    text = json.dumps(document, indent=2, sort_keys=False, default=_json_default, ensure_ascii=False)
    return _SURROGATE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _is_tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Reporter:
    def __init__(self, *, json_mode: bool = False, stdout=None, stderr=None):
        self.json_mode = json_mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.rich = (not json_mode) and _is_tty(self.stdout)
        self._console = None
        self._err_console = None

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console
            self._console = Console(file=self.stdout, highlight=False)
        return self._console

    def json(self, document: Any) -> None:
        self.stdout.write(json_text(document))
        self.stdout.write("\n")

    def line(self, text: str = "") -> None:
        if self.json_mode:
            return
        text = safe_text(str(text))
        if self.rich:
            self.console.print(text, markup=False)
        else:
            self.stdout.write(text + "\n")

    def heading(self, text: str) -> None:
        if self.json_mode:
            return
        if self.rich:
            from rich.text import Text
            self.console.rule(Text(safe_text(str(text))))
        else:
            self.stdout.write(f"== {safe_text(text)} ==\n")

    def fields(self, pairs: Iterable[tuple[str, Any]]) -> None:
        """Key/value facts, aligned."""
        if self.json_mode:
            return
        pairs = [(k, "" if v is None else safe_text(str(v))) for k, v in pairs]
        if self.rich:
            from rich.table import Table
            from rich.text import Text
            t = Table(show_header=False, box=None, pad_edge=False)
            t.add_column(style="bold", overflow="fold")
            t.add_column(overflow="fold")
            for k, v in pairs:
                t.add_row(Text(safe_text(str(k))), Text(v))   # Text: never parsed as markup
            self.console.print(t)
        else:
            width = max((len(k) for k, _ in pairs), default=0)
            for k, v in pairs:
                self.stdout.write(f"{k.ljust(width)}  {v}\n")

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None) -> None:
        if self.json_mode:
            return
        rows = [["" if c is None else safe_text(str(c)) for c in r] for r in rows]
        if self.rich:
            self.console.print(_rich_table(columns, rows, title, self.console.width))
        else:
            if title:
                self.stdout.write(f"{title}\n")
            self.stdout.write("\t".join(columns) + "\n")
            for r in rows:
                self.stdout.write("\t".join(r) + "\n")

    def warn(self, text: str) -> None:
        """A warning to stderr (never on stdout, so JSON stays clean)."""
        self.stderr.write(f"warning: {safe_text(str(text))}\n")

    def progress(self, total: int | None, description: str, *, unit: str = "items"):
        """A progress context: rich bar on a terminal, plain periodic lines otherwise. ``unit``
        "bytes": sizes, percent and transfer rate, on a terminal only (no plain lines)."""
        return _Progress(self, total, description, unit=unit)

    def draws_bar(self, unit: str = "items") -> bool:
        """Whether a progress bar is drawn: stderr is a terminal; for ``unit`` "bytes" also
        without --json (items: only in rich mode)."""
        if unit == "bytes":
            return not self.json_mode and _is_tty(self.stderr)
        return self.rich and _is_tty(self.stderr)

    def byte_progress(self, description: str, *, min_bytes: int = PROGRESS_MIN_BYTES) -> "ByteProgress":
        """The ``progress`` callback of the library's build and pack (ByteProgress)."""
        return ByteProgress(self, description, min_bytes)


def _rich_table(columns: Sequence[str], rows: list[list[str]], title: str | None, width: int):
    """A rich Table of untrusted text: every cell a ``Text`` (``[@UserName=admin]`` is a setting key,
    not markup), long cells folded rather than cut to an ellipsis (rows that differ only at the end
    stay distinguishable), and lines between rows once a cell needs more than one line."""
    from rich.table import Table
    from rich.text import Text

    share = max(8, width // max(1, len(columns)))
    folded = any(len(c) > share for r in rows for c in r)
    t = Table(title=Text(title) if title else None, show_lines=folded)
    for c in columns:
        t.add_column(Text(c), overflow="fold")
    for r in rows:
        t.add_row(*(Text(c) for c in r))
    return t


class _Progress:
    def __init__(self, reporter: Reporter, total: int | None, description: str, *, unit: str = "items"):
        if unit not in ("items", "bytes"):
            raise ValueError(f"unknown progress unit {unit!r}")
        self.r = reporter
        self.total = total
        self.description = description
        self.unit = unit
        self.done = 0
        self._bar = None
        self._task = None
        self._last = 0.0
        self._start = time.monotonic()

    def rate(self) -> str:
        elapsed = time.monotonic() - self._start
        return f"{self.done / elapsed:.1f}/s" if elapsed > 0 and self.done else ""

    def __enter__(self):
        if self.r.draws_bar(self.unit):       # rich.progress is imported only for a bar (it costs ~25 ms)
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                                       TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)
            if self.unit == "bytes":
                columns = (TextColumn("{task.description}", markup=False), BarColumn(), TaskProgressColumn(),
                           DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn(), TimeRemainingColumn())
            else:
                columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[rate]}"), TextColumn("{task.fields[extra]}", markup=False),
                           TimeElapsedColumn(), TimeRemainingColumn())
            self._bar = Progress(*columns, console=Console(file=self.r.stderr))
            self._bar.__enter__()
            self._task = self._bar.add_task(safe_text(self.description), total=self.total, extra="", rate="")
        return self

    def advance(self, n: int = 1, extra: str = "") -> None:
        self.done += n
        if self._bar is not None:
            if self.unit == "bytes":
                self._bar.advance(self._task, n)
            else:
                self._bar.update(self._task, advance=n, extra=safe_text(extra), rate=self.rate())
        elif not self.r.json_mode and self.unit == "items":
            now = time.monotonic()
            if now - self._last >= 1.0 or self.done == self.total:   # plain lines at most once a second
                self._last = now
                total = f"/{self.total}" if self.total else ""
                self.r.stderr.write(f"{self.description}: {self.done}{total} {self.rate()} {extra}".rstrip() + "\n")

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
        return False


class ByteProgress:
    """The ``progress`` callback the library's build and pack take (ppkgtool.wim.write_wim: bytes
    of file data done since the last call, ``start(total)`` first): a bar of bytes on a terminal
    (Reporter.progress unit "bytes") when the total is at least ``min_bytes``, nothing otherwise.
    A context manager; the bar ends with it."""

    def __init__(self, reporter: Reporter, description: str, min_bytes: int = PROGRESS_MIN_BYTES):
        self.reporter = reporter
        self.description = description
        self.min_bytes = min_bytes
        self.shown = reporter.draws_bar("bytes")
        self._bar: _Progress | None = None

    @property
    def wanted(self) -> "ByteProgress | None":
        """This callback when a bar could be drawn (a terminal, no --json), else None: the library
        then makes no progress calls at all."""
        return self if self.shown else None

    def start(self, total: int) -> None:
        if self._bar is None and self.shown and total >= self.min_bytes:
            self._bar = _Progress(self.reporter, total, self.description, unit="bytes").__enter__()

    def __call__(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(n)

    def __enter__(self) -> "ByteProgress":
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None
        return False


def _json_default(obj):
    if isinstance(obj, (bytes, bytearray)):
        return obj.hex()
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if hasattr(obj, "__fspath__"):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
