"""The security data at the start of an image metadata resource, and the descriptors the writer uses.

Layout as in wimlib src/security.c (struct wim_security_data_disk): total length (u32), number of
entries (u32), one u64 size per entry, then the self-relative SECURITY_DESCRIPTORs back to back;
the dentry tree starts at the next 8-byte boundary (docs/formats/wim.md, "Metadata resource").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ppkgtool.errors import WimError

MAX_SECURITY_ENTRIES = 100_000
MAX_DESCRIPTOR_SIZE = 64 * 1024


def align8(n: int) -> int:
    return (n + 7) & ~7


@dataclass(frozen=True)
class SecurityData:
    descriptors: tuple[bytes, ...]
    length: int          # bytes the block occupies, 8-aligned: where the root dentry starts

    def __post_init__(self):
        if not all(isinstance(d, bytes) for d in self.descriptors):
            raise TypeError("SecurityData.descriptors must be bytes")

    @classmethod
    def parse(cls, data: bytes | memoryview) -> "SecurityData":
        if len(data) < 8:
            raise WimError("truncated security data", where="metadata offset 0")
        total, count = struct.unpack_from("<II", data, 0)
        if count > MAX_SECURITY_ENTRIES:
            raise WimError(f"{count} security descriptors (limit {MAX_SECURITY_ENTRIES})",
                           where="metadata offset 4")
        header = 8 + 8 * count
        if total < header or total > len(data):
            # wimlib accepts total_length 0 for "no security data" only with 0 entries
            if not (total == 0 and count == 0):
                raise WimError(f"security data length {total} is invalid for {count} entries "
                               f"in a {len(data)}-byte metadata resource", where="metadata offset 0")
            total = 8
        sizes = struct.unpack_from(f"<{count}Q", data, 8) if count else ()
        pos = header
        descriptors = []
        for i, size in enumerate(sizes):
            if size > MAX_DESCRIPTOR_SIZE or pos + size > total:
                raise WimError(f"security descriptor {i} of {size} bytes overruns the security data",
                               where=f"metadata offset {8 + 8 * i}")
            descriptors.append(bytes(data[pos:pos + size]))
            pos += size
        return cls(tuple(descriptors), align8(total))

    @staticmethod
    def build(descriptors: list[bytes] | tuple[bytes, ...]) -> bytes:
        body = struct.pack(f"<{len(descriptors)}Q", *(len(d) for d in descriptors)) + b"".join(descriptors)
        total = align8(8 + len(body))
        return (struct.pack("<II", total, len(descriptors)) + body).ljust(total, b"\0")


# --- descriptors the writer stores -----------------------------------------------------------
# Real packages carry two self-relative descriptors built from the builder's NTFS folder: one for
# the root directory (ACEs inheritable: flags 0x13) and one shared by all files (ACEs inherited:
# flags 0x10); DACL = SYSTEM, Administrators, the building user, all FILE_ALL_ACCESS; control
# 0x8404 [C, fixture icd-cli-oobe.ppkg]. The writer keeps that shape without the build user (whose
# SID means nothing on the target device): owner Administrators, group SYSTEM [I].

def _sid(authority: int, *subs: int) -> bytes:
    return struct.pack("<BB", 1, len(subs)) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


SID_SYSTEM = _sid(5, 18)                 # S-1-5-18
SID_ADMINISTRATORS = _sid(5, 32, 544)    # S-1-5-32-544
FILE_ALL_ACCESS = 0x001F01FF
ACCESS_ALLOWED_ACE_TYPE = 0
SE_SELF_RELATIVE_DACL = 0x8404           # SE_SELF_RELATIVE | SE_DACL_AUTO_INHERITED | SE_DACL_PRESENT


def _acl(ace_flags: int, sids: list[bytes]) -> bytes:
    aces = b"".join(struct.pack("<BBHI", ACCESS_ALLOWED_ACE_TYPE, ace_flags, 8 + len(s), FILE_ALL_ACCESS) + s
                    for s in sids)
    return struct.pack("<BBHHH", 2, 0, 8 + len(aces), len(sids), 0) + aces


def _descriptor(ace_flags: int) -> bytes:
    owner, group = SID_ADMINISTRATORS, SID_SYSTEM
    acl = _acl(ace_flags, [SID_SYSTEM, SID_ADMINISTRATORS])
    o_owner = 20
    o_group = o_owner + len(owner)
    o_dacl = o_group + len(group)
    return struct.pack("<BBHIIII", 1, 0, SE_SELF_RELATIVE_DACL, o_owner, o_group, 0, o_dacl) + owner + group + acl


#: Index 0: root directory (OBJECT_INHERIT | CONTAINER_INHERIT | INHERITED); index 1: files (INHERITED).
DEFAULT_DESCRIPTORS: tuple[bytes, bytes] = (_descriptor(0x13), _descriptor(0x10))
ROOT_SECURITY_ID = 0
FILE_SECURITY_ID = 1
NO_SECURITY_ID = -1
