"""The settings model read from Windows Configuration Designer's own settings store.

The four stores in ../shared/fixtures/wcd-store are Microsoft's files (PROVENANCE.md); the store is
read with the project's regf reader and, independently, with regipy (a registry reader made for the
job) to check that no setting is lost or invented.
"""

from __future__ import annotations

import pytest

from ppkgtool.errors import CustomizationsError
from ppkgtool.package.catalogue import load_catalogue, model_entries, builtin_entries, render_template
from ppkgtool.package.compiler import compile_bytes
from ppkgtool.package.settings import Decompiler, SettingsError, SettingType, compiled_form
from ppkgtool.package.store import builtin_builds, builtin_models, load_model, read_store

STORES = ["win10-2021-09", "win11-21h2-2021-10", "win11-22h2-2022-10", "win11-2024-02"]

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{8a3c1b9e-3d2f-4a6b-9c1d-2e3f4a5b6c7d}</ID><Name>t</Name><Version>1.0</Version>
    <OwnerType>ITAdmin</OwnerType><Rank>0</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning"><Customizations><Common>
"""
TAIL = "</Common></Customizations></Settings></WindowsCustomizations>\n"


def _doc(body: str) -> bytes:
    return (HEAD + body + TAIL).encode()


@pytest.fixture(scope="module")
def stores(shared_fixtures):
    folder = shared_fixtures / "wcd-store"
    return {name: read_store((folder / f"{name}.dat").read_bytes(), source_name=name) for name in STORES}


def test_store_matches_an_independent_reader(stores, shared_fixtures):
    """Every setting node regipy finds (a key with Name and Type 1-5 outside Apply/Validation/...)
    is in the model, and the model holds nothing else."""
    from regipy.registry import RegistryHive
    meta = {"apply", "validation", "default", "visibility"}
    for name in ("win10-2021-09", "win11-2024-02"):
        hive = RegistryHive(str(shared_fixtures / "wcd-store" / f"{name}.dat"))
        leaves = set()
        for sk in hive.recurse_subkeys(as_json=False):
            path = sk.path.strip("\\").split("\\")
            if any(p.lower() in meta for p in path[:-1] if p) or not sk.values:
                continue
            vals = {v.name: v.value for v in sk.values}
            if "Name" in vals and vals.get("Type") in (1, 2, 3, 4, 5) and path[-1].lower() not in meta:
                leaves.add("/".join(p for p in path if p))
        ours = {d.path for d in stores[name]}
        assert ours == leaves, (sorted(ours - leaves)[:5], sorted(leaves - ours)[:5])
        assert len(ours) > 1000


def test_facts_read_from_the_store(stores):
    m = stores["win11-2024-02"]
    d = m.get("Policies/Update/AllowAutoUpdate")
    assert d.type is SettingType.INTEGER and d.values[0] == ("0", "Notify user before download")
    assert [v for v, _ in d.values] == [str(i) for i in range(7)] and d.default == "6"
    assert dict(m.get("Connectivity/AllowBluetooth").values if m.get("Connectivity/AllowBluetooth")
                else m.get("Policies/Connectivity/AllowBluetooth").values)["2"] == "Yes"
    assert m.get("Policies/Search/AllowCloudSearch").compile_value("UserControlled") == "2"
    assert m.get("Policies/Defender/AllowArchiveScanning").compile_value("Yes") == "0"
    assert m.get("SMISettings/CrashDumpEnabled").compile_value("mini dump") == "7"
    key = m.get("Certificates/ClientCertificates/ClientCertificate/KeyLocation")
    assert [key.compile_value(x) for x in ("TPM only", "TPM with software fallback", "Software only")] == ["1", "2", "3"]
    spot = m.get("Policies/Experience/AllowWindowsSpotlight")
    assert spot.scope == "User" and compiled_form(spot).characteristic == ("Policy", "Config", "Experience")
    users = m.get("Accounts/Users/User/Password")
    assert users.pattern_text() == "Accounts/Users/User[@UserName]/Password" and users.secret
    assert users.group_template() == "Accounts/Users/{UserName}"
    hide = m.get("OOBE/Desktop/HideOobe")
    assert compiled_form(hide).characteristic == ("MCSF", "OOBE", "Desktop") and hide.datatype == "boolean"
    assert m.get("Certificates/CACertificates/CACerificate/CertificatePath") is not None   # Microsoft's spelling
    assert m.get("Personalization/DeployDesktopImage").extensions == ("jpeg", "jpg", "png")


def test_builtin_model_equals_the_stores(stores):
    """The shipped data is the stores' facts (regenerate with scripts/gen_settings_model.py)."""
    default, models = builtin_models()
    assert default == "win11-2024-02" and list(models) == STORES == builtin_builds()
    for name in STORES:
        assert [d.to_json() for d in models[name]] == [d.to_json() for d in stores[name]], name


