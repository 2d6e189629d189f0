"""build_package: customizations.xml -> compiled tree -> WIM (.ppkg) -> security catalog (.cat).

Everything that can fail on bad input (XML, settings, values, assets, payload files, rank,
existing outputs) is checked before the first byte is written; outputs go through
ppkgtool.fsutil (temp file + fsync + rename, never over an existing file without ``overwrite``).
A package that carries secrets (an ODJ machine password, a PFX and its password, account
passwords) is written with mode 0600.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ppkgtool.version import __version__
from ppkgtool.errors import InvalidInputError, PpkgError
from ppkgtool.fsutil import EarlyWriteback, check_writable, output_set
from ppkgtool.package.catalogue import PROJECT_NAMESPACE, Catalogue, load_catalogue
from ppkgtool.package.compiler import CompiledSetting, PackageTree, compile_package
from ppkgtool.package.customizations import Customizations, parse_customizations, unused_variables
from ppkgtool.package.layout import files_in
from ppkgtool.package.metadata import Notes, OwnerType, PackageMetadata, check_rank
from ppkgtool.package.payloads import PayloadOptions, build_payloads
from ppkgtool.security.catalog import PackageHashes, catalog_path_for, listed_forms

REPRODUCIBLE_EPOCH = _dt.datetime(2020, 1, 1, tzinfo=_dt.timezone.utc)
BUILDER_VERSION = f"ppkgtool-{__version__}"


@dataclass(frozen=True)
class BuildOptions:
    asset_dir: Path | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    payloads: PayloadOptions = field(default_factory=PayloadOptions)
    owner_type: OwnerType | str | None = None      # overrides PackageConfig/OwnerType
    rank: int | str | None = None                  # overrides PackageConfig/Rank
    overwrite: bool = False
    reproducible: bool = False                     # fixed timestamps; WIM GUID and catalog id from the package ID
    catalog: bool = True                           # write <name>.cat beside the package
    catalogue_files: tuple[Path, ...] = ()         # extra settings catalogue files (catalog learn output)
    catalogue: Catalogue | None = None             # or a ready catalogue
    store_file: Path | None = None                 # WCD settings store to compile against (icd.exe /StoreFile:)
    store_build: str | None = None                 # or one of the builtin stores (store.builtin_builds())
    signer: object | None = None                   # ppkgtool.security.signing.Signer -> signed .cat
    encrypt_password: str | None = field(default=None, repr=False)
    source_name: str | None = None
    base_dir: Path | None = None                   # where relative asset paths are resolved
    timestamp: _dt.datetime | None = None
    codec: str | None = None
    resource_cache: object | None = None           # ppkgtool.wim.ResourceCache shared by many builds (bulk)
    settings_path_attribute: bool = True           # SettingsPath="…" on parms, as WCD 2024+ writes
    hashes: bool = True                            # SHA-1/SHA-256 of the package even without a catalog
    runtime_layout: str = "wcd"                    # or icd-2015: the 2015 ICD's provxml layout (compiler.RUNTIME_LAYOUTS)
    # told the bytes of file data read and compressed as the package is written (wim.write_wim ``progress``)
    progress: Callable[[int], None] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class BuildResult:
    package_path: Path
    catalog_path: Path | None
    metadata: PackageMetadata
    settings_count: int
    files: tuple[tuple[str, int], ...]
    settings: tuple[CompiledSetting, ...] = ()
    payloads: tuple[dict, ...] = ()
    settings_store: dict | None = None   # which settings model compiled it (settings.ModelSource.to_json())
    warnings: tuple[str, ...] = ()
    sha1: str = ""                # of the plain package (what the catalog lists)
    sha256: str = ""
    signed: bool = False
    encrypted: bool = False
    private: bool = False         # written 0600 because it carries secrets

    def to_json(self, *, show_secrets: bool = False) -> dict:
        return {"package": str(self.package_path), "catalog": str(self.catalog_path) if self.catalog_path else None,
                "metadata": self.metadata.to_json(), "notes": self.metadata.notes.render(),
                "settings_count": self.settings_count, "sha1": self.sha1 or None, "sha256": self.sha256 or None,
                "signed": self.signed, "encrypted": self.encrypted, "private": self.private,
                "files": [{"path": p, "size": s} for p, s in self.files],
                "settings": [s.to_json(show_secrets=show_secrets) for s in self.settings],
                "payloads": list(self.payloads), "warnings": list(self.warnings),
                "settings_store": self.settings_store}


def prepare_tree(customizations: bytes | os.PathLike | Customizations, options: BuildOptions) -> tuple[PackageTree, list[dict], bool]:
    """Parse, apply overrides and payloads, compile. Returns (tree, payload summary, holds secrets)."""
    if isinstance(customizations, Customizations):   # already parsed (ppkgtool.PackageBuilder)
        cust = customizations
        base_dir = options.base_dir
    else:
        cust, base_dir = _read_customizations(customizations, options)
    unused = unused_variables(options.variables or {}, cust.variables_used, source_name=cust.source_name)
    meta = cust.metadata
    if options.owner_type is not None:
        ot = options.owner_type if isinstance(options.owner_type, OwnerType) else OwnerType.parse(str(options.owner_type))
        meta = meta.with_(owner_type=ot)
    if options.rank is not None:
        meta = meta.with_(rank=check_rank(options.rank))
    meta = meta.with_(notes=Notes(builder_version=BUILDER_VERSION, source="CLI", target_skus="Invalid",
                                  encrypt_package=options.encrypt_password is not None,
                                  sign_package=options.signer is not None, package_id=meta.package_id))
    if meta != cust.metadata:
        cust = cust.with_metadata(meta)
    payloads = build_payloads(options.payloads)
    if payloads.additions:
        cust = cust.with_additions(payloads.additions)
    if options.catalogue is not None:
        catalogue = options.catalogue
    else:
        from ppkgtool.package.store import load_model
        catalogue = load_catalogue(options.catalogue_files,
                                   model=load_model(options.store_file, build=options.store_build))
    tree = compile_package(cust, catalogue=catalogue, asset_dir=options.asset_dir, assets=payloads.assets,
                           base_dir=base_dir, settings_path_attribute=options.settings_path_attribute,
                           runtime_layout=options.runtime_layout)
    from ppkgtool.digests import stop_prefetch
    stop_prefetch()          # the assets are hashed now; a wrong guess of package.prefetch reads no further
    tree.warnings.extend(unused)
    tree.warnings.extend(c.describe() for c in catalogue.conflicts)
    from ppkgtool.package.sanity import odj_name_warnings
    tree.warnings.extend(odj_name_warnings(tree.settings, [p["machine"] for p in payloads.summary
                                                           if p.get("payload") == "odj"]))
    secrets = payloads.secrets or any(s.secret for s in tree.settings)
    return tree, payloads.summary, secrets


def _read_customizations(customizations: bytes | os.PathLike, options: BuildOptions):
    """(strictly parsed Customizations, base folder of relative asset paths) of a file, a WCD
    project folder or the bytes of a customizations.xml."""
    if isinstance(customizations, (bytes, bytearray)):
        data = bytes(customizations)
        source = options.source_name or "customizations.xml"
        base_dir = options.base_dir
    else:
        path = Path(customizations)
        from ppkgtool.package.project import is_project, read_project
        if is_project(path):      # a WCD project folder or its .icdproj.xml: build its customizations.xml
            path = read_project(path).customizations
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from None
        source = options.source_name or str(path)
        base_dir = options.base_dir or path.parent
    cust = parse_customizations(data, source_name=source, variables=dict(options.variables or {}))
    return cust, base_dir


def write_package_wim(dest, tree: PackageTree, *, wim_guid: bytes | None = None,
                      timestamp: _dt.datetime | None = None, codec: str | None = None,
                      resource_cache=None, hashes: bool = False,
                      progress: Callable[[int], None] | None = None) -> PackageHashes | None:
    """The one place the WIM container is written (ppkgtool.wim.write_wim). With ``hashes``, the
    package's SHA-1 and SHA-256 (what its catalog lists), computed while it is written."""
    from ppkgtool.wim import write_wim
    stats = write_wim(dest, {"/" + p: src for p, src in tree.files.items()}, tree.metadata.image_properties(),
                      wim_guid=wim_guid, timestamp=timestamp, codec=codec, resource_cache=resource_cache,
                      digests=("sha1", "sha256") if hashes else (), progress=progress)
    if not hashes:
        return None
    return PackageHashes(stats.digests["sha1"], stats.digests["sha256"], stats.size)


