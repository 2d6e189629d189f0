"""The registry route of an offline domain join request: values in an offline image's SYSTEM hive.

EXPERIMENTAL. Where NetRequestOfflineDomainJoin / ``djoin /requestodj /windowspath`` writes inside
an offline image is not documented [U]. The layout here comes from one secondary source quoted in
odj-format.md: a registry export (Microsoft's Azure IaaS support wiki, "Understanding Initial
Machine Config") of the hive that DIMC builds from an unattend
``Microsoft-Windows-UnattendedJoin/OfflineIdentification/Provisioning/AccountData``. Every name
below is from that export; types follow it; the mapping of blob fields to values is [I]:

``ControlSet00N\\Control\\Lsa\\OfflineJoin`` — JoinAction DWORD 1; MachineName SZ; CurrentValue SZ
(the machine password, in clear as in the export); DNSDIName, DNSDIDomName, DNSDIForestName SZ;
DNSDIGuid BINARY (GUID, little-endian fields); DNSDISid SZ; JoinOptions DWORD 0;
ProvisionOptions DWORD (the blob's Options).

``ControlSet00N\\Control\\Lsa\\OfflineProvisioning`` — NumParts DWORD; subkeys ``1``..``N``, one
per OP_PACKAGE part in blob order, with Flags DWORD, Type SZ (part GUID, lower case, no braces),
Data BINARY (the part's serialized stream). The export shows ``Data`` without content; a binary
value holding the part is our reading [I]. A blob without OP_PACKAGE yields one JOIN_PROVIDER part.

``ControlSet00N\\Services\\Netlogon`` Start DWORD 2; ``...\\Netlogon\\JoinDomain`` — the
DOMAIN_CONTROLLER_INFOW fields: DomainControllerName, DomainControllerAddress SZ (with their leading
backslashes), DomainControllerAddressType DWORD, DomainGuid BINARY, DomainName, DnsForestName SZ,
Flags DWORD, DcSiteName, ClientSiteName SZ.

``ControlSet00N\\Services\\Tcpip\\Parameters`` — "NV Hostname", Hostname (the machine name),
"NV Domain", Domain (the DNS domain) SZ. ``ControlSet00N\\Control\\ComputerName\\ComputerName``
ComputerName SZ (upper case). ``Setup\\DJOIN`` ODJComputerNameSet DWORD 1.

N is the hive's current control set (``Select\\Current``).
"""

from __future__ import annotations

import datetime as _dt
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ppkgtool.errors import HiveError
from ppkgtool.fsutil import output_set
from ppkgtool.regf import NERR_CANT_LOAD_OFFLINE_HIVE, Hive, RegType, RegValue

MAX_SYSTEM_HIVE_BYTES = 512 * 1024 * 1024
JOIN_PROVIDER = "631c7621-5289-4321-bc9e-80f843f868c3"


@dataclass(frozen=True)
class RegistryWrite:
    """One value to write: key path relative to the SYSTEM hive root, and the value."""

    key: str
    value: RegValue

    def describe(self) -> dict:
        """Key, name and type - never the data (CurrentValue and the parts hold secrets)."""
        return {"key": self.key, "name": self.value.name, "type": self.value.type_name,
                "size": len(self.value.raw)}


@dataclass(frozen=True)
class RegistryResult:
    hive: Path
    backup: Path | None
    control_set: str
    writes: tuple[RegistryWrite, ...]
    changed: bool
    skipped: tuple[str, ...] = field(default=())   # values left out because the blob has no data for them

    def to_json(self) -> dict:
        return {"hive": str(self.hive), "backup": None if self.backup is None else str(self.backup),
                "control_set": self.control_set, "changed": self.changed,
                "values": [w.describe() for w in self.writes], "skipped": list(self.skipped)}


