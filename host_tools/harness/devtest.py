#!/usr/bin/env python3
"""Run the on-device tests (tests/device/) on a MicroPython board over mpremote.

  python host_tools/harness/devtest.py --device /dev/ttyACM0 [--board rp2040] [-k PATTERN]
  python host_tools/harness/devtest.py --emulate unix       # the unix micropython on a PTY (socat)
  python host_tools/harness/devtest.py --emulate qemu       # the emulated Cortex-M0 (make firmware-qemu)
  python host_tools/harness/devtest.py --emulate qemu-m3    # ... Cortex-M3, qemu-m4, qemu-rv32 (stock firmware)

Copies lib/nanollm (as .py, or as .mpy from mpy-cross for the board's architecture), the
native module when one is built for that architecture, a model and the test files to the
board, runs the tests there, streams their output, and ends with one line per test and
`N passed, N failed`. Exit status: 0 all passed, 1 a test failed, 2 bad input (unknown
board, no board at the port, full filesystem), 3 the board reset or stopped answering.
"""
import argparse
import glob
import os
import sys

from harness import emulator
from nanollm_host import install
from nanollm_host.board_io import (EXIT_BOARD, EXIT_FAIL, MPY_ARCH, Board, BoardError as DevtestError,
                                   BoardLost, BoardTimeout, copy_files, say)
from nanollm_host.boards import UnknownBoard, board_names, load_board as _load_board
from nanollm_host.paths import DEVICE_TESTS, native_module
from nanollm_host.testmodels import QUANT_TYPES, big_model, default_model, fixture_model


def load_board(name):
    try:
        return _load_board(name)
    except UnknownBoard as e:
        raise DevtestError(str(e))


# ------------------------------------------------------------------ files for the board

def runtime_files(fmt, arch):
    try:
        return install.runtime_files(fmt, arch, log=say)
    except install.tools.ToolMissing as e:
        raise DevtestError(str(e))


def test_modules(tests_dir):
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(tests_dir, "test_*.py")))


# ------------------------------------------------------------------ the run

RUNNER = """
import sys, os, gc
# modules the host's probes imported before the copy (e.g. lib/nanollm holding only a
# preloaded model, which imports as an empty namespace package) must not stand in
for _m in [m for m in sys.modules if m.split('.')[0] in ('nanollm', 'nanollm_native')]:
    del sys.modules[_m]
_b = os.getcwd().rstrip('/')
# a copied runtime in lib/ goes first; with the runtime frozen into the firmware, lib/ (which
# then holds only the model) goes last so it cannot shadow the frozen package
sys.path[:0] = [_b + '/%(tests)s'] + ([] if %(frozen)r else [_b + '/lib'])
if %(frozen)r: sys.path.append(_b + '/lib')
import devharness as H
H.config.update(%(config)r)
if H.config['model']: H.config['model'] = _b + '/' + H.config['model']
if H.config['big_model']: H.config['big_model'] = _b + '/' + H.config['big_model']
H.config['quant_models'] = [_b + '/' + p for p in H.config['quant_models']]
del _b
gc.collect()
H.run(%(modules)r, %(pattern)r)
"""


def model_file(args):
    model = args.model or default_model()
    if not os.path.exists(model):
        raise DevtestError("model %s does not exist" % model)
    return model


def compiled_test(path, arch):
    """path compiled by mpy-cross for arch, under build/devtest/mpy-ARCH (recompiled when stale)."""
    import subprocess
    from nanollm_host.paths import BUILD
    out = os.path.join(BUILD, "devtest", "mpy-" + arch, os.path.basename(path)[:-3] + ".mpy")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(path):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        r = subprocess.run([install.tools.mpy_cross(), "-march=" + arch, "-o", out, path], capture_output=True, text=True)
        if r.returncode != 0:
            raise DevtestError("mpy-cross refused %s: %s" % (path, r.stderr.strip()))
    return out


def dist_files(folder):
    """(local, remote) for every file of a make dist folder's lib/ tree (host_tools/dist.py)."""
    out = []
    base = os.path.join(folder, "lib")
    if not os.path.isdir(base):
        raise DevtestError("%s has no lib/ folder: not a make dist folder" % folder)
    for d, _, names in sorted(os.walk(base)):
        for n in sorted(names):
            p = os.path.join(d, n)
            out.append((p, os.path.relpath(p, folder).replace(os.sep, "/")))
    return out


