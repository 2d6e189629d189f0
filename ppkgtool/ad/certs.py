"""djoin /rootcacerts and /certtemplate: what AD publishes under CN=Public Key Services.

- Root CAs: ``cACertificate`` of the certificationAuthority objects in
  ``CN=Certification Authorities,CN=Public Key Services,CN=Services,<configuration NC>`` [C]
  (what certutil -dspublish -f ca.crt RootCA writes, and what Windows copies into LocalMachine\\Root).
- Templates: pKICertificateTemplate objects in ``CN=Certificate Templates,CN=Public Key Services,...``,
  matched by cn (the template name) or displayName [C].
"""

from __future__ import annotations

import ldap3
from cryptography import x509
from ldap3.utils.conv import escape_filter_chars

from ppkgtool.ad import errors as E
from ppkgtool.ad.directory import first_text, search
from ppkgtool.errors import DirectoryError

MAX_CERT = 64 * 1024
MAX_CAS = 256


def pki_dn(config_nc: str, container: str) -> str:
    return f"CN={container},CN=Public Key Services,CN=Services,{config_nc}"


def read_root_cas(conn: ldap3.Connection, config_nc: str) -> list[bytes]:
    """DER certificates published as root CAs in the forest, deduplicated, in directory order."""
    base = pki_dn(config_nc, "Certification Authorities")
    entries = search(conn, base, "(objectClass=certificationAuthority)", ldap3.LEVEL, ["cACertificate"],
                     what="reading the published root CAs", missing_ok=True)
    seen: set[bytes] = set()
    out: list[bytes] = []
    for e in entries:
        for der in e["raw"].get("cacertificate") or []:
            if len(der) > MAX_CERT or der in seen:
                continue
            try:
                x509.load_der_x509_certificate(der)
            except ValueError:
                continue  # not a certificate: Windows skips those too [I]
            seen.add(der)
            out.append(der)
            if len(out) > MAX_CAS:
                raise DirectoryError(f"more than {MAX_CAS} root CA certificates are published", code=E.ERROR_INVALID_PARAMETER)
    if not out:
        raise DirectoryError(f"no root CA certificates are published under {base}",
                             code=E.ERROR_NOT_FOUND, hint="publish one (certutil -dspublish -f ca.crt RootCA) or drop --rootcacerts")
    return out


def check_template(conn: ldap3.Connection, config_nc: str, name: str) -> str:
    """The template's cn (its name) if a template called ``name`` (cn or displayName) exists."""
    if not isinstance(name, str) or not name.strip():
        raise DirectoryError("empty certificate template name", code=E.ERROR_INVALID_PARAMETER)
    n = escape_filter_chars(name)
    entries = search(conn, pki_dn(config_nc, "Certificate Templates"),
                     f"(&(objectClass=pKICertificateTemplate)(|(cn={n})(displayName={n})))",
                     ldap3.LEVEL, ["cn", "displayName"], what="looking up the certificate template", missing_ok=True)
    if not entries:
        raise DirectoryError(f"no certificate template named {name!r} in the forest", code=E.ERROR_NOT_FOUND,
                             hint="give the template name as certutil -template lists it")
    return first_text(entries[0], "cn") or name
