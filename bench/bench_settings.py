#!/usr/bin/env python3
"""The settings model (ppkgtool/package/store.py, settings.py): what loading it costs and what share
of a build it takes.

1. Loading: read_store on each of the four real WCD stores (Microsoft-Desktop-Provisioning.dat,
   ../shared/fixtures/wcd-store), loads_models on the builtin JSON (ppkgtool/data/settings-model.json),
   and the builtin models as a fresh process (`python -c "...builtin_models()"` minus
   `python -c "import ppkgtool"`).
2. `ppkgtool build` of the largest real package by settings (wcd-itadmin-rank52, built by an older
   WCD, hence the builtin store win11-21h2-2021-10) as a command, with the builtin model and with the
   matching store file (parsed in that process).
3. In-process, build_package with model caches emptied before each run (the state of a fresh
   `ppkgtool build` process), time.perf_counter wrapped around the calls it makes: load_model,
   load_catalogue(model=...), compile_package, and the whole build; plus one cProfile of
   build_package (cumulative times, profiler overhead included) as a cross-check.
4. A store file is parsed once per process: load_model(store_file) twice.

icd.exe cannot run here, so there is no peer: absolute figures only.
Writes bench/results/settings.md. Usage: python bench/bench_settings.py [--runs 5]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import FIXTURES, RESULTS, ROOT, machine, write_results

STORES = FIXTURES / "wcd-store"
REAL_PPKG = FIXTURES / "real-ppkg"
CORPUS = FIXTURES / "corpus" / "ppkg"
PACKAGE = "wcd-itadmin-rank52"
PACKAGE_BUILD = "win11-21h2-2021-10"      # the package was built by a WCD of this era


def timings(fn, runs: int, *, before=None) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``fn`` (``before`` runs untimed ahead of each)."""
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def ms(ts: list[float]) -> str:
    return f"{statistics.median(ts) * 1000:.1f}"


def rng(ts: list[float]) -> str:
    return f"{min(ts) * 1000:.1f}–{max(ts) * 1000:.1f}"


def clear_model_caches() -> None:
    """Forget every loaded model, as a new process would."""
    from ppkgtool.package import store
    store._CACHE.clear()
    store._BUILTIN = None


