"""Parameters and modules: the thin bookkeeping around the kernels in functional.py.

A ``Parameter`` is an array (``.data``) with room for its gradient (``.grad``) and a
flag saying whether training may change it (``.requires_grad``). A ``Module`` owns
parameters and sub-modules as plain attributes; ``named_parameters()`` walks them in
the order they were assigned and names them the way Hugging Face checkpoints do
(``encoder.layer.0.attention.self.query.weight``), so loading a checkpoint is a
one-to-one copy.

Modules hold no math of their own: ``forward`` calls a kernel and keeps its cache for
the backward pass.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from . import backend
from . import functional as F


_GRAD_ENABLED = [True]  # a one-element list: the switch no_grad() flips


@contextmanager
def no_grad():
    """Inside ``with no_grad():`` forward passes keep no caches for backward.

    Use it for inference (evaluation, feature extraction): the activations of every
    layer are freed as soon as the next layer has used them, so memory stays small.
    A backward after such a forward is an error.
    """
    previous = _GRAD_ENABLED[0]
    _GRAD_ENABLED[0] = False
    try:
        yield
    finally:
        _GRAD_ENABLED[0] = previous


def grad_enabled() -> bool:
    return _GRAD_ENABLED[0]


class Parameter:
    """A trainable array: ``data`` (NumPy or CuPy), ``grad`` (same shape, or None).

    ``requires_grad=False`` freezes it: backward computes no gradient for it and the
    optimizer leaves it alone.
    """

    def __init__(self, data, requires_grad: bool = True):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def accumulate(self, grad) -> None:
        """Add a gradient to ``.grad`` (gradients accumulate until zero_grad())."""
        if grad is None or not self.requires_grad:
            return
        if self.grad is None:
            self.grad = grad
        else:
            self.grad += grad

    def __repr__(self) -> str:
        return f"Parameter(shape={tuple(self.data.shape)}, dtype={self.data.dtype}, requires_grad={self.requires_grad})"


class Module:
    """Base class: finds its parameters and sub-modules among its attributes."""

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @staticmethod
    def keep(cache):
        """What a forward stores for its backward: the cache, or None under no_grad()."""
        return cache if _GRAD_ENABLED[0] else None

    def cached(self, cache=None):
        """The cache a backward needs; a clear error when the forward kept none."""
        cache = self._cache if cache is None else cache
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() needs the forward's cache, but the forward "
                               "ran under no_grad() (or never ran): run the forward again outside no_grad()")
        return cache

    def has_trainable(self) -> bool:
        """True when some parameter of this module (or below) requires a gradient."""
        return any(p.requires_grad for p in self.parameters())

    def requires_grad_(self, flag: bool = True):
        """Freeze (False) or unfreeze (True) every parameter of this module; returns self."""
        for p in self.parameters():
            p.requires_grad = flag
        return self

    # -- walking the tree ---------------------------------------------------------------
    def named_children(self):
        """(name, module) for each direct sub-module, in assignment order."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module and every module below it."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = ""):
        """(dotted name, Parameter) for every parameter, Hugging Face naming."""
        for name, value in vars(self).items():
            full = f"{prefix}.{name}" if prefix else name
            if isinstance(value, Parameter):
                yield full, value
            elif isinstance(value, Module):
                yield from value.named_parameters(full)

    def parameters(self):
        """Every Parameter, in the order of named_parameters()."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """How many numbers the parameters hold (only trainable ones when asked)."""
        return sum(int(p.data.size) for p in self.parameters() if p.requires_grad or not trainable_only)

    # -- modes and devices --------------------------------------------------------------
    def train(self, mode: bool = True):
        """Training mode (dropout active) for this module and all below it."""
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: dropout off, outputs deterministic."""
        return self.train(False)

    def reseed_dropout(self, seed) -> None:
        """Give every Dropout below this module a fresh generator derived from ``seed``
        (an int or a tuple of ints) and its position: the trainer reseeds at each step,
        so a run resumed at step k draws exactly the masks the uninterrupted run drew."""
        dropouts = [m for _, m in self.named_modules() if isinstance(m, Dropout)]
        base = list(seed) if isinstance(seed, (tuple, list)) else [int(seed)]
        for i, m in enumerate(dropouts):
            m.seed = np.random.SeedSequence(base + [i]).generate_state(1)[0]
            m._rngs = {}

    def zero_grad(self):
        """Forget accumulated gradients."""
        for p in self.parameters():
            p.grad = None

    def to(self, device: str | None):
        """Move every parameter to ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy); returns self."""
        device = backend.normalize_device(device)
        for p in self.parameters():
            p.data = backend.to_device(p.data, device)
            if p.grad is not None:
                p.grad = backend.to_device(p.grad, device)
        return self

    @property
    def device(self) -> str:
        params = self.parameters()
        return backend.device_of(params[0].data) if params else "cpu"

    @property
    def dtype(self):
        params = self.parameters()
        return params[0].data.dtype if params else np.dtype(np.float32)

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{name: NumPy array} of every parameter (always on the host).

        On the CPU these are the parameters' own arrays, not copies: training goes on
        changing them in place, so ``copy()`` what you want to keep as a snapshot.
        """
        return {name: backend.to_numpy(p.data) for name, p in self.named_parameters()}


class ModuleList(Module):
    """A list of modules named "0", "1", ... (``encoder.layer.3...``)."""

    def __init__(self, modules):
        for i, m in enumerate(modules):
            setattr(self, str(i), m)
        self._len = len(modules)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> Module:
        if not -self._len <= i < self._len:
            raise IndexError(f"index {i} out of range for ModuleList of length {self._len}")
        return getattr(self, str(i % self._len))

    def __iter__(self):
        return (getattr(self, str(i)) for i in range(self._len))


def _normal(rng, shape, std, dtype):
    return (rng.standard_normal(shape) * std).astype(dtype)


class Linear(Module):
    """y = x W^T + b;  W: [out, in], b: [out]."""

    def __init__(self, in_features: int, out_features: int, rng, std: float = 0.02, dtype=np.float32):
        self.weight = Parameter(_normal(rng, (out_features, in_features), std, dtype))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype))
        self._cache = None

    def forward(self, x):
        y, cache = F.linear(x, self.weight.data, self.bias.data)
        self._cache = self.keep(cache)
        return y

    def backward(self, dy, need_dx: bool = True):
        """dy: [..., out] -> dx: [..., in] (None when not needed); accumulates dW, db."""
        dx, dw, db = F.linear_backward(dy, self.cached(), need_dx, self.weight.requires_grad or self.bias.requires_grad)
        self.weight.accumulate(dw)
        self.bias.accumulate(db)
        return dx


class Embedding(Module):
    """A lookup table of V rows of width H."""

    def __init__(self, num_embeddings: int, dim: int, rng, std: float = 0.02, dtype=np.float32):
        self.weight = Parameter(_normal(rng, (num_embeddings, dim), std, dtype))
        self._cache = None

    def forward(self, ids):
        y, cache = F.embedding(ids, self.weight.data)
        self._cache = self.keep(cache)
        return y

    def backward(self, dy) -> None:
        """Accumulate the table's gradient (ids have no gradient, so nothing is returned)."""
        if self.weight.requires_grad:
            self.weight.accumulate(F.embedding_backward(dy, self.cached()))


