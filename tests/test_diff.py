"""diff: metadata, settings, files and commands added, removed or changed."""

from __future__ import annotations

from test_inspect_support import customizations_xml, policies, run_cli, run_json, write_package

PID = "{6a1f4c3e-0d2b-4e55-9c11-2f7b8a9e0c01}"


def _pkg(path, *, version, rank, values, command, password):
    common = (policies(values) +
              f"<Accounts><Users><User UserName=\"admin\"><Password>{password}</Password></User></Users></Accounts>"
              "<ProvisioningCommands><PrimaryContext><Command><CommandConfig Name=\"c\">"
              f"<CommandLine>{command}</CommandLine></CommandConfig></Command></PrimaryContext></ProvisioningCommands>")
    return write_package(path, customizations_xml(name="pkg", owner="OEM", rank=rank, common=common,
                                                  package_id=PID, version=version))


def test_diff_reports_every_kind_of_change(tmp_path):
    a = _pkg(tmp_path / "a.ppkg", version="1.0", rank=1, password="Old-Pass-1",
             values={"Experience/AllowCortana": "No", "Camera/AllowCamera": "Yes"}, command="cmd /c echo one")
    b = _pkg(tmp_path / "b.ppkg", version="1.1", rank=4, password="New-Pass-2",
             values={"Experience/AllowCortana": "Yes", "Start/HidePeopleBar": "Yes"}, command="cmd /c echo two")
    code, out, _ = run_cli("diff", a, b, "--json")
    assert code == 0
    assert "Old-Pass-1" not in out and "New-Pass-2" not in out
    doc = run_json("diff", a, b)
    assert doc["identical"] is False
    meta = {m["field"]: (m["a"], m["b"]) for m in doc["metadata"]}
    assert meta["version"] == ("1.0", "1.1")
    assert meta["rank"] == (1, 4) and meta["altitude"] == (2001, 2004)
    s = doc["settings"]
    assert [x["path"] for x in s["added"]] == ["Policies/Start/HidePeopleBar"]
    assert [x["path"] for x in s["removed"]] == ["Policies/Camera/AllowCamera"]
    changed = {x["path"]: (x["a"], x["b"]) for x in s["changed"]}
    assert changed["Policies/Experience/AllowCortana"] == ("No", "Yes")
    assert changed["Accounts/Users/User[@UserName=admin]/Password"] == ("<redacted>", "<redacted>")
    cmd = doc["commands"]["changed"][0]
    assert (cmd["a"]["command_line"], cmd["b"]["command_line"]) == ("cmd /c echo one", "cmd /c echo two")
    files = doc["files"]
    assert any(f["path"].endswith("Policies_Start_HidePeopleBar.provxml") for f in files["added"])
    assert any(f["path"] == "Multivariant/0/customizations.xml" for f in files["changed"])
    shown = run_cli("diff", a, b, "--json", "--show-secrets")[1]
    assert "Old-Pass-1" in shown and "New-Pass-2" in shown
    code, text, _ = run_cli("diff", a, b)
    assert code == 0 and "Policies/Start/HidePeopleBar" in text and "Old-Pass-1" not in text


def test_diff_identical_and_real(tmp_path, real_ppkg):
    doc = run_json("diff", real_ppkg / "icd-cli-oobe.ppkg", real_ppkg / "icd-cli-oobe.ppkg")
    assert doc["identical"] is True
    doc = run_json("diff", real_ppkg / "icd-cli-oobe.ppkg", real_ppkg / "wcd-gui-commands-msi.ppkg")
    assert doc["identical"] is False
    assert any(f["path"].endswith("Cortex_XDR_9_0_0_16757_x64.msi") for f in doc["files"]["added"])
    assert "Letmein#2024" not in str(doc) and "F0C0nn@135" not in str(doc)
