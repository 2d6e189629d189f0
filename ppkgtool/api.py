"""The public Python API (docs/api.md): build, read, rank/resolve, verify, encrypt, deploy, ODJ.

Every job of the command line has one entry point here, each a thin layer over the library module
that holds its rule (ppkgtool.package.builder for builds, ppkgtool.analysis.inspect for reading,
ppkgtool.security for signatures and encryption, ppkgtool.deploy, ppkgtool.odj, ppkgtool.ad).
Results are frozen dataclasses; every error is a ``ppkgtool.PpkgError`` subclass (docs/api.md,
"Errors"). Import the names from ``ppkgtool`` itself, not from this module.
"""

from __future__ import annotations

import copy
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, Union

from lxml import etree

from ppkgtool.analysis.model import PackageView
from ppkgtool.analysis.rank import RankedPackage
from ppkgtool.analysis.resolve import Resolution
from ppkgtool.deploy.targets import Placement
from ppkgtool.errors import InvalidInputError, UsageError
from ppkgtool.odj.compose import DomainFacts
from ppkgtool.odj.models import ProvisionData
from ppkgtool.package.builder import BuildResult
from ppkgtool.package.catalogue import Catalogue
from ppkgtool.package.customizations import Addition, Customizations
from ppkgtool.package.metadata import OwnerType, PackageMetadata
from ppkgtool.security.encryption import CryptResult
from ppkgtool.security.signing import Signer
from ppkgtool.security.verify import Verdict

if TYPE_CHECKING:     # ppkgtool.ad loads ldap3 and impacket: only when provision_odj runs
    from ppkgtool.ad import Credentials, DcTarget, ProvisionResult

PathLike = Union[str, "os.PathLike[str]"]
Source = Union[bytes, str, "os.PathLike[str]"]   # file content, or the file that holds it
BUILDER_SOURCE = "PackageBuilder"                # the source name errors name for set() and add_*()

_SEGMENT_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]*)((?:\[[^\]]*\])*)")


# --- build ----------------------------------------------------------------------------------------

