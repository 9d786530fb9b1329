"""Kernel benchmark (not a test): q8_0 / q4_0 / q4_1 / q4_K matvec MAC/s on the unix MicroPython for
plain bytecode (kernels_py), viper (kernels_viper) and native C (nanollm_native).

    .venv/bin/python host_tools/harness/bench_kernels.py

Builds build/natmod/nanollm_native_x64.mpy with `make native` when it is missing.
Plain bytecode is timed on the first 32 rows only (the rate does not depend on rows);
every figure is the best of several trials, as the host may be busy.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from nanollm_host import tools
from nanollm_host.paths import LIB, NATMOD, ROOT

MPY = os.path.join(NATMOD, "nanollm_native_x64.mpy")

SCRIPT = r"""
import time
from array import array
from nanollm import kernels_py
backends = [("bytecode", kernels_py)]
try:
    from nanollm import kernels_viper
    backends.append(("viper", kernels_viper))
except Exception as e:
    print("# no viper:", e)
try:
    import nanollm_native
    backends.append(("native", nanollm_native))
except Exception as e:
    print("# no native:", e)
seed = [12345]
def rnd():
    seed[0] = (seed[0] * 1103515245 + 12345) & 0x7fffffff
    return seed[0] >> 8
for wtype, bs, blk, fn in ((8, 34, 32, "matvec_q8_0"), (2, 18, 32, "matvec_q4_0"), (3, 20, 32, "matvec_q4_1"),
                           (12, 144, 256, "matvec_q4_K")):
    for n_rows, n_cols in ((768, 768), (768, 3072)):
        nb = n_cols // blk
        w = bytearray(n_rows * nb * bs)
        for i in range(len(w)):
            w[i] = rnd() & 255
        for i in range(n_rows * nb):
            for o in ((0, 2) if wtype in (3, 12) else (0,)):  # q4_1's m, q4_K's dmin too
                w[i * bs + o] = rnd() & 255
                w[i * bs + o + 1] = 0x20 + (rnd() & 7)   # fp16 exponent around 2**-7
        x = array("h", [(rnd() & 16383) - 8192 for _ in range(n_cols)])
        out = array("i", bytes(4 * n_rows))
        for name, mod in backends:
            rows = 32 if name == "bytecode" else n_rows
            reps = 1 if name == "bytecode" else (3 if name == "viper" else 20)
            f = getattr(mod, fn)
            f(w, rows, n_cols, x, 0, out, 0)
            dt = 1e9
            for trial in range(2 if name == "bytecode" else 5):  # best of: the host is shared
                t0 = time.ticks_us()
                for _ in range(reps):
                    f(w, rows, n_cols, x, 0, out, 0)
                dt = min(dt, time.ticks_diff(time.ticks_us(), t0) / 1e6)
            print("ROW", fn, "%dx%d" % (n_rows, n_cols), name, rows * n_cols * reps / dt)
"""


def main():
    if not os.path.exists(MPY):
        subprocess.run(["make", "-s", "native", "PY=" + sys.executable], cwd=ROOT, check=True)
    mp = tools.micropython()
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(MPY, os.path.join(d, "nanollm_native.mpy"))
        env = dict(os.environ, MICROPYPATH="%s:%s" % (d, LIB))
        r = subprocess.run([mp, "-X", "heapsize=64M", "-c", SCRIPT], env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stdout + r.stderr)
    rates = {}
    for line in r.stdout.splitlines():
        p = line.split()
        if p and p[0] == "ROW":
            rates.setdefault((p[1], p[2]), {})[p[3]] = float(p[4])
        elif line.startswith("#"):
            print(line)
    print("%-12s %-9s %12s %12s %12s %10s %10s" % ("kernel", "rows x cols", "bytecode", "viper", "native",
                                                   "viper/bc", "native/vip"))
    print("-" * 84)
    for (fn, shape), rr in rates.items():
        bc, vp, nt = rr.get("bytecode"), rr.get("viper"), rr.get("native")

        def fmt(v):
            return "%9.2f M" % (v / 1e6) if v else "-"

        print("%-12s %-11s %12s %12s %12s %10s %10s" % (
            fn, shape, fmt(bc), fmt(vp), fmt(nt),
            "%.1fx" % (vp / bc) if vp and bc else "-", "%.1fx" % (nt / vp) if nt and vp else "-"))
    print("MAC/s; native/bytecode up to %.0fx" % max(
        (rr["native"] / rr["bytecode"]) for rr in rates.values() if "native" in rr and "bytecode" in rr))
    machine_limit(rates)


def machine_limit(rates):
    """The same matrix-vector products in numpy, in this run: float32 goes to BLAS (sgemv,
    SIMD, one thread per the environment), int16 x int8 to numpy's integer loops. How far
    the native kernel is from what this machine does with a tuned library."""
    import time
    import numpy as np
    print()
    print("%-11s %16s %16s %14s" % ("rows x cols", "numpy f32 (BLAS)", "numpy int32", "native q8_0"))
    rng = np.random.default_rng(0)
    for rows, cols in ((768, 768), (768, 3072)):
        wf = rng.standard_normal((rows, cols)).astype(np.float32)
        xf = rng.standard_normal(cols).astype(np.float32)
        wi = rng.integers(-127, 128, (rows, cols)).astype(np.int32)
        xi = rng.integers(-8192, 8192, cols).astype(np.int32)
        best = {}
        for name, f in (("f32", lambda: wf @ xf), ("i32", lambda: wi @ xi)):
            f()
            dt = 1e9
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(20):
                    f()
                dt = min(dt, (time.perf_counter() - t0) / 20)
            best[name] = rows * cols / dt
        nat = rates.get(("matvec_q8_0", "%dx%d" % (rows, cols)), {}).get("native")
        print("%-11s %14.0f M %14.0f M %12s" % ("%dx%d" % (rows, cols), best["f32"] / 1e6, best["i32"] / 1e6,
                                              "%.0f M (%.0f%% of BLAS)" % (nat / 1e6, 100 * nat / best["f32"]) if nat else "-"))


if __name__ == "__main__":
    main()
