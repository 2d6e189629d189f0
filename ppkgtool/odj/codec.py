"""Decode and encode ODJ_PROVISION_DATA and every structure nested in it (docs/formats/odj.md).

Each ``_read_*``/``_write_*`` pair implements one IDL structure from Microsoft's "Offline domain
join IDL definitions" in NDR20 order: the structure's scalars, then its deferred pointees in field
order (depth first). Every nested blob is an independent type-serialization stream.
"""

from __future__ import annotations


from ppkgtool.errors import OdjError
from ppkgtool.odj.models import (
    GUID_NULL, ODJ_WIN7_FORMAT, ODJ_WIN8_FORMAT, CertPart, DcInfo, DnsDomainInfo, JoinProv2Part, JoinProv3Part,
    JoinProv4Part, OdjBlob, OpPackage, PackagePart, PartType, PART_NAMES, PfxStore, PolicyElement,
    PolicyElementList, PolicyPart, ProvisionData, SstStore, UnknownPart, Win7Blob,
)
from ppkgtool.odj.ndr import NdrReader, NdrWriter, finish_stream, unwrap_stream, wrap_stream

NERR_NoOfflineJoinInfo = 2709
NERR_BadOfflineJoinInfo = 2710
NERR_BadDomainJoinInfo = 2712
NERR_ProvisioningBlobUnsupported = 2719

MAX_BLOB = 16 * 1024 * 1024


# == helpers ===================================================================================

def _top_pointer(r: NdrReader, type_name: str) -> None:
    if not r.ptr(f"{type_name} top-level pointer"):
        raise r.error(f"the top-level {type_name} pointer is NULL", at=r.pos - 4)


def _read_blob_header(r: NdrReader, what: str) -> tuple[int, bool]:
    """OP_BLOB / ODJ_BLOB size + pointer scalars."""
    r.align(4)
    start = r.pos
    cb = r.u32(f"{what}.cbBlob")
    present = r.ptr(f"{what}.pBlob")
    if cb and not present:
        raise r.error(f"{what}: size {cb} with a NULL pointer", at=start)
    if cb > len(r.data) - r.pos:
        raise r.error(f"{what}: size {cb} exceeds the {len(r.data) - r.pos} bytes left", at=start)
    return cb, present


def _read_blob_body(r: NdrReader, header: tuple[int, bool], what: str) -> tuple[bytes, int]:
    """The deferred bytes of an OP_BLOB; returns (bytes, absolute offset of the bytes)."""
    cb, present = header
    if not present:
        return b"", r.nested_offset()
    data = r.byte_array(cb, what)
    return data, r.nested_offset() - cb


def _write_blob_header(w: NdrWriter, data: bytes | None) -> None:
    w.u32(len(data or b""))
    w.ptr(bool(data))


def _write_blob_body(w: NdrWriter, data: bytes | None) -> None:
    if data:
        w.byte_array(data)


def _opt_wstring(r: NdrReader, present: bool, what: str) -> str | None:
    return r.wstring(what) if present else None


def _w_str(w: NdrWriter, s: str | None) -> None:
    if s is not None:
        w.wstring(s)


def _nested(data: bytes, path: str, base: int, type_name: str) -> NdrReader:
    r = unwrap_stream(data, path=path, base=base)
    _top_pointer(r, type_name)
    return r


# == ODJ_WIN7BLOB ===============================================================================

def _read_ustr_header(r: NdrReader, what: str) -> tuple[int, int, bool]:
    r.align(4)
    start = r.pos
    length = r.u16(f"{what}.Length")
    maximum = r.u16(f"{what}.MaximumLength")
    present = r.ptr(f"{what}.Buffer")
    if length % 2 or maximum % 2 or length > maximum:
        raise r.error(f"{what}: Length {length} / MaximumLength {maximum} are not valid UNICODE_STRING sizes",
                      at=start)
    if length and not present:
        raise r.error(f"{what}: Length {length} with a NULL Buffer", at=start)
    return length, maximum, present


def _read_ustr_body(r: NdrReader, header: tuple[int, int, bool], what: str) -> str | None:
    length, maximum, present = header
    return r.unicode_string_body(length, maximum, what) if present else None


