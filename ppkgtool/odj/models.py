"""Typed, immutable models of the offline domain join structures (docs/formats/odj.md).

Field names follow the domain; each class names the IDL structure it models. Decoded objects carry
the referent ids they were read with (``referent_ids``, not part of equality) so that a re-encode
is byte-exact; objects built from scratch get standard ids (0x00020000, +4 ...).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Union

GUID_NULL = uuid.UUID(int=0)

# ODJ_BLOB.ulODJFormat [C]
ODJ_WIN7_FORMAT = 1
ODJ_WIN8_FORMAT = 2
ODJ_FORMAT_NAMES = {ODJ_WIN7_FORMAT: "ODJ_WIN7_FORMAT", ODJ_WIN8_FORMAT: "ODJ_WIN8_FORMAT"}

OPSPI_PACKAGE_PART_ESSENTIAL = 0x1  # OP_PACKAGE_PART.ulFlags [C]
OP_JP2_FLAG_PERSISTENTSITE = 0x1    # OP_JOINPROV2_PART.dwFlags [C]
DS_INET_ADDRESS = 1                 # DOMAIN_CONTROLLER_INFOW.DomainControllerAddressType
DS_NETBIOS_ADDRESS = 2
HKEY_LOCAL_MACHINE = 0x80000002     # OP_POLICY_ELEMENT_LIST.ulRootKeyId: "must be HKEY_LOCAL_MACHINE" [I: the handle value]


class NETSETUP_PROVISION(enum.IntFlag):
    """NETSETUP_PROVISION_* options of NetProvisionComputerAccount (lmjoin.h) [C]."""

    DOWNLEVEL_PRIV_SUPPORT = 0x00000001
    REUSE_ACCOUNT = 0x00000002
    USE_DEFAULT_PASSWORD = 0x00000004
    SKIP_ACCOUNT_SEARCH = 0x00000008
    ROOT_CA_CERTS = 0x00000010
    PERSISTENTSITE = 0x00000020
    ONLINE_CALLER = 0x40000000
    CHECK_PWD_ONLY = 0x80000000


class DS_FLAG(enum.IntFlag):
    """DOMAIN_CONTROLLER_INFOW.Flags as DsGetDcName returns them (dsgetdc.h) [C]."""

    DS_PDC_FLAG = 0x00000001
    DS_GC_FLAG = 0x00000004
    DS_LDAP_FLAG = 0x00000008
    DS_DS_FLAG = 0x00000010
    DS_KDC_FLAG = 0x00000020
    DS_TIMESERV_FLAG = 0x00000040
    DS_CLOSEST_FLAG = 0x00000080
    DS_WRITABLE_FLAG = 0x00000100
    DS_GOOD_TIMESERV_FLAG = 0x00000200
    DS_NDNC_FLAG = 0x00000400
    DS_SELECT_SECRET_DOMAIN_6_FLAG = 0x00000800
    DS_FULL_SECRET_DOMAIN_6_FLAG = 0x00001000
    DS_WS_FLAG = 0x00002000
    DS_DS_8_FLAG = 0x00004000
    DS_DS_9_FLAG = 0x00008000
    DS_DS_10_FLAG = 0x00010000
    DS_KEY_LIST_FLAG = 0x00020000
    DS_DNS_CONTROLLER_FLAG = 0x20000000
    DS_DNS_DOMAIN_FLAG = 0x40000000
    DS_DNS_FOREST_FLAG = 0x80000000


def flag_names(flag_type: type[enum.IntFlag], value: int) -> list[str]:
    """Names of the set bits; unknown bits as hex."""
    names = [m.name for m in flag_type if m.value & value == m.value and m.value]
    rest = value & ~sum(m.value for m in flag_type)
    if rest:
        names.append(f"{rest:#x}")
    return names


# OP_PACKAGE_PART.PartType GUIDs [C]
class PartType:
    JOIN_PROVIDER = uuid.UUID("631c7621-5289-4321-bc9e-80f843f868c3")
    JOIN_PROVIDER2 = uuid.UUID("57bfc56b-52f9-480c-adcb-91b3f8a82317")
    JOIN_PROVIDER3 = uuid.UUID("fc0ccf25-7ffa-474a-8611-69ffe269645f")
    JOIN_PROVIDER4 = uuid.UUID("4a08716a-6710-4647-8211-fdbb0b03f60b")
    CERT_PROVIDER = uuid.UUID("9c0971e9-832f-4873-8e87-ef1419d4781e")
    POLICY_PROVIDER = uuid.UUID("68fb602a-0c09-48ce-b75f-07b7bd58f7ec")


PART_NAMES = {v: k for k, v in vars(PartType).items() if isinstance(v, uuid.UUID)}


# -- strict field checks -----------------------------------------------------------------------

def _check_u32(owner: str, name: str, v) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2 ** 32:
        raise TypeError(f"{owner}.{name} must be an int in 0..2^32-1, not {v!r}")


def _check_str(owner: str, name: str, v, *, optional: bool = True) -> None:
    if v is None and optional:
        return
    if not isinstance(v, str):
        raise TypeError(f"{owner}.{name} must be a str{' or None' if optional else ''}, not {type(v).__name__}")


def _check_guid(owner: str, name: str, v) -> None:
    if not isinstance(v, uuid.UUID):
        raise TypeError(f"{owner}.{name} must be a uuid.UUID, not {type(v).__name__}")


def _check_bytes(obj, owner: str, name: str) -> None:
    v = getattr(obj, name)
    if isinstance(v, (bytearray, memoryview)):
        object.__setattr__(obj, name, bytes(v))
    elif not isinstance(v, bytes):
        raise TypeError(f"{owner}.{name} must be bytes, not {type(v).__name__}")


def _check_tuple(obj, owner: str, name: str, item_type) -> None:
    v = getattr(obj, name)
    if isinstance(v, list):
        v = tuple(v)
        object.__setattr__(obj, name, v)
    if not isinstance(v, tuple) or not all(isinstance(i, item_type) for i in v):
        tn = item_type.__name__ if isinstance(item_type, type) else " or ".join(t.__name__ for t in item_type)
        raise TypeError(f"{owner}.{name} must be a tuple of {tn}")


def _check_ids(obj) -> None:
    ids = obj.referent_ids
    if isinstance(ids, list):
        object.__setattr__(obj, "referent_ids", tuple(ids))
    if not all(isinstance(i, int) and 0 < i < 2 ** 32 for i in obj.referent_ids):
        raise TypeError(f"{type(obj).__name__}.referent_ids must be non-zero u32 values")


def _ids():
    return field(default=(), compare=False, repr=False)


# -- ODJ_WIN7BLOB ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class DnsDomainInfo:
    """ODJ_POLICY_DNS_DOMAIN_INFO: Name (NetBIOS), DnsDomainName, DnsForestName, DomainGuid, Sid."""

    netbios_name: str | None
    dns_domain: str | None
    dns_forest: str | None
    domain_guid: uuid.UUID
    domain_sid: str | None

    def __post_init__(self):
        for n in ("netbios_name", "dns_domain", "dns_forest", "domain_sid"):
            _check_str("DnsDomainInfo", n, getattr(self, n))
        _check_guid("DnsDomainInfo", "domain_guid", self.domain_guid)
        if self.domain_sid is not None:
            from ppkgtool.odj.ndr import parse_sid
            parse_sid(self.domain_sid)


@dataclass(frozen=True)
class DcInfo:
    """DOMAIN_CONTROLLER_INFOW; names and addresses exactly as stored (with the leading backslashes)."""

    dc_name: str | None
    dc_address: str | None
    dc_address_type: int
    domain_guid: uuid.UUID
    domain_name: str | None
    forest_name: str | None
    flags: int
    dc_site: str | None
    client_site: str | None

    def __post_init__(self):
        for n in ("dc_name", "dc_address", "domain_name", "forest_name", "dc_site", "client_site"):
            _check_str("DcInfo", n, getattr(self, n))
        _check_u32("DcInfo", "dc_address_type", self.dc_address_type)
        _check_u32("DcInfo", "flags", self.flags)
        _check_guid("DcInfo", "domain_guid", self.domain_guid)


@dataclass(frozen=True)
class Win7Blob:
    """ODJ_WIN7BLOB (also the content of a JOIN_PROVIDER part)."""

    domain: str | None                 # lpDomain
    machine_name: str | None           # lpMachineName
    machine_password: str | None = field(repr=False)  # lpMachinePassword (a secret)
    dns_domain_info: DnsDomainInfo
    dc_info: DcInfo
    options: int = 0
    referent_ids: tuple[int, ...] = _ids()

    def __post_init__(self):
        for n in ("domain", "machine_name", "machine_password"):
            _check_str("Win7Blob", n, getattr(self, n))
        if not isinstance(self.dns_domain_info, DnsDomainInfo):
            raise TypeError("Win7Blob.dns_domain_info must be a DnsDomainInfo")
        if not isinstance(self.dc_info, DcInfo):
            raise TypeError("Win7Blob.dc_info must be a DcInfo")
        _check_u32("Win7Blob", "options", self.options)
        _check_ids(self)


# -- parts ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class JoinProv2Part:
    """OP_JOINPROV2_PART (JOIN_PROVIDER2)."""

    flags: int = 0                            # dwFlags: OP_JP2_FLAG_PERSISTENTSITE
    netbios_name: str | None = None           # lpNetbiosName
    site_name: str | None = None              # lpSiteName
    primary_dns_domain: str | None = None     # lpPrimaryDNSDomain
    reserved: int = 0                         # dwReserved
    reserved_string: str | None = None        # lpReserved
    referent_ids: tuple[int, ...] = _ids()

    PART_TYPE = PartType.JOIN_PROVIDER2

    def __post_init__(self):
        _check_u32("JoinProv2Part", "flags", self.flags)
        _check_u32("JoinProv2Part", "reserved", self.reserved)
        for n in ("netbios_name", "site_name", "primary_dns_domain", "reserved_string"):
            _check_str("JoinProv2Part", n, getattr(self, n))
        _check_ids(self)


@dataclass(frozen=True)
class JoinProv3Part:
    """OP_JOINPROV3_PART (JOIN_PROVIDER3): the account's RID and SID string."""

    rid: int
    sid: str | None
    referent_ids: tuple[int, ...] = _ids()

    PART_TYPE = PartType.JOIN_PROVIDER3

    def __post_init__(self):
        _check_u32("JoinProv3Part", "rid", self.rid)
        _check_str("JoinProv3Part", "sid", self.sid)
        _check_ids(self)