def _read_source(source: Source, what: str) -> tuple[bytes, str]:
    """(content, name) of bytes or a file."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), what
    path = Path(source)
    try:
        return path.read_bytes(), path.name
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what} {path}: {exc.strerror}") from None


def _minimal_customizations(name: str, package_id: uuid.UUID, version: str, owner_type: str, rank: int) -> bytes:
    """A customizations.xml with a PackageConfig and no settings (ppkg-format.md, "customizations.xml")."""
    from ppkgtool.package.customizations import PROVISIONING_NS
    from ppkgtool.package.metadata import PACKAGE_CONFIG_NS
    root = etree.Element("WindowsCustomizations")
    cfg = etree.SubElement(root, f"{{{PACKAGE_CONFIG_NS}}}PackageConfig", nsmap={None: PACKAGE_CONFIG_NS})
    for tag, text in (("ID", "{" + str(package_id) + "}"), ("Name", name), ("Version", version),
                      ("OwnerType", owner_type), ("Rank", str(rank)), ("Notes", "")):
        etree.SubElement(cfg, f"{{{PACKAGE_CONFIG_NS}}}{tag}").text = text
    settings = etree.SubElement(root, f"{{{PROVISIONING_NS}}}Settings", nsmap={None: PROVISIONING_NS})
    etree.SubElement(etree.SubElement(settings, f"{{{PROVISIONING_NS}}}Customizations"),
                     f"{{{PROVISIONING_NS}}}Common")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


def _setting_fragment(path: str, value: str) -> etree._Element:
    """The settings fragment (a child of ``Common``) that sets the keyed path ``path`` to ``value``:
    ``Accounts/Users/User[@UserName=admin]/Password`` (docs/settings.md, "Setting paths")."""
    from ppkgtool.package.customizations import PROVISIONING_NS, segment_keys, segment_position
    text = path.strip().strip("/")
    segments = []
    rest = text
    while rest:
        m = _SEGMENT_RE.match(rest)
        if m is None:
            raise InvalidInputError(f"setting path {path!r} is not Area/Name[/…] (keys as Name[@Key=value])")
        segments.append(m.group(0))
        rest = rest[m.end():]
        if rest and not rest.startswith("/"):
            raise InvalidInputError(f"setting path {path!r} is not Area/Name[/…] (keys as Name[@Key=value])")
        rest = rest[1:]
    if len(segments) < 2:
        raise InvalidInputError(f"setting path {path!r} names no setting (Area/Name)")
    root: etree._Element | None = None
    parent: etree._Element | None = None
    for seg in segments:
        if segment_position(seg):
            raise InvalidInputError(f"setting path {path!r}: a position ({seg}) cannot be set; list items "
                                    "are added whole (PackageBuilder.add_command)")
        el = etree.Element(f"{{{PROVISIONING_NS}}}{_SEGMENT_RE.match(seg).group(1)}",  # type: ignore[union-attr]
                           nsmap={None: PROVISIONING_NS})
        for k, v in segment_keys(seg).items():
            el.set(k, v)
        if parent is None:
            root = el
        else:
            parent.append(el)
        parent = el
    assert root is not None and parent is not None
    parent.text = value
    return root


class PackageBuilder:
    """A provisioning package being put together: settings by path and value, payloads, metadata.

    Every ``set`` and ``add_*`` is checked at once against the settings model (the same check and
    the same error as ``ppkgtool build``: a CustomizationsError naming the setting and, for an
    unknown one, the nearest known names). ``write`` produces the package and its catalog.
    ``copy()`` gives an independent builder sharing the loaded settings model: the way to make
    many per-device packages from one template.
    """

    def __init__(self, name: str = "Package", *, owner_type: str | OwnerType = "ITAdmin", rank: int | str = 0,
                 version: str = "1.0", package_id: str | uuid.UUID | None = None,
                 catalogue_files: Sequence[PathLike] = (), store_file: PathLike | None = None,
                 store_build: str | None = None, asset_dir: PathLike | None = None) -> None:
        from ppkgtool.package.customizations import parse_customizations
        from ppkgtool.package.metadata import check_package_id, check_rank, check_version
        owner = owner_type if isinstance(owner_type, OwnerType) else OwnerType.parse(str(owner_type))
        pid = check_package_id(package_id) if package_id is not None else uuid.uuid4()
        data = _minimal_customizations(name, pid, check_version(version), owner.name, check_rank(rank))
        base = parse_customizations(data, source_name=BUILDER_SOURCE)
        self._setup(base, None, _load_catalogue(catalogue_files, store_file, store_build), asset_dir)

    def _setup(self, base: Customizations, base_dir: Path | None, catalogue: Catalogue,
               asset_dir: PathLike | None) -> None:
        self._base = base
        self._base_dir = base_dir
        self._catalogue = catalogue
        self._asset_dir = Path(asset_dir) if asset_dir is not None else None
        self._additions: list[Addition] = []
        self._files: dict[str, bytes | Path] = {}
        self._odj: bytes | None = None
        self._certs: dict[str, list[Path]] = {"root": [], "ca": [], "trusted_people": [], "trusted_provisioners": []}
        self._pfx: list[Any] = []
        self._policies: list[Path] = []
        self._policy_settings: list[tuple[str, str]] = []

    @classmethod
    def from_customizations(cls, source: Source, *, variables: Mapping[str, str] | None = None,
                            catalogue_files: Sequence[PathLike] = (), store_file: PathLike | None = None,
                            store_build: str | None = None, asset_dir: PathLike | None = None) -> PackageBuilder:
        """A builder holding a customizations.xml (bytes or file) or a WCD project folder (or its
        .icdproj.xml), with ``$(NAME)`` variables substituted, as ``ppkgtool build`` reads it."""
        from ppkgtool.package.builder import BuildOptions, _read_customizations
        src: bytes | os.PathLike[str] = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source)
        cust, base_dir = _read_customizations(src, BuildOptions(variables=dict(variables or {})))
        self = cls.__new__(cls)
        self._setup(cust, base_dir, _load_catalogue(catalogue_files, store_file, store_build), asset_dir)
        return self

    def copy(self) -> PackageBuilder:
        """An independent builder with the same settings and payloads (the settings model is shared)."""
        other = copy.copy(self)
        other._additions = list(self._additions)
        other._files = dict(self._files)
        other._certs = {k: list(v) for k, v in self._certs.items()}
        other._pfx = list(self._pfx)
        other._policies = list(self._policies)
        other._policy_settings = list(self._policy_settings)
        return other

    # -- metadata ---------------------------------------------------------------------------
    @property
    def metadata(self) -> PackageMetadata | None:
        """The package's PackageMetadata (name, id, version, owner type, rank)."""
        return self._base.metadata

    def set_metadata(self, *, name: str | None = None, version: str | None = None,
                     package_id: str | uuid.UUID | None = None, owner_type: str | OwnerType | None = None,
                     rank: int | str | None = None, description: str | None = None) -> PackageBuilder:
        """Change PackageConfig fields, each checked as ``build`` checks it (rank 0-99, known owner type)."""
        from ppkgtool.package.metadata import check_package_id, check_rank, check_version
        meta = self._base.metadata
        assert meta is not None     # strict parsing always gives metadata
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        if version is not None:
            changes["version"] = check_version(version)
        if package_id is not None:
            changes["package_id"] = check_package_id(package_id)
        if owner_type is not None:
            changes["owner_type"] = owner_type if isinstance(owner_type, OwnerType) else OwnerType.parse(str(owner_type))
        if rank is not None:
            changes["rank"] = check_rank(rank)
        if description is not None:
            changes["description"] = description
        try:
            new = meta.with_(**changes)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"PackageConfig: {exc}") from None
        self._base = self._base.with_metadata(new)
        return self

    # -- settings ---------------------------------------------------------------------------
    def set(self, path: str, value: str | int | bool) -> PackageBuilder:
        """Set the setting at the keyed path ``path`` (``OOBE/Desktop/HideOobe``,
        ``Accounts/Users/User[@UserName=admin]/Password``). Checked now; a later ``set`` of the
        same path replaces the value; a value in the template is overridden."""
        text = ("True" if value else "False") if isinstance(value, bool) else str(value)
        addition = Addition(_setting_fragment(path, text), BUILDER_SOURCE + ".set")
        self._check([addition])
        self._additions.append(addition)
        return self

    def add_file(self, name: str, content: Source) -> str:
        """A file that settings or commands refer to by ``name`` (e.g. a CommandFile); returns the name."""
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise InvalidInputError(f"file name {name!r} is not a plain file name")
        self._files[name] = bytes(content) if isinstance(content, (bytes, bytearray)) else Path(content)
        return name

    def add_command(self, name: str, command_line: str, *, file: str | None = None, restart: bool = False,
                    dependencies: Sequence[str] = (), context: str = "PrimaryContext") -> PackageBuilder:
        """A provisioning command (ProvisioningCommands/<context>/Command/CommandConfig): ``file``
        and ``dependencies`` name files added with ``add_file``."""
        from ppkgtool.package.payloads import command_config
        if context not in ("PrimaryContext", "DeviceContext", "UserContext"):
            raise InvalidInputError(f"command context {context!r} is not PrimaryContext, DeviceContext or UserContext")
        for f in [file, *dependencies]:
            if f is not None and f not in self._files:
                raise InvalidInputError(f"command {name}: file {f!r} was not added (PackageBuilder.add_file)")
        el = command_config(name, command_file=file, command_line=command_line, restart=restart,
                            dependencies=dependencies, context=context)
        addition = Addition(el, BUILDER_SOURCE + ".add_command")
        self._check([addition])
        self._additions.append(addition)
        return self

    # -- payloads (build's --odj, --root-cert, … options) -------------------------------------
    def add_odj(self, blob: Source) -> PackageBuilder:
        """An ODJ blob (binary, base64, djoin save file or unattend.xml; bytes or file): the device
        joins the domain offline at first boot (``build --odj``)."""
        data, _name = _read_source(blob, "ODJ blob file")
        from ppkgtool.odj.textforms import blob_bytes, load_blob
        load_blob(blob_bytes(data)[0])        # OdjError now, not at write
        self._odj = data
        return self

    def add_certificate(self, certificate: PathLike, *, store: str = "root") -> PackageBuilder:
        """A certificate file (PEM or DER) for ``store``: root, ca, trusted_people or
        trusted_provisioners (``build --root-cert`` and its siblings)."""
        if store not in self._certs:
            raise InvalidInputError(f"certificate store {store!r} is not one of {', '.join(self._certs)}")
        from ppkgtool.package.payloads import build_payloads
        path = Path(certificate)
        build_payloads(_certificate_options(store, (path,)))   # readable, a certificate: checked now
        self._certs[store].append(path)
        return self

    def add_client_pfx(self, pfx: PathLike, password: str, *, exportable: bool = False) -> PackageBuilder:
        """A client certificate with its private key (PKCS#12) and the PFX password (``--client-pfx``)."""
        from ppkgtool.package.payloads import ClientPfx, PayloadOptions, build_payloads
        item = ClientPfx(Path(pfx), password, exportable)
        build_payloads(PayloadOptions(client_pfx=(item,)))
        self._pfx.append(item)
        return self

    def add_registry_pol(self, policy: PathLike) -> PackageBuilder:
        """A machine Registry.pol applied by a generated reg.exe command (``build --policy``)."""
        from ppkgtool.package.payloads import PayloadOptions, build_payloads
        build_payloads(PayloadOptions(policies=(Path(policy),)))
        self._policies.append(Path(policy))
        return self

    def add_policy(self, area_name: str, value: str | int) -> PackageBuilder:
        """A Policy CSP setting ``Policies/<Area>/<Name>`` (``build --policy-setting``)."""
        from ppkgtool.package.payloads import PayloadOptions, build_payloads
        spec = (area_name, str(value))
        self._check(build_payloads(PayloadOptions(policy_settings=(spec,))).additions)
        self._policy_settings.append(spec)
        return self

    # -- output -----------------------------------------------------------------------------
    def customizations(self) -> Customizations:
        """The customizations.xml this builder stands for (the package embeds it)."""
        return self._base.with_additions(self._additions) if self._additions else self._base

    def write(self, path: PathLike, *, overwrite: bool = False, catalog: bool = True,
              signer: Signer | None = None, password: str | None = None, reproducible: bool = False
              ) -> BuildResult:
        """Write the package (and ``<name>.cat`` beside it unless ``catalog=False``), signed with
        ``signer`` (ppkgtool.load_signer) and encrypted with ``password`` when given. Never over
        an existing file unless ``overwrite``; a package carrying secrets is written 0600."""
        from ppkgtool.package.builder import build_package
        return build_package(self.customizations(), Path(path), self._options(
            overwrite=overwrite, catalog=catalog, signer=signer, encrypt_password=password,
            reproducible=reproducible))

    def _options(self, **fields: Any) -> Any:
        import dataclasses

        from ppkgtool.package.builder import BuildOptions
        payloads = dataclasses.replace(
            _certificate_options("root", tuple(self._certs["root"])), odj=self._odj,
            ca_certs=tuple(self._certs["ca"]), trusted_people=tuple(self._certs["trusted_people"]),
            trusted_provisioners=tuple(self._certs["trusted_provisioners"]), client_pfx=tuple(self._pfx),
            policies=tuple(self._policies), policy_settings=tuple(self._policy_settings),
            files=tuple(self._files.items()))
        return BuildOptions(asset_dir=self._asset_dir, payloads=payloads, catalogue=self._catalogue,
                            base_dir=self._base_dir, **fields)

    def _check(self, additions: Iterable[Addition]) -> None:
        """Compile ``additions`` alone against the settings model: the errors ``build`` gives."""
        from ppkgtool.package.compiler import compile_package
        compile_package(_without_settings(self._base).with_additions(additions), catalogue=self._catalogue, asset_dir=self._asset_dir,
                        assets=self._files, base_dir=self._base_dir)