def extract(pkg: Path, dest: Path) -> tuple[Path, Path]:
    """(customizations.xml, flat asset folder) of a real package, as bench_build.py lays them out."""
    src = dest / "src"
    src.mkdir(parents=True)
    subprocess.run(["wimlib-imagex", "extract", str(pkg), "1", f"--dest-dir={src}", "--no-acls"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assets = dest / "assets"
    assets.mkdir()
    for f in src.rglob("*"):
        if f.is_file() and f.parent.parent.parent.name == "DataAsset":
            shutil.copy(f, assets / f.name)
    return src / "Multivariant/0/customizations.xml", assets


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def code_state() -> str:
    """The commit measured, and whether the working tree had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "ppkgtool"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown commit"
    return f"commit {head}" + (" plus uncommitted changes under ppkgtool/" if dirty else "")


def cli_supports(ppkgtool: str, option: str) -> bool:
    r = subprocess.run([ppkgtool, "build", "--help"], capture_output=True, text=True)
    return option in r.stdout


def pick_package(tmp: Path, ppkgtool: str, store_args, fail_note: list[str]):
    """The package to build: wcd-itadmin-rank52 with the win11-21h2 store, else the corpus package
    with the most settings that builds with the default model (noted in the results).
    Returns (name, customizations.xml, asset folder, builtin build or None, settings)."""
    from ppkgtool.package.builder import BuildOptions, build_tree_only
    cust, assets = extract(REAL_PPKG / f"{PACKAGE}.ppkg", tmp / PACKAGE)
    args, env = store_args(build=PACKAGE_BUILD)
    r = subprocess.run([ppkgtool, "build", str(cust), "-o", str(tmp / "probe.ppkg"), "--asset-dir", str(assets),
                        "--overwrite", *args], capture_output=True, text=True, env={**os.environ, **env})
    if r.returncode == 0:
        n = len(build_tree_only(cust, BuildOptions(asset_dir=assets, store_build=PACKAGE_BUILD)).settings)
        return PACKAGE, cust, assets, PACKAGE_BUILD, n
    last = (r.stderr.strip().splitlines() or ["?"])[-1]
    fail_note.append(f"{PACKAGE} with store build {PACKAGE_BUILD} failed ({last}); fell back to the corpus "
                     "package with the most settings that builds with the default model.")
    best = None
    for pkg in sorted(CORPUS.glob("*.ppkg")):
        c, a = extract(pkg, tmp / "corpus" / pkg.stem)
        try:
            n = len(build_tree_only(c, BuildOptions(asset_dir=a)).settings)
        except Exception:       # noqa: BLE001 - a package the compiler refuses is just not a candidate
            continue
        if best is None or n > best[4]:
            best = (pkg.stem, c, a, None, n)
    if best is None:
        raise SystemExit("no package builds")
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    runs = args.runs
    stores = sorted(STORES.glob("*.dat"))
    if not stores or not REAL_PPKG.is_dir() or shutil.which("wimlib-imagex") is None:
        print("needs ../shared/fixtures (wcd-store, real-ppkg) and wimlib-imagex", file=sys.stderr)
        return 1
    from importlib import resources

    import ppkgtool.package.builder as builder_mod
    from ppkgtool.package import store
    from ppkgtool.package.builder import BuildOptions, build_package
    from ppkgtool.package.store import load_model, loads_models, read_store

    py = sys.executable
    ppkgtool = str(Path(py).with_name("ppkgtool"))
    has_store_file = cli_supports(ppkgtool, "--store-file")
    has_store_build = cli_supports(ppkgtool, "--store-build")

    def store_args(*, file: Path | None = None, build: str | None = None) -> tuple[list[str], dict]:
        """Command options, or the environment when the option is not there yet, choosing the model."""
        a, env = [], {}
        if file is not None:
            if has_store_file:
                a += ["--store-file", str(file)]
            else:
                env[store.STORE_ENV] = str(file)
        if build is not None:
            if has_store_build:
                a += ["--store-build", build]
            else:
                env[store.BUILD_ENV] = build
        return a, env

    for var in (store.STORE_ENV, store.BUILD_ENV):
        os.environ.pop(var, None)
    lines = ["# Settings model: loading it and its share of a build", "",
             f"Machine: {machine()}. Medians of {runs} runs (min–max beside them), measured in the same run. "
             "icd.exe cannot run here, so there is no peer: absolute figures.", "",
             f"Code: {code_state()}. Load average when it started: {load_average()} (other work shares the "
             "machine; the min–max show how much that moved the runs).", ""]

    # --- 1. loading ------------------------------------------------------------------------------
    lines += ["## 1. Loading a model", "",
              "| what | input bytes | settings | median ms | min–max ms |", "|---|---:|---:|---:|---:|"]
    for s in stores:
        data = s.read_bytes()
        model = read_store(data, source_name=s.name)          # warm-up: imports (regf) and a first parse
        ts = timings(lambda: read_store(data, source_name=s.name), runs)
        lines.append(f"| `read_store` {s.name} | {len(data):,} | {len(list(model)):,} | {ms(ts)} | {rng(ts)} |")
        print(f"read_store {s.name}: {ms(ts)} ms")
    jdata = resources.files("ppkgtool").joinpath("data/settings-model.json").read_bytes()
    _default, models = loads_models(jdata, origin="bench")
    ts = timings(lambda: loads_models(jdata, origin="bench"), runs)
    nsets = "/".join(str(len(list(m))) for m in models.values())
    lines.append(f"| `loads_models` settings-model.json ({len(models)} builds) | {len(jdata):,} | {nsets} | "
                 f"{ms(ts)} | {rng(ts)} |")
    print(f"loads_models: {ms(ts)} ms")

    code_models = "from ppkgtool.package.store import builtin_models; builtin_models()"
    code_base = "import ppkgtool"
    t_models, t_base = [], []
    for _ in range(runs):          # alternate, so both see the same background
        for code, out in ((code_base, t_base), (code_models, t_models)):
            t = time.perf_counter()
            subprocess.run([py, "-c", code], check=True, cwd=ROOT)
            out.append(time.perf_counter() - t)
    diff = statistics.median(t_models) - statistics.median(t_base)
    lines += [f"| fresh process `python -c \"{code_models}\"` | | | {ms(t_models)} | {rng(t_models)} |",
              f"| baseline `python -c \"{code_base}\"` | | | {ms(t_base)} | {rng(t_base)} |",
              f"| **builtin models in a fresh process** (difference of the medians; includes importing "
              f"store.py/settings.py) | | | **{diff * 1000:.1f}** | |", ""]
    print(f"builtin models, fresh process: {diff * 1000:.1f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        note: list[str] = []
        name, cust, assets, build, nsettings = pick_package(tmp, ppkgtool, store_args, note)
        store_file = STORES / f"{build}.dat" if build else stores[-1]
        if not store_file.is_file():
            store_file = stores[-1]
        rel = f"{name}/Multivariant/0/customizations.xml"

        # --- 2. the command --------------------------------------------------------------------
        out = tmp / "out.ppkg"
        cache = tmp / "cache"
        sa, se = store_args(file=store_file)
        variants = [("builtin model" + (f" `{build}`" if build else " (default)"), store_args(build=build)),
                    (f"store file {store_file.name}, parsed in the process (disk cache off)",
                     (sa, {**se, store.CACHE_ENV: ""})),
                    (f"store file {store_file.name}, parsed form from the disk cache (keyed by its SHA-256)",
                     (sa, {**se, store.CACHE_ENV: str(cache)}))]
        cli_rows = []
        for label, (extra, env) in variants:
            argv = [ppkgtool, "build", str(cust), "-o", str(out), "--asset-dir", str(assets), "--overwrite", *extra]
            e = {**os.environ, **env}
            r = subprocess.run(argv, capture_output=True, text=True, env=e)       # warm-up (page cache)
            if r.returncode:
                raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.strip()}")
            ts = timings(lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL, env=e), runs)
            fx = str(FIXTURES)
            shown = " ".join(f"{k}={v.replace(fx, '../shared/fixtures')}" for k, v in env.items())
            shown = (shown + " " if shown else "") + f"ppkgtool build {rel} -o out.ppkg --asset-dir assets " \
                "--overwrite" + "".join(" " + x.replace(fx, "../shared/fixtures") for x in extra)
            cli_rows.append((label, shown, ts))
            print(f"cli {label}: {ms(ts)} ms")
        size = out.stat().st_size
        asset_bytes = sum(f.stat().st_size for f in assets.iterdir())
        lines += ["## 2. `ppkgtool build` of the largest real package, whole process", "",
                  f"Package: {name} ({nsettings} settings, assets {asset_bytes:,} bytes, output {size:,} bytes); "
                  "`assets` is the package's DataAsset files copied flat."
                  + (" " + " ".join(note) if note else ""), ""]
        if not (has_store_file and has_store_build):
            missing = [o for o, h in (("--store-file", has_store_file), ("--store-build", has_store_build)) if not h]
            lines += ["`ppkgtool build --help` did not show " + " / ".join(missing) + " when this ran, so the model "
                      f"was chosen with the environment variables load_model honours ({store.STORE_ENV}, "
                      f"{store.BUILD_ENV}).", ""]
        lines += ["| model | command | median ms | min–max ms |", "|---|---|---:|---:|"]
        for label, shown, ts in cli_rows:
            lines.append(f"| {label} | `{shown}` | {ms(ts)} | {rng(ts)} |")
        d = statistics.median(cli_rows[1][2]) - statistics.median(cli_rows[0][2])
        d2 = statistics.median(cli_rows[2][2]) - statistics.median(cli_rows[0][2])
        lines += ["", f"Store file minus builtin: {d * 1000:+.1f} ms per build when the store is parsed in the "
                  f"process; {d2 * 1000:+.1f} ms once its parsed form is in the disk cache (the first build with a "
                  "new store fills it).", ""]

        # --- 3. share of the build -------------------------------------------------------------
        lines += ["## 3. Share of one build spent in the settings model (in-process)", "",
                  f"{runs} calls of `build_package` (the library call under `ppkgtool build`), model caches emptied "
                  "before each, as in a new process (imports warmed up first). Inside each build, time.perf_counter "
                  "wraps the calls build_package makes: (a) `load_model(...)`; (b) `load_catalogue(model=...)`, "
                  "the catalogue entries built from the model (model_entries) with the learned catalogue.json on "
                  "top; (c) `compile_package(customizations, catalogue=...)`, matching and compiling the settings; "
                  "(d) the whole `build_package` (parse, a, b, c, WIM, .cat, written to disk). a, b, c are parts of "
                  "the same build d, so the shares add up; rest = d - a - b - c. Medians over the runs; a share is "
                  "the median of the per-run shares.", ""]
        for label, kw in (("builtin" + (f" {build}" if build else ""), {"build": build}),
                          (f"store file {store_file.name}", {"store_file": store_file})):
            opts = BuildOptions(asset_dir=assets, overwrite=True, store_file=kw.get("store_file"),
                                store_build=kw.get("build"))
            build_package(cust, out, opts)                      # warm-up: imports
            spent: dict[str, list[float]] = {"a": [], "b": [], "c": [], "rest": [], "d": []}
            targets = {"a": (store, "load_model"), "b": (builder_mod, "load_catalogue"),
                       "c": (builder_mod, "compile_package")}
            saved = {k: getattr(mod, attr) for k, (mod, attr) in targets.items()}
            now_run = {"a": 0.0, "b": 0.0, "c": 0.0}

            def timed(key, fn):
                def wrapper(*a, **k):
                    t = time.perf_counter()
                    try:
                        return fn(*a, **k)
                    finally:
                        now_run[key] += time.perf_counter() - t
                return wrapper

            for k, (mod, attr) in targets.items():
                setattr(mod, attr, timed(k, saved[k]))
            try:
                for _ in range(runs):
                    clear_model_caches()
                    for k in now_run:
                        now_run[k] = 0.0
                    t = time.perf_counter()
                    build_package(cust, out, opts)
                    whole = time.perf_counter() - t
                    for k in now_run:
                        spent[k].append(now_run[k])
                    spent["d"].append(whole)
                    spent["rest"].append(whole - sum(now_run.values()))
            finally:
                for k, (mod, attr) in targets.items():
                    setattr(mod, attr, saved[k])
            share = {k: statistics.median(x / y for x, y in zip(v, spent["d"])) for k, v in spent.items()}
            lines += [f"### {label}", "", "| step | median ms | min–max ms | % of the build |", "|---|---:|---:|---:|"]
            for k, step in (("a", "(a) load_model"), ("b", "(b) load_catalogue(model=...)"),
                            ("c", "(c) compile_package"), ("rest", "rest: parse, WIM, .cat, writing"),
                            ("d", "(d) build_package, whole")):
                lines.append(f"| {step} | {ms(spent[k])} | {rng(spent[k])} | {share[k] * 100:.0f}% |")
            ab = statistics.median(x + y for x, y in zip(spent["a"], spent["b"]))
            ab_share = statistics.median((x + y) / z for x, y, z in zip(spent["a"], spent["b"], spent["d"]))
            lines += ["", f"Settings model (a + b): {ab * 1000:.1f} ms = {ab_share * 100:.0f}% of the build.", ""]
            print(f"{label}: " + ", ".join(f"{k} {ms(v)} ms ({share[k] * 100:.0f}%)" for k, v in spent.items()))

            # cProfile: the same functions as build_package calls them (profiling inflates every call)
            clear_model_caches()
            prof = cProfile.Profile()
            prof.enable()
            build_package(cust, out, opts)
            prof.disable()
            st = pstats.Stats(prof)
            total = max(v[3] for v in st.stats.values())           # build_package's cumulative time
            rows = []
            for fname, func in (("store.py", "load_model"), ("store.py", "read_store"),
                                ("store.py", "loads_models"), ("store.py", "is_builtin_default"),
                                ("catalogue.py", "load_catalogue"), ("catalogue.py", "model_entries"),
                                ("catalogue.py", "builtin_entries"), ("compiler.py", "compile_package")):
                cum = sum(v[3] for k, v in st.stats.items() if k[0].endswith(fname) and k[2] == func)
                if cum:
                    rows.append(f"{func} {cum * 1000:.1f} ms ({cum / total * 100:.0f}%)")
            lines += [f"cProfile of one build_package (cumulative time, profiler overhead included; whole "
                      f"{total * 1000:.1f} ms): " + ", ".join(rows) + ".", ""]

        # --- 4. parsed once per process ----------------------------------------------------------
        firsts, seconds, disk = [], [], []
        os.environ[store.CACHE_ENV] = str(tmp / "cache4")
        load_model(store_file)             # fills the disk cache
        for _ in range(runs):
            clear_model_caches()
            t = time.perf_counter()
            load_model(store_file)
            disk.append(time.perf_counter() - t)
        os.environ[store.CACHE_ENV] = ""   # in-process cache only: a real parse first
        for _ in range(runs):
            clear_model_caches()
            t = time.perf_counter()
            m1 = load_model(store_file)
            firsts.append(time.perf_counter() - t)
            t = time.perf_counter()
            m2 = load_model(store_file)
            seconds.append(time.perf_counter() - t)
            assert m1 is m2, "second load_model returned a new model: the store was parsed again"
        first, second = statistics.median(firsts), statistics.median(seconds)
        print(f"load_model({store_file.name}) twice: {first * 1000:.1f} ms, then {second * 1000:.2f} ms; "
              "same object (asserted)")
        assert second < first / 10, "second load_model was not a cache hit"
        lines += ["## 4. A store is parsed once per process", "",
                  f"`load_model({store_file.name})` with an empty cache: {ms(firsts)} ms ({rng(firsts)}); the same "
                  f"call again in the same process: {second * 1000:.2f} ms ({min(seconds) * 1000:.2f}–"
                  f"{max(seconds) * 1000:.2f}), the same model object every time (asserted). What the second call "
                  "still does is read the file and hash it (SHA-256, the cache key). Across processes the parsed form "
                  f"is kept on disk keyed by that digest: a new process loads it in {ms(disk)} ms ({rng(disk)}).", ""]

    lines += [f"Command: `{py} bench/bench_settings.py --runs {runs}`", ""]
    write_results(RESULTS / "settings.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
