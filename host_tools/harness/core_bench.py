#!/usr/bin/env python3
"""Instructions per q8_0 multiply-accumulate and per token on every emulated core.

  python host_tools/harness/core_bench.py [--boards qemu-m0,qemu-m4] [--out docs/boards.md]

Boots each emulated board (host_tools/harness/emulator.py, BOARDS) under qemu
`-icount shift=0`, where one guest instruction is one nanosecond of virtual time, copies
the runtime (unless frozen in) and the board's native .mpy (on the Cortex-M0 too, in place
of the module built into its firmware), and with the native and the viper kernels times:
  - per MAC: a 64x256 q8_0 matvec minus a 32x256 one (the least of three runs of each), over
    the MACs of the difference;
  - per token: one decode step of the default model at position 1 (context 4, weights
    streamed from the board's filesystem; the least of three runs), plus the estimate at the clock of the real
    board the core stands in for (one instruction per cycle: an upper bound).
Time is read from a timer of the emulated machine (BOARD_CLOCKS). Prints a markdown
table; --out also writes it into that file between markers. About 2 minutes per board.
"""
import argparse
import sys
import time

from harness.emulator import BOARDS, EmulatorError, QemuStandIn
from nanollm_host import install
from nanollm_host.doc_section import write_marked_section
from nanollm_host.board_io import Board, BoardError, copy_files
from nanollm_host.paths import native_module, rel
from nanollm_host.testmodels import default_model

# Per board: code that starts a free-running timer and defines now() (ticks, increasing,
# 32 bits), and nanoseconds (= instructions under -icount shift=0) per tick as num/den.
BOARD_CLOCKS = {
    # nRF51 TIMER0, 32-bit, prescaler 0: 16 MHz
    "qemu-m0": ("""
T = 0x40008000
m32[T + 0x504] = 0
m32[T + 0x508] = 3
m32[T + 0x510] = 0
m32[T + 0x00C] = 1
m32[T] = 1
def now():
    m32[T + 0x040] = 1
    return m32[T + 0x540]
""", 125, 2),
    # CMSDK APB timer 0 of the MPS2 (counts down from RELOAD at the 25 MHz system clock)
    "qemu-m3": ("""
T = 0x40000000
m32[T] = 0
m32[T + 8] = 0xFFFFFFFF
m32[T + 4] = 0xFFFFFFFF
m32[T] = 1
def now():
    return -m32[T + 4]
""", 40, 1),
    # the virt machine's CLINT mtime (low word), 10 MHz
    "qemu-rv32": ("""
def now():
    return m32[0x0200BFF8]
""", 100, 1),
}
BOARD_CLOCKS["qemu-m4"] = BOARD_CLOCKS["qemu-m3"]

# the real board each emulated core stands in for, and its clock (tokens/s estimates)
STANDS_FOR = {
    "qemu-m0": ("RP2040 (Cortex-M0+)", 133),
    "qemu-m3": ("a Cortex-M3 (e.g. STM32F103)", 72),
    "qemu-m4": ("RP2350 (Cortex-M33, DSP)", 150),
    "qemu-rv32": ("ESP32-C3 (RV32IMC)", 160),
}

_BENCH = """
import gc, sys, machine
from array import array
sys.path.insert(0, '/lib')
import nanollm_native_mpy
sys.modules['nanollm_native'] = nanollm_native_mpy  # the .mpy, also where a module is built in
import nanollm
from nanollm import kernels
m32 = machine.mem32
%(clock)s
def span(a, b):
    return ((b - a) & 0xFFFFFFFF) * %(num)d // %(den)d
R, C = %(rows)d, %(cols)d
w = bytearray(R * C // 32 * 34)
for i in range(0, len(w), 34):
    w[i + 1] = 0x20
    for j in range(i + 2, i + 34):
        w[j] = (j * 29) & 255
x16 = array('h', [(i * 37) %% 200 - 100 for i in range(C)])
out = array('i', bytes(4 * R))
m = nanollm.load('/m.gguf', ctx=%(ctx)d, stream=True)
print('SIZE', __import__('os').stat(nanollm_native_mpy.__file__)[6])
for b in ('native', 'viper'):
    kernels.use(b)
    K = kernels.K
    gc.collect()
    # the least of three runs of each: an interrupt landing in one run inflates it
    full = half = None
    for _ in range(3):
        t0 = now()
        K.matvec_q8_0(w, R, C, x16, 0, out, 0)
        t1 = now()
        K.matvec_q8_0(w, R // 2, C, x16, 0, out, 0)
        t2 = now()
        full = span(t0, t1) if full is None else min(full, span(t0, t1))
        half = span(t1, t2) if half is None else min(half, span(t1, t2))
    mac = (full - half) / (R // 2 * C)
    m.forward(1, 0)
    tok = None
    for _ in range(3):  # the same step again (position 1): the least of three, as above
        gc.collect()
        t0 = now()
        m.forward(2, 1)
        t1 = now()
        tok = span(t0, t1) if tok is None else min(tok, span(t0, t1))
    print('BENCH', b, tok, mac)
"""


