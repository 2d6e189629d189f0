"""Place a package where Windows picks it up (ppkg-format.md, "Where packages are picked up").

- USB or SD media root: one package there is applied at OOBE (five taps on the Windows key);
  several bring up a chooser [C].
- ``<image>\\Recovery\\Customizations``: applied during setup/OOBE of that image; field reports say
  some flows (no ``sysprep /generalize``, FFU) do not process it [C for the location, I for the flows].
- ``<image>\\ProgramData\\Microsoft\\Provisioning``: where Windows keeps packages it acquired [C];
  that a package placed there is installed on its own is not documented [I].

Every copy is streamed to a temporary file beside the destination, hashed while written, read back
from the device (page cache dropped where the OS allows) and compared by SHA-256 before it is renamed
into place: a failed or corrupted copy never replaces anything. Re-running with an identical file
already in place changes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ppkgtool.errors import InvalidInputError, OutputExistsError, TamperedError
from ppkgtool.fsutil import atomic_output

WIM_MAGIC = b"MSWIM\x00\x00\x00"
ENCRYPTED_OVERHEAD = 16 + 32          # IV + HMAC-SHA256 tag (ppkg-format.md, Encryption)
ENCRYPTED_UNIT = 160
FAT32_MAX_FILE = 4 * 1024 ** 3 - 1    # FAT32 cannot hold a file of 4 GiB or more
MAX_CATALOG_BYTES = 16 * 1024 * 1024
COPY_CHUNK = 1 << 20
WINDOWS_READABLE_FS = {"vfat", "msdos", "fat", "exfat", "ntfs", "ntfs3", "fuseblk"}
FAT_FS = {"vfat", "msdos", "fat"}

CUSTOMIZATIONS = ("Recovery", "Customizations")
PROGRAMDATA_PROVISIONING = ("ProgramData", "Microsoft", "Provisioning")
SYSTEM_HIVE = ("System32", "config", "SYSTEM")


class DeployError(InvalidInputError):
    """A target cannot take the package (not a Windows image, no room, file system limit)."""


class CopyVerificationError(TamperedError):
    """The bytes read back from the target differ from the source."""


class Target(str, enum.Enum):
    USB = "usb"
    IMAGE = "image"
    PROGRAMDATA = "programdata"


@dataclass(frozen=True)
class PackageFile:
    """A package about to be placed: its size, SHA-256 and whether it looks encrypted."""

    path: Path
    size: int
    sha256: str
    sha1: str
    encrypted: bool


@dataclass(frozen=True)
class WindowsImage:
    """A mounted or applied Windows image: its root, Windows folder and SYSTEM hive (actual case)."""

    root: Path
    windows: Path
    system_hive: Path


@dataclass(frozen=True)
class Placement:
    """What ``deploy`` did."""

    target: Target
    root: Path
    destination: Path
    size: int
    sha256: str
    copied: bool                       # False: an identical file was already there
    verified: bool                     # the bytes on the target were read back and hashed
    catalog_destination: Path | None = None
    catalog_copied: bool = False
    other_packages: tuple[str, ...] = ()
    filesystem: str | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {
            "target": self.target.value,
            "root": str(self.root),
            "destination": str(self.destination),
            "size": self.size,
            "sha256": self.sha256,
            "copied": self.copied,
            "already_present": not self.copied,
            "verified": self.verified,
            "catalog_destination": None if self.catalog_destination is None else str(self.catalog_destination),
            "catalog_copied": self.catalog_copied,
            "other_packages": list(self.other_packages),
            "filesystem": self.filesystem,
            "warnings": list(self.warnings),
        }


# --- paths on Windows trees (case-insensitive) ------------------------------------------------

def resolve_ci(base: Path, *parts: str) -> Path:
    """``base/parts...`` matching each existing element case-insensitively (Windows names).

    Elements that do not exist keep the given spelling. Never leaves ``base``: parts must be
    plain names.
    """
    current = Path(base)
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part:
            raise ValueError(f"not a plain path element: {part!r}")
        candidate = current / part
        if not candidate.exists() and current.is_dir():
            lower = part.lower()
            try:
                matches = sorted(e for e in os.listdir(current) if e.lower() == lower)
            except OSError:
                matches = []
            if matches:
                candidate = current / matches[0]
        current = candidate
    return current


def find_windows_image(root: str | os.PathLike[str]) -> WindowsImage:
    """The image at ``root`` (which holds ``Windows/System32/config/SYSTEM``), or a clear refusal."""
    root = Path(root)
    if not root.is_dir():
        raise DeployError(f"{root} is not a directory", hint="mount or apply the Windows image first "
                          "(e.g. wimlib-imagex apply install.wim 1 DIR, or mount its partition)")
    windows = resolve_ci(root, "Windows")
    hive = resolve_ci(windows, *SYSTEM_HIVE)
    if not hive.is_file():
        if resolve_ci(root, *SYSTEM_HIVE).is_file():
            raise DeployError(f"{root} looks like the Windows folder itself, not the image root",
                              hint=f"pass its parent folder {root.parent}")
        raise DeployError(f"{root} is not a Windows image: Windows/System32/config/SYSTEM is missing",
                          hint="pass the root of a mounted or applied image (the folder that holds Windows/)")
    return WindowsImage(root=root, windows=windows, system_hive=hive)


def find_windows_dir(windows_path: str | os.PathLike[str]) -> WindowsImage:
    """Like djoin's /windowspath: the Windows folder of an offline image (holds System32/config/SYSTEM)."""
    windows = Path(windows_path)
    if not windows.is_dir():
        raise DeployError(f"{windows} is not a directory", hint="pass the Windows folder of a mounted image")
    hive = resolve_ci(windows, *SYSTEM_HIVE)
    if not hive.is_file():
        inner = resolve_ci(windows, "Windows")
        if resolve_ci(inner, *SYSTEM_HIVE).is_file():
            raise DeployError(f"{windows} is the image root, not its Windows folder",
                              hint=f"pass {inner}")
        raise DeployError(f"{windows} is not the Windows folder of an image: System32/config/SYSTEM is missing",
                          hint="pass ROOT/Windows of a mounted or applied image")
    return WindowsImage(root=windows.parent, windows=windows, system_hive=hive)


