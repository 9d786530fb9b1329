# What each part of a load takes of the heap, beside what the memory plan said of it.
#   micropython measure_parts.py MODEL CTX
# Prints one line of "name=bytes" pairs: index (the GGUF file's index), tokenizer, state (the
# run-state block: buffers and norm vectors, with the resident weights), load (the whole
# load, kept), buffers (the plan's bytes of its buffers), objects (the rest: the index, the
# tokenizer, object headers), gen (what a generate() of 20 sampled tokens took at its peak,
# beyond the load), and the plan's figures for the same parts (plan_*).
# A measuring tool for the notes in docs/boards.md (run it on a stand-in or a board).
import gc
import sys

import nanollm
from nanollm import model as M
from nanollm import tokenizer as T
from nanollm import gguf as G

marks = {}


def mark(tag):
    gc.collect()
    marks[tag] = gc.mem_alloc()


def wrap(cls, meth, before, after):
    orig = getattr(cls, meth)

    def f(self, *a):
        mark(before)
        r = orig(self, *a)
        mark(after)
        return r
    setattr(cls, meth, f)


wrap(G.GGUFFile, "__init__", "start", "index")
wrap(M.Model, "_alloc_state", "before_state", "state")
wrap(T.Tokenizer, "__init__", "before_tokenizer", "tokenizer")
mark("begin")
m = nanollm.load(sys.argv[1], ctx=int(sys.argv[2]))
mark("loaded")
low = gc.mem_free()
peak = [0]


def cb(s):
    gc.collect()
    a = gc.mem_alloc()
    if a > peak[0]:
        peak[0] = a


m.generate("Once upon a time", max_new_tokens=20, seed=1, callback=cb)
p = m.plan
out = {
    "index": marks["index"] - marks["start"],
    "state": marks["state"] - marks["before_state"],
    "tokenizer": marks["tokenizer"] - marks["before_tokenizer"],
    "load": marks["loaded"] - marks["begin"],
    "gen": max(0, peak[0] - marks["loaded"]),
    "plan_state": p["kv_cache"] + p["activations"] + p["logits"] + p["sampler"] + p["stream_buffer"]
    + p["vectors"] + p["weights_resident"],
    "plan_peak": p["peak"],
    # the buffers' own bytes, as the plan counts them exactly; the rest of a load is objects
    "buffers": p["kv_cache"] + p["activations"] + p["logits"] + p["sampler"] + p["stream_buffer"]
    + p["vectors"] + p["weights_resident"],
    "plan_objects": p["objects"],
}
out["objects"] = out["load"] - out["buffers"]
print(" ".join("%s=%d" % (k, out[k]) for k in sorted(out)))
