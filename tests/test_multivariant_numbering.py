"""The SettingsGroup numbering rule of RunTime.xml (compiler.SettingsGroupNumbering, issue 15 item 5).

One counter per settings-group uuid for the whole package: the first line is the bare uuid, the
second ``_0``, the third ``_1``, … A common group writes one line, a ``<Variant>`` group one line
per state of each referenced target (TargetRefs order, then TargetState order); lines and provxml
files are counted in one order: common groups, then each Variant in document order, group by group.
The packages built here are read back with wimlib-imagex (an independent reader).
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from build_helpers import wimlib_extract
from ppkgtool.package.builder import BuildOptions, build_package
from ppkgtool.package.compiler import SettingsGroupNumbering, compile_bytes

HIDE_OOBE = "b786dbf1-ec31-5be5-aa49-934e4489fae9"        # OOBE/Desktop/HideOobe (ppkg-format.md [C])
CORTANA = "a350abbc-39b8-5c12-b0c7-97ae6e1c24db"          # Policies/Experience/AllowCortana (icd-cli-oobe [C])
ENERGY = "cf48a9d6-f965-521f-a07e-d3bf2dce555f"           # Power/EnergyEstimationEngine (corpus [C])

HIDE = "<OOBE><Desktop><HideOobe>True</HideOobe></Desktop></OOBE>"
NO_CORTANA = "<Policies><Experience><AllowCortana>No</AllowCortana></Experience></Policies>"
CURVE = ("<Power><EnergyEstimationEngine><CPU><EfficiencyClass><Settings EfficiencyClassId=\"0\">"
         "<PowerCurveParameters><NumberOfPoints>1</NumberOfPoints><PowerCurve>"
         "<CurvePointSettings CurvePointIndex=\"0\"><FrequencyPercent>{f}</FrequencyPercent>"
         "<PowerEnvelope>48</PowerEnvelope></CurvePointSettings></PowerCurve></PowerCurveParameters>"
         "</Settings></EfficiencyClass></CPU></EnergyEstimationEngine></Power>")


def _doc(common: str, targets: dict[str, list[list[tuple[str, str]]]], variants: list[tuple[list[str], str]]) -> bytes:
    t = "".join(f'<Target Id="{tid}">' + "".join(
        "<TargetState>" + "".join(f'<Condition Name="{n}" Value="{v}" />' for n, v in state) + "</TargetState>"
        for state in states) + "</Target>" for tid, states in targets.items())
    v = "".join("<Variant><TargetRefs>" + "".join(f'<TargetRef Id="{r}" />' for r in refs) + "</TargetRefs>"
                f"<Settings>{body}</Settings></Variant>" for refs, body in variants)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{{c5dc3753-b6c8-4057-b396-bf13d769311c}}</ID><Name>mv</Name><Version>1.0</Version>
    <OwnerType>OEM</OwnerType><Rank>0</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning">
    <Customizations>
      {"<Common>" + common + "</Common>" if common else ""}
      <Targets>{t}</Targets>
      {v}
    </Customizations>
  </Settings>
</WindowsCustomizations>
""".encode()


def _lines(runtime: bytes) -> list[tuple[str, str, dict]]:
    """(SettingsGroup, provxml file name, condition attributes) of each RunTime.xml line, in order."""
    root = etree.fromstring(runtime, etree.XMLParser(resolve_entities=False, no_network=True))
    out = []
    for el in root.iter("ConfigurationSet"):
        attrs = dict(el.attrib)
        out.append((attrs.pop("SettingsGroup"), attrs.pop("Data").rsplit("\\", 1)[-1],
                    {k: v for k, v in attrs.items() if k != "Type"}))
    return out


def _built_lines(tmp_path: Path, data: bytes) -> list[tuple[str, str, dict]]:
    out = tmp_path / "mv.ppkg"
    build_package(data, out, BuildOptions(catalog=False))
    tree = wimlib_extract(out, tmp_path / "x")
    return _lines((tree / "Multivariant/0/Prov/RunTime.xml").read_bytes())


def test_counter_is_per_uuid_first_line_bare():
    n = SettingsGroupNumbering()
    assert [n.next("a"), n.next("b"), n.next("a"), n.next("a"), n.next("b")] == ["a", "b", "a_0", "a_1", "b_0"]


