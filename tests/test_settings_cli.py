"""`ppkgtool settings` and the --store-file/--store-build options of `build`, run as the console
script would be (a subprocess), against the builtin model and the real WCD settings stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STORES = ["win10-2021-09", "win11-21h2-2021-10", "win11-22h2-2022-10", "win11-2024-02"]
AUTO_UPDATE_LABELS = {
    "0": "Notify user before download",
    "1": "Auto-install, Notify before restart",
    "2": "Auto-install and restart",
    "3": "Auto-install and restart at specified time",
    "4": "Auto-install and restart without end-user control",
    "5": "Turn off automatic updates",
    "6": "Automatically download and install updates",
}

CUSTOMIZATIONS = """<?xml version="1.0" encoding="utf-8"?>
<WindowsCustomizations>
  <PackageConfig xmlns="urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0">
    <ID>{0b7c1e52-3f7a-4d1e-9a44-2c6a1f0e8d31}</ID>
    <Name>Settings store test</Name>
    <Version>1.0</Version>
    <OwnerType>ITAdmin</OwnerType>
    <Rank>0</Rank>
  </PackageConfig>
  <Settings xmlns="urn:schemas-microsoft-com:windows-provisioning">
    <Customizations>
      <Common>
        <Policies><Update><AllowAutoUpdate>Notify user before download</AllowAutoUpdate></Update></Policies>
      </Common>
    </Customizations>
  </Settings>
