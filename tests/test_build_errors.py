"""Bad customizations fail with a message naming file, line and setting, and write nothing."""

from __future__ import annotations

import re

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ppkgtool.cli import main
from ppkgtool.errors import CustomizationsError, InvalidInputError, PpkgError
from ppkgtool.package.builder import BuildOptions, build_package
from ppkgtool.package.compiler import compile_bytes
from ppkgtool.package.customizations import parse_customizations

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{11111111-2222-4333-8444-555555555555}</ID>
    <Name>t</Name>
    <Version>1.0</Version>
    <OwnerType>{owner}</OwnerType>
    <Rank>{rank}</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning">
    <Customizations>
      <Common>
"""
TAIL = """      </Common>
    </Customizations>
  </Settings>
</WindowsCustomizations>
"""


def doc(body: str, *, owner="OEM", rank="0") -> bytes:
    return (HEAD.replace("{owner}", owner).replace("{rank}", rank) + body + TAIL).encode("utf-8")


def _fails(tmp_path: Path, data: bytes, *parts: str, options: BuildOptions | None = None, exc=CustomizationsError):
    src = tmp_path / "c.xml"
    src.write_bytes(data)
    out = tmp_path / "out" / "p.ppkg"
    with pytest.raises(exc) as info:
        build_package(src, out, options or BuildOptions())
    msg = info.value.one_line()
    for p in parts:
        assert p in msg, msg
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    return msg


def test_unknown_setting_names_file_line_and_path(tmp_path):
    body = "        <OOBE>\n          <Desktop>\n            <HideOobee>True</HideOobee>\n          </Desktop>\n        </OOBE>\n"
    _fails(tmp_path, doc(body), "c.xml:15", "unknown setting OOBE/Desktop/HideOobee",
           "did you mean OOBE/Desktop/HideOobe?")


def test_bad_value_types(tmp_path):
    _fails(tmp_path, doc("        <OOBE><Desktop><HideOobe>Maybe</HideOobe></Desktop></OOBE>\n"),
           "c.xml:13", "OOBE/Desktop/HideOobe", "'Maybe' is not True or False", "allowed: True, False")
    body = ("        <ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"a\">\n"
            "          <CommandLine>x</CommandLine>\n          <ReturnCodeSuccess>zero</ReturnCodeSuccess>\n"
            "        </CommandConfig></Command></PrimaryContext></ProvisioningCommands>\n")
    _fails(tmp_path, doc(body), "c.xml:15", "ReturnCodeSuccess", "not a whole number")
    _fails(tmp_path, doc("        <Accounts><Users><User UserName=\"u\"><UserGroup>Gods</UserGroup></User></Users></Accounts>\n"),
           "UserGroup", "Administrators")


def test_missing_asset(tmp_path):
    body = ("        <ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"a\">\n"
            "          <CommandFile>D:\\setup\\app.msi</CommandFile>\n          <CommandLine>msiexec /i app.msi</CommandLine>\n"
            "        </CommandConfig></Command></PrimaryContext></ProvisioningCommands>\n")
    (tmp_path / "assets").mkdir()
    _fails(tmp_path, doc(body), "c.xml:14", "CommandFile", "app.msi", options=BuildOptions(asset_dir=tmp_path / "assets"))


def test_asset_found_by_name_case_insensitively(tmp_path):
    body = ("        <ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"a\">\n"
            "          <CommandFile>D:\\setup\\App.MSI</CommandFile>\n          <CommandLine>msiexec /i app.msi</CommandLine>\n"
            "        </CommandConfig></Command></PrimaryContext></ProvisioningCommands>\n")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.msi").write_bytes(b"MSI")
    tree = compile_bytes(doc(body), source_name="c.xml", asset_dir=tmp_path / "assets")
    assert any(p.endswith("/App.MSI") and p.startswith("DataAsset/2/0_") for p in tree.files)


def test_rank_and_owner_out_of_range(tmp_path):
    _fails(tmp_path, doc("", rank="100"), "c.xml:8", "Rank", "out of range")
    _fails(tmp_path, doc("", owner="Vendor"), "c.xml:7", "OwnerType", "unknown owner type")
    _fails(tmp_path, doc("", rank="5"), "rank 100", options=BuildOptions(rank=100), exc=InvalidInputError)
    bad_id = doc("").replace(b"{11111111-2222-4333-8444-555555555555}", b"{not-a-guid}")
    _fails(tmp_path, bad_id, "c.xml:4", "not a GUID")


def test_dtd_and_entities_refused(tmp_path):
    xxe = doc("").replace(b"<WindowsCustomizations>",
                          b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<WindowsCustomizations>')
    _fails(tmp_path, xxe, "c.xml:2", "DOCTYPE")
    bomb = doc("").replace(b"<WindowsCustomizations>", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><WindowsCustomizations>')
    _fails(tmp_path, bomb, "DOCTYPE")
    utf16 = doc("").decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    utf16 = utf16.replace("<WindowsCustomizations>", '<!DOCTYPE x [<!ENTITY e "x">]><WindowsCustomizations>')
    _fails(tmp_path, utf16.encode("utf-16"), "DOCTYPE")


def test_duplicate_setting(tmp_path):
    body = "        <OOBE><Desktop><HideOobe>True</HideOobe><HideOobe>False</HideOobe></Desktop></OOBE>\n"
    _fails(tmp_path, doc(body), "set twice")


def test_cli_exit_code_and_one_line(tmp_path, capsys):
    src = tmp_path / "c.xml"
    src.write_bytes(doc("        <Nope>1</Nope>\n"))
    rc = main(["build", str(src), "-o", str(tmp_path / "p.ppkg")])
    err = capsys.readouterr().err
    assert rc == 3 and "c.xml:13" in err and "unknown setting Nope" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.ppkg").exists()


# --- variables -------------------------------------------------------------------------------------

def test_variables_substituted_and_macros_kept():
    body = ("        <ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"a\">\n"
            "          <CommandLine>echo $(SITE) $(__PackageID) $(__ICCID) &amp; $(_prov)</CommandLine>\n"
            "        </CommandConfig></Command></PrimaryContext></ProvisioningCommands>\n")
    tree = compile_bytes(doc(body), source_name="c.xml", variables={"SITE": 'A&B "x"'})
    cmd = [s for s in tree.settings if s.path.endswith("CommandLine")][0]
    assert cmd.value == 'echo A&B "x" $(__PackageID) $(__ICCID) & $(_prov)'
    with pytest.raises(CustomizationsError) as info:
        compile_bytes(doc(body), source_name="c.xml", variables={})
    assert "c.xml:14" in info.value.one_line() and "$(SITE)" in info.value.one_line()


def test_var_file_and_cli(tmp_path, capsys):
    src = tmp_path / "c.xml"
    src.write_bytes(doc("        <Policies><Start><ForceStartSize>$(SIZE)</ForceStartSize></Start></Policies>\n"))
    vf = tmp_path / "v.txt"
    vf.write_text("# sizes\nSIZE=2\n")
    assert main(["build", str(src), "-o", str(tmp_path / "p.ppkg"), "--var-file", str(vf), "--dry-run", "--json"]) == 0
    import json
    out = json.loads(capsys.readouterr().out)
    assert out["settings"][0]["parms"][0]["value"] == "2"


# --- multivariant [I] ---------------------------------------------------------------------------------

def _multivariant(kind: str) -> bytes:
    body = "        <OOBE><Desktop><HideOobe>True</HideOobe></Desktop></OOBE>\n"
    tail = f"""      </Common>
      <Targets>
        <Target Id="CarrierA">
          <TargetState>
            <Condition Name="Mcc" Value="310" />
            <Condition Name="Mnc" Value="410" />
            <Condition Name="IMSI" Value="range:310410000000000,310410999999999" />
            <Condition Name="uiname" Value="Carrier A" />
          </TargetState>
        </Target>
      </Targets>
      <{kind}>
        <TargetRefs><TargetRef Id="CarrierA" /></TargetRefs>
        <Settings>
          <Policies><Experience><AllowCortana>No</AllowCortana></Experience></Policies>
          <ProvisioningCommands><PrimaryContext><Command><CommandConfig Name="sim">
            <CommandLine>echo $(__ICCID)</CommandLine>
          </CommandConfig></Command></PrimaryContext></ProvisioningCommands>
        </Settings>
      </{kind}>
    </Customizations>
  </Settings>
