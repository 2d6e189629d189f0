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


# --- issue 18 item 10: section names, commands by Name, the same certificate --------------------

import shutil  # noqa: E402
import subprocess  # noqa: E402


from build_helpers import wimlib_extract  # noqa: E402


def _openssl_root(folder, cn: str):
    """A self-signed CA certificate made by openssl (an independent tool), PEM."""
    path = folder / f"{cn}.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(folder / f"{cn}.key"), "-out", str(path), "-days", "30", "-subj", f"/CN={cn}"],
                   check=True, capture_output=True)
    return path


def _build(tmp_path, name: str, common: str, *args) -> str:
    xml = tmp_path / f"{name}.xml"
    xml.write_bytes(customizations_xml(name=name, owner="ITAdmin", rank=1, common=common, package_id=PID))
    out = tmp_path / f"{name}.ppkg"
    code, _out, err = run_cli("build", xml, "-o", out, "--no-catalog", *args)
    assert code == 0, err
    return str(out)


def test_diff_section_labels_are_singular_in_one_place(tmp_path, shared_fixtures):
    """The header of the policies table says "policy" (was "policie": section[:-1])."""
    from ppkgtool import DIFF_SECTIONS
    assert [label for _s, label, _k in DIFF_SECTIONS] == ["setting", "file", "command", "certificate", "policy",
                                                          "setting"]
    pols = shared_fixtures / "corpus" / "regpol"
    cortana = policies({"Experience/AllowCortana": "No"})
    a = _build(tmp_path, "a", cortana, "--policy", pols / "lgpo__GroupPolicy_Machine_Registry__0f2aad3f.pol")
    b = _build(tmp_path, "b", cortana, "--policy", pols / "my_windows_policy__Machine_Registry__1d11832a.pol")
    code, text, _ = run_cli("diff", a, b)
    assert code == 0
    lines = text.splitlines()
    i = lines.index("Policies")
    assert lines[i + 1].split("\t") == ["", "policy", "A", "B"]
    assert "policie\t" not in text and "\tcertificat\t" not in text
    assert any(x.startswith("+\tmy_windows_policy__Machine_Registry__1d11832a.pol: Software\\Policies\\Microsoft")
               for x in lines)
    doc = run_json("diff", a, b)
    assert doc["policies"]["added"] and doc["policies"]["removed"]


def _swap_commands(xml: bytes) -> bytes:
    """The real package's two CommandConfig elements in the other order; 'cortex' gets another line."""
    text = xml.decode("utf-8-sig")
    start = text.index("<CommandConfig Name=\"cortex\">")
    mid = text.index("<CommandConfig Name=\"GlobalProtect\">")
    end = text.index("</Command>")
    first, second = text[start:mid].strip(), text[mid:end].strip()
    first = first.replace("/qn /norestart", "/qn /norestart /l*v C:\\cortex.log")
    return (text[:start] + second + "\n" + first + "\n" + text[end:]).encode("utf-8")


