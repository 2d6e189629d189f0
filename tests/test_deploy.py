"""ppkgtool deploy: USB root, image Recovery\\Customizations, ProgramData - with real Microsoft-built packages."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ppkgtool.cli import main
from ppkgtool.deploy.targets import (DeployError, FAT32_MAX_FILE, _check_room, deploy_image, deploy_usb,
                                     examine_package, find_windows_image, resolve_ci)
from ppkgtool.errors import InvalidInputError, OutputExistsError
from test_regf_support import empty_hive_bytes


def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def image(tmp_path) -> Path:
    root = tmp_path / "img"
    cfg = root / "Windows" / "System32" / "config"
    cfg.mkdir(parents=True)
    (cfg / "SYSTEM").write_bytes(empty_hive_bytes())
    return root


def test_usb_copy_is_verified_idempotent_and_warns_on_second_package(tmp_path, real_ppkg, capsys):
    usb = tmp_path / "usb"
    usb.mkdir()
    pkg = real_ppkg / "wcd-itadmin-rank52.ppkg"
    rc, out, err = run_cli(capsys, "deploy", str(pkg), "--usb", str(usb), "--json")
    assert rc == 0
    doc = json.loads(out)
    dest = usb / pkg.name
    assert doc["destination"] == str(dest) and doc["copied"] is True and doc["verified"] is True
    assert doc["sha256"] == sha256(pkg) == sha256(dest)
    assert doc["other_packages"] == []
    assert not [p for p in usb.iterdir() if p.name.startswith(".")]           # no temp files left
    mtime = dest.stat().st_mtime_ns

    rc, out, err = run_cli(capsys, "deploy", str(pkg), "--usb", str(usb), "--json")   # again: idempotent
    doc = json.loads(out)
    assert rc == 0 and doc["copied"] is False and doc["already_present"] is True
    assert dest.stat().st_mtime_ns == mtime

    second = real_ppkg / "icd-cli-oobe.ppkg"
    rc, out, err = run_cli(capsys, "deploy", str(second), "--usb", str(usb), "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["other_packages"] == [pkg.name]
    assert "chooser" in err and pkg.name in err
    assert any("chooser" in w for w in doc["warnings"])
    assert sha256(usb / second.name) == sha256(second)


def test_usb_catalog_copied_beside_package_and_checked(tmp_path, real_ppkg, capsys):
    usb = tmp_path / "usb"
    usb.mkdir()
    pkg, cat = real_ppkg / "wcd-itadmin-rank52.ppkg", real_ppkg / "wcd-itadmin-rank52.cat"
    rc, out, err = run_cli(capsys, "deploy", str(pkg), "--usb", str(usb), "--catalog", str(cat), "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["catalog_copied"] is True
    assert (usb / "wcd-itadmin-rank52.cat").read_bytes() == cat.read_bytes()
    assert not any("does not list" in w for w in doc["warnings"])
    # a catalog of another package: copied, but the user is told it does not cover this package
    other = real_ppkg / "icd-cli-oobe.ppkg"
    rc, out, err = run_cli(capsys, "deploy", str(other), "--usb", str(usb), "--catalog", str(cat), "--json")
    assert rc == 0 and "does not list this package" in err
    assert (usb / "icd-cli-oobe.cat").read_bytes() == cat.read_bytes()


def test_sibling_catalog_is_pointed_out(tmp_path, real_ppkg):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("wcd-itadmin-rank52.ppkg", "wcd-itadmin-rank52.cat"):
        (src / name).write_bytes((real_ppkg / name).read_bytes())
    usb = tmp_path / "usb"
    usb.mkdir()
    placement = deploy_usb(src / "wcd-itadmin-rank52.ppkg", usb)
    assert any("--catalog" in w for w in placement.warnings)
    assert not (usb / "wcd-itadmin-rank52.cat").exists()


def test_different_file_of_same_name_needs_overwrite(tmp_path, real_ppkg, capsys):
    usb = tmp_path / "usb"
    usb.mkdir()
    pkg = real_ppkg / "icd-cli-oobe.ppkg"
    (usb / pkg.name).write_bytes(b"MSWIM\0\0\0 an older build")
    rc, out, err = run_cli(capsys, "deploy", str(pkg), "--usb", str(usb))
    assert rc == 3 and "already exists" in err and "--overwrite" in err
    assert (usb / pkg.name).read_bytes() == b"MSWIM\0\0\0 an older build"
    rc, out, err = run_cli(capsys, "deploy", str(pkg), "--usb", str(usb), "--overwrite")
    assert rc == 0 and sha256(usb / pkg.name) == sha256(pkg)


def test_image_customizations_created_and_idempotent(image, real_ppkg, capsys):
    pkg = real_ppkg / "wcd-gui-commands-msi.ppkg"
    rc, out, err = run_cli(capsys, "deploy", str(pkg), "--image", str(image), "--json")
    doc = json.loads(out)
    dest = image / "Recovery" / "Customizations" / pkg.name
    assert rc == 0 and doc["target"] == "image" and doc["destination"] == str(dest)
    assert sha256(dest) == sha256(pkg)
    assert "sysprep /generalize" in err                 # what users hit
    rc, out, err = run_cli(capsys, "deploy", str(pkg), "--image", str(image), "--json")
    assert rc == 0 and json.loads(out)["copied"] is False
    rc, out, err = run_cli(capsys, "deploy", str(real_ppkg / "icd-cli-oobe.ppkg"), "--image", str(image), "--json")
    assert rc == 0 and json.loads(out)["other_packages"] == [pkg.name] and "applied too" in err


def test_image_existing_folders_matched_case_insensitively(image, real_ppkg):
    (image / "recovery" / "CUSTOMIZATIONS").mkdir(parents=True)
    placement = deploy_image(real_ppkg / "icd-cli-oobe.ppkg", image)
    assert placement.destination == image / "recovery" / "CUSTOMIZATIONS" / "icd-cli-oobe.ppkg"
    assert not (image / "Recovery").exists()


def test_programdata_target(image, real_ppkg, capsys):
    rc, out, err = run_cli(capsys, "deploy", str(real_ppkg / "icd-cli-oobe.ppkg"), "--image", str(image),
                           "--programdata", "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["target"] == "programdata"
    assert (image / "ProgramData" / "Microsoft" / "Provisioning" / "icd-cli-oobe.ppkg").is_file()
    assert "not documented" in err


def test_tree_without_windows_config_is_refused(tmp_path, real_ppkg, capsys):
    bare = tmp_path / "notanimage"
    (bare / "Windows" / "System32").mkdir(parents=True)
    rc, out, err = run_cli(capsys, "deploy", str(real_ppkg / "icd-cli-oobe.ppkg"), "--image", str(bare))
    assert rc == 3
    assert "is not a Windows image" in err and "Windows/System32/config/SYSTEM" in err
    assert not (bare / "Recovery").exists()
    assert out == ""


def test_windows_folder_given_instead_of_root_gets_a_hint(image):
    with pytest.raises(DeployError) as exc:
        find_windows_image(image / "Windows")
    assert "parent" in exc.value.one_line()


def test_usage_errors(tmp_path, real_ppkg, capsys):
    assert main(["deploy", str(real_ppkg / "icd-cli-oobe.ppkg")]) == 2   # argument errors: exit 2, no raise
    assert "one of the arguments --usb --image is required" in capsys.readouterr().err
    rc, out, err = run_cli(capsys, "deploy", str(real_ppkg / "icd-cli-oobe.ppkg"), "--usb", str(tmp_path),
                           "--programdata")
    assert rc == 2 and "--programdata needs --image" in err


def test_not_a_package_is_refused(tmp_path):
    bogus = tmp_path / "x.ppkg"
    bogus.write_bytes(b"PK\x03\x04 this is a zip")
    with pytest.raises(InvalidInputError) as exc:
        examine_package(bogus)
    assert "not a provisioning package" in str(exc.value)


def test_encrypted_looking_package_is_accepted_with_warning(tmp_path):
    enc = tmp_path / "enc.ppkg"
    enc.write_bytes(os.urandom(16 + 160 * 3 + 32))
    usb = tmp_path / "usb"
    usb.mkdir()
    placement = deploy_usb(enc, usb)
    assert placement.copied and any("encrypted" in w for w in placement.warnings)


def test_room_checks():
    with pytest.raises(DeployError) as exc:
        _check_room(FAT32_MAX_FILE + 1, Path("/"), "vfat")
    assert "FAT32" in str(exc.value) and "4 GiB" in str(exc.value)
    with pytest.raises(DeployError) as exc:
        _check_room(1 << 62, Path("/tmp"), "ext4")
    assert "bytes free" in str(exc.value)


def test_resolve_ci_never_leaves_base(tmp_path):
    with pytest.raises(ValueError):
        resolve_ci(tmp_path, "..")
    with pytest.raises(ValueError):
        resolve_ci(tmp_path, "a/b")


def test_output_exists_is_exit_3(tmp_path, real_ppkg):
    usb = tmp_path / "usb"
    usb.mkdir()
    (usb / "icd-cli-oobe.ppkg").mkdir()
    with pytest.raises(OutputExistsError):
        deploy_usb(real_ppkg / "icd-cli-oobe.ppkg", usb)
