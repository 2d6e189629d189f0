"""The effective configuration of several packages: per setting, who wins and why.

Rules (docs/precedence.md):
- the package order of rank.py decides between packages;
- multivariant: each setting is resolved once for devices matching no condition (Common values
  only) and once per condition that any package uses for it (Common values plus that condition's
  values). Within one package a condition's value replaces its Common value (Microsoft's
  multivariant documentation); between packages precedence decides first [I];
- within one package a later duplicate of a setting replaces an earlier one [I];
- ProvisioningCommands are stored under each package's own ID ($(__PackageID)) and never override
  each other: they are listed per package, not resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ppkgtool.analysis.heuristics import REDACTED
from ppkgtool.analysis.model import Condition, PackageView, Setting, scrub, secret_values
from ppkgtool.analysis.rank import RankedPackage, rank_packages, why_wins


@dataclass(frozen=True)
class Override:
    package: str
    value: str | None
    reason: str
    condition: Condition | None = None
    path: str | None = None            # the setting that package set (another path to the same node)


@dataclass(frozen=True)
class ResolvedSetting:
    path: str
    condition: Condition | None        # None: devices matching no multivariant condition
    value: str | None
    package: str                       # winning package (label: file path [#image])
    scope: str
    secret: str | None
    from_condition: Condition | None   # the winner's own condition (None: its Common value)
    overridden: tuple[Override, ...] = ()
    node: str | None = None            # the CSP node (scope:characteristic/parm) the candidates compile to
    names: tuple[str, ...] = ()        # every setting path that reaches the node, winner first

    @property
    def area(self) -> str:
        return self.path.split("/", 1)[0]

    def to_json(self, show_secrets: bool = False) -> dict:
        def shown(v):
            return REDACTED if self.secret and v and not show_secrets else v
        return {"path": self.path, "condition": self.condition.describe() if self.condition else None,
                "value": shown(self.value), "package": self.package, "scope": self.scope, "secret": self.secret,
                "from_condition": self.from_condition.describe() if self.from_condition else None,
                "node": self.node, "settings": list(self.names or (self.path,)),
                "overridden": [{"package": o.package, "value": shown(o.value), "reason": o.reason,
                                "condition": o.condition.describe() if o.condition else None,
                                "path": o.path or self.path}
                               for o in self.overridden]}


@dataclass(frozen=True)
class Resolution:
    ranking: tuple[RankedPackage, ...]
    settings: tuple[ResolvedSetting, ...]
    per_package: tuple[tuple[str, Setting], ...]   # (package label, setting) never in conflict

    def conflicts(self) -> list[ResolvedSetting]:
        return [s for s in self.settings if s.overridden]

    def to_json(self, show_secrets: bool = False) -> dict:
        doc = {"packages": [r.to_json() for r in self.ranking],
               "settings": [s.to_json(show_secrets) for s in self.settings],
               "per_package": [{"package": label, **s.to_json(show_secrets)} for label, s in self.per_package],
               "conflicts": len(self.conflicts()),
               "ties": sorted({r.view.label for r in self.ranking if r.ties})}
        if not show_secrets:
            doc = scrub(doc, secret_values([r.view for r in self.ranking]))
        return doc


def resolve(views: Sequence[PackageView]) -> Resolution:
    ranking = rank_packages(views)
    # candidates[path] = [(rank entry, setting, seq)]; seq keeps file order inside a package
    candidates: dict[str, list[tuple[RankedPackage, Setting, int]]] = {}
    per_package: list[tuple[str, Setting]] = []
    for r in ranking:
        for seq, s in enumerate(r.view.settings):
            if s.per_package:
                per_package.append((r.view.label, s))
                continue
            # one CSP node is one setting on the device, whatever path set it (issue 16)
            candidates.setdefault(s.node or s.path, []).append((r, s, seq))
    out: list[ResolvedSetting] = []
    for key in sorted(candidates, key=lambda k: (min(c[1].path for c in candidates[k]), k)):
        cands = candidates[key]
        conditions: list[Condition | None] = [None]
        for _r, s, _seq in cands:
            if s.condition is not None and s.condition not in conditions:
                conditions.append(s.condition)
        for cond in conditions:
            usable = [c for c in cands if c[1].condition is None or c[1].condition == cond]
            if not usable:
                continue
            # larger key = wins: package position (1 highest), then a condition value beats Common,
            # then later in the file beats earlier
            ordered = sorted(usable, key=lambda c: (-c[0].position, c[1].condition is not None, c[2]),
                             reverse=True)
            win_r, win_s, _ = ordered[0]
            overridden = []
            for r, s, _seq in ordered[1:]:
                if r is win_r:
                    if s.condition is None and win_s.condition is not None:
                        reason = f"same package: the value for condition {win_s.condition.target_id} replaces " \
                                 f"the common value"
                    else:
                        reason = "same package: a later entry of the same setting replaces this one"
                else:
                    reason = why_wins(win_r, r)
                if s.value == win_s.value:
                    reason += " (same value)"
                overridden.append(Override(package=r.view.label, value=s.value, reason=reason,
                                           condition=s.condition, path=s.path if s.path != win_s.path else None))
            names = tuple(dict.fromkeys([win_s.path] + [s.path for _r, s, _q in ordered]))
            out.append(ResolvedSetting(path=win_s.path, condition=cond, value=win_s.value, package=win_r.view.label,
                                       node=win_s.node, names=names,
                                       scope=win_s.scope, secret=win_s.secret or next(
                                           (s.secret for _r, s, _q in usable if s.secret), None),
                                       from_condition=win_s.condition, overridden=tuple(overridden)))
    return Resolution(ranking=tuple(ranking), settings=tuple(out), per_package=tuple(per_package))
