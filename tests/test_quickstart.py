"""docs/quickstart.md, followed verbatim on a fresh clone (issue 18: "README/quickstart followed
verbatim on a fresh clone works (a test runs the quickstart's commands)").

Every ```sh block of the quickstart runs, in order, in one bash (``set -e``), in a fresh ``git clone``
of this repository. What the page says the reader brings is provided the way a reader has it:
- the domain: a real Samba AD DC provisioned as CORP.EXAMPLE.COM (dc1.corp.example.com) in a network
  namespace of its own, with an ``admin`` account in Domain Admins; its name resolves only through a
  private hosts file (nss_wrapper), so nothing reaches real DNS; ``corp-ca.pem`` is its CA;
- ``~/.adpass``: HOME is a temporary folder holding that password, mode 0600;
- ``/media/usb`` and ``/mnt/image``: tmpfs mounts in a private mount namespace (nothing on the host
  changes), the image holding a real SYSTEM hive written by hivex.
The only changes to the text: ``<this repository>`` is this repository's path, and the clone is given
the suite's virtual environment before ``make demo`` runs (installing needs the network; CI's own
``make test`` on a fresh machine covers that).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from samba_dc import NetNamespace, Realm, SambaDC, _samba_available, _tool
from test_regf_support import make_system_hive

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "docs" / "quickstart.md"
CLONE_LINE = "git clone <this repository> ppkgtool && cd ppkgtool"

pytestmark = pytest.mark.dc


def quickstart_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", QUICKSTART.read_text(encoding="utf-8"), re.S | re.M)


def test_the_quickstart_has_the_blocks_this_test_expects():
    blocks = quickstart_blocks()
    assert blocks and blocks[0].splitlines()[0] == CLONE_LINE
    text = "\n".join(blocks)
    for needed in ("make demo", "odj provision", "odj facts", "odj compose", "policy write", "build ",
                   "sign ", "verify ", "encrypt ", "rank ", "resolve ", "deploy ", "odj request", "bulk "):
        assert needed in text, needed


@pytest.fixture(scope="module")
def corp_dc():
    reason = _samba_available()
    if reason:
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    if shutil.which("ip") is None:
        pytest.fail("iproute2 (ip) is missing: .ci/install-deps installs it")
    netns = NetNamespace(f"ppkgtool-qs-{os.getpid()}")
    netns.create()
    dc = SambaDC(tempfile.mkdtemp(prefix="ppkgtool-qs-dc-"), netns=netns,
                 realm=Realm(realm="CORP.EXAMPLE.COM", domain="CORP", host="dc1"))
    try:
        info = dc.provision()
        dc.start()
        password = "Qs-" + os.urandom(9).hex()
        smbconf = ["-s", info.smb_conf]
        subprocess.run([_tool("samba-tool"), "user", "create", "admin", password, *smbconf],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([_tool("samba-tool"), "group", "addmembers", "Domain Admins", "admin", *smbconf],
                       check=True, capture_output=True, timeout=120)
        yield info, password
    finally:
        dc.close()


def _computer_exists(info, name: str) -> bool:
    r = subprocess.run([_tool("samba-tool"), "computer", "show", name, "-s", info.smb_conf],
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0 and f"sAMAccountName: {name}$" in r.stdout


def test_quickstart_verbatim(corp_dc, tmp_path):
    info, admin_password = corp_dc
    blocks = quickstart_blocks()
    work, home, image = tmp_path / "work", tmp_path / "home", tmp_path / "image"
    for d in (work, home, image / "Windows" / "System32" / "config"):
        d.mkdir(parents=True)
    make_system_hive(image / "Windows" / "System32" / "config" / "SYSTEM")
    adpass = home / ".adpass"
    adpass.write_text(admin_password + "\n")
    adpass.chmod(0o600)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(HOME=str(home), LD_PRELOAD="libnss_wrapper.so", NSS_WRAPPER_HOSTS=info.hosts_file,
               NSS_WRAPPER_PASSWD="/etc/passwd", NSS_WRAPPER_GROUP="/etc/group", KRB5_CONFIG=info.krb5_conf,
               PATH=":".join(p for p in env.get("PATH", "").split(":") if not p.startswith(sys.prefix)))

    # 1. the clone line, with <this repository> filled in
    first, rest = blocks[0].split("\n", 1)
    assert first == CLONE_LINE
    clone = subprocess.run(["bash", "-c", first.replace("<this repository>", str(ROOT)) + " && pwd"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert clone.returncode == 0, clone.stderr
    repo = work / "ppkgtool"
    # the suite's virtual environment, already installed (make's stamp newer than pyproject.toml)
    (repo / ".venv").symlink_to(sys.prefix)
    stamp = Path(sys.prefix) / ".installed"
    if not stamp.exists():
        stamp.touch()
    old = stamp.stat().st_mtime - 60
    os.utime(repo / "pyproject.toml", (old, old))
    shutil.copy(info.ca_file, repo / "corp-ca.pem")   # the reader's CA certificate

    script = "\n".join(["set -e", rest, *blocks[1:],
                        # what the reader would see on the stick and in the image afterwards
                        "ls /media/usb/branch01.ppkg /media/usb/branch01.cat "
                        "/mnt/image/Recovery/Customizations/branch01.ppkg /mnt/image/Windows/Panther/unattend.xml"])
    for d in ("/media", "/mnt"):
        Path(d).mkdir(exist_ok=True)
    wrapper = (f"mount -t tmpfs qs-media /media && mkdir /media/usb && mount -t tmpfs qs-mnt /mnt && "
               f"cp -a {image} /mnt/image && exec bash \"$0\"")
    (tmp_path / "quickstart.sh").write_text(script)
    t0 = time.monotonic()
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper,
                        str(tmp_path / "quickstart.sh")],
                       cwd=repo, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"rc={r.returncode}\n--- stdout\n{r.stdout[-6000:]}\n--- stderr\n{r.stderr[-6000:]}"
    assert time.monotonic() - t0 < 1200
    out = repo / "out"

    # the results, checked with independent readers and against the directory
    for pkg in ("branch01.ppkg", "oem.ppkg", "bulk/BRANCH10.ppkg", "bulk/BRANCH11.ppkg"):
        v = subprocess.run(["wimlib-imagex", "verify", str(out / pkg)], capture_output=True, text=True)
        assert v.returncode == 0, (pkg, v.stdout, v.stderr)
    for name in ("BRANCH01", "BRANCH10", "BRANCH11"):
        assert _computer_exists(info, name), name
    assert (out / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    assert (out / "BRANCH01.odj").stat().st_mode & 0o077 == 0
    # the ODJ password and the admin password were never printed
    assert admin_password not in r.stdout + r.stderr
