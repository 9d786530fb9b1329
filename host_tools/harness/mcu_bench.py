#!/usr/bin/env python3
"""Instructions per token, per q8_0 multiply-accumulate and per stage of a token on the
emulated Cortex-M0, per kernel backend and weight placement.

  python host_tools/harness/mcu_bench.py [--out docs/boards.md] [--model M] [--ctx 4]
                                         [--backends native,viper,python] [--mhz 133]

Boots the emulated board (make firmware-qemu) under `qemu -icount shift=0`, where time
counts guest instructions, with a ROMFS image in its ROMFS partition (host_tools/romfs.py:
the runtime as armv6m .mpy and the model) and the same model in its LittleFS filesystem.
Per backend it measures one 64x256 matvec of each weight type (q8_0, q4_0, q4_1, q4_K:
instructions per MAC of the kernel alone) and one token, the decode step at position 1 plus sampling (temperature 0.7, top-k 40, top-p 0.9),
with the weights:
  in place  read where they lie in the ROMFS partition (memory-mapped flash, no copy);
  streamed  read from the LittleFS file with readinto, row chunk by row chunk;
  in RAM    copied to the heap at load (when they fit: the default model's do not).
A second, instrumented run of the same token gives the per-stage breakdown: every kernel
call and weight read is timed; "glue" is what is left (the interpreter between calls).
Prints the rows (`native in-place: N instructions/token, M instructions/MAC, T tokens/s
est.`) and markdown tables; --out writes them into a file between markers.
"""
import argparse
import os
import sys

from harness.emulator import EmulatorError, QemuStandIn
from nanollm_host.board_io import Board
from nanollm_host.doc_section import write_marked_section
from nanollm_host.paths import BUILD, rel
from nanollm_host.testmodels import default_model

PLACEMENTS = ("in-place", "streamed", "in-RAM")
# stages in the order a token meets them; "glue" is the rest of the token
STAGES = ("embeddings", "layer norm", "matvec qkv", "attention", "matvec attn-out", "matvec ffn-up", "GELU",
          "matvec ffn-down", "head", "to_x16, add_q", "weight reads", "sampling", "glue")

# Run on the emulated board under -icount shift=0: one guest instruction = 1 ns of virtual
# time, read from the nRF51 TIMER0 at 16 MHz (1 tick = 62.5 instructions).
_BENCH = """
import gc, machine
from array import array
import nanollm
from nanollm import kernels
from nanollm.errors import NanoLLMError
from nanollm.sampling import Sampler
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
# the profiler: each wrapped call's own instructions (its wrapped callees' taken out),
# minus the timer's cost measured on a wrapped call of nothing
st = []
acc = {}
def wrap(name, fn):
    def w(*a):
        st.append(0)
        t0 = now()
        r = fn(*a)
        t1 = now()
        el = span(t0, t1) - cal[0]
        inner = st.pop()
        acc[name] = acc.get(name, 0) + el - inner
        if st:  # the caller's share: this call's window and the wrapper's work around it
            st[-1] += el + cal[0] + cal[1]
        return r
    return w
def nothing(*a):
    pass
# cal[0]: a wrapped call of nothing, inside its own window; cal[1]: what a wrapped call
# adds to its caller outside that window
cal = [0, 0]
f = wrap('cal', nothing)
g = wrap('outer', lambda: f())
for i in range(8):
    f()
cal[0] = acc.pop('cal') // 8
for i in range(8):
    g()
acc.pop('cal')
cal[1] = acc.pop('outer') // 8
def instrument(m, K, smp):
    for n, g in (('layernorm_q', 'layer norm'), ('gelu_q', 'GELU'), ('kv_store', 'attention'),
                 ('attend_head', 'attention'), ('to_x16', 'to_x16, add_q'), ('add_q', 'to_x16, add_q')):
        setattr(K, n, wrap(g, getattr(K, n)))
    for L in m.layers:
        L.attn_qkv.matvec_int = wrap('matvec qkv', L.attn_qkv.matvec_int)
        L.attn_output.matvec_int = wrap('matvec attn-out', L.attn_output.matvec_int)
        L.ffn_up.matvec_int = wrap('matvec ffn-up', L.ffn_up.matvec_int)
        L.ffn_down.matvec_int = wrap('matvec ffn-down', L.ffn_down.matvec_int)
    m.head.matvec_int = wrap('head', m.head.matvec_int)
    m.wte.row_into_q16 = wrap('embeddings', m.wte.row_into_q16)
    m.wpe.row_into_q16 = wrap('embeddings', m.wpe.row_into_q16)
    m.gf.read_rows = wrap('weight reads', m.gf.read_rows)
    smp.sample = wrap('sampling', smp.sample)
def token(m, smp):
    smp.sample(m.forward(2, 1))
PLACES = (('in-place', %(rom)r, None), ('streamed', %(fs)r, True), ('in-RAM', %(fs)r, False))
AVAIL = [b for b in %(backends)r if b in kernels.available()]
for b in AVAIL:  # every backend's kernels imported before the buffers and the models
    kernels.use(b)
for b in AVAIL:  # per MAC first, before the models take the heap
    kernels.use(b)
    K = kernels.K
    for t, name in TYPES:
        kern = K.matvec_q.get(t)
        if kern is None:
            continue
        w = weights(t)
        gc.collect()
        # the least of three runs: an interrupt of the port (its tick) may land in one
        full = half = 1 << 29
        for i in range(3):
            t0 = now()
            kern(w, R, C, x16, 0, out, 0)
            t1 = now()
            kern(w, R // 2, C, x16, 0, out, 0)
            t2 = now()
            full = min(full, span(t0, t1))
            half = min(half, span(t1, t2))
        print('MAC', b, name, (full - half) / (R // 2 * C))
w = WBUF = None
for b in AVAIL:
    kernels.use(b)
    K = kernels.K
    for place, path, stream in PLACES:
        m = None
        gc.collect()
        try:
            m = nanollm.load(path, ctx=%(ctx)d, stream=stream)
        except NanoLLMError as e:
            print('NOFIT', b, place, str(e).replace(chr(10), ' '))
            continue
        smp = Sampler(m.n_vocab, m.logit_scale, 0.7, 40, 0.9, 1)
        m.forward(1, 0)
        token(m, smp)
        gc.collect()
        t0 = now()
        token(m, smp)
        t1 = now()
        print('TOKEN', b, place, m.plan['placement'].replace(' ', '_'), span(t0, t1))
        acc.clear()
        instrument(m, K, smp)
        gc.collect()
        gc.disable()  # the wrappers allocate: no collection may land inside a stage
        try:
            token(m, smp)
        except MemoryError:  # the heap ran out without collections: again, with them
            gc.enable()
            gc.collect()
            acc.clear()
            token(m, smp)
        gc.enable()
        kernels.use(b)
        for k in acc:
            print('STAGE', b, place, acc[k], k)
        smp = None
        m.close()  # its run state back to the heap before the next load
m = None
"""