def _write_ustr_header(w: NdrWriter, s: str | None, what: str) -> None:
    if s is None:
        w.u16(0)
        w.u16(0)
        w.ptr(False)
        return
    n = len(s.encode("utf-16-le", "surrogatepass"))
    if n + 2 > 0xFFFF:
        raise OdjError(f"{what} is too long for a UNICODE_STRING ({n} bytes)", code=NERR_BadDomainJoinInfo)
    w.u16(n)
    w.u16(n + 2)
    w.ptr(True)


def decode_win7_blob(data: bytes, *, path: str = "ODJ_WIN7BLOB", base: int = 0) -> Win7Blob:
    r = _nested(data, path, base, "ODJ_WIN7BLOB")
    p_domain = r.ptr("lpDomain")
    p_machine = r.ptr("lpMachineName")
    p_password = r.ptr("lpMachinePassword")
    u_name = _read_ustr_header(r, "DnsDomainInfo.Name")
    u_dns = _read_ustr_header(r, "DnsDomainInfo.DnsDomainName")
    u_forest = _read_ustr_header(r, "DnsDomainInfo.DnsForestName")
    domain_guid = r.guid("DnsDomainInfo.DomainGuid")
    p_sid = r.ptr("DnsDomainInfo.Sid")
    p_dc_name = r.ptr("DcInfo.DomainControllerName")
    p_dc_address = r.ptr("DcInfo.DomainControllerAddress")
    address_type = r.u32("DcInfo.DomainControllerAddressType")
    dc_guid = r.guid("DcInfo.DomainGuid")
    p_dc_domain = r.ptr("DcInfo.DomainName")
    p_dc_forest = r.ptr("DcInfo.DnsForestName")
    dc_flags = r.u32("DcInfo.Flags")
    p_dc_site = r.ptr("DcInfo.DcSiteName")
    p_client_site = r.ptr("DcInfo.ClientSiteName")
    options = r.u32("Options")
    # deferred pointees, field order
    domain = _opt_wstring(r, p_domain, "lpDomain")
    machine = _opt_wstring(r, p_machine, "lpMachineName")
    password = _opt_wstring(r, p_password, "lpMachinePassword")
    name = _read_ustr_body(r, u_name, "DnsDomainInfo.Name")
    dns = _read_ustr_body(r, u_dns, "DnsDomainInfo.DnsDomainName")
    forest = _read_ustr_body(r, u_forest, "DnsDomainInfo.DnsForestName")
    sid = r.sid("DnsDomainInfo.Sid") if p_sid else None
    dc_name = _opt_wstring(r, p_dc_name, "DcInfo.DomainControllerName")
    dc_address = _opt_wstring(r, p_dc_address, "DcInfo.DomainControllerAddress")
    dc_domain = _opt_wstring(r, p_dc_domain, "DcInfo.DomainName")
    dc_forest = _opt_wstring(r, p_dc_forest, "DcInfo.DnsForestName")
    dc_site = _opt_wstring(r, p_dc_site, "DcInfo.DcSiteName")
    client_site = _opt_wstring(r, p_client_site, "DcInfo.ClientSiteName")
    finish_stream(r)
    return Win7Blob(
        domain=domain, machine_name=machine, machine_password=password,
        dns_domain_info=DnsDomainInfo(name, dns, forest, domain_guid, sid),
        dc_info=DcInfo(dc_name, dc_address, address_type, dc_guid, dc_domain, dc_forest, dc_flags, dc_site,
                       client_site),
        options=options, referent_ids=tuple(r.referent_ids))


def encode_win7_blob(b: Win7Blob) -> bytes:
    w = NdrWriter(b.referent_ids)
    w.ptr(True)
    w.ptr(b.domain is not None)
    w.ptr(b.machine_name is not None)
    w.ptr(b.machine_password is not None)
    d = b.dns_domain_info
    _write_ustr_header(w, d.netbios_name, "DnsDomainInfo.Name")
    _write_ustr_header(w, d.dns_domain, "DnsDomainInfo.DnsDomainName")
    _write_ustr_header(w, d.dns_forest, "DnsDomainInfo.DnsForestName")
    w.guid(d.domain_guid)
    w.ptr(d.domain_sid is not None)
    c = b.dc_info
    w.ptr(c.dc_name is not None)
    w.ptr(c.dc_address is not None)
    w.u32(c.dc_address_type)
    w.guid(c.domain_guid)
    w.ptr(c.domain_name is not None)
    w.ptr(c.forest_name is not None)
    w.u32(c.flags)
    w.ptr(c.dc_site is not None)
    w.ptr(c.client_site is not None)
    w.u32(b.options)
    for s in (b.domain, b.machine_name, b.machine_password):
        _w_str(w, s)
    for s in (d.netbios_name, d.dns_domain, d.dns_forest):
        if s is not None:
            w.unicode_string_body(s)
    if d.domain_sid is not None:
        w.sid(d.domain_sid)
    for s in (c.dc_name, c.dc_address, c.domain_name, c.forest_name, c.dc_site, c.client_site):
        _w_str(w, s)
    return wrap_stream(w.buf)


