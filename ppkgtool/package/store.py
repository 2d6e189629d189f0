"""WCD's settings store (``Microsoft-Desktop-Provisioning.dat``) and the project's JSON form of it.

The store is a registry hive (read with ``ppkgtool.regf``) whose key paths below the root are the
setting paths of customizations.xml (PROVENANCE.md, "wcd-store" [C]). A setting node is a key with
``Name`` and ``Type`` values; its subkeys ``Apply`` (``Csp``/``Registry`` targets, ``ApplyPasses``,
``ApplyAfterSetting``), ``Validation`` (``Minimum``/``Maximum``/``Pattern``/lengths, ``Values\\<compiled>``
with ``Display`` labels, and for files one empty subkey per allowed extension), ``Default\\<value>``
and ``Visibility`` (``DisplayName``, ``Private``) describe it. Description texts are Microsoft's and
are never read.

``read_store`` turns the hive into a :class:`~ppkgtool.package.settings.SettingsModel`;
``dumps_models``/``loads_models`` write and read the builtin form (several stores in one JSON
document, definitions shared between builds). Loading is done once per process per file digest
(``load_model``), never per setting.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from importlib import resources
from pathlib import Path
from typing import Mapping

from ppkgtool.errors import HiveError, PpkgError
from ppkgtool.package.settings import (ListLevel, ModelSource, SettingDefinition, SettingsError, SettingsModel,
                                       SettingType, Target)

MODEL_FORMAT = "ppkgtool-settings-model/1"
MAX_STORE_BYTES = 64 * 1024 * 1024       # real stores are ~3 MB
STORE_ENV = "PPKGTOOL_STORE_FILE"
BUILD_ENV = "PPKGTOOL_STORE_BUILD"
CACHE_ENV = "PPKGTOOL_CACHE_DIR"
_META_KEYS = {"apply", "validation", "default", "visibility"}
_CACHE: dict[str, SettingsModel] = {}
_LOCK = threading.Lock()


def read_store(data: bytes, *, source_name: str, build: str = "") -> SettingsModel:
    """Parse a settings store hive into a model (untrusted bytes: typed errors, size limit)."""
    from ppkgtool.regf import Hive
    if len(data) > MAX_STORE_BYTES:
        raise SettingsError(f"{source_name}: a settings store is at most {MAX_STORE_BYTES} bytes")
    try:
        hive = Hive(data)
        root = hive.root
        definitions: list[SettingDefinition] = []
        nodes: dict[str, int] = {}
        _walk(root, [], [], definitions, nodes, source_name)
    except HiveError as exc:
        raise SettingsError(f"{source_name}: not a readable settings store: {exc.message}") from None
    if not definitions:
        raise SettingsError(f"{source_name}: no settings found; is this Microsoft-Desktop-Provisioning.dat?")
    return SettingsModel(definitions, ModelSource(source_name, hashlib.sha256(data).hexdigest(), build), nodes)


def _values(key) -> dict:
    return {v.name: v.data for v in key.values()}


def _walk(key, path: list[str], lists: list[ListLevel], out: list, nodes: dict, source: str) -> None:
    for child in key.subkeys():
        if child.name.lower() in _META_KEYS and path:
            continue
        vals = _values(child)
        if "Type" not in vals or "Name" not in vals:
            continue
        try:
            typ = SettingType(int(vals["Type"]))
        except (ValueError, TypeError):
            raise SettingsError(f"{source}: setting {'/'.join(path + [child.name])} has unknown Type "
                                f"{vals['Type']!r}") from None
        cpath = path + [child.name]
        if typ.is_leaf:
            out.append(_definition(child, vals, cpath, tuple(lists), typ))
            continue
        nodes["/".join(cpath)] = int(typ)
        if typ in (SettingType.LIST, SettingType.KEYED_LIST):
            key_attr = str(vals.get("Key")) if typ is SettingType.KEYED_LIST and vals.get("Key") else None
            keys = _list_keys(child) if key_attr else ()
            # the list's item element is its child at the next level
            _walk(child, cpath, lists + [ListLevel(len(cpath), child.name, key_attr, keys)], out, nodes, source)
        else:
            _walk(child, cpath, lists, out, nodes, source)


def _list_keys(key) -> tuple[tuple[str, str], ...]:
    """A keyed list's allowed keys: ``Validation\\<compiled key>`` with ``Display`` (PROVENANCE.md) [C]."""
    for sub in key.subkeys():
        if sub.name.lower() == "validation":
            out = []
            for item in sub.subkeys():
                label = _values(item).get("Display")
                out.append((item.name, str(label) if label is not None else item.name))
            return tuple(out)
    return ()


