"""The SAMR method (``--method samr``): create, reset and delete computer accounts over SMB with impacket.

MS-SAMR: SamrConnect5 -> SamrLookupDomainInSamServer -> SamrOpenDomain -> SamrCreateUser2InDomain
(USER_WORKSTATION_TRUST_ACCOUNT) -> SamrSetInformationUser2(UserInternal4InformationNew: the
password encrypted with the SMB session key, MS-SAMR 2.2.6.32/3.2.2.2) and UserControlInformation
(WORKSTATION_TRUST_ACCOUNT) [C]. SAMR cannot set dNSHostName or SPNs, and creates the account in the
Computers container: the session sets those (and moves it to --machine-ou) over LDAP afterwards.
Authentication is NTLM (impacket's Kerberos fails against Samba's KDC: docs/ad.md).
"""

from __future__ import annotations

import contextlib
import os
import struct
from dataclasses import dataclass

from ppkgtool.ad import errors as E
from ppkgtool.ad.connection import Credentials, DcTarget
from ppkgtool.errors import DirectoryError

SMB_PORT = 445

# NTSTATUS -> Win32/NERR (RtlNtStatusToDosError for these) [C]
_NTSTATUS = {
    0xC0000022: E.ERROR_ACCESS_DENIED,                          # STATUS_ACCESS_DENIED
    0xC0000063: E.NERR_UserExists,                              # STATUS_USER_EXISTS
    0xC000006D: E.ERROR_LOGON_FAILURE,                          # STATUS_LOGON_FAILURE
    0xC00002E7: E.ERROR_DS_MACHINE_ACCOUNT_QUOTA_EXCEEDED,      # STATUS_DS_MACHINE_ACCOUNT_QUOTA_EXCEEDED
    0xC0000073: E.ERROR_NOT_FOUND,                              # STATUS_NONE_MAPPED
    0xC00000DF: E.ERROR_NO_SUCH_DOMAIN,                         # STATUS_NO_SUCH_DOMAIN
    0xC0000224: E.ERROR_ACCESS_DENIED,                          # STATUS_PASSWORD_MUST_CHANGE (admin) [I]
}


def _status_of(exc: BaseException) -> int | None:
    get = getattr(exc, "get_error_code", None)
    if get is None:
        return None
    try:
        return int(get()) & 0xFFFFFFFF
    except Exception:  # noqa: BLE001 - impacket error objects vary
        return None


def samr_failure(what: str, exc: BaseException) -> DirectoryError:
    status = _status_of(exc)
    if status is None:
        return DirectoryError(f"{what}: cannot talk SAMR to the DC: {exc}", code=E.ERROR_NO_SUCH_DOMAIN)
    code = _NTSTATUS.get(status, E.ERROR_DS_UNWILLING_TO_PERFORM)
    return DirectoryError(f"{what}: {E.describe(code)} (NTSTATUS 0x{status:08X})", code=code)


def smb_connect(target: DcTarget, creds: Credentials):
    """An authenticated impacket SMBConnection to the DC (NTLM, signing as the DC requires)."""
    from impacket.smbconnection import SessionError, SMBConnection

    try:
        smb = SMBConnection(target.name, target.connect_host, sess_port=SMB_PORT, timeout=int(target.timeout))
    except OSError as exc:
        raise DirectoryError(f"cannot reach the DC {target.name} over SMB ({target.connect_host}:{SMB_PORT}): "
                             f"{exc.strerror or exc}", code=E.ERROR_NO_SUCH_DOMAIN) from None
    except Exception as exc:  # noqa: BLE001 - impacket raises its own socket wrappers
        raise DirectoryError(f"cannot reach the DC {target.name} over SMB: {exc}", code=E.ERROR_NO_SUCH_DOMAIN) from None
    user, domain = creds.split()
    try:
        smb.login(user, creds.password, domain)
    except SessionError as exc:
        with contextlib.suppress(Exception):
            smb.close()
        raise samr_failure(f"SMB login to {target.name} as {creds.user} failed", exc) from None
    except Exception as exc:  # noqa: BLE001
        with contextlib.suppress(Exception):
            smb.close()
        raise DirectoryError(f"SMB login to {target.name} failed: {exc}", code=E.ERROR_LOGON_FAILURE) from None
    return smb


