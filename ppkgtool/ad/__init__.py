"""Active Directory side of offline domain join: connect to a writable DC, create/reuse computer
accounts (LDAP or SAMR), read the domain facts, and produce the ODJ blob (docs/ad.md)."""

from ppkgtool.ad.connection import ConnectionPool, Credentials, DcTarget, open_connection
from ppkgtool.ad.provision import DirectorySession, DomainInfo, ProvisionRequest, ProvisionResult

__all__ = ["ConnectionPool", "Credentials", "DcTarget", "DirectorySession", "DomainInfo", "ProvisionRequest",
           "ProvisionResult", "open_connection"]
