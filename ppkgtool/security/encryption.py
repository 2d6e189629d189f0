"""Windows provisioning package encryption, exactly as the package API reads and writes it.

Layout (ppkg-format.md "Encryption" [C], from PackageSecurity::CryptWrapper):

    offset 0        16 bytes  IV (random)
    offset 16       N bytes   AES-128-CBC(key, IV, WIM + zero bytes up to a multiple of 160), no padding scheme
    offset 16 + N   32 bytes  HMAC-SHA256(key, ciphertext)   (the IV is not covered)

key = the password's characters as single bytes, right-padded with 0x00 to 16 bytes; the same 16
bytes key the HMAC. There is no salt and no key derivation: the password *is* the key. See
docs/formats/encryption.md and docs/security.md.

Password rule used here: 1 to 16 characters, each printable ASCII (U+0020 to U+007E). Windows
needs each character to be one byte; ASCII is the only range whose byte value is the same under
every Windows ANSI code page and under plain truncation of UTF-16 code units, so a password that
passes here gives the same key on the Windows device [I for Windows' exact conversion].
"""

from __future__ import annotations

import contextlib
import hmac
import io
import os
import secrets
import string
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ppkgtool.errors import FormatError, InvalidInputError, TamperedError, WrongPasswordError

WIM_MAGIC = b"MSWIM\x00\x00\x00"
WIM_HEADER_SIZE = 208
IV_SIZE = 16
TAG_SIZE = 32
UNIT = 160                      # Windows encrypts whole 160-byte units
KEY_SIZE = 16
MIN_ENCRYPTED_SIZE = IV_SIZE + UNIT + TAG_SIZE
CHUNK = UNIT * 26214            # ~4 MiB, a multiple of the unit and of the AES block
PASSWORD_ALPHABET = string.ascii_letters + string.digits
ERROR_INVALID_DATA = 0x8007000D  # "invalid first chunk": wrong password
ERROR_FILE_CORRUPT = 0x80070570
KNOWN_WIM_VERSIONS = (0x00010D00, 0x00000E00)  # wimlib accepts only these (header.h)


def check_password(password: str) -> bytes:
    """The 16-byte key for ``password``, or InvalidInputError when Windows could not use it."""
    if not isinstance(password, str):
        raise InvalidInputError("the package password must be text")
    if not 1 <= len(password) <= KEY_SIZE:
        raise InvalidInputError(
            f"the package password has {len(password)} characters; Windows takes 1 to 16",
            hint="the password is the whole AES key (no key derivation): use 16 random characters, "
                 "e.g. --generate-password")
    for i, ch in enumerate(password):
        if not " " <= ch <= "~":
            raise InvalidInputError(
                f"character {i + 1} of the package password ({ch!r}) is not printable ASCII",
                hint="Windows needs one byte per character; only U+0020 to U+007E map to the same byte "
                     "on every Windows system")
    return password.encode("ascii").ljust(KEY_SIZE, b"\x00")


def generate_password() -> str:
    """16 random letters and digits (about 95 bits), like icd.exe +Encrypted generates one."""
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(KEY_SIZE))


def looks_encrypted(size: int, head: bytes) -> bool:
    """Whether a file of ``size`` bytes starting with ``head`` has the encrypted package shape.

    An encrypted package has no magic: Windows treats a .ppkg that is not a WIM as encrypted.
    Shape: size = 16 + 160k + 32 with k >= 1, and it does not start like a WIM.
    """
    if size < MIN_ENCRYPTED_SIZE or (size - IV_SIZE - TAG_SIZE) % UNIT:
        return False
    return not head[:len(WIM_MAGIC)] == WIM_MAGIC


