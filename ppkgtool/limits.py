"""Budgets on untrusted packages: how much one package may make ppkgtool read, expand or write.

A package is untrusted input: a few hundred kilobytes can describe a million directory entries, a
gigabyte of zeros, or one large blob named by hundreds of entries. Every reader of a package's
content (inspect, export, extract, rank, resolve, diff, deploy, verify) works within a ``Budget``;
going over one is a ``BudgetError`` (exit 3) that names the limit and how to raise it.

The defaults are far above real packages (the largest of the 34 WCD/ICD packages in the fixtures
has 68 entries and 22 KB of XML; driver and app packages reach hundreds of files and gigabytes):

- ``entries``: directory entries in one image (default 100,000).
- ``bytes``: bytes expanded from one package, each distinct blob counted once however many
  entries name it (default 64 GiB): ``extract`` checks the total before it writes anything.
- ``ratio``: how much a whole package may expand relative to its file size, once the expansion
  passes ``ratio_grace`` bytes (default 100x past 1 GiB; zip-bomb guards use the same figure, e.g.
  Apache POI's minimum inflate ratio of 0.01). Single blobs do reach 120x in real packages (a
  78 MB MSI stored in 641 KB in the fixtures), so the rule is on the total, with a grace of
  1 GiB that small real packages stay far below; large real packages hold installers and images
  that barely compress (1-3x).
- ``settings``: compiled parms across all configuration sets of a package, a shared provxml
  counted once per set that names it (default 100,000; real packages have hundreds).
- ``part``: bytes of one XML part (customizations.xml, provxml, RunTime.xml…) that is parsed
  (default 32 MiB; real parts are kilobytes).

Overrides: ``--budget NAME=VALUE`` on any command (repeatable; sizes take K/M/G suffixes), or the
``PPKGTOOL_LIMITS`` environment variable (``entries=200000,bytes=100G``); the command line wins.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace

from ppkgtool.errors import InvalidInputError, UsageError

ENV_VAR = "PPKGTOOL_LIMITS"
_SUFFIX = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


class BudgetError(InvalidInputError):
    """A package needs more than a budget allows. ``limit`` names it (``entries``, ``bytes``…)."""

    def __init__(self, message: str, *, limit: str, where: str | None = None):
        text = f"{where}: {message}" if where else message
        super().__init__(text, hint=f"if the package is trusted, raise the limit with --budget {limit}=VALUE "
                                    f"(or {ENV_VAR}); see docs/security.md")
        self.limit = limit
        self.where = where


@dataclass(frozen=True)
class Budget:
    entries: int = 100_000
    bytes: int = 64 * 1024 ** 3
    ratio: float = 100.0
    ratio_grace: int = 1024 ** 3
    part: int = 32 * 1024 ** 2
    settings: int = 100_000

    # --- checks (each rule has its home here) --------------------------------------------------

    def check_entries(self, count: int, where: str) -> None:
        if count > self.entries:
            raise BudgetError(f"more than {self.entries} directory entries (entries limit)", limit="entries",
                              where=where)

    def check_expansion(self, total: int, stored: int, where: str) -> None:
        """``total`` bytes to expand from ``stored`` bytes of package: refused before expanding."""
        if total > self.bytes:
            raise BudgetError(f"{total} bytes to expand, more than the {self.bytes}-byte limit (bytes limit)",
                              limit="bytes", where=where)
        if total > self.ratio_grace and total > self.ratio * max(stored, 1):
            raise BudgetError(f"{total} bytes to expand from a {stored}-byte package ({total / max(stored, 1):.0f}x; "
                              f"ratio limit {self.ratio:g}x past {self.ratio_grace} bytes)", limit="ratio", where=where)

    def check_settings(self, count: int, where: str) -> None:
        if count > self.settings:
            raise BudgetError(f"more than {self.settings} compiled settings (settings limit)", limit="settings",
                              where=where)

    def check_part(self, size: int, where: str) -> None:
        if size > self.part:
            raise BudgetError(f"an XML part of {size} bytes, more than the {self.part}-byte limit (part limit)",
                              limit="part", where=where)


def parse_overrides(items, base: Budget | None = None) -> Budget:
    """``["entries=200000", "bytes=100G"]`` (or one comma-separated string) applied to ``base``."""
    budget = base or Budget()
    if isinstance(items, str):
        items = [items]
    names = {f.name for f in fields(Budget)}
    changes: dict = {}
    for item in items or ():
        for part in filter(None, (p.strip() for p in str(item).split(","))):
            name, sep, value = part.partition("=")
            name = name.strip().lower().replace("-", "_")
            if not sep or name not in names:
                raise UsageError(f"unknown limit {part!r}: use NAME=VALUE with NAME one of {', '.join(sorted(names))}")
            m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", value, re.I)
            if not m:
                raise UsageError(f"limit {name}: {value!r} is not a number (sizes take K, M, G or T)")
            number = float(m.group(1)) * _SUFFIX[m.group(2).upper()]
            changes[name] = number if name == "ratio" else int(number)
            if changes[name] <= 0:
                raise UsageError(f"limit {name} must be positive")
    return replace(budget, **changes)


_current: Budget | None = None


def current() -> Budget:
    """The process's budget: ``configure``'d by the CLI, else the defaults with PPKGTOOL_LIMITS."""
    global _current
    if _current is None:
        _current = parse_overrides(os.environ.get(ENV_VAR, ""))
    return _current


def configure(overrides=None) -> Budget:
    """Set the process's budget from PPKGTOOL_LIMITS and then ``overrides`` (the command line)."""
    global _current
    _current = parse_overrides(overrides, parse_overrides(os.environ.get(ENV_VAR, "")))
    return _current


configure_budget = configure       # the public name (ppkgtool.configure_budget)

__all__ = ["Budget", "BudgetError", "ENV_VAR", "configure", "configure_budget", "current", "parse_overrides"]
