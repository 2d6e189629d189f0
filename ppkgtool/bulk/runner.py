"""The bulk run: for each device, password → account → blob → package, journaled and resumable.

Safety rules (issue 10):
- the machine password is generated and saved (0600, fsync'd) and journaled *before* the account
  is created, so no account can exist whose password is lost;
- every state change is fsync'd in journal.jsonl before the next step starts;
- re-running the same command resumes: finished devices are skipped, half-done ones continue
  from their last journaled state;
- when the directory becomes unreachable, or on Ctrl-C, the run stops taking new devices, lets
  the ones in flight end, and reports; nothing is left half-written (outputs are atomic).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ppkgtool.bulk.devices import Device
from ppkgtool.bulk.journal import Journal
from ppkgtool.errors import PpkgError
from ppkgtool.fsutil import write_bytes_atomic

SECRETS_DIR = "secrets"


class Provisioner(Protocol):
    def provision(self, device: Device, password: str, *, reuse: bool) -> bytes:
        """Create (or with ``reuse`` reset) the account with ``password``; return the binary ODJ blob."""

    def exists(self, name: str) -> bool:
        """Whether the computer account NAME$ exists."""

    def password_is_ours(self, name: str, password: str) -> bool:
        """Whether NAME$ accepts ``password`` (then an earlier run of ours created it)."""


class PackageBuilder(Protocol):
    def build(self, device: Device, blob: bytes, out_dir: Path) -> list[Path]:
        """Build ``<name>.ppkg`` (and its .cat) into ``out_dir``, replacing partial leftovers."""


@dataclass
class DeviceOutcome:
    name: str
    status: str                 # done | skipped | failed | not_started
    error: str | None = None
    code: int | None = None     # the Windows error number, when there is one
    exit_code: int | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class BulkResult:
    outcomes: list[DeviceOutcome]
    aborted: str | None = None  # why the run stopped early (directory unreachable, interrupted)
    seconds: float = 0.0

    @property
    def failed(self) -> list[DeviceOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_json(self) -> dict:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return {
            "devices": len(self.outcomes), "counts": counts, "aborted": self.aborted,
            "seconds": round(self.seconds, 3),
            "succeeded": [o.name for o in self.outcomes if o.status in ("done", "skipped")],
            "failed": [{"name": o.name, "error": o.error, "code": o.code} for o in self.failed],
            "not_started": [o.name for o in self.outcomes if o.status == "not_started"],
        }


def _is_outage(exc: BaseException) -> bool:
    """A directory error that will hit every following device too (the DC is gone)."""
    from ppkgtool.ad.connection import DcUnreachableError
    return isinstance(exc, DcUnreachableError)


class BulkRun:
    def __init__(self, devices: list[Device], out_dir: Path, provisioner: Provisioner,
                 builder: PackageBuilder, *, reuse: bool = False, parallel: int = 4,
                 generate_password: Callable[[], str] | None = None,
                 on_progress: Callable[[DeviceOutcome], None] | None = None, options: dict | None = None,
                 on_interrupt: Callable[[int], None] | None = None):
        self.devices = devices
        self.out = Path(out_dir)
        self.provisioner = provisioner
        self.builder = builder
        self.reuse = reuse
        self.parallel = max(1, parallel)
        if generate_password is None:
            from ppkgtool.odj import generate_machine_password as generate_password
        self.generate_password = generate_password
        self.on_progress = on_progress
        self.on_interrupt = on_interrupt    # Ctrl-C: called with the number of devices under way
        self.options = options      # recorded in the journal (journal.option_drift compares runs)
        self._abort = threading.Event()
        self._abort_reason: str | None = None

    # -- files ----------------------------------------------------------------------------------
    def password_path(self, name: str) -> Path:
        return self.out / SECRETS_DIR / f"{name}.password"

    def blob_path(self, name: str) -> Path:
        return self.out / f"{name}.odj"

    # -- the per-device pipeline -----------------------------------------------------------------
    def _process(self, device: Device, journal: Journal) -> DeviceOutcome:
        name = device.name
        if journal.reached(name, "done"):
            return DeviceOutcome(name, "skipped")
        if self._abort.is_set():
            return DeviceOutcome(name, "not_started")
        try:
            if not journal.reached(name, "planned"):
                journal.record(name, "planned")
            pw_file = self.password_path(name)
            earlier_attempt = journal.reached(name, "password_saved")
            if not earlier_attempt:
                password = self.generate_password()
                # no account exists yet for this password: replacing a leftover file is safe
                write_bytes_atomic(pw_file, password.encode("utf-8"), overwrite=True, private=True)
                journal.record(name, "password_saved")
            else:
                password = pw_file.read_bytes().decode("utf-8")
            if not journal.reached(name, "blob_saved"):
                reuse = self.reuse
                if journal.reached(name, "account_created"):
                    reuse = True  # ours: created in an earlier run with this saved password
                elif earlier_attempt and self.provisioner.exists(name) \
                        and self.provisioner.password_is_ours(name, password):
                    # a crash came between the account's creation and its journal line: the
                    # account takes our saved password, so it is ours and gets it again.
                    reuse = True
                blob = self.provisioner.provision(device, password, reuse=reuse)
                if not journal.reached(name, "account_created"):
                    journal.record(name, "account_created")
                from ppkgtool.odj import to_savefile
                write_bytes_atomic(self.blob_path(name), to_savefile(blob), overwrite=True, private=True)
                journal.record(name, "blob_saved")
            else:
                blob = None
            if not journal.reached(name, "package_written"):
                if blob is None:
                    from ppkgtool.odj import encode_provision_data, load_blob
                    blob = encode_provision_data(load_blob(self.blob_path(name).read_bytes()))
                files = self.builder.build(device, blob, self.out)
                journal.record(name, "package_written", files=[str(f.name) for f in files])
            journal.record(name, "done")
            return DeviceOutcome(name, "done", files=[f"{name}.ppkg", f"{name}.odj"])
        except PpkgError as exc:
            if _is_outage(exc) and not self._abort.is_set():
                self._abort_reason = exc.one_line()
                self._abort.set()
            journal.record(name, "failed", error=exc.one_line(), code=exc.code)
            return DeviceOutcome(name, "failed", error=exc.one_line(), code=exc.code, exit_code=exc.exit_code)

    def _stop_on_ctrl_c(self) -> Callable[[], None]:
        """Ctrl-C (SIGINT) during the run: no device starts any more, those under way finish, and the
        run ends normally with a summary (aborted "interrupted"). A KeyboardInterrupt raised at an
        arbitrary point of the main thread could leave a future's lock held and the workers hung, so
        the signal only sets the abort flag. Returns the function that puts the previous handler back;
        nothing changes outside the main thread (library use from a thread)."""
        import signal

        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handler(signum, frame):
            if self._abort_reason == "interrupted":
                return              # a second Ctrl-C: already stopping
            self._abort_reason = "interrupted"     # told by the main loop: no output from a handler
            self._abort.set()
        previous = signal.signal(signal.SIGINT, handler)
        return lambda: signal.signal(signal.SIGINT, previous)

    def run(self) -> BulkResult:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / SECRETS_DIR).mkdir(mode=0o700, exist_ok=True)
        start = time.monotonic()
        journal = Journal(self.out / "journal.jsonl")
        outcomes: dict[str, DeviceOutcome] = {}
        futures: dict = {}
        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="bulk")
        restore = self._stop_on_ctrl_c()
        try:
            if self.options is not None:
                journal.record_run(self.options)
            for d in self.devices:
                futures[pool.submit(self._process, d, journal)] = d
            told = False
            for fut in as_completed(futures):
                if self._abort_reason == "interrupted" and not told and self.on_interrupt:
                    told = True
                    self.on_interrupt(sum(f.running() for f in futures))
                outcome = fut.result()
                outcomes[outcome.name] = outcome
                if self.on_progress:
                    self.on_progress(outcome)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            wait(futures)
            restore()
            journal.close()
        for f in futures:     # devices that finished while the interrupt was being handled
            if f.done() and not f.cancelled() and f.exception() is None:
                outcomes.setdefault(f.result().name, f.result())
        ordered = [outcomes.get(d.name, DeviceOutcome(d.name, "not_started")) for d in self.devices]
        result = BulkResult(ordered, aborted=self._abort_reason, seconds=time.monotonic() - start)
        write_bytes_atomic(self.out / "summary.json",
                           (json.dumps(result.to_json(), indent=2) + "\n").encode(), overwrite=True)
        return result