def bench_board(name, model, ctx=4, rows=64, cols=256, log=print):
    """{'native': (instructions per token, per MAC), 'viper': ...} and the .mpy's size."""
    bd = BOARDS[name]
    nat = native_module(bd.arch)
    if nat is None:
        raise EmulatorError("build/natmod/nanollm_native_%s.mpy is missing: make native ARCH=%s" % (bd.arch, bd.arch))
    clock, num, den = BOARD_CLOCKS[name]
    em = QemuStandIn(board=name, icount=True, preload=[(model, "m.gguf")])
    em.start()
    try:
        b = Board(em.device, soft_reset=True, connect_timeout=60)
        b.connect()
        frozen = b._try("nanollm.kernels_py")
        files = [] if frozen else install.runtime_files("mpy", bd.arch)
        files.append((nat, "lib/nanollm_native_mpy.mpy"))
        copy_files(b, files, False, None, b._try("binascii"))
        b.reset()
        log("%s: benchmarking (icount)..." % name)
        out = b.exec(_BENCH % {"clock": clock, "num": num, "den": den, "rows": rows, "cols": cols, "ctx": ctx},
                     timeout=3600)
        b.close()
    finally:
        em.stop()
    res, size = {}, None
    for ln in out.splitlines():
        p = ln.split()
        if p and p[0] == "BENCH":
            res[p[1]] = (int(p[2]), float(p[3]))
        elif p and p[0] == "SIZE":
            size = int(p[1])
    return res, size


def markdown(rows):
    L = ["| board | core | .mpy | .mpy bytes | kernels | instructions per q8_0 MAC | instructions per token "
         "| est. tokens/s (stands in for, clock) |",
         "|---|---|---|---:|---|---:|---:|---|"]
    for name, res, size in rows:
        bd = BOARDS[name]
        what, mhz = STANDS_FOR[name]
        for kern in ("native", "viper"):
            if kern not in res:
                continue
            ipt, mac = res[kern]
            L.append("| %s | %s | %s | %s | %s | %.2f | %s | %.1f (%s, %d MHz) |" % (
                name, bd.title.split(", ", 1)[-1] if name != "qemu-m0" else "Cortex-M0", bd.arch,
                format(size, ",") if size else "?", kern, mac, format(ipt, ","), mhz * 1e6 / ipt, what, mhz))
    return "\n".join(L)


BEGIN = "<!-- core-bench begin -->"
END = "<!-- core-bench end -->"


def write_section(path, table, model):
    body = ("%s\nMeasured by `make core-bench` (`python host_tools/harness/core_bench.py --out docs/boards.md`; "
            "qemu -icount shift=0; model %s, context 4, weights streamed; the native .mpy on every board):\n\n%s\n%s"
            % (BEGIN, model, table, END))
    write_marked_section(path, BEGIN, END, body)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Instructions per q8_0 MAC and per token, native and viper kernels, "
                                             "on every emulated core (qemu -icount).")
    # the Cortex-M0 is make mcu-bench's (host_tools/harness/mcu_bench.py); qemu-m0 here
    # measures its .mpy in place of the built-in module
    ap.add_argument("--boards", default="qemu-m3,qemu-m4,qemu-rv32",
                    help="comma-separated (default: qemu-m3,qemu-m4,qemu-rv32; also qemu-m0)")
    ap.add_argument("--model", help="model (default lib/nanollm/model.gguf)")
    ap.add_argument("--out", help="also write the table into this markdown file (between markers)")
    a = ap.parse_args(argv)
    model = a.model or default_model()
    rows = []

    def log(m):
        print("core_bench: " + m, file=sys.stderr, flush=True)

    for name in [n.strip() for n in a.boards.split(",") if n.strip()]:
        if name not in BOARDS:
            log("error: unknown board %s; known: %s" % (name, ", ".join(BOARDS)))
            return 2
        t0 = time.monotonic()
        try:
            res, size = bench_board(name, model, log=log)
        except (EmulatorError, BoardError, RuntimeError) as e:
            log("error: %s: %s" % (name, e))
            return 2
        log("%s: %s (%.0f s)" % (name, res, time.monotonic() - t0))
        rows.append((name, res, size))
    table = markdown(rows)
    print(table)
    if a.out:
        write_section(a.out, table, rel(model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