def _certificate_options(store: str, paths: tuple[Path, ...]) -> Any:
    """PayloadOptions carrying ``paths`` as certificates for ``store``."""
    from ppkgtool.package.payloads import PayloadOptions
    if store == "root":
        return PayloadOptions(root_certs=paths)
    if store == "ca":
        return PayloadOptions(ca_certs=paths)
    if store == "trusted_people":
        return PayloadOptions(trusted_people=paths)
    return PayloadOptions(trusted_provisioners=paths)


def _without_settings(cust: Customizations) -> Customizations:
    """``cust`` with an empty ``Common`` and no variants (to check one setting alone)."""
    from dataclasses import replace

    from ppkgtool.package.customizations import PROVISIONING_NS
    root = copy.deepcopy(cust.root)
    for common in root.iter(f"{{{PROVISIONING_NS}}}Common"):  # type: ignore[attr-defined]
        for child in list(common):
            common.remove(child)
    return replace(cust, root=root, common=None, variants=(), targets=())


def _load_catalogue(files: Sequence[PathLike], store_file: PathLike | None, store_build: str | None) -> Catalogue:
    from ppkgtool.package.catalogue import load_catalogue
    from ppkgtool.package.store import load_model
    model = load_model(Path(store_file) if store_file is not None else None, build=store_build)
    return load_catalogue([Path(f) for f in files], model=model)


