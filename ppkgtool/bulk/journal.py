"""The bulk journal: one JSON line per state change, fsync'd before the next step.

States, in order: planned → password_saved → account_created → blob_saved → package_written → done;
``failed`` records an error for a device (its previous progress stays valid, so a re-run resumes).
A ``run`` record (no device) notes the options each run was started with, so that a re-run with
different options is warned about (``option_drift``): devices done before keep the old options.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from ppkgtool.errors import InvalidInputError

STATES = ("planned", "password_saved", "account_created", "blob_saved", "package_written", "done")
ORDER = {s: i for i, s in enumerate(STATES)}


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.state: dict[str, str] = {}
        self.errors: dict[str, dict] = {}
        self.runs: list[dict] = []      # the options of earlier runs, oldest first
        if self.path.exists():
            self._load()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _load(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                    if rec.get("state") == "run" and "device" not in rec:
                        self.runs.append(rec.get("options") or {})
                        continue
                    device, state = rec["device"], rec["state"]
                except (ValueError, KeyError, TypeError):
                    # a torn last line after a crash is expected; anything else is corruption
                    if fh.read().strip():
                        raise InvalidInputError(f"{self.path}:{n}: not a journal record") from None
                    break
                if state == "failed":
                    self.errors[device] = rec
                    continue
                if state not in ORDER:
                    raise InvalidInputError(f"{self.path}:{n}: unknown state {state!r}")
                self.errors.pop(device, None)
                if ORDER[state] >= ORDER.get(self.state.get(device, "planned"), 0):
                    self.state[device] = state

    def get(self, device: str) -> str | None:
        return self.state.get(device)

    def reached(self, device: str, state: str) -> bool:
        cur = self.state.get(device)
        return cur is not None and ORDER[cur] >= ORDER[state]

    def record(self, device: str, state: str, **extra) -> None:
        rec = {"time": round(time.time(), 3), "device": device, "state": state, **extra}
        line = json.dumps(rec, sort_keys=False) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            fd = self._fh.fileno()
        # outside the lock: the line is in the file already, and the fsync calls of parallel workers
        # then share the file system's commits instead of queueing one after another
        os.fsync(fd)
        with self._lock:
            if state == "failed":
                self.errors[device] = rec
            else:
                self.errors.pop(device, None)
                self.state[device] = state

    def record_run(self, options: dict) -> None:
        """Note the options this run was started with."""
        line = json.dumps({"time": round(time.time(), 3), "state": "run", "options": options}) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.runs.append(options)

    def close(self) -> None:
        with self._lock:
            self._fh.close()


def option_drift(journal_path: Path, options: dict) -> list[str]:
    """How ``options`` differ from those of the last run journaled in ``journal_path`` (one line per
    option; empty for a first run, a journal without run records, or the same options)."""
    path = Path(journal_path)
    if not path.exists():
        return []
    j = Journal.__new__(Journal)
    j.path, j._lock, j.state, j.errors, j.runs = path, threading.Lock(), {}, {}, []
    j._load()
    if not j.runs:
        return []
    before = j.runs[-1]
    out = []
    for key in sorted(set(before) | set(options)):
        if before.get(key) != options.get(key):
            out.append(f"{key}: {_shown(before.get(key))} before, {_shown(options.get(key))} now")
    return out


def _shown(value) -> str:
    if value in (None, False, [], ""):
        return "not given"
    return json.dumps(value) if not isinstance(value, str) else value
