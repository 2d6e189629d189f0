"""Merge an ODJ blob into an unattend answer file, keeping everything else (odj-format.md, "Text forms").

The documented way to hand a blob to an offline image [C]: component
``Microsoft-Windows-UnattendedJoin`` in the ``specialize`` pass with
``Identification/Provisioning/AccountData`` = base64 of the blob (``offlineServicing`` uses
``OfflineIdentification/Provisioning/AccountData``).

Where Setup looks for the answer file on first boot, highest priority first (Microsoft's "implicit
answer file search order" [C]): the registry value ``HKLM\\SYSTEM\\Setup!UnattendFile``,
``%WINDIR%\\Panther\\Unattend``, ``%WINDIR%\\Panther``, removable media, ``%WINDIR%\\System32\\Sysprep``,
``%SYSTEMDRIVE%``; file names ``Unattend.xml`` or ``Autounattend.xml``.

Merging changes only the UnattendedJoin component of the chosen pass for each processor
architecture: every other pass, component, attribute, comment and namespace declaration is kept.
Pure function: bytes in, bytes out.
"""

from __future__ import annotations

import copy
import struct
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ppkgtool.errors import FormatError, InvalidInputError

UNATTEND_NS = "urn:schemas-microsoft-com:unattend"
WCM_NS = "http://schemas.microsoft.com/WMIConfig/2002/State"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
COMPONENT = "Microsoft-Windows-UnattendedJoin"
PUBLIC_KEY_TOKEN = "31bf3856ad364e35"
IDENTIFICATION = {"specialize": "Identification", "offlineServicing": "OfflineIdentification"}
PASS_ORDER = ("windowsPE", "offlineServicing", "generalize", "specialize", "auditSystem", "auditUser",
              "oobeSystem")
ARCHITECTURES = ("amd64", "x86", "arm64")
MAX_UNATTEND_BYTES = 16 * 1024 * 1024
# Identification children that ask Setup for an online join instead of (or besides) the blob
ONLINE_JOIN_ELEMENTS = ("JoinDomain", "JoinWorkgroup", "Credentials", "MachinePassword", "UnsecureJoin",
                        "MachineObjectOU")
# PE machine types -> unattend processorArchitecture
PE_MACHINES = {0x8664: "amd64", 0x014C: "x86", 0xAA64: "arm64"}


class UnattendError(FormatError):
    """An existing unattend file cannot be merged (not XML, a DOCTYPE, not an <unattend> document)."""


@dataclass(frozen=True)
class MergeResult:
    document: bytes                   # the merged unattend.xml (UTF-8)
    pass_: str
    architectures: tuple[str, ...]
    created_components: int           # UnattendedJoin components added
    replaced_account_data: int        # AccountData elements that held another value
    changed: bool                     # False: the document already carried exactly this AccountData
    warnings: tuple[str, ...] = field(default=())


def _q(tag: str) -> str:
    return f"{{{UNATTEND_NS}}}{tag}"


def parse_unattend(data: bytes, *, where: str = "unattend.xml") -> etree._ElementTree:
    """Parse an answer file safely (no DTD, no entities, no network); the root must be <unattend>."""
    from ppkgtool import xmlsafe
    root = xmlsafe.parse(data, where=where, max_bytes=MAX_UNATTEND_BYTES, error=UnattendError, line_sep=" line ")
    tree = root.getroottree()
    if root.tag != _q("unattend"):
        raise UnattendError(f"the root element is {root.tag!r}, not <unattend xmlns=\"{UNATTEND_NS}\">",
                            where=f"{where} line {root.sourceline}")
    return tree


def _new_document() -> etree._ElementTree:
    root = etree.Element(_q("unattend"), nsmap={None: UNATTEND_NS, "wcm": WCM_NS})
    root.text = "\n  "
    return root.getroottree()


