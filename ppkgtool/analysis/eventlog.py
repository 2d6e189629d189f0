"""Explain an exported Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin event log.

Input: the XML that ``wevtutil qe Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin /f:xml``
writes (a sequence of ``<Event>`` elements, no root), Event Viewer's "Save as XML" (``<Events>``
root), or an ``.evtx`` file (read with the ``evtx`` package, a maintained Rust-based EVTX parser,
pyevtx-rs: pure reading, no Windows API; it renders each record to the same event XML).

Event IDs of the provider (provider GUID ED8B9BD3-F66E-4FF2-B86B-75C7925F72A9; messages as the
provider's manifest states them [C from the published manifest listing]):
 10 Configuring ProvXML with category '%1' (Message2: CSP node)    11 ProvXML category '%1' completed
 12 ProvXML category '%1' failed with HRESULT at CSP node '%2'      13 Setting %1 ignored: not on this OS build
 20 Applying package '%1' ID %2    21 Package '%1' has completed    22 Package '%1' failed with HRESULT
 23 Skipping package '%1' ID %2    30/31/32 provisioning turn started/completed/failed
Events 10-13 between a package's 20 and its 21/22 belong to that package [I: the log is sequential].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from lxml import etree

from ppkgtool.errors import FormatError, InvalidInputError

PROVIDER = "Microsoft-Windows-Provisioning-Diagnostics-Provider"
EVENT_NS = "http://schemas.microsoft.com/win/2004/08/events/event"
MAX_LOG_BYTES = 256 * 1024 * 1024
MAX_EVENTS = 2_000_000
EVTX_MAGIC = b"ElfFile\x00"

EVENT_MEANING = {
    10: "configuring a setting category",
    11: "setting category applied",
    12: "failed at a CSP node",
    13: "ignored: not available on this OS build",
    20: "applying package",
    21: "package completed",
    22: "package failed",
    23: "package skipped",
    30: "provisioning turn started",
    31: "provisioning turn completed",
    32: "provisioning turn failed",
}

HRESULTS = {
    0x80004005: "E_FAIL (unspecified failure)",
    0x80070005: "E_ACCESSDENIED",
    0x80070057: "E_INVALIDARG (a value the CSP does not accept)",
    0x8007000D: "ERROR_INVALID_DATA",
    0x80070002: "ERROR_FILE_NOT_FOUND",
    0x80070003: "ERROR_PATH_NOT_FOUND",
    0x800700B7: "ERROR_ALREADY_EXISTS (package ID already installed)",
    0x80070570: "ERROR_FILE_CORRUPT",
    0x80070490: "ERROR_NOT_FOUND (no such CSP node on this build)",
    0x80070032: "ERROR_NOT_SUPPORTED",
    0x8007139F: "ERROR_INVALID_STATE",
    0x86000011: "CSP node already exists",
    0x86000020: "CSP node not found",
    0x800710D8: "ERROR_OBJECT_NOT_FOUND",
    0xC00CEE2D: "XML error (a provxml without its UTF-8 BOM, see ppkg-format.md)",
}


@dataclass(frozen=True)
class Event:
    event_id: int
    time: str | None
    record_id: int | None
    level: int | None
    data: tuple[tuple[str, str], ...]
    provider: str | None = None

    def get(self, *names: str, index: int | None = None) -> str | None:
        for n in names:
            for k, v in self.data:
                if k.lower() == n.lower():
                    return v
        if index is not None and index < len(self.data):
            return self.data[index][1]
        return None


def format_hresult(text: str | None) -> str | None:
    """'0x80070057 E_INVALIDARG (...)' from a decimal, negative or hex HRESULT."""
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip()
    try:
        value = int(raw, 16) if raw.lower().startswith("0x") else int(raw)
    except ValueError:
        return raw
    value &= 0xFFFFFFFF
    name = HRESULTS.get(value)
    return f"0x{value:08X}" + (f" {name}" if name else "")


@dataclass
class SettingOutcome:
    category: str | None
    node: str | None
    status: str                 # applied, failed, ignored, started
    hresult: str | None = None
    time: str | None = None
    event_id: int = 0

    def to_json(self) -> dict:
        return {"category": self.category, "node": self.node, "status": self.status, "hresult": self.hresult,
                "time": self.time, "event_id": self.event_id, "meaning": EVENT_MEANING.get(self.event_id)}


@dataclass
class PackageOutcome:
    name: str | None
    package_id: str | None
    status: str                 # applying (no end event seen), applied, failed, skipped
    hresult: str | None = None
    started: str | None = None
    ended: str | None = None
    settings: list[SettingOutcome] = field(default_factory=list)

    def counts(self) -> dict:
        out: dict[str, int] = {}
        for s in self.settings:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    def to_json(self) -> dict:
        return {"name": self.name, "id": self.package_id, "status": self.status, "hresult": self.hresult,
                "started": self.started, "ended": self.ended, "counts": self.counts(),
                "settings": [s.to_json() for s in self.settings]}


@dataclass
class LogExplanation:
    packages: list[PackageOutcome]
    outside: list[SettingOutcome]          # setting events seen outside any package
    turns: list[dict]
    events: int
    other_events: int
    source_format: str

    def to_json(self) -> dict:
        return {"format": self.source_format, "events": self.events, "other_events": self.other_events,
                "packages": [p.to_json() for p in self.packages],
                "settings_outside_packages": [s.to_json() for s in self.outside], "turns": self.turns,
                "summary": {"packages": len(self.packages),
                            "failed_packages": sum(p.status == "failed" for p in self.packages),
                            "skipped_packages": sum(p.status == "skipped" for p in self.packages),
                            "failed_settings": sum(s.status == "failed" for p in self.packages for s in p.settings)
                            + sum(s.status == "failed" for s in self.outside),
                            "ignored_settings": sum(s.status == "ignored" for p in self.packages for s in p.settings)
                            + sum(s.status == "ignored" for s in self.outside)}}


# --- reading -------------------------------------------------------------------------------------

def _parser():
    from ppkgtool import xmlsafe      # the project's one hardened parser set-up (large exports: huge)
    return xmlsafe.parser(huge=True, strip_comments=True)


def _decode(data: bytes, where: str = "event log") -> str:
    """The export's text: UTF-16 (with or without BOM) or UTF-8; odd-length or broken UTF-16 is a
    FormatError naming the byte, never a crash."""
    try:
        if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
            return data.decode("utf-16")
        if len(data) > 1 and data[1:2] == b"\x00" and data[:1] != b"\x00":
            return data.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-16 text ({exc.reason} at byte {exc.start})", where=where) from None
    return data.decode("utf-8-sig", errors="replace")


def events_from_xml(data: bytes, where: str = "event log") -> list[Event]:
    """Events from wevtutil /f:xml output (no root) or an <Events> document."""
    if len(data) > MAX_LOG_BYTES:
        raise FormatError(f"export is {len(data)} bytes, more than the {MAX_LOG_BYTES} allowed", where=where)
    text = _decode(data, where)
    if re.search(r"<!DOCTYPE|<!ENTITY", text[:1_000_000], re.I):
        raise FormatError("XML with a DOCTYPE or entity declaration is refused", where=where)
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        root = etree.fromstring(("<ppkgtoolEvents>" + text + "</ppkgtoolEvents>").encode("utf-8"), _parser())
    except etree.XMLSyntaxError as exc:
        raise FormatError(f"not an event XML export ({exc})", where=where,
                          hint="export with: wevtutil qe Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin "
                               "/f:xml > log.xml, or save the log as .evtx") from None
    events = []
    for el in root.iter("{%s}Event" % EVENT_NS, "Event"):
        events.append(_event(el))
        if len(events) > MAX_EVENTS:
            raise FormatError(f"more than {MAX_EVENTS} events", where=where)
    if not events and text.strip():
        raise FormatError("no <Event> elements found", where=where,
                          hint="is this an export of the Provisioning-Diagnostics-Provider/Admin log?")
    return events


def _find(el, name):
    r = el.find("{%s}%s" % (EVENT_NS, name))
    return r if r is not None else el.find(name)


def _number(el) -> int | None:
    """An element's decimal text (ASCII digits only: str.isdigit() also accepts '²'), else None."""
    text = (el.text or "").strip() if el is not None else ""
    return int(text) if re.fullmatch(r"[0-9]{1,20}", text) else None