def filesystem_of(path: str | os.PathLike[str]) -> str | None:
    """The file system type holding ``path`` (Linux /proc/self/mountinfo), or None if unknown."""
    try:
        real = os.path.realpath(path)
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        if len(fields) < 5:
            continue
        mount = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = real == mount or real.startswith(mount.rstrip("/") + "/") or mount == "/"
        if inside and len(mount) >= len(best):
            best, fstype = mount, (right.split() or [None])[0]
    return fstype


# --- packages and catalogs --------------------------------------------------------------------

def examine_package(path: str | os.PathLike[str]) -> PackageFile:
    """Hash a package and check that it is a WIM (.ppkg) or plausibly an encrypted one."""
    from ppkgtool.fsutil import require_file
    p = require_file(path)
    sha256, sha1 = hashlib.sha256(), hashlib.sha1()
    size = 0
    head = b""
    with open(p, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            if not head:
                head = chunk[:8]
            sha256.update(chunk)
            sha1.update(chunk)
            size += len(chunk)
    if head == WIM_MAGIC:
        encrypted = False
    elif size > ENCRYPTED_OVERHEAD and (size - ENCRYPTED_OVERHEAD) % ENCRYPTED_UNIT == 0:
        encrypted = True
    else:
        raise InvalidInputError(f"{p}: not a provisioning package (no WIM header 'MSWIM', and not the size "
                                "of an encrypted package)")
    return PackageFile(path=p, size=size, sha256=sha256.hexdigest(), sha1=sha1.hexdigest(), encrypted=encrypted)


def _read_catalog(path: Path) -> bytes:
    from ppkgtool.fsutil import require_file
    require_file(path, "catalog file")
    if path.stat().st_size > MAX_CATALOG_BYTES:
        raise InvalidInputError(f"{path}: larger than {MAX_CATALOG_BYTES} bytes; not a package catalog")
    data = path.read_bytes()
    if len(data) < 2 or data[0] != 0x30:
        raise InvalidInputError(f"{path}: not a security catalog (no DER SEQUENCE at offset 0)")
    return data


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(COPY_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check_room(pkg_size: int, directory: Path, fs: str | None) -> None:
    if fs in FAT_FS and pkg_size > FAT32_MAX_FILE:
        raise DeployError(f"the package is {pkg_size} bytes but {directory} is on FAT32, which cannot hold a file "
                          "of 4 GiB or more", hint="format the medium exFAT or NTFS, or make the package smaller")
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if free < pkg_size:
        raise DeployError(f"{probe} has {free} bytes free; the package needs {pkg_size}",
                          hint="free some space or use a larger medium")


def _copy_verified(src: Path, dest: Path, expected_sha256: str, *, overwrite: bool) -> None:
    """Copy through a temporary file; read it back from the device and compare before renaming.
    A source only its owner can read (a package holding secrets is written 0600) stays so."""
    private = (src.stat().st_mode & 0o077) == 0
    with atomic_output(dest, overwrite=overwrite, private=private) as fh:
        h = hashlib.sha256()
        with open(src, "rb") as sfh:
            while chunk := sfh.read(COPY_CHUNK):
                h.update(chunk)
                fh.write(chunk)
        if h.hexdigest() != expected_sha256:
            raise CopyVerificationError(f"{src} changed while it was being copied")
        fh.flush()
        fd = fh.fileno()
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            try:                                   # drop cached pages so the read-back hits the device
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        back = hashlib.sha256()
        pos = 0
        while True:
            chunk = os.pread(fd, COPY_CHUNK, pos)
            if not chunk:
                break
            back.update(chunk)
            pos += len(chunk)
        if back.hexdigest() != expected_sha256:
            raise CopyVerificationError(f"the copy written to {dest.parent} reads back with SHA-256 "
                                        f"{back.hexdigest()}, not {expected_sha256}",
                                        hint="the medium may be failing; nothing was replaced")


def _place_file(src: Path, sha256: str, size: int, dest: Path, *, overwrite: bool, fs: str | None) -> bool:
    """Place ``src`` at ``dest``; False if an identical file is already there."""
    if dest.is_dir():
        raise OutputExistsError(f"{dest} is a directory")
    if dest.exists():
        if dest.stat().st_size == size and _sha256_file(dest) == sha256:
            return False
        if not overwrite:
            raise OutputExistsError(f"{dest} already exists with different content",
                                    hint="pass --overwrite to replace it")
    _check_room(size, dest.parent, fs)
    _copy_verified(src, dest, sha256, overwrite=overwrite)
    return True


def _other_packages(directory: Path, dest_name: str) -> tuple[str, ...]:
    try:
        names = os.listdir(directory)
    except OSError:
        return ()
    return tuple(sorted(n for n in names if n.lower().endswith(".ppkg") and n.lower() != dest_name.lower()
                        and (directory / n).is_file()))


def _place_catalog(pkg: PackageFile, catalog: Path | None, dest: Path, *, overwrite: bool,
                   fs: str | None, warnings: list[str]) -> tuple[Path | None, bool]:
    if catalog is None:
        sibling = resolve_ci(pkg.path.parent, pkg.path.stem + ".cat")
        if sibling.is_file():
            warnings.append(f"a catalog {sibling.name} lies beside the package; pass --catalog {sibling} to copy "
                            "it too (without it Windows treats the package as unsigned)")
        return None, False
    data = _read_catalog(catalog)
    if bytes.fromhex(pkg.sha256) not in data and bytes.fromhex(pkg.sha1) not in data:
        warnings.append(f"the catalog {catalog.name} does not list this package's SHA-256 or SHA-1: Windows will "
                        "not accept it as the package's signature")
    cat_dest = dest.with_name(dest.stem + ".cat")
    copied = _place_file(catalog, hashlib.sha256(data).hexdigest(), len(data), cat_dest,
                         overwrite=overwrite, fs=fs)
    return cat_dest, copied


def _place(target: Target, root: Path, pkg: PackageFile, dest: Path, catalog: str | os.PathLike[str] | None, *,
           overwrite: bool, fs: str | None, others: tuple[str, ...], warnings: list[str]) -> Placement:
    """Copy the package (and its catalog, if any) to ``dest`` and describe the placement."""
    copied = _place_file(pkg.path, pkg.sha256, pkg.size, dest, overwrite=overwrite, fs=fs)
    cat_dest, cat_copied = _place_catalog(pkg, Path(catalog) if catalog else None, dest,
                                          overwrite=overwrite, fs=fs, warnings=warnings)
    return Placement(target=target, root=root, destination=dest, size=pkg.size, sha256=pkg.sha256,
                     copied=copied, verified=True, catalog_destination=cat_dest, catalog_copied=cat_copied,
                     other_packages=others, filesystem=fs, warnings=tuple(warnings))


# --- the three targets ------------------------------------------------------------------------

def deploy_usb(package: str | os.PathLike[str], media_root: str | os.PathLike[str], *,
               catalog: str | os.PathLike[str] | None = None, overwrite: bool = False) -> Placement:
    """Copy ``package`` to the root of a USB/SD medium (or a folder standing for one)."""
    root = Path(media_root)
    if not root.is_dir():
        raise DeployError(f"{root} is not a directory", hint="mount the USB medium and pass its mount point")
    pkg = examine_package(package)
    fs = filesystem_of(root)
    warnings: list[str] = []
    dest = root / pkg.path.name
    others = _other_packages(root, dest.name)
    if others:
        warnings.append(f"{len(others)} other package(s) already at the media root ({', '.join(others)}): Windows "
                        "then shows a chooser at OOBE instead of applying one automatically")
    if fs is not None and fs not in WINDOWS_READABLE_FS:
        warnings.append(f"{root} is on a '{fs}' file system, which Windows cannot read at OOBE: use a medium "
                        "formatted FAT32, exFAT or NTFS")
    if pkg.encrypted:
        warnings.append("the package looks encrypted: the technician must type its password at OOBE")
    return _place(Target.USB, root, pkg, dest, catalog, overwrite=overwrite, fs=fs, others=others,
                  warnings=warnings)


def deploy_image(package: str | os.PathLike[str], image_root: str | os.PathLike[str], *,
                 programdata: bool = False, catalog: str | os.PathLike[str] | None = None,
                 overwrite: bool = False) -> Placement:
    """Place ``package`` into an offline image's Recovery\\Customizations (or ProgramData provisioning)."""
    image = find_windows_image(image_root)
    pkg = examine_package(package)
    parts = PROGRAMDATA_PROVISIONING if programdata else CUSTOMIZATIONS
    folder = resolve_ci(image.root, *parts)
    if folder.exists() and not folder.is_dir():
        raise DeployError(f"{folder} exists and is not a directory")
    folder.mkdir(parents=True, exist_ok=True)
    fs = filesystem_of(folder)
    dest = folder / pkg.path.name
    others = _other_packages(folder, dest.name)
    warnings: list[str] = []
    if programdata:
        warnings.append("ProgramData\\Microsoft\\Provisioning is where Windows keeps packages it has acquired; "
                        "that Windows installs a package only because it lies there is not documented - "
                        "Recovery\\Customizations is the documented pick-up location")
    else:
        warnings.append("packages in Recovery\\Customizations are applied during setup/OOBE of this image; "
                        "flows that skip OOBE or do not run sysprep /generalize (some FFU and VM flows) may "
                        "not process them")
        if others:
            warnings.append(f"{len(others)} other package(s) in Recovery\\Customizations ({', '.join(others)}) are "
                            "applied too; where settings conflict, owner type and rank decide (ppkgtool rank)")
        if pkg.encrypted:
            warnings.append("the package looks encrypted: setup will stop and ask for its password")
    return _place(Target.PROGRAMDATA if programdata else Target.IMAGE, image.root, pkg, dest, catalog,
                  overwrite=overwrite, fs=fs, others=others, warnings=warnings)
