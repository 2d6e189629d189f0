"""What every bench/ script shares: the machine description, medians of timed runs, the Samba test
DC (reused or started) and writing a results file.

Importing this module makes the project (ppkgtool) and its test helpers (samba_dc, netjoin, certs,
bulk_template) importable, so a script runs as ``python bench/bench_<topic>.py`` from any folder.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
FIXTURES = ROOT.parent / "shared" / "fixtures"

for _p in (str(ROOT / "tests"), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def nproc() -> int:
    """What `nproc` prints: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal"):
                    return f", {int(line.split()[1]) // 1024 // 1024} GiB RAM"
    except OSError:
        pass
    return ""


def machine() -> str:
    """One line for a results file: cores (nproc), CPU model, RAM, Python, OS."""
    return (f"{nproc()} cores (nproc), {cpu_model()}{_memory()}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median wall-clock seconds of ``runs`` calls of ``fn``."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def tool_version(argv: list[str], *, field: int = -1) -> str:
    """A word of a tool's version output (``samba -V`` -> '4.19.5-Debian'), '?' when it cannot run."""
    try:
        words = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.split()
        return words[field]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


@contextmanager
def bench_dc() -> Iterator[object]:
    """The Samba AD DC the benchmarks talk to, as tests/samba_dc.py's DCInfo.

    With $PPKGTOOL_TEST_DC set, the DC in that folder is reused (provisioned and started if needed)
    and left running; without it a temporary DC is provisioned, started, and stopped afterwards, as
    the test suite does.
    """
    from samba_dc import SambaDC

    reuse = os.environ.get("PPKGTOOL_TEST_DC")
    dc = SambaDC(reuse or tempfile.mkdtemp(prefix="ppkgtool-bench-dc-"))
    if not dc.info_file.exists():
        dc.provision()
    dc.start()
    try:
        yield dc.info()
    finally:
        if not reuse:
            dc.stop()


def dc_command_prefix() -> str:
    """How the DC was chosen, for a results file's Command line: a reused DC is named by the
    environment variable; otherwise the script provisioned a fresh one for the run."""
    return "PPKGTOOL_TEST_DC=<dc dir> " if os.environ.get("PPKGTOOL_TEST_DC") else ""


def dc_description() -> str:
    return ("a reused test DC (PPKGTOOL_TEST_DC)" if os.environ.get("PPKGTOOL_TEST_DC")
            else "a Samba AD DC provisioned for this run")


def connect_dc(info, *, pool_size: int = 4, domain: str | None = None):
    """A ppkgtool DirectorySession on the test DC as its administrator (LDAPS, certificate checked)."""
    from ppkgtool.ad import Credentials, DcTarget, DirectorySession

    target = DcTarget(name=info.dc_name, address=info.address, ca_file=info.ca_file)
    return DirectorySession.connect(target, Credentials(info.admin_user, info.admin_password),
                                    pool_size=pool_size, domain=domain)


def delete_computers(info, names: Iterable[str], *, workers: int = 4) -> None:
    """Delete the computer accounts ``names`` (absent ones are skipped), over pooled connections."""
    from concurrent.futures import ThreadPoolExecutor

    with connect_dc(info, pool_size=workers) as s:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(s.delete_computer, names))


def samba_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by the running samba processes (the test DC) as
    /proc shows them: the difference over a run is the DC's share of that run."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if not fh.read(6).startswith(b"samba"):      # "samba: task[ldap] pre-forked worker(0)"
                    continue
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])      # utime, stime
    return total / tick


def write_results(path: str | os.PathLike[str], text: str) -> Path:
    """Write a bench/results/<topic>.md section (creating the folder) and echo it on stdout."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.rstrip() + "\n")
    print(text)
    return out