# --- read -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Package:
    """A package as ``ppkgtool inspect`` reads it: one PackageView per WIM image (usually one).

    The first image's fields are at hand as attributes; ``to_json()`` is the document
    ``ppkgtool inspect --json`` prints (secrets redacted unless opened with ``show_secrets``).
    """

    path: Path
    images: tuple[PackageView, ...]
    show_secrets: bool = False

    @property
    def view(self) -> PackageView:
        return self.images[0]

    @property
    def name(self) -> str | None:
        return self.view.name

    @property
    def package_id(self) -> str | None:
        return self.view.package_id

    @property
    def version(self) -> str | None:
        return self.view.version

    @property
    def owner_type(self) -> OwnerType | None:
        return self.view.owner_rank[0]

    @property
    def rank(self) -> int | None:
        return self.view.owner_rank[1]

    @property
    def encrypted(self) -> bool:
        return self.view.encrypted

    @property
    def readable(self) -> bool:
        """False for an encrypted package opened without its password."""
        return not self.view.locked

    def to_json(self) -> dict[str, Any]:
        from ppkgtool.analysis.inspect import inspect_document
        return inspect_document(list(self.images), show_secrets=self.show_secrets)


def open_package(path: PathLike, *, password: str | None = None, trusted: Iterable[Source] = (),
                 show_secrets: bool = False) -> Package:
    """Read a package (encrypted ones with ``password``); its signature is judged against the
    ``trusted`` provisioner certificates (PEM/DER bytes or files), as ``inspect`` does."""
    from ppkgtool.analysis.inspect import load_package
    anchors = [_read_source(t, "trusted certificate")[0] for t in trusted]
    views = load_package(Path(path), password=password, show_secrets=show_secrets, trusted_certs=anchors)
    return Package(path=Path(path), images=tuple(views), show_secrets=show_secrets)


