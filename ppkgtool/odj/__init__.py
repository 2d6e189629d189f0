"""Offline domain join (ODJ) blobs: models, NDR codec, text forms, composition.

See docs/formats/odj.md for the format as implemented, with evidence labels.
"""

from ppkgtool.odj.codec import check_required, decode_provision_data, encode_provision_data
from ppkgtool.odj.compose import (
    DEFAULT_DC_FLAGS, DomainFacts, MachineFacts, compose_provision_data, generate_machine_password,
)
from ppkgtool.odj.models import (
    DS_FLAG, GUID_NULL, HKEY_LOCAL_MACHINE, NETSETUP_PROVISION, ODJ_WIN7_FORMAT, ODJ_WIN8_FORMAT, PART_NAMES,
    CertPart, DcInfo, DnsDomainInfo, JoinProv2Part, JoinProv3Part, JoinProv4Part, OdjBlob, OpPackage,
    PackagePart, PartType, PfxStore, PolicyElement, PolicyElementList, PolicyPart, ProvisionData, SstStore,
    UnknownPart, Win7Blob, flag_names,
)
from ppkgtool.odj.textforms import (
    blob_bytes, detect_form, load_blob, to_base64, to_savefile, unattend_component, unattend_document,
)

__all__ = [
    "ProvisionData", "OdjBlob", "Win7Blob", "DnsDomainInfo", "DcInfo", "OpPackage", "PackagePart",
    "JoinProv2Part", "JoinProv3Part", "JoinProv4Part", "CertPart", "PfxStore", "SstStore", "PolicyPart",
    "PolicyElementList", "PolicyElement", "UnknownPart", "PartType", "PART_NAMES",
    "decode_provision_data", "encode_provision_data", "check_required", "load_blob", "blob_bytes", "detect_form",
    "to_savefile", "to_base64", "unattend_component", "unattend_document",
    "DomainFacts", "MachineFacts", "compose_provision_data", "generate_machine_password", "DEFAULT_DC_FLAGS",
    "NETSETUP_PROVISION", "DS_FLAG", "flag_names", "GUID_NULL", "HKEY_LOCAL_MACHINE",
    "ODJ_WIN7_FORMAT", "ODJ_WIN8_FORMAT",
]
