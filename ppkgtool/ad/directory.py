"""Domain facts read from the directory: rootDSE, the LDAP "ping", the domain head, the partitions.

Pure parsers (``parse_netlogon_response``, ``parse_sid``, ``wellknown_dn``) take bytes/strings; the
``read_*`` functions take a bound ldap3 connection.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

import ldap3
from ldap3.core import exceptions as lexc
from ldap3.utils.conv import escape_filter_chars

from ppkgtool.ad import errors as E
from ppkgtool.ad.connection import ConnectionLostError
from ppkgtool.errors import DirectoryError, FormatError

# DS_FLAG bits (MS-ADTS 6.3.1.2; DsGetDcName adds the DNS_* bits when it returns DNS names) [C]
DS_PDC_FLAG = 0x1
DS_GC_FLAG = 0x4
DS_LDAP_FLAG = 0x8
DS_DS_FLAG = 0x10
DS_KDC_FLAG = 0x20
DS_TIMESERV_FLAG = 0x40
DS_CLOSEST_FLAG = 0x80
DS_WRITABLE_FLAG = 0x100
DS_GOOD_TIMESERV_FLAG = 0x200
DS_NDNC_FLAG = 0x400
DS_SELECT_SECRET_DOMAIN_6_FLAG = 0x800   # an RODC
DS_FULL_SECRET_DOMAIN_6_FLAG = 0x1000
DS_DNS_CONTROLLER_FLAG = 0x20000000
DS_DNS_DOMAIN_FLAG = 0x40000000
DS_DNS_FOREST_FLAG = 0x80000000

# Well-known object GUIDs (MS-ADTS 6.1.1.4) [C]
WKGUID_COMPUTERS = "AA312825768811D1ADED00C04FD8D5CD"

# NETLOGON_NT_VERSION_5 | NETLOGON_NT_VERSION_5EX (MS-ADTS 6.3.1.1): ask for the _EX response
NT_VERSION_5EX = 0x00000006
LOGON_SAM_LOGON_RESPONSE_EX = 23
LOGON_SAM_USER_UNKNOWN_EX = 25

MAX_NETLOGON = 4096


def _lost(what: str, exc: BaseException) -> ConnectionLostError:
    return ConnectionLostError(f"{what}: lost the connection to the DC ({exc})", code=E.ERROR_NO_SUCH_DOMAIN)


def search(conn: ldap3.Connection, base: str, flt: str, scope, attrs, *, what: str, controls=None,
           missing_ok: bool = False) -> list[dict]:
    """A search that returns entry dicts with ``dn`` and ``raw`` (attribute -> list of bytes)."""
    try:
        ok = conn.search(base, flt, search_scope=scope, attributes=attrs, controls=controls)
    except lexc.LDAPException as exc:
        raise _lost(what, exc) from None
    if not ok and conn.result.get("result") not in (0, 4):
        if missing_ok and conn.result.get("result") == 32:
            return []
        raise E.ldap_failure(what, dict(conn.result))
    out = []
    for r in conn.response or ():
        if r.get("type") != "searchResEntry":
            continue
        raw = {k.lower(): list(v) for k, v in (r.get("raw_attributes") or {}).items()}
        out.append({"dn": r.get("dn", ""), "raw": raw})
    return out


def first_text(entry: dict, attr: str) -> str | None:
    vals = entry["raw"].get(attr.lower()) or []
    return vals[0].decode("utf-8") if vals else None


# --- rootDSE ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RootDse:
    default_nc: str
    config_nc: str
    root_domain_nc: str
    server_name: str          # CN=DC1,CN=Servers,CN=<site>,CN=Sites,...
    dns_host_name: str
    ds_service_name: str

    @property
    def dc_site(self) -> str | None:
        parts = [p for p in _split_dn(self.server_name)]
        # CN=DC1, CN=Servers, CN=<site>, CN=Sites
        if len(parts) >= 4 and parts[1].upper() == "CN=SERVERS":
            return parts[2].split("=", 1)[1]
        return None


def _split_dn(dn: str) -> list[str]:
    from ldap3.utils.dn import parse_dn
    try:
        return [f"{t}={v}" for t, v, _sep in parse_dn(dn, escape=False, strip=True)]
    except Exception:  # noqa: BLE001 - ldap3 raises several types for bad DNs
        raise FormatError(f"malformed distinguished name {dn!r}", where="DN") from None


def read_root_dse(conn: ldap3.Connection) -> RootDse:
    attrs = ["defaultNamingContext", "configurationNamingContext", "rootDomainNamingContext",
             "serverName", "dnsHostName", "dsServiceName"]
    entries = search(conn, "", "(objectClass=*)", ldap3.BASE, attrs, what="reading the rootDSE")
    if not entries:
        raise DirectoryError("the DC returned no rootDSE", code=E.ERROR_NO_SUCH_DOMAIN)
    e = entries[0]
    vals = {a: first_text(e, a) for a in attrs}
    missing = [a for a in ("defaultNamingContext", "configurationNamingContext") if not vals[a]]
    if missing:
        raise DirectoryError(f"the server is not an Active Directory DC (rootDSE lacks {', '.join(missing)})",
                             code=E.ERROR_NO_SUCH_DOMAIN)
    return RootDse(default_nc=vals["defaultNamingContext"], config_nc=vals["configurationNamingContext"],
                   root_domain_nc=vals["rootDomainNamingContext"] or vals["defaultNamingContext"],
                   server_name=vals["serverName"] or "", dns_host_name=vals["dnsHostName"] or "",
                   ds_service_name=vals["dsServiceName"] or "")


# --- the LDAP ping (MS-ADTS 6.3.3.2) and NETLOGON_SAM_LOGON_RESPONSE_EX (6.3.1.9) -----------------

@dataclass(frozen=True)
class NetlogonResponse:
    opcode: int
    flags: int
    domain_guid: uuid.UUID
    dns_forest: str
    dns_domain: str
    dns_host: str
    netbios_domain: str
    netbios_computer: str
    user_name: str
    dc_site: str
    client_site: str
    next_closest_site: str | None
    nt_version: int

    @property
    def writable(self) -> bool:
        return bool(self.flags & DS_WRITABLE_FLAG)


def _read_name(data: bytes, pos: int, where: str) -> tuple[str, int]:
    """An RFC 1035 (4.1.4) compressed name starting at ``pos``; returns (name, next position)."""
    labels: list[str] = []
    end = None
    jumps = 0
    while True:
        if pos >= len(data):
            raise FormatError("name runs past the end", where=f"{where}@{pos}")
        n = data[pos]
        if n == 0:
            pos += 1
            break
        if n & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise FormatError("truncated name pointer", where=f"{where}@{pos}")
            target = ((n & 0x3F) << 8) | data[pos + 1]
            if end is None:
                end = pos + 2
            jumps += 1
            if jumps > 32 or target >= len(data):
                raise FormatError("bad name pointer", where=f"{where}@{pos}")
            pos = target
            continue
        if n & 0xC0:
            raise FormatError(f"bad label length 0x{n:02x}", where=f"{where}@{pos}")
        label = data[pos + 1:pos + 1 + n]
        if len(label) != n:
            raise FormatError("truncated label", where=f"{where}@{pos}")
        try:
            labels.append(label.decode("utf-8"))
        except UnicodeDecodeError:
            raise FormatError("label is not UTF-8", where=f"{where}@{pos}") from None
        pos += 1 + n
        if len(labels) > 127:
            raise FormatError("too many labels", where=f"{where}@{pos}")
    return ".".join(labels), (end if end is not None else pos)


def parse_netlogon_response(data: bytes, *, nt_version: int = NT_VERSION_5EX) -> NetlogonResponse:
    """NETLOGON_SAM_LOGON_RESPONSE_EX as returned in the rootDSE ``Netlogon`` attribute."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError("data must be bytes")
    data = bytes(data)
    where = "NETLOGON_SAM_LOGON_RESPONSE_EX"
    if len(data) > MAX_NETLOGON:
        raise FormatError(f"{len(data)} bytes is too large", where=where)
    if len(data) < 24:
        raise FormatError(f"{len(data)} bytes is too short", where=where)
    opcode, _sbz, flags = struct.unpack_from("<HHI", data, 0)
    if opcode not in (LOGON_SAM_LOGON_RESPONSE_EX, LOGON_SAM_USER_UNKNOWN_EX):
        raise FormatError(f"opcode {opcode} is not a LOGON_SAM_LOGON_RESPONSE_EX", where=f"{where}@0")
    guid = uuid.UUID(bytes_le=data[8:24])
    pos = 24
    names = []
    for field_name in ("DnsForestName", "DnsDomainName", "DnsHostName", "NetbiosDomainName",
                       "NetbiosComputerName", "UserName", "DcSiteName", "ClientSiteName"):
        name, pos = _read_name(data, pos, f"{where}.{field_name}")
        names.append(name)
    if nt_version & 0x8:  # NETLOGON_NT_VERSION_5EX_WITH_IP: DcSockAddrSize + DcSockAddr
        if pos >= len(data):
            raise FormatError("missing DcSockAddrSize", where=f"{where}@{pos}")
        pos += 1 + data[pos]
    next_closest = None
    if nt_version & 0x10:  # NETLOGON_NT_VERSION_WITH_CLOSEST_SITE
        next_closest, pos = _read_name(data, pos, f"{where}.NextClosestSiteName")
    if pos + 8 > len(data):
        raise FormatError("missing NtVersion/LmNtToken/Lm20Token", where=f"{where}@{pos}")
    (ntv,) = struct.unpack_from("<I", data, pos)
    return NetlogonResponse(opcode, flags, guid, *names, next_closest_site=next_closest, nt_version=ntv)


