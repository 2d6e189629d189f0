"""One error path for every command (issue 18, items 2 and 9): a missing file, an unreadable file, a
folder where a file is expected, an output in a read-only folder and a busy output each give exit 3
(5 for the network) and one line naming the path; ``--json`` adds one ``{"error": …}`` document on
stdout. The commands run as the console script in a subprocess, as users run them; the permission
cases without the privilege to bypass file modes (as root: setpriv drops CAP_DAC_OVERRIDE), the busy output is a real
mount point (a bind mount in a private mount namespace, ``unshare -rm``)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from certs import self_signed

PPKGTOOL = str(Path(sys.executable).with_name("ppkgtool"))
ROOT = Path(__file__).resolve().parent.parent

FACTS = {"dns_domain": "test.lab", "netbios_name": "TEST", "dns_forest": "test.lab",
         "domain_sid": "S-1-5-21-1000000001-2000000002-3000000003",
         "domain_guid": "6d5f3c2a-8b1e-4c7d-9a0f-2e4b6c8d0a1f", "dc_name": "dc1.test.lab",
         "dc_address": "127.0.0.1", "dc_flags": "0xe00013fd", "dc_site": "Default-First-Site-Name",
         "client_site": "Default-First-Site-Name"}

PLAIN_XML = """<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{8f3c2a6e-1d4b-4e7a-9c5f-0b2d4e6f8a11}</ID><Name>errors</Name><Version>1.0</Version>
    <OwnerType>ITAdmin</OwnerType><Rank>1</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning"><Customizations><Common>
    <OOBE><Desktop><HideOobe>True</HideOobe></Desktop></OOBE>
  </Common></Customizations></Settings>
