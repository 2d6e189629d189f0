"""The bulk run's two workers, over the library: accounts (ppkgtool.ad) and packages (ppkgtool.package).

Shared parts are prepared once: one pool of bound connections to the DC, the domain facts read
once, the template read once, asset digests remembered by file identity, and one WIM
ResourceCache so a large asset is compressed once and its compressed resource copied into
every package.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ppkgtool.bulk.devices import Device
from ppkgtool.errors import DirectoryError


class DirectoryProvisioner:
    """Accounts and blobs through one DirectorySession (thread-safe)."""

    def __init__(self, session, request_defaults: dict):
        self.session = session
        self.defaults = dict(request_defaults)

    def provision(self, device: Device, password: str, *, reuse: bool) -> bytes:
        from ppkgtool.ad import ProvisionRequest

        fields = dict(self.defaults)
        if device.ou:
            fields["machine_ou"] = device.ou
        req = ProvisionRequest(machine=device.name, reuse=reuse, password=password, **fields)
        return self.session.provision(req).blob

    def exists(self, name: str) -> bool:
        return self.session.computer_exists(name) is not None

    def password_is_ours(self, name: str, password: str) -> bool:
        from ppkgtool.ad import Credentials, open_connection

        realm = self.session.domain_info().dns_domain.upper()
        try:
            conn = open_connection(self.session.target, Credentials(user=f"{name}$@{realm}", password=password))
        except DirectoryError as exc:
            from ppkgtool.ad.errors import ERROR_LOGON_FAILURE
            if exc.code == ERROR_LOGON_FAILURE:
                return False
            raise
        try:
            conn.unbind()
        except Exception:
            pass
        return True


class TemplateBuilder:
    """Per-device packages from one customizations.xml template."""

    def __init__(self, template: Path, options, *, per_device_password: bool = False):
        from ppkgtool.wim import ResourceCache

        self.template = Path(template)
        self.template_bytes = self.template.read_bytes()
        if options.catalogue is None:   # load (and check) the settings catalogue once
            from ppkgtool.package.catalogue import load_catalogue
            from ppkgtool.package.store import load_model
            model = load_model(options.store_file, build=options.store_build)
            options = dataclasses.replace(options, catalogue=load_catalogue(options.catalogue_files, model=model))
        self.options = options
        self.cache = ResourceCache()
        self.per_device_password = per_device_password

    def close(self) -> None:
        self.cache.close()

    def preflight(self, devices: list[Device]) -> list[str]:
        """Compile every device's package (with a stand-in blob) so that template, variable and
        payload errors are reported for all rows before any account is created. An error that
        every device shares (a template error) is reported once, with the devices it concerns.
        Returns warnings: devices whose ComputerName differs from the machine their blob joins."""
        from ppkgtool.errors import InvalidInputError
        from ppkgtool.package.builder import build_tree_only
        from ppkgtool.package.sanity import odj_name_warnings

        stand_in = _stand_in_blob()
        failed: dict[str, list[Device]] = {}      # message -> devices
        outcome: dict[tuple, object] = {}          # a device's compile depends only on its variables
        warnings: list[str] = []
        for device in devices:
            key = device.variables
            if key not in outcome:
                try:
                    outcome[key] = build_tree_only(self.template_bytes, self._options_for(device, stand_in, None))
                except InvalidInputError as exc:
                    outcome[key] = exc.one_line()
            if isinstance(outcome[key], str):
                failed.setdefault(outcome[key], []).append(device)
            else:
                warnings += [f"{device.name} (line {device.line}): {w}"
                             for w in odj_name_warnings(outcome[key].settings, [device.name])]
        if failed:
            count = sum(len(d) for d in failed.values())
            parts = []
            for message, devs in list(failed.items())[:20]:
                names = ", ".join(f"{d.name} (line {d.line})" for d in devs[:5]) + (" ..." if len(devs) > 5 else "")
                parts.append(message if len(devices) == len(devs) else f"{message} [{len(devs)}: {names}]")
            every = " (every device)" if len(failed) == 1 and count == len(devices) else ""
            raise InvalidInputError(f"{count} device(s) do not build{every}, nothing was created: "
                                    + "; ".join(parts) + (" ..." if len(failed) > 20 else ""))
        return warnings

    def _options_for(self, device: Device, blob: bytes, password: str | None):
        variables = dict(self.options.variables or {})
        variables.update(device.vars)
        return dataclasses.replace(
            self.options, variables=variables, payloads=dataclasses.replace(self.options.payloads, odj=blob),
            overwrite=True, resource_cache=self.cache, source_name=str(self.template), hashes=False,
            base_dir=self.template.parent, encrypt_password=password)

    def package_password(self, device: Device, out_dir: Path) -> str | None:
        """With per-device passwords: generated once, saved 0600 before the package is written."""
        if not self.per_device_password:
            return self.options.encrypt_password
        from ppkgtool.fsutil import write_bytes_atomic
        from ppkgtool.security.encryption import generate_password

        path = out_dir / "secrets" / f"{device.name}.package-password"
        if path.exists():
            return path.read_text(encoding="ascii").strip()
        password = generate_password()
        write_bytes_atomic(path, (password + "\n").encode("ascii"), private=True)
        return password

    def build(self, device: Device, blob: bytes, out_dir: Path) -> list[Path]:
        from ppkgtool.package.builder import build_package

        opts = self._options_for(device, blob, self.package_password(device, out_dir))
        result = build_package(self.template_bytes, out_dir / f"{device.name}.ppkg", opts)
        files = [result.package_path]
        if result.catalog_path:
            files.append(result.catalog_path)
        return files


def _stand_in_blob() -> bytes:
    """A syntactically complete ODJ blob for compiling templates before the real ones exist."""
    import uuid

    from ppkgtool.odj import DomainFacts, MachineFacts, compose_provision_data, encode_provision_data

    return encode_provision_data(compose_provision_data(
        DomainFacts(dns_domain="preflight.invalid", netbios_name="PREFLIGHT", dns_forest="preflight.invalid",
                    domain_guid=uuid.UUID(int=1), domain_sid="S-1-5-21-1-2-3", dc_name="dc.preflight.invalid",
                    dc_address="192.0.2.1"),
        MachineFacts(machine_name="PREFLIGHT", password="preflight", rid=1000)))
