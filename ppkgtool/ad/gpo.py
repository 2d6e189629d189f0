"""djoin /policynames: GPOs by display name, and their Machine\\Registry.pol from SYSVOL over SMB.

A GPO is a groupPolicyContainer under ``CN=Policies,CN=System,<domain NC>`` whose ``gPCFileSysPath``
(``\\\\domain\\SysVol\\domain\\Policies\\{GUID}``) names its folder in SYSVOL; the machine half's
registry settings are ``Machine\\Registry.pol`` there [C: MS-GPOL 2.2.4, MS-GPREG 2.2.1].
The file is read from the DC we are talking to (not from the DFS name in the path), over SMB with
NTLM; impacket signs the session when the DC requires it.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass

import ldap3
from ldap3.utils.conv import escape_filter_chars

from ppkgtool.ad import errors as E
from ppkgtool.ad.connection import Credentials, DcTarget
from ppkgtool.ad.directory import first_text, search
from ppkgtool.errors import DirectoryError, InvalidInputError

MAX_REGISTRY_POL = 8 * 1024 * 1024
_SEGMENT = re.compile(r"^[^\\/:*?\"<>|\x00-\x1f]+$")


@dataclass(frozen=True)
class Gpo:
    display_name: str
    dn: str
    guid: str               # {XXXXXXXX-...}: the cn of the container
    file_sys_path: str      # gPCFileSysPath as stored

    def sysvol_location(self) -> tuple[str, str]:
        """(share, path inside the share) of the GPO folder, checked for traversal."""
        return split_unc(self.file_sys_path)


def split_unc(path: str) -> tuple[str, str]:
    r"""``\\host\share\a\b`` -> ("share", "a\b"); refuses empty, "." and ".." segments."""
    if not path.startswith("\\\\"):
        raise InvalidInputError(f"gPCFileSysPath {path!r} is not a UNC path", code=E.ERROR_BAD_NETPATH)
    parts = path[2:].split("\\")
    if len(parts) < 3 or not all(parts):
        raise InvalidInputError(f"gPCFileSysPath {path!r} has no share and folder", code=E.ERROR_BAD_NETPATH)
    for seg in parts[1:]:
        if seg in (".", "..") or not _SEGMENT.match(seg):
            raise InvalidInputError(f"gPCFileSysPath {path!r} has an unsafe segment {seg!r}",
                                    code=E.ERROR_BAD_NETPATH)
    return parts[1], "\\".join(parts[2:])


def find_gpos(conn: ldap3.Connection, default_nc: str, names: list[str] | tuple[str, ...]) -> list[Gpo]:
    """The GPOs with these display names (each must exist exactly once), in the order given."""
    out = []
    base = f"CN=Policies,CN=System,{default_nc}"
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError("empty policy name in --policynames", code=E.ERROR_INVALID_PARAMETER)
        flt = f"(&(objectClass=groupPolicyContainer)(displayName={escape_filter_chars(name.strip())}))"
        entries = search(conn, base, flt, ldap3.LEVEL, ["displayName", "cn", "gPCFileSysPath"],
                         what=f"looking up the GPO {name!r}", missing_ok=True)
        if not entries:
            raise DirectoryError(f"no group policy object named {name!r} in the domain", code=E.ERROR_NOT_FOUND,
                                 hint="names are GPO display names, as the Group Policy console shows them")
        if len(entries) > 1:
            raise DirectoryError(f"{len(entries)} group policy objects are named {name!r}; rename one",
                                 code=E.ERROR_INVALID_PARAMETER)
        e = entries[0]
        path = first_text(e, "gPCFileSysPath")
        if not path:
            raise DirectoryError(f"the GPO {name!r} has no gPCFileSysPath", code=E.ERROR_BAD_NETPATH)
        out.append(Gpo(display_name=first_text(e, "displayName") or name, dn=e["dn"],
                       guid=first_text(e, "cn") or "", file_sys_path=path))
    return out


def read_registry_pols(target: DcTarget, creds: Credentials, gpos: list[Gpo]) -> list[tuple[str, bytes]]:
    """[(source name, Machine\\Registry.pol bytes)] for each GPO, over one SMB session."""
    from impacket.smbconnection import SessionError

    from ppkgtool.ad.samr import smb_connect

    if not gpos:
        return []
    smb = smb_connect(target, creds)
    out = []
    try:
        for gpo in gpos:
            share, folder = gpo.sysvol_location()
            path = folder + "\\Machine\\Registry.pol"
            sink = _LimitedSink(MAX_REGISTRY_POL)
            try:
                smb.getFile(share, path, sink.write)
            except SessionError as exc:
                status = exc.getErrorCode() & 0xFFFFFFFF
                if status in (0xC0000034, 0xC000003A):  # OBJECT_NAME/PATH_NOT_FOUND
                    raise DirectoryError(f"the GPO {gpo.display_name!r} has no machine registry settings "
                                         f"(no {share}\\{path} on {target.name})", code=E.ERROR_NOT_FOUND) from None
                if status == 0xC0000022:
                    raise DirectoryError(f"access denied reading {share}\\{path}", code=E.ERROR_ACCESS_DENIED) from None
                raise DirectoryError(f"cannot read {share}\\{path} from {target.name}: {exc}",
                                     code=E.ERROR_BAD_NETPATH) from None
            except _TooLarge:
                raise DirectoryError(f"{share}\\{path} is larger than {MAX_REGISTRY_POL} bytes",
                                     code=E.ERROR_INVALID_PARAMETER) from None
            # pSource: the policy file's UNC path [U: what djoin writes there is not documented]
            out.append((gpo.file_sys_path.rstrip("\\") + "\\Machine\\Registry.pol", sink.getvalue()))
    finally:
        with contextlib.suppress(Exception):
            smb.close()
    return out


class _TooLarge(Exception):
    pass


class _LimitedSink(io.BytesIO):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def write(self, b) -> int:  # type: ignore[override]
        if self.tell() + len(b) > self.limit:
            raise _TooLarge()
        return super().write(b)