@dataclass(frozen=True)
class JoinProv4Part:
    """OP_JOINPROV4_PART (JOIN_PROVIDER4): RID, SID string and the account's objectGUID."""

    rid: int
    sid: str | None
    object_guid: uuid.UUID = GUID_NULL
    referent_ids: tuple[int, ...] = _ids()

    PART_TYPE = PartType.JOIN_PROVIDER4

    def __post_init__(self):
        _check_u32("JoinProv4Part", "rid", self.rid)
        _check_str("JoinProv4Part", "sid", self.sid)
        _check_guid("JoinProv4Part", "object_guid", self.object_guid)
        _check_ids(self)


@dataclass(frozen=True)
class PfxStore:
    """OP_CERT_PFX_STORE: a PKCS#12 blob with its enrollment template and policy server."""

    template_name: str | None = None
    private_key_export_policy: int = 0
    policy_server_url: str | None = None
    policy_server_url_flags: int = 0
    policy_server_id: str | None = None
    pfx: bytes = field(default=b"", repr=False)   # holds a private key: a secret

    def __post_init__(self):
        for n in ("template_name", "policy_server_url", "policy_server_id"):
            _check_str("PfxStore", n, getattr(self, n))
        _check_u32("PfxStore", "private_key_export_policy", self.private_key_export_policy)
        _check_u32("PfxStore", "policy_server_url_flags", self.policy_server_url_flags)
        _check_bytes(self, "PfxStore", "pfx")