def _views(packages: Iterable[Package | PackageView | PathLike]) -> list[PackageView]:
    out: list[PackageView] = []
    for p in packages:
        if isinstance(p, PackageView):
            out.append(p)
        else:
            out.extend((p if isinstance(p, Package) else open_package(p)).images)
    return out


def rank(packages: Iterable[Package | PackageView | PathLike]) -> tuple[RankedPackage, ...]:
    """The packages in the order Windows applies them, the winner last (``ppkgtool rank``)."""
    from ppkgtool.analysis.rank import rank_packages
    return tuple(rank_packages(_views(packages)))


def resolve(packages: Iterable[Package | PackageView | PathLike]) -> Resolution:
    """Which package's value wins for every setting they set (``ppkgtool resolve``)."""
    from ppkgtool.analysis.resolve import resolve as _resolve
    from ppkgtool.errors import EncryptedPackageError
    views = _views(packages)
    for v in views:
        if v.locked:
            raise EncryptedPackageError(f"{v.path} is encrypted", hint="open it with its password first")
    return _resolve(views)


# --- security -------------------------------------------------------------------------------------

def verify(package: PathLike, *, catalog: PathLike | None = None, trusted: Iterable[Source] = (),
           password: str | None = None) -> Verdict:
    """The signature verdict of a package and its catalog (``<name>.cat`` beside it unless given),
    as ``ppkgtool verify`` judges it. ``verdict.ok`` is True only for a trusted signature."""
    from ppkgtool.security.signing import load_certificates
    from ppkgtool.security.catalog import find_catalog
    from ppkgtool.security.verify import verify_file
    pkg = Path(package)
    if not pkg.is_file():
        raise InvalidInputError(f"{pkg}: no such package file")
    cat_path = Path(catalog) if catalog is not None else find_catalog(pkg)
    cat = _read_source(cat_path, "catalog")[0] if cat_path is not None else None
    anchors = [c for t in trusted for c in load_certificates(_read_source(t, "trusted certificate")[0])]
    return verify_file(pkg, cat, anchors, password=password)


