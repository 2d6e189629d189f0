"""Read a package (every image) into PackageViews: inspect's library side.

``load_package(path)`` opens the WIM (ppkgtool.wim), decrypts on request (ppkgtool.security),
verifies the detached catalog as ``verify`` does (security.verify.verify_file), and builds one view
per image: the compiled side (analysis.compiled), the source check (analysis.source), files,
commands and policies (analysis.commands), certificates (analysis.certificates). Every XML part is
read leniently (one problem per broken or missing part, never a crash). ``warnings_for(view)``
(analysis.warnings) applies heuristics.py; ``inspect_document(views)`` gives the JSON document
``ppkgtool inspect --json`` prints, with secrets redacted unless asked.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from ppkgtool.errors import EncryptedPackageError, FormatError, PpkgError, WimError

from ppkgtool.analysis import heuristics as H
from ppkgtool.analysis.model import (SCOPE_USER, EmbeddedFile, PackageView, PolicySource, Setting, Signature,
                                     parse_data_asset,
                                     read_customizations, scrub, secret_values)
from ppkgtool.analysis.certificates import _load_der_or_pem, read_certificates
from ppkgtool.analysis.commands import read_commands, registry_policies
from ppkgtool.analysis.image import Image, norm_path
from ppkgtool.package.customizations import keyless_path, segment_keys
from ppkgtool.analysis.compiled import (_named_conditions, compiled_entries, read_configuration_sets,
                                        settings_from_compiled)
from ppkgtool.analysis.source import check_source
from ppkgtool.analysis.warnings import warnings_for  # noqa: F401 - part of inspect's API



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
    from ppkgtool.fsutil import require_file
    p = require_file(path)
    wim, encrypted, tmp = open_package_wim(p, password)
    try:
        signature = find_signature(p, trusted_certs, password)
        if wim is None:
            if require_readable:
                raise EncryptedPackageError(f"{p} is encrypted",
                                            hint="give its password with --password-file or --password-env")
            return [PackageView(path=str(p), encrypted=True, signature=signature, size=p.stat().st_size)]
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
                     reason=getattr(verdict, "reason", None), notes=tuple(getattr(verdict, "notes", ())))


# --- one image -----------------------------------------------------------------------------------

def build_view(path: str, image, *, image_index: int = 1, image_count: int = 1, encrypted: bool = False,
               signature: Signature | None = None, show_secrets: bool = False,
               size: int | None = None) -> PackageView:
    """Read one WIM image (an object with .properties, .files(), .read(path) [, .open(path)])."""
    img = Image(image)
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
    compiled = compiled_entries(sets, source_paths={keyless_path(s.path) for s in source_settings})
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
                ap = norm_path(f"DataAsset/{index}/{key}")
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
    from ppkgtool.errors import UnsafePathError
    from ppkgtool.wim.safepath import check_component
    for fp in sorted(img.entries):          # the rule extract applies (wim.safepath), reported here
        try:
            for comp in str(img.entries[fp]).replace("\\", "/").strip("/").split("/"):
                check_component(comp, where=f"package entry {fp!r}")
        except UnsafePathError as exc:
            problems.append(f"{exc.one_line()}: extract refuses this package")
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
    commands = read_commands(sets, source_settings or settings, assets, img, show_secrets, problems, command_names, odj_policies)
    certificates = read_certificates(sets, source_settings or settings, assets, img, problems)
    policies = registry_policies(files, heads, commands, img, problems) + tuple(odj_policies)
    return PackageView(path=path, image_index=image_index, image_count=image_count, properties=props,
                       config=config, encrypted=encrypted, signature=signature or Signature(),
                       settings=tuple(settings), configuration_sets=tuple(sets), files=tuple(files),
                       commands=commands, certificates=certificates, targets=tuple(targets),
                       problems=tuple(problems), size=size, policies=policies, compiled=compiled,
                       source_settings=source_settings, source_check=source_check)


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
        if keyless_path(s.path) in user_paths or any(form == n or form.startswith(n + "_") for n in user_names):
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

#: what an encrypted package read without its password does not tell (view_document leaves these
#: keys out and lists them under "unknown_without_password")
UNKNOWN_WITHOUT_PASSWORD = ("image_count", "name", "id", "version", "description", "owner_type", "rank", "altitude",
                            "declared", "notes", "target_skus", "builder_version", "properties", "settings",
                            "configuration_sets", "compiled", "files", "commands", "certificates", "policies",
                            "conditions")
PASSWORD_HINT = "give the package password with --password-file FILE or --password-env NAME"


def view_document(view: PackageView, *, show_secrets: bool = False) -> dict:
    """The JSON document of one image (see docs/commands/inspect-rank-resolve.md)."""
    if view.locked:
        return {"path": view.path, "size": view.size, "encrypted": True,
                "readable": False, "unknown_without_password": list(UNKNOWN_WITHOUT_PASSWORD),
                "hint": PASSWORD_HINT, "signature": view.signature.to_json(), "problems": list(view.problems),
                "warnings": [w.to_json() for w in warnings_for(view)]}
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
        "target_skus_meaning": notes.target_skus_meaning if notes else None,
        "properties": dict(view.properties),
        "encrypted": view.encrypted,
        "readable": True,
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
