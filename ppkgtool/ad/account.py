"""Computer accounts over LDAP: the attributes Windows sets, create, reset password, delete.

The attribute recipe is NetProvisionComputerAccount's as Samba's ``net offlinejoin provision``
reproduces it (docs/ad.md; test-dc.md pitfall 7) [C]: objectClass computer, sAMAccountName NAME$,
userAccountControl 4096 (WORKSTATION_TRUST_ACCOUNT), lower-case dNSHostName, HOST/ and
RestrictedKrbHost/ SPNs for the short and the full name, msDS-SupportedEncryptionTypes 28
(RC4 | AES128 | AES256), unicodePwd = UTF-16LE of the quoted password (TLS only).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import ldap3
from ldap3.core import exceptions as lexc
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from ppkgtool.ad import errors as E
from ppkgtool.odj.request import InvalidMachineNameError, check_machine_name  # noqa: F401 - the one rule
from ppkgtool.ad.connection import ConnectionLostError
from ppkgtool.ad.directory import parse_sid, search
from ppkgtool.errors import DirectoryError, InvalidInputError

UF_WORKSTATION_TRUST_ACCOUNT = 0x1000
ENC_TYPES_DEFAULT = 0x1C   # RC4_HMAC | AES128_CTS | AES256_CTS (what net offlinejoin and Windows 2008+ set)

_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_DNS_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def check_dns_domain(domain: str, what: str = "domain") -> str:
    if not isinstance(domain, str) or not _DNS_RE.match(domain.rstrip(".")):
        raise InvalidInputError(f"invalid {what} {domain!r}: give a DNS name such as example.com",
                                code=E.ERROR_INVALID_PARAMETER)
    return domain.rstrip(".")


def check_ou(dn: str) -> str:
    """An RFC 1779/4514 distinguished name, syntax only (existence is checked on the DC)."""
    if not isinstance(dn, str) or not dn.strip():
        raise InvalidInputError("empty --machine-ou", code=E.ERROR_INVALID_PARAMETER)
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except (lexc.LDAPInvalidDnError, ValueError) as exc:
        raise InvalidInputError(f"--machine-ou {dn!r} is not a distinguished name: {exc}",
                                code=E.ERROR_INVALID_PARAMETER, hint='e.g. "OU=Kiosks,DC=example,DC=com"') from None
    if not parts or not any(p[0].upper() == "DC" for p in parts):
        raise InvalidInputError(f"--machine-ou {dn!r} has no DC= components",
                                code=E.ERROR_INVALID_PARAMETER, hint='e.g. "OU=Kiosks,DC=example,DC=com"')
    return dn


def quoted_password(password: str) -> bytes:
    """unicodePwd's value: UTF-16LE of the password in double quotes (MS-ADTS 3.1.1.3.1.5)."""
    return ('"' + password + '"').encode("utf-16-le")


@dataclass(frozen=True)
class ComputerSpec:
    """What the new account looks like."""

    host: str          # DNS host label as given (PC01, or a longer name with /netbios)
    netbios: str       # upper-case NetBIOS name: sAMAccountName without $
    dns_suffix: str    # primary DNS domain of the machine

    @property
    def sam_account_name(self) -> str:
        return self.netbios + "$"

    @property
    def dns_host_name(self) -> str:
        return f"{self.host}.{self.dns_suffix}".lower()

    @property
    def spns(self) -> list[str]:
        fqdn = f"{self.host}.{self.dns_suffix}"
        return [f"HOST/{fqdn}", f"RestrictedKrbHost/{fqdn}", f"HOST/{self.netbios}",
                f"RestrictedKrbHost/{self.netbios}"]

    def dn(self, container_dn: str) -> str:
        return f"CN={escape_rdn(self.netbios)},{container_dn}"

    def attributes(self, password: str | None) -> dict:
        attrs = {
            "objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
            "sAMAccountName": self.sam_account_name,
            "userAccountControl": str(UF_WORKSTATION_TRUST_ACCOUNT),
            "dNSHostName": self.dns_host_name,
            "servicePrincipalName": self.spns,
            "msDS-SupportedEncryptionTypes": str(ENC_TYPES_DEFAULT),
        }
        if password is not None:
            attrs["unicodePwd"] = quoted_password(password)
        return attrs

    def service_attributes(self) -> dict:
        """The attributes SAMR does not set (dNSHostName, SPNs, encryption types)."""
        return {k: v for k, v in self.attributes(None).items()
                if k in ("dNSHostName", "servicePrincipalName", "msDS-SupportedEncryptionTypes")}


