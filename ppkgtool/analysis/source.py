"""Does a package's customizations.xml compile to what the package applies? (issue 16)

Windows never reads customizations.xml: it applies RunTime.xml and the provxml they name. The source
is recompiled with the builtin settings models (newest first) and compared, parm by parm and with
the conditions, with the compiled content; a difference is a high-severity warning in inspect.
"""

from __future__ import annotations

from ppkgtool.analysis.compiled import read_configuration_sets
from ppkgtool.analysis.image import Files, Image
from ppkgtool.analysis.model import SCOPE_USER, CompiledEntry, SourceCheck
from ppkgtool.errors import PpkgError

MAX_RECOMPILE_ASSET = 1 << 20     # assets read to recompile (certificates, PFX); bigger ones by name only


def check_source(img: Image, cust_path: str, compiled) -> SourceCheck:
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
    rebuilt = read_configuration_sets(Image(Files(tree.files)), [])
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