def macs_per_token(model):
    """Multiply-accumulates of the weight matrices in one token (with the head)."""
    from nanollm.gguf import GGUFFile
    from nanollm import gpt2
    gf = GGUFFile(model)
    try:
        names = gpt2.matrix_names(gf.kv["gpt2.block_count"], tied="output.weight" not in gf.tensors)
        # the embeddings are rows looked up, not multiplied
        total = sum(gf.tensors[n].n_rows * gf.tensors[n].row_len for n in names
                    if n not in ("token_embd.weight", "position_embd.weight"))
        if "output.weight" not in gf.tensors:
            t = gf.tensors["token_embd.weight"]
            total += t.n_rows * t.row_len  # the tied head
        return total
    finally:
        gf.close()


def bench(firmware=None, model=None, ctx=4, backends=("native", "viper", "python"), rows=64, cols=256, log=print):
    """{(backend, placement): {"total": instructions, "stages": {...}}}, {backend: kernel instructions/MAC}, no-fit notes."""
    from romfs import build as build_romfs
    model = model or default_model()
    image = build_romfs(os.path.join(BUILD, "mcu_bench", "romfs.img"), "armv6m", model, log=log)
    em = QemuStandIn(firmware=firmware, icount=True, preload=[(model, "model.gguf")], romfs=image)
    em.start()
    try:
        b = Board(em.device, soft_reset=True, connect_timeout=30)
        b.connect()
        where = b.eval("__import__('nanollm').__file__")
        log("runtime imported from %s; running the benchmark on the emulated Cortex-M0 (icount)..." % where)
        code = _BENCH % {"rows": rows, "cols": cols, "rom": "/rom/lib/nanollm/model.gguf", "fs": "/model.gguf",
                         "ctx": ctx, "backends": tuple(backends)}
        out = b.exec(code, timeout=3600)
        b.close()
    finally:
        em.stop()
    res, mac, nofit = {}, {}, {}
    for ln in out.splitlines():
        w = ln.split()
        if not w:
            continue
        if w[0] == "MAC":
            mac[w[1], w[2]] = float(w[3])
        elif w[0] == "TOKEN":
            res[w[1], w[2]] = {"total": int(w[4]), "placement": w[3].replace("_", " "), "stages": {}}
        elif w[0] == "STAGE":
            res[w[1], w[2]]["stages"][" ".join(w[4:])] = int(w[3])
        elif w[0] == "NOFIT":
            nofit[w[1], w[2]] = " ".join(w[3:])
    for r in res.values():
        r["stages"]["glue"] = r["total"] - sum(r["stages"].values())
    return model, res, mac, nofit