def _definition(key, vals: Mapping, path: list[str], lists: tuple, typ: SettingType) -> SettingDefinition:
    target = None
    apply_passes = apply_after = None
    values: list[tuple[str, str]] = []
    extensions: list[str] = []
    default = minimum = maximum = pattern = display = None
    min_len = max_len = None
    private = False
    for sub in key.subkeys():
        low = sub.name.lower()
        if low == "apply":
            av = _values(sub)
            apply_passes = _int_or_none(av.get("ApplyPasses"))
            apply_after = av.get("ApplyAfterSetting")
            for t in sub.subkeys():
                tv = _values(t)
                if t.name.lower() == "csp" and tv.get("Path"):
                    target = Target("csp", str(tv["Path"]), _int_or_none(tv.get("Context")) == 1)
                elif t.name.lower() == "registry" and tv.get("Path") and target is None:
                    target = Target("registry", str(tv["Path"]))
        elif low == "validation":
            vv = _values(sub)
            minimum = _text_or_none(vv.get("Minimum"))
            maximum = _text_or_none(vv.get("Maximum"))
            pattern = _text_or_none(vv.get("Pattern"))
            min_len = _int_or_none(vv.get("MinLength"))
            max_len = _int_or_none(vv.get("MaxLength"))
            for s in sub.subkeys():
                if s.name.lower() == "values":
                    for item in s.subkeys():
                        label = _values(item).get("Display")
                        values.append((item.name, str(label) if label is not None else item.name))
                elif typ is SettingType.FILE:
                    extensions.append(s.name.lower())
        elif low == "default":
            subs = sub.subkeys()
            if subs:
                default = subs[0].name
        elif low == "visibility":
            vis = _values(sub)
            private = _int_or_none(vis.get("Private")) == 1
            display = _text_or_none(vis.get("DisplayName"))
    atomic_root = vals.get("AtomicRoot") if _int_or_none(vals.get("Atomic")) == 1 else None
    return SettingDefinition(
        path="/".join(path), type=typ, lists=lists, values=tuple(values), minimum=minimum, maximum=maximum,
        default=default, target=target, atomic_root=str(atomic_root).strip("/") if atomic_root else None,
        extensions=tuple(extensions), file_path=_text_or_none(vals.get("FilePath")),
        serialization=_int_or_none(vals.get("Serialization")), pattern=pattern, min_length=min_len,
        max_length=max_len, required=_int_or_none(vals.get("Required")) == 1, private=private,
        display_name=display, apply_passes=apply_passes, apply_after=_text_or_none(apply_after))


def _int_or_none(v) -> int | None:
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    return None