def nc_to_dns(nc: str) -> str:
    """DC=example,DC=com -> example.com"""
    return ".".join(p.split("=", 1)[1] for p in _split_dn(nc) if p.upper().startswith("DC="))


def ldap_ping(conn: ldap3.Connection, dns_domain: str | None = None) -> NetlogonResponse:
    """Ask the DC for its NETLOGON_SAM_LOGON_RESPONSE_EX over the bound LDAP connection."""
    ver = "".join(f"\\{b:02x}" for b in struct.pack("<I", NT_VERSION_5EX))
    flt = f"(NtVer={ver})"
    if dns_domain:
        flt = f"(&(DnsDomain={escape_filter_chars(dns_domain)}){flt})"
    entries = search(conn, "", flt, ldap3.BASE, ["Netlogon"], what="LDAP ping (Netlogon)")
    vals = entries[0]["raw"].get("netlogon") if entries else None
    if not vals:
        raise DirectoryError(f"the DC does not serve the domain {dns_domain}" if dns_domain
                             else "the DC did not answer the LDAP ping", code=E.ERROR_NO_SUCH_DOMAIN)
    return parse_netlogon_response(vals[0])


# --- SIDs, GUIDs, well-known containers -----------------------------------------------------------

def parse_sid(data: bytes) -> str:
    """A binary SID (MS-DTYP 2.4.2.2) as S-1-... text."""
    if len(data) < 8:
        raise FormatError("SID shorter than 8 bytes", where="objectSid")
    rev, count = data[0], data[1]
    if rev != 1 or len(data) != 8 + 4 * count or count > 15:
        raise FormatError(f"malformed SID (revision {rev}, {count} sub-authorities, {len(data)} bytes)",
                          where="objectSid")
    auth = int.from_bytes(data[2:8], "big")
    subs = struct.unpack_from(f"<{count}I", data, 8)
    return "S-1-" + str(auth) + "".join(f"-{s}" for s in subs)


