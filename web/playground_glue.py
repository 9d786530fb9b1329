# Glue between the page's Web Worker and the nanollm package, run inside MicroPython's
# WebAssembly port. It loads models with nanollm.load, generates with the runtime's generate
# (streaming pieces through its callback) and asks nanollm.plan whether the model fits a
# board. Results go back to JavaScript as JSON strings; `pgjs` is registered by worker.js.

import gc
import json
import time

import nanollm
from nanollm import plan as P
from nanollm import plan_board

import pgjs

_m = None  # the loaded model (also nanollm's default)
_path = None  # its path in MicroPython's filesystem
_st = [0, 0, 0]  # forward passes this run, prompt tokens, ticks when the prompt was done


def _err(e):
    name = type(e).__name__
    return str(e) if name == "NanoLLMError" else "%s: %s" % (name, e)


def _counting(fwd):
    # forward passes are tokens: count them, and note when the prompt is through
    def f(tok, pos, logits=True):
        r = fwd(tok, pos, logits)
        _st[0] += 1
        if pos == _st[1] - 1:
            _st[2] = time.ticks_ms()
        return r
    return f


def _info(m):
    n_mat = 0
    for t in m.weight_tensors().values():
        n_mat += t.nbytes
    p = m.plan
    return {"path": m.path, "mode": m.mode, "backend": nanollm.backend(), "backend_note": _note(),
            "n_vocab": m.n_vocab, "n_embd": m.n_embd, "n_layer": m.n_layer, "n_head": m.n_head,
            "n_ff": m.n_ff, "n_ctx": m.n_ctx, "file_type": m.file_type, "weights": n_mat,
            "peak": p["peak"], "heap": gc.mem_alloc()}


def _note():
    from nanollm import kernels
    return kernels.backend_note()


def load(path):
    """Load a model; on failure, load the previous one again. Returns JSON."""
    global _m, _path
    try:
        m = nanollm.load(path)
    except Exception as e:
        msg = _err(e)
        _m = None
        gc.collect()
        if _path is not None and _path != path:
            try:
                _m = nanollm.load(_path)
                _m.forward = _counting(_m.forward)
            except Exception as e2:
                _path = None
                msg += " (and the previous model failed to load again: %s)" % _err(e2)
        return json.dumps({"ok": False, "error": msg, "info": _info(_m) if _m else None})
    m.forward = _counting(m.forward)
    _m = m
    _path = path
    gc.collect()
    return json.dumps({"ok": True, "info": _info(m)})


_heap = [0, None]  # heap in use as last measured, ticks then


def _heap_now(now):
    # gc.mem_alloc() walks the whole heap's allocation table: about 40 ms for a 64 MB heap
    # on WebAssembly, more than a token takes. Measured at most twice a second.
    if _heap[1] is None or time.ticks_diff(now, _heap[1]) >= 500:
        _heap[0] = gc.mem_alloc()
        _heap[1] = now
    return _heap[0]


def _piece(s):
    gen = _st[0] - _st[1] + 1  # the token of this piece is sampled, not yet forwarded
    now = time.ticks_ms()
    ms = time.ticks_diff(now, _st[2]) if _st[0] >= _st[1] else 0
    pgjs.piece(s, gen, _heap_now(now), ms)


def run(prompt, max_new_tokens, temperature, top_k, top_p, seed):
    """nanollm.generate with the page's settings. Returns JSON with the text and timings."""
    if _m is None:
        return json.dumps({"ok": False, "error": "no model is loaded"})
    try:
        n_prompt = len(_m.tokenize(prompt)) or 1  # an empty prompt starts from <|endoftext|>
        _st[0] = 0
        _st[1] = n_prompt
        t0 = time.ticks_ms()
        _st[2] = t0
        # Model.generate is nanollm.generate's own path (nanollm.generate(...) calls it on the
        # default model)
        text = _m.generate(prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                           top_k=top_k, top_p=top_p, seed=seed, callback=_piece)
        t1 = time.ticks_ms()
    except Exception as e:
        gc.collect()
        return json.dumps({"ok": False, "error": _err(e), "heap": gc.mem_alloc()})
    gen = _st[0] - n_prompt if _st[0] >= n_prompt else 0
    return json.dumps({"ok": True, "text": text, "prompt_tokens": n_prompt, "tokens": gen,
                       "prompt_ms": time.ticks_diff(_st[2], t0), "gen_ms": time.ticks_diff(t1, _st[2]),
                       "heap": gc.mem_alloc()})


def _num(v):
    # a byte count from a profile: a number, or a string like "264K" / "8M"
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return int(v)
    if isinstance(v, str):
        s = v.strip().upper().rstrip("B")
        mul = 1
        if s and s[-1] in "KM":
            mul = 1024 if s[-1] == "K" else 1048576
            s = s[:-1]
        try:
            return int(float(s) * mul)
        except ValueError:
            return None
    return None


def fits(boards_json, code_json="null"):
    """For each board profile: does the loaded model fit, by the runtime's own plan? JSON list.

    The verdict is nanollm.plan.evaluate and nanollm.plan_board.verdict, as for
    host_tools/plan.py: the free heap after
    boot, less the runtime's code (the profile's runtime_code_bytes, else the figure measured
    on the unix port when the site was built), is what nanollm.load sees."""
    default_code = json.loads(code_json)
    if _m is None:
        return json.dumps([])
    mats = list(_m.weight_tensors().values())
    shape = _m.shape()
    file_bytes = _m.gf.size if hasattr(_m.gf, "size") else None
    out = []
    for b in json.loads(boards_json):
        name = b.get("name", "?")
        r = {"name": name, "title": b.get("title", name)}
        free = _num(b.get("free_heap_bytes"))
        basis = "free heap after boot"
        if free is None:
            free = _num(b.get("ram_bytes"))
            basis = "RAM (no free-heap figure in the profile)"
        if free is None:
            r["error"] = "the profile gives no RAM or free heap figure"
            out.append(r)
            continue
        code = None
        for rc in (b.get("runtime_code_bytes"), default_code):
            if code is None and isinstance(rc, dict):
                code = _num(rc.get("mpy"))
        try:
            ev = P.evaluate(shape, mats, _m.integer, free, code or 0, stream=None, file_bytes=file_bytes,
                            fs_bytes=_num(b.get("fs_bytes")))
        except Exception as e:
            r["error"] = _err(e)
            out.append(r)
            continue
        p = ev["plan"]
        r.update({"free": free, "basis": basis, "code": code, "need": ev["need"], "total": ev["total"],
                  "spare": ev["spare"], "fits": ev["heap_fits"], "file_fits": ev["file_fits"],
                  "streamed": p["weights_streamed"],
                  "resident": p["weights_resident"], "fs": ev["fs_bytes"], "file": file_bytes,
                  "verdict": plan_board.verdict(ev)})
        out.append(r)
    gc.collect()
    return json.dumps(out)
