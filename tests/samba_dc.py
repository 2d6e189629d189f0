"""A real Samba AD DC on loopback for tests (recipe: ../shared/docs/test-dc.md).

Only one DC can run per network namespace and mount namespace (ports 389/636/88/445 on 127.0.0.1,
the winbindd socket in /run/samba/winbindd, test-dc.md pitfall 1), so:
- ``PPKGTOOL_TEST_DC=<dir>``: reuse the DC provisioned in <dir> (started if it is not running);
  developers keep one across test runs. It is left running at the end.
- otherwise the suite provisions one into a temporary folder, starts it, and stops it by PID.
- when the DC's loopback ports or the winbindd socket are already taken (another DC, slapd, a
  developer's kept DC), the suite's DC runs in a network namespace of its own
  (``ip netns add``) with a private /run/samba/winbindd, and the test process joins that namespace,
  so every test still talks to 127.0.0.1 only (test-dc.md pitfall 4: "or run in a private network
  namespace"). ``fallback_reason()`` says why, in one line.
``python tests/samba_dc.py start <dir>`` provisions and starts such a reusable DC by hand.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REALM = "TEST.LAB"
DOMAIN = "TEST"
DNS_DOMAIN = "test.lab"
DC_HOST = "dc1"
DC_FQDN = "dc1.test.lab"
ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class Realm:
    """The names a DC is provisioned with (the suite's: TEST.LAB; the quickstart's: CORP.EXAMPLE.COM)."""
    realm: str = REALM
    domain: str = DOMAIN       # NetBIOS
    host: str = DC_HOST

    @property
    def dns_domain(self) -> str:
        return self.realm.lower()

    @property
    def fqdn(self) -> str:
        return f"{self.host}.{self.dns_domain}"

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.dns_domain.split("."))
# What `samba` binds on ADDRESS with the provision options below (LDAP, LDAPS, GC, Kerberos, kpasswd,
# SMB, RPC endpoint mapper); any of them taken makes the DC fail to start.
DC_PORTS = (88, 135, 389, 445, 464, 636, 3268, 3269)
WINBINDD_SOCKET_DIR = "/run/samba/winbindd"   # built in; not overridable (test-dc.md pitfall 1)
_CLONE_NEWNET = 0x40000000


def busy_ports(address: str = ADDRESS, ports: tuple[int, ...] = DC_PORTS) -> list[int]:
    """The DC ports some other socket listens on at ``address`` (in this process's namespace)."""
    busy = []
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    busy.append(port)
    return busy


def winbindd_in_use() -> bool:
    """True when a winbindd (another Samba) answers on the built-in socket."""
    pipe = Path(WINBINDD_SOCKET_DIR) / "pipe"
    if not pipe.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(pipe))
        except OSError:
            return False
    return True


def fallback_reason() -> str | None:
    """Why the suite's DC cannot run in this namespace (one line), or None when it can."""
    busy = busy_ports()
    parts = []
    if busy:
        parts.append(f"loopback port{'s' if len(busy) > 1 else ''} {', '.join(map(str, busy))} on "
                     f"{ADDRESS} {'are' if len(busy) > 1 else 'is'} taken by another server")
    if winbindd_in_use():
        parts.append(f"another winbindd answers on {WINBINDD_SOCKET_DIR}/pipe")
    return "; ".join(parts) or None


class NetNamespace:
    """A network namespace made with ``ip netns add`` (loopback up), which this process can join.

    Joining is ``setns(2)`` on the calling thread; threads and child processes started afterwards
    inherit it, so join from the main thread before the tests open connections.
    """

    def __init__(self, name: str):
        self.name = name
        self.path = Path("/run/netns") / name
        self._home: int | None = None   # fd of the namespace we came from

    def create(self) -> None:
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True, timeout=30)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True,
                       capture_output=True, timeout=30)

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    @staticmethod
    def _setns(fd: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns: {os.strerror(err)}")

    def enter(self) -> None:
        if self._home is not None:
            return
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            self._setns(fd)
        finally:
            os.close(fd)

    def leave(self) -> None:
        if self._home is None:
            return
        try:
            self._setns(self._home)
        finally:
            os.close(self._home)
            self._home = None

    def delete(self) -> None:
        self.leave()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)


