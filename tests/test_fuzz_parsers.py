"""Issue 17: a bounded fuzz test per parser over the real fixtures. Every mutated input must parse or
fail with one of the project's typed errors (PpkgError: exit 3/4), never another exception, and
stay within a memory bound. CI runs PPKGTOOL_FUZZ_EXAMPLES (default 120) examples per parser;
set it to e.g. 5000 for a long local run."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ppkgtool.errors import PpkgError

EXAMPLES = int(os.environ.get("PPKGTOOL_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
MEMORY_BOUND = 96 * 1024 * 1024          # Python allocations of one parse (tracemalloc peak)

mutation = st.lists(st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 24), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 24), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 24), st.integers(0, 255)),
    st.tuples(st.just("zero"), st.integers(0, 1 << 24), st.integers(1, 64)),
), min_size=1, max_size=4)


def mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for kind, pos, arg in ops:
        if not b:
            break
        i = pos % len(b)
        if kind == "flip":
            b[i] ^= arg
        elif kind == "cut":
            del b[i:]
        elif kind == "insert":
            b[i:i] = bytes([arg]) * 4
        else:
            b[i:i + arg] = bytes(min(arg, len(b) - i))
    return bytes(b)


# --- the parsers, each over bytes --------------------------------------------------------------

def p_package(data):
    from ppkgtool.analysis.inspect import build_view
    from ppkgtool.wim import open_wim
    with open_wim(io.BytesIO(data)) as wim:
        build_view("fuzz.ppkg", wim.image(1))


def p_odj(data):
    from ppkgtool.odj.textforms import load_blob
    load_blob(data)


def p_ndr(data):
    from ppkgtool.odj.codec import decode_provision_data
    decode_provision_data(data)


def p_regpol(data):
    from ppkgtool.regpol import parse_registry_pol
    parse_registry_pol(data)


def p_catalog(data):
    from ppkgtool.security.catalog import parse_catalog
    parse_catalog(data)


def p_customizations(data):
    from ppkgtool.package.customizations import parse_customizations
    parse_customizations(data, source_name="customizations.xml")


def p_provxml(data):
    from ppkgtool.package.tree.provxml import parse_provxml
    parse_provxml(data, where="x.provxml")


def p_runtime(data):
    from ppkgtool.package.tree.runtime import parse_runtime
    parse_runtime(data, where="RunTime.xml")


def p_dataasset(data):
    from ppkgtool.package.tree.dataasset import parse_data_asset
    parse_data_asset(data)


def p_devices(data):
    from ppkgtool.bulk.devices import parse_devices
    parse_devices(data)


def p_unattend(data):
    from ppkgtool.deploy.unattend import merge_account_data
    merge_account_data(data, "QUJD")


def p_hive(data):
    from ppkgtool.regf import Hive
    Hive(data)


def p_envelope(data):
    from ppkgtool.security.transport import unseal
    unseal(io.BytesIO(data), io.BytesIO(), password="transport passphrase")


def p_encrypted(data):
    from ppkgtool.security.encryption import decrypt_bytes
    decrypt_bytes(data, "Abcdefgh12345678")


def p_icd_log(data):
    import tempfile
    from ppkgtool.analysis.eventlog import read_log
    with tempfile.NamedTemporaryFile(suffix=".xml") as fh:
        fh.write(data)
        fh.flush()
        read_log(fh.name)


# --- seeds: real files nobody here made, or made by real tools ----------------------------------

def _files(fixtures: Path, real: Path) -> dict:
    from ppkgtool.wim import open_wim
    with open_wim(real / "wcd-itadmin-rank52.ppkg") as wim:
        img = wim.image(1)
        parts = {f.path.lstrip("/"): img.read(f.path) for f in img.files() if f.size < 65536}
    cust = next(p for k, p in parts.items() if k.endswith("customizations.xml"))
    prov = next(p for k, p in parts.items() if k.endswith(".provxml"))
    runtime = next(p for k, p in parts.items() if k.endswith("Prov/RunTime.xml"))
    return {"cust": cust, "prov": prov, "runtime": runtime,
            "dataasset": next((p for k, p in parts.items() if k.endswith("DataAsset.xml")), None)}


@pytest.fixture(scope="module")
def seeds(shared_fixtures, real_ppkg, real_odj, tmp_path_factory):
    import sys
    parts = _files(shared_fixtures, real_ppkg)
    pol = sorted((shared_fixtures / "corpus" / "regpol").glob("*.pol"))[0].read_bytes()
    cat = (real_ppkg / "wcd-itadmin-rank52.cat").read_bytes()
    smallest = min((real_ppkg / n for n in ("icd-cli-oobe.ppkg", "wcd-itadmin-rank52.ppkg")),
                   key=lambda p: p.stat().st_size).read_bytes()
    blob = (real_odj / "windows-w2k19-provision-data.bin").read_bytes()
    savefile = (real_odj / "windows-w2k19-provision-data.b64.txt").read_bytes()
    sys.path.insert(0, str(Path(__file__).parent))
    from test_odj_request import EXISTING_UNATTEND
    from test_regf_support import make_system_hive
    hive_path = tmp_path_factory.mktemp("hive") / "SYSTEM"
    make_system_hive(hive_path)
    from ppkgtool.security.encryption import encrypt_bytes
    from ppkgtool.security.transport import seal_with_password
    env = io.BytesIO()
    seal_with_password(io.BytesIO(b"PK" * 500), env, "transport passphrase", iterations=1000)
    return {
        "package": [smallest], "odj": [blob, savefile], "ndr": [blob], "regpol": [pol], "catalog": [cat],
        "customizations": [parts["cust"]], "provxml": [parts["prov"]], "runtime": [parts["runtime"]],
        "dataasset": [parts["dataasset"]] if parts["dataasset"] else [],
        "devices": [b"name,serial,site\r\nPC01,SN1,Berlin\r\nPC02,SN2,Paris\r\n"],
        "unattend": [EXISTING_UNATTEND], "hive": [hive_path.read_bytes()], "envelope": [env.getvalue()],
        "encrypted": [encrypt_bytes(smallest, "Abcdefgh12345678")],
        "icd_log": [(real_ppkg / "wcd-itadmin-rank52.ICD.log").read_bytes()],
    }


PARSERS = {name[2:]: fn for name, fn in globals().items() if name.startswith("p_")}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_fuzz_parser(name, seeds):
    parse = PARSERS[name]
    inputs = seeds[name]
    if not inputs:
        pytest.fail(f"no seed for {name}")
    for seed in inputs:                      # the seed itself: success or a typed refusal
        try:
            parse(seed)
        except PpkgError:
            pass
    crashes: list[str] = []

    @FUZZ
    @given(ops=mutation, which=st.integers(0, 16))
    def one(ops, which):
        data = mutate(inputs[which % len(inputs)], ops)
        tracemalloc.start()
        try:
            parse(data)
        except PpkgError:
            pass
        except Exception as exc:                 # not typed: a crash
            crashes.append(f"{type(exc).__name__}: {exc} for ops {ops}")
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < MEMORY_BOUND, (name, peak, ops)

    one()
    assert crashes == [], crashes[:5]