# == parts =======================================================================================

def _decode_jp2(data: bytes, path: str, base: int) -> JoinProv2Part:
    r = _nested(data, path, base, "OP_JOINPROV2_PART")
    flags = r.u32("dwFlags")
    p_nb = r.ptr("lpNetbiosName")
    p_site = r.ptr("lpSiteName")
    p_dns = r.ptr("lpPrimaryDNSDomain")
    reserved = r.u32("dwReserved")
    p_res = r.ptr("lpReserved")
    nb = _opt_wstring(r, p_nb, "lpNetbiosName")
    site = _opt_wstring(r, p_site, "lpSiteName")
    dns = _opt_wstring(r, p_dns, "lpPrimaryDNSDomain")
    res = _opt_wstring(r, p_res, "lpReserved")
    finish_stream(r)
    return JoinProv2Part(flags, nb, site, dns, reserved, res, tuple(r.referent_ids))


def _encode_jp2(p: JoinProv2Part) -> bytes:
    w = NdrWriter(p.referent_ids)
    w.ptr(True)
    w.u32(p.flags)
    w.ptr(p.netbios_name is not None)
    w.ptr(p.site_name is not None)
    w.ptr(p.primary_dns_domain is not None)
    w.u32(p.reserved)
    w.ptr(p.reserved_string is not None)
    for s in (p.netbios_name, p.site_name, p.primary_dns_domain, p.reserved_string):
        _w_str(w, s)
    return wrap_stream(w.buf)


def _decode_jp3(data: bytes, path: str, base: int) -> JoinProv3Part:
    r = _nested(data, path, base, "OP_JOINPROV3_PART")
    rid = r.u32("Rid")
    p_sid = r.ptr("lpSid")
    sid = _opt_wstring(r, p_sid, "lpSid")
    finish_stream(r)
    return JoinProv3Part(rid, sid, tuple(r.referent_ids))


def _encode_jp3(p: JoinProv3Part) -> bytes:
    w = NdrWriter(p.referent_ids)
    w.ptr(True)
    w.u32(p.rid)
    w.ptr(p.sid is not None)
    _w_str(w, p.sid)
    return wrap_stream(w.buf)


def _decode_jp4(data: bytes, path: str, base: int) -> JoinProv4Part:
    r = _nested(data, path, base, "OP_JOINPROV4_PART")
    rid = r.u32("Rid")
    p_sid = r.ptr("lpSid")
    guid = r.guid("ObjectGuid")
    sid = _opt_wstring(r, p_sid, "lpSid")
    finish_stream(r)
    return JoinProv4Part(rid, sid, guid, tuple(r.referent_ids))


def _encode_jp4(p: JoinProv4Part) -> bytes:
    w = NdrWriter(p.referent_ids)
    w.ptr(True)
    w.u32(p.rid)
    w.ptr(p.sid is not None)
    w.guid(p.object_guid)
    _w_str(w, p.sid)
    return wrap_stream(w.buf)


