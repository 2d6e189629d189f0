"""Compose an ODJ blob from known facts, with no DC (like Samba 4.20's ``net offlinejoin composeodj``).

The shape is what Windows and Samba emit (docs/formats/odj.md): blob 1 = the ODJ_WIN7BLOB stream,
blob 2 = an OP_PACKAGE whose parts are JOIN_PROVIDER (flags 1 = essential, the same Win7 blob),
JOIN_PROVIDER3 (flags 0, when the RID is known), then the optional JOIN_PROVIDER2/4, CERT and
POLICY parts (flags 0 [I]).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import string
import unicodedata
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

from ppkgtool.odj.models import (
    DS_INET_ADDRESS, GUID_NULL, ODJ_WIN7_FORMAT, ODJ_WIN8_FORMAT, OPSPI_PACKAGE_PART_ESSENTIAL, CertPart, DcInfo,
    DnsDomainInfo, JoinProv2Part, JoinProv3Part, JoinProv4Part, OdjBlob, OpPackage, PackagePart, PolicyPart,
    ProvisionData, Win7Blob,
)
from ppkgtool.odj.ndr import parse_sid

# DS_* flags of a writable Windows Server 2019 PDC/GC in a single-domain forest, as DsGetDcName
# returned them in the real Windows blob (0xe003f3fd): PDC, GC, LDAP, DS, KDC, TIMESERV, CLOSEST,
# WRITABLE, GOOD_TIMESERV, FULL_SECRET_DOMAIN_6, WS, DS_8, DS_9, DS_10, KEY_LIST, DNS_CONTROLLER,
# DNS_DOMAIN, DNS_FOREST.
DEFAULT_DC_FLAGS = 0xE003F3FD
DEFAULT_SITE = "Default-First-Site-Name"
MACHINE_PASSWORD_LENGTH = 120       # UTF-16 code units, as Windows generates (odj-format.md)
COMPACT_PASSWORD_LENGTH = 64        # ASCII characters: one HMAC-SHA1 block of UTF-8
MACHINE_PASSWORD_FORMS = ("windows", "compact")
_PASSWORD_SYMBOLS = "!#$%&()*+,-.:;<=>?@[]^_{|}~"     # no quotes, backslash, backtick or space
_COMPACT_ALPHABET = string.ascii_letters + string.digits + _PASSWORD_SYMBOLS

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_NETBIOS_BAD = set('\\/:*?"<>|.') | {chr(c) for c in range(32)}


def _dns_name(what: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str")
    name = value.rstrip(".")
    if not name or len(name) > 253 or not all(_DNS_LABEL.match(lbl) for lbl in name.split(".")):
        raise ValueError(f"{what} {value!r} is not a DNS name")
    return name


@dataclass(frozen=True)
class DomainFacts:
    """What a blob says about the domain and its DC."""

    dns_domain: str
    netbios_name: str
    dns_forest: str
    domain_guid: uuid.UUID
    domain_sid: str
    dc_name: str                      # DNS name, without the leading backslashes (the encoder adds "\\\\")
    dc_address: str                   # IP address (DS_INET_ADDRESS), without backslashes
    dc_address_type: int = DS_INET_ADDRESS
    dc_flags: int = DEFAULT_DC_FLAGS
    dc_site: str = DEFAULT_SITE
    client_site: str = DEFAULT_SITE

    def __post_init__(self):
        object.__setattr__(self, "dns_domain", _dns_name("dns_domain", self.dns_domain))
        object.__setattr__(self, "dns_forest", _dns_name("dns_forest", self.dns_forest))
        if not isinstance(self.netbios_name, str) or not 1 <= len(self.netbios_name) <= 15 \
                or set(self.netbios_name) & _NETBIOS_BAD:
            raise ValueError(f"netbios_name {self.netbios_name!r} is not a NetBIOS domain name (1-15 characters, "
                             "no \\ / : * ? \" < > | .)")
        if not isinstance(self.domain_guid, uuid.UUID):
            raise TypeError("domain_guid must be a uuid.UUID")
        auth, subs = parse_sid(self.domain_sid)
        object.__setattr__(self, "domain_sid", "S-1-" + str(auth) + "".join(f"-{s}" for s in subs))
        if not isinstance(self.dc_name, str):
            raise TypeError("dc_name must be a str")
        object.__setattr__(self, "dc_name", _dns_name("dc_name", self.dc_name.lstrip("\\")))
        if not isinstance(self.dc_address, str):
            raise TypeError("dc_address must be a str")
        addr = self.dc_address.lstrip("\\")
        for n in ("dc_address_type", "dc_flags"):
            v = getattr(self, n)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2 ** 32:
                raise TypeError(f"{n} must be a u32 int")
        if self.dc_address_type == DS_INET_ADDRESS:
            try:
                addr = str(ipaddress.ip_address(addr))
            except ValueError:
                raise ValueError(f"dc_address {self.dc_address!r} is not an IP address") from None
        object.__setattr__(self, "dc_address", addr)
        for n in ("dc_site", "client_site"):
            v = getattr(self, n)
            if not isinstance(v, str) or not v or len(v) > 63:
                raise ValueError(f"{n} must be a site name (1-63 characters)")

    def to_json(self) -> dict:
        """The facts file 'odj compose --facts' reads and 'odj facts' writes (docs/commands/odj-show-compose.md)."""
        return {"dns_domain": self.dns_domain, "netbios_name": self.netbios_name, "dns_forest": self.dns_forest,
                "domain_sid": self.domain_sid, "domain_guid": str(self.domain_guid), "dc_name": self.dc_name,
                "dc_address": self.dc_address, "dc_address_type": self.dc_address_type,
                "dc_flags": f"{self.dc_flags:#010x}", "dc_site": self.dc_site, "client_site": self.client_site}


@dataclass(frozen=True)
class MachineFacts:
    """The computer account a blob joins."""

    machine_name: str
    password: str = field(repr=False)
    rid: int | None = None
    object_guid: uuid.UUID | None = None
    options: int = 0

    def __post_init__(self):
        from ppkgtool.odj.request import MAX_NETBIOS, check_machine_name
        check_machine_name(self.machine_name)       # the one rule (odj.request), 1-15 characters here
        if len(self.machine_name) > MAX_NETBIOS:
            raise ValueError(f"machine_name {self.machine_name!r} is longer than {MAX_NETBIOS} characters")
        if not isinstance(self.password, str) or not self.password:
            raise ValueError("the machine password must be a non-empty str")
        if "\x00" in self.password or len(self.password) > 256:
            raise ValueError("the machine password cannot contain NUL or exceed 256 characters")
        if self.rid is not None and (not isinstance(self.rid, int) or isinstance(self.rid, bool)
                                     or not 0 < self.rid < 2 ** 32):
            raise ValueError(f"rid must be a positive u32, not {self.rid!r}")
        if self.object_guid is not None and not isinstance(self.object_guid, uuid.UUID):
            raise TypeError("object_guid must be a uuid.UUID")
        if not isinstance(self.options, int) or isinstance(self.options, bool) or not 0 <= self.options < 2 ** 32:
            raise TypeError("options must be a u32 int")


def compose_provision_data(domain: DomainFacts, machine: MachineFacts, *,
                           join_provider2: JoinProv2Part | None = None, join_provider4: bool = False,
                           cert_part: CertPart | None = None,
                           policy_part: PolicyPart | None = None) -> ProvisionData:
    """Build the ProvisionData Windows/Samba would emit for this account (see module doc)."""
    if not isinstance(domain, DomainFacts) or not isinstance(machine, MachineFacts):
        raise TypeError("compose_provision_data needs DomainFacts and MachineFacts")
    win7 = Win7Blob(
        domain=domain.dns_domain, machine_name=machine.machine_name, machine_password=machine.password,
        dns_domain_info=DnsDomainInfo(domain.netbios_name, domain.dns_domain, domain.dns_forest, domain.domain_guid,
                                      domain.domain_sid),
        dc_info=DcInfo("\\\\" + domain.dc_name, "\\\\" + domain.dc_address, domain.dc_address_type,
                       domain.domain_guid, domain.dns_domain, domain.dns_forest, domain.dc_flags, domain.dc_site,
                       domain.client_site),
        options=machine.options)
    parts = [PackagePart.of(win7, flags=OPSPI_PACKAGE_PART_ESSENTIAL)]
    machine_sid = f"{domain.domain_sid}-{machine.rid}" if machine.rid is not None else None
    if machine.rid is not None:
        parts.append(PackagePart.of(JoinProv3Part(machine.rid, machine_sid)))
    if join_provider2 is not None:
        if not isinstance(join_provider2, JoinProv2Part):
            raise TypeError("join_provider2 must be a JoinProv2Part")
        parts.append(PackagePart.of(join_provider2))
    if join_provider4:
        if machine.rid is None or machine.object_guid is None:
            raise ValueError("a JOIN_PROVIDER4 part needs the account's RID and objectGUID")
        parts.append(PackagePart.of(JoinProv4Part(machine.rid, machine_sid, machine.object_guid)))
    if cert_part is not None:
        if not isinstance(cert_part, CertPart):
            raise TypeError("cert_part must be a CertPart")
        parts.append(PackagePart.of(cert_part))
    if policy_part is not None:
        if not isinstance(policy_part, PolicyPart):
            raise TypeError("policy_part must be a PolicyPart")
        parts.append(PackagePart.of(policy_part))
    package = OpPackage(parts=tuple(parts), encryption_type=GUID_NULL)
    return ProvisionData((OdjBlob(ODJ_WIN7_FORMAT, win7), OdjBlob(ODJ_WIN8_FORMAT, package)))


@lru_cache(maxsize=1)
def _password_alphabet() -> str:
    """BMP characters that survive UTF-8 and every text path: no controls, surrogates,
    non-characters, unassigned code points, whitespace or line separators."""
    chars = []
    for cp in range(0x21, 0xFFFE):
        if 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF:
            continue
        ch = chr(cp)
        if unicodedata.category(ch) in ("Cc", "Cs", "Cn", "Co", "Zs", "Zl", "Zp") or ch.isspace():
            continue
        chars.append(ch)
    return "".join(chars)


def generate_machine_password(length: int | None = None, *, form: str = "windows") -> str:
    """A random machine password.

    ``form`` "windows" (djoin's): ``length`` (120) UTF-16 code units from the BMP.
    ``form`` "compact": ``length`` (64) printable ASCII characters, about 414 bits of entropy, far
    more than the 128-bit NT hash and 256-bit AES keys derived from it. A DC derives the account's
    Kerberos keys with PBKDF2-HMAC-SHA1, and a password longer than one HMAC block (64 bytes of
    UTF-8) costs it an extra hash per iteration: Samba 4.17 spends about 34 ms on a compact
    password against 55 ms on a Windows-form one (bench/results/provision.md). Windows replaces
    the password at its first machine password change either way.

    Either form contains at least one ASCII upper-case letter, lower-case letter, digit and symbol
    so that AD's complexity rules accept it, and round-trips through UTF-8 unchanged (kinit, AD keys).
    """
    if form not in MACHINE_PASSWORD_FORMS:
        raise ValueError(f"unknown machine password form {form!r} (choose from {', '.join(MACHINE_PASSWORD_FORMS)})")
    if length is None:
        length = MACHINE_PASSWORD_LENGTH if form == "windows" else COMPACT_PASSWORD_LENGTH
    if not isinstance(length, int) or length < 8:
        raise ValueError("a machine password needs at least 8 characters")
    rng = secrets.SystemRandom()
    alphabet = _password_alphabet() if form == "windows" else _COMPACT_ALPHABET
    chars = [secrets.choice(alphabet) for _ in range(length - 4)]
    for pool in (string.ascii_uppercase, string.ascii_lowercase, string.digits, _PASSWORD_SYMBOLS):
        chars.insert(rng.randrange(len(chars) + 1), secrets.choice(pool))
    return "".join(chars)
