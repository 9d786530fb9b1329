"""Fuzzing the GGUF model reader (host_tools/harness/fuzz.py): thousands of mutants of valid model
files on CPython and under the real MicroPython. Each mutant loads and runs a forward step,
or fails with NanoLLMError and a one-line message; nothing else, no hang, no allocation the
file cannot justify, no read outside a tensor's bytes. Plus the named bad inputs that
docs/errors.md lists, each with the message it must get, on both interpreters."""
import os
import re
import time

import pytest

from testutil import FIXTURES, LIB, micropython_path, run_micropython_file

from harness import fuzz
import nanollm

CPYTHON_CASES = 10000
MICROPYTHON_CASES = 1000


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz_bases")
    return fuzz.make_base_models(str(d), FIXTURES)


def _report(s):
    return "%d failures, first ones:\n%s" % (len(s["failures"]), "\n".join(s["failures"][:15]))


def test_fuzz_cpython(bases, tmp_path):
    t0 = time.time()
    s = fuzz.fuzz_cpython(bases, CPYTHON_CASES, seed=20261128, workdir=str(tmp_path))
    print("CPython: %d cases in %.1f s: %d load and run, %d NanoLLMError, %d traced for memory, "
          "slowest %.2f s, peak %d bytes, %d kinds of message"
          % (s["cases"], time.time() - t0, s["ok"], s["err"], s["traced"], s["max_seconds"], s["max_peak"],
             len(s["messages"])))
    assert not s["failures"], _report(s)
    assert s["cases"] == CPYTHON_CASES
    # the mix is meaningful: most mutants are rejected, some still load, many kinds of error
    assert s["ok"] >= CPYTHON_CASES // 50 and s["err"] >= CPYTHON_CASES // 2
    assert len(s["messages"]) >= 40
    assert s["traced"] >= CPYTHON_CASES // 10


def test_fuzz_micropython(bases, tmp_path):
    t0 = time.time()
    s = fuzz.fuzz_micropython(bases, MICROPYTHON_CASES, seed=4242, workdir=str(tmp_path),
                              micropython=micropython_path(), lib_dir=LIB, heapsize="2M", batch=500)
    print("MicroPython: %d cases in %.1f s: %d load and run, %d NanoLLMError, slowest %.2f s"
          % (s["cases"], time.time() - t0, s["ok"], s["err"], s["max_seconds"]))
    assert not s["failures"], _report(s)
    assert s["cases"] == MICROPYTHON_CASES
    assert s["ok"] >= MICROPYTHON_CASES // 50 and s["err"] >= MICROPYTHON_CASES // 2


# ------------------------------------------------------------------ the harness itself

def test_guard_catches_hang_allocation_and_stray_exception(bases, tmp_path, monkeypatch):
    """The checks would fail a case: a hang, a big allocation, an exception of another type."""
    good = bases[0][1]
    size = os.path.getsize(good)
    with fuzz.Guard(time_limit=3, trace_every=1) as g:
        def spin(p):
            while True:
                pass
        monkeypatch.setattr(fuzz, "load_and_step", spin)
        st, text, _, _ = g.run(good, size)
        assert st == fuzz.BAD and text.startswith("HANG"), text
        monkeypatch.setattr(fuzz, "load_and_step", lambda p: len(bytearray(64 << 20)))
        st, text, _, _ = g.run(good, size)
        assert st == fuzz.BAD and "allocated" in text, text
        monkeypatch.setattr(fuzz, "load_and_step", lambda p: {}["x"])
        st, text, _, _ = g.run(good, size)
        assert st == fuzz.BAD and text.startswith("KeyError"), text
        monkeypatch.undo()
        st, text, _, _ = g.run(good, size)
        assert st == fuzz.OK, text


def test_mutants_are_deterministic_and_varied(bases):
    a = [(d, len(b)) for _, _, d, b in fuzz.generate_cases(bases, 300, seed=9)]
    b = [(d, len(b)) for _, _, d, b in fuzz.generate_cases(bases, 300, seed=9)]
    assert a == b
    kinds = {re.sub(r"[\d\[\], ]+", " ", d).split(" =")[0].split(" at")[0] for d, _ in a}
    assert len(kinds) >= 30


# ------------------------------------------------------------------ named bad inputs

@pytest.fixture(scope="module")
def micro_layout(tmp_path_factory):
    d = tmp_path_factory.mktemp("named")
    p = fuzz.make_micro_model(str(d), FIXTURES, ("q8_0",))["q8_0"]
    return fuzz.Layout(open(p, "rb").read())


def _write_named(layout, d):
    paths = []
    for i, (title, make, pat) in enumerate(fuzz.NAMED):
        p = os.path.join(str(d), "named%02d" % i, "model.gguf")
        os.makedirs(os.path.dirname(p))
        with open(p, "wb") as f:
            f.write(make(layout))
        paths.append(p)
    return paths


def test_named_bad_files_cpython(micro_layout, tmp_path):
    paths = _write_named(micro_layout, tmp_path)
    for (title, _, pat), p in zip(fuzz.NAMED, paths):
        st, text = fuzz.run_case(p)
        assert st == fuzz.ERR and re.search(pat, text), (title, st, text)
    # after all of them the library still loads a good model
    good = tmp_path / "good.gguf"
    good.write_bytes(micro_layout.data)
    assert fuzz.run_case(str(good))[0] == fuzz.OK
    nanollm._default = None


def test_named_bad_files_micropython_same_messages(micro_layout, tmp_path):
    paths = _write_named(micro_layout, tmp_path)
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(paths) + "\n")
    good = tmp_path / "good.gguf"
    good.write_bytes(micro_layout.data)
    # fuzz.py is its own MicroPython batch runner: `micropython fuzz.py run LIST GOOD`
    out = run_micropython_file(fuzz.__file__, ["run", str(lst), str(good)], heapsize="2M")
    res = {}
    for ln in out.splitlines():
        parts = ln.split(" ", 4)
        if parts[0] == "RES":
            res[int(parts[1])] = (parts[2], parts[4])
        if parts[0] == "GOOD":
            assert parts[2] == fuzz.OK, ln
    assert len(res) == len(fuzz.NAMED)
    for i, (title, _, pat) in enumerate(fuzz.NAMED):
        st, text = res[i]
        assert st == fuzz.ERR and re.search(pat, text), (title, st, text)
        cst, ctext = fuzz.run_case(paths[i])
        assert text == ctext, (title, text, ctext)  # the same words on both interpreters
    nanollm._default = None
