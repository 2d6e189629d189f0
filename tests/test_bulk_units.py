"""Issue 10: the devices CSV and the journal (no DC needed)."""

from __future__ import annotations

import json

import pytest

from ppkgtool.bulk.devices import parse_devices
from ppkgtool.bulk.journal import Journal
from ppkgtool.errors import InvalidInputError


def test_devices_csv_parses_names_ous_and_variables():
    data = ("name,ou,var:Site,var:Asset\n"
            "pc01,\"OU=Lab,DC=test,DC=lab\",Berlin,A1\n"
            "pc-02,,Paris,A2\n").encode()
    devices = parse_devices(data)
    assert [d.name for d in devices] == ["PC01", "PC-02"]
    assert devices[0].ou == "OU=Lab,DC=test,DC=lab"
    assert devices[1].ou is None
    assert devices[0].vars == {"Site": "Berlin", "Asset": "A1"}
    assert devices[1].line == 3


def test_every_csv_problem_is_reported_at_once():
    data = ("name,ou\n"
            "good01,\n"
            "toolongname0123456,\n"   # > 15
            "bad_name,\n"             # underscore
            "12345,\n"                # only digits
            "GOOD01,\n"               # duplicate (case-insensitive)
            "pc09,not a dn\n"         # bad OU
            "pc10,OU=x\n").encode()   # OU without DC=
    with pytest.raises(InvalidInputError) as exc:
        parse_devices(data, source_name="devices.csv")
    msg = exc.value.message
    assert "6 problem(s)" in msg and "nothing was created" in msg
    for line in (3, 4, 5, 6, 7, 8):
        assert f"devices.csv:{line}:" in msg
    assert "duplicate name 'GOOD01' (first on line 2)" in msg
    assert "use 1-15 letters" in msg


def test_csv_header_problems():
    with pytest.raises(InvalidInputError, match="no 'name' column"):
        parse_devices(b"host\npc01\n")
    with pytest.raises(InvalidInputError, match="unknown column 'colour'"):
        parse_devices(b"name,colour\npc01,red\n")
    with pytest.raises(InvalidInputError, match="no devices"):
        parse_devices(b"name\n\n")
    with pytest.raises(InvalidInputError, match="2 fields, header has 1"):
        parse_devices(b"name\npc01,extra\n")


def test_journal_is_append_only_resumable_and_tolerates_a_torn_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    j = Journal(path)
    j.record("PC01", "planned")
    j.record("PC01", "password_saved")
    j.record("PC02", "planned")
    j.record("PC02", "failed", error="boom", code=2224)
    j.close()
    with open(path, "a") as fh:
        fh.write('{"device": "PC01", "sta')   # a crash mid-write
    j2 = Journal(path)
    assert j2.get("PC01") == "password_saved"
    assert j2.reached("PC01", "planned") and not j2.reached("PC01", "account_created")
    assert j2.get("PC02") == "planned" and j2.errors["PC02"]["code"] == 2224
    j2.close()
    lines = [json.loads(l) for l in path.read_text().splitlines()[:4]]
    assert [l["state"] for l in lines] == ["planned", "password_saved", "planned", "failed"]


def test_journal_refuses_corruption_in_the_middle(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text('{"device": "PC01", "state": "planned"}\nGARBAGE\n{"device": "PC01", "state": "done"}\n')
    with pytest.raises(InvalidInputError, match="journal.jsonl:2"):
        Journal(path)
