# Generation's record on the model (stop_reason, last_text, token counts, times) under
# MicroPython, for the cases of tests/test_generation.py.
#   micropython generate_stats.py MODEL
# Prints one line per case: NAME <json [stop_reason, returned text or None, last_text,
# n_prompt_tokens, n_new_tokens, prompt_ms >= 0 and gen_ms >= 0]>.
import json
import sys

import nanollm

m = nanollm.load(sys.argv[1], ctx=16)


def report(name, text):
    print(name, json.dumps([m.stop_reason, text, m.last_text, m.n_prompt_tokens, m.n_new_tokens,
                            m.prompt_ms >= 0 and m.gen_ms >= 0]))


report("max_new_tokens", m.generate("KING", max_new_tokens=5, temperature=0))
report("context_full", m.generate("KING", max_new_tokens=500, temperature=0))
seen = []


def stop_at_third(piece):
    seen.append(piece)
    if len(seen) == 3:
        raise KeyboardInterrupt  # what Ctrl-C raises, at a known point


try:
    m.generate("KING", max_new_tokens=10, temperature=0, callback=stop_at_third)
    report("interrupted", "NOT INTERRUPTED")
except KeyboardInterrupt:
    report("interrupted", None)
greedy = m.generate("KING", max_new_tokens=5, temperature=0)
m.eos_id = m.tokenize("KING" + greedy)[3]  # the third generated token now ends the text
report("eos", m.generate("KING", max_new_tokens=5, temperature=0))
