# Out of memory in generate(): the caller has taken the heap the plan left as headroom.
#   micropython -X heapsize=400k oom_generate.py
# Prints "ERR <message>" (NanoLLMError), "BARE <message>" (a bare MemoryError) or "NO ERROR".
# Run by tests/test_fit.py.
import nanollm

m = nanollm.load()
hog = []
try:
    while True:
        hog.append(bytearray(1024))
except MemoryError:
    pass
# the heap is full: a prompt well inside the context, so only memory can stop it
try:
    m.generate("Once upon a time " * 4, max_new_tokens=50, seed=1)
    print("NO ERROR")
except nanollm.NanoLLMError as e:
    print("ERR", e)
except MemoryError as e:
    print("BARE", e)
