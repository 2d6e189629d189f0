"""The input and output of the commands that turn one file into another (encrypt, decrypt).

Both take the file to read as ``args.package`` and write ``args.output`` (``--overwrite`` to
replace it) with mode 0600, since the result may hold secrets.
"""

from __future__ import annotations

from pathlib import Path

from ppkgtool.errors import InvalidInputError, UsageError
from ppkgtool.fsutil import atomic_output


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
    with open(src, "rb") as fin, atomic_output(args.output, overwrite=args.overwrite, private=True) as fout:
        return transform(fin, fout)
