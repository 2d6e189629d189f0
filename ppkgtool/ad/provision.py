"""NetProvisionComputerAccount on any OS: the account in AD plus its ODJ blob, all or nothing.

Order of work (so that a failure leaves nothing behind):
1. connect and bind (a small pool of connections; ``provision`` may run on several threads);
2. read the domain facts once (rootDSE, LDAP ping, domain head, crossRef) and check the domain
   name and that the DC is writable;
3. per machine, gather everything that can fail before touching the directory: name checks, the
   OU, an existing account, root CAs, the certificate template, the GPOs' Registry.pol files, the
   local policy files;
4. create the account (or reset an existing one's password with ``reuse``) and read back its SID and
   objectGUID;
5. compose and encode the blob, then call ``deliver`` (the caller writes it);
6. if 5 fails, delete the account just created (or, for a reused account, say that its password was
   reset) and add that to the error's message.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
import uuid
from dataclasses import dataclass, field
from typing import Callable

from ppkgtool.ad import account as A
from ppkgtool.ad import errors as E
from ppkgtool.ad.certs import check_template, read_root_cas
from ppkgtool.ad.connection import ConnectionPool, Credentials, DcTarget
from ppkgtool.ad.directory import (DS_DNS_CONTROLLER_FLAG, DS_DNS_DOMAIN_FLAG, DS_DNS_FOREST_FLAG,
                                   NetlogonResponse, RootDse, ldap_ping, nc_to_dns, object_exists, read_domain_head,
                                   read_netbios_name, read_root_dse)
from ppkgtool.errors import DirectoryError, InvalidInputError, PpkgError, UsageError

METHODS = ("ldap", "samr")
MAX_POLICY_FILE = 8 * 1024 * 1024


@dataclass(frozen=True)
class ProvisionRequest:
    """One machine to provision (djoin /provision's options)."""

    machine: str
    machine_ou: str | None = None
    reuse: bool = False
    default_password: bool = False
    password: str | None = field(default=None, repr=False)   # pre-generated (bulk saves it first)
    rootcacerts: bool = False
    certtemplate: str | None = None
    policynames: tuple[str, ...] = ()
    policypaths: tuple[str, ...] = ()
    netbios: str | None = None
    psite: str | None = None
    dsite: str | None = None
    primarydns: str | None = None
    password_form: str = "windows"       # of a generated password: "windows" or "compact"

    def __post_init__(self):
        for n in ("policynames", "policypaths"):
            v = getattr(self, n)
            if isinstance(v, list):
                object.__setattr__(self, n, tuple(v))
            if not isinstance(getattr(self, n), tuple) or not all(isinstance(i, str) for i in getattr(self, n)):
                raise UsageError(f"{n} must be a tuple of strings")
        for n in ("reuse", "default_password", "rootcacerts"):
            if not isinstance(getattr(self, n), bool):
                raise UsageError(f"{n} must be a bool")
        for n in ("machine_ou", "password", "certtemplate", "netbios", "psite", "dsite", "primarydns"):
            v = getattr(self, n)
            if v is not None and not isinstance(v, str):
                raise UsageError(f"{n} must be a string")
        if self.password is not None and self.default_password:
            raise UsageError("a given password and --default-password exclude each other")
        if self.password is not None and not (1 <= len(self.password) <= 256):
            raise InvalidInputError("the machine password must be 1-256 characters", code=E.ERROR_INVALID_PARAMETER)
        from ppkgtool.odj.compose import MACHINE_PASSWORD_FORMS
        if self.password_form not in MACHINE_PASSWORD_FORMS:
            raise UsageError(f"unknown machine password form {self.password_form!r} "
                             f"({' or '.join(MACHINE_PASSWORD_FORMS)})")
        if self.psite and self.dsite:
            raise UsageError("--psite and --dsite exclude each other")
        self.join          # the machine name rule (odj.request)
        if self.machine_ou is not None:
            A.check_ou(self.machine_ou)
        if self.primarydns is not None:
            A.check_dns_domain(self.primarydns, "--primarydns")

    @property
    def join(self):
        """The blob side of the request: odj.request.JoinRequest, shared with odj compose."""
        from ppkgtool.odj.request import JoinRequest
        return JoinRequest(machine=self.machine, netbios=self.netbios, default_password=self.default_password,
                           reuse=self.reuse, root_ca_certs=self.rootcacerts, psite=self.psite, dsite=self.dsite,
                           primarydns=self.primarydns)

    @property
    def names(self) -> tuple[str, str]:
        return self.join.names


@dataclass(frozen=True)
class ProvisionResult:
    blob: bytes = field(repr=False)          # binary ODJ_PROVISION_DATA (holds the password)
    provision_data: object = field(repr=False)
    machine: str
    sam_account_name: str
    dn: str
    sid: str
    rid: int
    object_guid: uuid.UUID
    created: bool
    reused: bool
    password: str = field(repr=False)
    method: str = "ldap"
    parts: tuple[str, ...] = ()

    def summary(self) -> dict:
        """JSON-safe facts without secrets."""
        return {"machine": self.machine, "sam_account_name": self.sam_account_name, "dn": self.dn,
                "sid": self.sid, "rid": self.rid, "object_guid": str(self.object_guid),
                "created": self.created, "reused": self.reused, "method": self.method,
                "blob_bytes": len(self.blob), "parts": list(self.parts)}


@dataclass(frozen=True)
class DomainInfo:
    """What the session learnt about the domain, beside the DomainFacts the blob needs."""

    root_dse: RootDse
    ping: NetlogonResponse
    default_nc: str
    computers_dn: str
    domain_sid: str
    domain_guid: uuid.UUID
    netbios_name: str
    dns_domain: str
    dns_forest: str


class DirectorySession:
    """A bound session with one writable DC; thread-safe ``provision``."""

    def __init__(self, target: DcTarget, creds: Credentials, *, method: str = "ldap", pool_size: int = 4,
                 domain: str | None = None):
        if method not in METHODS:
            raise UsageError(f"unknown method {method!r} (ldap or samr)")
        self.target = target
        self.creds = creds
        self.method = method
        self.domain = domain
        self.pool = ConnectionPool(target, creds, size=pool_size)
        self._facts = None
        self._info: DomainInfo | None = None
        self._lock = threading.Lock()
        self._samr_local = threading.local()
        self._samr_sessions: list = []

    # -- lifetime ----------------------------------------------------------------------------
    @classmethod
    def connect(cls, target: DcTarget, creds: Credentials, method: str = "ldap", *, pool_size: int = 4,
                domain: str | None = None) -> "DirectorySession":
        """Bind now (errors surface here) and read the domain facts."""
        s = cls(target, creds, method=method, pool_size=pool_size, domain=domain)
        try:
            s.pool.prime()
            s.domain_info()
        except BaseException:
            s.close()
            raise
        return s

    def close(self) -> None:
        self.pool.close()
        for ss in self._samr_sessions:
            ss.close()
        self._samr_sessions.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- facts -------------------------------------------------------------------------------
    def domain_info(self) -> DomainInfo:
        with self._lock:
            if self._info is None:
                with self.pool.connection() as conn:
                    self._info = self._read_info(conn)
            return self._info

    def _read_info(self, conn) -> DomainInfo:
        rd = read_root_dse(conn)
        ping = ldap_ping(conn, nc_to_dns(rd.default_nc))
        if self.domain:
            want = self.domain.rstrip(".").lower()
            if want not in (ping.dns_domain.lower(), ping.netbios_domain.lower()):
                raise DirectoryError(f"the DC {self.target.name} serves {ping.dns_domain} ({ping.netbios_domain}), "
                                     f"not {self.domain}", code=E.ERROR_NO_SUCH_DOMAIN)
        if not ping.writable:
            raise DirectoryError(f"{self.target.name} is a read-only DC; provisioning needs a writable DC",
                                 code=E.ERROR_INVALID_DOMAIN_ROLE, hint="pass a writable DC with --dc")
        head = read_domain_head(conn, rd.default_nc)
        netbios, dns_root = read_netbios_name(conn, rd.config_nc, rd.default_nc)
        return DomainInfo(root_dse=rd, ping=ping, default_nc=rd.default_nc, computers_dn=head.computers_dn,
                          domain_sid=head.sid, domain_guid=head.guid,
                          netbios_name=netbios or ping.netbios_domain, dns_domain=dns_root or ping.dns_domain,
                          dns_forest=ping.dns_forest or dns_root)

    def dc_address(self) -> str:
        addr = self.target.address
        if addr is None:
            with self.pool.connection() as conn:
                with contextlib.suppress(Exception):
                    addr = conn.socket.getpeername()[0]
        try:
            return str(ipaddress.ip_address(addr))
        except (TypeError, ValueError):
            return addr or self.target.name

    def domain_facts(self):
        """ppkgtool.odj.DomainFacts for the blob (cached)."""
        from ppkgtool.odj.compose import DomainFacts

        with self._lock:
            if self._facts is not None:
                return self._facts
        info = self.domain_info()
        p = info.ping
        # DsGetDcName sets the DNS_* flags when it returns DNS names [C: net offlinejoin's blob]
        flags = p.flags | DS_DNS_CONTROLLER_FLAG | DS_DNS_DOMAIN_FLAG | DS_DNS_FOREST_FLAG
        facts = DomainFacts(dns_domain=info.dns_domain, netbios_name=info.netbios_name, dns_forest=info.dns_forest,
                            domain_guid=info.domain_guid, domain_sid=info.domain_sid,
                            dc_name=p.dns_host or info.root_dse.dns_host_name or self.target.name,
                            dc_address=self.dc_address(), dc_address_type=1, dc_flags=flags,
                            dc_site=p.dc_site or info.root_dse.dc_site, client_site=p.client_site or None)
        with self._lock:
            self._facts = facts
        return facts

    # -- accounts ----------------------------------------------------------------------------
    def computer_exists(self, name: str) -> str | None:
        _host, nb = A.check_machine_name(name)
        info = self.domain_info()
        with self.pool.connection() as conn:
            return A.find_computer(conn, info.default_nc, nb)

    def delete_computer(self, name: str) -> bool:
        """Delete NAME$ wherever it is; False if there was none."""
        _host, nb = A.check_machine_name(name)
        info = self.domain_info()
        with self.pool.connection() as conn:
            dn = A.find_computer(conn, info.default_nc, nb)
            if dn is None:
                return False
            A.delete_computer(conn, dn)
            return True

    def _samr(self):
        from ppkgtool.ad.samr import open_samr

        s = getattr(self._samr_local, "session", None)
        if s is None:
            s = open_samr(self.target, self.creds, self.domain_info().netbios_name)
            self._samr_local.session = s
            with self._lock:
                self._samr_sessions.append(s)
        return s

    # -- provisioning ------------------------------------------------------------------------
    def provision(self, req: ProvisionRequest, *, deliver: Callable[["ProvisionResult"], None] | None = None
                  ) -> ProvisionResult:
        """Create (or reuse) the account and return its blob; ``deliver(result)`` runs before success.

        If composing the blob or ``deliver`` fails, an account created here is deleted again and the
        error message says so (a reused account's password stays reset; the message says that too).
        """
        odj = _odj()

        if not isinstance(req, ProvisionRequest):
            raise TypeError("provision() takes a ProvisionRequest")
        info = self.domain_info()
        facts = self.domain_facts()
        host, nb = req.names
        spec = A.ComputerSpec(host=host, netbios=nb, dns_suffix=(req.primarydns or info.dns_domain))
        container = req.machine_ou or info.computers_dn

        # 3. everything that can fail before the directory changes
        policy_files: list[tuple[str, bytes]] = [(p, _read_policy_file(p)) for p in req.policypaths]
        with self.pool.connection() as conn:
            if req.machine_ou is not None and not object_exists(conn, req.machine_ou, what="checking --machine-ou"):
                raise DirectoryError(f"the OU {req.machine_ou} does not exist", code=E.ERROR_DS_NO_SUCH_OBJECT,
                                     hint="give the OU's full distinguished name (OU=...,DC=...)")
            # without --reuse an existing account makes the add fail (sAMAccountName is unique), so the
            # lookup is left to that case: one LDAP round trip less per new machine
            existing = A.find_computer(conn, info.default_nc, nb) if req.reuse else None
            root_cas = read_root_cas(conn, info.root_dse.config_nc) if req.rootcacerts else None
            template = check_template(conn, info.root_dse.config_nc, req.certtemplate) if req.certtemplate else None
            gpos = []
            if req.policynames:
                from ppkgtool.ad.gpo import find_gpos
                gpos = find_gpos(conn, info.default_nc, req.policynames)
        if gpos:
            from ppkgtool.ad.gpo import read_registry_pols
            policy_files = read_registry_pols(self.target, self.creds, gpos) + policy_files
        policy_part = None
        if policy_files:
            from ppkgtool.odj.models import PolicyPart
            policy_part = PolicyPart.from_registry_pol(policy_files)   # parses: bad files fail here, before step 4
        cert_part = None
        if root_cas is not None or template is not None:
            cert_part = odj.CertPart(
                pfx_stores=(odj.PfxStore(template_name=template),) if template else (),
                sst_stores=(odj.SstStore.from_certificates(root_cas),) if root_cas else ())
        join = req.join
        jp2 = join.join_provider2()
        if req.default_password:
            password = join.default_password_text
        else:
            password = req.password or odj.generate_machine_password(form=req.password_form)

        # 4. the directory changes
        created = False
        if existing:
            dn = existing
            self._reset_password(dn, spec, password)
        else:
            dn = spec.dn(container)
            try:
                self._create(dn, spec, password, info)
            except DirectoryError as exc:
                if exc.code == E.NERR_UserExists:
                    with self.pool.connection() as conn:
                        found = A.find_computer(conn, info.default_nc, nb)
                    raise DirectoryError(f"the computer account {spec.sam_account_name} already exists"
                                         + (f" ({found})" if found else ""), code=E.NERR_UserExists,
                                         hint="pass --reuse to reset its password and reuse it") from None
                raise
            created = True

        # 5. read back, compose, deliver; 6. undo on failure
        try:
            with self.pool.connection() as conn:
                ident = A.read_identity(conn, dn)
            machine = odj.MachineFacts(machine_name=join.blob_machine_name, password=password, rid=ident.rid,
                                       object_guid=ident.object_guid, options=join.options)
            pd = odj.compose_provision_data(facts, machine, join_provider2=jp2, join_provider4=True,
                                            cert_part=cert_part, policy_part=policy_part)
            blob = odj.encode_provision_data(pd)
            result = ProvisionResult(
                blob=blob, provision_data=pd, machine=host, sam_account_name=spec.sam_account_name, dn=dn,
                sid=ident.sid, rid=ident.rid, object_guid=ident.object_guid, created=created,
                reused=bool(existing), password=password, method=self.method,
                parts=tuple(p.type_name for p in pd.parts))
            if deliver is not None:
                deliver(result)
            return result
        except BaseException as exc:
            note = self._undo(dn, spec, created)
            if isinstance(exc, PpkgError):
                exc.message = f"{exc.message}; {note}"
                raise
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise PpkgError(f"internal error after the account was written ({type(exc).__name__}: {exc}); "
                            f"{note}") from exc

    def _create(self, dn: str, spec: A.ComputerSpec, password: str, info: DomainInfo) -> None:
        if self.method == "samr":
            from ppkgtool.ad import samr
            s = self._samr()
            samr.create_account(s, spec.sam_account_name, password)
            try:
                with self.pool.connection() as conn:
                    cur = A.find_computer(conn, info.default_nc, spec.netbios)
                    if cur is None:
                        raise DirectoryError(f"{spec.sam_account_name} created over SAMR is not visible over LDAP",
                                             code=E.ERROR_DS_NO_SUCH_OBJECT)
                    if cur.lower() != dn.lower():
                        _move(conn, cur, dn)
                    A.update_attributes(conn, dn, spec.service_attributes())
            except BaseException:
                with contextlib.suppress(Exception):
                    samr.delete_account(s, spec.sam_account_name)
                raise
            return
        with self.pool.connection() as conn:
            A.create_computer(conn, dn, spec, password)

    def _reset_password(self, dn: str, spec: A.ComputerSpec, password: str) -> None:
        if self.method == "samr":
            from ppkgtool.ad import samr
            samr.reset_password(self._samr(), spec.sam_account_name, password)
            return
        with self.pool.connection() as conn:
            A.set_password(conn, dn, password)

    def _undo(self, dn: str, spec: A.ComputerSpec, created: bool) -> str:
        if not created:
            return (f"the password of the existing account {spec.sam_account_name} was already reset and no blob "
                    f"was produced: provision it again with --reuse")
        try:
            with self.pool.connection() as conn:
                A.delete_computer(conn, dn)
            return f"the computer account {dn} that was just created has been removed"
        except Exception as exc:  # noqa: BLE001
            text = exc.one_line() if isinstance(exc, PpkgError) else str(exc)
            return f"the computer account {dn} was created but could not be removed ({text}): delete it by hand"


def _odj():
    """The ODJ codec names this module uses (from their defining submodules)."""
    from types import SimpleNamespace

    from ppkgtool.odj import codec, compose, models
    return SimpleNamespace(
        DomainFacts=compose.DomainFacts, MachineFacts=compose.MachineFacts,
        compose_provision_data=compose.compose_provision_data,
        generate_machine_password=compose.generate_machine_password,
        encode_provision_data=codec.encode_provision_data, CertPart=models.CertPart, PfxStore=models.PfxStore,
        SstStore=models.SstStore, JoinProv2Part=models.JoinProv2Part,
        OP_JP2_FLAG_PERSISTENTSITE=models.OP_JP2_FLAG_PERSISTENTSITE, NETSETUP_PROVISION=models.NETSETUP_PROVISION)


def _move(conn, old_dn: str, new_dn: str) -> None:
    rdn, parent = new_dn.split(",", 1)
    ok = conn.modify_dn(old_dn, rdn, new_superior=parent)
    if not ok:
        raise E.ldap_failure(f"cannot move {old_dn} to {parent}", dict(conn.result))


def _read_policy_file(path: str) -> bytes:
    from pathlib import Path
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_POLICY_FILE:
            raise InvalidInputError(f"{path} is larger than {MAX_POLICY_FILE} bytes", code=E.ERROR_INVALID_PARAMETER)
        return p.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read the policy file {path}: {exc.strerror}", code=E.ERROR_INVALID_PARAMETER) from None
