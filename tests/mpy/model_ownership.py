# Each Model owns its file: a second load leaves the first usable; close() and `with`.
#   micropython model_ownership.py MODEL_A MODEL_B
# Prints "A <text>", "B <text>", "A_AGAIN <text>" (the first model after the second
# loaded: the same text), "CLOSED <message of forward() after close()>", "WITH <ctx>
# <closed after the with block>", "GEN_CTX <ctx of the default model after
# nanollm.generate(ctx=16)>" and "GEN_STREAM <stream setting after nanollm.generate(stream=True)>".
# Run by tests/test_fit.py.
import sys

import nanollm

a = nanollm.load(sys.argv[1])
ta = a.generate("Once", max_new_tokens=8, temperature=0)
print("A", repr(ta))
b = nanollm.load(sys.argv[2])
print("B", repr(b.generate("Once", max_new_tokens=8, temperature=0)))
print("A_AGAIN", repr(a.generate("Once", max_new_tokens=8, temperature=0)))
a.close()
try:
    a.forward(0, 0)
    print("CLOSED no error")
except nanollm.NanoLLMError as e:
    print("CLOSED", e)
with nanollm.Model(sys.argv[1]) as m:
    c = m.ctx
print("WITH", c, m.arena is None and m.gf is None)
nanollm.generate("Once", max_new_tokens=4, ctx=16)
print("GEN_CTX", nanollm._default.ctx)
nanollm.generate("Once", max_new_tokens=4, stream=True)
print("GEN_STREAM", nanollm._default.stream, nanollm._default.plan["weights_resident"])