@pytest.mark.parametrize("name", STORES)
def test_every_leaf_compiles_and_decompiles_to_itself(stores, name):
    """For every leaf setting of the store: a value it allows, through the catalogue entry the
    compiler uses, to the compiled (scope, characteristic, parm, value), and back through the model's
    decompiler to the same setting path, keys and value."""
    model = stores[name]
    dec = Decompiler(model)
    entries, _ = model_entries(model, builtin_entries())
    by_def = {e.definition.path: e for e in entries if e.definition is not None}
    checked = skipped = 0
    for d in model:
        e = by_def.get(d.path)
        if e is None or not e.outputs or e.outputs[0].transform:
            assert compiled_form(d) is None or d.type is SettingType.FILE, d.path
            skipped += 1
            continue
        sample = _sample_value(d)
        compiled = d.compile_value(sample)
        caps = {lv.key or f"i{lv.list_name}": ("item7" if lv.key else "3") for lv in d.lists}
        caps = {k.replace(".", "_").replace("-", "_"): v for k, v in caps.items()}
        out = e.outputs[0]
        characteristic = [render_template(c, caps) for c in out.characteristic]
        parm = render_template(out.parm, caps)
        back = dec.decompile(e.scope, characteristic, parm, compiled)
        assert back is not None, d.path
        assert d.path in (back.setting, *back.also), (d.path, back)
        if back.setting == d.path:
            used = "".join(out.characteristic) + out.parm
            assert dict(back.keys) == {k: v for k, v in caps.items() if "{" + k + "}" in used}, d.path
            assert d.compile_value(back.value) == compiled, d.path
        checked += 1
    print(f"\n{name}: {checked} leaf settings round-trip, {skipped} carried as files")
    assert checked > 1000


def _sample_value(d) -> str:
    from ppkgtool.package.sanity import EXAMPLES
    if d.path in EXAMPLES:      # free text in the store, checked beyond it (package/sanity.py)
        return EXAMPLES[d.path]
    if d.values:
        return d.values[-1][1]
    if d.type is SettingType.BOOLEAN:
        return "True"
    if d.type is SettingType.INTEGER:
        for bound in (d.maximum, d.minimum):
            if bound is not None and bound.lstrip("-").isdigit():
                return bound
        return "1"
    if d.type is SettingType.BINARY:
        return "00ff10"
    n = max(d.min_length or 0, 4)
    return ("1" * n)[: d.max_length or n]


# --- validation that never guesses (issue 15) ------------------------------------------------------

def test_labels_numbers_and_case():
    for value in ("Notify user before download", "notify USER before download", "0"):
        tree = compile_bytes(_doc(f"<Policies><Update><AllowAutoUpdate>{value}</AllowAutoUpdate></Update></Policies>"),
                             source_name="t.xml")
        (s,) = tree.settings
        assert s.parms == ((("Policy", "Config", "Update"), "AllowAutoUpdate", "0", "integer"),)
    assert tree.settings_store["name"] == "builtin win11-2024-02"


def test_near_miss_label_suggests_the_store_label():
    with pytest.raises(CustomizationsError) as err:
        compile_bytes(_doc("<Policies><Update><AllowAutoUpdate>Auto install and restart at a specified time"
                           "</AllowAutoUpdate></Update></Policies>"), source_name="t.xml")
    assert "did you mean 'Auto-install and restart at specified time'" in err.value.hint
    assert err.value.where == "t.xml:8"


