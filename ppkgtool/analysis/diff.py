"""What changed between two packages: metadata, settings, files, commands, certificates, policies.

Settings are what Windows applies (the compiled side, named by the settings model: PackageView.settings)
keyed by (setting path, multivariant condition); ``source`` compares the packages' customizations.xml
settings, so a change that exists only in the source (the compiled content is the same) is reported
as such; files by image path (content by
SHA-256); commands by (context, index); certificates by thumbprint; registry policy values by (kind,
.pol file name or ODJ list source, key, value name). Images are compared pairwise by
index (merged packages); an image present on one side only is reported as added or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ppkgtool.analysis.heuristics import REDACTED
from ppkgtool.analysis.model import PackageView, scrub, secret_values

METADATA_FIELDS = ("name", "id", "version", "owner_type", "rank", "altitude", "description", "builder_version",
                   "target_skus", "encrypt_package", "sign_package", "encrypted", "signature")


def _meta(v: PackageView) -> dict:
    owner, rank = v.owner_rank
    notes = v.notes
    return {"name": v.name, "id": v.package_id, "version": v.version, "owner_type": owner.name if owner else None,
            "rank": rank, "altitude": v.altitude, "description": v.prop("DESCRIPTION"),
            "builder_version": notes.builder_version if notes else None,
            "target_skus": notes.target_skus if notes else None,
            "encrypt_package": notes.encrypt_package if notes else None,
            "sign_package": notes.sign_package if notes else None,
            "encrypted": v.encrypted, "signature": v.signature.state}


@dataclass(frozen=True)
class Section:
    added: tuple[dict, ...] = ()
    removed: tuple[dict, ...] = ()
    changed: tuple[dict, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict:
        return {"added": list(self.added), "removed": list(self.removed), "changed": list(self.changed)}


def _section(a: dict, b: dict, show) -> Section:
    added = tuple(show(k, None, b[k]) for k in b if k not in a)
    removed = tuple(show(k, a[k], None) for k in a if k not in b)
    changed = tuple(show(k, a[k], b[k]) for k in a if k in b and a[k] != b[k])
    return Section(added, removed, changed)


@dataclass(frozen=True)
class ImageDiff:
    image: int
    metadata: tuple[dict, ...]
    settings: Section
    files: Section
    commands: Section
    certificates: Section
    only_in: str | None = None        # "a" or "b" when the image exists on one side only
    policies: Section = Section((), (), ())
    source: Section = Section((), (), ())    # customizations.xml settings (the annotation)

    @property
    def only_source_differs(self) -> bool:
        """The compiled content is the same; only the embedded customizations.xml differs."""
        return self.settings.empty and not self.source.empty

    @property
    def identical(self) -> bool:
        return not self.metadata and self.only_in is None and all(
            s.empty for s in (self.settings, self.files, self.commands, self.certificates, self.policies))

    def to_json(self) -> dict:
        return {"image": self.image, "only_in": self.only_in, "identical": self.identical,
                "metadata": list(self.metadata), "settings": self.settings.to_json(), "files": self.files.to_json(),
                "commands": self.commands.to_json(), "certificates": self.certificates.to_json(),
                "policies": self.policies.to_json(), "source": self.source.to_json(),
                "only_source_differs": self.only_source_differs}


def diff_views(a: PackageView | None, b: PackageView | None, *, show_secrets: bool = False,
               image: int = 1) -> ImageDiff:
    empty = PackageView(path="")
    va, vb = a or empty, b or empty
    ma, mb = _meta(va), _meta(vb)
    metadata = tuple({"field": f, "a": ma[f], "b": mb[f]} for f in METADATA_FIELDS if ma[f] != mb[f]) \
        if a is not None and b is not None else ()

    secret_paths = {s.path for s in (*va.settings, *vb.settings) if s.secret}

    def key(s):
        return (s.path, s.condition.describe() if s.condition else None)

    sa = {key(s): s.value for s in va.settings}
    sb = {key(s): s.value for s in vb.settings}
    srca = {key(s): s.value for s in va.source_settings}
    srcb = {key(s): s.value for s in vb.source_settings}
    secret_paths |= {s.path for s in (*va.source_settings, *vb.source_settings) if s.secret}

    def setting_shower(left: dict, right: dict):
        def show(k, old, new):
            hide = k[0] in secret_paths and not show_secrets
            d = {"path": k[0], "condition": k[1]}
            if old is not None or k in left:
                d["a"] = REDACTED if hide and old else old
            if new is not None or k in right:
                d["b"] = REDACTED if hide and new else new
            return d
        return show

    fa = {f.path: (f.size, f.sha256) for f in va.files}
    fb = {f.path: (f.size, f.sha256) for f in vb.files}

    def show_file(k, old, new):
        d = {"path": k}
        if old:
            d["a"] = {"size": old[0], "sha256": old[1]}
        if new:
            d["b"] = {"size": new[0], "sha256": new[1]}
        return d

    # commands are matched by their Name (CommandConfig Name=...), by position only when unnamed
    def command_key(c):
        return (c.context, c.name) if c.name else (c.context, f"#{c.index}")
    ca = {command_key(c): c.to_json(show_secrets) for c in va.commands}
    cb = {command_key(c): c.to_json(show_secrets) for c in vb.commands}

    def show_cmd(k, old, new):
        d = {"command": f"{k[0]}/{k[1]}"}
        if old:
            d["a"] = {x: old[x] for x in ("name", "command_line", "command_file", "options")}
        if new:
            d["b"] = {x: new[x] for x in ("name", "command_line", "command_file", "options")}
        return d

    # the same certificate is the same thumbprint; where it sits in the package (its provxml's numbered
    # file name) is not a change of the certificate
    def cert_fields(c) -> dict:
        return {k: v for k, v in c.to_json().items() if k != "source"}
    ta = {(c.thumbprint or c.name or str(i)): cert_fields(c) for i, c in enumerate(va.certificates)}
    tb = {(c.thumbprint or c.name or str(i)): cert_fields(c) for i, c in enumerate(vb.certificates)}

    def show_cert(k, old, new):
        d = {"certificate": k}
        if old:
            d["a"] = old
        if new:
            d["b"] = new
        return d

    def policy_values(view) -> dict:
        # keyed by where the value comes from (file name or ODJ list source), key and value name
        out = {}
        for pol in view.policies:
            origin = pol.list_source or pol.source.rsplit("/", 1)[-1]
            for v, d in zip(pol.values, pol.to_json(show_secrets)["values"]):
                out[(pol.kind, origin, v.key, v.value_name)] = {"type": d["type_name"], "value": d["value"]}
        return out

    def show_policy(k, old, new):
        d = {"kind": k[0], "source": k[1], "key": k[2], "value_name": k[3],
             "policy": f"{k[1]}: {k[2]}\\{k[3]}"}
        if old:
            d["a"] = old
        if new:
            d["b"] = new
        return d

    return ImageDiff(image=image, metadata=metadata, settings=_section(sa, sb, setting_shower(sa, sb)),
                     files=_section(fa, fb, show_file), commands=_section(ca, cb, show_cmd),
                     certificates=_section(ta, tb, show_cert),
                     policies=_section(policy_values(va), policy_values(vb), show_policy),
                     source=_section(srca, srcb, setting_shower(srca, srcb)),
                     only_in=None if (a is not None and b is not None) else ("a" if a is not None else "b"))


def diff_packages(a: Sequence[PackageView], b: Sequence[PackageView], *, show_secrets: bool = False) -> dict:
    """The JSON document of ``ppkgtool diff``."""
    images = []
    for i in range(max(len(a), len(b))):
        va = a[i] if i < len(a) else None
        vb = b[i] if i < len(b) else None
        images.append(diff_views(va, vb, show_secrets=show_secrets, image=i + 1))
    first = images[0].to_json() if images else {}
    doc = {"a": a[0].path if a else None, "b": b[0].path if b else None,
           "identical": all(d.identical for d in images), **{k: v for k, v in first.items() if k != "image"},
           "images": [d.to_json() for d in images] if len(images) > 1 else []}
    if not show_secrets:
        doc = scrub(doc, secret_values([*a, *b]))
    return doc
