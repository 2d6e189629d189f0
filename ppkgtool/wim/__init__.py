"""The WIM container codec of .ppkg files: read, write, extract (docs/formats/wim.md).

    from ppkgtool.wim import open_wim, write_wim, extract_image, ResourceCache, WimFile
    with open_wim("pkg.ppkg") as wim:
        img = wim.image(1)
        img.properties["NAME"], img.files(), img.read("/Multivariant/0/customizations.xml")
    with open("out.ppkg", "wb") as fh:
        write_wim(fh, {"/a/b.xml": b"..."}, {"NAME": "x", ...})
"""

from ppkgtool.wim.extract import check_image_paths, extract_image
from ppkgtool.wim.header import PPKG_CHUNK_SIZE, PPKG_HEADER_FLAGS, WIM_VERSION_DEFAULT, WimHeader
from ppkgtool.wim.reader import Image, WimFile, WimReader, open_wim
from ppkgtool.wim.resource import HashMismatchError, ResourceCache
from ppkgtool.wim.safepath import check_component, split_package_path
from ppkgtool.wim.writer import WriteStats, filetime, package_order_key, write_wim

__all__ = [
    "open_wim", "write_wim", "extract_image", "ResourceCache", "WimFile", "WimReader", "Image",
    "WimHeader", "WriteStats", "HashMismatchError", "check_image_paths", "check_component",
    "split_package_path", "package_order_key", "filetime", "PPKG_CHUNK_SIZE", "PPKG_HEADER_FLAGS",
    "WIM_VERSION_DEFAULT",
]
