#!/usr/bin/env python3
"""Instructions per token and per q8_0 multiply-accumulate on the emulated Cortex-M0.

  python host_tools/harness/mcu_bench.py [--out docs/boards.md] [--model M] [--ctx 4]

Boots the emulated board (make firmware-qemu) under `qemu -icount shift=0`, where time
counts guest instructions, copies the runtime as armv6m .mpy (and the armv6m native module
when built), and times one q8_0 matvec and one decode step with every kernel backend the
board has. Prints a markdown table; --out also writes it into a file between markers.
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
w = bytearray(R * C // 32 * 34)
for i in range(0, len(w), 34):
    w[i + 1] = 0x20
x16 = array('h', [(i * 37) %% 200 - 100 for i in range(C)])
out = array('i', bytes(4 * R))
m = nanollm.load(%(model)r, ctx=%(ctx)d, stream=True)
for b in kernels.available():
    kernels.use(b)
    K = kernels.K
    t0 = now()
    K.matvec_q8_0(w, R, C, x16, 0, out, 0)
    t1 = now()
    K.matvec_q8_0(w, R // 2, C, x16, 0, out, 0)
    t2 = now()
    mac = (span(t0, t1) - span(t1, t2)) / (R // 2 * C)
    m.forward(1, 0)
    t0 = now()
    m.forward(2, 1)
    t1 = now()
    print('BENCH', b, span(t0, t1), mac)
"""


def bench(firmware=None, model=None, ctx=4, rows=64, cols=256, log=print):
    """Instructions per token and per q8_0 MAC for every kernel backend on the emulated M0."""
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
            _, name, ipt, mac = ln.split()
            res[name] = (int(ipt), float(mac))
    return model, res


def bench_markdown(model, res, mhz=133):
    rows = ["| kernels | instructions per token | est. tokens/s at %d MHz | instructions per q8_0 MAC |" % mhz,
            "|---|---:|---:|---:|"]
    for name in ("native", "viper", "python"):
        if name in res:
            ipt, mac = res[name]
            rows.append("| %s | %s | %.2f | %.1f |" % (name, format(ipt, ","), mhz * 1e6 / ipt, mac))
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
    ap = argparse.ArgumentParser(description="Instructions per token and per q8_0 MAC on the emulated Cortex-M0.")
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
