"""A bulk template like a real one: the example customizations plus a command that installs a
large MSI-like asset (shared by the bulk tests and bench/bench_bulk.py)."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "customizations" / "customizations.xml"

BIG_COMMAND = """
              <CommandConfig Name="bigapp">
                <CommandFile>D:\\bigapp.msi</CommandFile>
                <CommandLine>msiexec /i "bigapp.msi" /qn /norestart</CommandLine>
                <ContinueInstall>True</ContinueInstall>
                <RestartRequired>False</RestartRequired>
                <ReturnCodeRestart>3010</ReturnCodeRestart>
                <ReturnCodeSuccess>0</ReturnCodeSuccess>
              </CommandConfig>
"""


def make_asset(path: Path, size: int, *, incompressible: float) -> Path:
    """``size`` bytes: the ``incompressible`` share random (as the CAB streams inside an MSI), the
    rest repetitive text (tables, strings)."""
    rng = random.Random(1234)
    words = [b"Component", b"Feature", b"Registry", b"File", b"Directory", b"Property", b"InstallExecute",
             b"{6F9619FF-8B86-D011-B42D-00C04FC964FF}", b"ProgramFilesFolder", b"TARGETDIR"]
    block = 1 << 20
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            n = min(block, size - written)
            if rng.random() < incompressible:
                fh.write(os.urandom(n))
            else:
                text = bytearray()
                while len(text) < n:
                    text += rng.choice(words) + b"\t" + str(rng.randrange(10**6)).encode() + b"\r\n"
                fh.write(bytes(text[:n]))
            written += n
    return path


def make_template(folder: Path, *, asset_size: int = 64 << 20, incompressible: float = 0.0) -> tuple[Path, Path]:
    """(template customizations.xml, asset folder) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    assets = folder / "assets"
    assets.mkdir(exist_ok=True)
    make_asset(assets / "bigapp.msi", asset_size, incompressible=incompressible)
    text = BASE.read_text(encoding="utf-8-sig")
    text, n = re.subn(r"(<ProvisioningCommands>\s*<PrimaryContext>\s*<Command>)", lambda m: m.group(1) + BIG_COMMAND,
                      text, count=1)
    assert n == 1, "the example customizations.xml no longer has a PrimaryContext command"
    template = folder / "template.xml"
    template.write_text(text, encoding="utf-8")
    return template, assets