def test_diff_matches_commands_by_name_and_prints_them_as_text(tmp_path, real_ppkg):
    """The real WCD package with its two commands swapped (and one command line changed): matched by
    Name, only 'cortex' changed, only its command line; text rows, not a Python dict; JSON objects."""
    src = real_ppkg / "wcd-gui-commands-msi.ppkg"
    tree = wimlib_extract(src, tmp_path / "x")
    assets = tmp_path / "assets"
    assets.mkdir()
    for f in (tree / "DataAsset").rglob("*.msi"):
        shutil.copy(f, assets / f.name)
    xml = tmp_path / "swapped.xml"
    xml.write_bytes(_swap_commands((tree / "Multivariant/0/customizations.xml").read_bytes()))
    out = tmp_path / "swapped.ppkg"
    code, _o, err = run_cli("build", xml, "-o", out, "--asset-dir", assets, "--no-catalog")
    assert code == 0, err
    doc = run_json("diff", src, out)
    cmds = doc["commands"]
    assert cmds["added"] == [] and cmds["removed"] == []
    [changed] = cmds["changed"]
    assert (changed["command"], changed["context"], changed["name"]) == ("PrimaryContext/cortex", "PrimaryContext",
                                                                         "cortex")
    assert changed["fields"] == ["command_line"]
    assert (changed["a"]["index"], changed["b"]["index"]) == (0, 1)          # moved: not what it is
    assert changed["a"]["options"] == {"ContinueInstall": "true", "RestartRequired": "false",
                                       "ReturnCodeRestart": "3010", "ReturnCodeSuccess": "0"}
    assert changed["b"]["command_line"].endswith("/l*v C:\\cortex.log")
    code, text, _ = run_cli("diff", src, out)
    rows = [r.split("\t") for r in text.splitlines() if r.startswith(("+\t", "-\t", "~\t"))]
    cmd_rows = [r for r in rows if r[1].startswith("PrimaryContext/")]
    assert cmd_rows == [["~", "PrimaryContext/cortex",
                         'command line: msiexec /i "cortex_xdr_9_0_0_16757_x64.msi" /qn /norestart',
                         'command line: msiexec /i "cortex_xdr_9_0_0_16757_x64.msi" /qn /norestart /l*v C:\\cortex.log']]
    assert "{'" not in text and "'}" not in text


def test_diff_added_command_rows_show_what_it_runs(tmp_path, real_ppkg):
    doc_text = run_cli("diff", real_ppkg / "icd-cli-oobe.ppkg", real_ppkg / "wcd-gui-commands-msi.ppkg")[1]
    rows = [r.split("\t") for r in doc_text.splitlines() if r.startswith("+\tPrimaryContext/cortex")]
    assert rows == [["+", "PrimaryContext/cortex", "", 'command line: msiexec /i "cortex_xdr_9_0_0_16757_x64.msi" '
                     "/qn /norestart"],
                    ["+", "PrimaryContext/cortex", "", "file: Cortex_XDR_9_0_0_16757_x64.msi"],
                    ["+", "PrimaryContext/cortex", "", "options: ContinueInstall=true, RestartRequired=false, "
                     "ReturnCodeRestart=3010, ReturnCodeSuccess=0"]]
    assert "{'" not in doc_text


def test_the_same_certificate_is_not_changed(tmp_path):
    """One root certificate, carried under another CertificateName and provxml number in B (a setting
    added before it): not "changed" (was: its source path differed); another certificate is added."""
    root = _openssl_root(tmp_path, "CorpRoot")
    other = _openssl_root(tmp_path, "OtherRoot")
    a = _build(tmp_path, "a", policies({"Experience/AllowCortana": "No"}), "--root-cert", root)
    shutil.copy(root, tmp_path / "renamed.pem")
    b = _build(tmp_path, "b", policies({"Experience/AllowCortana": "No", "Camera/AllowCamera": "Yes"}),
               "--root-cert", tmp_path / "renamed.pem", "--root-cert", other)
    doc = run_json("diff", a, b)
    certs = doc["certificates"]
    assert certs["changed"] == [] and certs["removed"] == []
    [added] = certs["added"]
    thumb = subprocess.run(["openssl", "x509", "-in", str(other), "-noout", "-fingerprint", "-sha1"],
                           check=True, capture_output=True, text=True).stdout.split("=", 1)[1].strip().replace(":", "")
    assert (added["certificate"], added["kind"], added["b"]["subject"]) == (thumb, "Root", "CN=OtherRoot")
    same = run_json("diff", a, a)["certificates"]
    assert same == {"added": [], "removed": [], "changed": []}
    text = run_cli("diff", a, b)[1]
    assert f"~\t{thumb}" not in text and f"+\t{thumb}" in text
    # the certificate of A is in B (same bytes): no row for it at all
    root_thumb = subprocess.run(["openssl", "x509", "-in", str(root), "-noout", "-fingerprint", "-sha1"], check=True,
                                capture_output=True, text=True).stdout.split("=", 1)[1].strip().replace(":", "")
    assert not any(r.split("\t")[1:2] == [root_thumb] for r in text.splitlines())