def test_typo_in_a_setting_name_suggests_the_right_one():
    with pytest.raises(CustomizationsError) as err:
        compile_bytes(_doc("<Policies><Camera><AllowCamra>Yes</AllowCamra></Camera></Policies>"), source_name="t.xml")
    assert "unknown setting Policies/Camera/AllowCamra" in str(err.value)
    assert err.value.hint == "did you mean Policies/Camera/AllowCamera?"


def test_value_outside_the_labels_lists_them():
    with pytest.raises(CustomizationsError) as err:
        compile_bytes(_doc("<Policies><Connectivity><AllowBluetooth>Maybe</AllowBluetooth></Connectivity></Policies>"),
                      source_name="t.xml")
    assert "'Maybe'" in str(err.value) and err.value.hint == "allowed: No (0), Yes (2)"
    tree = compile_bytes(_doc("<Policies><Connectivity><AllowBluetooth>Yes</AllowBluetooth></Connectivity></Policies>"),
                         source_name="t.xml")
    assert tree.settings[0].parms[0][2] == "2"


def test_per_user_policy_goes_to_user_runtime():
    tree = compile_bytes(_doc("<Policies><Experience><AllowWindowsSpotlight>No</AllowWindowsSpotlight>"
                              "</Experience></Policies>"), source_name="t.xml")
    (s,) = tree.settings
    assert s.scope == "User" and s.provxml.startswith("Multivariant/0/Prov/User_RunTime/")
    assert b'<characteristic type="Policy" scope="User">' in tree.files[s.provxml]


def test_range_and_type_are_checked():
    with pytest.raises(CustomizationsError, match="above the maximum"):
        compile_bytes(_doc("<Policies><Update><ActiveHoursStart>99</ActiveHoursStart></Update></Policies>"),
                      source_name="t.xml")
    with pytest.raises(CustomizationsError, match="not True or False"):
        compile_bytes(_doc("<OOBE><Desktop><HideOobe>Perhaps</HideOobe></Desktop></OOBE>"), source_name="t.xml")


def test_setting_in_another_store_only_says_so(stores, shared_fixtures):
    body = "<Policies><FileExplorer><AllowOptionToShowNetwork>True</AllowOptionToShowNetwork></FileExplorer></Policies>"
    with pytest.raises(CustomizationsError, match="not one of the allowed values"):
        compile_bytes(_doc(body), source_name="t.xml")
    # the same customizations against two stores: they differ exactly where the stores differ
    old = compile_bytes(_doc(body), source_name="t.xml", catalogue=load_catalogue(model=stores["win11-21h2-2021-10"]))
    assert old.settings[0].scope == "User" and old.settings[0].parms[0][2:] == ("true", "boolean")
    new = compile_bytes(_doc(body.replace("True", "Allow option")), source_name="t.xml",
                        catalogue=load_catalogue(model=stores["win11-2024-02"]))
    assert new.settings[0].scope == "Device" and new.settings[0].parms[0][2:] == ("1", "integer")
    with pytest.raises(CustomizationsError, match="not in the settings store builtin win10-2021-09") as err:
        compile_bytes(_doc(body), source_name="t.xml", catalogue=load_catalogue(model=load_model(build="win10-2021-09")))
    assert "win11-21h2-2021-10" in err.value.hint


def test_store_file_is_parsed_once_per_process(shared_fixtures):
    path = shared_fixtures / "wcd-store" / "win11-22h2-2022-10.dat"
    assert load_model(path) is load_model(path)


def test_bad_store_bytes_are_a_typed_error(tmp_path):
    with pytest.raises(SettingsError, match="not a readable settings store"):
        read_store(b"regf" + bytes(5000), source_name="x.dat")
    with pytest.raises(SettingsError):
        load_model(tmp_path / "missing.dat")


# --- keyed list keys, WCD project folders ----------------------------------------------------------

