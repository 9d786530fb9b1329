# On the emulated Cortex-M0 booted with a ROMFS image (make romfs): where nanollm was
# imported from and what the import cost, then the default model loaded in place from
# /rom and the same file streamed from the LittleFS filesystem (/model.gguf): placement,
# heap the load kept, logits of a few tokens, and a heap-locked decode step in place; the
# tokenizer's character classes read in place from the image.
# Run by tests/test_romfs_board.py (sent to the board, not run by the unix port).
import gc
gc.collect()
_a = gc.mem_alloc()
import nanollm
gc.collect()
print("IMPORT", gc.mem_alloc() - _a, nanollm.__file__, nanollm.backend())
import micropython
from nanollm import tokenizer

# the classes of characters above ASCII, read in place from /rom (no buffer, no copy)
print("CLASSES", tokenizer._class_of(0xE9), tokenizer._class_of(0x2014), tokenizer._class_of(0xBD),
      tokenizer._runs.view is not None and tokenizer._runs.f is not None)
tokenizer._close_runs()


def steps(m):
    for pos in range(3, 6):
        m.forward(pos + 7, pos)


for path, stream in ((None, None), ("/model.gguf", True)):
    nanollm._default = None
    gc.collect()
    a = gc.mem_alloc()
    m = nanollm.load(path, ctx=16, stream=stream)
    gc.collect()
    print("LOAD", m.path, m.plan["placement"].replace(" ", "_"), m.plan["weights_in_place"], gc.mem_alloc() - a)
    for pos, t in enumerate((5, 9, 2)):
        print("LOGITS", m.path, sum((i + 1) * v for i, v in enumerate(m.forward(t, pos))))
    gc.collect()
    a = gc.mem_alloc()
    micropython.heap_lock()
    try:
        steps(m)
    finally:
        micropython.heap_unlock()
    print("LOCKED", m.path, gc.mem_alloc() - a)
    if stream is None:
        print("TEXT", repr(m.generate("ROMEO:", max_new_tokens=6, temperature=0)))
    m.close()  # its run state goes back to the heap before the next load
    m = None
