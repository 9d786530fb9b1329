# On-device tests of the default-size model: generation, no allocation per decode step,
# the memory plan against the measured heap. Same file on CPython (pytest), the unix
# micropython and a board (host_tools/harness/devtest.py).

import gc

import devharness as H


def _load(**kw):
    return H.load_fitting(H.model_path(), **kw)


def _unload(m):
    import nanollm
    m.close()
    nanollm._default = None
    gc.collect()


def test_backend():
    import nanollm
    from nanollm import kernels
    b = nanollm.backend()
    assert b in kernels.available(), (b, kernels.available())
    if H.MICRO:
        # every MicroPython we target has viper (or the native module)
        assert b in ("native", "viper"), "backend %s: %s" % (b, kernels.backend_note())
    print("backend", b, kernels.backend_note())


def test_generate_greedy_is_deterministic():
    m = _load()
    try:
        assert m.mode == "int", m.mode
        a = m.generate("The ", max_new_tokens=8, temperature=0, seed=1)
        b = m.generate("The ", max_new_tokens=8, temperature=0, seed=1)
        assert a == b, (a, b)
        assert len(m.tokenize(a)) >= 1, repr(a)
        print("greedy:", repr(a))
    finally:
        _unload(m)


def test_non_ascii_text_classes_read_from_the_package():
    # the classes of characters above ASCII are read from unicode_ranges.bin where it lies
    # (LittleFS: 3 bytes at a time; ROMFS: in place), open only while an encode() runs
    from nanollm import tokenizer
    s = "na\u00efve caf\u00e9 12\u00bd \u2014 ok"
    assert list(tokenizer.pieces(s.encode())) == [(0, 6), (6, 12), (12, 17), (17, 21), (21, 24)]
    tokenizer._close_runs()
    m = _load()
    try:
        ids = m.tokenize(s)
        assert tokenizer._runs is None
        assert m.detokenize(ids) == s, (ids, m.detokenize(ids))
    finally:
        _unload(m)


def test_generate_sampled_with_callback():
    m = _load()
    try:
        pieces = []
        c = m.generate("Once", max_new_tokens=6, temperature=0.8, top_k=20, seed=7, callback=pieces.append)
        assert "".join(pieces) == c
        assert c == m.generate("Once", max_new_tokens=6, temperature=0.8, top_k=20, seed=7)
        print("sampled:", repr(c))
    finally:
        _unload(m)


def test_decode_step_heap_locked():
    m = _load()
    try:
        m.forward(1, 0)
        if H.MICRO:
            import micropython
            gc.collect()
            before = gc.mem_alloc()
            micropython.heap_lock()
            try:
                for pos in range(1, 4):
                    lg = m.forward(pos + 2, pos)
            finally:
                micropython.heap_unlock()
            assert gc.mem_alloc() == before, (gc.mem_alloc(), before)
        else:
            import sys
            gc.collect()
            blocks = sys.getallocatedblocks()
            for pos in range(1, 4):
                lg = m.forward(pos + 2, pos)
            del pos
            gc.collect()
            assert sys.getallocatedblocks() - blocks <= 2, sys.getallocatedblocks() - blocks
        assert lg is m.logits  # the logits buffer is reused, not rebuilt
    finally:
        _unload(m)


def test_plan_matches_measured_heap():
    # import everything first: the plan counts the model's buffers, not the code
    import nanollm
    from nanollm import model, tokenizer, plan, gguf, generation, sampling  # noqa: F401
    p = H.model_path()
    if H.MICRO:
        _unload(_load())  # what a first load makes once (the interpreter's, the filesystem's)
        gc.collect()
        a0 = gc.mem_alloc()
        # the context it picks now (the first load's leftovers may leave less in one piece)
        m = nanollm.load(p)
        gc.collect()
        used = gc.mem_alloc() - a0
        peak = m.plan["peak"]
        print("plan peak", peak, "measured", used, "ratio %d%%" % (100 * peak // used))
        _unload(m)
        assert abs(peak - used) <= used // 10, (peak, used)
    else:
        m = nanollm.load(p)
        pl = m.plan
        parts = (pl["kv_cache"] + pl["activations"] + pl["logits"] + pl["sampler"] + pl["vectors"] + pl["objects"]
                 + pl["weights_resident"] + pl["stream_buffer"])
        assert parts == pl["peak"], (parts, pl["peak"])
        _unload(m)


def test_not_enough_memory_is_one_clear_error():
    import nanollm
    from nanollm import plan
    from nanollm.gguf import GGUFFile
    gf = GGUFFile(H.model_path())
    try:
        kv = gf.kv
        shape = {"n_vocab": gf.tensors["token_embd.weight"].shape[1], "n_embd": kv["gpt2.embedding_length"],
                 "n_ff": kv["gpt2.feed_forward_length"], "n_layer": kv["gpt2.block_count"],
                 "n_head": kv["gpt2.attention.head_count"], "n_ctx": kv["gpt2.context_length"],
                 "n_merges": len(kv["tokenizer.ggml.merges"]), "n_tensors": len(gf.tensors)}
        mats = [t for n, t in gf.tensors.items() if n.endswith("weight") and len(t.shape) == 2]
        pl = plan.plan_model(shape, mats, True, shape["n_ctx"], stream=False, free=20000)
        try:
            plan.check_fits(pl, "x.gguf")
        except nanollm.NanoLLMError as e:
            assert "does not fit" in str(e), e
        else:
            raise AssertionError("a 20000-byte heap was accepted")
    finally:
        gf.close()