def test_list_keys_compile_through_the_store_table():
    """SchemeAlias "Balanced" is the store's label of the key 381b4222-… (Power/Policy lists), as the
    2015 PPMSettings packages in corpus/ppkg show."""
    body = ("<Power><Policy><Settings><Processor><SchemePersonality><Profile SchemeAlias=\"Balanced\">"
            "<Setting ProfileAlias=\"LowLatency\"><CPHeadroom><AcValue>70</AcValue></CPHeadroom></Setting>"
            "</Profile></SchemePersonality></Processor></Settings></Policy></Power>")
    tree = compile_bytes(_doc(body), source_name="t.xml")
    (s,) = tree.settings
    assert s.parms[0][0] == ("MCSF", "Power", "Policy", "Settings", "Processor", "SchemePersonality",
                             "381b4222-f694-41f0-9685-ff5bb260df2e", "0da965dc-8fcf-4c0b-8efe-8dd5e7bc959a",
                             "CPHeadroom")
    with pytest.raises(CustomizationsError) as err:
        compile_bytes(_doc(body.replace("Balanced", "Balancd")), source_name="t.xml")
    assert "SchemeAlias 'Balancd' is not one of the list's keys" in str(err.value) and "Balanced" in err.value.hint
    dec = Decompiler(load_model())
    back = dec.decompile("Device", s.parms[0][0], "AcValue", "70")
    assert back.setting.endswith("CPHeadroom/AcValue") and dict(back.keys)["SchemeAlias"] == "Balanced"


def test_wcd_project_folder_builds(shared_fixtures, tmp_path):
    from ppkgtool.package.builder import BuildOptions, build_package
    from ppkgtool.package.project import read_project
    folder = shared_fixtures / "corpus" / "wcd-projects" / "goatpackage__8f54c51a"
    proj = read_project(folder)
    assert proj.name == "idk" and proj.version == "10.0.19041.1"
    assert "Microsoft-Desktop-Provisioning.dat" in proj.stores
    # its WLAN profile settings are ones the store gives no target (WCD writes a WLAN profile XML for
    # them [U]): refused by name, never guessed
    with pytest.raises(CustomizationsError, match="WLANXmlSettings/SecurityKey: the settings store .* names no CSP"):
        build_package(folder, tmp_path / "goat.ppkg", BuildOptions(catalog=False))
    # the same project with settings the model compiles builds from the folder and from the .icdproj.xml
    mine = tmp_path / "proj"
    mine.mkdir()
    (mine / "idk.icdproj.xml").write_bytes(proj.path.read_bytes())
    (mine / "customizations.xml").write_bytes(_doc("<OOBE><Desktop><HideOobe>True</HideOobe></Desktop></OOBE>"))
    for i, src in enumerate((mine, mine / "idk.icdproj.xml")):
        res = build_package(src, tmp_path / f"p{i}.ppkg", BuildOptions(catalog=False))
        assert res.settings_count == 1
    with pytest.raises(CustomizationsError, match="without a WCD project"):
        read_project(tmp_path)


def test_parsed_store_is_cached_on_disk_by_digest(shared_fixtures, tmp_path, monkeypatch):
    import ppkgtool.package.store as store
    path = shared_fixtures / "wcd-store" / "win10-2021-09.dat"
    monkeypatch.setenv("PPKGTOOL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(store, "_CACHE", {})
    first = store.load_model(path)
    (cached,) = (tmp_path / "cache").glob("settings-store-*.json")
    assert cached.name == f"settings-store-{first.source.sha256}.json"
    monkeypatch.setattr(store, "_CACHE", {})
    monkeypatch.setattr(store, "read_store", lambda *a, **k: pytest.fail("the store was parsed again"))
    second = store.load_model(path)
    assert [d.to_json() for d in second] == [d.to_json() for d in first]
    assert second.source.name == str(path) and second.source.sha256 == first.source.sha256
    # a damaged cache entry is ignored (and the store parsed again)
    cached.write_bytes(b"{not json")
    monkeypatch.setattr(store, "_CACHE", {})
    monkeypatch.undo()
    monkeypatch.setenv("PPKGTOOL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(store, "_CACHE", {})
    assert len(store.load_model(path)) == len(first)