def _transform(src: PathLike, dst: PathLike, overwrite: bool, fn: Any) -> CryptResult:
    from ppkgtool.fsutil import atomic_output
    s = Path(src)
    if Path(dst).resolve() == s.resolve():
        raise UsageError(f"{dst}: the output must not be the input")
    try:
        fin = open(s, "rb")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {s}: {exc.strerror}") from None
    with fin, atomic_output(Path(dst), overwrite=overwrite, private=True) as fout:
        result: CryptResult = fn(fin, fout)
    return result


def encrypt(package: PathLike, output: PathLike, password: str, *, overwrite: bool = False) -> CryptResult:
    """Encrypt a package the way Windows expects (``ppkgtool encrypt``); the output is 0600."""
    from ppkgtool.security.encryption import check_password, encrypt_package
    check_password(password)
    return _transform(package, output, overwrite, lambda fin, fout: encrypt_package(fin, fout, password))


def decrypt(package: PathLike, output: PathLike, password: str, *, overwrite: bool = False) -> CryptResult:
    """Decrypt an encrypted package to a plain WIM (``ppkgtool decrypt``); WrongPasswordError or
    TamperedError when it does not decrypt."""
    from ppkgtool.security.encryption import decrypt_package
    return _transform(package, output, overwrite, lambda fin, fout: decrypt_package(fin, fout, password))


# --- deploy ---------------------------------------------------------------------------------------

def deploy_package(package: PathLike, *, usb: PathLike | None = None, image: PathLike | None = None,
           programdata: bool = False, catalog: PathLike | None = None, overwrite: bool = False) -> Placement:
    """Place a package on a USB medium's root (``usb``) or into an offline Windows image's
    Recovery\\Customizations (``image``; ProgramData provisioning with ``programdata``), copied and
    checked as ``ppkgtool deploy`` does."""
    from ppkgtool.deploy.targets import deploy_image, deploy_usb
    if (usb is None) == (image is None):
        raise UsageError("deploy_package needs exactly one of usb= and image=")
    if usb is not None:
        return deploy_usb(package, usb, catalog=catalog, overwrite=overwrite)
    assert image is not None
    return deploy_image(package, image, programdata=programdata, catalog=catalog, overwrite=overwrite)


