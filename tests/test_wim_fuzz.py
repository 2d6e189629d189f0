"""Bounded fuzzing of the WIM reader with mutated real packages: the only exceptions allowed are the
project's own (PpkgError subclasses), and no example may hang (hypothesis deadline)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppkgtool.errors import PpkgError
from ppkgtool.wim import extract_image, open_wim

from test_wim_helpers import dir_entry, file_entry, hostile_wim

FUZZ = settings(max_examples=250, deadline=3000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

_seeds: dict[str, bytes] = {}


def seed(real_ppkg: Path, name: str) -> bytes:
    if name not in _seeds:
        if name == "raw-metadata":
            # uncompressed metadata: mutations reach the dentry parser directly
            root = dir_entry("", dir_entry("Multivariant", dir_entry("0", file_entry("customizations.xml", b"<a/>" * 50),
                                                                     file_entry("MasterDatastore.xml", b"RunTime.xml"))),
                             file_entry("top.txt", b"top"))
            _seeds[name] = hostile_wim(root, [b"<a/>" * 50, b"RunTime.xml", b"top"])
        else:
            _seeds[name] = (real_ppkg / name).read_bytes()
    return _seeds[name]


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 24), st.integers(1, 255)),
    st.tuples(st.just("set64"), st.integers(0, 1 << 24), st.sampled_from([0, 1, 7, 8, 0xFFFF, 1 << 31, 1 << 32,
                                                                           (1 << 63) - 1, (1 << 64) - 1])),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 24), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 24), st.integers(0, 255)),
)


def mutate(data: bytes, muts) -> bytes:
    b = bytearray(data)
    for kind, pos, val in muts:
        if not b:
            break
        # bias positions toward the structures: header, metadata/blob table/XML at the end
        p = (pos if pos % 3 else (pos % 208 if pos % 2 else len(b) - 1 - pos % min(len(b), 4096))) % len(b)
        if kind == "flip":
            b[p] ^= val
        elif kind == "set64":
            b[p:p + 8] = val.to_bytes(8, "little")[:len(b) - p]
        elif kind == "truncate":
            del b[p:]
        else:
            b.insert(p, val)
    return bytes(b)


def exercise(data: bytes, verify: bool) -> None:
    try:
        with open_wim(io.BytesIO(data), verify_hashes=verify) as wim:
            for index in range(1, min(wim.image_count, 3) + 1):
                img = wim.image(index)
                _ = img.properties
                for f in img.files()[:40]:
                    img.read(f.path)
                img.directories()
            with tempfile.TemporaryDirectory() as tmp:
                extract_image(wim, Path(tmp) / "x")
    except PpkgError:
        pass


@pytest.mark.parametrize("name", ["icd-cli-oobe.ppkg", "raw-metadata"])
@pytest.mark.parametrize("verify", [True, False])
def test_mutated_packages_fail_cleanly(real_ppkg, name, verify):
    data = seed(real_ppkg, name)

    @FUZZ
    @given(st.lists(mutation, min_size=1, max_size=4))
    def run(muts):
        exercise(mutate(data, muts), verify)

    run()


def test_mutated_large_package_headers(real_ppkg):
    """The package with 60+ MiB MSI streams: mutations of the header, blob table and XML only (a
    bounded number of examples; streams are not decompressed fully)."""
    data = (real_ppkg / "wcd-gui-commands-msi.ppkg").read_bytes()
    tail_start = len(data) - 4000

    @settings(max_examples=60, deadline=5000, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(st.tuples(st.integers(0, 4207), st.integers(1, 255)), min_size=1, max_size=3))
    def run(flips):
        b = bytearray(data)
        for pos, val in flips:
            p = pos if pos < 208 else tail_start + (pos - 208)
            b[p] ^= val
        try:
            with open_wim(io.BytesIO(bytes(b))) as wim:
                img = wim.image(1)
                for f in img.files():
                    if f.size < 100_000:
                        img.read(f.path)
        except PpkgError:
            pass

    run()
