"""What djoin /provision's switches put into a blob: one rule for ``odj compose``, ``odj provision``
and ``bulk`` (odj-format.md; djoin's /machine /netbios /defpwd /reuse /rootcacerts /psite /dsite
/primarydns).

- The machine name: the NetBIOS name (sAMAccountName without ``$``) is 1-15 letters, digits and
  hyphens, not only digits, no leading or trailing hyphen; with ``/netbios`` the machine name may be a
  longer DNS host label (up to 63 characters) [C: Windows' rules for new computer names,
  ERROR_INVALID_COMPUTERNAME 1210].
- The default password (``/defpwd``): the NetBIOS name in lower case, at most 14 characters, the
  pre-Windows 2000 rule [I].
- NETSETUP_PROVISION options: REUSE_ACCOUNT, USE_DEFAULT_PASSWORD, ROOT_CA_CERTS, PERSISTENTSITE
  for the switches given [C: the bits djoin and net offlinejoin set].
- JOIN_PROVIDER2 when /netbios, /psite, /dsite or /primarydns is given: flags PERSISTENTSITE for
  /psite, the NetBIOS name when /netbios named one, the site, the primary DNS domain [C].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ppkgtool.errors import InvalidInputError
from ppkgtool.odj.models import NETSETUP_PROVISION, OP_JP2_FLAG_PERSISTENTSITE, JoinProv2Part

ERROR_INVALID_COMPUTERNAME = 1210
MAX_NETBIOS = 15
_NETBIOS_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,13}[A-Za-z0-9])?$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class InvalidMachineNameError(InvalidInputError, ValueError):
    """A machine name Windows would refuse (ERROR_INVALID_COMPUTERNAME 1210)."""


def check_machine_name(name: str, *, netbios: str | None = None) -> tuple[str, str]:
    """(host name, NetBIOS name in upper case) for djoin's /machine and /netbios."""
    if not isinstance(name, str):
        raise InvalidMachineNameError("the machine name must be text", code=ERROR_INVALID_COMPUTERNAME)
    host = name[:-1] if name.endswith("$") else name
    nb = netbios if netbios is not None else host
    if not isinstance(nb, str) or not _NETBIOS_RE.match(nb) or nb.isdigit():
        what = "NetBIOS name" if netbios is not None else "machine name"
        raise InvalidMachineNameError(
            f"invalid {what} {nb!r}: use 1-15 letters, digits or hyphens (not only digits, no leading or "
            f"trailing hyphen)" + ("" if netbios is not None else "; give a longer DNS host name with --netbios"),
            code=ERROR_INVALID_COMPUTERNAME)
    if not _LABEL_RE.match(host) or host.isdigit():
        raise InvalidMachineNameError(
            f"invalid machine name {host!r}: use 1-63 letters, digits or hyphens", code=ERROR_INVALID_COMPUTERNAME)
    return host, nb.upper()


@dataclass(frozen=True)
class JoinRequest:
    """djoin /provision's switches that shape the blob (not the directory side)."""

    machine: str
    netbios: str | None = None
    default_password: bool = False
    reuse: bool = False
    root_ca_certs: bool = False
    psite: str | None = None
    dsite: str | None = None
    primarydns: str | None = None

    def __post_init__(self):
        if self.psite and self.dsite:
            raise InvalidInputError("--psite and --dsite exclude each other")
        check_machine_name(self.machine, netbios=self.netbios)

    @property
    def names(self) -> tuple[str, str]:
        return check_machine_name(self.machine, netbios=self.netbios)

    @property
    def blob_machine_name(self) -> str:
        """The name the blob carries: the host name when it fits NetBIOS, else the NetBIOS name."""
        host, nb = self.names
        return host if len(host) <= MAX_NETBIOS else nb

    @property
    def default_password_text(self) -> str:
        return self.names[1].lower()[:14]

    @property
    def options(self) -> int:
        o = NETSETUP_PROVISION(0)
        if self.reuse:
            o |= NETSETUP_PROVISION.REUSE_ACCOUNT
        if self.default_password:
            o |= NETSETUP_PROVISION.USE_DEFAULT_PASSWORD
        if self.root_ca_certs:
            o |= NETSETUP_PROVISION.ROOT_CA_CERTS
        if self.psite:
            o |= NETSETUP_PROVISION.PERSISTENTSITE
        return int(o)

    def join_provider2(self) -> JoinProv2Part | None:
        if not (self.netbios or self.psite or self.dsite or self.primarydns):
            return None
        return JoinProv2Part(flags=OP_JP2_FLAG_PERSISTENTSITE if self.psite else 0,
                             netbios_name=self.netbios.upper() if self.netbios else None,
                             site_name=self.psite or self.dsite, primary_dns_domain=self.primarydns)


__all__ = ["ERROR_INVALID_COMPUTERNAME", "InvalidMachineNameError", "JoinRequest", "check_machine_name"]