def _text_or_none(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        v = v[0] if v else ""
    return str(v)


# --- the builtin form: several stores in one document ---------------------------------------------

def dumps_models(models: Mapping[str, SettingsModel], *, provenance: Mapping[str, Mapping] | None = None) -> str:
    """Several models as one JSON document; identical definitions and list-key tables are written once."""
    table: list[dict] = []
    index: dict[str, int] = {}
    key_tables: list[list] = []
    key_index: dict[str, int] = {}
    builds = {}
    for name, model in models.items():
        refs = []
        for d in model:
            dj = d.to_json()
            for lv in dj.get("lists", ()):
                if len(lv) > 3:              # [position, list, key, keys] -> keys by reference
                    blob = json.dumps(lv[3])
                    if blob not in key_index:
                        key_index[blob] = len(key_tables)
                        key_tables.append(lv[3])
                    lv[3] = key_index[blob]
            blob = json.dumps(dj, sort_keys=True, ensure_ascii=False)
            if blob not in index:
                index[blob] = len(table)
                table.append(dj)
            refs.append(index[blob])
        builds[name] = {"source": dict((provenance or {}).get(name, {})), "nodes": model.nodes, "settings": refs}
    doc = {"format": MODEL_FORMAT, "default": list(models)[-1], "builds": builds, "definitions": table,
           "list_keys": key_tables}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"


def loads_models(data: bytes, *, origin: str) -> tuple[str, dict[str, SettingsModel]]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"{origin}: not a settings model document: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
        raise SettingsError(f"{origin}: not a {MODEL_FORMAT} document")
    key_tables = doc.get("list_keys", [])
    for d in doc["definitions"]:
        for lv in d.get("lists", ()):
            if len(lv) > 3 and isinstance(lv[3], int):
                if not 0 <= lv[3] < len(key_tables):
                    raise SettingsError(f"{origin}: {d.get('path')}: list key table {lv[3]} does not exist")
                lv[3] = key_tables[lv[3]]
    table = doc["definitions"]
    for d in table:
        if not isinstance(d, dict) or not isinstance(d.get("path"), str):
            raise SettingsError(f"{origin}: a setting definition without a path: {str(d)[:80]}")
    made: list[SettingDefinition | None] = [None] * len(table)

    def make(i: int) -> SettingDefinition:
        d = made[i]
        if d is None:
            d = made[i] = SettingDefinition.from_json(table[i])
        return d

    out = {}
    for name, b in doc["builds"].items():
        src = b.get("source", {})
        # the definitions are made as they are used (a build needs a few of them), shared by the builds
        out[name] = SettingsModel((), ModelSource(f"builtin {name}", str(src.get("sha256", "")), name),
                                  b.get("nodes", {}),
                                  lazy=((table[i]["path"], functools.partial(make, i)) for i in b["settings"]))
    return str(doc.get("default")), out


_BUILTIN: tuple[str, dict[str, SettingsModel]] | None = None


def builtin_models() -> tuple[str, dict[str, SettingsModel]]:
    """(default build name, {build name: model}) of the shipped data."""
    global _BUILTIN
    with _LOCK:
        if _BUILTIN is None:
            data = resources.files("ppkgtool").joinpath("data/settings-model.json").read_bytes()
            _BUILTIN = loads_models(data, origin="builtin settings model")
        return _BUILTIN


def is_builtin_default(model: SettingsModel) -> bool:
    """Whether ``model`` is the builtin default (the newest knowledge: facts learned from packages
    of newer WCD versions apply to it, catalogue.py)."""
    if not model.source.name.startswith("builtin "):
        return False
    default, models = builtin_models()
    return models.get(default) is model


_DECOMPILERS: dict[int, object] = {}


def naming_decompilers(first: SettingsModel | None = None):
    """Decompilers that name compiled parms, made as they are needed: ``first`` (a chosen store),
    then the builtin builds newest first, so a package built by any of those WCD versions gets its
    settings named."""
    from ppkgtool.package.settings import Decompiler
    default, models = builtin_models()
    order = ([first] if first is not None else []) + [models[default]] + \
        [m for name, m in reversed(list(models.items())) if name != default]
    seen: set[int] = set()
    for m in order:
        if id(m) in seen:
            continue
        seen.add(id(m))
        with _LOCK:
            dec = _DECOMPILERS.get(id(m))
            if dec is None or dec.model is not m:
                dec = _DECOMPILERS[id(m)] = Decompiler(m)
        yield dec


def name_compiled(scope: str, characteristic, parm: str, value: str, *, first: SettingsModel | None = None,
                  prefer=()):
    """The setting a compiled parm comes from (settings.Decompiled), by the first model that knows
    the node (``naming_decompilers``); None when no model does."""
    ch = tuple(characteristic)
    for dec in naming_decompilers(first):
        if len(ch) == 4 and ch[:2] == ("Provisioning", "Assets"):
            hit = dec.decompile_asset(ch[3], value)
        else:
            hit = dec.decompile(scope, ch, parm, value, prefer=prefer)
        if hit is not None:
            return hit
    return None


def builtin_builds() -> list[str]:
    return list(builtin_models()[1])


def load_model(store_file: os.PathLike | None = None, *, build: str | None = None) -> SettingsModel:
    """The model a build uses: ``store_file`` (icd.exe's /StoreFile:), else ``$PPKGTOOL_STORE_FILE``,
    else the builtin ``build`` (``$PPKGTOOL_STORE_BUILD``, default the newest)."""
    if store_file is None and build is None and os.environ.get(STORE_ENV):
        store_file = os.environ[STORE_ENV]
    if store_file is not None:
        p = Path(store_file)
        try:
            data = p.read_bytes() if p.stat().st_size <= MAX_STORE_BYTES else b"\0" * (MAX_STORE_BYTES + 1)
        except OSError as exc:
            raise SettingsError(f"cannot read settings store {p}: {exc.strerror}") from None
        digest = hashlib.sha256(data).hexdigest()
        with _LOCK:
            model = _CACHE.get(digest)
        if model is None:
            model = _from_disk_cache(digest, str(p))
            if model is None:
                model = read_store(data, source_name=str(p))
                _to_disk_cache(digest, model)
            with _LOCK:
                _CACHE[digest] = model
        return model
    default, models = builtin_models()
    name = build or os.environ.get(BUILD_ENV) or default
    if name not in models:
        raise SettingsError(f"no builtin settings store {name!r}", hint="builtin: " + ", ".join(models))
    return models[name]


def cache_dir() -> Path | None:
    """Where parsed stores are kept between processes, keyed by the store's SHA-256:
    ``$PPKGTOOL_CACHE_DIR``, else ``$XDG_CACHE_HOME/ppkgtool``, else ``~/.cache/ppkgtool``; an empty
    ``PPKGTOOL_CACHE_DIR`` turns the cache off."""
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or (str(Path.home() / ".cache") if Path.home() != Path("/") else "")
    return Path(base) / "ppkgtool" if base else None


def _cache_file(digest: str) -> Path | None:
    d = cache_dir()
    return d / f"settings-store-{digest}.json" if d else None


def _from_disk_cache(digest: str, source_name: str) -> SettingsModel | None:
    f = _cache_file(digest)
    if f is None or not f.is_file():
        return None
    try:
        _default, models = loads_models(f.read_bytes(), origin=str(f))
        (m,) = models.values()
    except (OSError, SettingsError, ValueError):
        return None          # a damaged cache entry is ignored and rewritten
    if m.source.sha256 != digest:
        return None
    return SettingsModel(m, ModelSource(source_name, digest, m.source.build), m.nodes)


def _to_disk_cache(digest: str, model: SettingsModel) -> None:
    f = _cache_file(digest)
    if f is None:
        return
    from ppkgtool.fsutil import write_bytes_atomic
    try:
        f.parent.mkdir(parents=True, exist_ok=True)
        doc = dumps_models({"store": model}, provenance={"store": {"sha256": digest}})
        write_bytes_atomic(f, doc.encode("utf-8"), overwrite=True)
    except (OSError, PpkgError):
        pass                 # the cache is an optimisation: a read-only home still builds


def models_with(path: str) -> list[str]:
    """The builtin builds that know a setting path (for 'exists in another store' messages)."""
    return [name for name, m in builtin_models()[1].items() if m.get(path) is not None]


__all__ = ["BUILD_ENV", "MODEL_FORMAT", "STORE_ENV", "builtin_builds", "builtin_models", "dumps_models",
           "load_model", "loads_models", "models_with", "name_compiled", "naming_decompilers", "read_store"]
