# The tokenizer on random text and random id sequences made and encoded by CPython.
#   micropython tokenizer_random_check.py DIR
# DIR holds tokens.lp, merges.lp, types.lp (the vocabulary), cases.lp (text, CPython's ids)
# and ids.lp (ids, CPython's "replace"-decoded text); tokenizer_lpfile.py describes the format.
# Prints "CASES <n>", "IDS <n>", and a "FAIL ..." line for each disagreement (also when bad
# arguments do not raise NanoLLMError).
# Run by tests/test_fuzz_tokenizer.py (test_micropython_random_text_and_ids).
import sys

from tokenizer_lpfile import LPFile, check_cases, unpack_ids
from nanollm.tokenizer import Tokenizer
from nanollm.errors import NanoLLMError

d = sys.argv[1]
tok = Tokenizer(LPFile(d + "/tokens.lp"), LPFile(d + "/merges.lp"), next(iter(LPFile(d + "/types.lp"))))
n, fails = check_cases(tok, d + "/cases.lp")
print("CASES", n)
for f in fails[:10]:
    print("FAIL", f)
k = 0
it = iter(LPFile(d + "/ids.lp"))
for raw in it:
    want = next(it).decode()
    ids = unpack_ids(raw)
    got = tok.decode(ids)
    dec = tok.stream_decoder()
    st = "".join([dec.feed(i) for i in ids]) + dec.flush()
    if got != want or st != want:
        print("FAIL ids", ids, repr(got), repr(st), repr(want))
    k += 1
print("IDS", k)
for bad in ((lambda: tok.encode(b"x")), (lambda: tok.decode([len(tok)]))):
    try:
        bad()
        print("FAIL no error")
    except NanoLLMError:
        pass
