"""The project's one exception hierarchy.

Every error says what was wrong and, where it helps, what to do. The CLI maps each class to a
documented exit code (see ``EXIT_CODES`` and docs/commands.md) and prints a single line; bad input
never produces a traceback.

Exit codes:
  0  success
  1  internal error (a bug: please report it)
  2  usage error (bad or missing command-line arguments)
  3  invalid or unsupported input (a bad package, blob, XML, argument value; an output that exists)
  4  a security verdict failed (untrusted, tampered, unsigned where a signature is required, wrong password)
  5  a directory, network or server error (LDAP/SMB/DC problems, unreachable hosts)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INVALID_INPUT = 3
EXIT_SECURITY = 4
EXIT_DIRECTORY = 5

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_INTERNAL: "internal error",
    EXIT_USAGE: "usage error (bad or missing arguments)",
    EXIT_INVALID_INPUT: "invalid or unsupported input (package, blob, XML, argument value, existing output)",
    EXIT_SECURITY: "security verdict failed (untrusted, tampered, wrong password)",
    EXIT_DIRECTORY: "directory, network or server error",
}


def format_code(code: int) -> str:
    """Windows error numbers as Windows shows them: NERR/Win32 codes in decimal (2224), HRESULTs
    in hex (0x8007000D)."""
    if code < 0:
        code &= 0xFFFFFFFF
    return f"0x{code:08X}" if code > 0xFFFF else str(code)


class PpkgError(Exception):
    """Base class of every error ppkgtool raises on purpose.

    ``code`` is an optional Windows error number (NERR_*, Win32 or HRESULT) that the error
    corresponds to, shown to users next to the message.
    """

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str, *, code: int | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint

    def one_line(self) -> str:
        text = self.message
        if self.code is not None:
            text = f"{text} (error {format_code(self.code)})"
        if self.hint:
            text = f"{text}; {self.hint}"
        return " ".join(text.split())




class UsageError(PpkgError):
    exit_code = EXIT_USAGE


# --- invalid input (exit 3) -----------------------------------------------------------------

class InvalidInputError(PpkgError):
    exit_code = EXIT_INVALID_INPUT


class OutputExistsError(InvalidInputError):
    """An output file exists and --overwrite was not given."""


class NotRegularOutputError(OutputExistsError):
    """An output path is a symbolic link, device, FIFO, socket or folder: never replaced or followed,
    --overwrite or not (fsutil.refuse_non_regular). ``where`` is the path."""

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.where = where


class SecretSourceError(InvalidInputError):
    """No usable password/secret source (no file, no environment variable, no terminal)."""


class FormatError(InvalidInputError):
    """Untrusted bytes do not parse. ``where`` names the place (file, offset, XML path)."""

    def __init__(self, message: str, *, where: str | None = None, code: int | None = None,
                 hint: str | None = None):
        if where:
            message = f"{where}: {message}"
        super().__init__(message, code=code, hint=hint)
        self.where = where


class WimError(FormatError):
    """A WIM container (.ppkg) is malformed or unsupported."""


class XpressError(WimError):
    """XPRESS Huffman data does not decompress."""


class UnsafePathError(WimError):
    """A path inside a package would escape the extraction folder or is not a plain file name."""


class OdjError(FormatError):
    """An ODJ blob is malformed. ``code`` carries the NERR value (2709, 2710, 2712, 2719)."""


class RegistryPolicyError(FormatError):
    """A Registry.pol file is malformed."""


class HiveError(FormatError):
    """A registry hive cannot be read or written (NERR_CantLoadOfflineHive 2717)."""


class CustomizationsError(FormatError):
    """A customizations.xml is invalid: names file, line and setting."""


class CatalogError(FormatError):
    """A security catalog (.cat) is malformed."""


class EncryptedPackageError(InvalidInputError):
    """The package is encrypted and needs a password to be read."""


# --- security verdicts (exit 4) ---------------------------------------------------------------

class SecurityError(PpkgError):
    exit_code = EXIT_SECURITY


class WrongPasswordError(SecurityError):
    """Decryption gave no WIM ('invalid first chunk', 0x8007000D)."""


class TamperedError(SecurityError):
    """Content does not match its MAC, hash or signature (ERROR_FILE_CORRUPT 0x80070570)."""


class UntrustedError(SecurityError):
    """A signature is valid but does not chain to a trusted provisioner."""


class UnsignedError(SecurityError):
    """No signature where one was required."""


# --- directory / network / server (exit 5) ---------------------------------------------------

class DirectoryError(PpkgError):
    """A directory (AD/LDAP/SMB) or network operation failed. ``code`` is the Windows error."""

    exit_code = EXIT_DIRECTORY


class ConnectionInsecureError(DirectoryError):
    """A bind would send a password unencrypted (NERR_ConnectionInsecure 2718)."""