@dataclass
class SamrSession:
    smb: object
    dce: object
    domain_handle: object
    domain_sid: str

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.dce.disconnect()
        with contextlib.suppress(Exception):
            self.smb.close()


def open_samr(target: DcTarget, creds: Credentials, netbios_domain: str) -> SamrSession:
    from impacket.dcerpc.v5 import samr, transport

    smb = smb_connect(target, creds)
    try:
        rpc = transport.SMBTransport(target.connect_host, SMB_PORT, r"\samr", smb_connection=smb)
        dce = rpc.get_dce_rpc()
        dce.connect()
        dce.bind(samr.MSRPC_UUID_SAMR)
        server = samr.hSamrConnect5(dce, f"\\\\{target.name}\x00",
                                    samr.SAM_SERVER_ENUMERATE_DOMAINS | samr.SAM_SERVER_LOOKUP_DOMAIN)["ServerHandle"]
        sid = samr.hSamrLookupDomainInSamServer(dce, server, netbios_domain)["DomainId"]
        handle = samr.hSamrOpenDomain(dce, server, samr.DOMAIN_LOOKUP | samr.DOMAIN_CREATE_USER, sid)["DomainHandle"]
        return SamrSession(smb, dce, handle, sid.formatCanonical())
    except DirectoryError:
        smb.close()
        raise
    except Exception as exc:  # noqa: BLE001
        with contextlib.suppress(Exception):
            smb.close()
        raise samr_failure(f"opening the SAM of {netbios_domain} on {target.name}", exc) from None


def lookup_rid(s: SamrSession, sam_account_name: str) -> int | None:
    from impacket.dcerpc.v5 import samr

    try:
        resp = samr.hSamrLookupNamesInDomain(s.dce, s.domain_handle, [sam_account_name])
    except Exception as exc:  # noqa: BLE001
        if _status_of(exc) == 0xC0000073:
            return None
        raise samr_failure(f"looking up {sam_account_name}", exc) from None
    return int(resp["RelativeIds"]["Element"][0]["Data"])


def _set_password(s: SamrSession, user_handle, password: str) -> None:
    """UserInternal4InformationNew with PasswordExpired = 0 (MS-SAMR 2.2.6.32, 2.2.6.21, 3.1.5.6.4.4)."""
    from Cryptodome.Cipher import ARC4
    from Cryptodome.Hash import MD5
    from impacket.dcerpc.v5 import samr
    from impacket.dcerpc.v5.dtypes import NULL

    encoded = password.encode("utf-16-le")
    if len(encoded) > 512:
        raise DirectoryError("the machine password is longer than SAMR allows (256 UTF-16 units)",
                             code=E.ERROR_INVALID_PARAMETER)
    req = samr.SamrSetInformationUser2()
    req["UserHandle"] = user_handle
    cls = samr.USER_INFORMATION_CLASS.UserInternal4InformationNew
    req["UserInformationClass"] = cls
    req["Buffer"]["tag"] = cls
    i1 = req["Buffer"]["Internal4New"]["I1"]
    i1["WhichFields"] = 0x01000000 | 0x08000000  # USER_ALL_NTPASSWORDPRESENT | USER_ALL_PASSWORDEXPIRED
    for f in ("UserName", "FullName", "HomeDirectory", "HomeDirectoryDrive", "ScriptPath", "ProfilePath",
              "AdminComment", "WorkStations", "UserComment", "Parameters", "PrivateData"):
        i1[f] = NULL
    i1["LmOwfPassword"]["Buffer"] = NULL
    i1["NtOwfPassword"]["Buffer"] = NULL
    i1["SecurityDescriptor"]["SecurityDescriptor"] = NULL
    i1["LogonHours"]["LogonHours"] = NULL
    i1["PasswordExpired"] = 0
    # SAMPR_ENCRYPTED_USER_PASSWORD_NEW: 512-byte buffer (password at the end) + length, RC4 with
    # MD5(salt + session key), then the 16-byte salt
    clear = os.urandom(512 - len(encoded)) + encoded
    clear += struct.pack("<I", len(encoded))
    salt = os.urandom(16)
    key = MD5.new(salt + s.smb.getSessionKey()).digest()
    req["Buffer"]["Internal4New"]["UserPassword"]["Buffer"] = ARC4.new(key).encrypt(clear) + salt
    s.dce.request(req)