def build_package(customizations: bytes | os.PathLike | Customizations, out_path: os.PathLike, options: BuildOptions | None = None
                  ) -> BuildResult:
    """Build ``out_path`` (and ``<name>.cat`` beside it) from a customizations.xml."""
    options = options or BuildOptions()
    out = Path(out_path)
    tree, payload_summary, secrets = prepare_tree(customizations, options)
    cat_path = catalog_path_for(out) if options.catalog or options.signer is not None else None
    if cat_path is not None and cat_path == out:
        raise InvalidInputError(f"the package {out} must not end in .cat")
    check_writable(out, overwrite=options.overwrite)
    if cat_path is not None:
        check_writable(cat_path, overwrite=options.overwrite)
    if options.encrypt_password is not None:
        _check_encryption_available(options.encrypt_password)

    pid = tree.metadata.package_id
    if options.reproducible:
        when = options.timestamp or _source_date_epoch() or REPRODUCIBLE_EPOCH
        wim_guid = uuid.uuid5(PROJECT_NAMESPACE, f"wim:{pid}").bytes
    else:
        when = options.timestamp
        wim_guid = None

    encrypted = options.encrypt_password is not None
    # the package and its catalog are replaced together, the catalog last (fsutil.OutputSet)
    with output_set() as outs:
        if encrypted:
            # the WIM is encrypted as it is written (encryption.EncryptingWriter), straight into the
            # atomic output: no plain copy on disk. The catalog lists the plain package (Windows
            # decrypts before it validates [I]); which bytes Windows hashes after decrypting is not
            # known [U], so it also lists the decrypted form (zero-padded to whole 160-byte units) and
            # the encrypted file, as `ppkgtool sign` does for an encrypted package. All their digests
            # are computed on the way.
            from ppkgtool.security import encryption
            with outs.open(out, overwrite=options.overwrite, private=True) as raw:
                fh = EarlyWriteback(raw)
                sink = encryption.EncryptingWriter(fh, options.encrypt_password, digests=("sha1", "sha256"))
                write_package_wim(sink, tree, wim_guid=wim_guid, timestamp=when, codec=options.codec,
                                  resource_cache=options.resource_cache, progress=options.progress)
                sealed = sink.finish()
            hashes, *extra = listed_forms(
                PackageHashes(sealed.plain["sha1"], sealed.plain["sha256"], sealed.plain_size),
                PackageHashes(sealed.padded["sha1"], sealed.padded["sha256"], sealed.padded_size),
                PackageHashes(sealed.encrypted["sha1"], sealed.encrypted["sha256"], sealed.encrypted_size))
            catalog = _catalog_bytes(hashes, tree, options, when, tuple(extra)) if cat_path else None
        else:
            with outs.open(out, overwrite=options.overwrite, private=secrets) as raw:
                fh = EarlyWriteback(raw)
                # the digests are computed while the package is written (bulk without catalogs skips them)
                hashes = write_package_wim(fh, tree, wim_guid=wim_guid, timestamp=when, codec=options.codec,
                                           resource_cache=options.resource_cache,
                                           hashes=cat_path is not None or options.hashes,
                                           progress=options.progress)
                catalog = _catalog_bytes(hashes, tree, options, when) if cat_path and hashes else None
        if cat_path is not None and catalog is not None:
            with outs.open(cat_path, overwrite=options.overwrite) as fh:
                fh.write(catalog)
    return BuildResult(package_path=out, catalog_path=cat_path, metadata=tree.metadata,
                       settings_count=len(tree.settings), files=tuple(files_in(tree.files)),
                       settings=tuple(tree.settings), payloads=tuple(payload_summary),
                       warnings=tuple(tree.warnings), sha1=hashes.sha1.hex() if hashes else "",
                       sha256=hashes.sha256.hex() if hashes else "", signed=options.signer is not None,
                       encrypted=encrypted, private=secrets or encrypted, settings_store=tree.settings_store)


