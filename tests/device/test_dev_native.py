# On-device tests of the native kernels against viper: the backend the runtime picked (when
# the harness says which to expect), whole-model logits of one model per block type,
# bit for bit, and a native module for another architecture or MicroPython refused with a
# message naming both, with viper taking over. Same file on CPython (pytest), the unix
# micropython and a board (host_tools/harness/devtest.py --quant-models --expect-backend).

import gc

import devharness as H

# tokens fed at positions 0, 1, 2: the logits of every step are compared
_TOKENS = (1, 7, 3)


def _need_native():
    from nanollm import kernels
    if H.MICRO and H.config.get("backend") == "native":
        assert "native" in kernels.available(), "no native backend: %s" % kernels.backend_note()
    if "native" not in kernels.available() or "viper" not in kernels.available():
        H.skip("needs both the native and the viper kernels (have %s)" % ", ".join(kernels.available()))


def test_kernels_picked_are_the_expected_ones():
    import nanollm
    from nanollm import kernels
    want = H.config.get("backend")
    if not want:
        H.skip("the harness expects no particular backend")
    got = nanollm.backend()
    print("backend", got, kernels.backend_note())
    assert got == want, "backend %s, expected %s: %s" % (got, want, kernels.backend_note())


def _logits(path):
    """{backend: [logits bytes at each position]} for native then viper on one loaded model
    (one load per model: a small heap with both kernel sets fragments under repeated loads).
    Each pass rewrites the KV cache from position 0, so both see the same state."""
    import nanollm
    from nanollm import kernels
    # weights streamed: the viper kernels compiled beside the native ones leave a heap too
    # fragmented for resident matrices on a small board; the kernels are what is compared
    m = nanollm.load(path, ctx=len(_TOKENS), stream=True)
    out = {}
    try:
        for backend in ("native", "viper"):
            old = kernels.use(backend)
            try:
                # a copy of each: the logits buffer is reused
                out[backend] = [bytes(m.forward(tok, pos)) for pos, tok in enumerate(_TOKENS)]
            finally:
                kernels.use(old)
        return out
    finally:
        m.close()
        nanollm._default = None
        gc.collect()


def test_logits_native_equal_viper_every_block_type():
    paths = H.config.get("quant_models") or []
    if not paths:
        H.skip("no per-block-type models configured")
    _need_native()
    for path in paths:
        got = _logits(path)
        a, b = got["native"], got["viper"]
        for pos in range(len(_TOKENS)):
            assert a[pos] == b[pos], "%s: native and viper logits differ at position %d" % (path, pos)
        print("%s: %d positions x %d logits bit-identical" % (path.rsplit("/", 1)[-1], len(a), len(a[0]) // 4))


def _refusal_for(header):
    """Import a copy of the loaded native module whose header says `header` (4 bytes) under
    another name; returns the loader's error and nanollm's explanation of it."""
    import os
    import sys
    from nanollm import kernels
    src = kernels._native.__file__
    d = "nanollm_bad"  # beside the tests' working directory
    try:
        os.mkdir(d)
    except OSError:
        pass
    with open(src, "rb") as f:
        data = bytearray(f.read())
    data[0:4] = header
    with open(d + "/nanollm_native.mpy", "wb") as f:
        f.write(data)
    del data
    gc.collect()
    sys.path.insert(0, d)
    name = "nanollm_native"
    saved = sys.modules.pop(name, None)
    try:
        __import__(name)
    except (ValueError, ImportError) as e:
        from nanollm import kernels_why
        return str(e), kernels_why.refusal(e)
    else:
        raise AssertionError("a .mpy with header %r was loaded" % bytes(header))
    finally:
        sys.path.pop(0)
        sys.modules.pop(name, None)
        if saved is not None:
            sys.modules[name] = saved
        os.remove(d + "/nanollm_native.mpy")
        os.rmdir(d)


def _native_file():
    from nanollm import kernels
    if kernels._native is None or not hasattr(kernels._native, "__file__"):
        H.skip("the native module is not a .mpy file here")


def test_native_module_for_another_arch_is_refused():
    _native_file()
    import sys
    from nanollm import kernels_why
    here = (sys.implementation._mpy >> 10) & 15
    other = 11 if here != 11 else 4  # rv32imc, or armv6m on the RISC-V board
    err, note = _refusal_for(bytes([77, 6, (other << 2) | 3, 31]))
    print(note)
    assert "incompatible .mpy arch" in err, err
    assert "is for %s, .mpy 6.3" % kernels_why.ARCHS[other] in note, note
    assert "takes " in note and kernels_why.ARCHS[here] in note.split("takes ", 1)[1], note


def test_native_module_for_another_micropython_is_refused():
    _native_file()
    import sys
    from nanollm import kernels_why
    here = (sys.implementation._mpy >> 10) & 15
    err, note = _refusal_for(bytes([77, 6, (here << 2) | 2, 31]))  # sub-version 2: MicroPython 1.22
    print(note)
    assert "incompatible .mpy file" in err, err
    assert "is for %s, .mpy 6.2" % kernels_why.ARCHS[here] in note and ".mpy 6.3" in note.split("takes ", 1)[1], note
