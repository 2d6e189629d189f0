"""The WIM container codec of .ppkg files: read, write, extract (docs/formats/wim.md).

    from ppkgtool.wim import open_wim, write_wim, extract_image, ResourceCache, WimFile
    with open_wim("pkg.ppkg") as wim:
        img = wim.image(1)
        img.properties["NAME"], img.files(), img.read("/Multivariant/0/customizations.xml")
    with open("out.ppkg", "wb") as fh:
        write_wim(fh, {"/a/b.xml": b"..."}, {"NAME": "x", ...})
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ppkgtool.wim.extract import check_image_paths, extract_image
    from ppkgtool.wim.header import PPKG_CHUNK_SIZE, PPKG_HEADER_FLAGS, WIM_VERSION_DEFAULT, WimHeader
    from ppkgtool.wim.reader import Image, WimFile, WimReader, open_wim
    from ppkgtool.wim.resource import HashMismatchError, ResourceCache
    from ppkgtool.wim.safepath import check_component, split_package_path
    from ppkgtool.wim.writer import WriteStats, filetime, package_order_key, write_wim

# The names are imported when first used (PEP 562): writing a package needs neither the reader
# nor the extractor, and a command's start-up time is what its user waits for (issue 19).
_HOMES = {
    "check_image_paths": "extract", "extract_image": "extract",
    "PPKG_CHUNK_SIZE": "header", "PPKG_HEADER_FLAGS": "header", "WIM_VERSION_DEFAULT": "header",
    "WimHeader": "header",
    "Image": "reader", "WimFile": "reader", "WimReader": "reader", "open_wim": "reader",
    "HashMismatchError": "resource", "ResourceCache": "resource",
    "check_component": "safepath", "split_package_path": "safepath",
    "WriteStats": "writer", "filetime": "writer", "package_order_key": "writer", "write_wim": "writer",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'ppkgtool.wim' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f"ppkgtool.wim.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__all__ = [
    "open_wim", "write_wim", "extract_image", "ResourceCache", "WimFile", "WimReader", "Image",
    "WimHeader", "WriteStats", "HashMismatchError", "check_image_paths", "check_component",
    "split_package_path", "package_order_key", "filetime", "PPKG_CHUNK_SIZE", "PPKG_HEADER_FLAGS",
    "WIM_VERSION_DEFAULT",
]