def _catalog_bytes(hashes, tree: PackageTree, options: BuildOptions, when, extra: tuple = ()) -> bytes:
    """The catalog for a package whose flat hashes (security.catalog.PackageHashes) are known."""
    list_id = None
    effective = None
    if options.reproducible:
        list_id = hashlib.sha256(f"{tree.metadata.package_id}:{hashes.sha256.hex()}".encode()).digest()[:16]
        effective = when
    if options.signer is not None:
        from ppkgtool.security.signing import sign_package
        return sign_package(hashes, options.signer, list_identifier=list_id, effective_time=effective,
                            signing_time=effective, extra_packages=extra)
    from ppkgtool.security.catalog import make_unsigned_catalog
    return make_unsigned_catalog(hashes, list_identifier=list_id, effective_time=effective, extra_packages=extra)


def _source_date_epoch() -> _dt.datetime | None:
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if not raw:
        return None
    try:
        return _dt.datetime.fromtimestamp(int(raw), _dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise InvalidInputError(f"SOURCE_DATE_EPOCH={raw!r} is not a Unix time") from None


def _check_encryption_available(password: str) -> None:
    try:
        from ppkgtool.security import encryption
    except ImportError:
        raise PpkgError("package encryption is not available in this build (ppkgtool.security.encryption "
                        "is missing)") from None
    check = getattr(encryption, "check_password", None)
    if check is not None:
        check(password)


def build_tree_only(customizations: bytes | os.PathLike, options: BuildOptions | None = None) -> PackageTree:
    """Compile without writing (``build --dry-run``, bulk templates)."""
    tree, _summary, _secrets = prepare_tree(customizations, options or BuildOptions())
    return tree


__all__ = ["BuildOptions", "BuildResult", "build_package", "build_tree_only", "prepare_tree", "catalog_path_for",
           "write_package_wim"]
