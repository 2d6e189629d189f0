"""Shared builders for the ODJ tests (real certificates made with cryptography, real Registry.pol); no tests here."""

from __future__ import annotations

import datetime
import uuid

from ppkgtool.odj import (CertPart, DomainFacts, JoinProv2Part, MachineFacts, PfxStore, SstStore,
                          compose_provision_data)
from ppkgtool.odj.models import PolicyPart
from ppkgtool.regpol import PolicyValue, build_registry_pol

DOMAIN_GUID = uuid.UUID("1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809")
OBJECT_GUID = uuid.UUID("0a0b0c0d-1111-4222-8333-944455556666")


def make_ca(cn: str = "ppkgtool Test Root CA"):
    """A self-signed CA certificate and its key (DER bytes, key object)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "TEST")])
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(0x1234).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER), key, cert


def make_pfx(password: bytes = b"pfxpass") -> bytes:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    _der, key, cert = make_ca("ppkgtool machine cert")
    return pkcs12.serialize_key_and_certificates(b"machine", key, cert, None, BestAvailableEncryption(password))


def policy_values():
    return [PolicyValue.dword(r"Software\Policies\Microsoft\Windows\System", "EnableSmartScreen", 1),
            PolicyValue.string(r"Software\Policies\Contoso", "Banner", "Hello \u00e9\u4e16"),
            PolicyValue.multi_string(r"Software\Policies\Contoso", "Servers", ["a.test.lab", "b.test.lab"]),
            PolicyValue.qword(r"Software\Policies\Contoso", "Big", 2 ** 40 + 3),
            PolicyValue.binary(r"Software\Policies\Contoso", "Blob", bytes(range(16))),
            PolicyValue.string(r"Software\Policies\Contoso", "**delvals.", " ")]


def domain_facts(**kw) -> DomainFacts:
    base = dict(dns_domain="test.lab", netbios_name="TEST", dns_forest="test.lab", domain_guid=DOMAIN_GUID,
                domain_sid="S-1-5-21-1000000001-2000000002-3000000003", dc_name="dc1.test.lab",
                dc_address="127.0.0.1")
    base.update(kw)
    return DomainFacts(**base)


def full_provision_data(password: str = "Secr3t-Pa55\u00fc\u4e2d"):
    """A ProvisionData with every part type filled."""
    ca_der, _k, _c = make_ca()
    cert = CertPart(pfx_stores=(PfxStore("Machine", 1, "https://enroll.test.lab/ADPolicyProvider_CEP_Kerberos/service.svc/CEP",
                                         2, "{11111111-2222-3333-4444-555555555555}", make_pfx()),),
                    sst_stores=(SstStore.from_certificates([ca_der]),))
    pol = build_registry_pol(policy_values())
    policy = PolicyPart.from_registry_pol([(r"\\test.lab\SysVol\test.lab\Policies\{31B2F340-016D-11D2-945F-00C04FB984F9}"
                                    r"\Machine\Registry.pol", pol)])
    return compose_provision_data(
        domain_facts(), MachineFacts("PC01", password, rid=1105, object_guid=OBJECT_GUID, options=0),
        join_provider2=JoinProv2Part(1, "PC01", "Branch-Site", "test.lab"), join_provider4=True,
        cert_part=cert, policy_part=policy)
