# The tiny test harness shared by the host and the board.
#
# The same test files run three ways: collected by pytest on CPython (see conftest.py in
# this folder), under the unix `micropython`, and on a board through host_tools/harness/devtest.py.
# A test is a module-level function named test_*; it passes when it returns and fails
# when it raises. Output lines starting with "@@DT " are the protocol devtest.py parses.

import sys
import gc

MICRO = sys.implementation.name == "micropython"

# Filled in by whoever runs the tests (devtest.py on a board, conftest.py under pytest):
#   model      path of the default-size model (q8_0)
#   big_model  path of a model larger than the free heap (streamed), or None
#   board      board profile name
#   ctx        context length to load the model with (None: the model's, or the largest that fits)
#   stream     True: load models with every weight streamed (tight heaps)
#   backend    the kernel backend the runtime must have picked (None: any)
#   quant_models  paths of one small model per block type (q8_0, q4_0, q4_1), or []
config = {"model": None, "big_model": None, "board": None, "ctx": None, "stream": False, "backend": None,
          "quant_models": []}


class Skip(Exception):
    """Raised by a test that cannot run here; reported as SKIP, never as a pass."""


def skip(why):
    raise Skip(why)


def model_path():
    p = config.get("model")
    if not p:
        raise Skip("no model configured")
    return p


def big_model_path():
    p = config.get("big_model")
    if not p:
        raise Skip("no big model configured")
    return p


def _too_big(e):
    s = str(e)
    return "does not fit" in s or "out of memory" in s


def load_fitting(path, **kw):
    """nanollm.load(path), at the model's context if it fits the heap, else at the largest
    context that loads (found once per model and remembered)."""
    import nanollm
    if config.get("stream") and "stream" not in kw:
        kw["stream"] = True
    if config.get("ctx") and path == config.get("model"):
        return nanollm.load(path, ctx=config["ctx"], **kw)
    key = "ctx:" + path
    if config.get(key):
        return nanollm.load(path, ctx=config[key], **kw)
    # the entry is made before the load: made after it, it would land past the model's
    # memory and split the piece the next load needs once this model is dropped
    config[key] = 0
    try:
        m = nanollm.load(path, **kw)
        config[key] = m.n_ctx
        return m
    except nanollm.NanoLLMError as e:
        if not _too_big(e):
            raise
        first = str(e)
    nanollm._default = None
    gc.collect()
    from nanollm.gguf import GGUFFile
    gf = GGUFFile(path)
    n = gf.kv["gpt2.context_length"]
    gf.close()
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            m = nanollm.load(path, ctx=mid, **kw)
        except nanollm.NanoLLMError as e:
            if not _too_big(e):
                raise
            print("context %d: %s" % (mid, e))
            hi = mid - 1
        else:
            m.close()
            m = None  # nothing may keep the trial model alive during the next load
            nanollm._default = None
            lo = mid
        gc.collect()
    if lo == 0:
        raise AssertionError("no context length fits: " + first)
    print("context %d of %d fits the heap" % (lo, n))
    config[key] = lo
    return nanollm.load(path, ctx=lo, **kw)


def file_size(path):
    import os
    return os.stat(path)[6]


def _ticks_ms():
    try:
        import time
    except ImportError:  # ports without a clock (the qemu port): no timing
        return 0
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.time() * 1000)


def _diff_ms(a, b):
    try:
        import time
        return time.ticks_diff(a, b)
    except (ImportError, AttributeError):
        return a - b


def _print_exc(e):
    if MICRO:
        sys.print_exception(e)
    else:
        import traceback
        traceback.print_exception(type(e), e, e.__traceback__)


def tests_in(mod):
    """Names of the tests in a module, sorted (MicroPython's dir() has no definition order)."""
    return sorted(n for n in dir(mod) if n.startswith("test_"))


def run(modules, pattern=None):
    """Run the tests of the named modules whose module.name contains pattern (or equals
    it, for "=module.name"); print one @@DT line per event. Returns the failures."""
    passed = failed = skipped = 0
    for name in modules:
        try:
            mod = __import__(name)
        except Exception as e:
            print("@@DT FAIL %s import %s: %s" % (name, type(e).__name__, e))
            _print_exc(e)
            failed += 1
            continue
        for t in tests_in(mod):
            full = name + "." + t
            if pattern and (full != pattern[1:] if pattern[0] == "=" else pattern not in full):
                continue
            gc.collect()
            print("@@DT RUN", full)
            t0 = _ticks_ms()
            try:
                getattr(mod, t)()
            except Skip as e:
                print("@@DT SKIP %s %s" % (full, e))
                skipped += 1
            except Exception as e:
                _print_exc(e)
                msg = ("%s: %s" % (type(e).__name__, e)).replace("\n", " ")
                print("@@DT FAIL %s %s" % (full, msg[:300]))
                failed += 1
            else:
                print("@@DT PASS %s %d" % (full, _diff_ms(_ticks_ms(), t0)))
                passed += 1
        del mod
        sys.modules.pop(name, None)
        gc.collect()
    print("@@DT END %d %d %d" % (passed, failed, skipped))
    return failed


def main(argv):
    """micropython devharness.py [--model P] [--big-model P] [-k PATTERN] MODULE..."""
    mods = []
    pattern = None
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--model", "--big-model", "--board", "--ctx", "-k"):
            v = argv[i + 1]
            i += 2
            if a == "-k":
                pattern = v
            else:
                config[a[2:].replace("-", "_")] = int(v) if a == "--ctx" else v
            continue
        mods.append(a)
        i += 1
    return run(mods, pattern)


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
