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
import hashlib
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


def _readinto_full(src: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``src`` as far as the data goes; the number of bytes read."""
    got = 0
    readinto = getattr(src, "readinto", None)
    while got < len(view):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            block = src.read(len(view) - got)
            n = len(block)
            view[got:got + n] = block
        if not n:
            break
        got += n
    return got


def _read_full(src: BinaryIO, n: int) -> bytes:
    buf = bytearray(n)
    got = _readinto_full(src, memoryview(buf))
    return bytes(buf[:got])


class _Pipeline:
    """Reused buffers and one helper thread, so that AES, the HMAC and the file writes overlap
    without allocating (and page-faulting) fresh memory for every chunk."""

    SLOTS = 3

    def __init__(self, *, handed_on: str):
        """``handed_on``: which buffers the helper thread reads, "inputs" (decrypt: the HMAC
        covers the ciphertext read) or "outputs" (encrypt: it covers the ciphertext written); the
        other side is used by the calling thread alone, so one buffer of it is enough. Buffers are
        made on first use (a small package needs one of each, not 24 MiB)."""
        self._rotating = handed_on
        self.inputs: list[bytearray | None] = [None] * self.SLOTS
        self.outputs: list[bytearray | None] = [None] * self.SLOTS
        self.mac_pool = ThreadPoolExecutor(max_workers=1)
        self.pending: list[list] = [[] for _ in range(self.SLOTS)]

    def slot(self, i: int) -> tuple[memoryview, memoryview]:
        k = i % self.SLOTS
        for f in self.pending[k]:  # the buffers of this slot are free again
            f.result()
        self.pending[k] = []
        ki, ko = (k, 0) if self._rotating == "inputs" else (0, k)
        if self.inputs[ki] is None:
            self.inputs[ki] = bytearray(CHUNK + UNIT)
        if self.outputs[ko] is None:
            self.outputs[ko] = bytearray(CHUNK + UNIT + 16)
        return memoryview(self.inputs[ki]), memoryview(self.outputs[ko])

    def submit(self, i: int, pool: ThreadPoolExecutor, fn, *args) -> None:
        self.pending[i % self.SLOTS].append(pool.submit(fn, *args))

    def finish(self) -> None:
        for futures in self.pending:
            for f in futures:
                f.result()
        self.mac_pool.shutdown()

    def abort(self) -> None:
        self.mac_pool.shutdown(wait=True, cancel_futures=True)


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


def _mac_then_write(mac, dst: BinaryIO, cipher: memoryview) -> None:
    mac.update(cipher)
    dst.write(cipher)


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
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(iv))).encryptor()
    mac = hmac.new(key, digestmod="sha256")
    pipe = _Pipeline(handed_on="outputs")
    plain = 0
    try:
        i = 0
        while True:
            inp, out = pipe.slot(i)
            n = _readinto_full(src, inp[:CHUNK])
            if i == 0:
                if not n:
                    raise InvalidInputError("the input is empty")
                if require_wim and bytes(inp[:len(WIM_MAGIC)]) != WIM_MAGIC:
                    raise InvalidInputError("the input is not a plain package (no WIM header)",
                                            hint="Windows encrypts only unencrypted .ppkg files")
                dst.write(iv)
            if n < CHUNK and n % UNIT:  # the last chunk: zero bytes up to a whole 160-byte unit
                pad = UNIT - n % UNIT
                inp[n:n + pad] = bytes(pad)
                n += pad
            if n:
                m = encryptor.update_into(inp[:n], out)
                plain += n
                # one helper thread MACs and writes each chunk while AES-CBC (sequential, the
                # longest job) runs on the next: with three runnable threads on two cores AES
                # got two thirds of a core and encrypt of 256 MiB took 0.3 s instead of 0.23 s
                pipe.submit(i, pipe.mac_pool, _mac_then_write, mac, dst, out[:m])
            if n < CHUNK:
                break
            i += 1
        pipe.finish()
    except BaseException:
        pipe.abort()
        raise
    if encryptor.finalize():  # cannot happen: every chunk is a whole number of AES blocks
        raise AssertionError("CBC left a partial block")
    dst.write(mac.digest())
    return CryptResult(plain, plain)


@dataclass(frozen=True)
class SealedDigests:
    """What EncryptingWriter.finish() reports: {algorithm: digest} and size of the plain package,
    of its decrypted form (zero bytes up to a whole 160-byte unit, what Windows' decryption yields)
    and of the encrypted file."""

    plain: dict
    plain_size: int
    padded: dict
    padded_size: int
    encrypted: dict
    encrypted_size: int


class EncryptingWriter:
    """The Windows encryption of a package that is written to it front to back (a sink for
    wim.write_wim): the same bytes as encrypt_package, without a plain copy on disk. The digests
    ``digests`` (hashlib names) of the plain, padded and encrypted forms are computed on the way,
    on helper threads while AES runs (digests.HashingWriter writes and hashes the ciphertext).
    Each ``write`` has finished with its data when it returns. Call finish() once at the end."""

    def __init__(self, dst: BinaryIO, password: str, *, iv: bytes | None = None, digests=(),
                 require_wim: bool = True):
        from ppkgtool.digests import HashingWriter
        key = check_password(password)
        iv = os.urandom(IV_SIZE) if iv is None else iv
        if not isinstance(iv, (bytes, bytearray)) or len(iv) != IV_SIZE:
            raise ValueError("iv must be 16 bytes")
        self._encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(iv))).encryptor()
        self._mac = hmac.new(key, digestmod="sha256")
        self._algorithms = tuple(digests)
        self._plain = [hashlib.new(a) for a in self._algorithms]
        self._out = HashingWriter(dst, self._algorithms)
        self._out.write(iv)
        self._size = 0
        self._require_wim = require_wim

    def write(self, data) -> int:
        from ppkgtool.digests import _executor
        n = len(data)
        if not n:
            return 0
        if self._size == 0 and self._require_wim and bytes(data[:len(WIM_MAGIC)]) != WIM_MAGIC:
            raise InvalidInputError("the input is not a plain package (no WIM header)",
                                    hint="Windows encrypts only unencrypted .ppkg files")
        self._size += n
        pool = _executor() if n >= 65536 else None
        pending = [pool.submit(h.update, data) for h in self._plain] if pool else []
        if not pool:
            for h in self._plain:
                h.update(data)
        cipher = self._encryptor.update(data)
        if cipher:
            if pool:
                pending.append(pool.submit(self._mac.update, cipher))
            else:
                self._mac.update(cipher)
            self._out.write(cipher)
        for f in pending:
            f.result()
        return n

    def finish(self) -> SealedDigests:
        """Pad, encrypt the rest, write the HMAC; the digests of the three forms."""
        if not self._size:
            raise InvalidInputError("the input is empty")
        plain = {a: h.digest() for a, h in zip(self._algorithms, self._plain)}
        pad = bytes(-self._size % UNIT)
        for h in self._plain:
            h.update(pad)
        tail = self._encryptor.update(pad) + self._encryptor.finalize()
        self._mac.update(tail)
        self._out.write(tail)
        self._out.write(self._mac.digest())
        encrypted = self._out.finish()
        padded = {a: h.digest() for a, h in zip(self._algorithms, self._plain)}
        return SealedDigests(plain, self._size, padded, self._size + len(pad), encrypted, self._out.size)


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


def _size_left(src: BinaryIO) -> int | None:
    try:
        here = src.tell()
        end = src.seek(0, os.SEEK_END)
        src.seek(here)
        return end - here
    except (OSError, AttributeError, ValueError):
        return None


def _decrypt(src: BinaryIO, dst: BinaryIO, password: str, require_wim: bool = True) -> CryptResult:
    key = check_password(password)
    size = _size_left(src)
    if size is None:  # a pipe: the tag is at the end, so take it all in
        data = src.read()
        src, size = io.BytesIO(data), len(data)
    if size < MIN_ENCRYPTED_SIZE:
        raise FormatError(f"{size} bytes is too short to be an encrypted package (16 + 160k + 32 bytes)",
                          where="offset 0")
    cipher_len = size - IV_SIZE - TAG_SIZE
    if cipher_len % UNIT:
        raise FormatError(f"ciphertext of {cipher_len} bytes is not a whole number of 160-byte units "
                          "(truncated or not an encrypted package)", where="offset 16")
    iv = _read_full(src, IV_SIZE)
    if require_wim and iv[:len(WIM_MAGIC)] == WIM_MAGIC:
        raise InvalidInputError("the package is not encrypted (it is a plain WIM)")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    mac = hmac.new(key, digestmod="sha256")
    pipe = _Pipeline(handed_on="inputs")
    left = cipher_len
    header = b""
    try:
        i = 0
        while left:
            inp, out = pipe.slot(i)
            want = min(CHUNK, left)
            n = _readinto_full(src, inp[:want])
            if n != want:
                raise FormatError("the encrypted package is truncated", where=f"offset {size - left}")
            left -= n
            # the HMAC (the longest job) runs on the helper thread while this one decrypts and
            # writes: two runnable threads on two cores (a third, writing, slowed the HMAC)
            pipe.submit(i, pipe.mac_pool, mac.update, inp[:n])
            m = decryptor.update_into(inp[:n], out)
            if i == 0:
                header = bytes(out[:WIM_HEADER_SIZE])
                if require_wim and not header.startswith(WIM_MAGIC):
                    pipe.finish()
                    _first_chunk_failed(src, left, mac, header)
            dst.write(out[:m])
            i += 1
        pipe.finish()
    except BaseException:
        pipe.abort()
        raise
    decryptor.finalize()
    tag = _read_full(src, TAG_SIZE)
    if len(tag) != TAG_SIZE or not hmac.compare_digest(mac.digest(), tag):
        if not require_wim:
            raise WrongPasswordError("wrong password or changed data: the HMAC does not match",
                                     code=ERROR_FILE_CORRUPT)
        raise TamperedError("the package was changed after encryption: its HMAC does not match",
                            code=ERROR_FILE_CORRUPT)
    if require_wim:
        header_size, version = struct.unpack_from("<II", header, 8)
        if header_size != WIM_HEADER_SIZE or version not in KNOWN_WIM_VERSIONS:
            raise TamperedError("the decrypted WIM header is invalid although the HMAC matches: the IV was "
                                "altered", code=ERROR_FILE_CORRUPT)
    return CryptResult(cipher_len, cipher_len)


def _first_chunk_failed(src: BinaryIO, left: int, mac, header: bytes) -> None:
    """Windows stops at an invalid first chunk (wrong password). Tell a wrong password from a
    changed IV or first block: finish the MAC (only the right key makes it match), and look at the
    rest of the header."""
    while left:
        block = src.read(min(CHUNK, left))
        if not block:
            break
        mac.update(block)
        left -= len(block)
    tag = _read_full(src, TAG_SIZE)
    if len(tag) == TAG_SIZE and hmac.compare_digest(mac.digest(), tag):
        raise TamperedError("the package's IV was altered: its first block does not decrypt to a WIM "
                            "although the HMAC matches", code=ERROR_FILE_CORRUPT)
    if _plausible_header_tail(header[16:32]):
        # with the right key, a changed first cipher block garbles plaintext block 0 but leaves
        # block 1 (WIM flags, chunk size) intact except for one flipped bit
        raise TamperedError("the package was changed after encryption: its first block does not decrypt "
                            "although the rest of the WIM header does", code=ERROR_FILE_CORRUPT)
    raise WrongPasswordError("wrong password: the first chunk does not decrypt to a package "
                             "(invalid first chunk)", code=ERROR_INVALID_DATA)


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
