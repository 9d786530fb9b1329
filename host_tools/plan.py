#!/usr/bin/env python3
"""Will this model run on that board? The runtime's own memory formula, on the host.

  python host_tools/plan.py MODEL.gguf --board rp2040 [--ctx N] [--code py|mpy]
  python host_tools/plan.py MODEL.gguf --board all          # one verdict line per board

Reads the GGUF with the runtime's lib/nanollm/gguf.py and plans it with lib/nanollm/plan.py
(the check nanollm.load() makes against gc.mem_free() on the board), adds the runtime's own
code in RAM, and compares with the board profile's free heap (boards/*.json). Prints the
breakdown, the peak, and "fits, N KB to spare", "does not fit by N KB; try ..." or, when the
board's filesystem cannot hold the file, "does not fit: the file ... is larger than ...".
Exit status: 0 fits, 1 does not fit, 2 bad input.
"""
import argparse
import glob
import sys
import json
import os
import subprocess
import tempfile

from nanollm import gpt2
from nanollm import plan as P
from nanollm import plan_board
from nanollm.errors import NanoLLMError
from nanollm.gguf import GGUFFile, TYPE_NAME
from nanollm.loader import QUANTIZED  # the types the integer path runs
from nanollm_host import cli, tools
from nanollm_host.boards import UnknownBoard, board_names, load_board
from nanollm_host.paths import BUILD, LIB, PACKAGE

CODE_CACHE = os.path.join(BUILD, "plan", "runtime_code.json")


class PlanError(Exception):
    pass


# ------------------------------------------------------------------ the model

class _Mat:
    """A weight matrix as the formula sees it (name, bytes, bytes per row)."""

    def __init__(self, name, nbytes, row_bytes, type=None):
        self.name = name
        self.nbytes = nbytes
        self.row_bytes = row_bytes
        self.type = type  # the ggml type (f32 matrices stay floats in RAM)


def read_model(path):
    """Shape, weight matrices and path kind (integer or float) of a GPT-2 GGUF, as model.py sees them."""
    if not os.path.exists(path):
        raise PlanError("%s does not exist" % path)
    try:
        gf = GGUFFile(path)
    except NanoLLMError as e:
        raise PlanError(str(e))
    try:
        kv = gf.kv
        if kv.get("general.architecture") != "gpt2":
            raise PlanError("%s: architecture is %r; nanollm runs GPT-2 models" % (path, kv.get("general.architecture")))
        try:
            L = kv["gpt2.block_count"]
            shape = {"n_vocab": gf.tensors["token_embd.weight"].shape[1], "n_embd": kv["gpt2.embedding_length"],
                     "n_ff": kv["gpt2.feed_forward_length"], "n_layer": L,
                     "n_head": kv["gpt2.attention.head_count"], "n_ctx": kv["gpt2.context_length"],
                     "n_merges": len(kv.get("tokenizer.ggml.merges") or ()), "n_tensors": len(gf.tensors)}
            names = gpt2.matrix_names(L, tied="output.weight" not in gf.tensors)
            mats = [gf.tensors[n] for n in names]
        except KeyError as e:
            raise PlanError("%s: %s is missing: not a complete GPT-2 GGUF file" % (path, e))
        integer = all(t.type in QUANTIZED for t in mats)
        types = sorted(set(TYPE_NAME[t.type] for t in mats))
        return {"path": path, "shape": shape, "mats": [_Mat(t.name, t.nbytes, t.row_bytes, t.type) for t in mats],
                "elements": [(t.name, t.n_rows, t.row_len) for t in mats], "integer": integer,
                "types": types, "file_bytes": os.path.getsize(path)}
    finally:
        gf.close()


def requantized(model, qtype):
    """The same model's matrices as q4_0 / q8_0 / q4_1 / q4_K (bytes only), for suggestions.
    q4_K rows that are not whole super-blocks of 256 count as quantize.py's fallback, q8_0."""
    block = {"q4_0": 18, "q8_0": 34, "q4_1": 20}
    mats = []
    for name, rows, cols in model["elements"]:
        if qtype == "q4_K" and cols % 256 == 0:
            rb = cols // 256 * 144
        else:
            rb = cols // 32 * block.get(qtype, 34)
        mats.append(_Mat(name, rb * rows, rb))
    saved = sum(m.nbytes for m in model["mats"]) - sum(m.nbytes for m in mats)
    return dict(model, mats=mats, integer=True, types=[qtype], file_bytes=model["file_bytes"] - saved)


# ------------------------------------------------------------------ the runtime's code

_MEASURE = """
import gc
gc.collect()
a = gc.mem_alloc()
import nanollm
from nanollm import model, tokenizer, generation, sampling, plan, kernels
gc.collect()
print(gc.mem_alloc() - a)
"""


