"""ppkgtool: Windows provisioning packages (.ppkg) and offline domain join, on any OS.

The public API (docs/api.md). Everything public is importable from ``ppkgtool`` itself; the
modules below it are private and may change.

Build, read, sign and provision:
    PackageBuilder   a package put together in code: settings by path (checked as they are set),
                     payloads (add_odj, add_certificate, add_client_pfx, add_registry_pol,
                     add_policy, add_file, add_command), metadata; .write() -> BuildResult;
                     PackageBuilder.from_customizations(xml or WCD project folder); .copy()
    open_package     read a package (encrypted ones with password=) -> Package; .to_json() is the
                     document ``ppkgtool inspect --json`` prints
    rank, resolve    precedence of several packages, the winning value of every setting
    verify           the signature verdict (Verdict) of a package and its catalog
    encrypt, decrypt, generate_password, load_signer
    deploy_package   place a package on a USB medium or into an offline Windows image
    compose_odj, provision_odj, decode_odj, save_odj   offline domain join blobs

Results are frozen dataclasses (BuildResult, Package, RankedPackage, Resolution, Verdict,
CryptResult, Placement, ProvisionResult, ...). Errors: PpkgError and its subclasses (exit codes in
EXIT_CODES); nothing else escapes on bad input.

The other names are the building blocks the ``ppkgtool`` command itself is made of (build
options, settings catalogue and store, package views, catalogs and signing, ODJ codec and text
forms, the directory session, bulk runs, safe outputs and secret sources); they are public too.

Names are loaded on first use, so ``import ppkgtool`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ppkgtool.version import __version__

# public name -> the module that holds it (one home each); loaded on first access
_EXPORTS: dict[str, tuple[str, ...]] = {
    'ppkgtool.api': ('PackageBuilder', 'Package', 'open_package', 'rank', 'resolve', 'verify', 'encrypt',
        'decrypt', 'deploy_package', 'compose_odj', 'decode_odj', 'save_odj', 'provision_odj', 'ODJ_FORMS',),
    'ppkgtool.security.encryption': ('generate_password', 'check_password', 'encrypt_package',
        'decrypt_package', 'looks_encrypted', 'trim_padding', 'WIM_MAGIC', 'CryptResult',),
    'ppkgtool.security.signing': ('load_signer', 'Signer', 'sign_package', 'sign_catalog',
        'load_certificate_files', 'load_pfx', 'load_private_key', 'looks_pkcs12', 'read_credential_file',),
    'ppkgtool.security.verify': ('Verdict', 'verify_file', 'certificate_info',),
    'ppkgtool.security.catalog': ('catalog_path_for', 'find_catalog', 'hash_package', 'parse_catalog', 'catalog_for_encrypted',),
    'ppkgtool.security.transport': ('seal_with_password', 'seal_for_recipients', 'check_transport_password',
        'looks_sealed', 'unseal',),
    'ppkgtool.package.builder': ('BuildOptions', 'BuildResult', 'build_package', 'build_tree_only',),
    'ppkgtool.package.payloads': ('PayloadOptions', 'ClientPfx',),
    'ppkgtool.package.prefetch': ('prefetch_assets',),
    'ppkgtool.package.metadata': ('OwnerType', 'PackageMetadata', 'check_package_id', 'check_rank',
        'parse_altitude',),
    'ppkgtool.package.customizations': ('parse_variable_assignments', 'read_variable_file', 'keyless_path',),
    'ppkgtool.package.catalogue': ('Catalogue', 'load_catalogue', 'parse_catalogue',),
    'ppkgtool.package.store': ('load_model', 'builtin_models', 'BUILD_ENV', 'STORE_ENV',),
    'ppkgtool.package.settings': ('SettingsError', 'compiled_form',),
    'ppkgtool.package.learn': ('learn_packages',),
    'ppkgtool.package.trust': ('trust_customizations',),
    'ppkgtool.package.export': ('export_customizations', 'normalize_files', 'reconstruct_customizations',
        'redact_customizations', 'secret_values_of', 'settings_from_package', 'settings_from_provxml',
        'REDACTED_TEXT', 'export_answer_file', 'ExportedAnswerFile', 'AssetFile',),
    'ppkgtool.analysis.model': ('PackageView',),
    'ppkgtool.analysis.inspect': ('load_package', 'inspect_document', 'open_package_wim',),
    'ppkgtool.analysis.rank': ('RankedPackage',),
    'ppkgtool.analysis.resolve': ('Resolution',),
    'ppkgtool.analysis.diff': ('diff_packages', 'DIFF_SECTIONS',),
    'ppkgtool.analysis.compiled': ('secret_paths',),
    'ppkgtool.analysis.image': ('Image', 'Folder',),
    'ppkgtool.analysis.eventlog': ('explain_file',),
    'ppkgtool.analysis.report_html': ('render_report',),
    'ppkgtool.deploy.targets': ('Placement', 'deploy_usb', 'deploy_image', 'find_windows_dir',),
    'ppkgtool.deploy.unattend': ('choose_answer_file', 'image_architecture', 'merge_account_data',),
    'ppkgtool.deploy.offlinejoin': ('inject_into_system_hive',),
    'ppkgtool.odj': ('ProvisionData', 'DomainFacts', 'MachineFacts', 'CertPart', 'SstStore', 'PolicyPart',
        'compose_provision_data', 'encode_provision_data', 'decode_provision_data',
        'generate_machine_password', 'blob_bytes', 'to_base64', 'to_savefile', 'unattend_document',),
    'ppkgtool.odj.compose': ('MACHINE_PASSWORD_FORMS',),
    'ppkgtool.odj.request': ('JoinRequest',),
    'ppkgtool.odj.summary': ('summarize',),
    'ppkgtool.odj.certstore': ('load_certificates',),
    'ppkgtool.ad': ('DcTarget', 'Credentials', 'DirectorySession', 'ProvisionRequest', 'ProvisionResult',),
    'ppkgtool.bulk.runner': ('BulkRun',),
    'ppkgtool.bulk.devices': ('parse_devices',),
    'ppkgtool.bulk.adapters': ('TemplateBuilder', 'DirectoryProvisioner',),
    'ppkgtool.wim': ('open_wim', 'extract_image',),
    'ppkgtool.wim.pack': ('pack_folder',),
    'ppkgtool.regf': ('Hive',),
    'ppkgtool.secrets': ('SecretSource', 'add_secret_options', 'has_secret_option', 'source_from_args',),
    'ppkgtool.fsutil': ('atomic_output', 'check_writable', 'write_bytes_atomic', 'large_output', 'read_at_most',
        'output_set', 'OutputSet', 'OutputWriteError', 'require_file',),
    'ppkgtool.limits': ('Budget', 'BudgetError', 'configure_budget',),
    'ppkgtool.text': ('safe_text', 'SURROGATE_RE',),
    'ppkgtool.regpol': ('MAX_POL', 'build_registry_pol', 'parse_registry_pol', 'policy_list_text', 'parse_policy_list',),
    'ppkgtool.bulk.journal': ('option_drift',),
    'ppkgtool.errors': ('CatalogError', 'ConnectionInsecureError', 'CustomizationsError', 'DirectoryError',
        'EXIT_CODES', 'EXIT_DIRECTORY', 'EXIT_INTERNAL', 'EXIT_INVALID_INPUT', 'EXIT_OK', 'EXIT_SECURITY',
        'EXIT_USAGE', 'EncryptedPackageError', 'FormatError', 'HiveError', 'InvalidInputError', 'OdjError',
        'OutputExistsError', 'PpkgError', 'RegistryPolicyError', 'SecretSourceError', 'SecurityError',
        'TamperedError', 'UnsafePathError', 'UnsignedError', 'UntrustedError', 'UsageError', 'WimError',
        'WrongPasswordError', 'XpressError',),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *_HOME]

if TYPE_CHECKING:   # the same names, for type checkers (tests/test_api.py keeps both lists equal)
    from ppkgtool.api import (PackageBuilder as PackageBuilder, Package as Package, open_package as
        open_package, rank as rank, resolve as resolve, verify as verify, encrypt as encrypt, decrypt as
        decrypt, deploy_package as deploy_package, compose_odj as compose_odj, decode_odj as decode_odj, save_odj as save_odj,
        provision_odj as provision_odj, ODJ_FORMS as ODJ_FORMS)
    from ppkgtool.security.encryption import (generate_password as generate_password, check_password as
        check_password, encrypt_package as encrypt_package, decrypt_package as decrypt_package,
        looks_encrypted as looks_encrypted, trim_padding as trim_padding, WIM_MAGIC as WIM_MAGIC, CryptResult
        as CryptResult)
    from ppkgtool.security.signing import (load_signer as load_signer, Signer as Signer, sign_package as
        sign_package, sign_catalog as sign_catalog, load_certificate_files as load_certificate_files, load_pfx
        as load_pfx, load_private_key as load_private_key, looks_pkcs12 as looks_pkcs12, read_credential_file
        as read_credential_file)
    from ppkgtool.security.verify import (Verdict as Verdict, verify_file as verify_file, certificate_info as
        certificate_info)
    from ppkgtool.security.catalog import (catalog_path_for as catalog_path_for, find_catalog as find_catalog,
        hash_package as hash_package,
        parse_catalog as parse_catalog, catalog_for_encrypted as catalog_for_encrypted)
    from ppkgtool.security.transport import (seal_with_password as seal_with_password, seal_for_recipients as
        seal_for_recipients, check_transport_password as check_transport_password, looks_sealed as
        looks_sealed, unseal as unseal)
    from ppkgtool.package.builder import (BuildOptions as BuildOptions, BuildResult as BuildResult,
        build_package as build_package, build_tree_only as build_tree_only)
    from ppkgtool.package.payloads import (PayloadOptions as PayloadOptions, ClientPfx as ClientPfx)
    from ppkgtool.package.prefetch import (prefetch_assets as prefetch_assets)
    from ppkgtool.package.metadata import (OwnerType as OwnerType, PackageMetadata as PackageMetadata,
        check_package_id as check_package_id, check_rank as check_rank, parse_altitude as parse_altitude)
    from ppkgtool.package.customizations import (parse_variable_assignments as parse_variable_assignments,
        read_variable_file as read_variable_file, keyless_path as keyless_path)
    from ppkgtool.package.catalogue import (Catalogue as Catalogue, load_catalogue as load_catalogue,
        parse_catalogue as parse_catalogue)
    from ppkgtool.package.store import (load_model as load_model, builtin_models as builtin_models, BUILD_ENV
        as BUILD_ENV, STORE_ENV as STORE_ENV)
    from ppkgtool.package.settings import (SettingsError as SettingsError, compiled_form as compiled_form)
    from ppkgtool.package.learn import (learn_packages as learn_packages)
    from ppkgtool.package.trust import (trust_customizations as trust_customizations)
    from ppkgtool.package.export import (export_customizations as export_customizations, normalize_files as
        normalize_files, reconstruct_customizations as reconstruct_customizations, redact_customizations as
        redact_customizations, secret_values_of as secret_values_of, settings_from_package as
        settings_from_package, settings_from_provxml as settings_from_provxml, REDACTED_TEXT as REDACTED_TEXT,
        export_answer_file as export_answer_file, ExportedAnswerFile as ExportedAnswerFile, AssetFile as AssetFile)
    from ppkgtool.analysis.model import (PackageView as PackageView)
    from ppkgtool.analysis.inspect import (load_package as load_package, inspect_document as inspect_document,
        open_package_wim as open_package_wim)
    from ppkgtool.analysis.rank import (RankedPackage as RankedPackage)
    from ppkgtool.analysis.resolve import (Resolution as Resolution)
    from ppkgtool.analysis.diff import (diff_packages as diff_packages, DIFF_SECTIONS as DIFF_SECTIONS)
    from ppkgtool.analysis.compiled import (secret_paths as secret_paths)
    from ppkgtool.analysis.image import (Image as Image, Folder as Folder)
    from ppkgtool.analysis.eventlog import (explain_file as explain_file)
    from ppkgtool.analysis.report_html import (render_report as render_report)
    from ppkgtool.deploy.targets import (Placement as Placement, deploy_usb as deploy_usb, deploy_image as
        deploy_image, find_windows_dir as find_windows_dir)
    from ppkgtool.deploy.unattend import (choose_answer_file as choose_answer_file, image_architecture as
        image_architecture, merge_account_data as merge_account_data)
    from ppkgtool.deploy.offlinejoin import (inject_into_system_hive as inject_into_system_hive)
    from ppkgtool.odj import (ProvisionData as ProvisionData, DomainFacts as DomainFacts, MachineFacts as
        MachineFacts, CertPart as CertPart, SstStore as SstStore, PolicyPart as PolicyPart,
        compose_provision_data as compose_provision_data, encode_provision_data as encode_provision_data,
        decode_provision_data as decode_provision_data, generate_machine_password as
        generate_machine_password, blob_bytes as blob_bytes, to_base64 as to_base64, to_savefile as
        to_savefile, unattend_document as unattend_document)
    from ppkgtool.odj.compose import (MACHINE_PASSWORD_FORMS as MACHINE_PASSWORD_FORMS)
    from ppkgtool.odj.request import (JoinRequest as JoinRequest)
    from ppkgtool.odj.summary import (summarize as summarize)
    from ppkgtool.odj.certstore import (load_certificates as load_certificates)
    from ppkgtool.ad import (DcTarget as DcTarget, Credentials as Credentials, DirectorySession as
        DirectorySession, ProvisionRequest as ProvisionRequest, ProvisionResult as ProvisionResult)
    from ppkgtool.bulk.runner import (BulkRun as BulkRun)
    from ppkgtool.bulk.devices import (parse_devices as parse_devices)
    from ppkgtool.bulk.adapters import (TemplateBuilder as TemplateBuilder, DirectoryProvisioner as
        DirectoryProvisioner)
    from ppkgtool.wim import (open_wim as open_wim, extract_image as extract_image)
    from ppkgtool.wim.pack import (pack_folder as pack_folder)
    from ppkgtool.regf import (Hive as Hive)
    from ppkgtool.secrets import (SecretSource as SecretSource, add_secret_options as add_secret_options,
        has_secret_option as has_secret_option, source_from_args as source_from_args)
    from ppkgtool.fsutil import (atomic_output as atomic_output, check_writable as check_writable,
        write_bytes_atomic as write_bytes_atomic, large_output as large_output, read_at_most as read_at_most, output_set as output_set, OutputSet as OutputSet, OutputWriteError as OutputWriteError, require_file as require_file)
    from ppkgtool.limits import (Budget as Budget, BudgetError as BudgetError, configure_budget as configure_budget)
    from ppkgtool.text import (safe_text as safe_text, SURROGATE_RE as SURROGATE_RE)
    from ppkgtool.regpol import (MAX_POL as MAX_POL, build_registry_pol as build_registry_pol, parse_registry_pol as parse_registry_pol, policy_list_text as policy_list_text, parse_policy_list as parse_policy_list)
    from ppkgtool.bulk.journal import (option_drift as option_drift)
    from ppkgtool.errors import (CatalogError as CatalogError, ConnectionInsecureError as
        ConnectionInsecureError, CustomizationsError as CustomizationsError, DirectoryError as DirectoryError,
        EXIT_CODES as EXIT_CODES, EXIT_DIRECTORY as EXIT_DIRECTORY, EXIT_INTERNAL as EXIT_INTERNAL,
        EXIT_INVALID_INPUT as EXIT_INVALID_INPUT, EXIT_OK as EXIT_OK, EXIT_SECURITY as EXIT_SECURITY,
        EXIT_USAGE as EXIT_USAGE, EncryptedPackageError as EncryptedPackageError, FormatError as FormatError,
        HiveError as HiveError, InvalidInputError as InvalidInputError, OdjError as OdjError,
        OutputExistsError as OutputExistsError, PpkgError as PpkgError, RegistryPolicyError as
        RegistryPolicyError, SecretSourceError as SecretSourceError, SecurityError as SecurityError,
        TamperedError as TamperedError, UnsafePathError as UnsafePathError, UnsignedError as UnsignedError,
        UntrustedError as UntrustedError, UsageError as UsageError, WimError as WimError, WrongPasswordError
        as WrongPasswordError, XpressError as XpressError)


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'ppkgtool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