# --- offline domain join --------------------------------------------------------------------------

def compose_odj(domain: DomainFacts | Mapping[str, Any], machine: str, password: str, *,
                rid: int | None = None, object_guid: uuid.UUID | None = None) -> bytes:
    """An ODJ blob (binary ODJ_PROVISION_DATA) from facts, offline (``ppkgtool odj compose``):
    ``domain`` as DomainFacts or its fields (the --domain-facts JSON)."""
    from ppkgtool.odj import MachineFacts, compose_provision_data, encode_provision_data
    try:
        facts = domain if isinstance(domain, DomainFacts) else _domain_facts(domain)
        mach = MachineFacts(machine_name=machine, password=password, rid=rid, object_guid=object_guid)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"ODJ facts: {exc}") from None
    return encode_provision_data(compose_provision_data(facts, mach))


def _domain_facts(fields: Mapping[str, Any]) -> DomainFacts:
    values = dict(fields)
    if isinstance(values.get("domain_guid"), str):
        values["domain_guid"] = uuid.UUID(values["domain_guid"].strip("{}"))
    for n in ("dc_flags", "dc_address_type"):      # the facts JSON writes them as "0x…"
        if isinstance(values.get(n), str):
            values[n] = int(values[n], 0)
    return DomainFacts(**values)


def decode_odj(data: Source) -> ProvisionData:
    """Decode an ODJ blob in any form (binary, base64, save file, unattend.xml): OdjError if it is none."""
    from ppkgtool.odj import blob_bytes, decode_provision_data
    raw, _form = blob_bytes(_read_source(data, "ODJ blob file")[0])
    return decode_provision_data(raw)


ODJ_FORMS = ("savefile", "unattend", "base64", "binary")


def save_odj(blob: bytes, path: PathLike, *, form: str = "savefile", overwrite: bool = False,
             unattend_pass: str = "specialize", arch: str = "amd64") -> Path:
    """Write a blob as a djoin save file (``djoin /requestodj /loadfile``), an unattend.xml, base64
    text or the binary form; 0600 (it holds the machine password), atomically."""
    from ppkgtool.fsutil import write_bytes_atomic
    from ppkgtool.odj import blob_bytes, to_base64, to_savefile, unattend_document
    raw, _form = blob_bytes(bytes(blob))
    if form == "savefile":
        data = to_savefile(raw)
    elif form == "unattend":
        data = unattend_document(raw, unattend_pass, arch)
    elif form == "base64":
        data = (to_base64(raw) + "\n").encode("ascii")
    elif form == "binary":
        data = raw
    else:
        raise UsageError(f"ODJ form {form!r} is not one of {', '.join(ODJ_FORMS)}")
    out = Path(path)
    write_bytes_atomic(out, data, overwrite=overwrite, private=True)
    return out


def provision_odj(dc: DcTarget, credentials: Credentials, machine: str, *, reuse: bool = False,
                  method: str = "ldap", **request: Any) -> ProvisionResult:
    """Create (or with ``reuse`` reset) the computer account ``machine`` on a writable DC and return
    its ProvisionResult (``.blob`` is the ODJ blob), as ``ppkgtool odj provision`` does. ``dc`` is
    a DcTarget, ``credentials`` Credentials; ``request`` holds ProvisionRequest's other fields
    (machine_ou, password, …). DirectoryError on directory problems."""
    from ppkgtool.ad import DirectorySession, ProvisionRequest
    try:
        req = ProvisionRequest(machine=machine, reuse=reuse, **request)
    except TypeError as exc:
        raise UsageError(f"provision_odj: {exc}") from None
    with DirectorySession.connect(dc, credentials, method, pool_size=1) as session:
        result: ProvisionResult = session.provision(req)
    return result


__all__ = ["PackageBuilder", "Package", "open_package", "rank", "resolve", "verify", "encrypt", "decrypt",
           "deploy_package", "compose_odj", "decode_odj", "save_odj", "provision_odj",
           "ODJ_FORMS"]
