"""What inspect warns about, as data: secret settings, risky commands, risky files, risky claims.

Each rule is a small immutable record so that the lists below can be read (and extended) without
reading code. Sources: users-and-peers.md, "What users complain about" items 7 and 9, and
ppkg-format.md, "Settings that carry the mission's payloads".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REDACTED = "<redacted>"

# Severity words, highest first.
HIGH, MEDIUM, INFO = "high", "medium", "info"
SEVERITIES = (HIGH, MEDIUM, INFO)


@dataclass(frozen=True)
class SecretRule:
    """A setting (customizations path) or a compiled parm (CSP path) that holds a secret."""

    pattern: re.Pattern
    kind: str


# Matched against customizations paths ("Accounts/Users/User[@UserName=admin]/Password") and
# against compiled CSP paths ("Accounts/Users/admin/Password"). First match wins.
SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule(re.compile(r"^Accounts/ComputerAccount/Password$"), "domain join password"),
    SecretRule(re.compile(r"^Accounts/Domain(Join)?/Password$"), "domain join password"),
    SecretRule(re.compile(r"^Accounts/Users/[^/]+/Password$"), "local account password"),
    SecretRule(re.compile(r"(CertificatePassword|PFXCertPassword)$"), "PFX password"),
    SecretRule(re.compile(r"(?i)ProductKey$"), "product key"),
    SecretRule(re.compile(r"(?i)(^|/)[^/]*(password|passphrase|presharedkey|securitykey|sharedsecret|"
                          r"secretkey|psk)$"), "password"),
)

# Kinds that are credentials in plain text (a product key is a secret but not a credential).
CREDENTIAL_KINDS = frozenset({"domain join password", "local account password", "PFX password", "password"})


def secret_kind(path: str) -> str | None:
    """The kind of secret a setting or CSP path holds, or None."""
    for rule in SECRET_RULES:
        if rule.pattern.search(path):
            return rule.kind
    return None


@dataclass(frozen=True)
class CommandSecretRule:
    """A secret written inside a command line; group 'secret' is the part to redact."""

    pattern: re.Pattern
    kind: str


COMMAND_SECRET_RULES: tuple[CommandSecretRule, ...] = (
    # reg add "...\Winlogon" /v DefaultPassword /t REG_SZ /d "secret"  (autologon password)
    CommandSecretRule(re.compile(r'(?i)DefaultPassword"?\s+(?:/t\s+\S+\s+)?/d\s+"?(?P<secret>[^"\s]+)"?'),
                      "autologon password"),
    # net user NAME PASSWORD [/add]
    CommandSecretRule(re.compile(r'(?i)\bnet(?:\.exe)?\s+user\s+"?[^"\s/]+"?\s+"?(?P<secret>[^"\s/*][^"\s]*)"?'),
                      "local account password"),
    # ConvertTo-SecureString "secret" -AsPlainText
    CommandSecretRule(re.compile(r'(?i)ConvertTo-SecureString\s+(?:-String\s+)?["\'](?P<secret>[^"\']+)["\']'),
                      "password"),
    # /password:secret, -Password secret, /p:secret (djoin-, msiexec- and script-style)
    CommandSecretRule(re.compile(r'(?i)(?:[/-]password[:=\s]\s*|\s/p:)"?(?P<secret>[^"\s]+)"?'), "password"),
)


def redact_command_line(line: str | None) -> str | None:
    """A command line with the secrets COMMAND_SECRET_RULES find replaced by REDACTED."""
    if not line:
        return line
    for rule in COMMAND_SECRET_RULES:
        line = rule.pattern.sub(lambda m: m.group(0).replace(m.group("secret"), REDACTED), line)
    return line


@dataclass(frozen=True)
class CommandRule:
    """A command-line pattern worth a warning."""

    pattern: re.Pattern
    code: str
    severity: str
    message: str


COMMAND_RULES: tuple[CommandRule, ...] = (
    CommandRule(re.compile(r"(?i)(https?|ftp)://|Invoke-WebRequest|\biwr\b|\bwget\b|\bcurl(\.exe)?\b|"
                           r"Start-BitsTransfer|bitsadmin|certutil[^|&]*-urlcache|DownloadString|DownloadFile|"
                           r"Net\.WebClient|Invoke-RestMethod|\birm\b"),
                "command-downloads", HIGH, "command downloads from the network"),
    CommandRule(re.compile(r"(?i)Set-MpPreference[^|&]*-Disable|DisableAntiSpyware|DisableRealtimeMonitoring|"
                           r"DisableBehaviorMonitoring|Add-MpPreference[^|&]*-Exclusion|"
                           r"netsh\s+(adv)?firewall[^|&]*\b(off|disable)|Set-NetFirewallProfile[^|&]*-Enabled\s+\$?False|"
                           r"bcdedit[^|&]*(testsigning|nointegritychecks|recoveryenabled\s+no)|"
                           r"EnableLUA[^|&]*/d\s+\"?0|ConsentPromptBehaviorAdmin[^|&]*/d\s+\"?0|"
                           r"\bsc(\.exe)?\s+(stop|delete|config)\s+(WinDefend|wscsvc|MpsSvc|SecurityHealthService|Sense)|"
                           r"vssadmin[^|&]*delete\s+shadows|wevtutil(\.exe)?\s+cl\b|"
                           r"ExecutionPolicy\s+(Bypass|Unrestricted)|Windows Defender|SmartScreen"),
                "command-disables-security", HIGH, "command disables or weakens a security feature"),
    CommandRule(re.compile(r"(?i)-enc(odedcommand)?\s+[A-Za-z0-9+/=]{20,}|FromBase64String"),
                "command-obfuscated", HIGH, "command runs encoded (obfuscated) script text"),
    CommandRule(re.compile(r"(?i)\bdjoin(\.exe)?\b[^|&]*/requestodj"),
                "command-offline-domain-join", INFO, "command performs an offline domain join (djoin /requestodj)"),
    CommandRule(re.compile(r"(?i)AutoAdminLogon"),
                "command-autologon", MEDIUM, "command turns on automatic logon"),
    CommandRule(re.compile(r"(?i)\bnet(\.exe)?\s+localgroup\s+administrators\b[^|&]*/add"),
                "command-adds-admin", MEDIUM, "command adds an account to the local Administrators group"),
)

# Embedded file types that run code. Extension match, or a PE header (MZ) at the start.
EXECUTABLE_EXTENSIONS = frozenset({
    ".exe", ".dll", ".sys", ".scr", ".com", ".cpl", ".ocx", ".msi", ".msp", ".msix", ".msixbundle",
    ".appx", ".appxbundle", ".cab",
})
SCRIPT_EXTENSIONS = frozenset({
    ".ps1", ".psm1", ".psd1", ".bat", ".cmd", ".vbs", ".vbe", ".js", ".jse", ".wsf", ".wsh", ".hta",
    ".reg", ".py", ".sh", ".inf", ".lnk",
})


def file_kind(name: str, head: bytes = b"") -> str:
    """'executable', 'script' or 'data' for an embedded file."""
    lower = name.lower()
    ext = lower[lower.rfind("."):] if "." in lower else ""
    if ext in EXECUTABLE_EXTENSIONS or head[:2] == b"MZ":
        return "executable"
    if ext in SCRIPT_EXTENSIONS:
        return "script"
    return "data"


@dataclass(frozen=True)
class SettingRule:
    """A setting (customizations path regex, optional value regex) worth a warning."""

    path: re.Pattern
    value: re.Pattern | None
    code: str
    severity: str
    message: str


SETTING_RULES: tuple[SettingRule, ...] = (
    SettingRule(re.compile(r"^Accounts/ComputerAccount/(DomainName|Account|Password|AccountOU)$"), None,
                "needs-domain-controller", MEDIUM,
                "online domain join at OOBE: the device must reach a domain controller during setup "
                "(an offline domain join blob does not)"),
    SettingRule(re.compile(r"^Policies/Defender/(AllowRealtimeMonitoring|AllowBehaviorMonitoring|AllowIOAVProtection|"
                           r"AllowOnAccessProtection|AllowScriptScanning|AllowCloudProtection)$"),
                re.compile(r"(?i)^(0|no|false|not allowed|disabled?)$"),
                "setting-disables-security", HIGH, "setting turns off a Microsoft Defender protection"),
    SettingRule(re.compile(r"^Policies/(SmartScreen|Browser)/(EnableSmartScreenInShell|AllowSmartScreen)$"),
                re.compile(r"(?i)^(0|no|false|disabled?)$"),
                "setting-disables-security", HIGH, "setting turns off SmartScreen"),
    SettingRule(re.compile(r"^Policies/Security/(RequireProvisioningPackageSignature)$"),
                re.compile(r"(?i)^(0|no|false)$"), "setting-disables-security", MEDIUM,
                "setting allows unsigned provisioning packages"),
    SettingRule(re.compile(r"^Policies/ApplicationManagement/AllowAllTrustedApps$"),
                re.compile(r"(?i)^(1|yes|true|allowed)$"), "setting-sideloading", INFO,
                "setting allows sideloading of trusted apps"),
    SettingRule(re.compile(r"^Certificates/TrustedProvisioners/"), None, "setting-trusted-provisioner", MEDIUM,
                "setting adds a trusted provisioner: packages signed by it install without consent"),
    SettingRule(re.compile(r"^Certificates/(RootCertificates|CACertificates)/"), None, "setting-root-certificate",
                MEDIUM, "setting installs a root or CA certificate on the device"),
)


# Owner types whose claim deserves a warning: third parties claiming them is a known malware trick
# (users-and-peers.md item 9). OEM is also Windows Configuration Designer's default.
OWNER_CLAIMS = {
    "Microsoft": (HIGH, "package claims owner type Microsoft: only Microsoft ships those; a package from "
                        "anyone else claiming it is a known malware trick"),
    "OEM": (MEDIUM, "package claims owner type OEM (also WCD's default); packages from third parties "
                    "claiming it are a known malware trick - check where it came from"),
}
