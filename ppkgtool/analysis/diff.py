"""What changed between two packages: metadata, settings, files, commands, certificates, policies.

Settings are what Windows applies (the compiled side, named by the settings model: PackageView.settings)
keyed by (setting path, multivariant condition); ``source`` compares the packages' customizations.xml
settings, so a change that exists only in the source (the compiled content is the same) is reported
as such; files by image path (content by
SHA-256); commands by (context, Name) — their position is not what they are — and compared by what
they run (name, command line, file, options, dependency file names, ODJ summary); certificates by
(store kind, SHA-1 thumbprint) and compared by content (subject, issuer, expiry), not by the provxml
or name they are carried under; registry policy values by (kind, .pol file name or ODJ list source,
key, value name). Images are compared pairwise by
index (merged packages); an image present on one side only is reported as added or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ppkgtool.analysis.heuristics import REDACTED
from ppkgtool.analysis.model import PackageView, scrub, secret_values

#: The sections of a diff: (JSON name, singular label of one entry, the entry's key field). The one
#: home of the section names a report prints ("policies" -> "policy").
DIFF_SECTIONS = (("settings", "setting", "path"), ("files", "file", "path"), ("commands", "command", "command"),
            ("certificates", "certificate", "certificate"), ("policies", "policy", "policy"),
            ("source", "setting", "path"))

#: What a command is, compared between packages (its index only places it).
COMMAND_FIELDS = ("name", "command_line", "command_file", "options", "dependencies", "odj")
#: What a certificate is, compared between packages (same thumbprint = same certificate bytes).
CERTIFICATE_FIELDS = ("kind", "thumbprint", "subject", "issuer", "not_after", "problem")

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


def _section(a: dict, b: dict, show, same=lambda x, y: x == y) -> Section:
    added = tuple(show(k, None, b[k]) for k in b if k not in a)
    removed = tuple(show(k, a[k], None) for k in a if k not in b)
    changed = tuple(show(k, a[k], b[k]) for k in a if k in b and not same(a[k], b[k]))
    return Section(added, removed, changed)


def _content(d: dict, fields: Sequence[str]) -> dict:
    return {f: d.get(f) for f in fields}


def _commands(commands, show_secrets: bool) -> dict:
    """{(context, Name): the command's JSON} — a command without a Name (or a second one of the same
    Name) is keyed by its position, ``#<index>``. Dependencies by file name (their image paths carry
    the asset's position and digest; the digest is compared in the files section)."""
    out: dict[tuple[str, str], dict] = {}
    for c in commands:
        d = c.to_json(show_secrets)
        d["dependencies"] = [p.rsplit("/", 1)[-1] for p in d["dependencies"]]
        name = c.name if c.name and (c.context, c.name) not in out else f"#{c.index}"
        out[(c.context, name)] = d
    return out


def _pair_unnamed(a: dict, b: dict) -> tuple[dict, dict]:
    """A command named on one side only (its Name is in one package's customizations.xml, the
    compiled form has none) is the command at the same context and position on the other side."""
    unmatched = {(k[0], v["index"]): k for k, v in a.items() if k not in b}
    out: dict = {}
    for k, v in b.items():
        ka = unmatched.pop((k[0], v["index"]), None) if k not in a else None
        if ka is not None and not (a[ka]["name"] and v["name"]):
            out[ka] = v
        else:
            out[k] = v
    return a, out


def _certificates(certificates) -> dict:
    """{(kind, thumbprint): the certificate's JSON} (no thumbprint: its name, else its position)."""
    out: dict[tuple[str, str], dict] = {}
    for i, c in enumerate(certificates):
        out.setdefault((c.kind, c.thumbprint or c.name or f"#{i}"), c.to_json())
    return out


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

    ca, cb = _pair_unnamed(_commands(va.commands, show_secrets), _commands(vb.commands, show_secrets))

    def show_cmd(k, old, new):
        d = {"command": f"{k[0]}/{k[1]}", "context": k[0], "name": k[1]}
        if old:
            d["a"] = old
        if new:
            d["b"] = new
        if old and new:
            d["fields"] = [f for f in COMMAND_FIELDS if _content(old, COMMAND_FIELDS)[f] != _content(new, COMMAND_FIELDS)[f]]
        return d

    ta, tb = _certificates(va.certificates), _certificates(vb.certificates)

    def show_cert(k, old, new):
        d = {"certificate": k[1], "kind": k[0]}
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
                     files=_section(fa, fb, show_file),
                     commands=_section(ca, cb, show_cmd, same=lambda x, y: _content(x, COMMAND_FIELDS)
                                       == _content(y, COMMAND_FIELDS)),
                     certificates=_section(ta, tb, show_cert, same=lambda x, y: _content(x, CERTIFICATE_FIELDS)
                                           == _content(y, CERTIFICATE_FIELDS)),
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