@dataclass
class DCInfo:
    directory: str
    address: str
    realm: str
    domain: str          # NetBIOS
    dns_domain: str
    dc_name: str         # DNS name the certificate carries
    admin_user: str      # UPN
    admin_password: str
    ca_file: str
    krb5_conf: str
    hosts_file: str      # for nss_wrapper (NSS_WRAPPER_HOSTS)
    smb_conf: str
    base_dn: str = "DC=test,DC=lab"

    def admin_password_file(self) -> str:
        path = Path(self.directory) / "admin.pass"
        if not path.exists():
            path.write_text(self.admin_password + "\n")
            path.chmod(0o600)
        return str(path)


def _samba_available() -> str | None:
    missing = [t for t in ("samba", "samba-tool") if shutil.which(t) is None
               and not Path(f"/usr/sbin/{t}").exists()]
    if missing:
        return f"Samba AD DC not installed ({', '.join(missing)} missing): run .ci/install-deps"
    if os.geteuid() != 0:
        return "the Samba AD DC must run as root"
    return None


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


class SambaDC:
    def __init__(self, directory: str | os.PathLike[str], netns: NetNamespace | None = None,
                 realm: Realm = Realm()):
        self.dir = Path(directory)
        self.realm = realm
        self.proc: subprocess.Popen | None = None
        self.netns = netns

    # -- files -------------------------------------------------------------------------------
    @property
    def info_file(self) -> Path:
        return self.dir / "dc.json"

    @property
    def pid_file(self) -> Path:
        return self.dir / "samba.pid"

    def info(self) -> DCInfo:
        return DCInfo(**json.loads(self.info_file.read_text()))

    # -- lifecycle ---------------------------------------------------------------------------
    def provision(self) -> DCInfo:
        d, r = self.dir, self.realm
        (d / "log").mkdir(parents=True, exist_ok=True)
        (d / "run").mkdir(parents=True, exist_ok=True)
        empty = d / "empty.conf"
        empty.write_text("")
        password = "Pp1-" + secrets.token_urlsafe(12)
        cmd = [
            _tool("samba-tool"), "domain", "provision", "-s", str(empty), f"--targetdir={d}",
            f"--realm={r.realm}", f"--domain={r.domain}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
            f"--adminpass={password}", f"--host-name={r.host}", f"--host-ip={ADDRESS}",
            f"--option=netbios name={r.host.upper()}", "--option=interfaces=lo", "--option=bind interfaces only=yes",
            "--option=server services=-dns -nbt -wrepl", "--option=disable netbios=yes",
            "--option=dns forwarder=127.0.0.1",
            f"--option=log file={d}/log/log.%m", f"--option=pid directory={d}/run",
            f"--option=ncalrpc dir={d}/run/ncalrpc", f"--option=ntp signd socket directory={d}/run/ntp_signd",
            "--option=ldap server require strong auth=allow_sasl_over_tls",
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        krb5 = d / "krb5.conf"
        krb5.write_text(
            f"[libdefaults]\n default_realm = {r.realm}\n dns_lookup_realm = false\n"
            " dns_lookup_kdc = false\n rdns = false\n dns_canonicalize_hostname = false\n"
            f"[realms]\n {r.realm} = {{\n  kdc = {ADDRESS}\n }}\n"
            f"[domain_realm]\n .{r.dns_domain} = {r.realm}\n {r.dns_domain} = {r.realm}\n")
        hosts = d / "hosts"
        hosts.write_text(f"{ADDRESS} {r.fqdn} {r.host} {r.host.upper()}.{r.dns_domain}\n")
        info = DCInfo(directory=str(d), address=ADDRESS, realm=r.realm, domain=r.domain,
                      dns_domain=r.dns_domain, base_dn=r.base_dn,
                      dc_name=r.fqdn, admin_user=f"Administrator@{r.realm}", admin_password=password,
                      ca_file=str(d / "private" / "tls" / "ca.pem"), krb5_conf=str(krb5),
                      hosts_file=str(hosts), smb_conf=str(d / "etc" / "smb.conf"))
        self.info_file.write_text(json.dumps(asdict(info), indent=2))
        self.info_file.chmod(0o600)
        return info

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def start(self, timeout: float = 60.0) -> None:
        if self.running_pid():
            self.wait_ready(timeout)
            return
        log = open(self.dir / "samba.out", "ab")
        cmd = [_tool("samba"), "-s", str(self.dir / "etc" / "smb.conf"), "-i"]
        if self.netns is not None:
            # `ip netns exec` runs in a mount namespace of its own (propagation slave), so the tmpfs
            # over the built-in winbindd socket folder stays private to this DC; both exec, so the
            # PID is samba's.
            Path(WINBINDD_SOCKET_DIR).mkdir(parents=True, exist_ok=True)
            cmd = [*self.netns.exec_prefix(), "sh", "-c",
                   f'mount -t tmpfs -o mode=0755 ppkgtool-dc {WINBINDD_SOCKET_DIR} && exec "$@"', "sh", *cmd]
            self.netns.enter()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.pid_file.write_text(str(self.proc.pid))
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        ca = self.dir / "private" / "tls" / "ca.pem"  # samba writes it on first start
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"samba exited with {self.proc.returncode}; see {self.dir}/samba.out")
            try:
                ctx = ssl.create_default_context(cafile=str(ca))
                ctx.check_hostname = False
                with socket.create_connection((ADDRESS, 636), timeout=2) as s:
                    with ctx.wrap_socket(s):
                        return
            except OSError as exc:  # not yet listening / handshake refused
                last = exc
                time.sleep(0.2)
        raise RuntimeError(f"Samba DC in {self.dir} did not answer LDAPS within {timeout}s: {last}; "
                           f"see {self.dir}/samba.out")

    def stop(self, timeout: float = 30.0) -> None:
        pid = self.running_pid()
        if not pid:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        # wait for the ports to close so a restart can bind them
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((ADDRESS, 636), timeout=0.5).close()
                time.sleep(0.1)
            except OSError:
                break
        self.pid_file.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the DC and remove its network namespace, if it has one."""
        self.stop()
        if self.netns is not None:
            self.netns.delete()

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as in an outage."""
        pid = self.running_pid()
        if pid:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                os.kill(pid, signal.SIGKILL)
            if self.proc is not None:
                self.proc.wait(10)
            time.sleep(0.3)
            self.pid_file.unlink(missing_ok=True)


