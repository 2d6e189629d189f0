"""Helpers shared by the inspect/rank/resolve/diff tests: build real packages and run the CLI.

Packages are compiled by the project's own compiler (ppkgtool.package.compiler) and written by the
WIM writer (ppkgtool.wim.write_wim); merged (multi-image) packages are made with wimlib-imagex.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import uuid
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from xml.sax.saxutils import escape

from ppkgtool.cli import main
from ppkgtool.package.compiler import compile_bytes
from ppkgtool.wim import write_wim


def customizations_xml(*, name: str, owner: str, rank: int, common: str, extra: str = "",
                       package_id: str | None = None, version: str = "1.0") -> bytes:
    pid = package_id or "{" + str(uuid.uuid4()) + "}"
    return f"""<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{pid}</ID><Name>{escape(name)}</Name><Version>{version}</Version>
    <OwnerType>{owner}</OwnerType><Rank>{rank}</Rank><Notes></Notes><Description>test</Description>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning">
    <Customizations><Common>{common}</Common>{extra}</Customizations>
  </Settings>
</WindowsCustomizations>""".encode("utf-8")


def policies(values: dict[str, str]) -> str:
    """{'Browser/HomePages': 'No'} -> <Policies><Experience><AllowCortana>No</...>"""
    areas: dict[str, list[tuple[str, str]]] = {}
    for path, value in values.items():
        area, name = path.split("/")
        areas.setdefault(area, []).append((name, value))
    inner = "".join(f"<{a}>" + "".join(f"<{n}>{escape(v)}</{n}>" for n, v in items) + f"</{a}>"
                    for a, items in areas.items())
    return f"<Policies>{inner}</Policies>"


def write_package(path: Path, cust: bytes, *, assets: dict | None = None, extra_files: dict | None = None,
                  drop: tuple[str, ...] = (), replace: dict | None = None, properties: dict | None = None) -> Path:
    """Compile ``cust`` and write a .ppkg; ``drop``/``replace``/``extra_files`` make broken packages."""
    tree = compile_bytes(cust, source_name=path.name + ".xml", assets=assets or {})
    files = {k: v for k, v in tree.files.items() if k not in drop}
    files.update(replace or {})
    files.update(extra_files or {})
    props = dict(tree.metadata.image_properties())
    props.update(properties or {})
    with open(path, "wb") as fh:
        write_wim(fh, files, props)
    return path


def make_package(directory: Path, name: str, owner: str, rank: int, values: dict[str, str], **kw) -> Path:
    return write_package(directory / f"{name}.ppkg",
                         customizations_xml(name=name, owner=owner, rank=rank, common=policies(values)), **kw)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str):
    code, out, err = run_cli(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def wimlib_extract(package: Path, dest: Path, image: int = 1) -> Path:
    """Extract with wimlib-imagex, an independent WIM reader."""
    assert shutil.which("wimlib-imagex"), "wimlib-imagex (Debian wimtools) is required"
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["wimlib-imagex", "apply", str(package), str(image), str(dest)], check=True,
                   capture_output=True)
    return dest
