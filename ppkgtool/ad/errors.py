"""Directory results -> Windows error codes and plain messages.

djoin reports Win32/NERR codes; the LDAP layer of Windows maps LDAP result codes with
LdapMapErrorToWin32, and Active Directory puts the precise Win32 error as the first eight hex digits
of the LDAP diagnostic message ("0000216D: SvcErr: DSID-..., problem 5003 (WILL_NOT_PERFORM)").
We prefer that precise code, then fall back to the LDAP result code mapping (docs/ad.md, [I] where
noted there).
"""

from __future__ import annotations

import re

from ppkgtool.errors import ConnectionInsecureError, DirectoryError
from ppkgtool.odj.request import ERROR_INVALID_COMPUTERNAME  # noqa: F401 - defined with the name rule

# Win32 / NERR codes (lmerr.h, winerror.h) [C]
ERROR_ACCESS_DENIED = 5
ERROR_NOT_SUPPORTED = 50
ERROR_BAD_NETPATH = 53
ERROR_INVALID_PARAMETER = 87
ERROR_LOGON_FAILURE = 1326
ERROR_USER_EXISTS = 1316
ERROR_INVALID_DOMAIN_ROLE = 1354
ERROR_NO_SUCH_DOMAIN = 1355
ERROR_TIMEOUT = 1460
NERR_UserExists = 2224
NERR_ConnectionInsecure = 2718
ERROR_DS_NO_SUCH_OBJECT = 8240
ERROR_DS_MACHINE_ACCOUNT_QUOTA_EXCEEDED = 8557
ERROR_DS_UNWILLING_TO_PERFORM = 8245
ERROR_DS_OBJ_NOT_FOUND = 8333
ERROR_NOT_FOUND = 1168
# SSPI (schannel) HRESULTs for certificate failures [C: winerror.h]
SEC_E_UNTRUSTED_ROOT = 0x80090325
SEC_E_WRONG_PRINCIPAL = 0x80090322
SEC_E_CERT_EXPIRED = 0x80090328

# LDAP result code -> Win32 (LdapMapErrorToWin32, winldap.h) [C for the listed pairs]
_LDAP_TO_WIN32 = {
    8: NERR_ConnectionInsecure,        # strongerAuthRequired: the server wants signing/TLS
    10: ERROR_INVALID_DOMAIN_ROLE,     # referral on a write: a read-only DC [I]
    13: NERR_ConnectionInsecure,       # confidentialityRequired
    32: ERROR_DS_NO_SUCH_OBJECT,       # noSuchObject
    34: ERROR_INVALID_PARAMETER,       # invalidDNSyntax
    49: ERROR_LOGON_FAILURE,           # invalidCredentials
    50: ERROR_ACCESS_DENIED,           # insufficientAccessRights
    53: ERROR_DS_UNWILLING_TO_PERFORM,  # unwillingToPerform
    68: NERR_UserExists,               # entryAlreadyExists
}

_MESSAGES = {
    ERROR_ACCESS_DENIED: "access denied: the account may not create or change computer objects here",
    ERROR_INVALID_PARAMETER: "the directory rejected a value as invalid",
    ERROR_LOGON_FAILURE: "the DC rejected the user name or password",
    ERROR_INVALID_DOMAIN_ROLE: "the DC is read-only; provisioning needs a writable DC",
    ERROR_NO_SUCH_DOMAIN: "the domain does not exist or its DC cannot be contacted",
    NERR_UserExists: "the computer account already exists",
    NERR_ConnectionInsecure: "the connection is not protected; refusing to send a password unencrypted",
    ERROR_DS_NO_SUCH_OBJECT: "no such object in the directory (check the OU's distinguished name)",
    ERROR_DS_MACHINE_ACCOUNT_QUOTA_EXCEEDED: "the user has reached the domain's machine account quota",
    ERROR_DS_UNWILLING_TO_PERFORM: "the directory is unwilling to perform the operation",
}

class TlsCertificateError(DirectoryError):
    """The DC's certificate cannot be verified; ``code`` is an SSPI HRESULT (shown in hex)."""


_EXTENDED = re.compile(r"^\s*([0-9A-Fa-f]{8}):")


def extended_error(message: str | None) -> int | None:
    """The Win32 code AD puts at the start of an LDAP diagnostic message, if any."""
    if not message:
        return None
    m = _EXTENDED.match(message)
    if not m:
        return None
    value = int(m.group(1), 16)
    return value or None


def win32_from_ldap(result_code: int, message: str | None = None) -> int:
    """The Windows error code that best describes an LDAP failure."""
    ext = extended_error(message)
    if result_code == 68:
        return NERR_UserExists
    if ext == ERROR_DS_MACHINE_ACCOUNT_QUOTA_EXCEEDED:
        return ext
    if ext in (ERROR_USER_EXISTS,):
        return NERR_UserExists
    if result_code in (8, 13):
        return NERR_ConnectionInsecure
    if result_code == 49:
        return ERROR_LOGON_FAILURE
    if ext and result_code not in (10,):
        return ext
    return _LDAP_TO_WIN32.get(result_code, ERROR_DS_UNWILLING_TO_PERFORM)


def describe(code: int) -> str:
    return _MESSAGES.get(code, "the directory operation failed")


def ldap_failure(what: str, result: dict, *, hint: str | None = None) -> DirectoryError:
    """A DirectoryError for an ldap3 result dict (``connection.result``)."""
    rc = int(result.get("result", 80) or 80)
    msg = (result.get("message") or "").strip()
    code = win32_from_ldap(rc, msg)
    desc = result.get("description") or f"LDAP result {rc}"
    text = f"{what}: {describe(code)} (LDAP {desc})"
    cls = ConnectionInsecureError if code == NERR_ConnectionInsecure else DirectoryError
    return cls(text, code=code, hint=hint)