def client_env(info: DCInfo) -> dict[str, str]:
    """Environment for client tools (kinit, net) that keeps made-up names off real DNS."""
    env = dict(os.environ)
    env["KRB5_CONFIG"] = info.krb5_conf
    env["LD_PRELOAD"] = "libnss_wrapper.so"
    env["NSS_WRAPPER_HOSTS"] = info.hosts_file
    env["NSS_WRAPPER_PASSWD"] = "/etc/passwd"
    env["NSS_WRAPPER_GROUP"] = "/etc/group"
    return env


def kinit(info: DCInfo, principal: str, password: str, ccache: str) -> subprocess.CompletedProcess:
    """MIT kinit with ``password``; returns the completed process (returncode 0 = ticket granted)."""
    env = client_env(info)
    env["KRB5CCNAME"] = f"FILE:{ccache}"
    return subprocess.run(["kinit", principal], input=password + "\n", text=True, env=env,
                          capture_output=True, timeout=60)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: samba_dc.py start|stop DIR")
    dc = SambaDC(sys.argv[2])
    if sys.argv[1] == "stop":
        dc.stop()
    else:
        if not dc.info_file.exists():
            Path(sys.argv[2]).mkdir(parents=True, exist_ok=True)
            dc.provision()
        # detach: the DC keeps running after this script exits
        dc.start()
        print(json.dumps(asdict(dc.info()), indent=2))
