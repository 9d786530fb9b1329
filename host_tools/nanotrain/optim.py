"""Optimisers: AdamW (warm-up + cosine decay, global-norm clipping) and L-BFGS with a
strong-Wolfe line search; plain gradient descent for comparison."""
import math

import numpy as np


# ----------------------------------------------------------------------------- AdamW

def lr_at(step, base_lr, total_steps, warmup=0, min_lr_ratio=0.1):
    """Learning rate for 0-based `step`: linear warm-up over `warmup` steps, then cosine
    decay from base_lr to min_lr_ratio * base_lr at total_steps."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    if total_steps <= warmup:
        return base_lr
    t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    min_lr = base_lr * min_lr_ratio
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))


def global_norm(grads):
    return math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients in place so their joint L2 norm is at most max_norm.
    Returns the norm before clipping."""
    norm = global_norm(grads)
    if max_norm and max_norm > 0 and norm > max_norm:
        s = max_norm / (norm + 1e-6)
        for g in grads:
            g *= s
    return norm


class AdamW:
    """AdamW (decoupled weight decay) over a dict {name: Tensor}.

    Weight decay applies to tensors with 2 or more dimensions (matrices and
    embeddings), never to biases or layer-norm parameters.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0,
                 warmup=0, total_steps=None, min_lr_ratio=0.1, clip=1.0):
        self.params = params
        self.lr = lr
        self.b1, self.b2 = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.warmup = warmup
        self.total_steps = total_steps
        self.min_lr_ratio = min_lr_ratio
        self.clip = clip
        self.step_count = 0
        self.m = {k: np.zeros_like(p.data) for k, p in params.items()}
        self.v = {k: np.zeros_like(p.data) for k, p in params.items()}

    def current_lr(self):
        if self.total_steps is None:
            return self.lr
        return lr_at(self.step_count, self.lr, self.total_steps, self.warmup, self.min_lr_ratio)

    def zero_grad(self):
        for p in self.params.values():
            p.grad = None

    def step(self):
        """Apply one update from the .grad of every parameter; returns (lr, grad_norm)."""
        names = [k for k, p in self.params.items() if p.grad is not None]
        grads = [self.params[k].grad for k in names]
        norm = global_norm(grads)
        if not math.isfinite(norm):
            raise FloatingPointError("gradient norm is %r" % norm)
        clip_by_global_norm(grads, self.clip)
        lr = self.current_lr()
        self.step_count += 1
        t = self.step_count
        bc1 = 1.0 - self.b1 ** t
        bc2 = 1.0 - self.b2 ** t
        for k, g in zip(names, grads):
            p = self.params[k]
            m, v = self.m[k], self.v[k]
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * (g * g)
            if self.weight_decay and p.data.ndim >= 2:
                p.data *= (1.0 - lr * self.weight_decay)
            denom = np.sqrt(v / bc2)
            denom += self.eps
            p.data -= (lr / bc1) * m / denom
        return lr, norm

    def state_arrays(self):
        """Moments as {name: array} for a checkpoint."""
        d = {}
        for k in self.params:
            d["adam.m." + k] = self.m[k]
            d["adam.v." + k] = self.v[k]
        return d

    def load_state_arrays(self, d, step_count):
        for k in self.params:
            self.m[k] = np.array(d["adam.m." + k], dtype=self.params[k].data.dtype)
            self.v[k] = np.array(d["adam.v." + k], dtype=self.params[k].data.dtype)
        self.step_count = int(step_count)


# ----------------------------------------------------------------------------- line search

class LineSearchResult:
    __slots__ = ("alpha", "f", "g", "nfev", "ok")

    def __init__(self, alpha, f, g, nfev, ok):
        self.alpha, self.f, self.g, self.nfev, self.ok = alpha, f, g, nfev, ok


def _cubic_min(a, fa, da, b, fb, db):
    """Minimiser of the cubic through (a, fa, da) and (b, fb, db), or None."""
    if a == b:
        return None
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    if not np.isfinite(disc) or disc < 0:
        return None
    d2 = math.copysign(math.sqrt(disc), b - a)
    den = db - da + 2.0 * d2
    if den == 0 or not np.isfinite(den):
        return None
    return b - (b - a) * (db + d2 - d1) / den


def strong_wolfe(fun, x, f0, g0, d, alpha0=1.0, c1=1e-4, c2=0.9, alpha_max=1e10, max_iter=30):
    """Find a step alpha along d satisfying the strong Wolfe conditions

        f(x + a d) <= f0 + c1 a g0.d         (sufficient decrease)
        |g(x + a d).d| <= c2 |g0.d|          (curvature)

    by bracketing and zooming with safeguarded cubic interpolation (Nocedal & Wright,
    Algorithms 3.5/3.6). fun(x) -> (f, g)."""
    dphi0 = float(g0 @ d)
    if dphi0 >= 0:
        raise ValueError("strong_wolfe: d is not a descent direction")
    nfev = 0

    def phi(a):
        nonlocal nfev
        nfev += 1
        f, g = fun(x + a * d)
        return float(f), g, float(g @ d)

    def zoom(lo, hi, f_lo, f_hi, d_lo, d_hi, g_lo):
        for _ in range(max_iter):
            w = hi - lo
            a = _cubic_min(lo, f_lo, d_lo, hi, f_hi, d_hi)
            left, right = min(lo, hi), max(lo, hi)
            margin = 0.1 * abs(w)
            if a is None or not (left + margin <= a <= right - margin):
                a = 0.5 * (lo + hi)
            f, g, da = phi(a)
            if not np.isfinite(f) or f > f0 + c1 * a * dphi0 or f >= f_lo:
                hi, f_hi, d_hi = a, f, da
            else:
                if abs(da) <= -c2 * dphi0:
                    return LineSearchResult(a, f, g, nfev, True)
                if da * (hi - lo) >= 0:
                    hi, f_hi, d_hi = lo, f_lo, d_lo
                lo, f_lo, d_lo, g_lo = a, f, da, g
            if abs(hi - lo) < 1e-16 * max(1.0, abs(lo)):
                break
        # Did not meet the curvature condition: return the best point with decrease.
        return LineSearchResult(lo, f_lo, g_lo, nfev, lo > 0)

    a_prev, f_prev, d_prev, g_prev = 0.0, float(f0), dphi0, g0
    a = alpha0
    for i in range(max_iter):
        f, g, da = phi(a)
        if not np.isfinite(f) or f > f0 + c1 * a * dphi0 or (i > 0 and f >= f_prev):
            if not np.isfinite(f):                  # overshot into inf/nan: shrink
                f, da = np.inf, np.inf
            return zoom(a_prev, a, f_prev, f, d_prev, da, g_prev)
        if abs(da) <= -c2 * dphi0:
            return LineSearchResult(a, f, g, nfev, True)
        if da >= 0:
            return zoom(a, a_prev, f, f_prev, da, d_prev, g)
        a_prev, f_prev, d_prev, g_prev = a, f, da, g
        a = min(2.0 * a, alpha_max)
    return LineSearchResult(a_prev, f_prev, g_prev, nfev, a_prev > 0)


# ----------------------------------------------------------------------------- L-BFGS

class OptimizeResult(dict):
    __getattr__ = dict.__getitem__


class LBFGS:
    """Limited-memory BFGS, one iteration per `step()` so a trainer can checkpoint.

    fun(x) -> (f, grad) on a flat vector. Directions come from the two-loop
    recursion over the last `history` (s, y) pairs; steps from the strong-Wolfe
    line search (so s.y > 0 and the inverse-Hessian estimate stays positive definite).
    """

    def __init__(self, fun, x0, history=10):
        self.fun = fun
        x0 = np.asarray(x0)
        self.x = np.array(x0, dtype=np.float32 if x0.dtype == np.float32 else np.float64)
        self.history = history
        f, g = fun(self.x)
        self.f, self.g = float(f), g
        self.nfev = 1
        self.nit = 0
        self.S, self.Y = [], []
        self.stalled = False

    def direction(self):
        g = self.g
        q = g.astype(np.float64, copy=True)
        alphas = []
        for s, y in zip(reversed(self.S), reversed(self.Y)):
            a = float(s @ q) / float(s @ y)
            alphas.append(a)
            q -= a * y
        if self.S:
            gamma = float(self.S[-1] @ self.Y[-1]) / float(self.Y[-1] @ self.Y[-1])
        else:
            gamma = 1.0 / max(1e-12, float(np.linalg.norm(g)))
        r = gamma * q
        for s, y, a in zip(self.S, self.Y, reversed(alphas)):
            b = float(y @ r) / float(s @ y)
            r += (a - b) * s
        d = (-r).astype(self.x.dtype)
        if not float(g @ d) < 0:            # lost descent (numerical trouble): restart
            self.S, self.Y = [], []
            d = (-g / max(1e-12, float(np.linalg.norm(g)))).astype(self.x.dtype)
        return d

    def step(self):
        """One iteration; returns False when no step with decrease could be found."""
        d = self.direction()
        ls = strong_wolfe(self.fun, self.x, self.f, self.g, d, alpha0=1.0)
        self.nfev += ls.nfev
        self.nit += 1
        if not ls.ok or ls.alpha == 0:
            if self.S:                      # forget the curvature pairs and retry next time
                self.S, self.Y = [], []
                return True
            self.stalled = True
            return False
        s = (ls.alpha * d).astype(np.float64)
        y = (np.asarray(ls.g) - self.g).astype(np.float64)
        sy = float(s @ y)
        self.x = (self.x + ls.alpha * d).astype(self.x.dtype)
        self.f, self.g = float(ls.f), ls.g
        if sy > 1e-12 * float(np.linalg.norm(s)) * float(np.linalg.norm(y)):
            self.S.append(s)
            self.Y.append(y)
            if len(self.S) > self.history:
                self.S.pop(0)
                self.Y.pop(0)
        return True

    def state_arrays(self):
        d = {"lbfgs.x": self.x, "lbfgs.g": np.asarray(self.g)}
        if self.S:
            d["lbfgs.S"] = np.stack(self.S)
            d["lbfgs.Y"] = np.stack(self.Y)
        return d

    def load_state_arrays(self, d, f, nit, nfev):
        self.x = np.array(d["lbfgs.x"])
        self.g = np.array(d["lbfgs.g"])
        self.f = float(f)
        self.nit, self.nfev = int(nit), int(nfev)
        self.S = list(np.array(d["lbfgs.S"])) if "lbfgs.S" in d else []
        self.Y = list(np.array(d["lbfgs.Y"])) if "lbfgs.Y" in d else []


def lbfgs(fun, x0, max_iter=1000, history=10, gtol=1e-6, ftol=0.0, callback=None):
    """Minimise fun(x) -> (f, grad) with L-BFGS (see LBFGS). Stops when max|grad| <= gtol,
    when the relative decrease of f in an iteration falls below ftol, or after max_iter
    iterations. Returns an OptimizeResult with x, f, g, nit, nfev, converged."""
    opt = LBFGS(fun, x0, history)
    converged = False
    while opt.nit < max_iter:
        if float(np.max(np.abs(opt.g))) <= gtol:
            converged = True
            break
        f_old = opt.f
        if not opt.step():
            break
        if callback is not None:
            callback(opt.nit, opt.x, opt.f, opt.g)
        if ftol and abs(f_old - opt.f) <= ftol * max(1.0, abs(f_old)):
            converged = True
            break
    return OptimizeResult(x=opt.x, f=opt.f, g=opt.g, nit=opt.nit, nfev=opt.nfev,
                          converged=converged)


def gradient_descent(fun, x0, max_iter=100000, gtol=1e-6, step=None, callback=None):
    """Steepest descent, for comparison. With `step` a fixed step size; otherwise an
    Armijo backtracking line search starting from twice the previous step."""
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    nfev = 1
    t = 1.0
    it = 0
    converged = False
    while it < max_iter:
        if float(np.max(np.abs(g))) <= gtol:
            converged = True
            break
        if step is not None:
            x = x - step * g
            f, g = fun(x)
            nfev += 1
        else:
            gg = float(g @ g)
            t = min(1e10, 2.0 * t)
            while True:
                xn = x - t * g
                fn, gn = fun(xn)
                nfev += 1
                if np.isfinite(fn) and fn <= f - 1e-4 * t * gg:
                    break
                t *= 0.5
                if t < 1e-20:
                    return OptimizeResult(x=x, f=f, g=g, nit=it, nfev=nfev, converged=False)
            x, f, g = xn, fn, gn
        it += 1
        if callback is not None:
            callback(it, x, f, g)
    return OptimizeResult(x=x, f=float(f), g=g, nit=it, nfev=nfev, converged=converged)
