"""ppkgtool extract PKG DIR [--image N] [--overwrite] [--json]: every file of a package image into a
folder, safely (docs/commands/extract-pack.md)."""

from __future__ import annotations

import os
from pathlib import Path

from ppkgtool.cli import add_common, command_parser
from ppkgtool.cli.output import Reporter
from ppkgtool.errors import EncryptedPackageError, InvalidInputError, WimError

DESCRIPTION = """\
Extract every file of one image of a .ppkg (a WIM container) into DIR.

Nothing in the package is trusted: absolute paths, '..', drive letters, device names (CON, NUL,
COM1, ...), NULs, links (reparse points) and names that differ only in case are refused before
anything is written, and nothing is ever written outside DIR. DIR must be empty or missing unless
--overwrite is given (then files of the package replace files of the same name; other files stay).
Every stream is checked against its SHA-1. Named data streams (e.g. Zone.Identifier) are skipped.
An encrypted package must be decrypted first (ppkgtool decrypt)."""


def register(sub) -> None:
    p = command_parser(sub, "extract", "extract every file of a package into a folder, safely", DESCRIPTION)
    p.add_argument("package", metavar="PKG", help="the .ppkg (or any WIM) to read")
    p.add_argument("dest", metavar="DIR", help="folder to extract into (created if missing)")
    p.add_argument("--image", type=int, default=1, metavar="N", help="image index, 1-based (default 1)")
    p.add_argument("--overwrite", action="store_true", help="extract into a non-empty DIR, replacing files")
    add_common(p)
    p.set_defaults(func=run)


def _looks_encrypted(path: str) -> bool:
    """An encrypted package: 16-byte IV + n*160 bytes + 32-byte HMAC, no WIM magic (ppkg-format.md)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return False
    try:
        from ppkgtool import looks_encrypted
        return bool(looks_encrypted(size, head))
    except ImportError:
        return head[:8] != b"MSWIM\0\0\0" and size >= 208 and (size - 48) % 160 == 0


def run(args) -> int:
    from ppkgtool import extract_image, open_wim

    rep = Reporter(json_mode=args.json)
    if not os.path.isfile(args.package):
        raise InvalidInputError(f"{args.package}: no such file")
    try:
        wim = open_wim(args.package)
    except WimError:
        if _looks_encrypted(args.package):
            raise EncryptedPackageError(f"{args.package} is not a WIM; it looks like an encrypted package",
                                        hint="decrypt it first with 'ppkgtool decrypt'") from None
        raise
    with wim:
        img = wim.image(args.image)
        sizes = {f.path: f for f in img.files()}
        from ppkgtool import secret_paths
        from ppkgtool import Image
        private = secret_paths(Image(img))
        written = extract_image(wim, args.dest, args.image, overwrite=args.overwrite, private=private)
        root = Path(args.dest)
        files = []
        for p in written:
            rel = "/" + p.relative_to(os.path.realpath(root)).as_posix()
            f = sizes.get(rel)
            files.append({"path": rel, "size": f.size if f else p.stat().st_size,
                          "sha1": f.sha1.hex() if f else None, "written_to": str(p),
                          "private": rel.lstrip("/") in private})
        total = sum(f["size"] for f in files)
        if args.json:
            rep.json({"package": args.package, "image": args.image, "destination": str(root),
                      "name": img.properties.get("NAME", ""), "count": len(files), "bytes": total,
                      "directories": len(img.directories()), "files": files})
        else:
            rep.line(f"extracted {len(files)} files ({total} bytes) of image {args.image} "
                     f"({img.properties.get('NAME', '')!r}) to {root}")
            if wim.trailing_bytes:
                rep.warn(f"{wim.trailing_bytes} bytes follow the WIM data (ignored)")
    return 0
