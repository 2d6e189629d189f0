"""rank and resolve on real packages built for every owner type and for rank pairs.

The documented rule: owner type first (ITAdmin > MobileOperator > SystemIntegrator > OEM >
SiliconVendor > Microsoft), then the higher rank within an owner type; exact ties flagged, the
package given later winning them (our documented assumption).
"""

from __future__ import annotations

import itertools
import random

import pytest

from test_inspect_support import make_package, run_cli, run_json

OWNERS_LOW_TO_HIGH = ["Microsoft", "SiliconVendor", "OEM", "SystemIntegrator", "MobileOperator", "ITAdmin"]
BASE = {o: i * 1000 for i, o in enumerate(OWNERS_LOW_TO_HIGH)}
POLICIES = ("Browser/HomePages", "Browser/SetNewTabPageURL", "Bluetooth/LocalDeviceName")


def _value(owner: str, rank: int, policy: str) -> str:
    return f"{owner}-{rank}-{policy.split('/')[1]}"


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    """Six packages (one per owner type, rank 5) plus rank pairs (OEM 10/90, ITAdmin 0/99, Microsoft 1/2)."""
    d = tmp_path_factory.mktemp("owners")
    specs = [(o, 5) for o in OWNERS_LOW_TO_HIGH] + [("OEM", 10), ("OEM", 90), ("ITAdmin", 0), ("ITAdmin", 99),
                                                     ("Microsoft", 1), ("Microsoft", 2)]
    out = {}
    for owner, rank in specs:
        values = {p: _value(owner, rank, p) for p in POLICIES}
        out[(owner, rank)] = make_package(d, f"{owner}-{rank}", owner, rank, values)
    return out


def _expected_order(specs):
    return sorted(specs, key=lambda s: (BASE[s[0]], s[1]), reverse=True)


def test_rank_orders_owner_types_then_rank(packages):
    specs = list(packages)
    shuffled = specs[:]
    random.Random(8).shuffle(shuffled)
    ranked = run_json("rank", *[packages[s] for s in shuffled])
    got = [(r["owner_type"], r["rank"]) for r in ranked]
    assert got == _expected_order(specs)
    assert [r["altitude"] for r in ranked] == [BASE[o] + k for o, k in got]
    assert all(set(r) >= {"path", "name", "owner_type", "rank", "altitude", "reason"} for r in ranked)
    assert [r["path"] for r in ranked] == [str(packages[s]) for s in _expected_order(specs)]
    assert not any(r["tie"] for r in ranked)
    # reasons name the rule that decided each step
    first = ranked[0]
    assert first["owner_type"] == "ITAdmin" and first["rank"] == 99
    assert "rank 99 beats rank 5" in first["reason"]
    oem5 = next(r for r in ranked if (r["owner_type"], r["rank"]) == ("SystemIntegrator", 5))
    assert "owner type SystemIntegrator (3000) outranks OEM (2000)" in oem5["reason"]
    assert ranked[-1]["reason"].startswith("lowest precedence")


@pytest.mark.parametrize("pair", [
    *itertools.combinations([(o, 5) for o in OWNERS_LOW_TO_HIGH], 2),
    (("OEM", 10), ("OEM", 90)), (("ITAdmin", 0), ("ITAdmin", 99)), (("Microsoft", 1), ("Microsoft", 2)),
    (("OEM", 90), ("SystemIntegrator", 5)), (("ITAdmin", 0), ("MobileOperator", 5)),
])
def test_resolve_picks_the_documented_winner_for_every_pair(packages, pair):
    low, high = sorted(pair, key=lambda s: (BASE[s[0]], s[1]))
    for order in ((low, high), (high, low)):          # the order given never changes a non-tie
        doc = run_json("resolve", *[packages[s] for s in order])
        by_path = {s["path"]: s for s in doc["settings"]}
        for p in POLICIES:
            s = by_path[f"Policies/{p}"]
            assert s["value"] == _value(*high, p)
            assert s["package"] == str(packages[high])
            assert [o["package"] for o in s["overridden"]] == [str(packages[low])]
            assert s["overridden"][0]["value"] == _value(*low, p)
            reason = s["overridden"][0]["reason"]
            if high[0] != low[0]:
                assert reason == f"owner type {high[0]} outranks {low[0]}"
            else:
                assert reason == f"same owner type {high[0]}: rank {high[1]} beats rank {low[1]}"
        ranked = run_json("rank", *[packages[s] for s in order])
        assert [r["path"] for r in ranked] == [str(packages[high]), str(packages[low])]


def test_resolve_all_packages_names_every_overridden_package(packages):
    specs = list(packages)
    doc = run_json("resolve", *[packages[s] for s in reversed(specs)])
    order = _expected_order(specs)
    winner = order[0]
    for p in POLICIES:
        s = next(x for x in doc["settings"] if x["path"] == f"Policies/{p}")
        assert (s["value"], s["package"]) == (_value(*winner, p), str(packages[winner]))
        assert [o["package"] for o in s["overridden"]] == [str(packages[x]) for x in order[1:]]
        assert [o["value"] for o in s["overridden"]] == [_value(*x, p) for x in order[1:]]
    assert [p["path"] for p in doc["packages"]] == [str(packages[x]) for x in order]
    assert doc["conflicts"] == len(POLICIES)


