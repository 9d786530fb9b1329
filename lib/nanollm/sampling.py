# Choosing the next token from the logits with integers only: greedy, temperature,
# top-k and top-p, driven by a seeded generator, so a seed gives the same text on
# CPython, the unix port, a board and the browser, and nothing is allocated per token.
# The scans over the whole vocabulary (argmax, top-k, weights, top-p, the draw) are
# kernels (kernels_py.argmax_q ...): C or viper where there are, as fast as the forward's.

from .errors import NanoLLMError
from .kernels import K

try:
    from array import array
except ImportError:  # pragma: no cover
    from uarray import array

_MASK30 = (1 << 30) - 1


class Random:
    """Additive lagged-Fibonacci generator, x[n] = x[n-24] + x[n-55] mod 2**30.

    Only additions of 30-bit numbers: no big integers on 32-bit ports.
    """

    def __init__(self, seed, state=None):
        s = seed & 0xFFFFFFFF
        # state: 55 ints to use (the model's run state gives them), else its own
        self.state = array("i", bytes(4 * 55)) if state is None else state
        for i in range(55):  # fill with a splitmix-like scramble of the seed (load time only)
            s = (s * 1103515245 + 12345 + i) & 0xFFFFFFFF
            self.state[i] = (s >> 2) & _MASK30
        self.state[0] |= 1
        self.j = 24
        self.k = 0
        for _ in range(200):
            self.next30()

    def next30(self):
        st = self.state
        v = (st[self.j] + st[self.k]) & _MASK30
        st[self.k] = v
        self.j = self.j + 1 if self.j < 54 else 0
        self.k = self.k + 1 if self.k < 54 else 0
        return v


def _fresh_seed():
    """A seed that differs between runs: the clock where there is one (some ports have no time)."""
    try:
        import time
    except ImportError:
        import gc
        return gc.mem_free() * 2654435761 & 0x3FFFFFFF
    if hasattr(time, "ticks_us"):
        return time.ticks_us()
    return int(time.time() * 1e6)