</WindowsCustomizations>
"""
    return (HEAD.replace("{owner}", "MobileOperator").replace("{rank}", "1") + body + tail).encode()


def test_multivariant_profile_sets():
    """A COSA <Profile> compiles to ProfileSet lines (ppkg-format.md, Multivariant [C])."""
    data = _multivariant("Profile")
    tree = compile_bytes(data, source_name="mv.xml", variables={})
    rt = tree.files["Multivariant/0/Prov/RunTime.xml"].decode("utf-8-sig")
    assert '<ProfileSet Mcc="310" Mnc="410" IMSI="range:310410000000000,310410999999999" ProfileID="CarrierA" ' \
           'uiname="Carrier A">' in rt
    assert "1__Policies_Experience_AllowCortana.provxml" in rt.split("<ProfileSet")[1]
    sim = [s for s in tree.settings if s.variant == 0 and s.path.endswith("CommandLine")][0]
    assert sim.value == "echo $(__ICCID)"
    bad = data.replace(b'Value="310"', b'Value="31"')
    with pytest.raises(CustomizationsError, match="mobile country code"):
        compile_bytes(bad, source_name="mv.xml")
    bad = data.replace(b'<TargetRef Id="CarrierA" />', b'<TargetRef Id="Nobody" />')
    with pytest.raises(CustomizationsError, match="unknown target"):
        parse_customizations(bad, source_name="mv.xml")


def test_multivariant_variant_conditions_on_configuration_sets():
    """A <Variant> compiles to ConfigurationSet lines carrying the target state's conditions, one
    line per state (the form of the real multivariant package in corpus/ppkg, ProcessorVendor/Name)."""
    data = _multivariant("Variant")
    tree = compile_bytes(data, source_name="mv.xml", variables={})
    rt = tree.files["Multivariant/0/Prov/RunTime.xml"].decode("utf-8-sig")
    assert "<ProfileSet" not in rt
    assert re.search(r'<ConfigurationSet Type="provxml" SettingsGroup="[0-9a-f-]+" '
                     r'Data="\$\(_prov\)\\RunTime\\1__Policies_Experience_AllowCortana.provxml" Mcc="310" Mnc="410" '
                     r'IMSI="range:310410000000000,310410999999999" uiname="Carrier A" />', rt), rt
    two = data.replace(b"</TargetState>", b"</TargetState><TargetState><Condition Name=\"Mcc\" Value=\"311\" />"
                                           b"</TargetState>", 1)
    rt2 = compile_bytes(two, source_name="mv.xml").files["Multivariant/0/Prov/RunTime.xml"].decode("utf-8-sig")
    lines = [x for x in rt2.splitlines() if "AllowCortana" in x]
    assert len(lines) == 2 and 'Mcc="311"' in lines[1] and "_0" in lines[1]


# --- bounded fuzzing ---------------------------------------------------------------------------------

@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_parser_never_crashes_on_garbage(data):
    try:
        parse_customizations(data, source_name="fuzz.xml")
    except PpkgError:
        pass


@settings(max_examples=150, deadline=2000)
@given(st.text(max_size=80), st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9]{0,5}", fullmatch=True),
                                             st.text(max_size=20), max_size=3))
def test_variable_values_never_break_the_xml(value_text, variables):
    body = "        <Policies><Start><ConfigureStartPins>$(V)</ConfigureStartPins></Start></Policies>\n"
    variables = dict(variables)
    variables["V"] = value_text
    try:
        tree = compile_bytes(doc(body), source_name="c.xml", variables=variables)
    except PpkgError:
        return
    s = tree.settings[0]
    expected = value_text.replace("\r\n", "\n").replace("\r", "\n")
    assert s.value.strip() == expected.strip() or s.value == value_text.strip()