CERT_SYSTEM_STORE_CURRENT_USER = 0x00010000
CERT_SYSTEM_STORE_LOCAL_MACHINE = 0x00020000
STORE_LOCATION_NAMES = {
    CERT_SYSTEM_STORE_CURRENT_USER: "CERT_SYSTEM_STORE_CURRENT_USER",
    CERT_SYSTEM_STORE_LOCAL_MACHINE: "CERT_SYSTEM_STORE_LOCAL_MACHINE",
    0x00040000: "CERT_SYSTEM_STORE_CURRENT_SERVICE",
    0x00050000: "CERT_SYSTEM_STORE_SERVICES",
    0x00060000: "CERT_SYSTEM_STORE_USERS",
    0x00070000: "CERT_SYSTEM_STORE_CURRENT_USER_GROUP_POLICY",
    0x00080000: "CERT_SYSTEM_STORE_LOCAL_MACHINE_GROUP_POLICY",
    0x00090000: "CERT_SYSTEM_STORE_LOCAL_MACHINE_ENTERPRISE",
}


@dataclass(frozen=True)
class SstStore:
    """OP_CERT_SST_STORE: a serialized certificate store (e.g. root CA certificates for LocalMachine\\Root)."""

    store_location: int = CERT_SYSTEM_STORE_LOCAL_MACHINE
    store_name: str | None = "ROOT"
    sst: bytes = b""

    def __post_init__(self):
        _check_u32("SstStore", "store_location", self.store_location)
        _check_str("SstStore", "store_name", self.store_name)
        _check_bytes(self, "SstStore", "sst")

    def certificates(self):
        """The certificates in the store (ppkgtool.odj.certstore.StoredCertificate)."""
        from ppkgtool.odj.certstore import parse_store
        return parse_store(self.sst)

    @classmethod
    def from_certificates(cls, der_certificates, *, store_location: int = CERT_SYSTEM_STORE_LOCAL_MACHINE,
                          store_name: str = "ROOT") -> "SstStore":
        from ppkgtool.odj.certstore import build_store
        return cls(store_location, store_name, build_store(der_certificates))