def _sources_stamp():
    return max(os.path.getmtime(p) for p in glob.glob(os.path.join(PACKAGE, "*.py")))


def measure_code_unix():
    """Heap the runtime's code takes after import on the unix port (64-bit), as .py and as .mpy."""
    try:
        with open(CODE_CACHE) as f:
            c = json.load(f)
        if c.get("stamp") == _sources_stamp():
            return c["bytes"]
    except (OSError, ValueError):
        pass
    exe = tools.micropython(required=False)
    if exe is None:
        return None
    from nanollm_host import install
    mpy_lib = install.compiled_package_dir("x64")
    out = {}
    for kind, libdir in (("py", LIB), ("mpy", mpy_lib)):
        r = subprocess.run([exe, "-c", _MEASURE], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, MICROPYPATH=".frozen:" + libdir))
        if r.returncode != 0:
            return None
        out[kind] = int(r.stdout.split()[-1])
    os.makedirs(os.path.dirname(CODE_CACHE), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(CODE_CACHE))
    with os.fdopen(fd, "w") as f:
        json.dump({"stamp": _sources_stamp(), "bytes": out}, f)
    os.replace(tmp, CODE_CACHE)
    return out


def code_bytes(board, kind):
    """(bytes, where the figure comes from) for the runtime's code on this board."""
    fig = board.get("runtime_code_bytes") or {}
    label = ".mpy with the native module" if kind == "native" else "." + kind
    if kind in fig:
        return fig[kind], "%s, board profile figure" % label
    if kind == "native":
        raise PlanError("no figure for the runtime's code with the native module on %s" % board["name"])
    m = measure_code_unix()
    if m is None:
        raise PlanError("no figure for the runtime's code on %s and no unix micropython to measure it" % board["name"])
    return m[kind], ".%s, measured on the unix port, 64-bit" % kind


# ------------------------------------------------------------------ the verdict (lib/nanollm/plan.py)

def state_block(board, kind):
    """The largest run-state block a load can make on this board after the runtime's code is
    in (the piece nanollm.load() holds for it), when the profile gives the largest free piece
    measured after `import nanollm`; None when it does not (the total alone is checked)."""
    largest = (board.get("largest_free_piece_bytes") or {}).get(kind)
    if largest is None:
        return None
    free = board["free_heap_bytes"] - code_bytes(board, kind)[0]
    return plan_board.state_block_room(free, min(largest, free), board.get("word_bytes", 4))


def evaluate(model, board, ctx=None, kind="mpy", stream=None, in_place=False):
    code, code_src = code_bytes(board, kind)
    # in place, the file lives on the ROMFS partition (when the profile knows its size)
    fs = board.get("romfs_bytes") if in_place else board.get("fs_bytes")
    ev = P.evaluate(model["shape"], model["mats"], model["integer"], board["free_heap_bytes"], code, ctx=ctx,
                    stream=stream, file_bytes=model["file_bytes"], fs_bytes=fs,
                    word=board.get("word_bytes", 4), block=state_block(board, kind), in_place=in_place)
    ev["board"] = board["name"]
    ev["code_source"] = code_src
    return ev


def suggest(model, board, ctx, kind, stream=None, in_place=False):
    """Changes that make it fit: the largest --ctx, q4_0, both, or streaming the weights."""
    code = code_bytes(board, kind)[0]
    free = board["free_heap_bytes"]
    upto = min(ctx, model["shape"]["n_ctx"])

    def best_ctx(m):
        return P.largest_ctx(m["shape"], m["mats"], m["integer"], free, code, upto, stream,
                             word=board.get("word_bytes", 4), block=state_block(board, kind), in_place=in_place)

    out = []
    c = best_ctx(model)
    if c >= 1:
        out.append("--ctx %d" % c)
    wide = all(cols % 256 == 0 for _n, _r, cols in model["elements"])
    if wide and model["types"] != ["q4_K"]:  # q4_K: as small as q4_0, closer to f32
        qk = requantized(model, "q4_K")
        if evaluate(qk, board, ctx, kind, stream, in_place)["heap_fits"]:
            out.append("q4_K")
    if model["types"] != ["q4_0"]:
        q4 = requantized(model, "q4_0")
        if evaluate(q4, board, ctx, kind, stream, in_place)["heap_fits"]:
            out.append("q4_0")
        elif not out:
            c4 = best_ctx(q4)
            if c4 >= 1:
                out.append("q4_0 with --ctx %d" % c4)
    if stream is False and evaluate(model, board, ctx, kind, None)["heap_fits"]:
        out.append("--stream auto (weights streamed from flash)")
    if not in_place and evaluate(model, board, ctx, kind, None, True)["heap_fits"]:
        out.append("--in-place (the model on a ROMFS partition: no weights in RAM)")
    return out