</WindowsCustomizations>
"""


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _run(argv: list[str], *, env: dict, unprivileged: bool = False, busy: Path | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [PPKGTOOL, *argv]
    kwargs = {}
    if busy is not None:   # the output is a mount point: renaming onto it fails with EBUSY
        script = f"mount --bind /dev/null {shlex.quote(str(busy))} && exec {shlex.join(cmd)}"
        cmd = ["unshare", "-rm", "sh", "-c", script]
    elif unprivileged and os.geteuid() == 0:   # root without the capabilities that bypass file modes
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def ws():
    """A world-readable workspace (the unprivileged user must read it): inputs of every command."""
    d = Path(tempfile.mkdtemp(prefix="ppkgtool-errors-"))
    d.chmod(0o755)
    env = dict(os.environ, PPKGTOOL_CACHE_DIR=str(d / "cache"), ADPW="Passw0rd!x", PKGPW="abcdefgh12345678")
    env.pop("PPKGTOOL_DEBUG", None)
    (d / "cache").mkdir(mode=0o777)
    (d / "cache").chmod(0o777)
    (d / "c.xml").write_text(PLAIN_XML)
    subprocess.run([PPKGTOOL, "build", str(d / "c.xml"), "-o", str(d / "good.ppkg")], check=True, env=env,
                   capture_output=True)
    (d / "facts.json").write_text(json.dumps(FACTS))
    subprocess.run([PPKGTOOL, "odj", "compose", "--facts", str(d / "facts.json"), "--machine", "PC01",
                    "--rid", "1105", "--generate-password", "--savefile", str(d / "blob.odj")],
                   check=True, env=env, capture_output=True)
    cert, key, _, _ = self_signed(d)
    (d / "pw.txt").write_text("Passw0rd!x\n")
    (d / "devices.csv").write_text("name\nPC01\n")
    (d / "events.xml").write_text("<Events/>")
    (d / "policy.txt").write_text("HKLM\\Software\\Example;Site;REG_SZ;Berlin\n")
    for folder in ("adir", "packdir", "usb"):
        (d / folder).mkdir()
        (d / folder / "file.txt").write_text("x")
    (d / "ro").mkdir()
    (d / "win" / "Windows").mkdir(parents=True)
    for p in d.rglob("*"):
        if p.is_dir():
            p.chmod(0o555 if p.name == "ro" else 0o755)
        else:
            p.chmod(0o644)
    (d / "cache").chmod(0o777)
    yield d, env, cert, key
    shutil.rmtree(d, ignore_errors=True)


def _lines(ws_dir: Path, cert: Path, key: Path, port: int) -> dict:
    """command -> (argv with {IN} for the file read, {OUT} for the output or None, the input's file name)."""
    d = ws_dir
    dc = ["--dc", "dc1.test.lab", "--dc-address", "127.0.0.1", "--ldap-port", str(port), "--insecure",
          "--user", "admin@TEST.LAB", "--password-env", "ADPW", "--timeout", "5"]
    good = str(d / "good.ppkg")
    return {
        "build": (["build", "{IN}", "-o", "{OUT}"], "c.xml"),
        "settings show": (["settings", "show", "OOBE/Desktop/HideOobe", "--store-file", "{IN}"], "good.ppkg"),
        "pack": (["pack", str(d / "packdir"), "-o", "{OUT}", "--name", "{IN}"], None),
        "inspect": (["inspect", "{IN}"], "good.ppkg"),
        "extract": (["extract", "{IN}", "{OUT}"], "good.ppkg"),
        "export": (["export", "{IN}", "-o", "{OUT}"], "good.ppkg"),
        "export --with-assets": (["export", "{IN}", "--with-assets", "{OUT}"], "good.ppkg"),
        "sign": (["sign", "{IN}", "--cert", str(cert), "--key", str(key), "-o", "{OUT}"], "good.ppkg"),
        "verify": (["verify", good, "--catalog", "{IN}"], "good.ppkg"),
        "build-trust": (["build-trust", "--cert", "{IN}", "-o", "{OUT}"], cert.name),
        "encrypt": (["encrypt", "{IN}", "-o", "{OUT}", "--password-env", "PKGPW"], "good.ppkg"),
        "decrypt": (["decrypt", "{IN}", "-o", "{OUT}", "--password-env", "PKGPW"], "good.ppkg"),
        "rank": (["rank", good, "{IN}"], "good.ppkg"),
        "resolve": (["resolve", good, "{IN}", "--html", "{OUT}"], "good.ppkg"),
        "diff": (["diff", good, "{IN}"], "good.ppkg"),
        "explain-log": (["explain-log", "{IN}"], "events.xml"),
        "deploy": (["deploy", "{IN}", "--usb", str(d / "usb"), "--catalog", "{OUT}"], "good.ppkg"),
        "odj show": (["odj", "show", "{IN}"], "blob.odj"),
        "odj compose": (["odj", "compose", "--facts", "{IN}", "--machine", "PC02", "--rid", "1106",
                         "--generate-password", "--savefile", "{OUT}"], "facts.json"),
        "odj request": (["odj", "request", "--loadfile", "{IN}", "--windows-path", "{OUT}"], "blob.odj"),
        "odj provision": (["odj", "provision", "--domain", "test.lab", "--machine", "PC03", *dc[:-6],
                           "--user", "admin@TEST.LAB", "--password-file", "{IN}", "--savefile", "{OUT}"], "pw.txt"),
        "odj facts": (["odj", "facts", *dc[:-6], "--user", "admin@TEST.LAB", "--password-file", "{IN}",
                       "-o", "{OUT}"], "pw.txt"),
        "catalog learn": (["catalog", "learn", "{IN}", "-o", "{OUT}"], "good.ppkg"),
        "bulk": (["bulk", "{IN}", "--template", str(d / "c.xml"), "--out", "{OUT}", "--domain", "test.lab",
                  *dc], "devices.csv"),
        "policy write": (["policy", "write", "{IN}", "-o", "{OUT}"], "policy.txt"),
        "policy show": (["policy", "show", "{IN}"], "policy.txt"),
    }


COMMANDS = ["build", "settings show", "inspect", "extract", "export", "export --with-assets", "sign", "verify", "build-trust", "encrypt",
            "decrypt", "rank", "resolve", "diff", "explain-log", "deploy", "odj show", "odj compose",
            "odj request", "odj provision", "odj facts", "catalog learn", "bulk", "policy write", "policy show"]
WITH_OUTPUT = ["build", "pack", "extract", "export", "export --with-assets", "sign", "build-trust", "encrypt", "resolve", "odj compose",
               "odj facts", "catalog learn", "policy write"]


def _argv(template, inp: str, out: str) -> list[str]:
    return [a.replace("{IN}", inp).replace("{OUT}", out) for a in template]


def _check(res, code: int, *needles: str) -> dict | None:
    err = res.stderr.strip().splitlines()
    assert res.returncode == code, (res.returncode, res.stderr)
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    errors = [ln for ln in err if ln.startswith("ppkgtool")]
    assert len(errors) == 1, res.stderr
    for n in needles:
        assert n.lower() in errors[0].lower(), (n, errors[0])
    return errors[0]


def _expect_json(res, code: int, where: str | None = None) -> dict:
    doc = json.loads(res.stdout)
    assert set(doc) == {"error"}
    e = doc["error"]
    assert {"code", "message", "where", "hint"} <= set(e)
    assert e["code"] == code and e["message"]
    if where is not None:
        assert e["where"] and where in e["where"], e
    return e


def _out_for(name: str, d: Path, sub: str) -> str:
    folder_outputs = {"extract": "x", "export --with-assets": "x", "odj request": "win", "bulk": "bulkout"}
    return str(d / sub / (folder_outputs.get(name, "out.bin")))


@pytest.mark.parametrize("name", COMMANDS)
def test_missing_input_file(ws, name):
    d, env, cert, key = ws
    template, _ = _lines(d, cert, key, _closed_port())[name]
    missing = str(d / "no-such-file.bin")
    res = _run(_argv(template, missing, _out_for(name, d, "outs-missing")), env=env)
    _check(res, 3, missing)
    res = _run(_argv(template, missing, _out_for(name, d, "outs-missing")) + ["--json"], env=env)
    _check(res, 3, missing)
    _expect_json(res, 3)


@pytest.mark.parametrize("name", COMMANDS)
def test_directory_where_a_file_is_expected(ws, name):
    d, env, cert, key = ws
    template, _ = _lines(d, cert, key, _closed_port())[name]
    res = _run(_argv(template, str(d / "adir"), _out_for(name, d, "outs-dir")), env=env)
    _check(res, 3, str(d / "adir"))


@pytest.mark.parametrize("name", COMMANDS)
def test_unreadable_input_file(ws, name):
    d, env, cert, key = ws
    template, source = _lines(d, cert, key, _closed_port())[name]
    locked = d / f"locked-{name.replace(' ', '-')}-{source}"
    shutil.copyfile(d / source, locked)
    locked.chmod(0)
    outs = d / f"outs-perm-{name.replace(' ', '-')}"
    outs.mkdir(mode=0o777)
    outs.chmod(0o777)
    res = _run(_argv(template, str(locked), _out_for(name, d, outs.name)), env=env, unprivileged=True)
    _check(res, 3, str(locked), "permission denied")
    res = _run(_argv(template, str(locked), _out_for(name, d, outs.name)) + ["--json"], env=env, unprivileged=True)
    _expect_json(res, 3, str(locked))


@pytest.mark.parametrize("name", [n for n in WITH_OUTPUT if n not in ("odj facts",)])
def test_output_in_a_read_only_folder(ws, name):
    d, env, cert, key = ws
    template, source = _lines(d, cert, key, _closed_port())[name]
    inp = str(d / source) if source else "x"
    out = str(d / "ro" / ("x" if name in ("extract", "export --with-assets") else "out.bin"))
    res = _run(_argv(template, inp, out), env=env, unprivileged=True)
    _check(res, 3, str(d / "ro"), "permission denied")
    res = _run(_argv(template, inp, out) + ["--json"], env=env, unprivileged=True)
    _expect_json(res, 3, str(d / "ro"))


@pytest.mark.parametrize("name", [n for n in WITH_OUTPUT if n not in ("extract", "export --with-assets", "odj facts")])
def test_busy_output(ws, name, tmp_path):
    d, env, cert, key = ws
    template, source = _lines(d, cert, key, _closed_port())[name]
    inp = str(d / source) if source else "x"
    busy = tmp_path / "busy.out"
    busy.write_bytes(b"in use")
    flags = [] if name == "catalog learn" else ["--overwrite"]   # learn extends its output
    res = _run(_argv(template, inp, str(busy)) + flags, env=env, busy=busy)
    _check(res, 3, str(busy), "busy")
    assert busy.read_bytes() == b"in use"


def test_busy_output_in_the_export_folder(ws, tmp_path):
    """export --with-assets writes a folder of outputs: a busy one among them fails the set."""
    d, env, _cert, _key = ws
    (tmp_path / "x").mkdir()
    busy = tmp_path / "x" / "customizations.xml"
    busy.write_bytes(b"in use")
    res = _run(["export", str(d / "good.ppkg"), "--with-assets", str(tmp_path / "x"), "--overwrite"], env=env,
               busy=busy)
    _check(res, 3, str(busy), "busy")
    assert busy.read_bytes() == b"in use"


@pytest.mark.parametrize("name", ["odj provision", "odj facts", "bulk"])
def test_unreachable_directory_is_exit_5(ws, name):
    d, env, cert, key = ws
    template, source = _lines(d, cert, key, _closed_port())[name]
    res = _run(_argv(template, str(d / source), _out_for(name, d, "outs-net")) + ["--json"], env=env)
    _check(res, 5, "127.0.0.1")
    _expect_json(res, 5)


def test_usage_error_with_json_is_a_json_document(ws):
    d, env, *_ = ws
    res = _run(["build", "--json", str(d / "c.xml")], env=env)
    assert res.returncode == 2 and "--output" in res.stderr
    assert _expect_json(res, 2)["hint"] == "see --help"


def test_errors_are_documented():
    text = (ROOT / "docs" / "commands.md").read_text()
    assert "{\"error\": {\"code\"" in text and "where" in text and "hint" in text
    res = subprocess.run([PPKGTOOL, "--help"], capture_output=True, text=True)
    assert "--json" in res.stdout and '"error"' in res.stdout
