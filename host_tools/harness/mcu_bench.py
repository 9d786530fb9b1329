#!/usr/bin/env python3
"""Instructions per token and per multiply-accumulate of each weight type on the emulated Cortex-M0.

  python host_tools/harness/mcu_bench.py [--out docs/boards.md] [--model M] [--ctx 4]

Boots the emulated board (make firmware-qemu) under `qemu -icount shift=0`, where time
counts guest instructions, copies the runtime as armv6m .mpy (and the armv6m native module
when built), and times one matvec of each weight type (q8_0, q4_0, q4_1, q4_K: 64 x 256) and
one decode step with every kernel backend the board has. Prints a markdown table; --out also writes it into a file between markers.
"""
import argparse
import os
import sys

from harness.emulator import EmulatorError, QemuStandIn
from nanollm_host import install
from nanollm_host.board_io import Board, copy_files
from nanollm_host.paths import native_module, rel
from nanollm_host.testmodels import default_model


# Run on the emulated board under -icount shift=0: one guest instruction = 1 ns of virtual
# time, read from the nRF51 TIMER0 at 16 MHz (1 tick = 62.5 instructions).
_BENCH = """
import gc, machine
from array import array
import nanollm
from nanollm import kernels
m32 = machine.mem32
T = 0x40008000
m32[T + 0x504] = 0
m32[T + 0x508] = 3
m32[T + 0x510] = 0
m32[T + 0x00C] = 1
m32[T] = 1
def now():
    m32[T + 0x040] = 1
    return m32[T + 0x540] & 0xFFFFFFFF
def span(a, b):
    return ((b - a) & 0xFFFFFFFF) * 125 // 2
R, C = %(rows)d, %(cols)d
AVAIL = kernels.available()
for b in AVAIL:  # every backend's kernels imported before the buffers and the model
    kernels.use(b)
x16 = array('h', [(i * 37) %% 200 - 100 for i in range(C)])
out = array('i', bytes(4 * R))
WBUF = bytearray(R * C // 32 * 34)  # the largest (q8_0), reused by every type
def weights(t):
    # R rows of C columns of ggml type t in WBUF, every scale 2**-17 (exponent field 8), quants mixed
    bs, blk = {8: (34, 32), 2: (18, 32), 3: (20, 32), 12: (144, 256)}[t]
    n = R * C // blk * bs
    for i in range(n):
        WBUF[i] = (i * 37) & 255
    for i in range(0, n, bs):
        WBUF[i] = 0
        WBUF[i + 1] = 0x20
        if t in (3, 12):  # q4_1's m, q4_K's dmin
            WBUF[i + 2] = 0
            WBUF[i + 3] = 0x20
    return WBUF
TYPES = ((8, 'q8_0'), (2, 'q4_0'), (3, 'q4_1'), (12, 'q4_K'))
MACS = {}
for b in AVAIL:  # per MAC first, before the model takes the heap
    kernels.use(b)
    K = kernels.K
    macs = []
    for t, name in TYPES:
        kern = K.matvec_q.get(t)
        if kern is None:
            macs.append('-')
            continue
        w = weights(t)
        gc.collect()
        t0 = now()
        kern(w, R, C, x16, 0, out, 0)
        t1 = now()
        kern(w, R // 2, C, x16, 0, out, 0)
        t2 = now()
        macs.append('%%.1f' %% ((span(t0, t1) - span(t1, t2)) / (R // 2 * C)))
    MACS[b] = ' '.join(macs)
w = WBUF = None
gc.collect()
m = nanollm.load(%(model)r, ctx=%(ctx)d, stream=True)
for b in AVAIL:
    kernels.use(b)
    m.forward(1, 0)
    t0 = now()
    m.forward(2, 1)
    t1 = now()
    print('BENCH', b, span(t0, t1), MACS[b])
"""


def bench(firmware=None, model=None, ctx=4, rows=64, cols=256, log=print):
    """Instructions per token and per MAC of each weight type for every kernel backend on the emulated M0."""
    model = model or default_model()
    em = QemuStandIn(firmware=firmware, icount=True, preload=[(model, "lib/nanollm/model.gguf")])
    em.start()
    try:
        b = Board(em.device, soft_reset=True, connect_timeout=30)
        b.connect()
        files = install.runtime_files("mpy", "armv6m")
        nat = native_module("armv6m")
        if nat:
            files.append((nat, "lib/nanollm/nanollm_native.mpy"))
        copy_files(b, files, False, None, b._try("binascii"))
        b.reset()
        code = "import sys\nsys.path.insert(0, '/lib')\n" + _BENCH % {
            "rows": rows, "cols": cols, "model": "/lib/nanollm/model.gguf", "ctx": ctx}
        log("running the benchmark on the emulated Cortex-M0 (icount)...")
        out = b.exec(code, timeout=1800)
        b.close()
    finally:
        em.stop()
    res = {}
    for ln in out.splitlines():
        if ln.startswith("BENCH"):
            p = ln.split()
            res[p[1]] = (int(p[2]), p[3:])
    return model, res


MAC_TYPES = ("q8_0", "q4_0", "q4_1", "q4_K")


def bench_markdown(model, res, mhz=133):
    rows = ["| kernels | instructions per token | est. tokens/s at %d MHz | %s |"
            % (mhz, " | ".join("instructions per %s MAC" % t for t in MAC_TYPES)),
            "|---|---:|---:|" + "---:|" * len(MAC_TYPES)]
    for name in ("native", "viper", "python"):
        if name in res:
            ipt, macs = res[name]
            rows.append("| %s | %s | %.2f | %s |" % (name, format(ipt, ","), mhz * 1e6 / ipt, " | ".join(macs)))
    return "\n".join(rows)


BEGIN = "<!-- mcu-bench begin -->"
END = "<!-- mcu-bench end -->"


def write_section(path, table, model):
    text = open(path).read() if os.path.exists(path) else ""
    body = "%s\nMeasured by `make mcu-bench` (model %s, context 4, weights streamed from flash, one decode step at position 1):\n\n%s\n%s" % (
        BEGIN, model, table, END)
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + body + text[text.index(END) + len(END):]
    else:
        text += "\n" + body + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Instructions per token and per MAC of each weight type on the emulated Cortex-M0.")
    ap.add_argument("--out", help="also write the table into this markdown file (between markers)")
    ap.add_argument("--model", help="model (default lib/nanollm/model.gguf)")
    ap.add_argument("--ctx", type=int, default=4, help="context length to load (default 4)")
    ap.add_argument("--firmware", help="firmware ELF (default build/firmware/qemu/firmware.elf)")
    a = ap.parse_args(argv)
    try:
        model, res = bench(a.firmware, a.model, a.ctx, log=lambda m: print(m, file=sys.stderr))
    except EmulatorError as e:
        print("mcu_bench: error: %s" % e, file=sys.stderr)
        return 2
    table = bench_markdown(model, res)
    print(table)
    if a.out:
        write_section(a.out, table, rel(model))
    return 0


if __name__ == "__main__":
    sys.exit(main())
