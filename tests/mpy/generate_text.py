# Generations from one loaded model, in one process (as the browser page makes them).
#   micropython generate_text.py MODEL JOBS.json
# JOBS.json: a list of [prompt, {generate() keyword arguments}].
# Prints one line per job: repr() of the generated text; then "N_CTX <the model's context>".
# Run by tests/test_runtime.py (seeded sampling, the same on both interpreters) and
# tests/test_web.py (the unix port's text for the prompts the page is given).
import json
import sys

import nanollm

m = nanollm.load(sys.argv[1])
with open(sys.argv[2]) as f:
    jobs = json.load(f)
for prompt, kw in jobs:
    print(repr(m.generate(prompt, **kw)))
print("N_CTX", m.n_ctx)