class LayerNorm(Module):
    """LayerNorm over the last axis with a learned scale (``weight``) and shift (``bias``)."""

    def __init__(self, dim: int, eps: float, dtype=np.float32):
        self.weight = Parameter(np.ones(dim, dtype=dtype))
        self.bias = Parameter(np.zeros(dim, dtype=dtype))
        self.eps = eps
        self._cache = None

    def forward(self, x):
        y, cache = F.layer_norm(x, self.weight.data, self.bias.data, self.eps)
        self._cache = self.keep(cache)
        return y

    def backward(self, dy):
        dx, dw, db = F.layer_norm_backward(dy, self.cached())
        self.weight.accumulate(dw)
        self.bias.accumulate(db)
        return dx


class Dropout(Module):
    """Inverted dropout with probability p; the identity in eval mode.

    Its random generator lives on the same backend as its input (created on first use
    from ``seed``), so masks are reproducible on the CPU for a given seed.
    """

    def __init__(self, p: float, seed: int = 0):
        self.p = float(p)
        self.seed = seed
        self._rngs = {}  # array module name -> generator
        self._cache = None

    def rng_for(self, x):
        xp = backend.get_xp(x)
        if xp.__name__ not in self._rngs:
            self._rngs[xp.__name__] = backend.random_generator(xp, self.seed)
        return self._rngs[xp.__name__]

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self._cache = None
            return x
        y, cache = F.dropout(x, self.p, self.rng_for(x), training=True)
        self._cache = self.keep(cache)  # the mask, for the backward (nothing under no_grad())
        return y

    def backward(self, dy):
        return F.dropout_backward(dy, self._cache)
