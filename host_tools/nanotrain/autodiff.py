"""A small reverse-mode automatic differentiation engine on numpy arrays.

Every operation (see ops.py) returns a Tensor that remembers its inputs and a
backward function. `backward(loss)` walks the graph in reverse topological order
and accumulates gradients into `.grad` of every tensor that requires them.

The engine is dtype-agnostic: tests run it in float64 against finite differences,
training runs it in float32.
"""
import numpy as np


class Tensor:
    """An array in the computation graph.

    data:          the numpy array
    grad:          gradient of the loss w.r.t. data (filled by backward), or None
    requires_grad: whether gradients should flow to this tensor
    """
    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "name")

    def __init__(self, data, requires_grad=False, name=None, _parents=(), _backward=None):
        self.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = _parents
        self._backward = _backward
        self.name = name

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def __repr__(self):
        return "Tensor(%s%s, shape=%s, dtype=%s)" % (
            self.name + ", " if self.name else "", "grad" if self.requires_grad else "nograd",
            self.data.shape, self.data.dtype)

    def item(self):
        return float(self.data)

    # Operator sugar (a + b, a @ b) is installed by ops.py, where the operations live, so
    # this module depends on nothing of ours.


def as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def make_result(data, parents, backward):
    """Create the output tensor of an op.

    parents:  the input Tensors
    backward: function(grad_out) -> tuple of gradients, one per parent (None to skip)
    The graph is only recorded when some parent requires a gradient.
    """
    if any(p.requires_grad for p in parents):
        return Tensor(data, requires_grad=True, _parents=tuple(parents), _backward=backward)
    return Tensor(data)


def _topological_order(root):
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for p in node._parents:
            if p.requires_grad and id(p) not in seen:
                stack.append((p, False))
    return order


def backward(loss, grad=None, free_graph=True):
    """Back-propagate from `loss` (a scalar Tensor unless `grad` is given).

    Leaf tensors (parameters) get `.grad` accumulated (added to any existing
    gradient); intermediate gradients are dropped once used. With free_graph the
    graph links are cut afterwards so memory is released promptly.
    """
    if not loss.requires_grad:
        raise ValueError("backward: the loss does not depend on any tensor that requires grad")
    if grad is None:
        if loss.data.size != 1:
            raise ValueError("backward: a non-scalar output needs an explicit grad")
        grad = np.ones_like(loss.data)
    order = _topological_order(loss)
    grads = {id(loss): grad}
    for node in reversed(order):
        g = grads.pop(id(node), None)
        if node._backward is None:          # a leaf
            if g is not None:
                node.grad = g if node.grad is None else node.grad + g
            continue
        if g is None:
            continue
        pgrads = node._backward(g)
        for p, pg in zip(node._parents, pgrads):
            if pg is None or not p.requires_grad:
                continue
            k = id(p)
            if k in grads:
                grads[k] = grads[k] + pg
            else:
                grads[k] = pg
        if free_graph:
            node._backward = None
            node._parents = ()
    return loss