@dataclass(frozen=True)
class CertPart:
    """OP_CERT_PART (CERT_PROVIDER)."""

    pfx_stores: tuple[PfxStore, ...] = ()
    sst_stores: tuple[SstStore, ...] = ()
    extension: bytes = b""
    referent_ids: tuple[int, ...] = _ids()

    PART_TYPE = PartType.CERT_PROVIDER

    def __post_init__(self):
        _check_tuple(self, "CertPart", "pfx_stores", PfxStore)
        _check_tuple(self, "CertPart", "sst_stores", SstStore)
        _check_bytes(self, "CertPart", "extension")
        _check_ids(self)


@dataclass(frozen=True)
class PolicyElement:
    """OP_POLICY_ELEMENT: one registry value (a Registry.pol entry)."""

    key_path: str | None
    value_name: str | None
    value_type: int
    data: bytes = b""

    def __post_init__(self):
        _check_str("PolicyElement", "key_path", self.key_path)
        _check_str("PolicyElement", "value_name", self.value_name)
        _check_u32("PolicyElement", "value_type", self.value_type)
        _check_bytes(self, "PolicyElement", "data")

    def to_policy_value(self):
        """The element as a ppkgtool.regpol.PolicyValue; OdjError (2710) when it cannot be one
        (a key or value name with an embedded NUL)."""
        from ppkgtool.errors import OdjError
        from ppkgtool.regpol import PolicyValue
        try:
            return PolicyValue(self.key_path or "", self.value_name or "", self.value_type, self.data)
        except ValueError as exc:
            raise OdjError(f"policy element {self.key_path!r}\\{self.value_name!r}: {exc}",
                           where="OP_POLICY_ELEMENT", code=2710) from None


@dataclass(frozen=True)
class PolicyElementList:
    """OP_POLICY_ELEMENT_LIST: the values of one policy file under one root key."""

    source: str | None
    elements: tuple[PolicyElement, ...] = ()
    root_key_id: int = HKEY_LOCAL_MACHINE

    def __post_init__(self):
        _check_str("PolicyElementList", "source", self.source)
        _check_u32("PolicyElementList", "root_key_id", self.root_key_id)
        _check_tuple(self, "PolicyElementList", "elements", PolicyElement)


