"""Samba's own offline-join provisioning against the test DC: a peer to compare with and a source
of real ODJ blobs (see ../shared/docs/test-dc.md, pitfalls 4 and 5).

``net_offlinejoin_provision`` runs ``net offlinejoin provision`` with a private client smb.conf
(workgroup/realm of the DC, security = ads, its own private/state/cache/lock directories, name
resolve order = host) under ``workdir``; the DC's made-up name resolves through nss_wrapper
(``client_env``), and the admin password goes through an authentication file (mode 0600), never
on the command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from samba_dc import DCInfo, _tool, client_env

NET_TIMEOUT = 120


def _net() -> str:
    return shutil.which("net") or "/usr/bin/net"


def client_config(info: DCInfo, workdir: Path) -> Path:
    """Create (once) the client configuration directory under ``workdir``; return its smb.conf."""
    base = Path(workdir) / "net-client"
    for sub in ("private", "state", "cache", "lock", "log"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    conf = base / "smb.conf"
    text = (
        "[global]\n"
        f"  workgroup = {info.domain}\n"
        f"  realm = {info.realm}\n"
        "  security = ads\n"
        "  netbios name = PPKGTESTCLIENT\n"
        f"  private dir = {base}/private\n"
        f"  state directory = {base}/state\n"
        f"  cache directory = {base}/cache\n"
        f"  lock directory = {base}/lock\n"
        f"  pid directory = {base}/lock\n"
        f"  ncalrpc dir = {base}/lock/ncalrpc\n"
        "  name resolve order = host\n"
        "  kerberos method = secrets only\n"
        "  client ldap sasl wrapping = seal\n"
        f"  log file = {base}/log/log.%m\n"
        "  log level = 1\n"
    )
    if not conf.exists() or conf.read_text() != text:
        conf.write_text(text)
    auth = base / "admin.auth"
    user = info.admin_user.split("@", 1)[0]
    auth_text = f"username = {user}\npassword = {info.admin_password}\ndomain = {info.domain}\n"
    fd = os.open(auth, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(auth_text)
    os.chmod(auth, 0o600)
    return conf


def net_offlinejoin_provision(info: DCInfo, workdir: Path, machine: str, *, reuse: bool = False,
                              defpwd: bool = False, machine_ou: str | None = None) -> Path:
    """Create (or with ``reuse`` reset) computer ``machine`` on the DC with Samba's
    ``net offlinejoin provision``; return the path of the djoin-style save file it wrote.

    Note (pitfall 5): without ``reuse`` Samba silently resets an existing account's password.
    Raises RuntimeError with net's output when it fails.
    """
    workdir = Path(workdir)
    conf = client_config(info, workdir)
    out = workdir / f"{machine}.net-odj.txt"
    out.unlink(missing_ok=True)
    cmd = [_net(), "-s", str(conf), "offlinejoin", "provision", f"domain={info.realm}",
           f"machine_name={machine}", f"dcname={info.dc_name}", f"savefile={out}",
           "-A", str(conf.parent / "admin.auth")]
    if reuse:
        cmd.append("reuse")
    if defpwd:
        cmd.append("defpwd")
    if machine_ou:
        cmd.append(f"machine_account_ou={machine_ou}")
    proc = subprocess.run(cmd, env=client_env(info), capture_output=True, text=True, timeout=NET_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"net offlinejoin provision {machine} failed (exit {proc.returncode}): "
                           f"{proc.stdout.strip()} {proc.stderr.strip()}")
    return out


def delete_computer(info: DCInfo, machine: str) -> bool:
    """Remove a test computer account through the DC's own database (no credentials needed);
    True when it existed."""
    proc = subprocess.run([_tool("samba-tool"), "computer", "delete", machine, "-s", info.smb_conf,
                           "-H", str(Path(info.directory) / "private" / "sam.ldb")],
                          capture_output=True, text=True, timeout=NET_TIMEOUT, stdin=subprocess.DEVNULL)
    return proc.returncode == 0
