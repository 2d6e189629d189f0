"""The JSON-ready summary of a ProvisionData (``odj show --json``, ``inspect``).

Secrets (the machine password, PFX bytes) appear only with ``show_secrets``.
"""

from __future__ import annotations

import base64
import hashlib

from ppkgtool.errors import OdjError
from ppkgtool.odj.models import (
    DS_FLAG, NETSETUP_PROVISION, STORE_LOCATION_NAMES, CertPart, JoinProv2Part, JoinProv3Part, JoinProv4Part,
    OpPackage, PolicyPart, ProvisionData, UnknownPart, Win7Blob, flag_names,
)

ROOT_KEYS = {0x80000000: "HKEY_CLASSES_ROOT", 0x80000001: "HKEY_CURRENT_USER", 0x80000002: "HKEY_LOCAL_MACHINE",
             0x80000003: "HKEY_USERS"}


def _secret_text(value: str | None) -> str | None:
    """A password as JSON-safe text (lone surrogates cannot be printed as UTF-8: show them escaped)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "backslashreplace")


def _win7_dict(w: Win7Blob, show_secrets: bool) -> dict:
    d, c = w.dns_domain_info, w.dc_info
    out = {
        "machine_name": w.machine_name, "domain": w.domain,
        "netbios_name": d.netbios_name, "dns_domain": d.dns_domain, "dns_forest": d.dns_forest,
        "domain_guid": str(d.domain_guid), "domain_sid": d.domain_sid,
        "dc_name": c.dc_name, "dc_address": c.dc_address, "dc_address_type": c.dc_address_type,
        "dc_domain_guid": str(c.domain_guid), "dc_domain_name": c.domain_name, "dc_forest_name": c.forest_name,
        "dc_flags": c.flags, "dc_flag_names": flag_names(DS_FLAG, c.flags),
        "dc_site": c.dc_site, "client_site": c.client_site,
        "options": w.options, "option_names": flag_names(NETSETUP_PROVISION, w.options),
        "default_password": bool(w.machine_name and w.machine_password
                                 and w.machine_password.lower() == w.machine_name.lower()),
    }
    if show_secrets:
        out["machine_password"] = _secret_text(w.machine_password)
    return out


def _part_dict(part, win7_first: Win7Blob | None, show_secrets: bool) -> dict:
    c = part.content
    out: dict = {"type": part.type_name, "guid": str(part.part_type), "flags": part.flags,
                 "essential": part.essential}
    if part.extension:
        out["extension_size"] = len(part.extension)
    if isinstance(c, Win7Blob):
        out["same_as_win7_blob"] = c == win7_first
        out.update({k: v for k, v in _win7_dict(c, show_secrets).items()
                    if k in ("machine_name", "domain", "options") or (show_secrets and k == "machine_password")})
    elif isinstance(c, JoinProv2Part):
        out.update({"jp2_flags": c.flags, "persistent_site": bool(c.flags & 1), "netbios_name": c.netbios_name,
                    "site_name": c.site_name, "primary_dns_domain": c.primary_dns_domain,
                    "reserved": c.reserved, "reserved_string": c.reserved_string})
    elif isinstance(c, (JoinProv3Part, JoinProv4Part)):
        out.update({"rid": c.rid, "sid": c.sid})
        if isinstance(c, JoinProv4Part):
            out["object_guid"] = str(c.object_guid)
    elif isinstance(c, CertPart):
        out["pfx_stores"] = []
        for s in c.pfx_stores:
            pd = {"template_name": s.template_name, "private_key_export_policy": s.private_key_export_policy,
                  "policy_server_url": s.policy_server_url, "policy_server_url_flags": s.policy_server_url_flags,
                  "policy_server_id": s.policy_server_id, "pfx_size": len(s.pfx),
                  "pfx_sha256": hashlib.sha256(s.pfx).hexdigest()}
            if show_secrets:
                pd["pfx_base64"] = base64.b64encode(s.pfx).decode("ascii")
            out["pfx_stores"].append(pd)
        out["sst_stores"] = []
        for s in c.sst_stores:
            sd = {"store_location": s.store_location,
                  "store_location_name": STORE_LOCATION_NAMES.get(s.store_location),
                  "store_name": s.store_name, "sst_size": len(s.sst)}
            try:
                sd["certificates"] = [cert.to_json() for cert in s.certificates()]
            except Exception as exc:  # noqa: BLE001 - a bad store is shown, not fatal for show
                sd["certificates"] = []
                sd["error"] = str(exc)
            out["sst_stores"].append(sd)
    elif isinstance(c, PolicyPart):
        out["element_lists"] = [{
            "source": lst.source, "root_key_id": lst.root_key_id, "root_key": ROOT_KEYS.get(lst.root_key_id),
            "values": [_element_json(e) for e in lst.elements]} for lst in c.element_lists]
    elif isinstance(c, UnknownPart):
        out["size"] = len(c.data)
        out["sha256"] = hashlib.sha256(c.data).hexdigest()
    return out


def _element_json(e) -> dict:
    try:
        return e.to_policy_value().to_json()
    except OdjError as exc:  # shown as it is, not fatal for show
        return {"key": e.key_path, "value_name": e.value_name, "type": e.value_type, "type_name": None,
                "value": e.data.hex(), "action": None, "error": exc.message}


def summarize(pd: ProvisionData, *, show_secrets: bool = False) -> dict:
    w = pd.win7
    out: dict = {"version": pd.version}
    if w is not None:
        out.update(_win7_dict(w, show_secrets))
        if not show_secrets:
            out.pop("machine_password", None)
    out["rid"] = pd.rid
    out["machine_sid"] = pd.machine_sid
    out["blobs"] = []
    for b in pd.blobs:
        entry = {"format": b.format, "format_name": b.format_name}
        if isinstance(b.content, OpPackage):
            entry["encrypted"] = b.content.encrypted
            if b.content.encrypted:
                entry["encryption_type"] = str(b.content.encryption_type)
        elif isinstance(b.content, bytes):
            entry["size"] = len(b.content)
        out["blobs"].append(entry)
    out["parts"] = [_part_dict(p, w, show_secrets) for p in pd.parts]
    return out
