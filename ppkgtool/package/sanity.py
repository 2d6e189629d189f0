"""Checks a WCD user gets beyond the settings store's own types and ranges (issue 18).

WCD's store (store.py, settings.py) gives ``Accounts/ComputerAccount/ComputerName`` and
``Policies/TimeLanguageSettings/ConfigureTimeZone`` as free text; Windows does not take any text:

- ComputerName is the device's NetBIOS name: at most 15 characters after ``%SERIAL%`` (at least one
  character) and ``%RAND:x%`` (x characters) are expanded [C: Accounts CSP Domain/ComputerName,
  djoin's NetBIOS rule in odj.request.check_machine_name].
- ConfigureTimeZone takes a Windows time zone ID as ``tzutil /l`` lists it [C: Policy CSP
  TimeLanguageSettings]; the IDs are in data/windows-time-zones.json (CLDR windowsZones).
- A package that joins the domain offline (``--odj``) and also renames the device: the blob's
  account is the blob's machine name; a ComputerName that differs breaks the match with the domain
  account after the join (a warning: a rename may be intended).

``value_problem`` is called by SettingDefinition.compile_value for every value; the warnings by the
builder and bulk.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from importlib import resources

COMPUTER_NAME = "Accounts/ComputerAccount/ComputerName"
TIME_ZONE = "Policies/TimeLanguageSettings/ConfigureTimeZone"
#: a value each checked setting takes (documentation, tests)
EXAMPLES = {COMPUTER_NAME: "PC-%RAND:4%", TIME_ZONE: "W. Europe Standard Time"}
_RAND_RE = re.compile(r"%RAND:(\d+)%", re.IGNORECASE)
_SERIAL_RE = re.compile(r"%SERIAL%", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def windows_time_zones() -> dict[str, str]:
    """Windows time zone ID -> IANA zone (data/windows-time-zones.json)."""
    text = resources.files("ppkgtool").joinpath("data/windows-time-zones.json").read_text(encoding="utf-8")
    return dict(json.loads(text)["zones"])


def computer_name_length(value: str) -> int:
    """The shortest length ``value`` has on a device: %RAND:x% is x characters, %SERIAL% at least one."""
    text = _RAND_RE.sub(lambda m: "x" * min(int(m.group(1)), 1000), value)
    serials = len(_SERIAL_RE.findall(text))
    return len(_SERIAL_RE.sub("", text)) + serials


def value_problem(path: str, value: str) -> tuple[str, list[str]] | None:
    """(why ``value`` is refused, suggestions) for the settings checked here, else None."""
    if path == COMPUTER_NAME:
        # one home for the NetBIOS limit; imported here, as the ODJ modules cost every build ~10 ms
        from ppkgtool.odj.request import MAX_NETBIOS as NETBIOS_MAX
        n = computer_name_length(value.strip())
        if n > NETBIOS_MAX:
            return (f"is {n} characters long; a computer name is at most {NETBIOS_MAX} (its NetBIOS name), "
                    "counting %RAND:x% as x and %SERIAL% as at least 1", [])
        return None
    if path == TIME_ZONE:
        zones = windows_time_zones()
        v = value.strip()
        if v in zones:
            return None
        by_lower = {z.lower(): z for z in zones}
        if v.lower() in by_lower:
            return None   # Windows compares time zone IDs without case
        iana = [w for w, i in zones.items() if i.lower() == v.lower()]
        suggest = iana or difflib.get_close_matches(v, list(zones), n=3, cutoff=0.5)
        if not suggest:   # "Berlin/Europe": a reversed or partial IANA name
            parts = {p.lower() for p in re.split(r"[/ ]", v) if p}
            suggest = [w for w, i in zones.items() if parts & {p.lower() for p in i.split("/")[1:]}][:3]
        return ("is not a Windows time zone ID (as 'tzutil /l' lists them, e.g. 'W. Europe Standard Time')",
                suggest)
    return None


def computer_names(settings) -> list[str]:
    """The ComputerName values of compiled settings (CompiledSetting objects)."""
    return [s.value for s in settings if s.path == COMPUTER_NAME]


def odj_name_warnings(settings, odj_machines) -> list[str]:
    """Warnings for a ComputerName that differs from the machine an ODJ blob joins."""
    out = []
    for machine in odj_machines:
        for name in computer_names(settings):
            if name.strip().upper() != str(machine).strip().upper():
                out.append(f"ComputerName {name!r} differs from {machine!r}, the machine the ODJ blob joins: "
                           f"renaming the device after the offline join breaks the match with its domain "
                           f"account (set ComputerName to {machine!r} or leave it out)")
    return out