def _set_uac(s: SamrSession, user_handle, uac: int) -> None:
    from impacket.dcerpc.v5 import samr

    buf = samr.SAMPR_USER_INFO_BUFFER()
    buf["tag"] = samr.USER_INFORMATION_CLASS.UserControlInformation
    buf["Control"]["UserAccountControl"] = uac
    samr.hSamrSetInformationUser2(s.dce, user_handle, buf)


def create_account(s: SamrSession, sam_account_name: str, password: str) -> int:
    """Create NAME$ as a workstation trust account with ``password``; return its RID."""
    from impacket.dcerpc.v5 import samr

    try:
        # the request itself, not impacket's helper, which replaces the NTSTATUS with a message
        req = samr.SamrCreateUser2InDomain()
        req["DomainHandle"] = s.domain_handle
        req["Name"] = sam_account_name
        req["AccountType"] = samr.USER_WORKSTATION_TRUST_ACCOUNT
        req["DesiredAccess"] = samr.USER_FORCE_PASSWORD_CHANGE | samr.USER_WRITE_ACCOUNT
        resp = s.dce.request(req)
    except Exception as exc:  # noqa: BLE001
        raise samr_failure(f"cannot create {sam_account_name}", exc) from None
    handle, rid = resp["UserHandle"], int(resp["RelativeId"])
    try:
        _set_password(s, handle, password)
        _set_uac(s, handle, samr.USER_WORKSTATION_TRUST_ACCOUNT)
    except Exception as exc:  # noqa: BLE001 - remove the half-made account
        with contextlib.suppress(Exception):
            delete_account(s, sam_account_name)
        if isinstance(exc, DirectoryError):
            raise
        raise samr_failure(f"cannot set the password of {sam_account_name} (the account was removed)", exc) from None
    finally:
        with contextlib.suppress(Exception):
            samr.hSamrCloseHandle(s.dce, handle)
    return rid


def reset_password(s: SamrSession, sam_account_name: str, password: str) -> int:
    from impacket.dcerpc.v5 import samr

    rid = lookup_rid(s, sam_account_name)
    if rid is None:
        raise DirectoryError(f"{sam_account_name} does not exist", code=E.ERROR_NOT_FOUND)
    try:
        handle = samr.hSamrOpenUser(s.dce, s.domain_handle, samr.USER_FORCE_PASSWORD_CHANGE, rid)["UserHandle"]
        try:
            _set_password(s, handle, password)
        finally:
            with contextlib.suppress(Exception):
                samr.hSamrCloseHandle(s.dce, handle)
    except DirectoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise samr_failure(f"cannot reset the password of {sam_account_name}", exc) from None
    return rid


def delete_account(s: SamrSession, sam_account_name: str) -> bool:
    from impacket.dcerpc.v5 import samr

    rid = lookup_rid(s, sam_account_name)
    if rid is None:
        return False
    try:
        handle = samr.hSamrOpenUser(s.dce, s.domain_handle, samr.DELETE, rid)["UserHandle"]
        samr.hSamrDeleteUser(s.dce, handle)
    except Exception as exc:  # noqa: BLE001
        raise samr_failure(f"cannot delete {sam_account_name}", exc) from None
    return True