</WindowsCustomizations>
"""


def cli(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PPKGTOOL_STORE_FILE", "PPKGTOOL_STORE_BUILD")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "ppkgtool", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)


def cli_json(*args, env_extra=None):
    proc = cli(*args, "--json", env_extra=env_extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def wcd_store(shared_fixtures) -> Path:
    d = shared_fixtures / "wcd-store"
    if not d.is_dir():
        pytest.skip("../shared/fixtures/wcd-store (real WCD settings stores) is absent")
    return d


@pytest.fixture
def customizations(tmp_path) -> Path:
    p = tmp_path / "customizations.xml"
    p.write_text(CUSTOMIZATIONS, encoding="utf-8")
    return p


# --- settings show ------------------------------------------------------------------------------

def test_show_allow_auto_update_json_lists_values_with_labels():
    proc = cli("settings", "show", "Policies/Update/AllowAutoUpdate", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)        # exactly one JSON document on stdout
    assert doc["path"] == "Policies/Update/AllowAutoUpdate"
    assert doc["values"] == [{"value": v, "label": label} for v, label in AUTO_UPDATE_LABELS.items()]
    assert {"value": "0", "label": "Notify user before download"} in doc["values"]
    assert doc["type"] == "integer" and doc["datatype"] == "integer"
    assert (doc["minimum"], doc["maximum"]) == ("0", "6")
    assert doc["scope"] == "Device"
    assert doc["target"]["kind"] == "csp"
    assert doc["target"]["path"] == "./Vendor/MSFT/Policy/Config/Update/AllowAutoUpdate"
    assert doc["compiled"]["characteristic"] == ["Policy", "Config", "Update"]
    assert doc["compiled"]["parm"] == "AllowAutoUpdate"
    assert doc["store"]["name"] == "builtin win11-2024-02"


def test_show_plain_text_names_labels_and_store():
    proc = cli("settings", "show", "Policies/Update/AllowAutoUpdate")
    assert proc.returncode == 0, proc.stderr
    for label in AUTO_UPDATE_LABELS.values():
        assert label in proc.stdout
    assert "builtin win11-2024-02" in proc.stdout
    assert "Policy/Config/Update parm AllowAutoUpdate" in proc.stdout


def test_show_any_case_and_keyed_path():
    doc = cli_json("settings", "show", "accounts/users/User[@UserName=admin]/PASSWORD")
    assert doc["path"] == "Accounts/Users/User/Password"
    assert doc["lists"] == [{"position": 2, "list": "Users", "key": "UserName", "keys": []}]
    assert doc["compiled"]["characteristic"] == ["Accounts", "Users", "{UserName}"]
    assert doc["secret"] is True
    assert doc["group"] == "Accounts/Users/{UserName}"


def test_show_misspelled_path_exits_3_and_suggests():
    proc = cli("settings", "show", "Policies/Camera/AllowCamra")
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert "Policies/Camera/AllowCamera" in proc.stderr
    assert "did you mean" in proc.stderr


def test_show_unknown_builtin_build_exits_3():
    proc = cli("settings", "show", "Policies/Update/AllowAutoUpdate", "--store-build", "win95")
    assert proc.returncode == 3
    assert "win11-2024-02" in proc.stderr


def test_store_file_and_store_build_exclude_each_other(wcd_store):
    proc = cli("settings", "show", "Policies/Update/AllowAutoUpdate", "--store-file",
               wcd_store / "win10-2021-09.dat", "--store-build", "win10-2021-09")
    assert proc.returncode == 2


@pytest.mark.parametrize("name", STORES)
def test_show_with_each_real_store_file(wcd_store, name):
    store = wcd_store / f"{name}.dat"
    doc = cli_json("settings", "show", "Policies/Update/AllowAutoUpdate", "--store-file", store)
    assert doc["store"]["name"] == str(store)
    assert len(doc["store"]["sha256"]) == 64
    assert {"value": "0", "label": "Notify user before download"} in doc["values"]
    assert doc["compiled"]["parm"] == "AllowAutoUpdate"


@pytest.mark.parametrize("name", STORES)
def test_show_with_each_builtin_build(name):
    doc = cli_json("settings", "show", "Policies/Update/AllowAutoUpdate", "--store-build", name)
    assert doc["store"]["build"] == name
    assert [v["value"] for v in doc["values"]] == list(AUTO_UPDATE_LABELS)


def test_store_file_environment_variable(wcd_store):
    store = wcd_store / "win10-2021-09.dat"
    doc = cli_json("settings", "show", "OOBE/Desktop/HideOobe", env_extra={"PPKGTOOL_STORE_FILE": str(store)})
    assert doc["store"]["name"] == str(store)
    assert doc["type"] == "boolean"


# --- settings search / builds -------------------------------------------------------------------

def test_search_finds_allow_bluetooth():
    doc = cli_json("settings", "search", "allowbluetooth")
    paths = [s["path"] for s in doc["settings"]]
    assert "Policies/Connectivity/AllowBluetooth" in paths
    hit = doc["settings"][paths.index("Policies/Connectivity/AllowBluetooth")]
    assert hit["scope"] == "Device" and hit["type"] == "integer"
    assert hit["target"]["path"].endswith("/Connectivity/AllowBluetooth")
    assert doc["count"] == doc["shown"] == len(paths)


def test_search_plain_and_limit():
    proc = cli("settings", "search", "AllowBluetooth")
    assert proc.returncode == 0, proc.stderr
    assert "Policies/Connectivity/AllowBluetooth" in proc.stdout
    doc = cli_json("settings", "search", "Policies", "--limit", "3")
    assert doc["shown"] == 3 == len(doc["settings"]) and doc["count"] > 3


def test_builds_json():
    doc = cli_json("settings", "builds")
    assert [b["name"] for b in doc["builds"]] == STORES
    assert doc["default"] == "win11-2024-02"
    assert [b["name"] for b in doc["builds"] if b["default"]] == ["win11-2024-02"]
    assert all(b["settings"] > 1000 for b in doc["builds"])


# --- build --store-build / --store-file ---------------------------------------------------------

def _check_built(doc, out: Path):
    assert out.is_file() and Path(doc["package"]) == out
    [s] = doc["settings"]
    assert s["path"] == "Policies/Update/AllowAutoUpdate"
    assert s["parms"][0]["characteristic"] == "Policy/Config/Update" and s["parms"][0]["value"] == "0"


@pytest.mark.parametrize("name", ["win10-2021-09", "win11-2024-02"])
def test_build_with_store_build(tmp_path, customizations, name):
    out = tmp_path / "out.ppkg"
    doc = cli_json("build", customizations, "-o", out, "--store-build", name)
    _check_built(doc, out)
    assert doc["settings_store"]["build"] == name
    assert doc["settings_store"]["name"] == f"builtin {name}"


def test_build_with_store_file(tmp_path, customizations, wcd_store):
    store = wcd_store / "win11-22h2-2022-10.dat"
    out = tmp_path / "out.ppkg"
    doc = cli_json("build", customizations, "-o", out, "--store-file", store)
    _check_built(doc, out)
    assert doc["settings_store"]["name"] == str(store)
    assert len(doc["settings_store"]["sha256"]) == 64


def test_build_plain_output_names_the_store(tmp_path, customizations, wcd_store):
    store = wcd_store / "win10-2021-09.dat"
    proc = cli("build", customizations, "-o", tmp_path / "out.ppkg", "--store-file", store)
    assert proc.returncode == 0, proc.stderr
    assert "settings store" in proc.stdout and str(store) in proc.stdout


def test_build_dry_run_json_names_the_store(tmp_path, customizations):
    doc = cli_json("build", customizations, "-o", tmp_path / "out.ppkg", "--dry-run",
                   "--store-build", "win11-21h2-2021-10")
    assert doc["dry_run"] is True
    assert doc["settings_store"]["build"] == "win11-21h2-2021-10"
    assert not (tmp_path / "out.ppkg").exists()


def test_build_with_unreadable_store_file_exits_3(tmp_path, customizations):
    proc = cli("build", customizations, "-o", tmp_path / "out.ppkg", "--store-file", tmp_path / "missing.dat")
    assert proc.returncode == 3
    assert "missing.dat" in proc.stderr
    assert not (tmp_path / "out.ppkg").exists()


def test_build_setting_missing_from_chosen_store_exits_3(tmp_path):
    src = tmp_path / "c.xml"
    src.write_text(CUSTOMIZATIONS.replace(
        "<Policies>", "<CellCore><PerDevice><CellUX><EnableAutoSlotSwitch>1</EnableAutoSlotSwitch></CellUX>"
                      "</PerDevice></CellCore><Policies>"), encoding="utf-8")
    proc = cli("build", src, "-o", tmp_path / "out.ppkg", "--store-build", "win10-2021-09")
    assert proc.returncode == 3
    assert "CellCore/PerDevice/CellUX/EnableAutoSlotSwitch" in proc.stderr and "win11-2024-02" in proc.stderr
    assert not (tmp_path / "out.ppkg").exists()
    # ... and builds with a store that has it
    assert cli("build", src, "-o", tmp_path / "out.ppkg", "--store-build", "win11-2024-02").returncode == 0
