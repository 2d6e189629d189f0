"""Package metadata: owner type, rank, ALTITUDE and the image NOTES (ppkg-format.md, "Image XML
properties" and "customizations.xml").

Small immutable values with strict checks; shared by pack, build, inspect and rank.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass, field, replace

from ppkgtool.errors import InvalidInputError

RANK_MIN, RANK_MAX = 0, 99
DEFAULT_BUILDER_VERSION = "ppkgtool"


class OwnerType(enum.Enum):
    """Owner types in precedence order, lowest first (ppkg-format.md, customizations.xml).

    The value is the ALTITUDE base. OEM (2000) and ITAdmin (5000) and Microsoft (0) were seen in
    real packages [C]; SiliconVendor 1000, SystemIntegrator 3000, MobileOperator 4000 follow the
    documented order [I].
    """

    Microsoft = 0
    SiliconVendor = 1000
    OEM = 2000
    SystemIntegrator = 3000
    MobileOperator = 4000
    ITAdmin = 5000

    @property
    def base(self) -> int:
        return self.value

    @property
    def confirmed(self) -> bool:
        """Whether the spelling and base were seen in real packages ([C]) rather than inferred."""
        return self in (OwnerType.Microsoft, OwnerType.OEM, OwnerType.ITAdmin)

    @classmethod
    def parse(cls, text: str) -> "OwnerType":
        wanted = (text or "").strip()
        for member in cls:
            if member.name.lower() == wanted.lower():
                return member
        raise InvalidInputError(
            f"unknown owner type {text!r}",
            hint="use one of " + ", ".join(m.name for m in cls),
        )

    @classmethod
    def from_altitude(cls, altitude: int) -> tuple["OwnerType", int] | None:
        """Split an ALTITUDE into (owner type, rank); None when it fits no owner type."""
        base, rank = divmod(altitude, 1000)
        for member in cls:
            if member.base == base * 1000 and RANK_MIN <= rank <= RANK_MAX:
                return member, rank
        return None


def parse_altitude(text: str | None) -> int | None:
    """The image ALTITUDE as Windows reads it: a decimal number of at most 7 ASCII digits; None
    for anything else (absent, 'x', '²' …) — the one rule inspect, rank and export apply."""
    raw = (text or "").strip()
    return int(raw) if re.fullmatch(r"[0-9]{1,7}", raw) else None


def check_rank(rank: int | str) -> int:
    try:
        value = int(str(rank).strip())
    except ValueError:
        raise InvalidInputError(f"rank {rank!r} is not a whole number", hint="use 0 to 99") from None
    if not RANK_MIN <= value <= RANK_MAX:
        raise InvalidInputError(f"rank {value} is out of range", hint="use 0 to 99")
    return value


def altitude(owner_type: OwnerType, rank: int) -> int:
    """ALTITUDE = owner base + rank (ppkg-format.md, "Image XML properties" [C])."""
    return owner_type.base + check_rank(rank)


def check_package_id(text: str | uuid.UUID) -> uuid.UUID:
    if isinstance(text, uuid.UUID):
        return text
    raw = (text or "").strip()
    if not re.fullmatch(r"\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?", raw) \
            or (raw.startswith("{") != raw.endswith("}")):
        raise InvalidInputError(f"package ID {text!r} is not a GUID",
                                hint="use the form {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}")
    return uuid.UUID(raw.strip("{}"))


def check_version(text: str) -> str:
    """PackageConfig/Version: 1 to 4 dot-separated numbers (Windows compares 4-part versions)."""
    raw = (text or "").strip()
    if not re.fullmatch(r"\d{1,5}(\.\d{1,5}){0,3}", raw):
        raise InvalidInputError(f"package version {text!r} is not a version number", hint="use e.g. 1.0 or 1.2.3.4")
    return raw


#: What the TargetSkus field of NOTES says [C: the real packages of the fixtures]. WCD writes the
#: ``<Edition>`` of every ``TargetEditions/Sku`` of its project (``<Name>.icdproj.xml``; Project_1 with
#: WindowsCommon and Desktop -> ``TargetSkus=WindowsCommon,Desktop``) with ``Source=Classic``; command-
#: line builds (``icd.exe /Build-ProvisioningPackage``, ``Source=CLI``, and ppkgtool) have no project
#: editions and write ``Invalid``. It records what the author targeted; it is not an error.
TARGET_SKUS = {
    "WindowsCommon": "all Windows editions (WCD's Microsoft-Common-Provisioning.dat settings)",
    "Desktop": "Windows desktop editions (WCD's Microsoft-Desktop-Provisioning.dat settings)",
    "Invalid": "no target edition recorded: built from the command line (icd.exe or ppkgtool), which takes a "
               "settings store rather than a WCD project's editions; normal, not an error",
}


def target_skus_meaning(value: str | None) -> str | None:
    """What a TargetSkus value means, one phrase per edition (TARGET_SKUS); None when there is none."""
    if not value:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    return "; ".join(TARGET_SKUS.get(p, f"{p}: an edition name not seen in WCD-built packages") for p in parts)


@dataclass(frozen=True)
class Notes:
    """The image NOTES property (ppkg-format.md, "Image XML properties" [C]):
    ``VERSION=<builder>;Source=<CLI|Classic>;;TargetSkus=<skus>;EncryptPackage=<bool>;SignPackage=<bool>;PackageID=<guid>;``
    """

    builder_version: str = DEFAULT_BUILDER_VERSION
    source: str = "CLI"
    target_skus: str = "Invalid"
    encrypt_package: bool = False
    sign_package: bool = False
    package_id: uuid.UUID | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def render(self) -> str:
        pid = str(self.package_id) if self.package_id else ""
        text = (f"VERSION={self.builder_version};Source={self.source};;TargetSkus={self.target_skus};"
                f"EncryptPackage={self.encrypt_package};SignPackage={self.sign_package};PackageID={pid};")
        for k, v in self.extra:
            text += f"{k}={v};"
        return text

    @classmethod
    def parse(cls, text: str) -> "Notes":
        """Lenient: unknown fields are kept in ``extra``; the 'Classic;;' variant without VERSION too."""
        fields: dict[str, str] = {}
        extra: list[tuple[str, str]] = []
        source = None
        for part in (text or "").split(";"):
            if not part:
                continue
            if "=" not in part:
                source = source or part  # e.g. "Classic" with no key
                continue
            k, v = part.split("=", 1)
            if k in ("VERSION", "Source", "TargetSkus", "EncryptPackage", "SignPackage", "PackageID"):
                fields[k] = v
            else:
                extra.append((k, v))
        pid = None
        if fields.get("PackageID"):
            try:
                pid = uuid.UUID(fields["PackageID"].strip("{}"))
            except ValueError:
                extra.append(("PackageID", fields["PackageID"]))
        return cls(builder_version=fields.get("VERSION", ""), source=fields.get("Source", source or ""),
                   target_skus=fields.get("TargetSkus", ""),
                   encrypt_package=fields.get("EncryptPackage", "False").lower() == "true",
                   sign_package=fields.get("SignPackage", "False").lower() == "true",
                   package_id=pid, extra=tuple(extra))

    @property
    def target_skus_meaning(self) -> str | None:
        return target_skus_meaning(self.target_skus)

    def to_json(self) -> dict:
        return {"builder_version": self.builder_version, "source": self.source, "target_skus": self.target_skus,
                "target_skus_meaning": self.target_skus_meaning,
                "encrypt_package": self.encrypt_package, "sign_package": self.sign_package,
                "package_id": str(self.package_id) if self.package_id else None,
                "extra": dict(self.extra)}


@dataclass(frozen=True)
class PackageMetadata:
    """PackageConfig of customizations.xml plus what the image XML derives from it."""

    package_id: uuid.UUID
    name: str
    version: str = "1.0"
    owner_type: OwnerType = OwnerType.OEM
    rank: int = 0
    description: str = ""
    notes_text: str = ""          # PackageConfig/Notes (free text, not the image NOTES)
    notes: Notes = field(default_factory=Notes)

    def __post_init__(self):
        if not isinstance(self.package_id, uuid.UUID):
            raise TypeError("package_id must be a uuid.UUID")
        if not isinstance(self.owner_type, OwnerType):
            raise TypeError("owner_type must be an OwnerType")
        check_rank(self.rank)
        check_version(self.version)
        if not self.name or not self.name.strip():
            raise InvalidInputError("package name is empty", hint="set PackageConfig/Name or --name")

    @property
    def altitude(self) -> int:
        return altitude(self.owner_type, self.rank)

    def with_(self, **changes) -> "PackageMetadata":
        return replace(self, **changes)

    def image_properties(self) -> dict[str, str]:
        """The caller-set image XML properties, in the order Microsoft's tools write them."""
        notes = replace(self.notes, package_id=self.package_id)
        return {
            "NAME": self.name,
            "DESCRIPTION": self.description,
            "NOTES": notes.render(),
            "AUTHOR": "",
            "VERSION": self.version,
            "ALTITUDE": str(self.altitude),
            "RESETCLEAR": "0",
            "PACKAGEID": "{" + str(self.package_id) + "}",
        }

    def to_json(self) -> dict:
        return {"id": "{" + str(self.package_id) + "}", "name": self.name, "version": self.version,
                "owner_type": self.owner_type.name, "rank": self.rank, "altitude": self.altitude,
                "description": self.description}


PACKAGE_CONFIG_NS = "urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0"
