# The tokenizer built from a vocabulary streamed from files: memory kept, build time, one
# pass over each file, the test strings' ids, encoding speed, the streaming decoder.
#   micropython tokenizer_build_check.py DIR TYPES EOT PROMPT
# DIR holds tokens.lp, merges.lp, cases.lp (and types.lp when TYPES is 1); tokenizer_lpfile.py
# describes the format. EOT: the id of <|endoftext|>; PROMPT: a text to time encode() on.
# Prints "MEM <bytes kept>", "BUILD_MS", "RANDOM_READS <n> PASSES <tokens> <merges>",
# "CASES <n>", "ENCODE_US", "STREAM_BAD <n>", "EOT <repr of its text>" and "FAIL ..." lines.
# Run by tests/test_tokenizer.py (test_micropython_gpt2, test_micropython_small_vocab).
import gc
import sys
import time

from tokenizer_lpfile import LPFile, check_cases
from nanollm.tokenizer import Tokenizer
# the tables' build code is imported on a tokenizer's first build (and dropped by a model's
# load): imported here, its code is not counted as what the tokenizer keeps
import nanollm.tokenizer_tables  # noqa: F401,E402

d, with_types, eot, prompt = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
T = LPFile(d + "/tokens.lp")
M = LPFile(d + "/merges.lp")
types = None
if with_types:
    types = next(iter(LPFile(d + "/types.lp")))
gc.collect()
m0 = gc.mem_alloc()
t0 = time.ticks_ms()
tok = Tokenizer(T, M, types)
t1 = time.ticks_ms()
gc.collect()
print("MEM", gc.mem_alloc() - m0)
print("BUILD_MS", time.ticks_diff(t1, t0))
print("RANDOM_READS", T.random_reads + M.random_reads, "PASSES", T.passes, M.passes)
n, fails = check_cases(tok, d + "/cases.lp")
print("CASES", n)
for f in fails[:20]:
    print("FAIL", f)
t0 = time.ticks_us()
for _ in range(5):
    ids = tok.encode(prompt)
print("ENCODE_US", time.ticks_diff(time.ticks_us(), t0) // 5)
# streaming decode of random ids never raises and equals decode()
import random  # noqa: E402

random.seed(3)
bad = 0
for _ in range(200):
    ids = [random.getrandbits(30) % len(tok) for _ in range(random.getrandbits(4))]
    dec = tok.stream_decoder()
    s = "".join([dec.feed(i) for i in ids]) + dec.flush()
    if s != tok.decode(ids):
        bad += 1
print("STREAM_BAD", bad)
print("EOT", repr(tok.decode([eot])))
