"""Pack a folder laid out as a package (e.g. one ``extract`` produced and a user edited) into a .ppkg.

Image properties come from ``Multivariant/0/customizations.xml`` PackageConfig where present
(ID, Name, Version, OwnerType, Rank, Description), overridden by the caller, and are rendered by
ppkgtool.package.metadata.PackageMetadata (ppkg-format.md, "Image XML properties" [C]).
The folder is read as is: links inside it are refused (never followed), nothing is rewritten.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import stat
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from lxml import etree

from ppkgtool.errors import InvalidInputError, UnsafePathError, WimError
from ppkgtool.package.metadata import Notes, OwnerType, PackageMetadata, check_package_id, check_rank, check_version
from ppkgtool.wim.resource import ResourceCache
from ppkgtool.wim.safepath import check_component
from ppkgtool.wim.writer import WriteStats, write_wim

CUSTOMIZATIONS_PATH = ("Multivariant", "0", "customizations.xml")
MAX_CUSTOMIZATIONS_BYTES = 64 * 1024 * 1024
MAX_FOLDER_FILES = 200_000
#: Timestamp of --reproducible builds when SOURCE_DATE_EPOCH is not set.
REPRODUCIBLE_EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)


@dataclass(frozen=True)
class PackResult:
    metadata: PackageMetadata
    properties: dict
    stats: WriteStats
    files: int
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {"metadata": self.metadata.to_json(), "properties": self.properties, "stats": self.stats.to_json(),
                "warnings": list(self.warnings)}


def collect_folder(folder: str | os.PathLike, *, exclude: tuple[str, ...] = ()) -> dict[str, Path]:
    """Regular files below ``folder`` as {package path: file}, sorted. Links and special files are
    refused (UnsafePathError); ``exclude`` lists real paths to leave out (e.g. the output)."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a folder")
    excluded = {os.path.realpath(p) for p in exclude}
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        for name in list(dirnames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                raise UnsafePathError(f"{full} is a link; a package folder may hold only files and folders")
            check_component(name, where=full)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.realpath(full) in excluded:
                continue
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePathError(f"{full} is a link; a package folder may hold only files and folders")
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePathError(f"{full} is not a regular file")
            check_component(name, where=full)
            parts = rel.parts + (name,)
            out["/" + "/".join(parts)] = Path(full)
            if len(out) > MAX_FOLDER_FILES:
                raise InvalidInputError(f"{root} holds more than {MAX_FOLDER_FILES} files")
    if not out:
        raise InvalidInputError(f"{root} holds no files")
    return out


def read_package_config(data: bytes, *, source_name: str) -> dict[str, str]:
    """The PackageConfig children of a customizations.xml as {local name: text} (lenient: any may
    be missing). Parsed without DTDs, entities or network access."""
    from ppkgtool.package.customizations import safe_parse_xml

    root = safe_parse_xml(data, source_name=source_name, max_bytes=MAX_CUSTOMIZATIONS_BYTES)
    fields: dict[str, str] = {}
    for pc in root:
        if isinstance(pc.tag, str) and etree.QName(pc).localname == "PackageConfig":
            for c in pc:
                if isinstance(c.tag, str):
                    fields[etree.QName(c).localname] = (c.text or "").strip()
            break
    return fields


def _reproducible_time() -> _dt.datetime:
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if raw:
        try:
            return _dt.datetime.fromtimestamp(int(raw), tz=_dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise InvalidInputError(f"SOURCE_DATE_EPOCH={raw!r} is not a Unix time") from None
    return REPRODUCIBLE_EPOCH


def resolve_metadata(folder: str | os.PathLike, files: dict[str, Path], *, name: str | None = None,
                     description: str | None = None, owner_type: str | None = None, rank: int | str | None = None,
                     package_id: str | None = None, version: str | None = None,
                     reproducible: bool = False) -> tuple[PackageMetadata, list[str]]:
    """PackageMetadata from customizations.xml PackageConfig, overridden by the arguments."""
    warnings: list[str] = []
    key = "/" + "/".join(CUSTOMIZATIONS_PATH)
    config: dict[str, str] = {}
    if key in files:
        config = read_package_config(files[key].read_bytes(), source_name=str(files[key]))
    else:
        warnings.append(f"no {key[1:]} in the folder; image properties come from the options and defaults")

    def pick(field_name: str, option, convert=lambda v: v):
        file_value = config.get(field_name)
        if option is not None:
            value = convert(option)
            if file_value not in (None, "") and str(convert(file_value)) != str(value):
                warnings.append(f"PackageConfig/{field_name} in customizations.xml is {file_value!r}; the package "
                                f"image gets {value} from the command line (the file is not changed)")
            return value
        return convert(file_value) if file_value not in (None, "") else None

    pid = pick("ID", package_id, check_package_id)
    if pid is None:
        if reproducible:
            h = hashlib.sha256()
            for path, f in sorted(files.items()):
                h.update(path.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
            pid = uuid.UUID(bytes=h.digest()[:16], version=5)
            warnings.append(f"no package ID given; derived {{{pid}}} from the folder content (--reproducible)")
        else:
            pid = uuid.uuid4()
            warnings.append(f"no package ID given; generated {{{pid}}}")
    picked_rank = pick("Rank", rank, check_rank)
    md = PackageMetadata(
        package_id=pid,
        name=pick("Name", name) or Path(folder).resolve().name,
        version=pick("Version", version, check_version) or "1.0",
        owner_type=pick("OwnerType", owner_type, OwnerType.parse) or OwnerType.OEM,
        rank=picked_rank if picked_rank is not None else 0,
        description=(description if description is not None else config.get("Description", "")),
        notes_text=config.get("Notes", ""),
        notes=Notes(),
    )
    return md, warnings


def pack_folder(folder: str | os.PathLike, dest: BinaryIO, *, name: str | None = None,
                description: str | None = None, owner_type: str | None = None, rank: int | str | None = None,
                package_id: str | None = None, version: str | None = None, notes: str | None = None,
                reproducible: bool = False, codec=None, resource_cache: ResourceCache | None = None,
                exclude: tuple[str, ...] = (), digests: tuple[str, ...] = ("sha256",),
                progress: Callable[[int], None] | None = None) -> PackResult:
    """Write the .ppkg of ``folder`` to ``dest`` (seekable, at offset 0).

    ``notes`` replaces the generated NOTES property verbatim (e.g. to keep an original package's
    builder record). ``reproducible``: fixed timestamp (SOURCE_DATE_EPOCH or 2000-01-01) and a WIM
    GUID derived from the properties and content, so the same folder gives the same bytes.
    ``digests``: digests of the package computed while it is written (PackResult.stats.digests).
    ``progress``: told the bytes of file data read and compressed (write_wim ``progress``).
    """
    files = collect_folder(folder, exclude=exclude)
    md, warnings = resolve_metadata(folder, files, name=name, description=description, owner_type=owner_type,
                                    rank=rank, package_id=package_id, version=version, reproducible=reproducible)
    props = md.image_properties()
    if notes is not None:
        props["NOTES"] = notes
    guid = when = None
    if reproducible:
        when = _reproducible_time()
        h = hashlib.sha256(b"ppkgtool wim guid\0")
        for k, v in props.items():
            h.update(f"{k}={v}\0".encode())
        for path, f in sorted(files.items()):
            st = f.stat()
            h.update(f"{path}\0{st.st_size}\0".encode())
            with open(f, "rb") as fh:
                for piece in iter(lambda: fh.read(1 << 20), b""):
                    h.update(piece)
        guid = h.digest()[:16]
    try:
        stats = write_wim(dest, files, props, wim_guid=guid, timestamp=when, codec=codec,
                          resource_cache=resource_cache, digests=digests, progress=progress)
    except OSError as exc:
        raise WimError(f"cannot write the package: {exc.strerror or exc}") from None
    return PackResult(md, props, stats, len(files), tuple(warnings))
