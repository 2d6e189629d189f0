"""LDAP connections to a domain controller: TLS always, certificate checked against the DC's name.

- ``DcTarget`` names the DC (what its certificate names) and, optionally, the address to connect to
  instead of resolving that name (like curl's ``--resolve``): the TLS handshake still sends the name
  (SNI) and verifies the certificate against it, so pinning an address never weakens verification.
- LDAPS (636) by default, or StartTLS on 389. A bind that would carry a password in clear text is
  refused before anything is sent (NERR_ConnectionInsecure 2718); a failed StartTLS never falls back.
- SIMPLE bind with a UPN, or NTLM (``DOMAIN\\user``) for Windows DCs. ldap3's NTLM needs MD4, which
  OpenSSL 3 lacks: we hand ldap3 the NT hash (its documented ``LM:NT`` password form) computed with
  pycryptodomex's MD4 instead.
- ``ConnectionPool``: a few bound connections for concurrent use (an ldap3 connection is not safe to
  share between threads).
"""

from __future__ import annotations

import contextlib
import queue
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Iterator

import ldap3
from ldap3.core import exceptions as lexc

from ppkgtool.ad import errors as E
from ppkgtool.errors import ConnectionInsecureError, DirectoryError, UsageError

LDAPS_PORT = 636
LDAP_PORT = 389
DEFAULT_TIMEOUT = 15.0


@dataclass(frozen=True)
class DcTarget:
    """Which DC to talk to and how to protect the connection."""

    name: str                       # the DC's DNS name, as its certificate names it
    address: str | None = None      # connect here instead of resolving ``name``
    ca_file: str | None = None      # PEM bundle to verify the certificate (default: system store)
    insecure: bool = False          # skip certificate verification (explicit opt-in, warned about)
    starttls: bool = False          # StartTLS on 389 instead of LDAPS on 636
    port: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    tls: bool = True                # False exists only so that a clear-text bind can be refused

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or any(c in self.name for c in " /\\@"):
            raise UsageError(f"invalid DC name {self.name!r}: give the DC's DNS name (e.g. dc1.example.com)")
        if self.address is not None and (not isinstance(self.address, str) or not self.address.strip()):
            raise UsageError("invalid DC address")
        if self.ca_file is not None and not isinstance(self.ca_file, str):
            raise UsageError("ca_file must be a path")
        if self.ca_file and self.insecure:
            raise UsageError("--ca-file and --insecure exclude each other")
        for flag in ("insecure", "starttls", "tls"):
            if not isinstance(getattr(self, flag), bool):
                raise UsageError(f"{flag} must be a bool")
        if self.port is not None and not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise UsageError(f"invalid port {self.port!r}")
        if not isinstance(self.timeout, (int, float)) or self.timeout <= 0:
            raise UsageError("timeout must be positive")

    @property
    def connect_host(self) -> str:
        return self.address or self.name

    @property
    def ldap_port(self) -> int:
        if self.port:
            return self.port
        return LDAPS_PORT if (self.tls and not self.starttls) else LDAP_PORT

    def where(self) -> str:
        via = f" at {self.address}" if self.address else ""
        return f"{self.name}{via}:{self.ldap_port}"


@dataclass(frozen=True)
class Credentials:
    """Who binds. ``auth``: "simple" (UPN) or "ntlm" (DOMAIN\\user); None picks by the user form."""

    user: str
    password: str = field(repr=False)
    auth: str | None = None

    def __post_init__(self):
        if not isinstance(self.user, str) or not self.user.strip():
            raise UsageError("a user name is required (e.g. Administrator@EXAMPLE.COM)")
        if not isinstance(self.password, str):
            raise UsageError("password must be a string")
        if self.auth not in (None, "simple", "ntlm"):
            raise UsageError(f"unknown bind method {self.auth!r} (simple or ntlm)")

    @property
    def method(self) -> str:
        if self.auth:
            return self.auth
        return "ntlm" if "\\" in self.user else "simple"

    def split(self) -> tuple[str, str]:
        """(user, domain) for NTLM/SMB: ``user@REALM`` and ``DOMAIN\\user`` both work."""
        if "\\" in self.user:
            dom, _, name = self.user.partition("\\")
            return name, dom
        if "@" in self.user:
            name, _, dom = self.user.rpartition("@")
            return name, dom
        return self.user, ""


