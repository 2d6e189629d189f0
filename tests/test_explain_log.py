"""explain-log on exports in the documented wevtutil/Event Viewer event XML schema.

No real export of the Provisioning-Diagnostics-Provider/Admin log is available here: the tests
write exports in the event schema (http://schemas.microsoft.com/win/2004/08/events/event) with the
provider's event IDs and data fields as its manifest lists them (Message1/Message2, HRESULT).
"""

from __future__ import annotations

import json

import pytest

from ppkgtool.analysis.eventlog import explain, events_from_xml, format_hresult
from test_inspect_support import run_cli, run_json

NS = "http://schemas.microsoft.com/win/2004/08/events/event"
PROVIDER = "Microsoft-Windows-Provisioning-Diagnostics-Provider"
_record = [100]


def event(eid: int, *data: tuple[str, str], second: int = 0, provider: str = PROVIDER, level: int = 4) -> str:
    _record[0] += 1
    fields = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in data)
    return (f"<Event xmlns='{NS}'><System><Provider Name='{provider}' "
            f"Guid='{{ED8B9BD3-F66E-4FF2-B86B-75C7925F72A9}}'/><EventID>{eid}</EventID><Version>0</Version>"
            f"<Level>{level}</Level><Task>0</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords>"
            f"<TimeCreated SystemTime='2024-07-19T15:01:{second:02d}.1234567Z'/>"
            f"<EventRecordID>{_record[0]}</EventRecordID><Correlation/><Execution ProcessID='3584' ThreadID='3588'/>"
            f"<Channel>{PROVIDER}/Admin</Channel><Computer>PC1</Computer><Security UserID='S-1-5-18'/></System>"
            f"<EventData>{fields}</EventData></Event>")


PKG_A = ("generic Windows 11 prep", "{5bbb21f3-9309-4db9-a05e-4b4c679a14fa}")
PKG_B = ("acer baseconfig", "{19738506-279f-4439-993d-779fef2a3d60}")
PKG_C = ("old package", "{0df3a956-c277-4739-b187-a65c8f56e31d}")


def sample_events() -> list[str]:
    return [
        event(30, ("Message1", "1"), second=0),
        event(20, ("Message1", PKG_A[0]), ("Message2", PKG_A[1]), second=1),
        event(10, ("Message1", "Policy"), ("Message2", "Policy/Config/Experience/AllowCortana"), second=2),
        event(11, ("Message1", "Policy"), ("Message2", ""), second=3),
        event(10, ("Message1", "Accounts"), ("Message2", "Accounts/Users/admin/Password"), second=4),
        event(12, ("Message1", "Accounts"), ("HRESULT", "0x80070057"), ("Message2", "Accounts/Users/admin"),
              second=5, level=2),
        event(13, ("Message1", "MCSF/OOBE/Desktop/HideOobe"), second=6, level=3),
        event(22, ("Message1", PKG_A[0]), ("HRESULT", "-2147024809"), second=7, level=2),
        event(20, ("Message1", PKG_B[0]), ("Message2", PKG_B[1]), second=8),
        event(10, ("Message1", "ProvisioningCommands"), ("Message2", "ProvisioningCommands/PrimaryContext"), second=9),
        event(11, ("Message1", "ProvisioningCommands"), ("Message2", ""), second=10),
        event(21, ("Message1", PKG_B[0]), second=11),
        event(23, ("Message1", PKG_C[0]), ("Message2", PKG_C[1]), second=12),
        event(31, ("Message1", "1"), second=13),
        event(4624, ("Message1", "x"), provider="Microsoft-Windows-Security-Auditing", second=14),
    ]


def check(doc: dict) -> None:
    pk = {p["name"]: p for p in doc["packages"]}
    a, b, c = pk[PKG_A[0]], pk[PKG_B[0]], pk[PKG_C[0]]
    assert (a["status"], a["id"]) == ("failed", PKG_A[1])
    assert a["hresult"].startswith("0x80070057 E_INVALIDARG")
    st = {(s["category"], s["status"]): s for s in a["settings"]}
    assert st[("Policy", "applied")]["node"] == "Policy/Config/Experience/AllowCortana"
    failed = st[("Accounts", "failed")]
    assert failed["node"] == "Accounts/Users/admin" and failed["hresult"].startswith("0x80070057")
    ignored = [s for s in a["settings"] if s["status"] == "ignored"]
    assert ignored[0]["node"] == "MCSF/OOBE/Desktop/HideOobe" and ignored[0]["event_id"] == 13
    assert a["counts"] == {"applied": 1, "failed": 1, "ignored": 1}
    assert b["status"] == "applied" and b["counts"] == {"applied": 1}
    assert c["status"] == "skipped" and c["id"] == PKG_C[1]
    assert doc["summary"] == {"packages": 3, "failed_packages": 1, "skipped_packages": 1, "failed_settings": 1,
                              "ignored_settings": 1}
    assert [t["event_id"] for t in doc["turns"]] == [30, 31]
    assert doc["other_events"] == 1