def _decode_cert(data: bytes, path: str, base: int) -> CertPart:
    r = _nested(data, path, base, "OP_CERT_PART")
    n_pfx = r.count("cPfxStores", element_size=28)
    p_pfx = r.ptr("pPfxStores")
    n_sst = r.count("cSstStores", element_size=16)
    p_sst = r.ptr("pSstStores")
    ext_h = _read_blob_header(r, "Extension")
    pfx: list[PfxStore] = []
    sst: list[SstStore] = []
    if n_pfx and not p_pfx or n_sst and not p_sst:
        raise r.error("a store count with a NULL array pointer")
    if p_pfx:
        _conformance(r, n_pfx, "pPfxStores")
        heads = []
        for i in range(n_pfx):
            what = f"pPfxStores[{i}]"
            heads.append((r.ptr(f"{what}.pTemplateName"), r.u32(f"{what}.ulPrivateKeyExportPolicy"),
                          r.ptr(f"{what}.pPolicyServerUrl"), r.u32(f"{what}.ulPolicyServerUrlFlags"),
                          r.ptr(f"{what}.pPolicyServerId"), _read_blob_header(r, f"{what}.Pfx")))
        for i, (pt, pol, pu, uf, pi, bh) in enumerate(heads):
            what = f"pPfxStores[{i}]"
            tmpl = _opt_wstring(r, pt, f"{what}.pTemplateName")
            url = _opt_wstring(r, pu, f"{what}.pPolicyServerUrl")
            sid = _opt_wstring(r, pi, f"{what}.pPolicyServerId")
            blob, _ = _read_blob_body(r, bh, f"{what}.pPfx")
            pfx.append(PfxStore(tmpl, pol, url, uf, sid, blob))
    if p_sst:
        _conformance(r, n_sst, "pSstStores")
        heads2 = []
        for i in range(n_sst):
            what = f"pSstStores[{i}]"
            heads2.append((r.u32(f"{what}.StoreLocation"), r.ptr(f"{what}.pStoreName"),
                           _read_blob_header(r, f"{what}.Sst")))
        for i, (loc, pn, bh) in enumerate(heads2):
            what = f"pSstStores[{i}]"
            name = _opt_wstring(r, pn, f"{what}.pStoreName")
            blob, _ = _read_blob_body(r, bh, f"{what}.pSst")
            sst.append(SstStore(loc, name, blob))
    ext, _ = _read_blob_body(r, ext_h, "Extension")
    finish_stream(r)
    return CertPart(tuple(pfx), tuple(sst), ext, tuple(r.referent_ids))


def _encode_cert(p: CertPart) -> bytes:
    w = NdrWriter(p.referent_ids)
    w.ptr(True)
    w.u32(len(p.pfx_stores))
    w.ptr(bool(p.pfx_stores))
    w.u32(len(p.sst_stores))
    w.ptr(bool(p.sst_stores))
    _write_blob_header(w, p.extension)
    if p.pfx_stores:
        w.u32(len(p.pfx_stores))
        for s in p.pfx_stores:
            w.ptr(s.template_name is not None)
            w.u32(s.private_key_export_policy)
            w.ptr(s.policy_server_url is not None)
            w.u32(s.policy_server_url_flags)
            w.ptr(s.policy_server_id is not None)
            _write_blob_header(w, s.pfx)
        for s in p.pfx_stores:
            for t in (s.template_name, s.policy_server_url, s.policy_server_id):
                _w_str(w, t)
            _write_blob_body(w, s.pfx)
    if p.sst_stores:
        w.u32(len(p.sst_stores))
        for s in p.sst_stores:
            w.u32(s.store_location)
            w.ptr(s.store_name is not None)
            _write_blob_header(w, s.sst)
        for s in p.sst_stores:
            _w_str(w, s.store_name)
            _write_blob_body(w, s.sst)
    _write_blob_body(w, p.extension)
    return wrap_stream(w.buf)


def _decode_policy(data: bytes, path: str, base: int) -> PolicyPart:
    r = _nested(data, path, base, "OP_POLICY_PART")
    n = r.count("cElementLists", element_size=16)
    p_lists = r.ptr("pElementLists")
    ext_h = _read_blob_header(r, "Extension")
    if n and not p_lists:
        raise r.error("cElementLists with a NULL pElementLists")
    lists: list[PolicyElementList] = []
    if p_lists:
        _conformance(r, n, "pElementLists")
        heads = []
        for i in range(n):
            what = f"pElementLists[{i}]"
            heads.append((r.ptr(f"{what}.pSource"), r.u32(f"{what}.ulRootKeyId"),
                          r.count(f"{what}.cElements", element_size=0), r.ptr(f"{what}.pElements")))
        for i, (ps, root, count, pe) in enumerate(heads):
            what = f"pElementLists[{i}]"
            source = _opt_wstring(r, ps, f"{what}.pSource")
            elements: list[PolicyElement] = []
            if count and not pe:
                raise r.error(f"{what}: cElements {count} with a NULL pElements")
            if pe:
                _conformance(r, count, f"{what}.pElements")
                if count * 20 > len(r.data) - r.pos:
                    raise r.error(f"{what}: {count} elements do not fit in the bytes left")
                eh = []
                for j in range(count):
                    ew = f"{what}.pElements[{j}]"
                    eh.append((r.ptr(f"{ew}.pKeyPath"), r.ptr(f"{ew}.pValueName"), r.u32(f"{ew}.ulValueType"),
                               _read_blob_header(r, f"{ew}.ValueData")))
                for j, (pk, pv, vt, bh) in enumerate(eh):
                    ew = f"{what}.pElements[{j}]"
                    key = _opt_wstring(r, pk, f"{ew}.pKeyPath")
                    val = _opt_wstring(r, pv, f"{ew}.pValueName")
                    blob, _ = _read_blob_body(r, bh, f"{ew}.pValueData")
                    elements.append(PolicyElement(key, val, vt, blob))
            lists.append(PolicyElementList(source, tuple(elements), root))
    ext, _ = _read_blob_body(r, ext_h, "Extension")
    finish_stream(r)
    return PolicyPart(tuple(lists), ext, tuple(r.referent_ids))


