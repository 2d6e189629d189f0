"""A real Samba AD DC on loopback for tests (recipe: ../shared/docs/test-dc.md).

Only one DC can run per machine (winbindd socket, ports 389/636/88/445 on 127.0.0.1), so:
- ``PPKGTOOL_TEST_DC=<dir>``: reuse the DC provisioned in <dir> (started if it is not running);
  developers keep one across test runs. It is left running at the end.
- otherwise the suite provisions one into a temporary folder, starts it, and stops it by PID.
``python tests/samba_dc.py start <dir>`` provisions and starts such a reusable DC by hand.
"""

from __future__ import annotations

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
    def __init__(self, directory: str | os.PathLike[str]):
        self.dir = Path(directory)
        self.proc: subprocess.Popen | None = None

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
        d = self.dir
        (d / "log").mkdir(parents=True, exist_ok=True)
        (d / "run").mkdir(parents=True, exist_ok=True)
        empty = d / "empty.conf"
        empty.write_text("")
        password = "Pp1-" + secrets.token_urlsafe(12)
        cmd = [
            _tool("samba-tool"), "domain", "provision", "-s", str(empty), f"--targetdir={d}",
            f"--realm={REALM}", f"--domain={DOMAIN}", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
            f"--adminpass={password}", f"--host-name={DC_HOST}", f"--host-ip={ADDRESS}",
            "--option=netbios name=DC1", "--option=interfaces=lo", "--option=bind interfaces only=yes",
            "--option=server services=-dns -nbt -wrepl", "--option=disable netbios=yes",
            "--option=dns forwarder=127.0.0.1",
            f"--option=log file={d}/log/log.%m", f"--option=pid directory={d}/run",
            f"--option=ncalrpc dir={d}/run/ncalrpc", f"--option=ntp signd socket directory={d}/run/ntp_signd",
            "--option=ldap server require strong auth=allow_sasl_over_tls",
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
        krb5 = d / "krb5.conf"
        krb5.write_text(
            "[libdefaults]\n default_realm = TEST.LAB\n dns_lookup_realm = false\n"
            " dns_lookup_kdc = false\n rdns = false\n dns_canonicalize_hostname = false\n"
            "[realms]\n TEST.LAB = {\n  kdc = 127.0.0.1\n }\n"
            "[domain_realm]\n .test.lab = TEST.LAB\n test.lab = TEST.LAB\n")
        hosts = d / "hosts"
        hosts.write_text(f"{ADDRESS} {DC_FQDN} {DC_HOST} {DC_HOST.upper()}.{DNS_DOMAIN}\n")
        info = DCInfo(directory=str(d), address=ADDRESS, realm=REALM, domain=DOMAIN, dns_domain=DNS_DOMAIN,
                      dc_name=DC_FQDN, admin_user=f"Administrator@{REALM}", admin_password=password,
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
        self.proc = subprocess.Popen([_tool("samba"), "-s", str(self.dir / "etc" / "smb.conf"), "-i"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
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