def kb(n):
    return (n + 1023) // 1024


def report(model, ev, sugg):
    p = ev["plan"]
    s = model["shape"]
    lines = ["%s on %s: %s, %d layers, width %d, vocab %d, context %d of %d, %s path"
             % (os.path.basename(model["path"]), ev["board"], "/".join(model["types"]), s["n_layer"], s["n_embd"],
                s["n_vocab"], ev["ctx"], s["n_ctx"], "integer" if model["integer"] else "float")]
    rows = [
        ("weights in RAM", p["weights_resident"]),
        ("weights in place, read where they lie in ROMFS (not in RAM)", -1),
        ("weights streamed from flash (not in RAM)", None),
        ("KV cache", p["kv_cache"]),
        ("activations", p["activations"]),
        ("logits", p["logits"]),
        ("sampler (weights, top-k list, generator)", p["sampler"]),
        ("norm weights and biases" + (" (read per token)"
                                       if p.get("vectors_per_token") else ""), p["vectors"]),
        ("tokenizer tables, file index, object headers", p["objects"]),
        ("stream buffer", p["stream_buffer"]),
        ("headroom (interpreter, text, transients)", P.HEADROOM),
        ("runtime code (%s)" % ev["code_source"], ev["code"]),
    ]
    for label, v in rows:
        if v == -1:
            if p["weights_in_place"]:
                lines.append("  %-58s %8s KB" % (label, "(%d)" % kb(p["weights_in_place"])))
        elif v is None:
            lines.append("  %-58s %8s KB" % (label, "(%d)" % kb(p["weights_streamed"])))
        else:
            lines.append("  %-58s %8d KB" % (label, kb(v)))
    lines.append("  %-58s %8d KB" % ("peak", kb(ev["total"])))
    lines.append("  %-58s %8d KB" % ("free heap after boot (board profile)", kb(ev["free"])))
    lines.append(plan_board.verdict(ev, sugg))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Memory plan of a GPT-2 GGUF on a board: breakdown, peak, verdict.")
    ap.add_argument("model", help="GGUF file")
    ap.add_argument("--board", default="rp2040", help="board profile (%s) or 'all' (default rp2040)"
                    % ", ".join(board_names()))
    ap.add_argument("--ctx", type=int, help="context length to allocate (default: the model's)")
    ap.add_argument("--code", choices=["py", "mpy", "native"], default="mpy",
                    help="runtime installed as .py, as .mpy from mpy-cross (viper kernels), or as .mpy with "
                    "the board's native module (default mpy)")
    ap.add_argument("--stream", choices=["auto", "all", "none"], default="auto",
                    help="weights: streamed when they do not fit (auto), always, or never")
    ap.add_argument("--in-place", action="store_true",
                    help="the model is on a ROMFS partition (our firmware, `make romfs`): its weights are "
                         "read where they lie in flash, none in RAM")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    a = ap.parse_args(argv)
    stream = {"auto": None, "all": True, "none": False}[a.stream]
    try:
        boards = [load_board(n) for n in (board_names() if a.board == "all" else a.board.split(","))]
        model = read_model(a.model)
        if a.ctx is not None and not 1 <= a.ctx <= model["shape"]["n_ctx"]:
            raise PlanError("--ctx %d: must be between 1 and the model's context length %d" % (a.ctx, model["shape"]["n_ctx"]))
        results = []
        for b in boards:
            ev = evaluate(model, b, a.ctx, a.code, stream, a.in_place)
            sugg = [] if ev["heap_fits"] else suggest(model, b, ev["ctx"], a.code, stream, a.in_place)
            results.append((b, ev, sugg))
    except (PlanError, UnknownBoard) as e:
        print("plan: error: %s" % e, file=sys.stderr)
        return 2
    if a.json:
        out = [{"board": b["name"], "fits": ev["fits"], "heap_fits": ev["heap_fits"], "file_fits": ev["file_fits"],
                "peak": ev["total"],
                "free": ev["free"], "spare": ev["spare"], "ctx": ev["ctx"], "code": ev["code"],
                "suggestions": sugg, "verdict": plan_board.verdict(ev, sugg),
                "breakdown": {k: v for k, v in ev["plan"].items() if k != "resident"}} for b, ev, sugg in results]
        print(json.dumps(out if a.board == "all" or len(out) > 1 else out[0], indent=1))
    elif len(results) > 1:
        for b, ev, sugg in results:
            print("%-8s %s" % (b["name"], plan_board.verdict(ev, sugg)))
    else:
        print(report(model, *results[0][1:]))
    return 0 if all(ev["fits"] for _, ev, _ in results) else 1


if __name__ == "__main__":
    sys.exit(cli.run(main))