def current_control_set(hive: Hive) -> str:
    """'ControlSet001' etc. from Select\\Current (then Select\\Default), checking the key exists."""
    select = hive.get_key("Select")
    candidates: list[int] = []
    if select is not None:
        for name in ("Current", "Default"):
            v = select.value(name)
            if v is not None and v.type == RegType.DWORD and isinstance(v.data, int):
                candidates.append(v.data)
    candidates.append(1)
    for n in candidates:
        name = f"ControlSet{n:03d}"
        if 1 <= n <= 999 and hive.get_key(name) is not None:
            return hive.get_key(name).name
    raise HiveError("not a SYSTEM hive: no Select\\Current and no ControlSet001 key",
                    code=NERR_CANT_LOAD_OFFLINE_HIVE)


def offline_join_writes(pd, control_set: str) -> tuple[list[RegistryWrite], list[str]]:
    """The registry writes for ProvisionData ``pd`` under ``control_set``; and the names skipped."""
    from ppkgtool.odj.codec import check_required, encode_part_content
    check_required(pd)
    w7 = pd.win7
    dns, dc = w7.dns_domain_info, w7.dc_info
    writes: list[RegistryWrite] = []
    skipped: list[str] = []

    def put(key: str, value: RegValue | None, label: str) -> None:
        if value is None:
            skipped.append(label)
        else:
            writes.append(RegistryWrite(key, value))

    def sz(key: str, name: str, text: str | None) -> None:
        put(key, RegValue.sz(name, text) if text else None, f"{key}\\{name}")

    oj = f"{control_set}\\Control\\Lsa\\OfflineJoin"
    put(oj, RegValue.dword("JoinAction", 1), "")
    sz(oj, "MachineName", w7.machine_name)
    sz(oj, "CurrentValue", w7.machine_password)
    sz(oj, "DNSDIName", dns.netbios_name)
    sz(oj, "DNSDIDomName", dns.dns_domain)
    sz(oj, "DNSDIForestName", dns.dns_forest)
    put(oj, RegValue.binary("DNSDIGuid", dns.domain_guid.bytes_le), "")
    sz(oj, "DNSDISid", dns.domain_sid)
    put(oj, RegValue.dword("JoinOptions", 0), "")
    put(oj, RegValue.dword("ProvisionOptions", w7.options), "")

    op = f"{control_set}\\Control\\Lsa\\OfflineProvisioning"
    parts = [(p.flags, str(p.part_type).lower(), encode_part_content(p.content)) for p in pd.parts]
    if not parts:
        parts = [(1, JOIN_PROVIDER, encode_part_content(w7))]
    put(op, RegValue.dword("NumParts", len(parts)), "")
    for i, (flags, ptype, data) in enumerate(parts, start=1):
        key = f"{op}\\{i}"
        put(key, RegValue.dword("Flags", flags), "")
        put(key, RegValue.sz("Type", ptype), "")
        put(key, RegValue.binary("Data", data), "")

    nl = f"{control_set}\\Services\\Netlogon"
    put(nl, RegValue.dword("Start", 2), "")
    jd = f"{nl}\\JoinDomain"
    sz(jd, "DomainControllerName", dc.dc_name)
    sz(jd, "DomainControllerAddress", dc.dc_address)
    put(jd, RegValue.dword("DomainControllerAddressType", dc.dc_address_type), "")
    put(jd, RegValue.binary("DomainGuid", dc.domain_guid.bytes_le), "")
    sz(jd, "DomainName", dc.domain_name)
    sz(jd, "DnsForestName", dc.forest_name)
    put(jd, RegValue.dword("Flags", dc.flags), "")
    sz(jd, "DcSiteName", dc.dc_site)
    sz(jd, "ClientSiteName", dc.client_site)

    tcp = f"{control_set}\\Services\\Tcpip\\Parameters"
    sz(tcp, "NV Hostname", w7.machine_name)
    sz(tcp, "Hostname", w7.machine_name)
    sz(tcp, "NV Domain", dns.dns_domain)
    sz(tcp, "Domain", dns.dns_domain)

    sz(f"{control_set}\\Control\\ComputerName\\ComputerName", "ComputerName",
       w7.machine_name.upper() if w7.machine_name else None)
    put("Setup\\DJOIN", RegValue.dword("ODJComputerNameSet", 1), "")
    return writes, skipped


