"""export: the package's own customizations.xml, or one rebuilt from provxml through the catalogue."""

from __future__ import annotations

import pytest

from build_helpers import REAL_PACKAGES, files_of, provxml_by_group, wimlib_extract
from ppkgtool.cli import main
from ppkgtool.package.compiler import compile_bytes
from ppkgtool.package.customizations import parse_customizations
from ppkgtool.package.export import export_customizations, settings_from_package


@pytest.fixture(scope="module")
def extracted(real_ppkg, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {n: wimlib_extract(real_ppkg / f"{n}.ppkg", root / n) for n in REAL_PACKAGES}


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_export_embedded_is_byte_exact(real_ppkg, tmp_path, name, extracted):
    out = tmp_path / "c.xml"
    assert main(["export", str(real_ppkg / f"{name}.ppkg"), "-o", str(out)]) == 0
    assert out.read_bytes() == (extracted[name] / "Multivariant/0/customizations.xml").read_bytes()


@pytest.mark.parametrize("name", REAL_PACKAGES)
def test_reconstruction_compiles_back_to_the_same_provxml(extracted, name, monkeypatch):
    if name == "wcd-itadmin-rank52":       # built by WCD 10.0.21382: the Windows 11 21H2 store's settings
        monkeypatch.setenv("PPKGTOOL_STORE_BUILD", "win11-21h2-2021-10")
    files = files_of(extracted[name])
    meta = parse_customizations(files["Multivariant/0/customizations.xml"], source_name=name).metadata
    embedded = settings_from_package(files)
    del files["Multivariant/0/customizations.xml"]
    rebuilt = settings_from_package(files)
    assert all(s.known for s in rebuilt)
    assert sorted((s.path, s.scope) for s in rebuilt) == sorted((s.path, s.scope) for s in embedded)
    xml, how = export_customizations(files, meta)
    assert how == "reconstructed"
    assets = {f.name: f.read_bytes() for f in (extracted[name] / "DataAsset").rglob("*")
              if f.is_file() and f.name != "DataAsset.xml"} if (extracted[name] / "DataAsset").exists() else {}
    tree = compile_bytes(xml, source_name="rebuilt.xml", assets=assets)
    assert provxml_by_group({p: v for p, v in tree.files.items() if isinstance(v, bytes)}) == provxml_by_group(files)


def test_export_settings_json(real_ppkg, capsys):
    import json
    assert main(["export", str(real_ppkg / "icd-cli-oobe.ppkg"), "--settings", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    paths = {s["path"]: s for s in doc["settings"]}
    assert paths["Policies/Experience/AllowCortana"]["value"] == "No"
    assert paths["Accounts/Users/User/Password"]["value"] == "<redacted>"
    assert main(["export", str(real_ppkg / "icd-cli-oobe.ppkg"), "--settings", "--reconstruct", "--json"]) == 0
    rec = {s["path"]: s for s in json.loads(capsys.readouterr().out)["settings"]}
    assert rec["Policies/Experience/AllowCortana"]["value"] == "No"     # the store's label of the compiled 0
    assert rec["Accounts/Users/User/UserGroup"]["value"] == "Administrators"


# --- one reader, two modes: strict (build) and lenient (inspect, export --lenient) ----------------

_PC = ("<PackageConfig xmlns=\"urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0\">"
       "<ID>{11111111-2222-3333-4444-555555555555}</ID><Name>n</Name>{rank}</PackageConfig>")


def _doc(customizations: str, rank: str = "<Rank>3</Rank>") -> bytes:
    return ("<WindowsCustomizations>" + _PC.replace("{rank}", rank)
            + "<Settings xmlns=\"urn:schemas-microsoft-com:windows-provisioning\"><Customizations>"
            + customizations + "</Customizations></Settings></WindowsCustomizations>").encode()


def test_lenient_mode_reads_what_strict_mode_refuses():
    from ppkgtool.errors import CustomizationsError

    data = _doc("<Common><Policies><Experience><AllowCortana>No</AllowCortana></Experience></Policies></Common>"
                "<Bogus/><Targets><Target Id=\"Fr\"><TargetState><Condition Name=\"Mcc\" Value=\"208\"/>"
                "</TargetState></Target></Targets><Variant><TargetRefs><TargetRef Id=\"Fr\"/></TargetRefs>"
                "<Settings><Policies><Experience><AllowCortana>Yes</AllowCortana></Experience></Policies>"
                "</Settings></Variant>", rank="<Rank>150</Rank>")
    with pytest.raises(CustomizationsError) as strict:
        parse_customizations(data, source_name="c.xml")
    assert "PackageConfig/Rank" in strict.value.message and strict.value.message.startswith("c.xml:1: ")
    cust = parse_customizations(data, source_name="c.xml", lenient=True)
    assert cust.metadata is None and dict(cust.package_config)["Rank"] == "150"
    assert cust.problems[0] == strict.value.message
    assert any("unexpected <Bogus>" in p for p in cust.problems)
    # settings_from_package: strict by default (as before), lenient on request; Variant settings
    # carry their targets instead of being dropped silently
    files = {"Multivariant/0/customizations.xml": data}
    with pytest.raises(CustomizationsError):
        settings_from_package(files)
    settings = settings_from_package(files, lenient=True)
    assert [(s.path, s.value, s.targets) for s in settings] == [
        ("Policies/Experience/AllowCortana", "No", ()), ("Policies/Experience/AllowCortana", "Yes", ("Fr",))]
    assert settings[1].to_json()["targets"] == ["Fr"]


def test_unsafe_xml_is_refused_in_both_modes():
    from ppkgtool.errors import CustomizationsError

    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><WindowsCustomizations>&e;</WindowsCustomizations>'
    for lenient in (False, True):
        with pytest.raises(CustomizationsError, match="DOCTYPE"):
            parse_customizations(evil, source_name="e.xml", lenient=lenient)
        with pytest.raises(CustomizationsError, match="WindowsCustomizations"):
            parse_customizations(b"<Other/>", source_name="o.xml", lenient=lenient)


def test_lenient_never_loosens_a_strict_error():
    """Bounded property test over generated customizations structures: whenever strict mode accepts
    a document, lenient mode reads exactly the same settings with no problems; whenever strict mode
    refuses one, lenient mode either refuses it too or lists strict mode's error as its first problem."""
    from hypothesis import given, settings as hsettings, strategies as st

    from ppkgtool.errors import CustomizationsError

    ids = st.sampled_from(["a", "b", "c"])
    maybe = lambda d: st.one_of(st.just({}), d)  # noqa: E731 - sometimes the attribute is missing
    node = lambda name, a, kids: st.builds(lambda at, k: (name, at, k), a, kids)  # noqa: E731
    setting = st.recursive(
        st.builds(lambda n, a: (n, a, []), st.sampled_from(["AllowCortana", "Password", "CommandLine"]),
                  st.dictionaries(st.sampled_from(["Name", "UserName"]), ids, max_size=1)),
        lambda kids: st.builds(lambda n, a, k: (n, a, k), st.sampled_from(["Policies", "Users", "User", "Command"]),
                               st.dictionaries(st.sampled_from(["Name", "UserName"]), ids, max_size=1),
                               st.lists(kids, min_size=1, max_size=3)), max_leaves=6)
    bogus = st.builds(lambda n: (n, {}, []), st.sampled_from(["Bogus", "Condition", "Settings", "Target"]))
    condition = node("Condition", st.fixed_dictionaries({}, optional={"Name": st.just("Mcc"), "Value": ids}), st.just([]))
    state = node("TargetState", st.just({}), st.lists(st.one_of(condition, condition, bogus), max_size=2))
    target = node("Target", maybe(st.fixed_dictionaries({"Id": ids})), st.lists(st.one_of(state, state, bogus), max_size=2))
    targets = node("Targets", st.just({}), st.lists(st.one_of(target, target, target, bogus), max_size=3))
    ref = node("TargetRef", maybe(st.fixed_dictionaries({"Id": ids})), st.just([]))
    refs = node("TargetRefs", st.just({}), st.lists(st.one_of(ref, ref, bogus), max_size=2))
    vsettings = node("Settings", st.just({}), st.lists(setting, min_size=1, max_size=2))
    variant = node("Variant", st.just({}), st.lists(st.one_of(refs, vsettings, vsettings, bogus), max_size=3))
    common = node("Common", st.just({}), st.lists(setting, min_size=1, max_size=3))
    tree = st.one_of(common, common, targets, variant, bogus)
    # a well-formed multivariant pair (target "a" and a Variant naming it), often mutated by the rest
    pair = [("Targets", {}, [("Target", {"Id": "a"}, [("TargetState", {}, [("Condition", {"Name": "Mcc",
                                                                                          "Value": "1"}, [])])])]),
            ("Variant", {}, [("TargetRefs", {}, [("TargetRef", {"Id": "a"}, [])]),
                             ("Settings", {}, [("Policies", {}, [("AllowCortana", {}, [])])])])]

    def render(node) -> str:
        name, a, kids = node
        at = "".join(f' {k}="{v}"' for k, v in a.items())
        return f"<{name}{at}>" + ("".join(render(k) for k in kids) or "x") + f"</{name}>"

    @hsettings(max_examples=200, deadline=2000)
    @given(st.lists(tree, max_size=3), st.booleans(),
           st.sampled_from(["<Rank>3</Rank>", "<Rank>3</Rank>", "<Rank>100</Rank>", ""]))
    def check(top, with_pair, rank):
        data = _doc("".join(render(t) for t in (pair if with_pair else []) + top), rank=rank)
        try:
            strict = parse_customizations(data, source_name="g.xml")
        except CustomizationsError as exc:
            try:
                lenient = parse_customizations(data, source_name="g.xml", lenient=True)
            except CustomizationsError as again:
                assert again.message == exc.message
                return
            assert lenient.problems and lenient.problems[0] == exc.message
            return
        lenient = parse_customizations(data, source_name="g.xml", lenient=True)
        assert lenient.problems == ()
        assert (lenient.metadata, lenient.common, lenient.targets, lenient.variants) == \
            (strict.metadata, strict.common, strict.targets, strict.variants)

    check()
