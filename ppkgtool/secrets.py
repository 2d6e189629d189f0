"""Where secrets come from: a file, an environment variable, or an interactive prompt.

Never from the command line alone. With no terminal and no other source, a clear error.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ppkgtool.errors import SecretSourceError


@dataclass(frozen=True)
class SecretSource:
    """How to obtain one secret. ``what`` names it in prompts and errors ("PFX password")."""

    what: str
    file: str | None = None
    env: str | None = None
    allow_prompt: bool = True
    confirm: bool = False
    option: str = "password"     # the options that give it: --<option>-file, --<option>-env

    def read(self) -> str:
        if self.file:
            try:
                text = Path(self.file).read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise SecretSourceError(f"cannot read the {self.what} file {self.file}: {exc.strerror}") from None
            # a trailing newline is never part of the secret
            return text.rstrip("\r\n")
        if self.env:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretSourceError(f"environment variable {self.env} (for the {self.what}) is not set")
            return value
        if self.allow_prompt and sys.stdin is not None and sys.stdin.isatty():
            value = getpass.getpass(f"{self.what}: ")
            if self.confirm and getpass.getpass(f"{self.what} (again): ") != value:
                raise SecretSourceError(f"the two {self.what} entries differ")
            return value
        raise SecretSourceError(
            f"no {self.what} given and no terminal to ask on",
            hint=f"use --{self.option}-file PATH or --{self.option}-env NAME",
        )


def add_secret_options(parser, *, prefix: str = "password", what: str = "password",
                       required_hint: str | None = None) -> None:
    """Add ``--<prefix>-file`` and ``--<prefix>-env`` options to an argparse parser."""
    dest = prefix.replace("-", "_")
    parser.add_argument(f"--{prefix}-file", dest=f"{dest}_file", metavar="PATH",
                        help=f"read the {what} from this file (first line)")
    parser.add_argument(f"--{prefix}-env", dest=f"{dest}_env", metavar="NAME",
                        help=f"read the {what} from this environment variable")


def source_from_args(args, *, prefix: str = "password", what: str = "password",
                     confirm: bool = False) -> SecretSource:
    dest = prefix.replace("-", "_")
    return SecretSource(what=what, file=getattr(args, f"{dest}_file", None),
                        env=getattr(args, f"{dest}_env", None), confirm=confirm, option=prefix)


def has_secret_option(args, *, prefix: str = "password") -> bool:
    dest = prefix.replace("-", "_")
    return bool(getattr(args, f"{dest}_file", None) or getattr(args, f"{dest}_env", None))