def preload_files(args):
    """Models (and an --install folder) written straight into the emulated board's flash (qemu only)."""
    out = []
    if args.install:
        out += dist_files(args.install)
    if not args.no_model and not args.install:
        out.append((model_file(args), "lib/nanollm/model.gguf"))
    if not args.no_big_model:
        out.append((args.big_model or big_model(n_layer=args.big_layers, n_ff=args.big_ff), "big.gguf"))
    return out + quant_model_files(args)


def quant_model_files(args):
    """One small model per block type, for the native-against-viper logits test."""
    if not args.quant_models:
        return []
    return [(fixture_model(q), "q/%s.gguf" % q) for q in QUANT_TYPES]


def collect(tests_dir, mods, pattern):
    """module.test names in tests_dir, in the harness's order, filtered by -k."""
    import ast
    names = []
    for m in mods:
        with open(os.path.join(tests_dir, m + ".py")) as f:
            tree = ast.parse(f.read())
        fns = sorted(n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_"))
        names += [m + "." + n for n in fns if not pattern or pattern in m + "." + n]
    return names


def plan_copies(args, arch, board, frozen=False, builtin_native=False):
    """What to copy. A firmware with nanollm frozen in (its code in flash, not RAM) or with
    nanollm_native built in needs neither copied: the frozen package comes first on sys.path."""
    fmt = args.format
    if fmt == "auto":
        fmt = "py" if arch in ("x64", "x86", None) else "mpy"
    if args.install:  # a make dist folder, as a user copies it: runtime, native module, model
        files = dist_files(args.install)
        nat = any(r == "lib/nanollm_native.mpy" for _, r in files) or None
        fmt = "mpy from %s" % os.path.basename(os.path.normpath(args.install))
    else:
        files = [] if frozen else runtime_files(fmt, arch)
        if frozen:
            fmt = "frozen"
        nat = native_module(arch) if arch and not args.no_native and not builtin_native else None
    if nat and not args.install:
        files.append((nat, "lib/nanollm/nanollm_native.mpy"))
    tests_dir = args.tests
    mods = test_modules(tests_dir)
    if not mods:
        raise DevtestError("no test_*.py files in %s" % tests_dir)
    tests = [(os.path.join(DEVICE_TESTS, "devharness.py"), "devharness")]
    tests += [(os.path.join(tests_dir, m + ".py"), m) for m in mods]
    if args.install and arch:
        # with the runtime from a dist folder, the tests go as .mpy too: compiling them on a
        # small board would split its heap before the model loads, which the runtime's own
        # .mpy files avoid
        files += [(compiled_test(p, arch), "devtest/%s.mpy" % m) for p, m in tests]
    else:
        files += [(p, "devtest/%s.py" % m) for p, m in tests]
    if not args.no_model and not args.install:
        files.append((model_file(args), "lib/nanollm/model.gguf"))
    big = None
    if not args.no_big_model:
        big = args.big_model or big_model(n_layer=args.big_layers, n_ff=args.big_ff)
        files.append((big, "big.gguf"))
    files += quant_model_files(args)
    return fmt, files, mods, big is not None, nat is not None


def run_tests(args, device, board_profile, soft_reset):
    b = Board(device, soft_reset=soft_reset, connect_timeout=args.connect_timeout)
    b.connect()
    try:
        platform, mpy, version, free, cwd, fs_free = b.info()
        arch = MPY_ARCH[mpy >> 10] if mpy >> 10 < len(MPY_ARCH) else None
        say("board: %s, %s, arch %s, %d bytes free heap, %d KB free on its filesystem"
            % (platform, version.split("; ")[-1], arch, free, fs_free // 1024))
        if board_profile and board_profile.get("native_arch") and arch and board_profile["native_arch"] != arch:
            raise DevtestError("board profile %s is for %s but the board's MicroPython is %s"
                               % (board_profile["name"], board_profile["native_arch"], arch))
        if args.emulated and not emulator.loads(arch, args.emulated.arch):
            raise DevtestError("the emulated board %s should load %s .mpy files but its MicroPython takes %s"
                               % (args.emulated.name, args.emulated.arch, arch), EXIT_BOARD)
        if args.emulated and arch != args.emulated.arch:
            say("its MicroPython takes .mpy files up to %s; the board's module is %s" % (arch, args.emulated.arch))
            arch = args.emulated.arch
        # frozen: a package with a path not on the filesystem (a folder lib/nanollm holding
        # only a preloaded model imports as a namespace package without __file__)
        frozen = b._try("nanollm") and b.eval("not getattr(__import__('nanollm'), '__file__', '/').startswith('/')")
        builtin_native = b._try("nanollm_native") and b.eval(
            "not hasattr(__import__('nanollm_native'), '__file__')")
        fmt, files, mods, has_big, has_native = plan_copies(args, arch, board_profile, frozen, builtin_native)
        if soft_reset:
            # the probes imported the runtime: on a small board (110 KB free) its code would
            # leave too little heap for the copy's transfers
            b.reset()
        if frozen:
            say("runtime frozen into the firmware%s" % (", native module built in" if builtin_native else ""))
        else:
            say("runtime as .%s%s" % (fmt, ", with the native module" if has_native or builtin_native else ""))
        preloaded = set(r for _, r in args.preloaded)
        if preloaded:
            sizes = b.eval("[__import__('os').stat(p)[6] for p in %r]" % sorted(preloaded))
            want = [os.path.getsize(l) for l, r in sorted(args.preloaded, key=lambda lr: lr[1])]
            if sizes != want:
                raise DevtestError("the files preloaded into the emulated flash are not there (%s)" % sizes, EXIT_BOARD)
            say("%d files preloaded into the emulated flash (%d KB)" % (len(preloaded), sum(want) // 1024))
        copy_files(b, files, b._try("hashlib"), fs_free if fs_free > 0 else None, b._try("binascii"), preloaded)
        config = {"model": None if args.no_model else "lib/nanollm/model.gguf",
                  "big_model": "big.gguf" if has_big else None,
                  "board": board_profile["name"] if board_profile else (args.emulate or None), "ctx": args.ctx,
                  "stream": args.stream, "backend": args.expect_backend,
                  "quant_models": ["q/%s.gguf" % q for q in QUANT_TYPES] if args.quant_models else []}
        # on boards that soft-reset, every test runs in a fresh interpreter (a clean heap);
        # the unix port cannot soft-reset: one session runs them all
        if soft_reset and not args.no_isolate:
            runs = [([name.split(".")[0]], "=" + name) for name in collect(args.tests, mods, args.k)]
        else:
            runs = [(mods, args.k)]
        results = []
        state = {"current": None, "end": None}

        def on_line(line):
            if line.startswith("@@DT "):
                f = line.split(" ", 3)
                kind = f[1]
                if kind == "RUN":
                    state["current"] = f[2]
                    say("run %s" % f[2])
                    return True
                if kind in ("PASS", "FAIL", "SKIP"):
                    results.append((kind, f[2], f[3] if len(f) > 3 else ""))
                    state["current"] = None
                    return True
                if kind == "END":
                    state["end"] = line
                    return True
            print(line, flush=True)
            return False

        problem = None
        for i, (run_mods, pattern) in enumerate(runs):
            # the first too: the copy's commands and the host's probes leave the heap
            # fragmented, and a native .mpy needs one piece for its code
            if soft_reset and not args.no_isolate:
                b.reset()
            state["end"] = None
            code = RUNNER % {"tests": "devtest", "config": config, "modules": run_mods, "pattern": pattern,
                             "frozen": bool(frozen)}
            try:
                err = b.run_streaming(code, on_line, args.timeout)
                if err:
                    problem = "the runner failed on the board: %s" % err.splitlines()[-1]
            except BoardLost as e:
                problem = "%s during %s" % (e, state["current"] or "the run")
            except BoardTimeout as e:
                problem = "the board stopped answering: %s (in %s)" % (e, state["current"] or "the run")
            except DevtestError as e:
                problem = str(e)
            if problem or state["end"] is None:
                break
        if not problem and state["end"] is None:
            problem = "the run ended before the tests finished (the board reset or its program exited) during %s" \
                % (state["current"] or "the run")
        if problem and state["current"]:
            results.append(("FAIL", state["current"], problem))
        return results, problem, platform
    finally:
        b.close()


def report(results, problem):
    print()
    for kind, name, detail in results:
        extra = ""
        if kind == "PASS" and detail:
            extra = " (%s ms)" % detail
        elif detail:
            extra = ": " + detail
        print("%-4s %s%s" % (kind, name, extra))
    p = sum(1 for r in results if r[0] == "PASS")
    f = sum(1 for r in results if r[0] == "FAIL")
    s = sum(1 for r in results if r[0] == "SKIP")
    if problem:
        print("error: " + problem)
    print("%d passed, %d failed%s" % (p, f, ", %d skipped" % s if s else ""))
    if problem:
        return EXIT_BOARD
    if not results:
        print("error: no test matched")
        return EXIT_FAIL
    return EXIT_FAIL if f else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Copy nanollm, a model and tests/device/ to a MicroPython board "
                                             "with mpremote, run the tests there and report pass/fail.")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--device", help="serial port (/dev/ttyACM0), PTY, or socket://HOST:PORT")
    g.add_argument("--emulate", choices=["unix", "qemu"] + sorted(emulator.BOARDS),
                   help="start a stand-in board: the unix micropython on a PTY, or an emulated board: %s "
                   "(qemu is qemu-m0)" % "; ".join("%s = %s (%s)" % (b.name, b.title, b.arch)
                                                    for b in emulator.BOARDS.values()))
    ap.add_argument("--board", help="board profile from boards/ (%s); checked against the board"
                    % ", ".join(board_names()))
    ap.add_argument("-k", metavar="PATTERN", help="only tests whose module.name contains PATTERN")
    ap.add_argument("--model", help="model to test (default: lib/nanollm/model.gguf, else the q8_0 test fixture)")
    ap.add_argument("--big-model", help="a model larger than the board's heap (default: a random 3-layer q8_0)")
    ap.add_argument("--big-layers", type=int, default=3, help="layers of the default big model (default 3, ~700 KB)")
    ap.add_argument("--big-ff", type=int, default=512, help="feed-forward width of the default big model (default 512)")
    ap.add_argument("--no-model", action="store_true", help="do not copy the model (its tests are skipped)")
    ap.add_argument("--no-big-model", action="store_true", help="do not copy a big model (its tests are skipped)")
    ap.add_argument("--ctx", type=int, help="context length the tests load the model with "
                    "(default: the model's, else the largest that loads)")
    ap.add_argument("--stream", action="store_true", help="the tests load models with every weight streamed")
    ap.add_argument("--no-native", action="store_true", help="do not copy the native module")
    ap.add_argument("--expect-backend", choices=["native", "viper", "python"],
                    help="the runtime must pick this kernel backend (test_dev_native checks it)")
    ap.add_argument("--quant-models", action="store_true",
                    help="also copy the test fixture as %s for the native-against-viper logits test"
                    % ", ".join(QUANT_TYPES))
    ap.add_argument("--format", choices=["auto", "py", "mpy"], default="auto",
                    help="runtime as .py or .mpy (auto: .mpy except on the unix port)")
    ap.add_argument("--tests", default=DEVICE_TESTS, help="folder of test_*.py files (default tests/device)")
    ap.add_argument("--no-isolate", action="store_true",
                    help="run all tests in one session (default: a soft reset before each test)")
    ap.add_argument("--resume", action="store_true", help="no soft reset on connect (needed for the unix port)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds one test may run (default 600)")
    ap.add_argument("--connect-timeout", type=float, default=10, help="seconds to wait for the REPL (default 10)")
    ap.add_argument("--heap", help="--emulate unix: heap size, e.g. 256k")
    ap.add_argument("--fs-kb", type=int, help="--emulate unix: a LittleFS filesystem of this many KB "
                    "(outside the heap)")
    ap.add_argument("--firmware", help="--emulate qemu*: firmware ELF (default: the board's, e.g. "
                    "build/firmware/qemu/firmware.elf)")
    ap.add_argument("--install", metavar="DIR", help="install the runtime, native module and model from a make dist "
                    "folder (build/dist/ARCH) instead of from lib/")
    args = ap.parse_args(argv)
    args.tests = os.path.abspath(args.tests)
    args.preloaded = []
    args.emulated = emulator.emulated_board(args.emulate) if args.emulate and args.emulate != "unix" else None
    if not args.device and not args.emulate:
        ap.error("give --device PORT or --emulate unix|qemu|%s" % "|".join(sorted(emulator.BOARDS)))
    try:
        profile = load_board(args.board) if args.board else None
        if args.emulate and profile is None and args.emulate in ("unix", "qemu", "qemu-m0"):
            profile = load_board("unix" if args.emulate == "unix" else "qemu-m0")
        em = None
        if args.emulate:
            try:
                if args.emulated:
                    args.preloaded = preload_files(args)
                em = emulator.make(args.emulate, heap=args.heap, fs_kb=args.fs_kb, firmware=args.firmware,
                                   preload=args.preloaded)
                device = em.start()
            except emulator.EmulatorError as e:
                raise DevtestError(str(e))
            say("stand-in %s on %s" % (args.emulate, device))
        else:
            device = args.device
        soft_reset = not (args.resume or args.emulate == "unix" or (profile and profile["name"] == "unix"))
        try:
            results, problem, _ = run_tests(args, device, profile, soft_reset)
        finally:
            if em is not None:
                em.stop()
    except DevtestError as e:
        print("devtest: error: %s" % e, file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("devtest: interrupted", file=sys.stderr)
        return 130
    return report(results, problem)


if __name__ == "__main__":
    sys.exit(main())