def wellknown_dn(values: list[bytes] | list[str], wkguid: str) -> str | None:
    """The DN for ``wkguid`` in a wellKnownObjects value list (``B:32:<hex guid>:<dn>``)."""
    for v in values:
        text = v.decode("utf-8") if isinstance(v, (bytes, bytearray)) else v
        parts = text.split(":", 3)
        if len(parts) == 4 and parts[0] == "B" and parts[2].upper() == wkguid.upper():
            return parts[3]
    return None


@dataclass(frozen=True)
class DomainHead:
    dn: str
    guid: uuid.UUID
    sid: str
    computers_dn: str


def read_domain_head(conn: ldap3.Connection, default_nc: str) -> DomainHead:
    entries = search(conn, default_nc, "(objectClass=*)", ldap3.BASE,
                     ["objectGUID", "objectSid", "wellKnownObjects"], what="reading the domain object")
    if not entries:
        raise DirectoryError(f"cannot read the domain object {default_nc}", code=E.ERROR_NO_SUCH_DOMAIN)
    e = entries[0]
    guid_raw = (e["raw"].get("objectguid") or [b""])[0]
    sid_raw = (e["raw"].get("objectsid") or [b""])[0]
    if len(guid_raw) != 16 or not sid_raw:
        raise DirectoryError(f"the domain object {default_nc} lacks objectGUID/objectSid (access denied?)",
                             code=E.ERROR_ACCESS_DENIED)
    computers = wellknown_dn(e["raw"].get("wellknownobjects") or [], WKGUID_COMPUTERS) or f"CN=Computers,{default_nc}"
    return DomainHead(dn=default_nc, guid=uuid.UUID(bytes_le=guid_raw), sid=parse_sid(sid_raw),
                      computers_dn=computers)


def read_netbios_name(conn: ldap3.Connection, config_nc: str, nc: str) -> tuple[str, str]:
    """(NetBIOS name, DNS root) of a naming context from its crossRef under CN=Partitions."""
    flt = f"(&(objectClass=crossRef)(nCName={escape_filter_chars(nc)}))"
    entries = search(conn, f"CN=Partitions,{config_nc}", flt, ldap3.LEVEL, ["nETBIOSName", "dnsRoot"],
                     what="reading the domain's crossRef")
    if not entries:
        raise DirectoryError(f"no crossRef for {nc} under CN=Partitions", code=E.ERROR_NO_SUCH_DOMAIN)
    e = entries[0]
    return first_text(e, "nETBIOSName") or "", first_text(e, "dnsRoot") or ""


def object_exists(conn: ldap3.Connection, dn: str, *, what: str) -> bool:
    return bool(search(conn, dn, "(objectClass=*)", ldap3.BASE, ["objectClass"], what=what, missing_ok=True))