def _encode_policy(p: PolicyPart) -> bytes:
    w = NdrWriter(p.referent_ids)
    w.ptr(True)
    w.u32(len(p.element_lists))
    w.ptr(bool(p.element_lists))
    _write_blob_header(w, p.extension)
    if p.element_lists:
        w.u32(len(p.element_lists))
        for lst in p.element_lists:
            w.ptr(lst.source is not None)
            w.u32(lst.root_key_id)
            w.u32(len(lst.elements))
            w.ptr(bool(lst.elements))
        for lst in p.element_lists:
            _w_str(w, lst.source)
            if lst.elements:
                w.u32(len(lst.elements))
                for e in lst.elements:
                    w.ptr(e.key_path is not None)
                    w.ptr(e.value_name is not None)
                    w.u32(e.value_type)
                    _write_blob_header(w, e.data)
                for e in lst.elements:
                    _w_str(w, e.key_path)
                    _w_str(w, e.value_name)
                    _write_blob_body(w, e.data)
    _write_blob_body(w, p.extension)
    return wrap_stream(w.buf)


def _conformance(r: NdrReader, expected: int, what: str) -> None:
    r.align(4)
    start = r.pos
    n = r.u32(f"{what} conformance")
    if n != expected:
        raise r.error(f"{what}: array conformance {n} differs from the count field {expected}", at=start)


_PART_DECODERS = {
    PartType.JOIN_PROVIDER: lambda d, p, b: decode_win7_blob(d, path=p, base=b),
    PartType.JOIN_PROVIDER2: _decode_jp2,
    PartType.JOIN_PROVIDER3: _decode_jp3,
    PartType.JOIN_PROVIDER4: _decode_jp4,
    PartType.CERT_PROVIDER: _decode_cert,
    PartType.POLICY_PROVIDER: _decode_policy,
}


def encode_part_content(content) -> bytes:
    if isinstance(content, Win7Blob):
        return encode_win7_blob(content)
    if isinstance(content, JoinProv2Part):
        return _encode_jp2(content)
    if isinstance(content, JoinProv3Part):
        return _encode_jp3(content)
    if isinstance(content, JoinProv4Part):
        return _encode_jp4(content)
    if isinstance(content, CertPart):
        return _encode_cert(content)
    if isinstance(content, PolicyPart):
        return _encode_policy(content)
    if isinstance(content, UnknownPart):
        return content.data
    raise TypeError(f"not a part content: {type(content).__name__}")


# == OP_PACKAGE and OP_PACKAGE_PART_COLLECTION ====================================================

