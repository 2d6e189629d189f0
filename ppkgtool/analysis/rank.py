"""Package precedence: which of several packages wins (docs/precedence.md).

The rule [C for the order, I for the direction inside an owner type, see docs/precedence.md]:
1. owner type first: ITAdmin > MobileOperator > SystemIntegrator > OEM > SiliconVendor > Microsoft;
2. then rank 0-99, the higher rank winning within one owner type. Windows stores both as
   ALTITUDE = owner base + rank, so this is "the higher ALTITUDE wins";
3. exact ties (same ALTITUDE) [U, windows-itpro-docs #11808 unanswered]: ASSUMPTION - the package
   installed later wins (last writer); the order the packages are given in stands for the install
   order. Every tie is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ppkgtool.package.metadata import OwnerType

from ppkgtool.analysis.model import PackageView

TIE_RULE = ("assumption: at an exact tie (same owner type and rank) the package given later on the "
            "command line (installed later) wins; Microsoft does not document ties (windows-itpro-docs #11808)")


@dataclass(frozen=True)
class RankedPackage:
    """One package's place: position 1 is the highest precedence."""

    view: PackageView
    position: int
    order: int                       # where it was given (0-based): the tie-breaker
    owner_type: OwnerType | None
    rank: int | None
    altitude: int | None
    reason: str
    ties: tuple[str, ...] = ()       # labels of packages it ties with
    flags: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"position": self.position, "path": self.view.label, "file": self.view.path,
                "image": self.view.image_index, "name": self.view.name, "id": self.view.package_id,
                "owner_type": self.owner_type.name if self.owner_type else None, "rank": self.rank,
                "altitude": self.altitude, "reason": self.reason, "tie": bool(self.ties),
                "ties_with": list(self.ties), "flags": list(self.flags)}


def precedence_key(view: PackageView, order: int) -> tuple[int, int]:
    """Sort key, larger = higher precedence: (ALTITUDE, given order). No ALTITUDE sorts lowest."""
    alt = view.effective_altitude
    return (alt if alt is not None else -1, order)


def _describe(owner: OwnerType | None, rank: int | None, alt: int | None) -> str:
    if owner is not None:
        return f"{owner.name} rank {rank} (ALTITUDE {alt})"
    if alt is not None:
        return f"ALTITUDE {alt} (no known owner type)"
    return "no ALTITUDE and no owner type"


def compare_reason(higher: RankedPackage, lower: RankedPackage) -> str:
    """Why ``higher`` beats ``lower``, in words."""
    ho, hr, lo, lr = higher.owner_type, higher.rank, lower.owner_type, lower.rank
    if higher.altitude == lower.altitude:
        return (f"ties with {lower.view.label} ({_describe(ho, hr, higher.altitude)}); wins because it was "
                f"given later ({TIE_RULE})")
    if lower.altitude is None:
        return f"{_describe(ho, hr, higher.altitude)} beats {lower.view.label}, which has no ALTITUDE"
    if ho is not None and lo is not None and ho != lo:
        return (f"owner type {ho.name} ({ho.base}) outranks {lo.name} ({lo.base}) of {lower.view.label}: "
                f"owner type decides first")
    if ho is not None and ho == lo:
        return (f"same owner type {ho.name}: rank {hr} beats rank {lr} of {lower.view.label} "
                f"(the higher rank wins within an owner type)")
    return f"ALTITUDE {higher.altitude} is above {lower.altitude} of {lower.view.label}"


def rank_packages(views: Sequence[PackageView]) -> list[RankedPackage]:
    """The packages in precedence order, highest first, each with the reason for its place."""
    for v in views:
        if not isinstance(v, PackageView):
            raise TypeError("rank_packages takes PackageView values")
    indexed = sorted(enumerate(views), key=lambda iv: precedence_key(iv[1], iv[0]), reverse=True)
    prelim = []
    for pos, (order, v) in enumerate(indexed, start=1):
        owner, rank = v.owner_rank
        if v.altitude is None and owner is not None and rank is None:
            rank = 0
        alt = v.effective_altitude
        flags = []
        mismatch = v.altitude_mismatch()
        if mismatch:
            flags.append(mismatch)
        if v.altitude is None:
            flags.append("no valid ALTITUDE in the image: " + (
                f"ranked by customizations.xml OwnerType/Rank ({alt})" if alt is not None else "ranked lowest"))
        elif owner is None:
            flags.append(f"ALTITUDE {v.altitude} fits no owner type (base 0-5000 plus rank 0-99)")
        if v.locked:
            flags.append("encrypted: ALTITUDE unknown without the password")
        ties = tuple(w.label for o, w in indexed if w is not v and w.effective_altitude == alt)
        if ties:
            flags.append("tie: " + TIE_RULE)
        prelim.append(RankedPackage(view=v, position=pos, order=order, owner_type=owner, rank=rank, altitude=alt,
                                    reason="", ties=ties, flags=tuple(flags)))
    out = []
    for i, rp in enumerate(prelim):
        if i + 1 < len(prelim):
            reason = compare_reason(rp, prelim[i + 1])
            if i == 0:
                reason = "highest precedence: " + reason
        elif len(prelim) == 1:
            reason = "only package"
        else:
            reason = "lowest precedence: every package above overrides the settings they share with it"
        out.append(RankedPackage(**{**rp.__dict__, "reason": reason}))
    return out


def why_wins(winner: RankedPackage, loser: RankedPackage) -> str:
    """Short reason for a per-setting override (resolve)."""
    wo, lo = winner.owner_type, loser.owner_type
    if winner.altitude == loser.altitude:
        return f"tie at ALTITUDE {winner.altitude}: {winner.view.label} was given later (assumed installed later)"
    if loser.altitude is None:
        return f"{loser.view.label} has no ALTITUDE"
    if wo is not None and lo is not None and wo != lo:
        return f"owner type {wo.name} outranks {lo.name}"
    if wo is not None and wo == lo:
        return f"same owner type {wo.name}: rank {winner.rank} beats rank {loser.rank}"
    return f"ALTITUDE {winner.altitude} beats {loser.altitude}"