def test_wevtutil_xml_export(tmp_path):
    export = tmp_path / "log.xml"
    export.write_text("".join(sample_events()), encoding="utf-8")   # wevtutil /f:xml: events, no root
    doc = run_json("explain-log", export)
    assert doc["format"] == "xml"
    check(doc)
    code, text, _ = run_cli("explain-log", export)
    assert code == 0 and "failed" in text and "Accounts/Users/admin" in text and "E_INVALIDARG" in text


def test_event_viewer_save_as_xml_utf16_and_out_of_order(tmp_path):
    evs = sample_events()
    evs = evs[::-1]                          # order comes from TimeCreated, not file order
    export = tmp_path / "saved.xml"
    export.write_bytes(("<?xml version='1.0' encoding='UTF-16'?><Events>" + "".join(evs) + "</Events>")
                       .encode("utf-16"))
    check(run_json("explain-log", export))


def test_bad_exports_are_clear_errors(tmp_path):
    notxml = tmp_path / "bad.xml"
    notxml.write_text("<Event><System>", encoding="utf-8")
    code, out, err = run_cli("explain-log", notxml)
    assert code == 3 and out == "" and "not an event XML export" in err
    dtd = tmp_path / "dtd.xml"
    dtd.write_text("<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><Event>&e;</Event>")
    code, _out, err = run_cli("explain-log", dtd)
    assert code == 3 and "DOCTYPE" in err
    evtx = tmp_path / "broken.evtx"
    evtx.write_bytes(b"ElfFile\x00" + b"\x00" * 4088)
    code, _out, err = run_cli("explain-log", evtx)
    assert code == 3 and "EVTX" in err
    other = tmp_path / "other.xml"
    other.write_text("<Events><Foo/></Events>")
    assert run_cli("explain-log", other)[0] == 3


def test_positional_event_data_and_hresults():
    # Event data without Name attributes (some exports) is read by position
    xml = (f"<Event xmlns='{NS}'><System><Provider Name='{PROVIDER}'/><EventID>12</EventID>"
           "<TimeCreated SystemTime='2024-01-01T00:00:00Z'/></System><EventData><Data>Policy</Data>"
           "<Data>2147942487</Data><Data>Policy/Config/Camera/AllowCamera</Data></EventData></Event>")
    result = explain(events_from_xml(xml.encode()))
    s = result.outside[0]
    assert (s.status, s.node, s.hresult[:10]) == ("failed", "Policy/Config/Camera/AllowCamera", "0x80070057")
    assert format_hresult("0x800700B7").startswith("0x800700B7 ERROR_ALREADY_EXISTS")
    assert format_hresult("-2147024891") == "0x80070005 E_ACCESSDENIED"
    assert json.dumps(result.to_json())


def test_evtx_reader_is_the_maintained_library():
    evtx = pytest.importorskip("evtx", reason="the evtx package reads .evtx exports")
    assert hasattr(evtx, "PyEvtxParser")


def test_header_only_evtx_goes_through_the_evtx_reader(tmp_path):
    """A valid EVTX file with no chunks (built from the documented header layout) reads as empty."""
    import struct
    import zlib

    head = bytearray(4096)
    head[:8] = b"ElfFile\x00"
    struct.pack_into("<QQQIHHHH", head, 8, 0, 0, 1, 128, 1, 3, 4096, 0)
    struct.pack_into("<I", head, 124, zlib.crc32(bytes(head[:120])))
    path = tmp_path / "empty.evtx"
    path.write_bytes(bytes(head))
    doc = run_json("explain-log", path)
    assert doc["format"] == "evtx" and doc["events"] == 0 and doc["packages"] == []
    head[41] = 0   # damage the block size (4096 -> 0): the header check says so
    path.write_bytes(bytes(head))
    code, _out, err = run_cli("explain-log", path)
    assert code == 3 and "EVTX" in err