def architectures_in(tree: etree._ElementTree) -> list[str]:
    """Machine architectures (ARCHITECTURES) the document's components use, in first-seen order.

    Other processorArchitecture values (wow64: a 32-bit component on a 64-bit system; ia64, arm)
    name no machine an UnattendedJoin component is written for, so they are not counted."""
    seen: list[str] = []
    for comp in tree.getroot().iter(_q("component")):
        arch = comp.get("processorArchitecture")
        if arch in ARCHITECTURES and arch not in seen:
            seen.append(arch)
    return seen


def image_architecture(windows_dir: Path) -> str | None:
    """The image's architecture from the PE header of System32\\ntoskrnl.exe (or kernel32.dll)."""
    from ppkgtool.deploy.targets import resolve_ci
    for name in ("ntoskrnl.exe", "kernel32.dll"):
        path = resolve_ci(windows_dir, "System32", name)
        try:
            with open(path, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            continue
        if len(head) < 0x40 or head[:2] != b"MZ":
            continue
        pe = struct.unpack_from("<I", head, 0x3C)[0]
        if pe + 6 > len(head) or head[pe:pe + 4] != b"PE\x00\x00":
            continue
        machine = struct.unpack_from("<H", head, pe + 4)[0]
        if machine in PE_MACHINES:
            return PE_MACHINES[machine]
    return None


def _settings(root: etree._Element, pass_: str) -> etree._Element:
    for s in root.findall(_q("settings")):
        if s.get("pass") == pass_:
            return s
    new = etree.Element(_q("settings"))
    new.set("pass", pass_)
    new.text = "\n    "
    new.tail = "\n"
    # keep Microsoft's pass order when inserting
    rank = PASS_ORDER.index(pass_)
    after = None
    for s in root.findall(_q("settings")):
        p = s.get("pass")
        if p in PASS_ORDER and PASS_ORDER.index(p) < rank:
            after = s
    if after is None:
        first = root.find(_q("settings"))
        if first is None:
            root.append(new)
        else:
            first.addprevious(new)
    else:
        after.addnext(new)
    return new


def _component(settings: etree._Element, arch: str, template: etree._Element | None) -> tuple[etree._Element, bool]:
    for comp in settings.findall(_q("component")):
        if comp.get("name") == COMPONENT and comp.get("processorArchitecture", arch) == arch:
            return comp, False
    comp = etree.SubElement(settings, _q("component"))
    comp.set("name", COMPONENT)
    comp.set("processorArchitecture", arch)
    comp.set("publicKeyToken", PUBLIC_KEY_TOKEN)
    comp.set("language", "neutral")
    comp.set("versionScope", "nonSxS")
    if template is not None:                   # same publicKeyToken/language/versionScope as the file uses
        for attr in ("publicKeyToken", "language", "versionScope"):
            if template.get(attr):
                comp.set(attr, template.get(attr))
    comp.tail = "\n  "
    return comp, True


def _child(parent: etree._Element, name: str) -> etree._Element:
    found = parent.find(_q(name))
    if found is None:
        found = etree.SubElement(parent, _q(name))
    return found


def merge_account_data(existing: bytes | None, account_data: str, *, pass_: str = "specialize",
                       architectures: list[str] | tuple[str, ...] | None = None,
                       default_architecture: str = "amd64", where: str = "unattend.xml") -> MergeResult:
    """Put ``account_data`` (base64 of the blob) into the UnattendedJoin component of ``pass_``.

    Architectures: the given ones, else those the existing file uses, else ``default_architecture``.
    One UnattendedJoin component per architecture is created or updated.
    """
    if pass_ not in IDENTIFICATION:
        raise ValueError(f"pass must be one of {', '.join(IDENTIFICATION)}")
    if not account_data or any(c.isspace() for c in account_data):
        raise ValueError("account data must be one line of base64")
    tree = parse_unattend(existing, where=where) if existing is not None else _new_document()
    root = tree.getroot()
    archs = list(architectures or architectures_in(tree) or [default_architecture])
    for a in archs:
        if a not in ARCHITECTURES:
            raise InvalidInputError(f"processor architecture must be one of {', '.join(ARCHITECTURES)}, not {a!r}")
    template = next(iter(root.iter(_q("component"))), None)
    template = copy.deepcopy(template) if template is not None else None
    settings = _settings(root, pass_)
    created = replaced = 0
    changed = False
    warnings: list[str] = []
    for arch in archs:
        comp, new = _component(settings, arch, template)
        created += new
        ident = _child(comp, IDENTIFICATION[pass_])
        online = [etree.QName(e).localname for e in ident if isinstance(e.tag, str)
                  and etree.QName(e).localname in ONLINE_JOIN_ELEMENTS]
        if online:
            warnings.append(f"the {arch} UnattendedJoin component also has {', '.join(online)} under "
                            f"{IDENTIFICATION[pass_]}: Setup may try an online join as well; remove them if the "
                            "blob should be the only join")
        acct = _child(_child(ident, "Provisioning"), "AccountData")
        current = (acct.text or "").strip()
        if current != account_data:
            if current:
                replaced += 1
            acct.text = account_data
            changed = True
        if new:                          # indent only what we created; existing text stays as it was
            etree.indent(comp, space="  ", level=2)
            comp.tail = "\n  "
    document = etree.tostring(tree, xml_declaration=True, encoding="utf-8")
    if not document.endswith(b"\n"):
        document += b"\n"
    return MergeResult(document=document, pass_=pass_, architectures=tuple(archs), created_components=created,
                       replaced_account_data=replaced, changed=changed or existing is None,
                       warnings=tuple(warnings))


def account_data_values(document: bytes, *, pass_: str = "specialize") -> dict[str, str]:
    """processorArchitecture -> AccountData text of the UnattendedJoin components of ``pass_``."""
    root = parse_unattend(document).getroot()
    out: dict[str, str] = {}
    for s in root.findall(_q("settings")):
        if s.get("pass") != pass_:
            continue
        for comp in s.findall(_q("component")):
            if comp.get("name") != COMPONENT:
                continue
            acct = comp.find(f"{_q(IDENTIFICATION[pass_])}/{_q('Provisioning')}/{_q('AccountData')}")
            if acct is not None:
                out[comp.get("processorArchitecture", "")] = (acct.text or "").strip()
    return out


# --- where the answer file lives in an image ------------------------------------------------------

ANSWER_FILE_NAMES = ("Unattend.xml", "Autounattend.xml")


@dataclass(frozen=True)
class AnswerFileChoice:
    target: Path                 # the file to write
    base: Path | None            # the existing file whose settings are merged (None: start empty)
    shadowed: tuple[Path, ...]   # lower-priority answer files Setup will not read


def choose_answer_file(windows_dir: Path) -> AnswerFileChoice:
    """The answer file Setup reads at first boot of this image, per the implicit search order."""
    from ppkgtool.deploy.targets import resolve_ci
    ordered: list[Path] = []
    for folder in (("Panther", "Unattend"), ("Panther",), ("System32", "Sysprep")):
        for name in ANSWER_FILE_NAMES:
            p = resolve_ci(windows_dir, *folder, name)
            if p.is_file():
                ordered.append(p)
    if not ordered:
        return AnswerFileChoice(target=resolve_ci(windows_dir, "Panther", "unattend.xml"), base=None, shadowed=())
    first = ordered[0]
    panther = resolve_ci(windows_dir, "Panther")
    if first.parent == resolve_ci(windows_dir, "System32", "Sysprep"):
        # Setup would read it from Sysprep only when Panther has none; writing Panther\unattend.xml
        # takes precedence, so carry its settings over.
        return AnswerFileChoice(target=resolve_ci(panther, "unattend.xml"), base=first, shadowed=tuple(ordered))
    return AnswerFileChoice(target=first, base=first, shadowed=tuple(ordered[1:]))
