"""Input files of the commands.

``read_bounded`` reads a small input (a blob, a facts file) with a size limit. ``source_file`` and
``transform_file`` serve the commands that turn one file into another (encrypt, decrypt): both take
the file to read as ``args.package`` and write ``args.output`` (``--overwrite`` to replace it) with
mode 0600, since the result may hold secrets.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ppkgtool.errors import InvalidInputError, UsageError
from ppkgtool import large_output, read_at_most


def read_bounded(path: str, limit: int, *, stdin: bool = False, name: str | None = None,
                 too_large: str = "") -> bytes:
    """At most ``limit`` bytes of ``path`` (with ``stdin``, "-" is standard input). ``name`` is how
    messages call the file (default: its path); ``too_large`` is added to the message for a larger file."""
    label = name or path
    try:
        if stdin and path == "-":
            data = read_at_most(sys.stdin.buffer, limit)
        else:
            with open(path, "rb") as fh:
                data = read_at_most(fh, limit)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {label}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InvalidInputError(f"{label} is larger than {limit} bytes{too_large}")
    return data


def source_file(args) -> Path:
    """``args.package``, checked to be a file that is not also ``args.output``."""
    src = Path(args.package)
    if not src.is_file():
        raise InvalidInputError(f"no such file: {src}")
    if Path(args.output).resolve() == src.resolve():
        raise UsageError("the output must be a different file from the input")
    return src


def transform_file(src: Path, args, transform):
    """``transform(fin, fout)`` from ``src`` into ``args.output`` (atomic, 0600); its result."""
    with open(src, "rb") as fin, large_output(args.output, overwrite=args.overwrite, private=True) as fout:
        return transform(fin, fout)
