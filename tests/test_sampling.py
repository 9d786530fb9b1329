"""The sampler (lib/nanollm/sampling.py) against a plain statement of the same integer rules.

Sampler.sample only looks at the top-k candidates after choosing them (that is what makes it
fast enough for the browser); the statement below weighs every token, searches the top-p
threshold over all of them and draws in token order, as the rules say. Both share the
generator and the exp table, so they must pick the same token every time.
"""
import copy
import random
from array import array

import pytest

from testutil import run_micropython_file  # (importing testutil puts lib/ on sys.path)
from nanollm import kernels_py, sampling
from nanollm.errors import NanoLLMError


def weight(s, diff):
    """A candidate's weight for a logit gap (Q16): what weights_q gives it."""
    if diff >= s.cutoff:
        return 0
    return kernels_py.exp_neg_q12(((diff >> 4) * s.inv_t_q10) >> 10) >> s.p_shift


def plain_sample(s, logits):
    """What Sampler.sample computes, written for clarity and not for speed."""
    n = s.n_vocab
    q = [int(v * s.to_q16) if s.to_q16 is not None else v for v in logits]
    best = max(range(n), key=lambda i: (q[i], -i))  # the first of the largest
    if s.greedy:
        return best
    if s.top_k:
        # the k largest; among equal values the lower index is kept
        order = sorted(range(n), key=lambda i: (-q[i], i))
        cand = set(order[:s.top_k])
    else:
        cand = set(range(n))
    p = [weight(s, q[best] - q[i]) if i in cand else 0 for i in range(n)]
    total = sum(p)
    if s.top_p_q16 < 65536:
        want = (total >> 16) * s.top_p_q16 + (((total & 65535) * s.top_p_q16) >> 16)
        lo = _largest_threshold(p, want, p[best])
        p = [w if w >= lo else 0 for w in p]
        total = sum(p)
    r = s.rng.next30() % total
    for i in range(n):
        r -= p[i]
        if r < 0:
            return i
    return best


def _largest_threshold(p, want, hi):
    """The largest t in 1..hi whose kept mass (weights >= t) still reaches want; the mass
    falls as t grows, so bisection finds it."""
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) >> 1
        if sum(w for w in p if w >= mid) >= want:
            lo = mid
        else:
            hi = mid - 1
    return lo


CASES = [(n, t, k, tp) for n in (1, 7, 64, 512) for t in (0, 0.4, 0.8, 2.0)
         for k in (0, 1, 5, 40, 1000) for tp in (1.0, 0.95, 0.3)]


@pytest.mark.parametrize("n,temperature,top_k,top_p", CASES)
def test_sampler_matches_the_plain_statement(n, temperature, top_k, top_p):
    rnd = random.Random(n * 7919 + top_k * 31 + int(temperature * 100) + int(top_p * 1000))
    for float_path in (False, True):
        seed = rnd.randrange(1 << 30)
        scale = 1.0 if float_path else 1.0 / 65536
        fast = sampling.Sampler(n, scale, temperature, top_k, top_p, seed)
        ref = sampling.Sampler(n, scale, temperature, top_k, top_p, seed)
        for step in range(6):
            spread = rnd.choice((3, 1000, 65536, 65536 * 30))
            vals = [rnd.randrange(-spread, spread + 1) for _ in range(n)]
            if step % 2:  # many ties
                vals = [v // 500 * 500 for v in vals]
            logits = [v / 65536 for v in vals] if float_path else array("i", vals)
            assert fast.sample(logits) == plain_sample(ref, logits), (step, float_path)


def test_a_nan_logit_is_an_error_and_the_sampler_goes_on():
    s = sampling.Sampler(8, 1.0, 0.8, 3, 0.9, 1)
    good = [0.5, -1.0, 2.0, 0.25, 1.5, -0.5, 0.0, 1.0]
    for i in range(3):
        ref = copy.deepcopy(s)
        assert s.sample(good) == plain_sample(ref, good)
        with pytest.raises(NanoLLMError, match="NaN or infinite"):
            s.sample(good[:i] + [float("nan")] + good[i + 1:])


def test_sampling_allocates_nothing_on_micropython():
    # the integer path samples under heap_lock: nothing is allocated per token
    out = run_micropython_file("sampler_heap_lock.py")

    lines = out.strip().splitlines()
    assert len(lines) == 4 and all(line.endswith(" ok") for line in lines), out


def test_weights_never_rise_as_the_logit_gap_grows():
    # Sampler._top_p_sorted relies on it: candidates in falling logit order have weights
    # that do not rise. Checked over the whole domain of the exp table.
    prev = kernels_py.exp_neg_q12(0)
    assert prev == 65536
    for u in range(1, 40 * 4096 + 1):
        v = kernels_py.exp_neg_q12(u)
        assert v <= prev, u
        prev = v
    s = sampling.Sampler(50000, 1 / 65536, 0.7, 40, 0.9, 1)
    ws = [weight(s, d) for d in range(0, s.cutoff + 5000, 37)]
    assert all(a >= b for a, b in zip(ws, ws[1:])) and ws[-1] == 0