def decode_op_package(data: bytes, *, path: str = "OP_PACKAGE", base: int = 0) -> OpPackage:
    r = _nested(data, path, base, "OP_PACKAGE")
    enc_type = r.guid("EncryptionType")
    ctx_h = _read_blob_header(r, "EncryptionContext")
    wrapped_h = _read_blob_header(r, "WrappedPartCollection")
    decrypted = r.u32("cbDecryptedPartCollection")
    ext_h = _read_blob_header(r, "Extension")
    ctx, _ = _read_blob_body(r, ctx_h, "EncryptionContext")
    wrapped, wrapped_at = _read_blob_body(r, wrapped_h, "WrappedPartCollection")
    ext, _ = _read_blob_body(r, ext_h, "Extension")
    finish_stream(r)
    ids = tuple(r.referent_ids)
    if enc_type != GUID_NULL:
        return OpPackage((), enc_type, ctx, decrypted, ext, b"", wrapped, ids)
    if not wrapped_h[1]:
        raise r.error("OP_PACKAGE without a WrappedPartCollection", code=NERR_BadOfflineJoinInfo)
    cpath = f"{path}.WrappedPartCollection (OP_PACKAGE_PART_COLLECTION)"
    c = _nested(wrapped, cpath, wrapped_at, "OP_PACKAGE_PART_COLLECTION")
    n = c.count("cParts", element_size=36)
    p_parts = c.ptr("pParts")
    cext_h = _read_blob_header(c, "Extension")
    if n and not p_parts:
        raise c.error("cParts with a NULL pParts")
    heads = []
    bodies = []
    if p_parts:
        _conformance(c, n, "pParts")
        for i in range(n):
            heads.append((c.guid(f"pParts[{i}].PartType"), c.u32(f"pParts[{i}].ulFlags"),
                          _read_blob_header(c, f"pParts[{i}].Part"), _read_blob_header(c, f"pParts[{i}].Extension")))
        for i, (_g, _f, ph, eh) in enumerate(heads):
            bodies.append((_read_blob_body(c, ph, f"pParts[{i}].Part"),
                           _read_blob_body(c, eh, f"pParts[{i}].Extension")[0]))
    cext, _ = _read_blob_body(c, cext_h, "Extension")
    finish_stream(c)
    parts = []
    for i, ((guid, flags, ph, _eh), ((pdata, pat), pext)) in enumerate(zip(heads, bodies)):
        decoder = _PART_DECODERS.get(guid)
        name = PART_NAMES.get(guid, f"unknown part {guid}")
        if decoder is None:
            content = UnknownPart(pdata)
        else:
            if not ph[1]:
                raise c.error(f"pParts[{i}] ({name}) has no content")
            content = decoder(pdata, f"{cpath}.pParts[{i}] ({name})", pat)
        parts.append(PackagePart(guid, flags, content, pext))
    return OpPackage(tuple(parts), enc_type, ctx, decrypted, ext, cext, None, ids, tuple(c.referent_ids))


def encode_op_package(pkg: OpPackage) -> bytes:
    if pkg.encrypted:
        wrapped = pkg.encrypted_collection or b""
    else:
        c = NdrWriter(pkg.collection_referent_ids)
        c.ptr(True)
        c.u32(len(pkg.parts))
        c.ptr(bool(pkg.parts))
        _write_blob_header(c, pkg.collection_extension)
        bodies = [encode_part_content(p.content) for p in pkg.parts]
        if pkg.parts:
            c.u32(len(pkg.parts))
            for p, body in zip(pkg.parts, bodies):
                c.guid(p.part_type)
                c.u32(p.flags)
                _write_blob_header(c, body)
                _write_blob_header(c, p.extension)
            for p, body in zip(pkg.parts, bodies):
                _write_blob_body(c, body)
                _write_blob_body(c, p.extension)
        _write_blob_body(c, pkg.collection_extension)
        wrapped = wrap_stream(c.buf)
    w = NdrWriter(pkg.referent_ids)
    w.ptr(True)
    w.guid(pkg.encryption_type)
    _write_blob_header(w, pkg.encryption_context)
    _write_blob_header(w, wrapped)
    w.u32(pkg.decrypted_size)
    _write_blob_header(w, pkg.extension)
    _write_blob_body(w, pkg.encryption_context)
    _write_blob_body(w, wrapped)
    _write_blob_body(w, pkg.extension)
    return wrap_stream(w.buf)


# == ODJ_PROVISION_DATA ==========================================================================

