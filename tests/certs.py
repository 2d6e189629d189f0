"""Test PKI: a root, an intermediate and a leaf signer, RSA or ECDSA, written as real files.

Real keys and certificates made with ``cryptography``; the files are read back by ppkgtool and by
the independent tools (osslsigncode, openssl) exactly as a user's files would be.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)


def new_key(kind: str):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if kind == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ecdsa384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(kind)


def make_cert(subject: str, key, *, issuer: x509.Certificate | None = None, issuer_key=None, ca: bool = False,
              not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
              key_usage: str | None = "default", eku: bool = True) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ppkgtool tests")])
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer.subject if issuer else name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or NOW - dt.timedelta(days=1))
               .not_valid_after(not_after or NOW + dt.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if key_usage == "default":
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False),
            critical=True)
    elif key_usage == "no-digital-signature":
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=True, data_encipherment=False,
            key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    if eku and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class Pki:
    """Files of a three-level PKI in ``folder``: root.pem, intermediate.pem, signer.pem, signer.key,
    chain.pem (the intermediate), signer.pfx (password ``pfx-secret``, with the intermediate)."""

    folder: Path
    kind: str
    root: x509.Certificate
    root_key: object
    intermediate: x509.Certificate
    intermediate_key: object
    leaf: x509.Certificate
    leaf_key: object

    @property
    def root_pem(self) -> Path:
        return self.folder / "root.pem"

    @property
    def cert_pem(self) -> Path:
        return self.folder / "signer.pem"

    @property
    def key_pem(self) -> Path:
        return self.folder / "signer.key"

    @property
    def chain_pem(self) -> Path:
        return self.folder / "chain.pem"

    @property
    def pfx(self) -> Path:
        return self.folder / "signer.pfx"

    @property
    def intermediate_pem(self) -> Path:
        return self.folder / "intermediate.pem"

    PFX_PASSWORD = "pfx-secret"


def make_pki(folder: Path, kind: str = "rsa", *, leaf_kwargs: dict | None = None) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    root_key, int_key, leaf_key = new_key(kind), new_key(kind), new_key(kind)
    root = make_cert(f"Test Root {kind}", root_key, ca=True)
    inter = make_cert(f"Test Intermediate {kind}", int_key, issuer=root, issuer_key=root_key, ca=True)
    leaf = make_cert(f"Test Provisioner {kind}", leaf_key, issuer=inter, issuer_key=int_key,
                     **(leaf_kwargs or {}))
    (folder / "root.pem").write_bytes(pem(root))
    (folder / "intermediate.pem").write_bytes(pem(inter))
    (folder / "signer.pem").write_bytes(pem(leaf))
    (folder / "signer.key").write_bytes(key_pem(leaf_key))
    (folder / "chain.pem").write_bytes(pem(inter))
    (folder / "signer.pfx").write_bytes(pkcs12.serialize_key_and_certificates(
        b"signer", leaf_key, leaf, [inter],
        serialization.BestAvailableEncryption(Pki.PFX_PASSWORD.encode())))
    return Pki(folder, kind, root, root_key, inter, int_key, leaf, leaf_key)


def self_signed(folder: Path, name: str = "Self Provisioner", kind: str = "rsa", **kwargs):
    """A self-signed signer (what New-SelfSignedCertificate makes): (cert path, key path, cert, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = new_key(kind)
    cert = make_cert(name, key, **kwargs)
    c, k = folder / f"{name.replace(' ', '_')}.pem", folder / f"{name.replace(' ', '_')}.key"
    c.write_bytes(pem(cert))
    k.write_bytes(key_pem(key))
    return c, k, cert, key