class Sampler:
    """Settings checked once; sample(logits) per token."""

    def __init__(self, n_vocab, logit_scale, temperature=0.7, top_k=40, top_p=0.9, seed=None, bufs=None):
        """bufs: the buffers to work in, a dict with "sp", "stop", "sw", "srng" (and "sq16"
        for float logits) of n_vocab, n_vocab, n_vocab, 55 (n_vocab) ints: a loaded model's run state
        holds them (gpt2.sampler_buffers), so sampling allocates nothing the memory plan
        did not count. None: the sampler allocates its own."""
        if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 100:  # NaN fails too
            raise NanoLLMError("temperature=%r: must be between 0 and 100 (0 means greedy)" % (temperature,))
        if not isinstance(top_k, int) or top_k < 0:
            raise NanoLLMError("top_k=%r: must be an integer >= 0 (0 means no top-k limit)" % (top_k,))
        if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
            raise NanoLLMError("top_p=%r: must be in (0, 1]" % (top_p,))
        if seed is not None and not isinstance(seed, int):
            raise NanoLLMError("seed=%r: must be an integer or None" % (seed,))
        self.n_vocab = n_vocab
        self.greedy = temperature == 0
        self.top_k = min(top_k, n_vocab)
        # top-p as a fraction of 2**16
        self.top_p_q16 = int(top_p * 65536 + 0.5)
        if seed is None:
            seed = _fresh_seed()
        self.rng = Random(seed, bufs["srng"] if bufs else None)
        # logits in Q16 units: the float path's are converted into q16 first (the kernels
        # take integers; float logits allocate on MicroPython anyway)
        self.to_q16 = None if logit_scale == 1.0 / 65536 else 65536.0 * logit_scale
        self.q16 = None
        if self.to_q16 is not None:
            self.q16 = bufs["sq16"] if bufs else array("i", bytes(4 * n_vocab))
        if not self.greedy:
            # (logit diff in Q16) -> exponent in Q12, as diff >> 4 times 1024/T, >> 10
            self.inv_t_q10 = max(1, int(1024.0 / temperature + 0.5))
            self.cutoff = int(40 * 65536 * temperature)  # exp(-40) is below 2**-57: drop
            if bufs:
                self.p = p = bufs["sp"]
                self.top = bufs["stop"]
                self.sw = bufs["sw"]
                for i in range(n_vocab):  # the weights start at zero (an earlier run left some)
                    p[i] = 0
            else:
                self.p = array("i", bytes(4 * n_vocab))
                self.top = array("i", bytes(4 * max(1, self.top_k)))
                self.sw = array("i", bytes(4 * max(1, self.top_k)))
            sh = 0
            while (n_vocab << 16) >> sh >= 1 << 30:  # keep the total below 2**30
                sh += 1
            self.p_shift = sh
            self._cnt = 0  # candidates of the last call (their p entries are set)

    def sample(self, logits):
        lg = logits
        try:
            if self.to_q16 is not None:
                lg = self.q16
                sc = self.to_q16
                for i in range(self.n_vocab):
                    lg[i] = int(logits[i] * sc)
            return self._sample(lg)
        except (ValueError, OverflowError):  # int() of a NaN or inf logit (float path)
            raise NanoLLMError("the model produced NaN or infinite logits: its weights are corrupt or out of range")

    def _sample(self, lg):
        n = self.n_vocab
        k = self.top_k
        if self.greedy or not k:
            best = K.argmax_q(lg, n)
            if self.greedy:
                return best
        p = self.p
        top = self.top
        # p is zero outside the previous call's candidates: clear just those (a call that raised
        # may have left them set), not all n_vocab entries
        for c in range(self._cnt):
            p[top[c]] = 0
        self._cnt = 0
        if not k:
            total = K.weights_q(lg, n, lg[best], self.inv_t_q10, self.cutoff, self.p_shift, p)
            return self._draw(p, n, 0, n, total, best)
        # the top_k largest, in descending order (ties: lower index first, as the argmax)
        cnt = K.top_k_q(lg, n, k, top)
        self._cnt = cnt
        best = top[0]
        # the candidates' weights by the weights kernel, on their logits gathered in sw
        sw = self.sw
        for c in range(cnt):
            sw[c] = lg[top[c]]
        total = K.weights_q(sw, cnt, lg[best], self.inv_t_q10, self.cutoff, self.p_shift, sw)
        for c in range(cnt):
            p[top[c]] = sw[c]
        return self._draw(p, n, k, cnt, total, best)

    def _draw(self, p, n, k, cnt, total, best):
        # Only the cnt candidates (top[0:cnt], or every token when k is 0) have weight:
        # top-p runs over them alone. The draw walks p in token order, so which token is
        # drawn does not depend on the candidates' order.
        if self.top_p_q16 < 65536:
            # keep the fewest largest weights whose mass reaches top_p: the threshold is the
            # largest t whose weights >= t still sum to `want` (ties all kept or all dropped)
            want = (total >> 16) * self.top_p_q16 + (((total & 65535) * self.top_p_q16) >> 16)
            if k:
                total = self._top_p_sorted(p, cnt, want)
            else:
                total = K.top_p_q(p, n, want, p[best])
        i = K.draw_q(p, n, self.rng.next30() % total)
        return best if i < 0 else i

    def _top_p_sorted(self, p, cnt, want):
        # top[0:cnt] is in falling logit order, so the weights do not rise along it (a weight
        # only falls as its logit does): the threshold is the weight of the group of equal
        # weights at which the running sum first reaches want. Returns the mass kept.
        top = self.top
        acc = 0
        c = 0
        while c < cnt:
            w = p[top[c]]
            acc += w
            c += 1
            while c < cnt and p[top[c]] == w:
                acc += w
                c += 1
            if acc >= want:
                break
        for j in range(c, cnt):
            p[top[j]] = 0
        return acc