@dataclass(frozen=True)
class PolicyPart:
    """OP_POLICY_PART (POLICY_PROVIDER)."""

    element_lists: tuple[PolicyElementList, ...] = ()
    extension: bytes = b""
    referent_ids: tuple[int, ...] = _ids()

    PART_TYPE = PartType.POLICY_PROVIDER

    def __post_init__(self):
        _check_tuple(self, "PolicyPart", "element_lists", PolicyElementList)
        _check_bytes(self, "PolicyPart", "extension")
        _check_ids(self)

    def values(self):
        """All elements as ppkgtool.regpol.PolicyValue, list by list."""
        return [e.to_policy_value() for lst in self.element_lists for e in lst.elements]

    @classmethod
    def from_registry_pol(cls, files) -> "PolicyPart":
        """One element list per Registry.pol file (odj-format.md, POLICY_PROVIDER).

        ``files``: (source name, Registry.pol bytes) pairs; the source name is what pSource records
        (Windows records the GPO file path). Values go under HKEY_LOCAL_MACHINE as the format requires.
        """
        from ppkgtool.regpol import parse_registry_pol
        lists = []
        for source, data in files:
            lists.append(PolicyElementList(str(source), tuple(
                PolicyElement(v.key, v.value_name, v.type, v.data) for v in parse_registry_pol(data))))
        return cls(tuple(lists))


@dataclass(frozen=True)
class UnknownPart:
    """A part whose type this tool does not know: kept and re-emitted untouched."""

    data: bytes

    def __post_init__(self):
        _check_bytes(self, "UnknownPart", "data")


PartContent = Union[Win7Blob, JoinProv2Part, JoinProv3Part, JoinProv4Part, CertPart, PolicyPart, UnknownPart]
_CONTENT_FOR = {
    PartType.JOIN_PROVIDER: Win7Blob, PartType.JOIN_PROVIDER2: JoinProv2Part,
    PartType.JOIN_PROVIDER3: JoinProv3Part, PartType.JOIN_PROVIDER4: JoinProv4Part,
    PartType.CERT_PROVIDER: CertPart, PartType.POLICY_PROVIDER: PolicyPart,
}


@dataclass(frozen=True)
class PackagePart:
    """OP_PACKAGE_PART: a typed part, its flags and its (usually empty) extension blob."""

    part_type: uuid.UUID
    flags: int
    content: PartContent
    extension: bytes = b""

    def __post_init__(self):
        _check_guid("PackagePart", "part_type", self.part_type)
        _check_u32("PackagePart", "flags", self.flags)
        _check_bytes(self, "PackagePart", "extension")
        expected = _CONTENT_FOR.get(self.part_type, UnknownPart)
        if not isinstance(self.content, expected):
            raise TypeError(f"a {self.type_name} part must hold a {expected.__name__}, "
                            f"not {type(self.content).__name__}")

    @property
    def type_name(self) -> str:
        return PART_NAMES.get(self.part_type, "UNKNOWN")

    @property
    def essential(self) -> bool:
        return bool(self.flags & OPSPI_PACKAGE_PART_ESSENTIAL)

    @classmethod
    def of(cls, content: PartContent, *, flags: int = 0, part_type: uuid.UUID | None = None) -> "PackagePart":
        """A part for ``content``; the type GUID follows from the content class (UnknownPart needs one)."""
        if part_type is None:
            if isinstance(content, Win7Blob):
                part_type = PartType.JOIN_PROVIDER
            elif isinstance(content, UnknownPart):
                raise TypeError("an UnknownPart needs its part_type GUID")
            else:
                part_type = content.PART_TYPE
        return cls(part_type, flags, content)


