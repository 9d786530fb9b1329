# On-device tests with a model larger than the free heap: weights stream from the
# filesystem, generation still works, and a decode step still allocates nothing.

import gc

import devharness as H


def _free():
    gc.collect()
    return gc.mem_free() if H.MICRO else None


def test_big_model_streams_and_generates():
    import nanollm
    p = H.big_model_path()
    size = H.file_size(p)
    free = _free()
    m = H.load_fitting(p)
    try:
        pl = m.plan
        if free is not None:
            print("model %d bytes, free heap %d (%.1fx), streamed %d, resident %d"
                  % (size, free, size / free, pl["weights_streamed"], pl["weights_resident"]))
            assert size > free, "the big model (%d bytes) fits the heap (%d)" % (size, free)
            assert pl["weights_streamed"] > 0
        text = m.generate("A", max_new_tokens=3, temperature=0, seed=1)
        assert isinstance(text, str)
        if H.MICRO:
            import micropython
            m.forward(2, 4)
            gc.collect()
            before = gc.mem_alloc()
            micropython.heap_lock()
            try:
                m.forward(3, 5)
            finally:
                micropython.heap_unlock()
            assert gc.mem_alloc() == before
    finally:
        m.close()
        nanollm._default = None
        gc.collect()


def test_big_model_without_streaming_is_refused():
    import nanollm
    p = H.big_model_path()
    if not H.MICRO:
        # no heap limit on CPython: check the formula against a heap half the file's size
        from nanollm import plan
        m = nanollm.load(p, stream=True)
        try:
            weights = m.weight_tensors()
            mats = [weights[n] for n in m.plan["resident"]] or list(weights.values())
            pl = plan.plan_model(m.shape(), mats, True, m.n_ctx, stream=False, free=H.file_size(p) // 2)
            try:
                plan.check_fits(pl, p)
            except nanollm.NanoLLMError as e:
                assert "does not fit" in str(e)
            else:
                raise AssertionError("accepted")
        finally:
            m.close()
            nanollm._default = None
        return
    try:
        nanollm.load(p, stream=False)
    except nanollm.NanoLLMError as e:
        assert "does not fit" in str(e), e
    else:
        raise AssertionError("a model larger than the heap loaded without streaming")
    finally:
        nanollm._default = None
        gc.collect()
