"""The settings-store options shared by build, bulk and settings (--store-file / --store-build)."""

from __future__ import annotations


def add_store_options(p) -> None:
    """--store-file / --store-build (shared with build and bulk)."""
    g = p.add_argument_group("settings store")
    mx = g.add_mutually_exclusive_group()
    mx.add_argument("--store-file", metavar="FILE",
                    help="WCD settings store Microsoft-Desktop-Provisioning.dat to use (like icd.exe /StoreFile:); "
                         "default $PPKGTOOL_STORE_FILE, else a builtin store")
    mx.add_argument("--store-build", metavar="NAME",
                    help="builtin settings store to use (see 'ppkgtool settings builds'); default "
                         "$PPKGTOOL_STORE_BUILD, else the newest")


def store_text(source: dict | None) -> str:
    """Which settings store compiled a package (BuildResult.settings_store), in one line."""
    if not source:
        return "(none)"
    text = str(source.get("name"))
    if source.get("sha256"):
        text += f" (sha256 {source['sha256'][:16]}…)"
    return text