def test_two_targets_one_line_per_state_in_target_refs_order(tmp_path):
    data = _doc("", {"A": [[("ProcessorName", "pattern:.*8994.*")], [("ProcessorName", "pattern:.*8992.*")]],
                     "B": [[("ProcessorVendor", "pattern:.*Qualcomm.*"), ("ProcessorType", "ARM64")]]},
                [(["B", "A"], HIDE)])
    lines = _built_lines(tmp_path, data)
    assert [sg for sg, _f, _c in lines] == [HIDE_OOBE, f"{HIDE_OOBE}_0", f"{HIDE_OOBE}_1"]
    assert {f for _sg, f, _c in lines} == {"0__OOBE_Desktop_HideOobe.provxml"}      # one provxml, three lines
    assert [c for _sg, _f, c in lines] == [
        {"ProcessorVendor": "pattern:.*Qualcomm.*", "ProcessorType": "ARM64"},
        {"ProcessorName": "pattern:.*8994.*"}, {"ProcessorName": "pattern:.*8992.*"}]


def test_three_variants_continue_the_common_count(tmp_path):
    data = _doc(HIDE, {"A": [[("ProcessorName", "a")]], "B": [[("ProcessorName", "b")]], "C": [[("ProcessorName", "c")]]},
                [(["A"], HIDE), (["B"], HIDE), (["C"], HIDE)])
    lines = _built_lines(tmp_path, data)
    assert [(sg, f) for sg, f, _c in lines] == [
        (HIDE_OOBE, "0__OOBE_Desktop_HideOobe.provxml"), (f"{HIDE_OOBE}_0", "1__OOBE_Desktop_HideOobe.provxml"),
        (f"{HIDE_OOBE}_1", "2__OOBE_Desktop_HideOobe.provxml"), (f"{HIDE_OOBE}_2", "3__OOBE_Desktop_HideOobe.provxml")]
    assert [c for _sg, _f, c in lines] == [{}, {"ProcessorName": "a"}, {"ProcessorName": "b"}, {"ProcessorName": "c"}]


def test_groups_of_one_variant_are_numbered_group_by_group():
    data = _doc(NO_CORTANA, {"A": [[("ProcessorName", "a")], [("ProcessorName", "b")]]}, [(["A"], HIDE + NO_CORTANA)])
    tree = compile_bytes(data, source_name="mv.xml")
    lines = _lines(tree.files["Multivariant/0/Prov/RunTime.xml"])
    assert [(sg, f) for sg, f, _c in lines] == [
        (CORTANA, "0__Policies_Experience_AllowCortana.provxml"),
        (HIDE_OOBE, "1__OOBE_Desktop_HideOobe.provxml"), (f"{HIDE_OOBE}_0", "1__OOBE_Desktop_HideOobe.provxml"),
        (f"{CORTANA}_0", "2__Policies_Experience_AllowCortana.provxml"),
        (f"{CORTANA}_1", "2__Policies_Experience_AllowCortana.provxml")]
    # the compiled settings name the first line of their group
    assert {s.settings_group for s in tree.settings if s.variant == 0 and "HideOobe" in s.path} == {HIDE_OOBE}


def test_the_corpus_package_numbers_follow_from_earlier_lines_of_its_group():
    """The ICD 10.0.17088 EnergyEstimationEngine package (corpus/ppkg) has file 3__ and suffixes _4/_5
    on its one group: the rule gives exactly that when three earlier compiles of the same group (one
    line, two lines, two lines) precede it, which is the state the package carries but cannot show."""
    states = {"S1": [[("ProcessorName", "one")]],
              "S2": [[("ProcessorName", "a")], [("ProcessorName", "b")]],
              "S3": [[("ProcessorName", "c")], [("ProcessorName", "d")]],
              "QC810System": [[("ProcessorVendor", "pattern:(.*Qualcomm.*)"), ("ProcessorName", "x")],
                              [("ProcessorVendor", "pattern:(.*Qualcomm.*)"), ("ProcessorName", "y")]]}
    data = _doc("", states, [([tid], CURVE.format(f=16 + i)) for i, tid in enumerate(states)])
    lines = _lines(compile_bytes(data, source_name="mv.xml").files["Multivariant/0/Prov/RunTime.xml"])
    assert [(sg, f) for sg, f, _c in lines][-2:] == [
        (f"{ENERGY}_4", "3__Power_EnergyEstimationEngine.provxml"),
        (f"{ENERGY}_5", "3__Power_EnergyEstimationEngine.provxml")]
    assert [c["ProcessorName"] for _sg, _f, c in lines[-2:]] == ["x", "y"]