def decode_provision_data(data: bytes, *, validate: bool = True) -> ProvisionData:
    """Decode a binary ODJ_PROVISION_DATA stream. Errors are OdjError with the NERR code and the
    structure path + absolute offset where decoding failed."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_provision_data needs bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise OdjError("the provisioning data is empty", code=NERR_NoOfflineJoinInfo)
    if len(data) > MAX_BLOB:
        raise OdjError(f"provisioning data of {len(data)} bytes exceeds the {MAX_BLOB}-byte limit",
                       code=NERR_BadOfflineJoinInfo)
    path = "ODJ_PROVISION_DATA"
    r = _nested(data, path, 0, path)
    version = r.u32("ulVersion")
    if version != 1:
        raise r.error(f"ulVersion {version} is not supported (only 1)", code=NERR_ProvisioningBlobUnsupported,
                      at=r.pos - 4)
    n = r.count("ulcBlobs", element_size=12)
    p_blobs = r.ptr("pBlobs")
    if n and not p_blobs:
        raise r.error("ulcBlobs with a NULL pBlobs")
    raw = []
    if p_blobs:
        _conformance(r, n, "pBlobs")
        heads = [(r.u32(f"pBlobs[{i}].ulODJFormat"), _read_blob_header(r, f"pBlobs[{i}]")) for i in range(n)]
        for i, (fmt, bh) in enumerate(heads):
            blob, at = _read_blob_body(r, bh, f"pBlobs[{i}].pBlob")
            raw.append((fmt, bh[1], blob, at))
    finish_stream(r)
    blobs = []
    for i, (fmt, present, blob, at) in enumerate(raw):
        if fmt == ODJ_WIN7_FORMAT:
            if not present:
                raise OdjError(f"pBlobs[{i}] (ODJ_WIN7_FORMAT) is empty", where=path, code=NERR_BadOfflineJoinInfo)
            content = decode_win7_blob(blob, path=f"{path}.pBlobs[{i}] (ODJ_WIN7BLOB)", base=at)
        elif fmt == ODJ_WIN8_FORMAT:
            if not present:
                raise OdjError(f"pBlobs[{i}] (ODJ_WIN8_FORMAT) is empty", where=path, code=NERR_BadOfflineJoinInfo)
            content = decode_op_package(blob, path=f"{path}.pBlobs[{i}] (OP_PACKAGE)", base=at)
        else:
            content = blob
        blobs.append(OdjBlob(fmt, content))
    pd = ProvisionData(tuple(blobs), version, tuple(r.referent_ids))
    if validate:
        check_required(pd)
    return pd


def encode_provision_data(pd: ProvisionData, *, validate: bool = True) -> bytes:
    """Encode to the binary stream (what the text forms carry). With ``validate`` the required
    fields are checked first (OdjError 2712), so a blob Windows would refuse is never written."""
    if not isinstance(pd, ProvisionData):
        raise TypeError(f"encode_provision_data needs a ProvisionData, not {type(pd).__name__}")
    if validate:
        check_required(pd)
    bodies = []
    for b in pd.blobs:
        if isinstance(b.content, Win7Blob):
            bodies.append(encode_win7_blob(b.content))
        elif isinstance(b.content, OpPackage):
            bodies.append(encode_op_package(b.content))
        else:
            bodies.append(b.content)
    w = NdrWriter(pd.referent_ids)
    w.ptr(True)
    w.u32(pd.version)
    w.u32(len(pd.blobs))
    w.ptr(bool(pd.blobs))
    if pd.blobs:
        w.u32(len(pd.blobs))
        for b, body in zip(pd.blobs, bodies):
            w.u32(b.format)
            _write_blob_header(w, body)
        for body in bodies:
            _write_blob_body(w, body)
    return wrap_stream(w.buf)


def check_required(pd: ProvisionData) -> None:
    """NERR_BadDomainJoinInfo (2712) when a field a join needs is missing; 2719 for version != 1."""
    if pd.version != 1:
        raise OdjError(f"ulVersion {pd.version} is not supported (only 1)", where="ODJ_PROVISION_DATA",
                       code=NERR_ProvisioningBlobUnsupported)
    w = pd.win7
    if w is None:
        raise OdjError("no ODJ_WIN7BLOB (neither an ODJ_WIN7_FORMAT blob nor a JOIN_PROVIDER part)",
                       where="ODJ_PROVISION_DATA", code=NERR_BadDomainJoinInfo)
    missing = [name for name, value in (
        ("lpDomain", w.domain), ("lpMachineName", w.machine_name), ("lpMachinePassword", w.machine_password),
        ("DnsDomainInfo.Name", w.dns_domain_info.netbios_name),
        ("DnsDomainInfo.DnsDomainName", w.dns_domain_info.dns_domain),
        ("DnsDomainInfo.Sid", w.dns_domain_info.domain_sid)) if not value]
    if missing:
        raise OdjError(f"required field(s) missing or empty: {', '.join(missing)}",
                       where="ODJ_PROVISION_DATA ODJ_WIN7BLOB", code=NERR_BadDomainJoinInfo)