def encrypted_size(plain_size: int) -> int:
    return IV_SIZE + -(-plain_size // UNIT) * UNIT + TAG_SIZE


@dataclass(frozen=True)
class CryptResult:
    """What a call processed: plain bytes written/read (with padding) and the ciphertext size."""

    plain_size: int
    cipher_size: int


def _read_full(src: BinaryIO, n: int) -> bytes:
    parts = []
    while n > 0:
        block = src.read(n)
        if not block:
            break
        parts.append(block)
        n -= len(block)
    return b"".join(parts)


@contextlib.contextmanager
def _opened(src, dst):
    """Accept binary file objects or paths (a ``dst`` path is created 0600: it may hold secrets)."""
    with contextlib.ExitStack() as stack:
        if isinstance(src, (str, os.PathLike)):
            src = stack.enter_context(open(src, "rb"))
        if isinstance(dst, (str, os.PathLike)):
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            dst = stack.enter_context(os.fdopen(fd, "wb"))
        yield src, dst


def encrypt_package(src: BinaryIO | os.PathLike | str, dst: BinaryIO | os.PathLike | str, password: str, *,
                    iv: bytes | None = None, require_wim: bool = True) -> CryptResult:
    """Encrypt a plain package (a WIM) from ``src`` to ``dst`` in the Windows format.

    ``src``/``dst`` are binary file objects or paths. ``iv`` is random unless given (tests).
    Refuses input that does not start with the WIM magic, as Windows does (``require_wim=False``
    encrypts any bytes with the same construction; Windows would not open the result).
    """
    check_password(password)
    with _opened(src, dst) as (s, d):
        return _encrypt(s, d, password, iv, require_wim)


def _encrypt(src: BinaryIO, dst: BinaryIO, password: str, iv: bytes | None, require_wim: bool) -> CryptResult:
    key = check_password(password)
    if iv is None:
        iv = os.urandom(IV_SIZE)
    if not isinstance(iv, (bytes, bytearray)) or len(iv) != IV_SIZE:
        raise ValueError("iv must be 16 bytes")
    first = _read_full(src, CHUNK)
    if not first:
        raise InvalidInputError("the input is empty")
    if require_wim and not first.startswith(WIM_MAGIC):
        raise InvalidInputError("the input is not a plain package (no WIM header)",
                                hint="Windows encrypts only unencrypted .ppkg files")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(iv))).encryptor()
    mac = hmac.new(key, digestmod="sha256")
    dst.write(iv)
    plain = cipher = 0

    def mac_and_write(block: bytes) -> None:
        mac.update(block)
        dst.write(block)

    with ThreadPoolExecutor(max_workers=1) as pool:  # MAC + write overlap the next encryption
        pending = None
        block = first
        while block:
            nxt = _read_full(src, CHUNK)
            if not nxt and len(block) % UNIT:
                block += b"\x00" * (UNIT - len(block) % UNIT)
            plain += len(block)
            ct = encryptor.update(block)
            cipher += len(ct)
            if pending is not None:
                pending.result()
            pending = pool.submit(mac_and_write, ct)
            block = nxt
        if pending is not None:
            pending.result()
    tail = encryptor.finalize()
    if tail:  # cannot happen: every block is a multiple of 16
        raise AssertionError("CBC left a partial block")
    dst.write(mac.digest())
    return CryptResult(plain, cipher)


class _Tail:
    """Reads a stream while holding back its last ``keep`` bytes (the HMAC tag)."""

    def __init__(self, src: BinaryIO, keep: int):
        self.src, self.keep, self.carry, self.total = src, keep, b"", 0

    def read(self, n: int) -> bytes:
        buf = self.carry + _read_full(self.src, n)
        self.total += len(buf) - len(self.carry)
        out, self.carry = buf[:-self.keep] if len(buf) > self.keep else b"", buf[-self.keep:]
        return out


def decrypt_package(src: BinaryIO | os.PathLike | str, dst: BinaryIO | os.PathLike | str,
                    password: str, *, require_wim: bool = True) -> CryptResult:
    """Decrypt an encrypted package from ``src`` into ``dst`` (the WIM plus 0-159 zero bytes).

    ``src``/``dst`` are binary file objects or paths. Wrong password → WrongPasswordError
    ("invalid first chunk", 0x8007000D); a changed ciphertext or tag → TamperedError
    (ERROR_FILE_CORRUPT 0x80070570). ``dst`` may hold partial output when an error is raised:
    write to a temporary file (fsutil.atomic_output does). ``require_wim=False`` skips the
    first-chunk and WIM header checks (content that is not a package); then a wrong password
    shows only as an HMAC mismatch and is reported as WrongPasswordError.
    """
    check_password(password)
    with _opened(src, dst) as (s, d):
        return _decrypt(s, d, password, require_wim)