def _event(el) -> Event:
    system = _find(el, "System")
    eid, time, rec, level, provider = 0, None, None, None, None
    if system is not None:
        eid = _number(_find(system, "EventID")) or 0
        t = _find(system, "TimeCreated")
        time = t.get("SystemTime") if t is not None else None
        r = _find(system, "EventRecordID")
        rec = _number(r)
        lv = _find(system, "Level")
        level = _number(lv)
        p = _find(system, "Provider")
        provider = p.get("Name") if p is not None else None
    data = []
    for section in ("EventData", "UserData"):
        sec = _find(el, section)
        if sec is None:
            continue
        for i, d in enumerate(sec.iter()):
            if d is sec or not isinstance(d.tag, str):
                continue
            if len(d) == 0:
                name = d.get("Name") or etree.QName(d).localname
                data.append((name if name != "Data" else f"Data{i}", (d.text or "").strip()))
    return Event(event_id=eid, time=time, record_id=rec, level=level, data=tuple(data), provider=provider)


def check_evtx_header(path: str) -> None:
    """The EVTX file header (libevtx documentation, "File header"): signature, header size 128,
    major version 3, block size 4096, CRC32 of its first 120 bytes at offset 124."""
    import struct
    import zlib

    with open(path, "rb") as fh:
        head = fh.read(4096)
    if len(head) < 128 or head[:8] != EVTX_MAGIC:
        raise FormatError("not an EVTX file (no ElfFile signature)", where=str(path))
    header_size, minor, major, block = struct.unpack_from("<IHHH", head, 32)
    crc = struct.unpack_from("<I", head, 124)[0]
    if header_size != 128 or major != 3 or block != 4096:
        raise FormatError(f"not a valid EVTX file header (size {header_size}, version {major}.{minor}, "
                          f"block {block})", where=str(path))
    if zlib.crc32(head[:120]) & 0xFFFFFFFF != crc:
        raise FormatError("EVTX file header checksum does not match (damaged or not EVTX)", where=str(path))


