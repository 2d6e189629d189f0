"""The devices CSV: ``name`` (required), ``ou`` (optional), ``var:NAME`` columns (template variables).

Every row is checked before anything is created; all problems are reported at once.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from ppkgtool.errors import InvalidInputError

MAX_ROWS = 100_000
_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Device:
    line: int
    name: str
    ou: str | None = None
    variables: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    @property
    def vars(self) -> dict[str, str]:
        return dict(self.variables)


def check_machine_name(name: str) -> str | None:
    """The reason ``name`` is not a valid new computer name, or None (odj.request's one rule)."""
    from ppkgtool.odj.request import InvalidMachineNameError, check_machine_name as rule
    if not name:
        return "empty name"
    try:
        rule(name)
    except InvalidMachineNameError as exc:
        return exc.message
    return None


def check_dn(dn: str) -> str | None:
    """The reason ``dn`` is not an RFC 4514/1779 distinguished name, or None."""
    from ldap3.utils.dn import parse_dn
    try:
        parts = parse_dn(dn)
    except Exception as exc:  # ldap3 raises LDAPInvalidDnError and friends
        return f"OU {dn!r} is not a distinguished name ({exc})"
    if not parts:
        return f"OU {dn!r} is empty"
    if not any(attr.upper() == "DC" for attr, _v, _s in parts):
        return f"OU {dn!r} has no DC= components"
    return None


def parse_devices(data: bytes, *, source_name: str = "devices.csv") -> list[Device]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{source_name}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInputError(f"{source_name}: empty file", hint="the first line must be a header with 'name'") from None
    header = [h.strip() for h in header]
    problems: list[str] = []
    if "name" not in header:
        raise InvalidInputError(f"{source_name}:1: no 'name' column", hint="header columns: name[,ou][,var:NAME...]")
    for col in header:
        if col in ("name", "ou"):
            continue
        if col.startswith("var:") and _VAR_RE.match(col[4:]):
            continue
        problems.append(f"{source_name}:1: unknown column {col!r} (allowed: name, ou, var:NAME)")
    if len(set(header)) != len(header):
        problems.append(f"{source_name}:1: a column appears twice")
    devices: list[Device] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if len(devices) >= MAX_ROWS:
            raise InvalidInputError(f"{source_name}: more than {MAX_ROWS} devices")
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            problems.append(f"{source_name}:{line}: {len(row)} fields, header has {len(header)}")
            continue
        cells = dict(zip(header, (c.strip() for c in row)))
        name = cells["name"]
        why = check_machine_name(name)
        if why:
            problems.append(f"{source_name}:{line}: {why}")
        key = name.upper()
        if key in seen:
            problems.append(f"{source_name}:{line}: duplicate name {name!r} (first on line {seen[key]})")
        else:
            seen[key] = line
        ou = cells.get("ou") or None
        if ou:
            why = check_dn(ou)
            if why:
                problems.append(f"{source_name}:{line}: {why}")
        variables = tuple((k[4:], v) for k, v in cells.items() if k.startswith("var:"))
        devices.append(Device(line=line, name=name.upper(), ou=ou, variables=variables))
    if problems:
        shown = problems[:50]
        more = f" (+{len(problems) - 50} more)" if len(problems) > 50 else ""
        raise InvalidInputError(f"{len(problems)} problem(s) in {source_name}, nothing was created: "
                                + "; ".join(shown) + more)
    if not devices:
        raise InvalidInputError(f"{source_name}: no devices")
    return devices