def _decrypt(src: BinaryIO, dst: BinaryIO, password: str, require_wim: bool = True) -> CryptResult:
    key = check_password(password)
    iv = _read_full(src, IV_SIZE)
    if len(iv) < IV_SIZE:
        raise FormatError("too short to be an encrypted package", where="offset 0")
    if require_wim and iv[:len(WIM_MAGIC)] == WIM_MAGIC:
        raise InvalidInputError("the package is not encrypted (it is a plain WIM)")
    body = _Tail(src, TAG_SIZE)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    mac = hmac.new(key, digestmod="sha256")
    first = body.read(CHUNK)
    if len(first) < UNIT or len(body.carry) < TAG_SIZE:
        raise FormatError("too short to be an encrypted package (16 + 160k + 32 bytes)", where="offset 16")
    mac.update(first)
    plain_first = decryptor.update(first)
    if require_wim and not plain_first.startswith(WIM_MAGIC):
        # Windows stops here ("invalid first chunk"). Tell a wrong password from a changed IV
        # (the IV is outside the MAC) by finishing the MAC: only the right key makes it match.
        while block := body.read(CHUNK):
            mac.update(block)
        if _tail_ok(body, mac):
            raise TamperedError("the package's IV was altered: its first block does not decrypt to a WIM "
                                "although the HMAC matches", code=ERROR_FILE_CORRUPT)
        if _plausible_header_tail(plain_first[16:32]):
            # with the right key, a changed first cipher block garbles plaintext block 0 but leaves
            # block 1 (WIM flags, chunk size) intact except for one flipped bit
            raise TamperedError("the package was changed after encryption: its first block does not decrypt "
                                "although the rest of the WIM header does", code=ERROR_FILE_CORRUPT)
        raise WrongPasswordError("wrong password: the first chunk does not decrypt to a package "
                                 "(invalid first chunk)", code=ERROR_INVALID_DATA)
    header_size, version = struct.unpack_from("<II", plain_first, 8) if require_wim else (0, 0)
    plain = cipher = 0

    with ThreadPoolExecutor(max_workers=1) as pool:  # MAC runs beside decryption + writing
        block, pt = first, plain_first
        pending = None
        while True:
            dst.write(pt)
            plain += len(pt)
            cipher += len(block)
            if pending is not None:
                pending.result()
            block = body.read(CHUNK)
            if not block:
                break
            pending = pool.submit(mac.update, block)
            pt = decryptor.update(block)
        if pending is not None:
            pending.result()
    if cipher % UNIT:
        raise FormatError(f"ciphertext of {cipher} bytes is not a whole number of 160-byte units "
                          "(truncated or not an encrypted package)", where="offset 16")
    plain += len(decryptor.finalize())
    if not _tail_ok(body, mac):
        if not require_wim:
            raise WrongPasswordError("wrong password or changed data: the HMAC does not match",
                                     code=ERROR_FILE_CORRUPT)
        raise TamperedError("the package was changed after encryption: its HMAC does not match",
                            code=ERROR_FILE_CORRUPT)
    if require_wim and (header_size != WIM_HEADER_SIZE or version not in KNOWN_WIM_VERSIONS):
        raise TamperedError("the decrypted WIM header is invalid although the HMAC matches: the IV was "
                            "altered", code=ERROR_FILE_CORRUPT)
    return CryptResult(plain, cipher)


_WIM_FLAGS_KNOWN = 0x002F00FF  # wimlib header.h WIM_HDR_FLAG_* (header and compression flags)


def _plausible_header_tail(block: bytes) -> bool:
    """Whether bytes 16-31 of a decryption look like a WIM header's flags or chunk size: true by
    chance for a wrong key with a probability of about 2**-19."""
    if len(block) < 8:
        return False
    flags, chunk = struct.unpack_from("<II", block, 0)
    flags_ok = flags & ~_WIM_FLAGS_KNOWN == 0 and flags & 0x2
    chunk_ok = chunk in {1 << n for n in range(15, 27)}
    return bool(flags_ok or chunk_ok)


def _tail_ok(body: _Tail, mac) -> bool:
    return len(body.carry) == TAG_SIZE and hmac.compare_digest(mac.digest(), body.carry)


def encrypt_bytes(data: bytes, password: str, *, iv: bytes | None = None, require_wim: bool = True) -> bytes:
    out = io.BytesIO()
    encrypt_package(io.BytesIO(data), out, password, iv=iv, require_wim=require_wim)
    return out.getvalue()


def decrypt_bytes(data: bytes, password: str, *, require_wim: bool = True) -> bytes:
    out = io.BytesIO()
    decrypt_package(io.BytesIO(data), out, password, require_wim=require_wim)
    return out.getvalue()


def wim_end(head: bytes) -> int | None:
    """Where a WIM ends according to its header (the furthest of blob table, XML data and
    integrity table; wimlib header.h), or None when the header does not say.

    Used to drop the 0-159 zero bytes a decryption leaves after the WIM.
    """
    if len(head) < WIM_HEADER_SIZE or not head.startswith(WIM_MAGIC):
        return None
    end = WIM_HEADER_SIZE
    for offset in (48, 72, 124):  # blob table, XML data, integrity table resource headers
        size_flags, res_offset, _original = struct.unpack_from("<QQQ", head, offset)
        size = size_flags & 0x00FF_FFFF_FFFF_FFFF
        if size:
            end = max(end, res_offset + size)
    return end


def trim_padding(fh: BinaryIO, size: int) -> int:
    """Truncate a decrypted WIM in ``fh`` (read/write, ``size`` bytes) to where the WIM ends, if
    only zero bytes follow there. Returns the new size."""
    fh.seek(0)
    end = wim_end(fh.read(WIM_HEADER_SIZE))
    if end is None or not size - UNIT < end <= size:
        return size
    fh.seek(end)
    if fh.read(size - end).strip(b"\x00"):
        return size
    fh.truncate(end)
    return end