def row_lines(res, macs, mhz=133):
    out = []
    for (b, place), r in res.items():
        n = r["total"]
        out.append("%s %s: %s instructions/token, %.1f instructions/MAC, %.1f tokens/s est."
                   % (b, place, format(n, ","), n / macs, mhz * 1e6 / n))
    return out


MAC_TYPES = ("q8_0", "q4_0", "q4_1", "q4_K")


def markdown(res, mac, nofit, macs, mhz=133):
    rows = ["| kernels | weights | instructions per token | per MAC (whole token) | est. tokens/s at %d MHz | %s |"
            % (mhz, " | ".join("%s kernel, per MAC" % t for t in MAC_TYPES)),
            "|---|---|---:|---:|---:|" + "---:|" * len(MAC_TYPES)]
    for b in ("native", "viper", "python"):
        kern = " | ".join("%.1f" % mac[b, t] if (b, t) in mac else "-" for t in MAC_TYPES)
        for place in PLACEMENTS:
            if (b, place) in res:
                n = res[b, place]["total"]
                rows.append("| %s | %s | %s | %.1f | %.1f | %s |" % (b, place, format(n, ","), n / macs,
                                                                   mhz * 1e6 / n, kern))
            elif (b, place) in nofit:
                rows.append("| %s | %s | does not fit |" % (b, place) + " |" * (2 + len(MAC_TYPES)))
    cols = [k for k in sorted(res, key=lambda k: (("native", "viper", "python").index(k[0]), PLACEMENTS.index(k[1])))
            if k[0] != "python"]
    stages = ["", "Per stage of one token, thousands of instructions (share of the token):", "",
              "| stage | " + " | ".join("%s %s" % k for k in cols) + " |",
              "|---|" + "---:|" * len(cols)]
    for s in STAGES:
        cells = []
        for k in cols:
            v = res[k]["stages"].get(s, 0)
            cells.append("%s (%.0f%%)" % (format(round(v / 1000), ","), 100.0 * v / res[k]["total"]) if v else "-")
        stages.append("| %s | %s |" % (s, " | ".join(cells)))
    stages.append("| **token** | %s |" % " | ".join(format(round(res[k]["total"] / 1000), ",") for k in cols))
    return "\n".join(rows + stages)


BEGIN = "<!-- mcu-bench begin -->"
END = "<!-- mcu-bench end -->"


def write_section(path, text_block, model, ctx):
    body = ("%s\nMeasured by `make mcu-bench` (model %s, context %d; a token is the decode step at position 1 "
            "and sampling):\n\n%s\n%s" % (BEGIN, model, ctx, text_block, END))
    write_marked_section(path, BEGIN, END, body)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Instructions per token, per q8_0 MAC and per stage on the emulated "
                                             "Cortex-M0, per kernel backend and weight placement.")
    ap.add_argument("--out", help="also write the tables into this markdown file (between markers)")
    ap.add_argument("--model", help="model (default lib/nanollm/model.gguf)")
    ap.add_argument("--ctx", type=int, default=4, help="context length to load (default 4)")
    ap.add_argument("--backends", default="native,viper,python", help="kernel backends (default native,viper,python)")
    ap.add_argument("--mhz", type=int, default=133, help="clock for the tokens/s estimate, 1 instruction per cycle "
                    "(an upper bound; default 133)")
    ap.add_argument("--firmware", help="firmware ELF (default build/firmware/qemu/firmware.elf)")
    a = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        model, res, mac, nofit = bench(a.firmware, a.model, a.ctx, a.backends.split(","), log=log)
    except EmulatorError as e:
        print("mcu_bench: error: %s" % e, file=sys.stderr)
        return 2
    macs = macs_per_token(model)
    lines = row_lines(res, macs, a.mhz)
    for (b, place), why in nofit.items():
        lines.append("%s %s: does not fit (%s)" % (b, place, why))
    table = markdown(res, mac, nofit, macs, a.mhz)
    print("\n".join(lines))
    print()
    print(table)
    if a.out:
        write_section(a.out, "\n".join("    " + ln for ln in lines) + "\n\n" + table, rel(model), a.ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
