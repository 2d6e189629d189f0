"""Helpers shared by the tests that talk to the real Samba AD DC (test_ad_*.py, test_bulk_dc.py):
the DC target and administrator credentials, names unique per test run, an independent LDAP
connection, and the ``session``/``made`` fixtures (import them into a test module to use them).
"""

from __future__ import annotations

import secrets

import ldap3

from ppkgtool.ad import Credentials, DcTarget
from ppkgtool.ad.connection import open_connection

RUN = secrets.token_hex(2).upper()      # names unique per test run: the dev DC is shared
_counter = iter(range(10_000))


def new_name(prefix: str = "T") -> str:
    return f"{prefix}{RUN}{next(_counter):04d}"[:15]


def target(dc, **kw) -> DcTarget:
    kw.setdefault("ca_file", dc.ca_file)
    return DcTarget(name=dc.dc_name, address=dc.address, **kw)


def admin(dc) -> Credentials:
    return Credentials(dc.admin_user, dc.admin_password)


def directory(dc) -> ldap3.Connection:
    """A bound LDAPS connection as the administrator, independent of the code under test's sessions."""
    return open_connection(target(dc), admin(dc))


def accounts_in_ldap(dc, wanted: list[str]) -> set[str]:
    """Which of the computer names ``wanted`` have an account (NAME$) in the directory."""
    conn = directory(dc)
    try:
        found = set()
        for name in wanted:
            conn.search(dc.base_dn, f"(sAMAccountName={name}$)", ldap3.SUBTREE, attributes=["sAMAccountName"])
            if conn.entries:
                found.add(name)
        return found
    finally:
        conn.unbind()


def delete_accounts(dc, wanted: list[str]) -> None:
    """Delete the computer accounts of ``wanted`` (absent ones are skipped), over LDAP."""
    conn = directory(dc)
    try:
        for name in wanted:
            conn.search(dc.base_dn, f"(sAMAccountName={name}$)", ldap3.SUBTREE, attributes=["cn"])
            for e in list(conn.entries):
                conn.delete(e.entry_dn)
    finally:
        conn.unbind()