def nt_hash(password: str) -> bytes:
    """MD4 of the UTF-16LE password (the NT one-way function), without hashlib's MD4."""
    from Cryptodome.Hash import MD4
    return MD4.new(password.encode("utf-16-le")).digest()


class _PinnedTls(ldap3.Tls):
    """ldap3 TLS with Python's own hostname check against the DC name (not the address)."""

    def __init__(self, target: DcTarget):
        super().__init__(validate=ssl.CERT_NONE if target.insecure else ssl.CERT_REQUIRED)
        self.target = target
        self.failure: BaseException | None = None

    def context(self) -> ssl.SSLContext:
        if self.target.insecure:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            try:
                ctx = ssl.create_default_context(cafile=self.target.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise E.TlsCertificateError(f"cannot load the CA file {self.target.ca_file}: {exc}",
                                     code=E.SEC_E_UNTRUSTED_ROOT) from None
            ctx.check_hostname = True
            ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def wrap_socket(self, connection, do_handshake=False):  # ldap3 API
        try:
            connection.socket = self.context().wrap_socket(
                connection.socket, server_side=False, do_handshake_on_connect=do_handshake,
                server_hostname=self.target.name)
        except BaseException as exc:
            self.failure = exc
            raise


def _tls_error(target: DcTarget, exc: BaseException) -> DirectoryError:
    if isinstance(exc, DirectoryError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        text = exc.verify_message or str(exc)
        if "hostname" in text.lower() or "ip address mismatch" in text.lower():
            return E.TlsCertificateError(f"the certificate of {target.where()} does not name {target.name}: {text}",
                                  code=E.SEC_E_WRONG_PRINCIPAL,
                                  hint="--dc must be the name in the DC's certificate")
        if "expired" in text.lower():
            return E.TlsCertificateError(f"the certificate of {target.where()} has expired", code=E.SEC_E_CERT_EXPIRED)
        return E.TlsCertificateError(f"cannot verify the certificate of {target.where()}: {text}",
                              code=E.SEC_E_UNTRUSTED_ROOT,
                              hint="pass the issuing CA with --ca-file (or --insecure to skip the check)")
    return DirectoryError(f"TLS handshake with {target.where()} failed: {exc}", code=E.ERROR_NO_SUCH_DOMAIN)


def open_connection(target: DcTarget, creds: Credentials) -> ldap3.Connection:
    """A bound, TLS-protected ldap3 connection, or a DirectoryError with the Windows code."""
    if not target.tls:
        raise ConnectionInsecureError(
            f"refusing to bind to {target.where()} without TLS: the password would travel unencrypted",
            code=E.NERR_ConnectionInsecure, hint="use LDAPS (the default) or --starttls")
    tls = _PinnedTls(target)
    use_ssl = not target.starttls
    server = ldap3.Server(target.connect_host, port=target.ldap_port, use_ssl=use_ssl, tls=tls,
                          get_info=ldap3.NONE, connect_timeout=max(1, int(target.timeout)))
    if creds.method == "ntlm":
        user, dom = creds.split()
        if not dom:
            raise UsageError("NTLM bind needs DOMAIN\\user")
        secret = "aad3b435b51404eeaad3b435b51404ee:" + nt_hash(creds.password).hex()
        conn = ldap3.Connection(server, user=f"{dom}\\{user}", password=secret, authentication=ldap3.NTLM,
                                receive_timeout=max(1, int(target.timeout)), raise_exceptions=False, auto_referrals=False,
                                read_only=False, check_names=True)
    else:
        # UTF-8 bytes: ldap3 would SASLprep a str, which rejects valid AD passwords (e.g. Windows-like
        # random machine passwords that mix bidirectional characters); AD compares the raw UTF-8.
        conn = ldap3.Connection(server, user=creds.user, password=creds.password.encode("utf-8"),
                                authentication=ldap3.SIMPLE,
                                receive_timeout=max(1, int(target.timeout)), raise_exceptions=False, auto_referrals=False,
                                check_names=True)
    try:
        conn.open(read_server_info=False)
        if target.starttls:
            try:
                conn.start_tls(read_server_info=False)
            except lexc.LDAPStartTLSError:
                if tls.failure is not None:
                    raise _tls_error(target, tls.failure) from None
                conn.unbind()
                raise ConnectionInsecureError(
                    f"{target.where()} refused StartTLS; refusing to send the password unencrypted",
                    code=E.NERR_ConnectionInsecure, hint="use LDAPS (drop --starttls)") from None
            if not conn.tls_started:
                conn.unbind()
                raise ConnectionInsecureError(f"StartTLS did not start on {target.where()}",
                                              code=E.NERR_ConnectionInsecure)
        if not conn.bind():
            result = dict(conn.result or {})
            conn.unbind()
            raise E.ldap_failure(f"bind to {target.where()} as {creds.user} failed", result,
                                 hint="check --user and the password" if result.get("result") == 49 else None)
        return conn
    except DirectoryError:
        raise
    except lexc.LDAPException as exc:
        with contextlib.suppress(Exception):
            conn.unbind()
        if tls.failure is not None:
            raise _tls_error(target, tls.failure) from None
        raise _network_error(target, exc) from None
    except OSError as exc:
        with contextlib.suppress(Exception):
            conn.unbind()
        raise _network_error(target, exc) from None


class DcUnreachableError(DirectoryError):
    """The DC cannot be reached or the connection to it broke: every further call will fail too
    until it is back (bulk stops taking new devices on this error)."""


def _network_error(target: DcTarget, exc: BaseException) -> DirectoryError:
    text = str(exc)
    for inner in getattr(exc, "args", ()):
        if isinstance(inner, list) and inner and isinstance(inner[0], tuple):  # ldap3 history
            text = "; ".join(str(e[0]) for e in inner)
    low = text.lower()
    if "refused" in low:
        why = "connection refused"
    elif "timed out" in low or "timeout" in low:
        why = "timed out"
    elif "name or service not known" in low or "getaddrinfo" in low or "nodename" in low or "invalid server address" in low:
        why = f"cannot resolve {target.name} (use --dc-address IP)"
    else:
        why = " ".join(text.split())[:200]
    return DcUnreachableError(f"cannot reach the DC {target.where()}: {why}", code=E.ERROR_NO_SUCH_DOMAIN)


class ConnectionLostError(DcUnreachableError):
    """The connection to the DC broke during an operation."""


def is_connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, (ConnectionLostError, lexc.LDAPSocketOpenError, lexc.LDAPSocketSendError, lexc.LDAPSocketReceiveError,
                            lexc.LDAPSessionTerminatedByServerError, socket.error))


class ConnectionPool:
    """Up to ``size`` bound connections, created on demand; ``with pool.connection() as conn``."""

    def __init__(self, target: DcTarget, creds: Credentials, size: int = 4):
        if not isinstance(size, int) or size < 1 or size > 64:
            raise UsageError("connection pool size must be 1..64")
        self.target = target
        self.creds = creds
        self.size = size
        self._idle: queue.LifoQueue[ldap3.Connection] = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(size)
        self._closed = False

    def prime(self) -> ldap3.Connection:
        """Open the first connection now (so that bind errors surface at connect time)."""
        conn = open_connection(self.target, self.creds)
        with self._lock:
            self._created += 1
        self._idle.put(conn)
        return conn

    @contextlib.contextmanager
    def connection(self) -> Iterator[ldap3.Connection]:
        if self._closed:
            raise DirectoryError("the directory session is closed")
        self._slots.acquire()
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = open_connection(self.target, self.creds)
                with self._lock:
                    self._created += 1
            ok = False
            try:
                yield conn
                ok = not conn.closed
            except BaseException as exc:
                ok = not is_connection_lost(exc) and not conn.closed
                raise
            finally:
                if ok and not self._closed:
                    self._idle.put(conn)
                else:
                    with contextlib.suppress(Exception):
                        conn.unbind()
        finally:
            self._slots.release()

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                break
            with contextlib.suppress(Exception):
                conn.unbind()