def apply_to_hive(hive: Hive, pd) -> tuple[str, list[RegistryWrite], list[str]]:
    """Write the offline join values into an in-memory SYSTEM hive; (control set, writes, skipped)."""
    control_set = current_control_set(hive)
    writes, skipped = offline_join_writes(pd, control_set)
    for w in writes:
        hive.set_value(w.key, w.value)
    return control_set, writes, skipped


def verify_hive(data: bytes, writes: list[RegistryWrite]) -> None:
    """Re-read a written hive: structure check, then every value compared byte for byte."""
    hive = Hive(data, max_size=MAX_SYSTEM_HIVE_BYTES)
    hive.check()
    for w in writes:
        got = hive.get_value(w.key, w.value.name)
        if got is None or got.type != w.value.type or got.raw != w.value.raw:
            raise HiveError(f"read-back of {w.key}\\{w.value.name} does not match what was written",
                            code=NERR_CANT_LOAD_OFFLINE_HIVE)


def inject_into_system_hive(hive_path: str | os.PathLike[str], pd, *, backup: bool = True) -> RegistryResult:
    """Write the offline join values into the SYSTEM hive file at ``hive_path``.

    The hive is parsed, changed in memory, serialized, re-parsed and verified; only then is the
    original copied to ``SYSTEM.ppkgtool-<UTC time>.bak`` and replaced atomically. Any failure
    before the replacement leaves the file untouched (HiveError, code 2717).
    """
    path = Path(hive_path)
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise HiveError(f"cannot read the offline hive {path}: {exc.strerror}",
                        code=NERR_CANT_LOAD_OFFLINE_HIVE) from None
    if stat.S_ISLNK(info.st_mode):
        raise HiveError(f"{path} is a symbolic link: the link would be replaced by a file and the real hive left "
                        "unchanged", code=NERR_CANT_LOAD_OFFLINE_HIVE,
                        hint=f"give the image folder the link points into ({os.path.realpath(path)})")
    if not stat.S_ISREG(info.st_mode):
        raise HiveError(f"{path} is not a regular file", code=NERR_CANT_LOAD_OFFLINE_HIVE)
    try:
        size = info.st_size
        if size > MAX_SYSTEM_HIVE_BYTES:
            raise HiveError(f"{path}: {size} bytes is more than the {MAX_SYSTEM_HIVE_BYTES}-byte limit",
                            code=NERR_CANT_LOAD_OFFLINE_HIVE)
        original = path.read_bytes()
    except OSError as exc:
        raise HiveError(f"cannot read the offline hive {path}: {exc.strerror}",
                        code=NERR_CANT_LOAD_OFFLINE_HIVE) from None
    try:
        hive = Hive(original, max_size=MAX_SYSTEM_HIVE_BYTES)
        control_set, writes, skipped = apply_to_hive(hive, pd)
    except HiveError as exc:
        raise HiveError(f"{path}: {exc.message}", code=NERR_CANT_LOAD_OFFLINE_HIVE, hint=exc.hint) from None
    if not hive.changed:
        return RegistryResult(hive=path, backup=None, control_set=control_set, writes=tuple(writes),
                              changed=False, skipped=tuple(skipped))
    new = hive.to_bytes()
    verify_hive(new, writes)
    backup_path = None
    try:
        # the backup (0600: the hive holds secrets) and the changed hive are one OutputSet: when
        # the hive cannot be replaced, no backup is left behind. The hive keeps its mode and owner.
        with output_set() as outs:
            if backup:
                stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
                backup_path = path.with_name(f"{path.name}.ppkgtool-{stamp}.bak")
                with outs.open(backup_path, overwrite=False, private=True) as fh:
                    fh.write(original)
            with outs.open(path, overwrite=True, like=info) as fh:
                fh.write(new)
    except OSError as exc:
        raise HiveError(f"cannot write the offline hive {path}: {exc.strerror}",
                        code=NERR_CANT_LOAD_OFFLINE_HIVE) from None
    return RegistryResult(hive=path, backup=backup_path, control_set=control_set, writes=tuple(writes),
                          changed=True, skipped=tuple(skipped))
