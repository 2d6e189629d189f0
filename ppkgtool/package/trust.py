"""The companion "trust" package: only package metadata; the signer certificate travels as a
Certificates/TrustedProvisioners payload (ppkgtool build-trust)."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape


def trust_customizations(cert_der: bytes, subject_cn: str, *, name: str | None, owner_type: str, rank: str,
                         package_id: uuid.UUID) -> bytes:
    """A customizations.xml with only package metadata; the certificate comes as a payload."""
    name = name or f"Trust {subject_cn}"[:100]
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<WindowsCustomizations>\n'
        '  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">\n'
        f'    <ID>{{{package_id}}}</ID>\n'
        f'    <Name>{escape(name)}</Name>\n'
        '    <Version>1.0</Version>\n'
        f'    <OwnerType>{escape(owner_type)}</OwnerType>\n'
        f'    <Rank>{escape(str(rank))}</Rank>\n'
        '    <Notes />\n'
        '  </PackageConfig>\n'
        '  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning">\n'
        '    <Customizations>\n'
        '      <Common />\n'
        '    </Customizations>\n'
        '  </Settings>\n'
        '</WindowsCustomizations>\n'
    ).encode("utf-8")