@dataclass(frozen=True)
class OpPackage:
    """OP_PACKAGE with its decoded OP_PACKAGE_PART_COLLECTION.

    An encrypted package (EncryptionType not GUID_NULL) keeps the wrapped collection as bytes in
    ``encrypted_collection`` and has no parts.
    """

    parts: tuple[PackagePart, ...] = ()
    encryption_type: uuid.UUID = GUID_NULL
    encryption_context: bytes = b""
    decrypted_size: int = 0                    # cbDecryptedPartCollection
    extension: bytes = b""                     # OP_PACKAGE.Extension
    collection_extension: bytes = b""          # OP_PACKAGE_PART_COLLECTION.Extension
    encrypted_collection: bytes | None = None
    referent_ids: tuple[int, ...] = _ids()
    collection_referent_ids: tuple[int, ...] = _ids()

    def __post_init__(self):
        _check_tuple(self, "OpPackage", "parts", PackagePart)
        _check_guid("OpPackage", "encryption_type", self.encryption_type)
        _check_bytes(self, "OpPackage", "encryption_context")
        _check_u32("OpPackage", "decrypted_size", self.decrypted_size)
        _check_bytes(self, "OpPackage", "extension")
        _check_bytes(self, "OpPackage", "collection_extension")
        if self.encrypted_collection is not None:
            _check_bytes(self, "OpPackage", "encrypted_collection")
        elif self.encryption_type != GUID_NULL:
            raise TypeError("an encrypted OpPackage needs encrypted_collection bytes")
        _check_ids(self)
        ids = self.collection_referent_ids
        if isinstance(ids, list):
            object.__setattr__(self, "collection_referent_ids", tuple(ids))

    @property
    def encrypted(self) -> bool:
        return self.encryption_type != GUID_NULL

    def part(self, part_type: uuid.UUID) -> PackagePart | None:
        return next((p for p in self.parts if p.part_type == part_type), None)


@dataclass(frozen=True)
class OdjBlob:
    """ODJ_BLOB: format 1 holds a Win7Blob, format 2 an OpPackage; other formats are kept as bytes."""

    format: int
    content: Union[Win7Blob, OpPackage, bytes]

    def __post_init__(self):
        _check_u32("OdjBlob", "format", self.format)
        if self.format == ODJ_WIN7_FORMAT and not isinstance(self.content, Win7Blob):
            raise TypeError("an ODJ_WIN7_FORMAT blob holds a Win7Blob")
        if self.format == ODJ_WIN8_FORMAT and not isinstance(self.content, OpPackage):
            raise TypeError("an ODJ_WIN8_FORMAT blob holds an OpPackage")
        if self.format not in (ODJ_WIN7_FORMAT, ODJ_WIN8_FORMAT):
            _check_bytes(self, "OdjBlob", "content")

    @property
    def format_name(self) -> str:
        return ODJ_FORMAT_NAMES.get(self.format, f"UNKNOWN({self.format})")


@dataclass(frozen=True)
class ProvisionData:
    """ODJ_PROVISION_DATA: the whole blob."""

    blobs: tuple[OdjBlob, ...]
    version: int = 1
    referent_ids: tuple[int, ...] = _ids()

    def __post_init__(self):
        _check_tuple(self, "ProvisionData", "blobs", OdjBlob)
        _check_u32("ProvisionData", "version", self.version)
        _check_ids(self)

    @property
    def package(self) -> OpPackage | None:
        return next((b.content for b in self.blobs if isinstance(b.content, OpPackage)), None)

    @property
    def parts(self) -> tuple[PackagePart, ...]:
        pkg = self.package
        return pkg.parts if pkg is not None else ()

    @property
    def win7(self) -> Win7Blob | None:
        """The ODJ_WIN7BLOB: the format-1 blob, else the JOIN_PROVIDER part."""
        for b in self.blobs:
            if isinstance(b.content, Win7Blob):
                return b.content
        for p in self.parts:
            if isinstance(p.content, Win7Blob):
                return p.content
        return None

    @property
    def machine_name(self) -> str | None:
        w = self.win7
        return w.machine_name if w else None

    @property
    def machine_password(self) -> str | None:
        w = self.win7
        return w.machine_password if w else None

    def _join_prov_rid_part(self):
        for p in self.parts:
            if isinstance(p.content, (JoinProv3Part, JoinProv4Part)):
                return p.content
        return None

    @property
    def rid(self) -> int | None:
        p = self._join_prov_rid_part()
        return p.rid if p is not None else None

    @property
    def machine_sid(self) -> str | None:
        p = self._join_prov_rid_part()
        return p.sid if p is not None else None
