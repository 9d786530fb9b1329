"""AdamW, its schedule and clipping; L-BFGS with the strong-Wolfe line search against
plain gradient descent on problems with known optima."""
import math

import numpy as np

from nanotrain import gpt2
from nanotrain.autodiff import Tensor, backward
from nanotrain.optim import (AdamW, clip_by_global_norm, global_norm, gradient_descent, lbfgs,
                             lr_at, strong_wolfe)


def rosenbrock(x):
    a, b = x
    f = 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2
    g = np.array([-400.0 * a * (b - a * a) - 2.0 * (1.0 - a), 200.0 * (b - a * a)])
    return f, g


def test_lbfgs_rosenbrock_far_fewer_iterations_than_gradient_descent():
    x0 = np.array([-1.2, 1.0])
    r = lbfgs(rosenbrock, x0, gtol=1e-8, max_iter=500)
    assert r.converged
    np.testing.assert_allclose(r.x, [1.0, 1.0], atol=1e-7)
    gd = gradient_descent(rosenbrock, x0, gtol=1e-8, max_iter=60000)
    print("\nRosenbrock from (-1.2, 1) to max|grad| <= 1e-8: L-BFGS %d iterations (%d evaluations),"
          " gradient descent with backtracking %d iterations (%d evaluations), converged=%s"
          % (r.nit, r.nfev, gd.nit, gd.nfev, gd.converged))
    assert r.nit <= 60
    assert gd.nit >= 50 * r.nit


def make_logistic(n=300, d=12, lam=1e-2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.geomspace(0.2, 3.0, d)     # unevenly scaled features
    w_true = rng.normal(size=d)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-X @ w_true))).astype(float)

    def fun(w):
        z = X @ w
        # mean log-loss, computed stably, plus L2
        f = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * (w @ w)
        p = 0.5 * (1.0 + np.tanh(0.5 * z))       # sigmoid without overflow
        g = X.T @ (p - y) / n + lam * w
        return f, g

    def hess(w):
        p = 0.5 * (1.0 + np.tanh(0.5 * (X @ w)))
        return (X.T * (p * (1 - p))) @ X / n + lam * np.eye(d)

    L = np.linalg.eigvalsh(X.T @ X / n).max() / 4.0 + lam     # gradient Lipschitz constant
    return fun, hess, L, d


def test_lbfgs_logistic_regression_optimum():
    fun, hess, L, d = make_logistic()
    # the known optimum, by Newton's method to machine precision
    w_star = np.zeros(d)
    for _ in range(30):
        w_star -= np.linalg.solve(hess(w_star), fun(w_star)[1])
    assert np.abs(fun(w_star)[1]).max() < 1e-14
    r = lbfgs(fun, np.zeros(d), gtol=1e-9, max_iter=500)
    assert r.converged
    np.testing.assert_allclose(r.x, w_star, atol=1e-7)
    gd = gradient_descent(fun, np.zeros(d), gtol=1e-9, step=1.0 / L, max_iter=100000)
    assert gd.converged
    np.testing.assert_allclose(gd.x, w_star, atol=1e-7)
    print("\nL2-regularised logistic regression (n=300, d=12, lambda=0.01) to max|grad| <= 1e-9: L-BFGS %d "
          "iterations (%d evaluations), gradient descent with step 1/L %d iterations"
          % (r.nit, r.nfev, gd.nit))
    assert gd.nit >= 5 * r.nit


def test_strong_wolfe_conditions_hold():
    fun, _, _, d = make_logistic(seed=3)
    x = np.full(d, 2.0)
    f0, g0 = fun(x)
    c1, c2 = 1e-4, 0.9
    for dirn in (-g0, -g0 * 100.0, -g0 * 1e-3):
        ls = strong_wolfe(fun, x, f0, g0, dirn, c1=c1, c2=c2)
        assert ls.ok
        f, g = fun(x + ls.alpha * dirn)
        assert f <= f0 + c1 * ls.alpha * (g0 @ dirn)
        assert abs(g @ dirn) <= c2 * abs(g0 @ dirn)
        assert ls.f == f


def test_lr_schedule_warmup_and_cosine():
    assert lr_at(0, 1.0, 100, warmup=10) == 0.1
    assert lr_at(9, 1.0, 100, warmup=10) == 1.0
    assert abs(lr_at(10, 1.0, 100, warmup=10) - 1.0) < 1e-12
    assert abs(lr_at(100, 1.0, 100, warmup=10, min_lr_ratio=0.1) - 0.1) < 1e-12
    mid = lr_at(55, 1.0, 100, warmup=10, min_lr_ratio=0.1)
    assert abs(mid - 0.55) < 1e-12
    lrs = [lr_at(s, 1.0, 100, warmup=10) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_clip_by_global_norm():
    gs = [np.array([3.0, 0.0]), np.array([[0.0], [4.0]])]
    n = clip_by_global_norm(gs, 1.0)
    assert n == 5.0
    assert abs(global_norm(gs) - 1.0) < 1e-5
    gs2 = [np.array([0.3, 0.4])]
    clip_by_global_norm(gs2, 1.0)
    np.testing.assert_array_equal(gs2[0], [0.3, 0.4])


def test_adamw_matches_hand_computed_update():
    p = Tensor(np.array([[1.0, -2.0]]), requires_grad=True)
    b = Tensor(np.array([0.5]), requires_grad=True)
    opt = AdamW({"w": p, "b": b}, lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.5, clip=0)
    p.grad = np.array([[0.2, 0.4]])
    b.grad = np.array([-1.0])
    opt.step()
    # first step: m_hat = g, v_hat = g^2, so the Adam step is lr * sign(g)
    np.testing.assert_allclose(p.data, [[1.0 * (1 - 0.05) - 0.1, -2.0 * (1 - 0.05) - 0.1]], atol=1e-7)
    np.testing.assert_allclose(b.data, [0.5 + 0.1], atol=1e-7)      # no decay on 1-D


def test_adam_lowers_tiny_gpt_loss():
    cfg = gpt2.Config(vocab_size=16, n_layer=2, n_embd=16, n_head=2, n_ctx=12)
    params = gpt2.init_params(cfg, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    seq = np.array([1, 5, 3, 9, 2, 7, 3, 11] * 40)        # a repeating pattern
    opt = AdamW(params, lr=1e-2, warmup=5, total_steps=60, weight_decay=0.01)
    losses = []
    for _ in range(60):
        s = rng.integers(0, len(seq) - 13, size=8)
        x = np.stack([seq[i:i + 12] for i in s])
        y = np.stack([seq[i + 1:i + 13] for i in s])
        opt.zero_grad()
        loss = gpt2.loss_fn(params, cfg, x, y)
        backward(loss)
        opt.step()
        losses.append(float(loss.data))
    print("\ntiny GPT with AdamW: loss %.3f -> %.3f in 60 steps" % (losses[0], losses[-1]))
    assert losses[0] > math.log(16) - 0.3
    assert losses[-1] < 0.3 * losses[0]
