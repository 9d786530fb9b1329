# Weights in place from a ROMFS: the same model loaded three ways from a mounted VfsRom,
# their logits and the heap each load took.
#   micropython in_place_logits.py IMAGE NAME BACKEND IDS
# IMAGE: a ROMFS image file (host_tools/nanollm_host/romfs.py), read into a bytes object and
# mounted at /rom (the unix port's VfsRom takes any buffer); NAME: the model's file in it;
# BACKEND: viper, python, native or auto; IDS: comma-separated token ids at positions 0, 1, ...
# Prints, per placement (stream=None: in place, True: streamed, False: in RAM; then in place
# and streamed again with the norm weights and biases left in the file, "None+file" and
# "True+file": plan.VECTORS_IN_FILE):
#   LOAD <stream> <plan placement> <weights in place> <weights in RAM> <heap bytes the load kept>
#        <vectors per token: 0 or 1>
#   one line of logits per token
# then "LOCKED <bytes>" after decode steps of the in-place models with the heap locked
# (integer models).
# Run by tests/test_in_place.py.
import gc
import sys

import micropython
import vfs

import nanollm
from nanollm import kernels
from nanollm import forward_float  # noqa: F401  (imported by the first float load: here, so no load counts its code)

image_path, name, backend, ids = sys.argv[1:5]
if backend != "auto":
    kernels.use(backend)
with open(image_path, "rb") as f:
    image = f.read()
vfs.mount(vfs.VfsRom(image), "/rom")
path = "/rom/" + name
ids = [int(t) for t in ids.split(",")]


def decode(m, first):
    # in a function: a module-level loop would store globals, which may grow the dict
    for pos in range(first, first + 4):
        m.forward(pos + 3, pos)


for stream, in_file in ((None, None), (True, None), (False, None), (None, True), (True, True)):
    nanollm.plan.VECTORS_IN_FILE = in_file
    gc.collect()
    before = gc.mem_alloc()
    m = nanollm.load(path, stream=stream)
    gc.collect()
    kept = gc.mem_alloc() - before
    p = m.plan
    print("LOAD", "%s%s" % (stream, "+file" if in_file else ""), p["placement"].replace(" ", "_"),
          p["weights_in_place"], p["weights_resident"], kept, int(p["vectors_per_token"]))
    for i, t in enumerate(ids):
        print(" ".join(str(v) for v in m.forward(t, i)))
    if stream is None and m.mode == "int":  # the float path makes floats: it allocates
        gc.collect()
        before = gc.mem_alloc()
        micropython.heap_lock()
        try:
            decode(m, len(ids))
        finally:
            micropython.heap_unlock()
        print("LOCKED", gc.mem_alloc() - before)
    m.close()
    m = None
    nanollm._default = None
