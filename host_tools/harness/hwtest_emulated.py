#!/usr/bin/env python3
"""The on-device tests (tests/device/) on every emulated board in turn.

  python host_tools/harness/hwtest_emulated.py [--boards qemu-m3,qemu-rv32] [-k PATTERN]

Each board (host_tools/harness/emulator.py, BOARDS) boots its firmware in qemu and runs
devtest.py with the native kernels expected: the micro:bit Cortex-M0 has them built in,
the others are stock MicroPython and get the .mpy for their architecture copied over the
console. The stock boards also run test_dev_native: whole-model logits native against
viper on q8_0, q4_0 and q4_1, and native modules for another architecture or MicroPython
refused. Ends with one line per board (board, arch, backend, passed, failed) and
`N passed, N failed`. Exit status 0 when every test passed on every board.
Build the firmwares and modules first: make firmware-emulated native-all.
"""
import argparse
import os
import re
import subprocess
import sys
import time

from harness.emulator import BOARDS
from nanollm_host.paths import HOST_TOOLS, ROOT

DEVTEST = os.path.join(HOST_TOOLS, "harness", "devtest.py")

# devtest sessions per board. The micro:bit's flash filesystem (about 800 KB) holds one
# model at a time and its 190 KB heap needs streamed weights (its native kernels are built
# in; its .mpy is run by the kernel cases in tests/test_emulated.py). The stock boards take
# one session, the default model at context 32: with the runtime copied rather than frozen,
# a second load at the largest context that fits finds no piece large enough for its run
# state in the heap the first left behind (test_plan_matches_measured_heap).
_NATIVE = ["--expect-backend", "native", "--quant-models"]
SESSIONS = {
    "qemu-m0": [["--no-big-model", "--ctx", "128", "--stream", "-k", "test_dev_model"],
                ["--no-model", "--big-ff", "448", "-k", "test_dev_stream"]],
}
DEFAULT_SESSIONS = [_NATIVE + ["--ctx", "32"]]


def run_board(name, pattern, log):
    """devtest.py's sessions on one board: (passed, failed, backend, problem)."""
    passed = failed = 0
    backend = "?"
    problem = None
    for args in SESSIONS.get(name, DEFAULT_SESSIONS):
        if pattern:
            args = [a for i, a in enumerate(args) if a != "-k" and (i == 0 or args[i - 1] != "-k")]
            args += ["-k", pattern]
        cmd = [sys.executable, DEVTEST, "--emulate", name] + args
        log("%s: devtest %s" % (name, " ".join(args)))
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        # every test that reports the backend must agree, else the column shows them all
        seen = sorted(set(re.findall(r"^backend (\w+)", r.stdout, re.M)))
        if seen:
            backend = "/".join(seen) if backend in ("?", "/".join(seen)) else backend + "/" + "/".join(seen)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
        m = re.match(r"(\d+) passed, (\d+) failed", last)
        if m:
            passed += int(m.group(1))
            failed += int(m.group(2))
        for ln in r.stdout.splitlines():
            if ln.startswith(("FAIL ", "error: ")):
                log("%s: %s" % (name, ln))
        if r.returncode not in (0, 1) or not m:
            problem = (r.stderr.strip().splitlines() or ["devtest exited %d" % r.returncode])[-1]
            log("%s: %s" % (name, problem))
            if not m:
                failed += 1  # a session that could not run counts as a failure
    return passed, failed, backend, problem


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run tests/device/ on every emulated board (qemu) in turn; one line "
                                             "per board and a total.")
    ap.add_argument("--boards", default=",".join(BOARDS),
                    help="comma-separated emulated boards (default: all: %s)" % ", ".join(BOARDS))
    ap.add_argument("-k", metavar="PATTERN", help="only tests whose module.name contains PATTERN")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.boards.split(",") if n.strip()]
    bad = [n for n in names if n not in BOARDS]
    if bad:
        print("hwtest_emulated: error: unknown board %s; known: %s" % (", ".join(bad), ", ".join(BOARDS)),
              file=sys.stderr)
        return 2

    def log(msg):
        print("hwtest_emulated: " + msg, file=sys.stderr, flush=True)

    rows = []
    for name in names:
        t0 = time.monotonic()
        p, f, backend, _ = run_board(name, a.k, log)
        log("%s: %d passed, %d failed in %.0f s" % (name, p, f, time.monotonic() - t0))
        rows.append((name, BOARDS[name].arch, backend, p, f))
    print("%-10s %-10s %-8s %6s %6s" % ("board", "arch", "backend", "passed", "failed"))
    for row in rows:
        print("%-10s %-10s %-8s %6d %6d" % row)
    tp = sum(r[3] for r in rows)
    tf = sum(r[4] for r in rows)
    print("%d passed, %d failed" % (tp, tf))
    return 1 if tf or not tp else 0


if __name__ == "__main__":
    sys.exit(main())