def test_exact_tie_is_flagged_and_later_package_wins(tmp_path):
    a = make_package(tmp_path, "tie-a", "OEM", 7, {"Browser/HomePages": "A"})
    b = make_package(tmp_path, "tie-b", "OEM", 7, {"Browser/HomePages": "B"})
    for first, second in ((a, b), (b, a)):
        ranked = run_json("rank", first, second)
        assert [r["path"] for r in ranked] == [str(second), str(first)]
        assert all(r["tie"] for r in ranked)
        assert any("assumption" in f for f in ranked[0]["flags"])
        doc = run_json("resolve", first, second)
        s = doc["settings"][0]
        assert s["package"] == str(second)
        assert "tie at ALTITUDE 2007" in s["overridden"][0]["reason"]
        assert set(doc["ties"]) == {str(a), str(b)}
    code, _out, err = run_cli("rank", a, b)
    assert code == 0 and "tie" in err


def test_altitude_disagreeing_with_customizations_is_flagged(tmp_path):
    liar = make_package(tmp_path, "liar", "OEM", 3, {"Browser/HomePages": "liar"},
                        properties={"ALTITUDE": "5050"})
    honest = make_package(tmp_path, "honest", "SystemIntegrator", 1, {"Browser/HomePages": "honest"})
    ranked = run_json("rank", liar, honest)
    assert ranked[0]["path"] == str(liar)               # Windows uses ALTITUDE: ITAdmin 50
    assert (ranked[0]["owner_type"], ranked[0]["rank"]) == ("ITAdmin", 50)
    assert any("disagrees with customizations.xml OwnerType OEM Rank 3" in f for f in ranked[0]["flags"])
    assert ranked[1]["flags"] == []
    doc = run_json("inspect", liar)
    assert any(w["code"] == "altitude-mismatch" for w in doc["warnings"])


def test_resolve_multivariant_per_condition(tmp_path):
    from test_inspect_support import customizations_xml, policies, write_package

    extra = ("<Targets><Target Id=\"Fr\"><TargetState><Condition Name=\"Mcc\" Value=\"208\"/></TargetState></Target>"
             "</Targets><Variant><TargetRefs><TargetRef Id=\"Fr\"/></TargetRefs><Settings>"
             + policies({"Browser/HomePages": "oem-fr"}) + "</Settings></Variant>")
    oem = write_package(tmp_path / "oem.ppkg", customizations_xml(
        name="oem", owner="OEM", rank=0, common=policies({"Browser/HomePages": "oem-common"}), extra=extra))
    si = make_package(tmp_path, "si", "SiliconVendor", 0, {"Browser/HomePages": "sv"})
    it = make_package(tmp_path, "it", "ITAdmin", 0, {"Browser/SetNewTabPageURL": "it"})
    doc = run_json("resolve", si, oem, it)
    rows = {(s["path"], s["condition"]): s for s in doc["settings"]}
    plain = rows[("Policies/Browser/HomePages", None)]
    assert (plain["value"], plain["package"]) == ("oem-common", str(oem))
    assert [o["package"] for o in plain["overridden"]] == [str(si)]
    fr = rows[("Policies/Browser/HomePages", "Fr (Mcc=208)")]
    assert (fr["value"], fr["package"], fr["from_condition"]) == ("oem-fr", str(oem), "Fr (Mcc=208)")
    assert fr["overridden"][0]["package"] == str(oem)
    assert "replaces the common value" in fr["overridden"][0]["reason"]
    assert fr["overridden"][1]["package"] == str(si)
    assert rows[("Policies/Browser/SetNewTabPageURL", None)]["package"] == str(it)


def test_resolve_secrets_are_redacted(tmp_path):
    from test_inspect_support import customizations_xml, write_package

    users = ("<Accounts><Users><User UserName=\"admin\"><Password>{}</Password><UserGroup>Administrators</UserGroup>"
             "</User></Users></Accounts>")
    a = write_package(tmp_path / "a.ppkg", customizations_xml(name="a", owner="OEM", rank=0,
                                                              common=users.format("Low-Secret-1")))
    b = write_package(tmp_path / "b.ppkg", customizations_xml(name="b", owner="ITAdmin", rank=0,
                                                              common=users.format("High-Secret-2")))
    code, out, _ = run_cli("resolve", a, b, "--json")
    assert code == 0 and "Low-Secret-1" not in out and "High-Secret-2" not in out
    shown = run_cli("resolve", a, b, "--json", "--show-secrets")[1]
    assert "High-Secret-2" in shown and "Low-Secret-1" in shown


def test_resolve_commands_are_per_package(real_ppkg):
    doc = run_json("resolve", real_ppkg / "icd-cli-oobe.ppkg", real_ppkg / "wcd-gui-commands-msi.ppkg")
    assert not any(s["path"].startswith("ProvisioningCommands/") for s in doc["settings"])
    pkgs = {s["package"] for s in doc["per_package"]}
    assert pkgs == {str(real_ppkg / "icd-cli-oobe.ppkg"), str(real_ppkg / "wcd-gui-commands-msi.ppkg")}
    assert "Letmein#2024" not in str(doc)


def test_encrypted_package_needs_password_for_resolve(tmp_path, real_ppkg):
    from ppkgtool.security.encryption import encrypt_bytes

    enc = tmp_path / "enc.ppkg"
    enc.write_bytes(encrypt_bytes((real_ppkg / "icd-cli-oobe.ppkg").read_bytes(), "pw12345"))
    code, _out, err = run_cli("resolve", enc)
    assert code == 3 and "encrypted" in err
    doc = run_json("inspect", enc)
    assert doc["encrypted"] is True and doc["readable"] is False and "settings" not in doc
    assert "settings" in doc["unknown_without_password"]
    pwfile = tmp_path / "pw"
    pwfile.write_text("pw12345\n")
    doc = run_json("inspect", enc, "--password-file", pwfile)
    assert doc["encrypted"] is True and doc["name"] == "generic Windows 11 prep" and len(doc["settings"]) == 13
    assert "Letmein#2024" not in str(doc)
    pwfile.write_text("wrong\n")
    assert run_cli("inspect", enc, "--password-file", pwfile)[0] == 4