def events_from_evtx(path: str) -> list[Event]:
    """Events of an .evtx file, read with the ``evtx`` package (records rendered as event XML)."""
    try:
        from evtx import PyEvtxParser
    except ImportError:
        raise InvalidInputError("reading .evtx needs the 'evtx' package (pip install evtx)",
                                hint="or export the log as XML with wevtutil qe ... /f:xml") from None
    check_evtx_header(path)
    try:
        parser = PyEvtxParser(str(path))
        events = []
        for record in parser.records():
            xml = record.get("data") if isinstance(record, dict) else None
            if not xml:
                continue
            events.extend(events_from_xml(xml.encode("utf-8"), where=f"{path} record {record.get('event_record_id')}"))
            if len(events) > MAX_EVENTS:
                raise FormatError(f"more than {MAX_EVENTS} events", where=str(path))
        return events
    except (RuntimeError, OSError, ValueError) as exc:
        raise FormatError(f"not a readable EVTX file ({exc})", where=str(path)) from None


def read_log(path: str) -> tuple[list[Event], str]:
    from ppkgtool.fsutil import read_at_most
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == EVTX_MAGIC:
        return events_from_evtx(path), "evtx"
    with open(path, "rb") as fh:
        data = read_at_most(fh, MAX_LOG_BYTES)
    return events_from_xml(data, where=str(path)), "xml"


# --- explaining ----------------------------------------------------------------------------------

def explain(events: Iterable[Event], source_format: str = "xml") -> LogExplanation:
    """Group the events per package and setting (see the module docstring for the event IDs)."""
    evs = sorted(events, key=lambda e: (e.time or "", e.record_id or 0))
    packages: list[PackageOutcome] = []
    outside: list[SettingOutcome] = []
    turns: list[dict] = []
    current: PackageOutcome | None = None
    pending: dict[str, SettingOutcome] = {}
    other = 0
    count = 0

    def sink() -> list[SettingOutcome]:
        return current.settings if current is not None else outside

    for e in evs:
        if e.provider and e.provider != PROVIDER:
            other += 1
            continue
        count += 1
        eid = e.event_id
        m1 = e.get("Message1", index=0)
        m2 = e.get("Message2", index=1)
        if eid == 20:
            current = PackageOutcome(name=m1, package_id=m2, status="applying", started=e.time)
            packages.append(current)
            pending = {}
        elif eid in (21, 22):
            target = current
            if target is None or (m1 and target.name and m1 != target.name):
                target = next((p for p in reversed(packages) if p.name == m1), None)
            if target is None:
                target = PackageOutcome(name=m1, package_id=None, status="applying")
                packages.append(target)
            target.status = "applied" if eid == 21 else "failed"
            target.ended = e.time
            if eid == 22:
                target.hresult = format_hresult(e.get("HRESULT", "HResult", "Message2", index=1))
            if target is current:
                current = None
        elif eid == 23:
            packages.append(PackageOutcome(name=m1, package_id=m2, status="skipped", started=e.time, ended=e.time))
        elif eid == 10:
            so = SettingOutcome(category=m1, node=m2, status="started", time=e.time, event_id=10)
            sink().append(so)
            pending[m1 or ""] = so
        elif eid == 11:
            so = pending.pop(m1 or "", None)
            if so is None:
                so = SettingOutcome(category=m1, node=None, status="applied", time=e.time, event_id=11)
                sink().append(so)
            so.status, so.event_id, so.time = "applied", 11, e.time
        elif eid == 12:
            named = e.get("Message2") is not None
            hr = e.get("HRESULT", "HResult", "ErrorCode", index=None if named else 1)
            node = e.get("Message2") if named else e.get(index=2)
            so = pending.pop(m1 or "", None)
            if so is None:
                so = SettingOutcome(category=m1, node=node, status="failed", time=e.time, event_id=12)
                sink().append(so)
            so.status, so.event_id, so.time = "failed", 12, e.time
            so.node = node or so.node
            so.hresult = format_hresult(hr)
        elif eid == 13:
            sink().append(SettingOutcome(category=None, node=m1, status="ignored", time=e.time, event_id=13))
        elif eid in (30, 31, 32):
            turns.append({"event_id": eid, "turn": m1, "meaning": EVENT_MEANING[eid], "time": e.time,
                          "hresult": format_hresult(e.get("HRESULT", index=1)) if eid == 32 else None})
        else:
            other += 1
    return LogExplanation(packages=packages, outside=outside, turns=turns, events=count, other_events=other,
                          source_format=source_format)


def explain_file(path: str) -> LogExplanation:
    events, fmt = read_log(path)
    return explain(events, fmt)