@dataclass(frozen=True)
class ComputerIdentity:
    dn: str
    sid: str
    rid: int
    object_guid: uuid.UUID


def _call(what: str, fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except lexc.LDAPException as exc:
        raise ConnectionLostError(f"{what}: lost the connection to the DC ({exc})", code=E.ERROR_NO_SUCH_DOMAIN) from None


def find_computer(conn: ldap3.Connection, base_dn: str, netbios: str) -> str | None:
    """The DN of the account whose sAMAccountName is NETBIOS$, or None."""
    flt = f"(sAMAccountName={escape_filter_chars(netbios.upper() + '$')})"
    entries = search(conn, base_dn, flt, ldap3.SUBTREE, ["objectClass", "userAccountControl"],
                     what=f"looking up {netbios}$")
    return entries[0]["dn"] if entries else None


def read_identity(conn: ldap3.Connection, dn: str) -> ComputerIdentity:
    entries = search(conn, dn, "(objectClass=*)", ldap3.BASE, ["objectSid", "objectGUID"],
                     what=f"reading {dn}")
    if not entries:
        raise DirectoryError(f"{dn} vanished after it was written", code=E.ERROR_DS_NO_SUCH_OBJECT)
    raw = entries[0]["raw"]
    sid = parse_sid((raw.get("objectsid") or [b""])[0])
    guid = (raw.get("objectguid") or [b""])[0]
    if len(guid) != 16:
        raise DirectoryError(f"{dn} has no objectGUID", code=E.ERROR_ACCESS_DENIED)
    return ComputerIdentity(dn=dn, sid=sid, rid=int(sid.rsplit("-", 1)[1]), object_guid=uuid.UUID(bytes_le=guid))


def create_computer(conn: ldap3.Connection, dn: str, spec: ComputerSpec, password: str) -> None:
    attrs = spec.attributes(password)
    ok = _call(f"creating {dn}", conn.add, dn, attributes=attrs)
    if not ok:
        result = dict(conn.result)
        hint = None
        if result.get("result") == 32:
            hint = "check --machine-ou: the container does not exist"
        err = E.ldap_failure(f"cannot create {spec.sam_account_name} in {dn.split(',', 1)[1]}", result, hint=hint)
        if err.code == E.ERROR_DS_MACHINE_ACCOUNT_QUOTA_EXCEEDED:
            err.hint = "the user has created ms-DS-MachineAccountQuota accounts; ask a domain admin"
        raise err


def set_password(conn: ldap3.Connection, dn: str, password: str) -> None:
    ok = _call(f"resetting the password of {dn}", conn.modify, dn,
               {"unicodePwd": [(ldap3.MODIFY_REPLACE, [quoted_password(password)])]})
    if not ok:
        raise E.ldap_failure(f"cannot reset the password of {dn}", dict(conn.result))


def update_attributes(conn: ldap3.Connection, dn: str, attrs: dict) -> None:
    changes = {k: [(ldap3.MODIFY_REPLACE, v if isinstance(v, list) else [v])] for k, v in attrs.items()}
    ok = _call(f"updating {dn}", conn.modify, dn, changes)
    if not ok:
        raise E.ldap_failure(f"cannot update {dn}", dict(conn.result))


def delete_computer(conn: ldap3.Connection, dn: str) -> None:
    # tree delete control (1.2.840.113556.1.4.805): a computer may have children (e.g. BitLocker keys)
    ok = _call(f"deleting {dn}", conn.delete, dn, controls=[("1.2.840.113556.1.4.805", True, None)])
    if not ok and conn.result.get("result") != 32:
        raise E.ldap_failure(f"cannot delete {dn}", dict(conn.result))
