"""Read a package (every image) into PackageViews, and judge it: inspect's library side.

``load_package(path)`` opens the WIM (ppkgtool.wim), decrypts on request (ppkgtool.security),
reads every XML part leniently (one problem per broken or missing part, never a crash), hashes
every file, reads certificates and ODJ blobs, and looks for a detached catalog beside the file.
``warnings_for(view)`` applies the rules of heuristics.py. ``inspect_document(views)`` gives the
JSON document ``ppkgtool inspect --json`` prints, with secrets redacted unless asked.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ppkgtool.odj.summary import summarize
from ppkgtool.errors import EncryptedPackageError, FormatError, PpkgError, WimError

from ppkgtool.analysis import heuristics as H
from ppkgtool.analysis.model import (POLICY_FILE, POLICY_ODJ, SCOPE_DEVICE, SCOPE_USER, Certificate, Command,
                                     CompiledEntry, ConfigurationSet, EmbeddedFile, SourceCheck, PackageView, PolicySource, Setting, Signature,
                                     Warning_, csp_to_settings_path, parse_configuration_source,
                                     parse_data_asset, parse_master_datastore, parse_provxml, policy_value_secret,
                                     read_customizations, resolve_prov_path, scrub, secret_values)
from ppkgtool.package.customizations import segment_keys, segment_position

MAX_PART_BYTES = 32 * 1024 * 1024     # an XML part larger than this is refused, not read
MAX_ODJ_BYTES = 256 * 1024            # an ODJ save file is a few kilobytes
MAX_CERT_BYTES = 1024 * 1024
MAX_POL_BYTES = 16 * 1024 * 1024      # a Registry.pol is kilobytes; GPOs rarely exceed a megabyte
MAX_SCRIPT_BYTES = 1024 * 1024
_HASH_CHUNK = 1024 * 1024


def _norm(path: str) -> str:
    return "/".join(p for p in str(path).replace("\\", "/").split("/") if p)


class _Image:
    """Uniform access to one WIM image: file list, bounded reads, streaming SHA-256."""

    def __init__(self, image):
        self._image = image
        self.entries: dict[str, Any] = {}
        self.sizes: dict[str, int] = {}
        for f in image.files():
            p = _norm(getattr(f, "path", f))
            self.entries[p] = getattr(f, "path", f)
            self.sizes[p] = int(getattr(f, "size", 0) or 0)
        self._lower = {k.lower(): k for k in self.entries}

    def find(self, path: str) -> str | None:
        p = _norm(path)
        return p if p in self.entries else self._lower.get(p.lower())

    def read(self, path: str, limit: int = MAX_PART_BYTES) -> bytes:
        p = self.find(path)
        if p is None:
            raise FormatError("missing from the package", where=path)
        if self.sizes.get(p, 0) > limit:
            raise FormatError(f"is {self.sizes[p]} bytes, more than the {limit} read for this part", where=p)
        return self._image.read(self.entries[p])

    def sha256_and_head(self, path: str) -> tuple[str, bytes]:
        h = hashlib.sha256()
        head = b""
        opener = getattr(self._image, "open", None)
        if opener is not None:
            with contextlib.closing(opener(self.entries[path])) as fh:
                while True:
                    chunk = fh.read(_HASH_CHUNK)
                    if not chunk:
                        break
                    if not head:
                        head = chunk[:16]
                    h.update(chunk)
        else:
            data = self._image.read(self.entries[path])
            head = data[:16]
            h.update(data)
        return h.hexdigest(), head


# --- loading -------------------------------------------------------------------------------------

def open_package_wim(path: str | os.PathLike, password: str | None = None):
    """(wim, encrypted, cleanup) for a package file; decrypts to a private temp file when needed."""
    from ppkgtool.wim import open_wim

    p = Path(path)
    try:
        return open_wim(str(p)), False, None
    except WimError as wim_error:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(64)
        try:
            from ppkgtool.security.encryption import looks_encrypted
        except ImportError:  # pragma: no cover - the security layer is part of the project
            raise wim_error
        if not looks_encrypted(size, head):
            raise
        if password is None:
            return None, True, None
        from ppkgtool.security.encryption import decrypt_package
        fd, tmp = tempfile.mkstemp(prefix="ppkgtool-inspect-", suffix=".ppkg")
        os.close(fd)
        os.chmod(tmp, 0o600)
        try:
            with open(p, "rb") as src, open(tmp, "wb") as dst:
                decrypt_package(src, dst, password)
            wim = open_wim(tmp)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return wim, True, tmp


def load_package(path: str | os.PathLike, *, password: str | None = None, show_secrets: bool = False,
                 trusted_certs: Iterable[bytes] = (), require_readable: bool = False) -> list[PackageView]:
    """Every image of a package file as a PackageView.

    An encrypted package without a password gives one view with ``encrypted=True`` and a problem
    (or EncryptedPackageError when ``require_readable``). Malformed WIM containers raise the WIM
    layer's WimError; malformed XML parts inside a readable WIM become problems on the view.
    """
    p = Path(path)
    if not p.is_file():
        raise FormatError("no such package file", where=str(p))
    wim, encrypted, tmp = open_package_wim(p, password)
    try:
        signature = find_signature(p, trusted_certs, password)
        if wim is None:
            if require_readable:
                raise EncryptedPackageError(f"{p} is encrypted",
                                            hint="give its password with --password-file or --password-env")
            return [PackageView(path=str(p), encrypted=True, signature=signature, size=p.stat().st_size,
                                problems=("the package is encrypted: give its password (--password-file or "
                                          "--password-env) to see its contents",))]
        count = int(wim.image_count)
        views = []
        for i in range(1, count + 1):
            views.append(build_view(str(p), wim.image(i), image_index=i, image_count=count, encrypted=encrypted,
                                    signature=signature, show_secrets=show_secrets, size=p.stat().st_size))
        return views
    finally:
        close = getattr(wim, "close", None)
        if close:
            with contextlib.suppress(Exception):
                close()
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def find_signature(package: Path, trusted_certs: Iterable[bytes] = (), password: str | None = None) -> Signature:
    """The package's detached catalog (security.verify.find_catalog) verified as ``verify`` does
    (security.verify.verify_file: the same bytes, the decrypted form with the password)."""
    from ppkgtool.security.verify import find_catalog, verify_file
    cat = find_catalog(package)
    if cat is None:
        return Signature(catalog=None, state="unsigned", reason="no catalog (.cat) beside the package")
    certs = []
    for t in trusted_certs:
        if isinstance(t, (bytes, bytearray)):
            try:
                t = _load_der_or_pem(bytes(t))
            except (ValueError, binascii.Error):
                raise FormatError("a trusted certificate is neither PEM nor DER") from None
        certs.append(t)
    try:
        verdict = verify_file(package, cat.read_bytes(), certs, password=password)
    except PpkgError as exc:
        return Signature(catalog=str(cat), state="tampered", trusted=False, reason=exc.one_line())
    state = str(getattr(verdict, "verdict", "unknown"))
    signer = getattr(verdict, "signer", None)
    signer_text = None
    if isinstance(signer, dict):
        signer_text = signer.get("subject")
        if signer.get("thumbprint"):
            signer_text = f"{signer_text} (thumbprint {signer['thumbprint']})"
    elif signer is not None:
        signer_text = str(signer)
    return Signature(catalog=str(cat), state=state, signer=signer_text, trusted=state == "trusted",
                     reason=getattr(verdict, "reason", None))


# --- one image -----------------------------------------------------------------------------------

def build_view(path: str, image, *, image_index: int = 1, image_count: int = 1, encrypted: bool = False,
               signature: Signature | None = None, show_secrets: bool = False,
               size: int | None = None) -> PackageView:
    """Read one WIM image (an object with .properties, .files(), .read(path) [, .open(path)])."""
    img = _Image(image)
    problems: list[str] = []
    props = tuple((str(k), "" if v is None else str(v)) for k, v in dict(image.properties).items())

    # customizations.xml (the source the builder embedded) ------------------------------------
    config, settings, targets, command_names = None, (), (), {}
    cust_paths = sorted(p for p in img.entries if re.fullmatch(r"(?i)Multivariant/\d+/customizations\.xml", p))
    for cp in cust_paths[:1]:
        try:
            read = read_customizations(img.read(cp), cp)
        except FormatError as exc:
            problems.append(f"{cp}: {exc.one_line()}")
        else:
            config, settings, targets = read.config, read.settings, read.targets
            command_names = dict(read.command_names)
            problems.extend(read.problems)
    if not cust_paths:
        problems.append("no Multivariant/<n>/customizations.xml: settings are reconstructed from the compiled "
                        "provxml files")

    # compiled configuration sets ------------------------------------------------------------
    sets = _named_conditions(read_configuration_sets(img, problems), targets)

    # settings as Windows applies them: from the compiled side, named by the settings model;
    # customizations.xml is the annotation (checked against it below) ---------------------------
    source_settings = tuple(settings)
    compiled = compiled_entries(sets, source_paths={_unkeyed(s.path) for s in source_settings})
    if compiled:
        settings = settings_from_compiled(compiled)
        if not targets:
            targets = tuple(dict.fromkeys(cs.condition for cs in sets if cs.condition))
    elif config is None and not settings:
        settings = ()
    else:
        settings = _apply_compiled_scope(settings, sets)

    # files -------------------------------------------------------------------------------------
    assets: dict[str, str] = {}      # image path -> setting path
    da = img.find("DataAsset/DataAsset.xml")
    if da is not None:
        try:
            for index, _name, key, setting_path in parse_data_asset(img.read(da), da):
                ap = _norm(f"DataAsset/{index}/{key}")
                if ".." in ap.split("/"):
                    problems.append(f"{da}: asset key {key!r} is not a plain path")
                    continue
                found = img.find(ap)
                if found is None:
                    problems.append(f"{da}: asset {ap} is listed but missing from the package")
                else:
                    assets[found] = setting_path
        except FormatError as exc:
            problems.append(exc.one_line())
    files: list[EmbeddedFile] = []
    heads: dict[str, bytes] = {}
    for fp in sorted(img.entries):
        digest, head = img.sha256_and_head(fp)
        heads[fp] = head
        role = "asset" if fp in assets or fp.lower().startswith("dataasset/") and not fp.lower().endswith(
            "dataasset.xml") else ("part" if fp.lower().endswith((".xml", ".provxml")) else "other")
        problem = _asset_hash_problem(fp, digest) if role == "asset" else None
        if problem:
            problems.append(problem)
        files.append(EmbeddedFile(path=fp, size=img.sizes.get(fp, 0), sha256=digest, role=role,
                                  kind=H.file_kind(fp.rsplit("/", 1)[-1], head), setting=assets.get(fp),
                                  problem=problem))

    source_check = None
    if cust_paths and compiled:
        source_check = check_source(img, cust_paths[0], compiled)
    odj_policies: list[PolicySource] = []
    commands = _commands(sets, source_settings or settings, assets, img, show_secrets, problems, command_names, odj_policies)
    certificates = _certificates(sets, source_settings or settings, assets, img, problems)
    policies = _registry_policies(files, heads, commands, img, problems) + tuple(odj_policies)
    return PackageView(path=path, image_index=image_index, image_count=image_count, properties=props,
                       config=config, encrypted=encrypted, signature=signature or Signature(),
                       settings=tuple(settings), configuration_sets=tuple(sets), files=tuple(files),
                       commands=commands, certificates=certificates, targets=tuple(targets),
                       problems=tuple(problems), size=size, policies=policies, compiled=compiled,
                       source_settings=source_settings, source_check=source_check)


def read_configuration_sets(img: "_Image", problems: list[str]) -> list[ConfigurationSet]:
    """Every ConfigurationSet of every Multivariant/<n> source (MasterDatastore.xml -> RunTime.xml /
    User_RunTime.xml -> provxml), with its parms and condition; broken parts become ``problems``."""
    sets: list[ConfigurationSet] = []
    mv_dirs = sorted({p.split("/")[1] for p in img.entries if re.fullmatch(r"(?i)Multivariant/\d+/.+", p)},
                     key=lambda s: int(s) if s.isdigit() else 0)
    if not mv_dirs:
        problems.append("no Multivariant/<n>/ folder: the package holds no compiled settings")
    for mv in mv_dirs:
        base = f"Multivariant/{mv}"
        prov = f"{base}/Prov"
        sources: tuple[tuple[str, str], ...] = ()
        md = img.find(f"{base}/MasterDatastore.xml")
        if md is None:
            problems.append(f"{base}/MasterDatastore.xml is missing: looking for Prov/RunTime.xml directly")
        else:
            try:
                sources = parse_master_datastore(img.read(md), md)
            except FormatError as exc:
                problems.append(exc.one_line())
        if not sources:
            sources = tuple((n, f"$(_prov)\\{n}.xml") for n in ("RunTime", "User_RunTime")
                            if img.find(f"{prov}/{n}.xml"))
            if not sources:
                problems.append(f"{prov}/RunTime.xml is missing: no compiled settings in {base}")
        for name, spath in sources:
            rp = resolve_prov_path(spath, prov)
            found = img.find(rp) if rp else None
            if found is None:
                problems.append(f"{rp or spath}: configuration source {name!r} is missing")
                continue
            try:
                entries = parse_configuration_source(img.read(found), found)
            except FormatError as exc:
                problems.append(exc.one_line())
                continue
            default_scope = SCOPE_USER if name.lower().startswith("user") else SCOPE_DEVICE
            for attrs, cond in entries:
                data = attrs.get("Data", "")
                fp = resolve_prov_path(data, prov)
                fpath = img.find(fp) if fp else None
                parms, problem = (), None
                if fpath is None:
                    problem = f"{data}: file named by {found} is missing" if fp else f"{data}: unsafe path"
                elif attrs.get("Type", "provxml").lower() == "provxml":
                    try:
                        parms = parse_provxml(img.read(fpath), fpath, default_scope)
                    except FormatError as exc:
                        problem = exc.one_line()
                if problem:
                    problems.append(problem)
                scope = SCOPE_USER if any(pp.scope == SCOPE_USER for pp in parms) else default_scope
                sets.append(ConfigurationSet(source=name, settings_group=attrs.get("SettingsGroup", ""),
                                             data=data, file=fpath or fp, type=attrs.get("Type", ""),
                                             scope=scope, condition=cond, parms=parms, problem=problem))

    return sets


def _named_conditions(sets: list[ConfigurationSet], targets) -> list[ConfigurationSet]:
    """Compiled conditions named by the source's targets: a ProfileSet by its ProfileID, a Variant's
    ConfigurationSet by the target state it carries (customizations.xml is the annotation)."""
    if not targets:
        return sets

    def norm(state) -> frozenset:
        return frozenset((n.lower(), v) for n, v in state)

    out = []
    for cs in sets:
        cond = cs.condition
        if cond is not None:
            attrs = dict(x for st in cond.states for x in st)
            hit = next((t for t in targets if attrs.get("ProfileID") == t.target_id), None)
            if hit is None:
                mine = {norm(st) for st in cond.states}
                hit = next((t for t in targets if mine and mine <= {norm(st) for st in t.states}), None)
            if hit is not None:
                cs = dataclasses.replace(cs, condition=hit)
        out.append(cs)
    return out


class _Files:
    """A file mapping (a compiled PackageTree's bytes) seen as a WIM image by _Image."""

    def __init__(self, files: dict):
        self._files = {p: v for p, v in files.items() if isinstance(v, bytes)}

    def files(self):
        return [type("F", (), {"path": p, "size": len(v)})() for p, v in self._files.items()]

    def read(self, path: str) -> bytes:
        return self._files[path]


def compiled_entries(sets, *, model=None, source_paths=()) -> tuple[CompiledEntry, ...]:
    """Every parm of every configuration set, named by the settings model (store.name_compiled).
    A node two settings compile to is named by the parm's SettingsPath, else by the one
    customizations.xml sets (``source_paths``, key-less)."""
    from ppkgtool.package.catalogue import learned_name
    from ppkgtool.package.store import name_compiled
    out = []
    for cs in sets:
        for p in cs.parms:
            prefer = ((p.settings_path,) if p.settings_path else ()) + tuple(source_paths)
            hit = name_compiled(p.scope, p.characteristic, p.name, p.value or "", first=model, prefer=prefer) \
                if p.value is not None else None
            secret = p.secret or ("secret setting" if hit is not None and hit.secret else None)
            learned = learned_name(p.characteristic, p.name, p.value) if hit is None else None
            setting = hit.setting if hit else (learned[0] if learned else None)
            label = hit.label if hit else (learned[1] if learned else None)
            out.append(CompiledEntry(scope=p.scope, characteristic=p.characteristic, parm=p.name, value=p.value,
                                     datatype=p.datatype, condition=cs.condition, provxml=cs.file or cs.data,
                                     setting=setting, label=label,
                                     keys=hit.keys if hit else (), secret=secret, settings_path=p.settings_path,
                                     instance=hit.instance if hit else None,
                                     setting_value=hit.value if hit else None,
                                     companion=hit is None and learned is not None and p.characteristic[:2] == (
                                         "Provisioning", "ForceSettingReload")))
    return tuple(out)


MAX_RECOMPILE_ASSET = 1 << 20     # assets read to recompile (certificates, PFX); bigger ones by name only


def check_source(img: _Image, cust_path: str, compiled) -> SourceCheck:
    """Recompile the package's own customizations.xml and compare it with what the package compiled.

    The models are tried newest first (store.naming_decompilers order); the first that accepts the
    source decides. A difference is what a security reviewer must see: the provxml Windows applies
    was changed after the build, or was never built from this source. DataAsset parms are compared
    by setting only (their names hold content hashes).
    """
    from ppkgtool.package.catalogue import load_catalogue
    from ppkgtool.package.compiler import compile_package
    from ppkgtool.package.customizations import parse_customizations
    from ppkgtool.package.store import builtin_models
    try:
        cust = parse_customizations(img.read(cust_path), source_name=cust_path)
    except PpkgError as exc:
        return SourceCheck("not-checked", f"customizations.xml does not parse: {exc.one_line()}")
    assets = {}
    for path in img.entries:
        if path.lower().startswith("dataasset/") and not path.lower().endswith("dataasset.xml"):
            name = path.rsplit("/", 1)[-1]
            assets[name] = img.read(path) if img.sizes.get(path, 0) <= MAX_RECOMPILE_ASSET else b""
    default, models = builtin_models()
    order = [models[default]] + [m for n, m in reversed(list(models.items())) if n != default]
    tree = None
    last = None
    for m in order:
        try:
            tree = compile_package(cust, catalogue=load_catalogue(model=m), assets=assets,
                                   runtime_layout="wcd")      # the layout changes no parm
            break
        except PpkgError as exc:
            last = exc
    if tree is None:
        return SourceCheck("not-checked", f"customizations.xml does not compile with any builtin settings store "
                                          f"({last.one_line() if last else 'no store'})")
    rebuilt = read_configuration_sets(_Image(_Files(tree.files)), [])
    ours = [_comparable(p, cs.condition) for cs in rebuilt for p in cs.parms]
    theirs = [_comparable(c, c.condition) for c in compiled]
    missing = _multiset_minus(theirs, ours)      # compiled in the package, not from its source
    extra = _multiset_minus(ours, theirs)        # in the source, not compiled in the package
    if not missing and not extra:
        return SourceCheck("matches", f"customizations.xml compiles to exactly the package's settings "
                                      f"({tree.settings_store['name'] if tree.settings_store else 'builtin'})")
    return SourceCheck("differs", "customizations.xml does not match the settings Windows applies",
                       tuple(_node_text(x) for x in missing), tuple(_node_text(x) for x in extra))


def _comparable(p, condition) -> tuple:
    ch = tuple(p.characteristic)
    cond = tuple(sorted(x for st in condition.states for x in st)) if condition is not None else ()
    if ch[:2] == ("Provisioning", "Assets"):
        return (p.scope, ch[:2] + ch[3:], "<asset>", "<file>", p.datatype, cond)
    name = p.parm if isinstance(p, CompiledEntry) else p.name
    return (p.scope, ch, name, p.value, p.datatype, cond)


def _multiset_minus(a: list, b: list) -> list:
    left = list(b)
    out = []
    for x in a:
        if x in left:
            left.remove(x)
        else:
            out.append(x)
    return out


def _node_text(x: tuple) -> str:
    scope, ch, parm, value, _dt, _cond = x
    return f"{'/'.join(ch + (parm,))} = {value!r}" + (" (per user)" if scope == SCOPE_USER else "")


def settings_from_compiled(compiled) -> tuple[Setting, ...]:
    """The settings Windows applies, from the compiled side: one per named compiled parm (keyed path
    and customizations-form value), a CSP-like path for a node no model knows; companions skipped."""
    out = []
    for c in compiled:
        if c.companion:
            continue
        path = c.instance or c.setting or csp_to_settings_path(c.node)
        value = c.setting_value if c.instance else c.value
        secret = c.secret or H.secret_kind(path)
        out.append(Setting(path=path, value=value, scope=c.scope, condition=c.condition, secret=secret,
                           origin=c.provxml or "provxml", node=f"{c.scope}:{c.node}"))
    return tuple(out)


def _settings_through_catalogue(img: _Image, sets) -> tuple[Setting, ...]:
    """Customizations paths and values rebuilt from the provxml by the settings catalogue
    (ppkgtool.package.export); () when that is not possible, so the caller falls back to CSP paths."""
    try:
        from ppkgtool.package.export import settings_from_package
    except ImportError:
        return ()
    files = {}
    for cs in sets:
        if cs.file and cs.problem is None and cs.file in img.entries:
            files[cs.file] = img.read(cs.file)
    for name in ("RunTime.xml", "User_RunTime.xml", "MasterDatastore.xml"):
        for p in img.entries:
            if p.endswith("/" + name) and p.lower().startswith("multivariant/"):
                files[p] = img.read(p)
    try:
        found = settings_from_package(files, prefer_embedded=False)
    except (PpkgError, ValueError, KeyError, TypeError):
        return ()
    out = []
    for sv in found:
        path = sv.instance or sv.path       # the one keyed-path form (customizations.instance_path)
        if not path:
            continue
        scope = SCOPE_USER if str(getattr(sv, "scope", "")).lower() == "user" else SCOPE_DEVICE
        secret = H.secret_kind(path) or ("password" if getattr(sv, "secret", False) else None)
        out.append(Setting(path=path, value=None if sv.value is None else str(sv.value), scope=scope,
                           secret=secret, origin=str(getattr(sv, "source_file", "") or "provxml")))
    return tuple(out)


def _unkeyed(path: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", path)


def _file_form(path: str) -> str:
    """'Accounts/Users/User[@UserName=admin]/Password' -> 'Accounts_Users_admin_Password' (provxml names)."""
    segs = []
    for seg in path.split("/"):
        keys = segment_keys(seg)
        segs.append(next(iter(keys.values())) if len(keys) == 1 else seg)
    return "_".join(segs)


def _apply_compiled_scope(settings, sets) -> tuple[Setting, ...]:
    """Settings compiled into a per-user source (User_RunTime, scope="User") are User scope [C]."""
    user_paths, user_names = set(), []
    for cs in sets:
        if cs.scope != SCOPE_USER:
            continue
        for p in cs.parms:
            if p.settings_path:
                user_paths.add(p.settings_path)
        name = (cs.file or cs.data).replace("\\", "/").rsplit("/", 1)[-1]
        m = re.fullmatch(r"\d+__(.+)\.provxml", name, re.I)
        if m:
            user_names.append(m.group(1))
    if not user_paths and not user_names:
        return tuple(settings)
    out = []
    for s in settings:
        form = _file_form(s.path)
        if _unkeyed(s.path) in user_paths or any(form == n or form.startswith(n + "_") for n in user_names):
            s = Setting(path=s.path, value=s.value, scope=SCOPE_USER, condition=s.condition, secret=s.secret,
                        origin=s.origin)
        out.append(s)
    return tuple(out)


def _asset_hash_problem(path: str, sha256_hex: str) -> str | None:
    """DataAsset folders are named '<k>_<base64(SHA-256) with / as .>' [C]; check the file against it."""
    parts = path.split("/")
    if len(parts) < 4:
        return None
    m = re.fullmatch(r"\d+_([A-Za-z0-9+.=]{43,44})", parts[2])
    if not m:
        return None
    try:
        named = base64.b64decode(m.group(1).replace(".", "/"), validate=True).hex()
    except (binascii.Error, ValueError):
        return None
    if named != sha256_hex:
        return f"{path}: content does not match the SHA-256 in its folder name (changed after the build?)"
    return None


# --- commands ------------------------------------------------------------------------------------

_CMD_RE = re.compile(r"^ProvisioningCommands/([^/]+)/[^/]+/(\d+)/([^/]+)$")
# Provisioning/Assets/{PackageID}//ProvisioningCommands/<ctx>/Command/<n>/CommandFile/<key> and
# …/Command/<n>/DependencyPackages/<d>/<key> (docs/formats/package-layout.md, "Assets" [C]/[I])
_CMD_ASSET_RE = re.compile(r"^Provisioning/Assets/[^/]+//?ProvisioningCommands/([^/]+)/Command/(\d+)/"
                           r"(CommandFile|DependencyPackages/\d+)/(.+)$")
_CUST_CMD_RE = re.compile(r"^ProvisioningCommands/([^/]+)/Command/(CommandConfig(?:\[[^\]]*\])*)/([^/]+)")


def _commands(sets, settings, assets, img: _Image, show_secrets: bool, problems: list[str],
              names: dict[tuple[str, int], str] | None = None,
              odj_policies: list[PolicySource] | None = None) -> tuple[Command, ...]:
    """Commands from the compiled parms (ProvisioningCommands/<ctx>/$(__PackageID)/<n>/…) [C], named
    from customizations.xml (CommandConfig Name, by position); from customizations.xml alone when
    nothing was compiled."""
    names = names or {}
    found: dict[tuple[str, int], dict] = {}

    def entry(ctx: str, idx: int) -> dict:
        return found.setdefault((ctx, idx), {"options": {}, "files": [], "dependencies": []})

    for cs in sets:
        for parm in cs.parms:
            m = _CMD_RE.match(parm.csp_path)
            if m:
                d = entry(m.group(1), int(m.group(2)))
                if m.group(3) == "CommandLine":
                    d["command_line"] = parm.value
                else:
                    d["options"][m.group(3)] = parm.value or ""
                continue
            m = _CMD_ASSET_RE.match(parm.csp_path)
            if m:
                d = entry(m.group(1), int(m.group(2)))
                is_file = m.group(3) == "CommandFile"
                if is_file:
                    d["command_file"] = parm.value
                setting_tail = f"/Command/{m.group(2)}/{m.group(3)}"
                hits = [ap for ap, sp in assets.items()
                        if ap.endswith("/" + _norm(m.group(4))) and sp.rstrip("/").endswith(setting_tail)]
                if not hits and is_file:
                    hits = [ap for ap in assets if ap.rsplit("/", 1)[-1] == parm.value]
                d["files" if is_file else "dependencies"].extend(hits)
    if not found:   # nothing compiled: the commands as customizations.xml lists them
        for s in settings:
            m = _CUST_CMD_RE.match(s.path)
            if not m or s.condition is not None:
                continue
            d = entry(m.group(1), segment_position(m.group(2)))
            field_name = m.group(3)
            if field_name == "CommandLine":
                d["command_line"] = s.value
            elif field_name == "CommandFile":
                d["command_file"] = s.value
            elif field_name != "DependencyPackages":
                d["options"][field_name] = s.value or ""
    out = []
    for (ctx, idx), d in sorted(found.items()):
        files = tuple(dict.fromkeys(d["files"]))
        odj, odj_part_lists = _odj_summary(d.get("command_line"), files, img, show_secrets, problems)
        cmd = Command(context=ctx, index=idx, name=names.get((ctx, idx)), command_line=d.get("command_line"),
                      command_file=d.get("command_file"), files=files,
                      options=tuple(sorted(d["options"].items())), odj=odj,
                      dependencies=tuple(dict.fromkeys(d["dependencies"])))
        out.append(cmd)
        if odj_policies is not None and odj is not None:
            for list_source, hive, values in odj_part_lists:
                odj_policies.append(PolicySource(source=odj["file"], kind=POLICY_ODJ, values=values, hive=hive,
                                                 carrier=cmd.label, list_source=list_source))
    return tuple(out)


def _odj_summary(command_line: str | None, files: tuple[str, ...], img: _Image, show_secrets: bool,
                 problems: list[str]) -> tuple[dict | None, list]:
    """Decode an ODJ blob a command carries (djoin /requestodj /loadfile <file>) [I: the carrier].

    Returns (summary, [(list source, root key, PolicyValues)]) — the latter for each element list of
    the blob's POLICY_PROVIDER parts (docs/formats/odj.md)."""
    if not files:
        return None, []
    is_djoin = bool(command_line and re.search(r"(?i)\bdjoin(\.exe)?\b", command_line))
    for fp in files:
        if img.sizes.get(fp, 0) > MAX_ODJ_BYTES:
            continue
        if not is_djoin and not fp.lower().endswith((".txt", ".odj", ".djoin", ".bin", ".blob")):
            continue
        try:
            from ppkgtool.odj import PolicyPart, load_blob
            from ppkgtool.odj.summary import ROOT_KEYS
        except ImportError:
            return None, []
        try:
            data = img.read(fp, MAX_ODJ_BYTES)
            blob = load_blob(data)
            summary = summarize(blob, show_secrets=show_secrets)
            summary = {"file": fp, **summary} if isinstance(summary, dict) else {"file": fp, "summary": summary}
        except PpkgError as exc:
            if is_djoin:
                problems.append(f"{fp}: the djoin command's file is not a valid ODJ blob: {exc.one_line()}")
            continue
        lists = []
        for part in blob.parts:
            if not isinstance(part.content, PolicyPart):
                continue
            for lst in part.content.element_lists:
                values = []
                for element in lst.elements:
                    try:
                        values.append(element.to_policy_value())
                    except PpkgError as exc:
                        problems.append(f"{fp}: POLICY_PROVIDER element not readable: {exc.one_line()}")
                lists.append((lst.source, ROOT_KEYS.get(lst.root_key_id, f"{lst.root_key_id:#x}"), tuple(values)))
        return summary, lists
    return None, []


# --- registry policy -----------------------------------------------------------------------------

_REG_HIVE_RE = re.compile(r'(?im)^\s*reg(?:\.exe)?\s+(?:add|delete)\s+"?(HK[A-Z_]+)\\')
_HIVES = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER", "HKU": "HKEY_USERS",
          "HKCR": "HKEY_CLASSES_ROOT"}


def _registry_policies(files, heads: dict[str, bytes], commands, img: _Image,
                       problems: list[str]) -> tuple[PolicySource, ...]:
    """Every Registry.pol among the package's assets (by name or 'PReg' signature), parsed with
    ppkgtool.regpol. The command that carries it (as CommandFile or Dependency) is named; when that
    command's script applies the values with reg.exe, the hive it writes to is shown [I]."""
    from ppkgtool.regpol import parse_registry_pol

    out = []
    for f in files:
        if f.role != "asset":
            continue
        if not f.path.lower().endswith(".pol") and not heads.get(f.path, b"").startswith(b"PReg"):
            continue
        carrier = next((c for c in commands if f.path in c.files or f.path in c.dependencies), None)
        hive = _script_hive(carrier, img) if carrier is not None else None
        label = carrier.label if carrier is not None else None
        try:
            values = tuple(parse_registry_pol(img.read(f.path, MAX_POL_BYTES)))
        except FormatError as exc:
            problems.append(f"{f.path}: not a readable Registry.pol: {exc.one_line()}")
            out.append(PolicySource(source=f.path, kind=POLICY_FILE, hive=hive, carrier=label,
                                    problem=exc.one_line()))
            continue
        out.append(PolicySource(source=f.path, kind=POLICY_FILE, values=values, hive=hive, carrier=label))
    return tuple(out)


def _script_hive(command: Command, img: _Image) -> str | None:
    """The hive a command's batch script writes with reg.exe (ppkgtool's --policy script), if one."""
    for fp in command.files:
        if not fp.lower().endswith((".cmd", ".bat")) or img.sizes.get(fp, 0) > MAX_SCRIPT_BYTES:
            continue
        try:
            text = img.read(fp, MAX_SCRIPT_BYTES).decode("utf-8", "replace")
        except FormatError:
            continue
        hives = {_HIVES.get(h.upper(), h.upper()) for h in _REG_HIVE_RE.findall(text)}
        if len(hives) == 1:
            return hives.pop()
    return None


# --- certificates --------------------------------------------------------------------------------

_CERT_KINDS = (("RootCertificates", "Root"), ("CACertificates", "CA"), ("ClientCertificates", "Client"),
               ("TrustedPeopleCertificates", "TrustedPeople"), ("TrustedProvisioners", "TrustedProvisioner"))


def _certificates(sets, settings, assets, img: _Image, problems: list[str]) -> tuple[Certificate, ...]:
    out: list[Certificate] = []
    seen_thumbs: set[str] = set()
    # compiled forms carry the certificate itself [C]: RootCATrustedCertificates/<Store>/<thumb>/EncodedCertificate
    pfx_passwords: dict[str, str] = {}
    for cs in sets:
        for parm in cs.parms:
            if parm.csp_path.startswith("ClientCertificateInstall/PFXCertInstall/") and parm.name == "PFXCertPassword":
                pfx_passwords[parm.csp_path.split("/")[2]] = parm.value or ""
    for cs in sets:
        for parm in cs.parms:
            parts = parm.csp_path.split("/")
            if parts[0] == "RootCATrustedCertificates" and parm.name == "EncodedCertificate" and parm.value:
                kind = {"Root": "Root", "CA": "CA", "TrustedPeople": "TrustedPeople"}.get(parts[1], parts[1])
                cert = _x509(parm.value, kind, parts[2] if len(parts) > 2 else None, cs.file)
                out.append(cert)
                if cert.thumbprint:
                    seen_thumbs.add(cert.thumbprint)
            elif tuple(parm.characteristic) == ("Provisioning", "TrustedProvisioners") and parm.value:
                # the store's form: ./Vendor/MSFT/Provisioning/TrustedProvisioners/<SHA-1> = the certificate [I]
                cert = _x509(parm.value, "TrustedProvisioner", parm.name, cs.file)
                out.append(cert)
                if cert.thumbprint:
                    seen_thumbs.add(cert.thumbprint)
            elif parts[0] == "ClientCertificateInstall" and parm.name == "PFXCertBlob" and parm.value:
                name = parts[2] if len(parts) > 2 else None
                out.append(_pfx(parm.value, name, pfx_passwords.get(name or ""), cs.file))
    # source forms: a certificate file as an asset, or a hash
    for s in settings:
        for folder, kind in _CERT_KINDS:
            if not s.path.startswith(f"Certificates/{folder}/"):
                continue
            keys = segment_keys(s.path.split("/")[2]) if s.path.count("/") >= 2 else {}
            name = keys.get("CertificateName") or keys.get("CertificateHash")
            if kind == "TrustedProvisioner" and "CertificateHash" in keys and s.path.count("/") == 2:
                if name and name.upper() not in seen_thumbs:
                    out.append(Certificate(kind=kind, name=name, thumbprint=name.upper().replace(" ", ""),
                                           source=s.origin))
            if not s.path.endswith("/CertificatePath") and not s.path.endswith("/TrustedProvisioner"):
                continue
            asset = next((ap for ap, sp in assets.items() if sp.strip("/").startswith(s.path.split("[")[0].split("/")[0])
                          and ap.rsplit("/", 1)[-1] == (s.value or "").replace("\\", "/").rsplit("/", 1)[-1]), None)
            if asset is None:
                continue
            try:
                data = img.read(asset, MAX_CERT_BYTES)
            except FormatError as exc:
                problems.append(exc.one_line())
                continue
            if kind == "Client":
                pw_path = s.path.rsplit("/", 1)[0] + "/CertificatePassword"
                pw = next((x.value for x in settings if x.path == pw_path), None)
                cert = _pfx(data, name, pw, asset)
            else:
                cert = _x509(data, kind, name, asset)
            if cert.thumbprint and cert.thumbprint in seen_thumbs:
                continue
            if cert.thumbprint:
                seen_thumbs.add(cert.thumbprint)
            out.append(cert)
    return tuple(out)


def _load_der_or_pem(data: bytes | str):
    from cryptography import x509

    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN" in raw:
        return x509.load_pem_x509_certificate(raw)
    try:
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        return x509.load_der_x509_certificate(base64.b64decode(raw, validate=False))


def _describe(cert, kind: str, name: str | None, source: str | None) -> Certificate:
    from cryptography.hazmat.primitives import hashes

    try:
        not_after = cert.not_valid_after_utc.isoformat()
    except AttributeError:  # pragma: no cover - older cryptography
        not_after = cert.not_valid_after.isoformat()
    return Certificate(kind=kind, name=name, subject=cert.subject.rfc4514_string(),
                       issuer=cert.issuer.rfc4514_string(), thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(),
                       not_after=not_after, source=source)


def _x509(data: bytes | str, kind: str, name: str | None, source: str | None) -> Certificate:
    try:
        return _describe(_load_der_or_pem(data), kind, name, source)
    except (ValueError, binascii.Error) as exc:
        return Certificate(kind=kind, name=name, source=source, problem=f"not a certificate: {exc}")


def _pfx(data: bytes | str, name: str | None, password: str | None, source: str | None) -> Certificate:
    from cryptography.hazmat.primitives.serialization import pkcs12

    raw = base64.b64decode(data) if isinstance(data, str) else data
    try:
        _key, cert, _extra = pkcs12.load_key_and_certificates(raw, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        return Certificate(kind="Client", name=name, source=source,
                           problem=f"PFX not readable with the password in the package: {type(exc).__name__}")
    if cert is None:
        return Certificate(kind="Client", name=name, source=source, problem="PFX holds no certificate")
    return _describe(cert, "Client", name, source)


# --- warnings ------------------------------------------------------------------------------------

def warnings_for(view: PackageView) -> list[Warning_]:
    """Everything a user should know before installing this package (heuristics.py rules)."""
    out: list[Warning_] = []
    if view.encrypted and not view.settings and not view.configuration_sets:
        out.append(Warning_("encrypted", H.INFO, "package is encrypted; contents not shown without its password"))
    owner, _rank = view.owner_rank
    for claim in {x.name for x in (owner, view.declared[0]) if x is not None}:
        if claim in H.OWNER_CLAIMS:
            sev, msg = H.OWNER_CLAIMS[claim]
            out.append(Warning_(f"owner-claims-{claim.lower()}", sev, msg, "ALTITUDE/OwnerType"))
    mismatch = view.altitude_mismatch()
    if mismatch:
        out.append(Warning_("altitude-mismatch", H.MEDIUM, mismatch, "ALTITUDE"))
    if view.prop("ALTITUDE") is not None and view.altitude is None:
        out.append(Warning_("altitude-invalid", H.MEDIUM, "ALTITUDE is not a decimal number of at most 7 digits; "
                            "Windows will not open this package", "ALTITUDE"))
    elif view.altitude is not None and view.owner_rank[0] is None:
        out.append(Warning_("altitude-unknown-owner", H.MEDIUM,
                            f"ALTITUDE {view.altitude} fits no owner type (base 0-5000 plus rank 0-99)", "ALTITUDE"))
    sc = view.source_check
    if sc is not None and sc.state == "differs":
        detail = "; ".join([f"the package applies {x} that its source does not set" for x in sc.compiled_only[:3]] +
                           [f"its source sets {x} that the package does not apply" for x in sc.source_only[:3]])
        out.append(Warning_("source-compiled-mismatch", H.HIGH, f"{sc.message}: {detail} (Windows applies the "
                            "compiled provxml, never customizations.xml: the compiled values are shown)",
                            "Multivariant/0/customizations.xml"))
    elif sc is not None and sc.state == "not-checked":
        out.append(Warning_("source-not-checked", H.INFO, sc.message, "Multivariant/0/customizations.xml"))
    reported_secret_paths = set()
    for s in view.settings:
        if s.secret in H.CREDENTIAL_KINDS and s.value:
            out.append(Warning_("plain-text-credential", H.HIGH,
                                f"{s.secret} stored in plain text (anyone with the file can read it)", s.path))
            reported_secret_paths.add(s.path)
        for rule in H.SETTING_RULES:
            if rule.path.search(s.path) and (rule.value is None or rule.value.search(s.value or "")):
                out.append(Warning_(rule.code, rule.severity, rule.message, s.path))
    if not view.settings:  # no source: judge the compiled parms
        for cs in view.configuration_sets:
            for p in cs.parms:
                if p.secret in H.CREDENTIAL_KINDS and p.value:
                    out.append(Warning_("plain-text-credential", H.HIGH, f"{p.secret} stored in plain text",
                                        p.csp_path))
    for pol in view.policies:
        for v in pol.values:
            kind = policy_value_secret(v)
            if kind in H.CREDENTIAL_KINDS and v.value:
                out.append(Warning_("plain-text-credential", H.HIGH,
                                    f"{kind} stored in plain text in a registry policy ({v.key}\\{v.value_name})",
                                    pol.source))
    for c in view.commands:
        where = c.label
        line = c.command_line or ""
        for rule in H.COMMAND_SECRET_RULES:
            if rule.pattern.search(line):
                out.append(Warning_("plain-text-credential", H.HIGH,
                                    f"{rule.kind} written in a command line in plain text", where))
                break
        for rule in H.COMMAND_RULES:
            if rule.pattern.search(line):
                out.append(Warning_(rule.code, rule.severity, rule.message, where))
    for f in view.files:
        if f.kind in ("executable", "script"):
            out.append(Warning_(f"embedded-{f.kind}", H.MEDIUM if f.kind == "executable" else H.HIGH,
                                f"package embeds a{'n' if f.kind == 'executable' else ''} {f.kind} "
                                f"({f.size} bytes, SHA-256 {f.sha256})", f.path))
    for cert in view.certificates:
        if cert.problem:
            out.append(Warning_("certificate-unreadable", H.MEDIUM, cert.problem, cert.name or cert.source))
    sig = view.signature
    if sig.state == "unsigned":
        out.append(Warning_("unsigned", H.INFO, f"{sig.reason or 'unsigned'}: Windows asks for consent to "
                            "install it (unless policy forbids unsigned packages)", sig.catalog))
    elif sig.trusted is False:
        out.append(Warning_(f"signature-{sig.state}", H.MEDIUM if sig.state != "tampered" else H.HIGH,
                            f"signature {sig.state}: {sig.reason or ''}".rstrip(": "), sig.catalog))
    for problem in view.problems:
        out.append(Warning_("broken-part", H.MEDIUM, problem))
    return out


def view_document(view: PackageView, *, show_secrets: bool = False) -> dict:
    """The JSON document of one image (see docs/commands/inspect-rank-resolve.md)."""
    owner, rank = view.owner_rank
    declared_owner, declared_rank = view.declared
    notes = view.notes
    alt = view.altitude
    doc: dict[str, Any] = {
        "path": view.path,
        "image": view.image_index,
        "image_count": view.image_count,
        "size": view.size,
        "name": view.name,
        "id": view.package_id,
        "version": view.version,
        "description": view.prop("DESCRIPTION") if view.prop("DESCRIPTION") is not None
        else (view.config.description if view.config else None),
        "owner_type": owner.name if owner else None,
        "rank": rank,
        "altitude": alt,
        "altitude_split": ({"base": owner.base, "owner_type": owner.name, "rank": rank,
                            "text": f"{alt} = {owner.name} {owner.base} + rank {rank}"}
                           if owner is not None and alt is not None else None),
        "declared": {"owner_type": view.config.owner_type if view.config else None,
                     "rank": view.config.rank if view.config else None,
                     "owner_type_valid": declared_owner.name if declared_owner else None,
                     "rank_valid": declared_rank},
        "notes": notes.to_json() if notes else None,
        "builder_version": notes.builder_version if notes else None,
        "target_skus": notes.target_skus if notes else None,
        "properties": dict(view.properties),
        "encrypted": view.encrypted,
        "signature": view.signature.to_json(),
        "settings": [s.to_json(show_secrets) for s in view.settings],
        "settings_tree": settings_tree(view.settings, show_secrets),
        "configuration_sets": [c.to_json(show_secrets) for c in view.configuration_sets],
        "compiled": [c.to_json(show_secrets) for c in view.compiled],
        "source": view.source_check.to_json() if view.source_check else None,
        "files": [f.to_json() for f in view.files],
        "commands": [c.to_json(show_secrets) for c in view.commands],
        "certificates": [c.to_json() for c in view.certificates],
        "policies": [pol.to_json(show_secrets) for pol in view.policies],
        "conditions": [t.to_json() for t in view.targets],
        "problems": list(view.problems),
        "warnings": [w.to_json() for w in warnings_for(view)],
    }
    if not show_secrets:
        doc = scrub(doc, secret_values([view]))
    return doc


def inspect_document(views: list[PackageView], *, show_secrets: bool = False) -> dict:
    """One package file: the first image's fields at the top level, every image under "images"."""
    docs = [view_document(v, show_secrets=show_secrets) for v in views]
    if not show_secrets:  # a secret of one image must not leak through another
        docs = scrub(docs, secret_values(views))
    top = dict(docs[0])
    top["images"] = docs if len(docs) > 1 else []
    if len(docs) > 1:
        top["warnings"] = [w for d in docs for w in d["warnings"]]
    top["show_secrets"] = show_secrets
    return top


def settings_tree(settings: Iterable[Setting], show_secrets: bool = False) -> dict:
    """Settings as a nested dict (path segments as keys; leaves hold value and scope)."""
    tree: dict = {}
    for s in settings:
        node = tree
        parts = s.path.split("/")
        if s.condition is not None:
            parts = [f"[{s.condition.target_id}]"] + parts
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict) or "value" in nxt and set(nxt) <= {"value", "scope", "secret"}:
                nxt = node[part] = {"": nxt} if not isinstance(nxt, dict) else nxt
            node = nxt
        node[parts[-1]] = {"value": s.shown_value(show_secrets), "scope": s.scope, "secret": s.secret}
    return tree
