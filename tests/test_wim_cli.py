"""`ppkgtool extract` and `ppkgtool pack` end to end, against the real packages and wimlib-imagex."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ppkgtool.cli import main
from ppkgtool.package.metadata import Notes
from ppkgtool.wim import open_wim
from test_wim_helpers import tree_files

pytestmark = pytest.mark.skipif(shutil.which("wimlib-imagex") is None, reason="wimlib-imagex (wimtools) missing")

PACKAGES = ["icd-cli-oobe.ppkg", "wcd-gui-commands-msi.ppkg", "wcd-itadmin-rank52.ppkg"]
PROPERTY_NAMES = ["NAME", "DESCRIPTION", "VERSION", "ALTITUDE", "RESETCLEAR", "PACKAGEID"]


def run_json(capsys, argv) -> tuple[int, dict]:
    rc = main(argv + ["--json"])
    out = capsys.readouterr().out
    return rc, json.loads(out) if out.strip() else {}


@pytest.mark.parametrize("name", PACKAGES)
def test_extract_then_pack_round_trip(real_ppkg, tmp_path, capsys, name):
    src = real_ppkg / name
    rc, doc = run_json(capsys, ["extract", str(src), str(tmp_path / "x")])
    assert rc == 0
    subprocess.run(["wimlib-imagex", "extract", str(src), "1", f"--dest-dir={tmp_path / 'ref'}"], check=True,
                   capture_output=True)
    assert tree_files(tmp_path / "x") == tree_files(tmp_path / "ref")
    assert doc["count"] == len(tree_files(tmp_path / "ref")) == len(doc["files"])
    assert all(Path(f["written_to"]).is_file() for f in doc["files"])

    out = tmp_path / "re.ppkg"
    rc, packed = run_json(capsys, ["pack", str(tmp_path / "x"), "-o", str(out)])
    assert rc == 0 and out.is_file()
    assert subprocess.run(["wimlib-imagex", "verify", str(out)], capture_output=True).returncode == 0
    # the files of the new package equal the original's
    subprocess.run(["wimlib-imagex", "extract", str(out), "1", f"--dest-dir={tmp_path / 'again'}"], check=True,
                   capture_output=True)
    assert tree_files(tmp_path / "again") == tree_files(tmp_path / "ref")
    # ... and so do the image properties (NOTES records the builder; its PackageID is the same)
    with open_wim(src) as a, open_wim(out) as b:
        pa, pb = a.image(1).properties, b.image(1).properties
        assert b.header.flags == 0x20082 and b.header.version == 0x10D00 and b.header.chunk_size == 32768
    for key in PROPERTY_NAMES:
        assert pb[key] == pa[key], key
    assert Notes.parse(pb["NOTES"]).package_id == Notes.parse(pa["NOTES"]).package_id
    assert Notes.parse(pb["NOTES"]).source == "CLI"
    assert packed["sha256"] and packed["properties"]["ALTITUDE"] == pa["ALTITUDE"]
    assert "provisioning package" in subprocess.run(["file", "-b", str(out)], capture_output=True,
                                                    text=True).stdout


def test_pack_with_original_notes_equals_all_properties(real_ppkg, tmp_path, capsys):
    src = real_ppkg / "wcd-itadmin-rank52.ppkg"
    assert main(["extract", str(src), str(tmp_path / "x")]) == 0
    with open_wim(src) as a:
        pa = dict(a.image(1).properties)
    out = tmp_path / "re.ppkg"
    assert main(["pack", str(tmp_path / "x"), "-o", str(out), "--notes", pa["NOTES"]]) == 0
    with open_wim(out) as b:
        pb = b.image(1).properties
    for key in ["NAME", "DESCRIPTION", "NOTES", "AUTHOR", "VERSION", "ALTITUDE", "RESETCLEAR", "PACKAGEID"]:
        assert pb[key] == pa[key], key
    assert pb["ALTITUDE"] == "5052"


def test_pack_options_override_and_warn(real_ppkg, tmp_path, capsys):
    assert main(["extract", str(real_ppkg / "icd-cli-oobe.ppkg"), str(tmp_path / "x")]) == 0
    capsys.readouterr()
    out = tmp_path / "o.ppkg"
    rc = main(["pack", str(tmp_path / "x"), "-o", str(out), "--owner-type", "ITAdmin", "--rank", "7",
               "--name", "Renamed", "--version", "2.0.1", "--description", "new",
               "--package-id", "{11111111-2222-3333-4444-555555555555}"])
    err = capsys.readouterr().err
    assert rc == 0
    assert "PackageConfig/Rank" in err and "PackageConfig/OwnerType" in err
    with open_wim(out) as w:
        p = w.image(1).properties
    assert (p["NAME"], p["VERSION"], p["ALTITUDE"], p["DESCRIPTION"]) == ("Renamed", "2.0.1", "5007", "new")
    assert p["PACKAGEID"] == "{11111111-2222-3333-4444-555555555555}"
    assert "PackageID=11111111-2222-3333-4444-555555555555;" in p["NOTES"]


def test_pack_reproducible(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "pkg"
    (folder / "Multivariant" / "0").mkdir(parents=True)
    (folder / "Multivariant" / "0" / "MasterDatastore.xml").write_bytes(b"\xef\xbb\xbf$(_prov)\\RunTime.xml")
    (folder / "DataAsset").mkdir()
    (folder / "DataAsset" / "blob.bin").write_bytes(os.urandom(100_000))
    a, b = tmp_path / "a.ppkg", tmp_path / "b.ppkg"
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert main(["pack", str(folder), "-o", str(a), "--reproducible", "--name", "R"]) == 0
    os.utime(folder / "DataAsset" / "blob.bin", (1, 1))          # mtimes do not matter
    assert main(["pack", str(folder), "-o", str(b), "--reproducible", "--name", "R"]) == 0
    assert a.read_bytes() == b.read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert main(["pack", str(folder), "-o", str(b), "--reproducible", "--name", "R", "--overwrite"]) == 0
    assert a.read_bytes() != b.read_bytes()
    info = subprocess.run(["wiminfo", str(b)], capture_output=True, text=True).stdout
    assert "Creation Time:          Tue Nov 14 22:13:20 2023 UTC" in info
    err = capsys.readouterr().err
    assert "derived" in err        # package ID derived from content, said so


def test_extract_refuses_non_empty_dir(real_ppkg, tmp_path, capsys):
    dest = tmp_path / "x"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    assert main(["extract", str(real_ppkg / "icd-cli-oobe.ppkg"), str(dest)]) == 3
    assert "not empty" in capsys.readouterr().err
    assert main(["extract", str(real_ppkg / "icd-cli-oobe.ppkg"), str(dest), "--overwrite"]) == 0
    assert (dest / "keep.txt").read_text() == "mine"
    assert (dest / "Multivariant" / "0" / "customizations.xml").is_file()


def test_extract_errors_exit_codes(real_ppkg, tmp_path, capsys):
    assert main(["extract", str(tmp_path / "missing.ppkg"), str(tmp_path / "x")]) == 3
    assert main(["extract", str(real_ppkg / "icd-cli-oobe.ppkg"), str(tmp_path / "y"), "--image", "2"]) == 3
    assert "image 2 does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.ppkg"
    junk.write_bytes(b"not a wim at all" * 100)
    assert main(["extract", str(junk), str(tmp_path / "z")]) == 3
    assert "no MSWIM magic" in capsys.readouterr().err
    enc = tmp_path / "enc.ppkg"       # the shape of an encrypted package: IV + n*160 + HMAC
    enc.write_bytes(os.urandom(16 + 160 * 10 + 32))
    assert main(["extract", str(enc), str(tmp_path / "w")]) == 3
    assert "encrypted" in capsys.readouterr().err
    assert not (tmp_path / "z").exists() or not any((tmp_path / "z").iterdir())


def test_pack_refusals(tmp_path, capsys):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"x")
    assert main(["pack", str(folder), "-o", str(folder / "inside.ppkg")]) == 2
    os.symlink("/etc/passwd", folder / "link.txt")
    assert main(["pack", str(folder), "-o", str(tmp_path / "o.ppkg")]) == 3
    assert "link" in capsys.readouterr().err
    assert not (tmp_path / "o.ppkg").exists()
    os.unlink(folder / "link.txt")
    assert main(["pack", str(folder), "-o", str(tmp_path / "o.ppkg"), "--rank", "100"]) == 3
    assert main(["pack", str(folder), "-o", str(tmp_path / "o.ppkg"), "--owner-type", "Nobody"]) == 3
    assert main(["pack", str(folder), "-o", str(tmp_path / "o.ppkg")]) == 0
    assert main(["pack", str(folder), "-o", str(tmp_path / "o.ppkg")]) == 3      # exists, no --overwrite
    assert "already exists" in capsys.readouterr().err
    assert main(["pack", str(tmp_path / "nope"), "-o", str(tmp_path / "p.ppkg")]) == 3
