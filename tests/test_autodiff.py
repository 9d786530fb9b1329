"""Gradients of every nanotrain op, and of the whole GPT-2 loss, against central
finite differences in float64."""
import numpy as np
import pytest

from nanotrain import gpt2, ops
from nanotrain.autodiff import Tensor, backward

H = 1e-6
TOL = 1e-6


def numeric_grad(f, arrays, i):
    """d f(arrays) / d arrays[i], by central differences on every element."""
    a = arrays[i]
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        old = a[idx]
        a[idx] = old + H
        fp = f(*arrays)
        a[idx] = old - H
        fm = f(*arrays)
        a[idx] = old
        g[idx] = (fp - fm) / (2 * H)
    return g


def check_op(op, arrays, weights=None, grad_of=None):
    """Compare autodiff and numeric gradients of sum(op(*arrays) * weights)."""
    rng = np.random.default_rng(123)
    out = op(*[Tensor(a) for a in arrays]).data
    w = rng.normal(size=out.shape) if weights is None else weights

    def f(*arrs):
        return float((op(*[Tensor(a) for a in arrs]).data * w).sum())

    ts = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    y = op(*ts)
    backward(y, grad=np.asarray(w, dtype=np.float64))
    for i in (grad_of if grad_of is not None else range(len(arrays))):
        num = numeric_grad(f, [a.copy() for a in arrays], i)
        got = ts[i].grad
        assert got is not None and got.shape == arrays[i].shape
        err = np.abs(got - num).max() / max(1.0, np.abs(num).max())
        assert err < TOL, "input %d: max error %g" % (i, err)


def rnd(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed + sum(shape)).normal(0, scale, size=shape)


def test_add_broadcast_bias():
    check_op(ops.add, [rnd(2, 3, 4), rnd(4, seed=1)])
    check_op(ops.add, [rnd(3, 1), rnd(1, 5, seed=2)])


def test_mul():
    check_op(ops.mul, [rnd(3, 4), rnd(3, 4, seed=5)])


def test_matmul():
    check_op(ops.matmul, [rnd(2, 3, 5), rnd(5, 4, seed=1)])


def test_matmul_transposed():
    check_op(ops.matmul_t, [rnd(2, 3, 5), rnd(7, 5, seed=1)])


def test_linear():
    check_op(ops.linear, [rnd(2, 3, 5), rnd(5, 4, seed=1), rnd(4, seed=2)])


def test_embedding_with_repeated_ids():
    ids = np.array([[0, 3, 3], [1, 0, 4]])
    check_op(lambda w: ops.embedding(w, ids), [rnd(5, 4)])


def test_layer_norm():
    check_op(lambda x, g, b: ops.layer_norm(x, g, b, 1e-5),
             [rnd(2, 3, 6, scale=2.0), rnd(6, seed=1) + 1.0, rnd(6, seed=2)])


def test_gelu_tanh_form():
    x = np.linspace(-5, 5, 41).reshape(1, -1)
    want = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(ops.gelu(Tensor(x)).data, want, rtol=0, atol=1e-15)
    check_op(ops.gelu, [x.copy()])
    check_op(ops.gelu, [rnd(3, 7, scale=2.0)])


def test_softmax():
    check_op(ops.softmax, [rnd(3, 6, scale=3.0)])
    check_op(lambda x: ops.softmax(x, axis=0), [rnd(4, 2)])
    p = ops.softmax(Tensor(rnd(3, 6))).data
    np.testing.assert_allclose(p.sum(-1), 1.0)


@pytest.mark.parametrize("n_head", [1, 2, 3])
def test_causal_attention(n_head):
    E = 6
    check_op(lambda qkv: ops.causal_attention(qkv, n_head), [rnd(2, 5, 3 * E)])


def test_causal_attention_is_causal_and_matches_naive():
    rng = np.random.default_rng(7)
    B, T, E, nh = 2, 6, 8, 2
    qkv = rng.normal(size=(B, T, 3 * E))
    out = ops.causal_attention(Tensor(qkv), nh).data
    D = E // nh
    q, k, v = qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
    want = np.zeros((B, T, E))
    for b in range(B):
        for h in range(nh):
            s = slice(h * D, (h + 1) * D)
            for t in range(T):
                sc = q[b, t, s] @ k[b, :t + 1, s].T / np.sqrt(D)
                w = np.exp(sc - sc.max())
                w /= w.sum()
                want[b, t, s] = w @ v[b, :t + 1, s]
    np.testing.assert_allclose(out, want, atol=1e-12)
    # changing a future token leaves earlier outputs alone
    qkv2 = qkv.copy()
    qkv2[:, -1] += 1.0
    out2 = ops.causal_attention(Tensor(qkv2), nh).data
    np.testing.assert_array_equal(out[:, :-1], out2[:, :-1])


def test_cross_entropy():
    targets = np.array([[1, 0, 4], [2, 2, 3]])
    check_op(lambda z: ops.cross_entropy(z, targets), [rnd(2, 3, 5, scale=2.0)],
             weights=np.asarray(1.0))
    z = rnd(4, 5)
    t = np.array([0, 1, 2, 4])
    lse = np.log(np.exp(z).sum(1))
    want = np.mean(lse - z[np.arange(4), t])
    assert abs(ops.cross_entropy(Tensor(z), t).item() - want) < 1e-12


def test_gradients_accumulate_over_shared_inputs():
    x = rnd(3, 4)
    # y = x + x*x  ->  dy/dx = 1 + 2x
    t = Tensor(x.copy(), requires_grad=True)
    y = ops.sum_all(ops.add(t, ops.mul(t, t)))
    backward(y)
    np.testing.assert_allclose(t.grad, 1 + 2 * x)


def test_whole_gpt2_loss_gradient():
    cfg = gpt2.Config(vocab_size=11, n_layer=2, n_embd=8, n_head=2, n_ctx=6)
    rng = np.random.default_rng(0)
    params = gpt2.init_params(cfg, rng, dtype=np.float64)
    for p in params.values():          # move away from the symmetric init
        p.data = p.data + rng.normal(0, 0.2, size=p.shape)
    x = rng.integers(0, 11, size=(2, 5))
    y = rng.integers(0, 11, size=(2, 5))
    loss = gpt2.loss_fn(params, cfg, x, y)
    backward(loss)
    names = list(params)

    def f_of(name):
        def f(a):
            old = params[name].data
            params[name].data = a
            v = float(gpt2.loss_fn(params, cfg, x, y).data)
            params[name].data = old
            return v
        return f

    for name in names:
        got = params[name].grad
        assert got is not None, name
        num = numeric_grad(f_of(name), [params[name].data.copy()], 0)
        err = np.abs(got - num).max() / max(1e-3, np.abs(num).max())
        assert err < 1e-6, "%s: max relative error %g" % (name, err)


def test_float32_forward_close_to_float64():
    cfg = gpt2.Config(vocab_size=20, n_layer=2, n_embd=16, n_head=4, n_ctx=8)
    p64 = gpt2.init_params(cfg, np.random.default_rng(1), dtype=np.float64)
    p32 = {k: Tensor(v.data.astype(np.float32)) for k, v in p64.items()}
    ids = np.arange(8) % 20
    a = gpt2.logits_numpy(p64, cfg, ids)
    b = gpt2.logits_numpy(p32, cfg, ids)
    assert b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
